/*
 * json_schema_regex.c - a JSON schema "pattern" (a practical subset of
 * Python's `re` syntax, the dialect the jsonschema validator uses) turned
 * into a GBNF expression for the content of a JSON string.
 *
 * Supported: literal characters and escapes (\n \t \xHH \uHHHH ...),
 * classes [a-z] [^...] with \d \w \s inside, the shorthands \d \w \s \D \W
 * \S, `.`, groups ( ) (?: ) (?P<name> ) (?<name> ), alternation, the
 * quantifiers ? * + {m} {m,} {m,n} {,n} (lazy and possessive forms read the
 * same), and ^ $ \A \Z at the ends of the top-level alternatives.
 *
 * The grammar matches whole strings only, which also satisfy the pattern
 * under search semantics. Where the exact language is awkward, a subset is
 * generated (still valid): \D \W \S and negated classes stay in ASCII or
 * exclude only what they name, control characters are dropped from large
 * sets, and repetition counts above MAX_COUNT are capped. Lookarounds,
 * backreferences, word boundaries, flags, and unbounded repetition of
 * something that can be empty are rejected.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/unicode.h"
#include "base/vec.h"
#include "grammar/grammar.h"
#include "grammar/json_schema_impl.h"

#define MAX_COUNT 1000
#define MAX_DEPTH 100
#define UNBOUNDED UINT32_MAX

struct single;

struct rx {
    const char *s;
    size_t n, pos;
    int depth;
    char *err;
    size_t err_size;
    bool failed;
    struct single *single; /* filled for the whole pattern */
};

static void rx_err(struct rx *x, const char *fmt, ...)
{
    if (x->failed)
        return;
    x->failed = true;
    if (x->err == NULL || x->err_size == 0)
        return;
    int k = snprintf(x->err, x->err_size, "pattern: at offset %zu: ", x->pos);
    if (k < 0 || (size_t)k >= x->err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + k, x->err_size - (size_t)k, fmt, ap);
    va_end(ap);
}

static bool rx_end(const struct rx *x) { return x->pos >= x->n; }
static char rx_cur(const struct rx *x) { return x->pos < x->n ? x->s[x->pos] : '\0'; }

/* ---- sets of code points ---- */

struct cset {
    uint32_t *r; /* lo, hi pairs */
    size_t n;    /* pairs */
    size_t cap;  /* uint32_t values allocated (vec_reserve) */
    bool oom;
};

static void cs_add(struct cset *c, uint32_t lo, uint32_t hi)
{
    if (vec_reserve((void **)&c->r, &c->cap, 2 * (c->n + 1), sizeof(uint32_t)) != 0) {
        c->oom = true;
        return;
    }
    c->r[2 * c->n] = lo;
    c->r[2 * c->n + 1] = hi;
    c->n++;
}

/* The ASCII complement of a set of ASCII ranges (for \D \W \S). */
static void cs_add_ascii_not(struct cset *c, const uint32_t *r, size_t n)
{
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[2 * i] > next)
            cs_add(c, next, r[2 * i] - 1);
        next = r[2 * i + 1] + 1;
    }
    if (next <= 0x7F)
        cs_add(c, next, 0x7F);
}

static const uint32_t DIGITS[] = {'0', '9'};
static const uint32_t WORD[] = {'0', '9', 'A', 'Z', '_', '_', 'a', 'z'};
static const uint32_t SPACE[] = {'\t', '\r', ' ', ' '};

/* \d \w \s \D \W \S into c; false if k is none of them. */
static bool cs_shorthand(struct cset *c, char k)
{
    switch (k) {
    case 'd': cs_add(c, '0', '9'); return true;
    case 'w':
        for (int i = 0; i < 4; i++)
            cs_add(c, WORD[2 * i], WORD[2 * i + 1]);
        return true;
    case 's': cs_add(c, '\t', '\r'); cs_add(c, ' ', ' '); return true;
    case 'D': cs_add_ascii_not(c, DIGITS, 1); return true;
    case 'W': cs_add_ascii_not(c, WORD, 4); return true;
    case 'S': cs_add_ascii_not(c, SPACE, 2); return true;
    default: return false;
    }
}

