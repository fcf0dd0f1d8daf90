/*
 * jinja_lex.c - the Jinja lexer, following jinja2's lexer.py rule by rule
 * with the options of Hugging Face's apply_chat_template: trim_blocks (the
 * first newline after a block or comment tag is removed), lstrip_blocks
 * (spaces and tabs before a block or comment tag at the start of a line are
 * removed), "-" and "+" whitespace control, newlines normalized to "\n", and
 * one trailing newline of the template dropped.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"
#include "base/unicode.h"
#include "base/vec.h"

#define MAX_BALANCE 256

struct lexer {
    const char *s;
    size_t n, pos;
    int line;
    bool line_starting;
    struct arena *a;
    struct token *toks;
    size_t ntoks, cap;
    char bal[MAX_BALANCE];
    int nbal;
    char *err;
    size_t err_size;
};

static bool lex_fail(struct lexer *L, const char *fmt, const char *arg)
{
    char msg[200];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    snprintf(L->err, L->err_size, "line %d: %s", L->line, msg);
    return false;
}

static struct token *emit(struct lexer *L, int type)
{
    if (vec_reserve((void **)&L->toks, &L->cap, L->ntoks + 1, sizeof *L->toks) != 0) {
        lex_fail(L, "out of memory", NULL);
        return NULL;
    }
    struct token *t = &L->toks[L->ntoks++];
    memset(t, 0, sizeof(*t));
    t->type = type;
    t->line = L->line;
    return t;
}

/* Move to p, counting lines. */
static void adv(struct lexer *L, size_t p)
{
    for (size_t i = L->pos; i < p; i++)
        L->line += L->s[i] == '\n';
    L->pos = p;
}

/* Python's \s at s[i] (Unicode whitespace): its byte length, or 0. */
static size_t ws_at(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    uint8_t c = (uint8_t)s[i];
    if (c < 0x80)
        return jinja_py_isspace(c) ? 1 : 0;
    size_t k;
    uint32_t cp = utf8_decode(s + i, n - i, &k);
    return jinja_py_isspace(cp) ? k : 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    size_t k;
    while ((k = ws_at(s, n, i)) != 0)
        i += k;
    return i;
}

/* Length of text with trailing (Unicode) whitespace removed: str.rstrip(). */
static size_t rstrip_len(const char *s, size_t n)
{
    size_t end = 0, i = 0;
    while (i < n) {
        size_t k = ws_at(s, n, i);
        if (k) {
            i += k;
        } else {
            i += utf8_seq_len((uint8_t)s[i]);
            if (i > n)
                i = n;
            end = i;
        }
    }
    return end;
}

static bool all_ws(const char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n) {
        if ((k = ws_at(s, n, i)) == 0)
            return false;
        i += k;
    }
    return true;
}

/* Emit text s[from..to) as data, stripped as the following tag asks. */
static bool emit_data(struct lexer *L, size_t from, size_t to, char sign, bool is_var)
{
    size_t len = to - from;
    const char *text = L->s + from;
    if (sign == '-') {
        len = rstrip_len(text, len);
    } else if (sign != '+' && !is_var) {
        size_t l_pos = 0;
        for (size_t i = len; i > 0; i--)
            if (text[i - 1] == '\n') {
                l_pos = i;
                break;
            }
        if ((l_pos > 0 || L->line_starting) && len > l_pos && all_ws(text + l_pos, len - l_pos))
            len = l_pos;
    }
    if (len == 0)
        return true;
    struct token *t = emit(L, T_DATA);
    if (t == NULL)
        return false;
    t->s = jinja_arena_strdup(L->a, text, len);
    t->len = len;
    return t->s != NULL || lex_fail(L, "out of memory", NULL);
}

static bool starts(const struct lexer *L, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i + k <= L->n && memcmp(L->s + i, lit, k) == 0;
}