/* Complement within [0, 0x10FFFF] of a set. */
static void cs_negate(struct cset *c)
{
    size_t n = grammar_ranges_normalize(c->r, c->n);
    uint32_t *out = malloc((2 * n + 2) * sizeof(uint32_t));
    if (out == NULL) {
        c->oom = true;
        return;
    }
    c->n = grammar_ranges_complement(c->r, n, out);
    c->cap = 2 * n + 2;
    free(c->r);
    c->r = out;
}

/* ---- escapes and characters ---- */

static bool rx_hex(struct rx *x, int digits, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        char c = rx_cur(x);
        int h = unicode_hex_value((unsigned char)c);
        if (rx_end(x) || h < 0) {
            rx_err(x, "expected %d hex digits", digits);
            return false;
        }
        v = v * 16 + (uint32_t)h;
        x->pos++;
    }
    if (v > 0x10FFFF) {
        rx_err(x, "code point out of range");
        return false;
    }
    *out = v;
    return true;
}

/* One raw UTF-8 code point. */
static bool rx_utf8(struct rx *x, uint32_t *out)
{
    size_t n = utf8_decode_strict(x->s + x->pos, x->n - x->pos, out);
    if (n == 0) {
        rx_err(x, "invalid UTF-8");
        return false;
    }
    x->pos += n;
    return true;
}

/* An escape after the backslash (already skipped) standing for one code
 * point, or a shorthand class added to set (then *is_set). */
static bool rx_escape(struct rx *x, uint32_t *cp, struct cset *set, bool *is_set)
{
    *is_set = false;
    if (rx_end(x)) {
        rx_err(x, "pattern ends with a backslash");
        return false;
    }
    char c = x->s[x->pos++];
    if (cs_shorthand(set, c)) {
        *is_set = true;
        return true;
    }
    switch (c) {
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case 'a': *cp = 7; return true;
    case '0': *cp = 0; return true;
    case 'x': return rx_hex(x, 2, cp);
    case 'u': return rx_hex(x, 4, cp);
    case 'U': return rx_hex(x, 8, cp);
    default: break;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
        x->pos--;
        rx_err(x, "unsupported escape '\\%c'", c);
        return false;
    }
    x->pos--;
    return rx_utf8(x, cp); /* escaped punctuation or any other character */
}

/* [...] after the '[' */
static bool rx_class(struct rx *x, struct cset *set)
{
    bool neg = rx_cur(x) == '^';
    if (neg)
        x->pos++;
    bool first = true;
    for (;;) {
        if (rx_end(x)) {
            rx_err(x, "unterminated character class");
            return false;
        }
        if (rx_cur(x) == ']' && !first) {
            x->pos++;
            break;
        }
        first = false;
        uint32_t lo, hi;
        bool is_set = false;
        if (rx_cur(x) == '\\') {
            x->pos++;
            if (!rx_escape(x, &lo, set, &is_set))
                return false;
        } else if (!rx_utf8(x, &lo)) {
            return false;
        }
        if (is_set)
            continue;
        hi = lo;
        if (rx_cur(x) == '-' && x->pos + 1 < x->n && x->s[x->pos + 1] != ']') {
            x->pos++;
            if (rx_cur(x) == '\\') {
                x->pos++;
                if (!rx_escape(x, &hi, set, &is_set))
                    return false;
                if (is_set) {
                    rx_err(x, "bad character range");
                    return false;
                }
            } else if (!rx_utf8(x, &hi)) {
                return false;
            }
            if (hi < lo) {
                rx_err(x, "bad character range");
                return false;
            }
        }
        cs_add(set, lo, hi);
    }
    if (neg) {
        cs_negate(set);
        /* a negated class stays printable-ish: no ASCII controls */
    }
    return true;
}

/* ---- structure ---- */