/* Decode a string literal body as Python's "unicode-escape" codec does. */
static bool decode_string(struct lexer *L, const char *s, size_t n, struct token *t)
{
    char *out = jinja_arena_alloc(L->a, n * 2 + 1); /* \x and \u escapes never grow */
    if (out == NULL)
        return lex_fail(L, "out of memory", NULL);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            out[o++] = c;
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        uint32_t cp;
        int nd;
        switch (e) {
        case '\n': continue; /* line continuation */
        case '\\': out[o++] = '\\'; continue;
        case '\'': out[o++] = '\''; continue;
        case '"': out[o++] = '"'; continue;
        case 'a': out[o++] = '\a'; continue;
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'v': out[o++] = '\v'; continue;
        case 'x': nd = 2; goto hex;
        case 'u': nd = 4; goto hex;
        case 'U': nd = 8; goto hex;
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                goto put;
            }
            /* unknown escapes stay as written */
            out[o++] = '\\';
            out[o++] = e;
            continue;
        }
    hex:
        cp = 0;
        for (int k = 0; k < nd; k++) {
            int h = i < n ? unicode_hex_value((uint8_t)s[i]) : -1;
            if (h < 0)
                return lex_fail(L, "truncated \\%s escape in a string", e == 'x' ? "x" : e == 'u' ? "u" : "U");
            cp = cp * 16 + (uint32_t)h;
            i++;
        }
        if (cp > 0x10FFFF)
            return lex_fail(L, "illegal Unicode character in a string", NULL);
    put: {
        char u[4];
        size_t k = utf8_encode(cp, u);
        memcpy(out + o, u, k);
        o += k;
    }
    }
    out[o] = 0;
    t->s = out;
    t->len = o;
    return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

/* (\d+_)*\d+ at i: end position, or i when none. */
static size_t digits_us(const char *s, size_t n, size_t i)
{
    if (i >= n || !is_digit(s[i]))
        return i;
    size_t j = i;
    while (j < n && is_digit(s[j]))
        j++;
    while (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) {
        j++;
        while (j < n && is_digit(s[j]))
            j++;
    }
    return j;
}

static bool lex_number(struct lexer *L, size_t *adv_to)
{
    const char *s = L->s;
    size_t n = L->n, i = L->pos;
    /* float: (?<!\.) digits ( (.digits)? e[+-]?digits | .digits ) */
    if (i == 0 || s[i - 1] != '.') {
        size_t j = digits_us(s, n, i);
        if (j > i) {
            size_t frac_end = j;
            if (j < n && s[j] == '.') {
                size_t k = digits_us(s, n, j + 1);
                if (k > j + 1)
                    frac_end = k;
            }
            size_t exp_end = 0;
            if (frac_end < n && (s[frac_end] == 'e' || s[frac_end] == 'E')) {
                size_t k = frac_end + 1;
                if (k < n && (s[k] == '+' || s[k] == '-'))
                    k++;
                size_t m = digits_us(s, n, k);
                if (m > k)
                    exp_end = m;
            }
            size_t end = exp_end ? exp_end : (frac_end > j ? frac_end : 0);
            if (end) {
                char buf[128];
                size_t o = 0;
                for (size_t k = i; k < end && o < sizeof(buf) - 1; k++)
                    if (s[k] != '_')
                        buf[o++] = s[k];
                buf[o] = 0;
                struct token *t = emit(L, T_FLOAT);
                if (t == NULL)
                    return false;
                t->f = strtod(buf, NULL);
                *adv_to = end;
                return true;
            }
        }
    }
    /* integer */
    int base = 10;
    size_t j = i;
    if (s[i] == '0' && i + 1 < n && strchr("bBoOxX", s[i + 1]) && s[i + 1]) {
        char b = s[i + 1];
        base = (b == 'b' || b == 'B') ? 2 : (b == 'o' || b == 'O') ? 8 : 16;
        j = i + 2;
        size_t start = j;
        for (;;) {
            size_t k = j;
            if (k < n && s[k] == '_')
                k++;
            int h = k < n ? unicode_hex_value((uint8_t)s[k]) : -1;
            if (h < 0 || h >= base)
                break;
            j = k + 1;
        }
        if (j == start) {
            base = 10;
            j = i + 1; /* just "0" */
        }
    } else if (s[i] == '0') {
        j = i + 1;
        while ((j < n && s[j] == '0') || (j + 1 < n && s[j] == '_' && s[j + 1] == '0'))
            j += s[j] == '_' ? 2 : 1;
    } else {
        j = digits_us(s, n, i);
    }
    uint64_t v = 0;
    size_t from = base == 10 ? i : i + 2;
    for (size_t k = from; k < j; k++) {
        if (s[k] == '_')
            continue;
        uint64_t d = (uint64_t)unicode_hex_value((uint8_t)s[k]);
        if (v > (UINT64_MAX - d) / (uint64_t)base || v * (uint64_t)base + d > (uint64_t)INT64_MAX)
            return lex_fail(L, "integer literal too large", NULL);
        v = v * (uint64_t)base + d;
    }
    struct token *t = emit(L, T_INT);
    if (t == NULL)
        return false;
    t->i = (int64_t)v;
    *adv_to = j;
    return true;
}

static const struct {
    const char *s;
    int op;
} ops[] = {
    {"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GE},
    {"<=", OP_LE}, {"+", OP_ADD}, {"-", OP_SUB}, {"/", OP_DIV}, {"*", OP_MUL},
    {"%", OP_MOD}, {"~", OP_TILDE}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET},
    {"(", OP_LPAREN}, {")", OP_RPAREN}, {"{", OP_LBRACE}, {"}", OP_RBRACE},
    {">", OP_GT}, {"<", OP_LT}, {"=", OP_ASSIGN}, {".", OP_DOT}, {":", OP_COLON},
    {"|", OP_PIPE}, {",", OP_COMMA}, {";", OP_SEMICOLON},
};

/* Tokens inside {{ }} or {% %}, up to and including the end tag. */
static bool lex_tag(struct lexer *L, bool is_block)
{
    L->nbal = 0;
    for (;;) {
        size_t p = L->pos;
        if (p >= L->n)
            return lex_fail(L, is_block ? "unexpected end of template, expected '%%}'"
                                        : "unexpected end of template, expected '}}'", NULL);
        if (L->nbal == 0) {
            size_t end = 0;
            if (is_block) {
                if (starts(L, p, "+%}")) {
                    end = p + 3;
                } else if (starts(L, p, "-%}")) {
                    end = skip_ws(L->s, L->n, p + 3);
                } else if (starts(L, p, "%}")) {
                    end = p + 2;
                    if (end < L->n && L->s[end] == '\n')
                        end++;
                }
            } else {
                if (starts(L, p, "-}}"))
                    end = skip_ws(L->s, L->n, p + 3);
                else if (starts(L, p, "}}"))
                    end = p + 2;
            }
            if (end) {
                if (!emit(L, is_block ? T_BLOCK_END : T_VAR_END))
                    return false;
                L->line_starting = L->s[end - 1] == '\n';
                adv(L, end);
                return true;
            }
        }
        size_t w = skip_ws(L->s, L->n, p);
        if (w > p) {
            L->line_starting = L->s[w - 1] == '\n';
            adv(L, w);
            continue;
        }
        L->line_starting = false;
        char c = L->s[p];
        size_t to = p;
        if (is_digit(c)) {
            if (!lex_number(L, &to))
                return false;
        } else if (is_alpha(c)) {
            to = p + 1;
            while (to < L->n && (is_alpha(L->s[to]) || is_digit(L->s[to])))
                to++;
            struct token *t = emit(L, T_NAME);
            if (t == NULL)
                return false;
            t->s = jinja_arena_strdup(L->a, L->s + p, to - p);
            t->len = to - p;
            if (t->s == NULL)
                return lex_fail(L, "out of memory", NULL);
        } else if (c == '\'' || c == '"') {
            size_t k = p + 1;
            while (k < L->n && L->s[k] != c) {
                if (L->s[k] == '\\')
                    k++;
                k++;
            }
            if (k >= L->n)
                return lex_fail(L, "unterminated string", NULL);
            struct token *t = emit(L, T_STRING);
            if (t == NULL || !decode_string(L, L->s + p + 1, k - p - 1, t))
                return false;
            to = k + 1;
        } else {
            size_t i;
            for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
                if (starts(L, p, ops[i].s))
                    break;
            if (i == sizeof(ops) / sizeof(ops[0])) {
                char ch[8];
                snprintf(ch, sizeof(ch), "%c", c >= 0x20 && c < 0x7f ? c : '?');
                return lex_fail(L, "unexpected char '%s'", ch);
            }
            int op = ops[i].op;
            if (op == OP_LBRACE || op == OP_LPAREN || op == OP_LBRACKET) {
                if (L->nbal == MAX_BALANCE)
                    return lex_fail(L, "brackets nested too deeply", NULL);
                L->bal[L->nbal++] = op == OP_LBRACE ? '}' : op == OP_LPAREN ? ')' : ']';
            } else if (op == OP_RBRACE || op == OP_RPAREN || op == OP_RBRACKET) {
                char want = op == OP_RBRACE ? '}' : op == OP_RPAREN ? ')' : ']';
                char got[2] = {want, 0};
                if (L->nbal == 0)
                    return lex_fail(L, "unexpected '%s'", got);
                if (L->bal[--L->nbal] != want)
                    return lex_fail(L, "unexpected '%s'", got);
            }
            struct token *t = emit(L, T_OP);
            if (t == NULL)
                return false;
            t->op = op;
            to = p + strlen(ops[i].s);
        }
        adv(L, to);
    }
}

static bool lex_root(struct lexer *L);