/* Lengths (in characters) a piece of pattern can match; max LEN_INF for no
 * limit. `single`: the piece is one character set (for the whole-pattern
 * shortcut below). */
#define LEN_INF UINT64_MAX

struct rlen {
    uint64_t min, max;
    bool single;
};

static uint64_t len_add(uint64_t a, uint64_t b)
{
    return a == LEN_INF || b == LEN_INF || a + b < a ? LEN_INF : a + b;
}

static uint64_t len_mul(uint64_t a, uint64_t k)
{
    if (a == 0 || k == 0)
        return 0;
    return a == LEN_INF || k == LEN_INF || a > LEN_INF / k ? LEN_INF : a * k;
}

static void rx_alt(struct rx *x, struct sbuf *out, bool top, struct rlen *len);

static void put_set(struct rx *x, struct sbuf *out, struct cset *set)
{
    if (set->oom) {
        out->oom = true;
        return;
    }
    json_schema_charset(out, set->r, set->n);
}

static void put_char(struct sbuf *out, uint32_t cp)
{
    uint32_t r[2] = {cp, cp};
    json_schema_charset(out, r, 1);
}

static void rx_group(struct rx *x, struct sbuf *out, struct rlen *len)
{
    if (rx_cur(x) == '?') {
        x->pos++;
        char c = rx_cur(x);
        if (c == ':') {
            x->pos++;
        } else if ((c == 'P' && x->pos + 1 < x->n && x->s[x->pos + 1] == '<') ||
                   (c == '<' && x->pos + 1 < x->n && x->s[x->pos + 1] != '=' &&
                    x->s[x->pos + 1] != '!')) {
            while (!rx_end(x) && rx_cur(x) != '>')
                x->pos++;
            if (rx_end(x)) {
                rx_err(x, "unterminated group name");
                return;
            }
            x->pos++;
        } else {
            rx_err(x, "unsupported group '(?%c'", c ? c : ' ');
            return;
        }
    }
    if (++x->depth > MAX_DEPTH) {
        rx_err(x, "groups nested too deeply");
        return;
    }
    sbuf_putc(out, '(');
    rx_alt(x, out, false, len);
    sbuf_putc(out, ')');
    x->depth--;
    len->single = false;
    if (!x->failed && rx_cur(x) != ')') {
        rx_err(x, "missing ')'");
        return;
    }
    x->pos++;
}

/* One atom into out. */
static bool rx_atom(struct rx *x, struct sbuf *out, struct rlen *len)
{
    char c = rx_cur(x);
    struct cset set = {0};
    *len = (struct rlen){1, 1, true};
    if (c == '(') {
        x->pos++;
        rx_group(x, out, len);
    } else if (c == '[') {
        x->pos++;
        if (rx_class(x, &set))
            put_set(x, out, &set);
    } else if (c == '.') {
        x->pos++;
        cs_add(&set, 0, '\n' - 1);
        cs_add(&set, '\n' + 1, 0x10FFFF);
        put_set(x, out, &set);
    } else if (c == '\\') {
        x->pos++;
        uint32_t cp;
        bool is_set;
        if (rx_escape(x, &cp, &set, &is_set)) {
            if (is_set)
                put_set(x, out, &set);
            else
                put_char(out, cp);
        }
    } else if (c == '*' || c == '+' || c == '?') {
        rx_err(x, "nothing to repeat");
    } else {
        uint32_t cp;
        if (rx_utf8(x, &cp))
            put_char(out, cp);
    }
    free(set.r);
    return !x->failed;
}

/* Reads {m}, {m,}, {m,n}, {,n} at '{'; false (position kept) if it is not a
 * quantifier, in which case '{' is a literal. */
static bool rx_braces(struct rx *x, uint32_t *min, uint32_t *max)
{
    size_t p = x->pos + 1;
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false, comma = false;
    while (p < x->n && x->s[p] >= '0' && x->s[p] <= '9') {
        a = a * 10 + (uint64_t)(x->s[p++] - '0');
        has_a = true;
        if (a > 100000000)
            a = 100000000;
    }
    if (p < x->n && x->s[p] == ',') {
        comma = true;
        p++;
        while (p < x->n && x->s[p] >= '0' && x->s[p] <= '9') {
            b = b * 10 + (uint64_t)(x->s[p++] - '0');
            has_b = true;
            if (b > 100000000)
                b = 100000000;
        }
    }
    if (p >= x->n || x->s[p] != '}' || (!has_a && !has_b))
        return false;
    x->pos = p + 1;
    *min = (uint32_t)a;
    *max = comma ? (has_b ? (uint32_t)b : UNBOUNDED) : (uint32_t)a;
    return true;
}

/* A quantifier after an atom; false if there is none. */
static bool rx_quant(struct rx *x, uint32_t *min, uint32_t *max)
{
    char c = rx_cur(x);
    if (c == '*' || c == '+' || c == '?') {
        x->pos++;
        *min = c == '+';
        *max = c == '?' ? 1 : UNBOUNDED;
    } else if (!(c == '{' && rx_braces(x, min, max))) {
        return false;
    }
    if (rx_cur(x) == '?' || rx_cur(x) == '+')
        x->pos++; /* lazy / possessive: same language */
    return true;
}

static void put_repeat(struct sbuf *out, uint64_t min, uint64_t max)
{
    if (min == 0 && max == LEN_INF)
        sbuf_putc(out, '*');
    else if (min == 1 && max == LEN_INF)
        sbuf_putc(out, '+');
    else if (min == 0 && max == 1)
        sbuf_putc(out, '?');
    else if (max == LEN_INF)
        sbuf_printf(out, "{%llu,}", (unsigned long long)min);
    else if (min == max)
        sbuf_printf(out, "{%llu}", (unsigned long long)min);
    else
        sbuf_printf(out, "{%llu,%llu}", (unsigned long long)min, (unsigned long long)max);
}

/* atom{min,max} into out; the lengths of the result into len. */
static void put_quant(struct rx *x, struct sbuf *out, const struct sbuf *atom, struct rlen *len,
                      uint32_t min, uint32_t max)
{
    if (max != UNBOUNDED && max < min) {
        rx_err(x, "bad repetition {%u,%u}", min, max);
        return;
    }
    if (min > MAX_COUNT) {
        rx_err(x, "repetition count %u is too large (at most %d)", min, MAX_COUNT);
        return;
    }
    if (max == UNBOUNDED && len->min == 0) {
        rx_err(x, "unbounded repetition of something that can be empty");
        return;
    }
    if (max != UNBOUNDED && max > MAX_COUNT)
        max = MAX_COUNT; /* a subset: still valid */
    uint64_t qmax = max == UNBOUNDED ? LEN_INF : max;
    len->min = len_mul(len->min, min);
    len->max = len_mul(len->max, qmax);
    if (max == 0)
        return;
    sbuf_putc(out, '(');
    sbuf_append(out, atom->s ? atom->s : "", atom->len);
    sbuf_putc(out, ')');
    put_repeat(out, min, qmax);
}

static bool is_end_anchor(const struct rx *x)
{
    if (rx_cur(x) == '$')
        return true;
    return rx_cur(x) == '\\' && x->pos + 1 < x->n &&
           (x->s[x->pos + 1] == 'Z' || x->s[x->pos + 1] == 'z');
}

static bool is_start_anchor(const struct rx *x)
{
    return rx_cur(x) == '^' ||
           (rx_cur(x) == '\\' && x->pos + 1 < x->n && x->s[x->pos + 1] == 'A');
}

/* Anchors: only at the ends of a top-level alternative. Returns true if one
 * was consumed. */