bool jinja_lex(struct arena *a, const char *src, size_t len, struct token **toks,
               size_t *ntoks, char *err, size_t err_size)
{
    /* newlines normalized, one trailing newline dropped */
    char *s = jinja_arena_alloc(a, len + 1);
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n')
        n--;
    s[n] = 0;

    struct lexer L = {.s = s, .n = n, .line = 1, .line_starting = true, .a = a,
                      .err = err, .err_size = err_size};
    bool ok = lex_root(&L) && emit(&L, T_EOF) != NULL;
    if (!ok) {
        free(L.toks);
        return false;
    }
    *toks = L.toks;
    *ntoks = L.ntoks;
    return true;
}

static bool lex_root(struct lexer *Lp)
{
#define L (*Lp)
    const char *s = L.s;
    size_t n = L.n;
    bool ok = true;
    while (ok && L.pos < n) {
        /* the next "{{", "{%" or "{#" */
        size_t k = L.pos;
        const char *p;
        for (;;) {
            p = memchr(s + k, '{', n - k);
            if (p == NULL || p + 1 >= s + n)
                break;
            if (p[1] == '{' || p[1] == '%' || p[1] == '#')
                break;
            k = (size_t)(p - s) + 1;
        }
        if (p == NULL || p + 1 >= s + n) {
            ok = emit_data(&L, L.pos, n, 0, true);
            adv(&L, n);
            break;
        }
        size_t tag = (size_t)(p - s);
        char kind = p[1];
        char sign = tag + 2 < n && (s[tag + 2] == '-' || s[tag + 2] == '+') ? s[tag + 2] : 0;
        size_t after = tag + 2 + (sign ? 1 : 0);
        /* {% raw %} ... {% endraw %} */
        if (kind == '%') {
            size_t q = skip_ws(s, n, after);
            if (starts(&L, q, "raw")) {
                size_t r = skip_ws(s, n, q + 3);
                size_t end = 0;
                if (starts(&L, r, "-%}"))
                    end = skip_ws(s, n, r + 3);
                else if (starts(&L, r, "%}"))
                    end = r + 2;
                if (end) {
                    if (!emit_data(&L, L.pos, tag, sign, false))
                        return false;
                    L.line_starting = s[end - 1] == '\n';
                    adv(&L, end);
                    /* find {%[-+]? \s* endraw \s* (+%}|-%}\s*|%}\n?) */
                    size_t i = L.pos, body_end = 0, close = 0;
                    char esign = 0;
                    while (i + 1 < n) {
                        const char *b = memchr(s + i, '{', n - i);
                        if (b == NULL)
                            break;
                        size_t bi = (size_t)(b - s);
                        if (bi + 1 < n && s[bi + 1] == '%') {
                            size_t x = bi + 2;
                            char sg = x < n && (s[x] == '-' || s[x] == '+') ? s[x] : 0;
                            if (sg)
                                x++;
                            x = skip_ws(s, n, x);
                            if (starts(&L, x, "endraw")) {
                                x = skip_ws(s, n, x + 6);
                                if (starts(&L, x, "+%}"))
                                    close = x + 3;
                                else if (starts(&L, x, "-%}"))
                                    close = skip_ws(s, n, x + 3);
                                else if (starts(&L, x, "%}")) {
                                    close = x + 2;
                                    if (close < n && s[close] == '\n')
                                        close++;
                                }
                                if (close) {
                                    body_end = bi;
                                    esign = sg;
                                    break;
                                }
                            }
                        }
                        i = bi + 1;
                    }
                    if (!close) {
                        lex_fail(&L, "missing end of raw directive", NULL);
                        return false;
                    }
                    if (!emit_data(&L, L.pos, body_end, esign, false))
                        return false;
                    L.line_starting = s[close - 1] == '\n';
                    adv(&L, close);
                    continue;
                }
            }
        }
        if (!emit_data(&L, L.pos, tag, sign, kind == '{'))
            return false;
        L.line_starting = false;
        adv(&L, after);
        if (kind == '#') {
            size_t i = L.pos, end = 0;
            while (i < n) {
                if (starts(&L, i, "+#}")) {
                    end = i + 3;
                    break;
                }
                if (starts(&L, i, "-#}")) {
                    end = skip_ws(s, n, i + 3);
                    break;
                }
                if (starts(&L, i, "#}")) {
                    end = i + 2;
                    if (end < n && s[end] == '\n')
                        end++;
                    break;
                }
                i++;
            }
            if (!end) {
                lex_fail(&L, "missing end of comment tag", NULL);
                return false;
            }
            L.line_starting = s[end - 1] == '\n';
            adv(&L, end);
            continue;
        }
        if (!emit(&L, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN))
            return false;
        ok = lex_tag(&L, kind == '%');
    }
    return ok;
#undef L
}