static bool rx_anchor(struct rx *x, bool top, bool at_start)
{
    bool start = is_start_anchor(x), end = is_end_anchor(x);
    if (!start && !end)
        return false;
    size_t n = rx_cur(x) == '\\' ? 2 : 1;
    bool ok = top;
    if (start)
        ok = ok && at_start;
    if (end) {
        size_t p = x->pos + n;
        ok = ok && (p >= x->n || x->s[p] == '|');
    }
    if (!ok) {
        rx_err(x, "anchors are supported only at the start and end of the pattern");
        return true;
    }
    x->pos += n;
    return true;
}

/* The single repeated character set of the last sequence, if it is one. */
struct single {
    bool is;
    char *atom; /* its GBNF text */
    uint64_t qmin, qmax;
};

static void rx_seq(struct rx *x, struct sbuf *out, bool top, struct rlen *len,
                   struct single *single)
{
    *len = (struct rlen){0, 0, false};
    bool first = true, any = false;
    int atoms = 0;
    while (!x->failed && !rx_end(x) && rx_cur(x) != '|' && rx_cur(x) != ')') {
        if (rx_anchor(x, top, first))
            continue;
        struct sbuf atom;
        atom = (struct sbuf)SBUF_INIT;
        struct rlen al;
        first = false;
        atoms++;
        if (rx_atom(x, &atom, &al)) {
            uint32_t min = 1, max = 1;
            bool single_char = al.single;
            if (any)
                sbuf_putc(out, ' ');
            any = true;
            if (rx_quant(x, &min, &max)) {
                uint32_t m2, x2;
                if (rx_quant(x, &m2, &x2))
                    rx_err(x, "multiple repeat");
                put_quant(x, out, &atom, &al, min, max);
            } else {
                sbuf_append(out, atom.s ? atom.s : "", atom.len);
            }
            len->min = len_add(len->min, al.min);
            len->max = len_add(len->max, al.max);
            if (single && atoms == 1 && single_char && !atom.oom) {
                free(single->atom);
                single->atom = strdup(atom.s);
                single->is = single->atom != NULL;
                single->qmin = min;
                single->qmax = max == UNBOUNDED ? LEN_INF : max > MAX_COUNT ? MAX_COUNT : max;
            }
        }
        if (atom.oom)
            out->oom = true;
        sbuf_free(&atom);
    }
    if (single && atoms != 1)
        single->is = false;
}

static void rx_alt(struct rx *x, struct sbuf *out, bool top, struct rlen *len)
{
    struct rlen sl;
    struct single one = {false, NULL, 0, 0}, *sp = top && x->single ? &one : NULL;
    rx_seq(x, out, top, &sl, sp);
    *len = sl;
    bool alts = false;
    while (!x->failed && rx_cur(x) == '|') {
        x->pos++;
        alts = true;
        sbuf_puts(out, " | ");
        rx_seq(x, out, top, &sl, NULL);
        if (sl.min < len->min)
            len->min = sl.min;
        if (sl.max > len->max)
            len->max = sl.max;
    }
    len->single = false;
    if (sp) {
        x->single->is = one.is && !alts;
        x->single->atom = one.atom;
        x->single->qmin = one.qmin;
        x->single->qmax = one.qmax;
        if (!x->single->is) {
            free(one.atom);
            x->single->atom = NULL;
        }
    }
}

int json_schema_regex(const char *pattern, size_t n, struct sbuf *out, struct json_schema_regex_info *info,
              char *err, size_t err_size)
{
    struct single single = {false, NULL, 0, 0};
    struct rx x = {pattern, n, 0, 0, err, err_size, false, &single};
    struct rlen len;
    sbuf_putc(out, '(');
    rx_alt(&x, out, true, &len);
    sbuf_putc(out, ')');
    if (!x.failed && !rx_end(&x))
        rx_err(&x, "unbalanced ')'");
    if (!x.failed && out->oom)
        rx_err(&x, "out of memory");
    if (info && !x.failed) {
        info->min_len = len.min;
        info->max_len = len.max;
        info->single = single.is;
        info->atom = single.atom;
        info->qmin = single.qmin;
        info->qmax = single.qmax;
        single.atom = NULL;
    }
    free(single.atom);
    return x.failed ? -1 : 0;
}
