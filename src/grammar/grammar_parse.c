/*
 * grammar_parse.c - the GBNF parser (llama.cpp's grammar format): text to the
 * compiled grammar of grammar_impl.h, then the checks that make matching
 * safe: every used rule is defined, the start rule exists, and no rule is
 * left-recursive (directly, through other rules, or through rules that can
 * match the empty string), since that would make the matcher loop.
 *
 * Grammar of the format, as read here:
 *   grammar  := (rule | blank line | comment)*
 *   rule     := name "::=" alts (newline | end)
 *   alts     := seq ("|" seq)*        newlines are allowed after "::=", after
 *                                     "|", inside ( ), and before a "|" that
 *                                     starts a continuation line
 *   seq      := (atom repeat*)*
 *   atom     := "literal" | [class] | [^class] | . | name | ( alts )
 *   repeat   := * | + | ? | {m} | {m,} | {m,n} | {,n}
 * Groups and repetitions become generated rules: x* is R ::= x R | (empty),
 * x{m,n} is m copies of x followed by n-m nested optional copies.
 *
 * Every size is capped (rules, elements, repetition counts, nesting of
 * parentheses) so that no input can exhaust memory or the C stack.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/unicode.h"
#include "grammar/grammar.h"
#include "grammar/grammar_impl.h"

#define MAX_ELEMS (1u << 21)
#define MAX_RULES (1u << 19)
#define MAX_CLASSES (1u << 21)
#define MAX_REPEAT 10000u
#define MAX_NESTING 200
#define REPEAT_INF UINT32_MAX

enum { GEN_NONE = 0, GEN_GROUP, GEN_REPEAT };

struct ebuf {
    struct gelem *v;
    uint32_t n, cap;
};

struct prule {
    const char *name; /* into the text; NULL for generated rules */
    uint32_t name_len;
    bool defined;
    uint8_t gen;      /* GEN_* */
    uint32_t def_off; /* definition, or where the group / repetition is */
    uint32_t ref_off; /* first use (for "undefined rule") */
    uint32_t owner;   /* generated: the named rule it was written in */
    struct ebuf body; /* alternatives, each ended by GE_END */
};

struct parser {
    const char *text;
    size_t len, pos;
    struct prule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t *names; /* open-addressed map of named rules: index + 1, 0 empty */
    uint32_t names_mask;
    struct gclass *classes;
    uint32_t n_classes, cap_classes;
    uint32_t *ranges; /* lo,hi pairs */
    uint32_t n_ranges, cap_ranges;
    int32_t ascii_class[128];
    uint32_t total_elems;
    int depth;
    uint32_t cur_rule; /* the named rule being defined */
    char *err;
    size_t err_size;
    bool failed;
};

/* ---- cancelling (grammar.h) ---- */

#define CANCEL_EVERY 0xffffu /* elements emitted between two looks at the flag */

static _Thread_local const atomic_int *t_cancel;

const atomic_int *grammar_cancel_watch(const atomic_int *flag)
{
    const atomic_int *old = t_cancel;
    t_cancel = flag;
    return old;
}

bool grammar_cancelled(void)
{
    return t_cancel && atomic_load_explicit(t_cancel, memory_order_relaxed) != 0;
}

/* ---- errors ---- */

static void perr(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    if (p->err == NULL || p->err_size == 0)
        return;
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < off && i < p->len; i++) {
        if (p->text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)p->text[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    int n = snprintf(p->err, p->err_size, "line %u, column %u: ", line, col);
    if (n < 0 || (size_t)n >= p->err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
    va_end(ap);
}

static void oom(struct parser *p) { perr(p, p->pos, "out of memory"); }

/* The watched cancel flag was set: "cancelled", without a position. */
static void cancelled(struct parser *p)
{
    if (p->failed)
        return;
    p->failed = true;
    if (p->err && p->err_size)
        snprintf(p->err, p->err_size, "cancelled");
}

/* ---- growable arrays ---- */

static bool grow(struct parser *p, void **v, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t nc = *cap ? *cap : 8;
    while (nc < need)
        nc *= 2;
    void *nv = realloc(*v, (size_t)nc * elem);
    if (nv == NULL) {
        oom(p);
        return false;
    }
    *v = nv;
    *cap = nc;
    return true;
}

static void emit(struct parser *p, uint32_t r, uint32_t type, uint32_t arg)
{
    if (p->failed)
        return;
    if (++p->total_elems > MAX_ELEMS) {
        perr(p, p->pos, "grammar too large (more than %u elements)", MAX_ELEMS);
        return;
    }
    if ((p->total_elems & CANCEL_EVERY) == 0 && grammar_cancelled()) {
        cancelled(p);
        return;
    }
    struct ebuf *b = &p->rules[r].body;
    if (!grow(p, (void **)&b->v, &b->cap, b->n + 1, sizeof(*b->v)))
        return;
    b->v[b->n++] = (struct gelem){type, arg};
}

/* ---- rules and names ---- */

static uint32_t name_hash(const char *s, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int64_t new_rule(struct parser *p, uint8_t gen, uint32_t off)
{
    if (p->n_rules >= MAX_RULES) {
        perr(p, off, "grammar too large (more than %u rules)", MAX_RULES);
        return -1;
    }
    if (!grow(p, (void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof(*p->rules)))
        return -1;
    struct prule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof(*r));
    r->gen = gen;
    r->def_off = off;
    r->ref_off = off;
    r->owner = p->cur_rule;
    r->defined = gen != GEN_NONE;
    return p->n_rules++;
}

static bool names_rehash(struct parser *p)
{
    uint32_t cap = p->names_mask ? (p->names_mask + 1) * 2 : 64;
    uint32_t *t = calloc(cap, sizeof(*t));
    if (t == NULL) {
        oom(p);
        return false;
    }
    for (uint32_t i = 0; p->names && i <= p->names_mask; i++) {
        if (p->names[i] == 0)
            continue;
        const struct prule *r = &p->rules[p->names[i] - 1];
        uint32_t h = name_hash(r->name, r->name_len) & (cap - 1);
        while (t[h])
            h = (h + 1) & (cap - 1);
        t[h] = p->names[i];
    }
    free(p->names);
    p->names = t;
    p->names_mask = cap - 1;
    return true;
}

/* The rule called name (created, undefined, on first sight); -1 on error. */
static int64_t rule_by_name(struct parser *p, const char *name, uint32_t n, uint32_t off)
{
    if (p->names == NULL && !names_rehash(p))
        return -1;
    uint32_t h = name_hash(name, n) & p->names_mask;
    for (; p->names[h]; h = (h + 1) & p->names_mask) {
        const struct prule *r = &p->rules[p->names[h] - 1];
        if (r->name_len == n && memcmp(r->name, name, n) == 0)
            return p->names[h] - 1;
    }
    int64_t idx = new_rule(p, GEN_NONE, off);
    if (idx < 0)
        return -1;
    p->rules[idx].name = name;
    p->rules[idx].name_len = n;
    p->names[h] = (uint32_t)idx + 1;
    if ((uint64_t)p->n_rules * 2 > p->names_mask && !names_rehash(p))
        return -1;
    return idx;
}

/* ---- character classes ---- */

static int cmp_range(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

size_t grammar_ranges_normalize(uint32_t *r, size_t n)
{
    if (n == 0)
        return 0;
    qsort(r, n, 2 * sizeof(uint32_t), cmp_range);
    size_t m = 0;
    for (size_t i = 1; i < n; i++) {
        if (r[2 * i] <= r[2 * m + 1] + 1) {
            if (r[2 * i + 1] > r[2 * m + 1])
                r[2 * m + 1] = r[2 * i + 1];
        } else {
            m++;
            r[2 * m] = r[2 * i];
            r[2 * m + 1] = r[2 * i + 1];
        }
    }
    return m + 1;
}

size_t grammar_ranges_complement(const uint32_t *r, size_t n, uint32_t *out)
{
    size_t m = 0;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[2 * i] > next) {
            out[2 * m] = next;
            out[2 * m + 1] = r[2 * i] - 1;
            m++;
        }
        next = r[2 * i + 1] + 1;
    }
    if (next <= GRAMMAR_MAX_CP) {
        out[2 * m] = next;
        out[2 * m + 1] = GRAMMAR_MAX_CP;
        m++;
    }
    return m;
}

/* The first byte of cp's UTF-8 form (computed for any cp, surrogates too:
 * a class's lead-byte set must cover the whole range). */
static uint8_t utf8_lead(uint32_t cp)
{
    if (cp < 0x80)
        return (uint8_t)cp;
    if (cp < 0x800)
        return (uint8_t)(0xC0 | (cp >> 6));
    if (cp < 0x10000)
        return (uint8_t)(0xE0 | (cp >> 12));
    return (uint8_t)(0xF0 | (cp >> 18));
}

static void set_bit(uint32_t *bits, uint32_t i) { bits[i >> 5] |= 1u << (i & 31); }

/* A class from normalized pairs r[0..2n); returns its index or -1. */
static int64_t add_class(struct parser *p, const uint32_t *r, uint32_t n)
{
    if (p->n_classes >= MAX_CLASSES) {
        perr(p, p->pos, "grammar too large (more than %u character sets)", MAX_CLASSES);
        return -1;
    }
    if (!grow(p, (void **)&p->classes, &p->cap_classes, p->n_classes + 1, sizeof(*p->classes)) ||
        !grow(p, (void **)&p->ranges, &p->cap_ranges, 2 * (p->n_ranges + n), sizeof(uint32_t)))
        return -1;
    struct gclass *c = &p->classes[p->n_classes];
    memset(c, 0, sizeof(*c));
    c->r0 = p->n_ranges;
    c->empty = n == 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t lo = r[2 * i], hi = r[2 * i + 1];
        for (uint32_t cp = lo; cp <= hi && cp < 0x80; cp++) {
            set_bit(c->ascii, cp);
            set_bit(c->lead, cp);
        }
        if (hi < 0x80)
            continue;
        if (lo < 0x80)
            lo = 0x80;
        for (uint32_t b = utf8_lead(lo); b <= utf8_lead(hi); b++)
            set_bit(c->lead, b);
        p->ranges[2 * p->n_ranges] = lo;
        p->ranges[2 * p->n_ranges + 1] = hi;
        p->n_ranges++;
        c->nr++;
    }
    return p->n_classes++;
}

/* The class of a single code point (ASCII ones are shared). */
static int64_t char_class(struct parser *p, uint32_t cp)
{
    if (cp < 0x80 && p->ascii_class[cp] >= 0)
        return p->ascii_class[cp];
    uint32_t r[2] = {cp, cp};
    int64_t c = add_class(p, r, 1);
    if (cp < 0x80 && c >= 0)
        p->ascii_class[cp] = (int32_t)c;
    return c;
}

/* ---- lexing ---- */

static bool at_end(const struct parser *p) { return p->pos >= p->len; }
static char cur(const struct parser *p) { return p->pos < p->len ? p->text[p->pos] : '\0'; }

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Skip blanks and comments; newlines too when newline_ok. */
static void skip_space(struct parser *p, bool newline_ok)
{
    while (!at_end(p)) {
        char c = cur(p);
        if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else if (c == '#') {
            while (!at_end(p) && cur(p) != '\n')
                p->pos++;
        } else if (c == '\n' && newline_ok) {
            p->pos++;
        } else {
            break;
        }
    }
}

static bool parse_hex(struct parser *p, int digits, uint32_t *out)
{
    size_t start = p->pos - 2;
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int h = unicode_hex_value((unsigned char)cur(p));
        if (at_end(p) || h < 0) {
            perr(p, start, "expected %d hex digits in escape", digits);
            return false;
        }
        v = v * 16 + (uint32_t)h;
        p->pos++;
    }
    if (v > GRAMMAR_MAX_CP) {
        perr(p, start, "code point U+%X is out of range", v);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_escape(struct parser *p, uint32_t *out)
{
    size_t start = p->pos;
    p->pos++; /* the backslash */
    if (at_end(p)) {
        perr(p, start, "unfinished escape");
        return false;
    }
    char c = p->text[p->pos++];
    switch (c) {
    case 'x': return parse_hex(p, 2, out);
    case 'u': return parse_hex(p, 4, out);
    case 'U': return parse_hex(p, 8, out);
    case 'n': *out = '\n'; return true;
    case 't': *out = '\t'; return true;
    case 'r': *out = '\r'; return true;
    case 'f': *out = '\f'; return true;
    case 'v': *out = '\v'; return true;
    case 'b': *out = '\b'; return true;
    case '0': *out = 0; return true;
    default: break;
    }
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if ((unsigned char)c < 0x80 && c > ' ' && c != 0x7f && !alnum) {
        *out = (unsigned char)c; /* \\ \" \[ \] \- \^ \. ... stand for themselves */
        return true;
    }
    perr(p, start, "unknown escape '\\%c'", c >= ' ' && c < 0x7f ? c : '?');
    return false;
}

/* One code point of raw UTF-8 text. */
static bool parse_utf8(struct parser *p, uint32_t *out)
{
    uint32_t cp;
    size_t n = utf8_decode_strict(p->text + p->pos, p->len - p->pos, &cp);
    if (n == 0 || cp > GRAMMAR_MAX_CP) {
        perr(p, p->pos, "invalid UTF-8");
        return false;
    }
    *out = cp;
    p->pos += n;
    return true;
}

/* A character of a literal or class: an escape or one UTF-8 code point. */
static bool parse_char(struct parser *p, uint32_t *out)
{
    if (cur(p) == '\\')
        return parse_escape(p, out);
    return parse_utf8(p, out);
}

/* ---- atoms ---- */

static void parse_literal(struct parser *p, uint32_t r)
{
    size_t start = p->pos++;
    while (!p->failed) {
        if (at_end(p)) {
            perr(p, start, "unterminated string literal");
            return;
        }
        if (cur(p) == '"') {
            p->pos++;
            return;
        }
        uint32_t cp;
        if (!parse_char(p, &cp))
            return;
        int64_t c = char_class(p, cp);
        if (c >= 0)
            emit(p, r, GE_CHAR, (uint32_t)c);
    }
}

static bool push_pair(struct parser *p, uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t lo,
                      uint32_t hi)
{
    if (!grow(p, (void **)v, cap, 2 * (*n + 1) + 2, sizeof(uint32_t)))
        return false;
    (*v)[2 * *n] = lo;
    (*v)[2 * *n + 1] = hi;
    (*n)++;
    return true;
}

/* Reads [...] into pairs; returns false on error (pairs freed by caller). */
static bool read_class(struct parser *p, uint32_t **v, uint32_t *n, uint32_t *cap, bool *negated)
{
    size_t start = p->pos++;
    *negated = cur(p) == '^';
    if (*negated)
        p->pos++;
    for (;;) {
        if (at_end(p)) {
            perr(p, start, "unterminated character class");
            return false;
        }
        if (cur(p) == ']') {
            p->pos++;
            return true;
        }
        size_t at = p->pos;
        uint32_t lo, hi;
        if (!parse_char(p, &lo))
            return false;
        hi = lo;
        if (cur(p) == '-' && p->pos + 1 < p->len && p->text[p->pos + 1] != ']') {
            p->pos++;
            if (!parse_char(p, &hi))
                return false;
            if (hi < lo) {
                perr(p, at, "character range is out of order");
                return false;
            }
        }
        if (!push_pair(p, v, n, cap, lo, hi))
            return false;
    }
}

static void parse_class(struct parser *p, uint32_t r)
{
    uint32_t *v = NULL, n = 0, cap = 0;
    bool negated = false;
    if (read_class(p, &v, &n, &cap, &negated)) {
        n = (uint32_t)grammar_ranges_normalize(v, n);
        int64_t c = -1;
        if (negated) {
            uint32_t *w = malloc((2 * (size_t)n + 2) * sizeof(uint32_t));
            if (w == NULL) {
                oom(p);
            } else {
                c = add_class(p, w, (uint32_t)grammar_ranges_complement(v, n, w));
                free(w);
            }
        } else {
            c = add_class(p, v, n);
        }
        if (c >= 0)
            emit(p, r, GE_CHAR, (uint32_t)c);
    }
    free(v);
}

static void parse_any(struct parser *p, uint32_t r)
{
    static const uint32_t all[2] = {0, GRAMMAR_MAX_CP};
    p->pos++;
    int64_t c = add_class(p, all, 1);
    if (c >= 0)
        emit(p, r, GE_CHAR, (uint32_t)c);
}

static void parse_alternates(struct parser *p, uint32_t r, bool nested);

static void parse_group(struct parser *p, uint32_t r)
{
    size_t start = p->pos++;
    if (++p->depth > MAX_NESTING) {
        perr(p, start, "parentheses nested too deeply (more than %d)", MAX_NESTING);
        return;
    }
    int64_t g = new_rule(p, GEN_GROUP, (uint32_t)start);
    if (g < 0)
        return;
    skip_space(p, true);
    parse_alternates(p, (uint32_t)g, true);
    p->depth--;
    if (p->failed)
        return;
    if (cur(p) != ')') {
        if (at_end(p))
            perr(p, start, "missing ')' for this '('");
        else
            perr(p, p->pos, "expected ')'");
        return;
    }
    p->pos++;
    emit(p, r, GE_RULE, (uint32_t)g);
}

static void parse_ref(struct parser *p, uint32_t r)
{
    size_t start = p->pos;
    while (!at_end(p) && is_name_char(cur(p)))
        p->pos++;
    int64_t t = rule_by_name(p, p->text + start, (uint32_t)(p->pos - start), (uint32_t)start);
    if (t >= 0)
        emit(p, r, GE_RULE, (uint32_t)t);
}

/* ---- repetition ---- */

static bool parse_count(struct parser *p, uint32_t *out)
{
    uint32_t v = 0;
    size_t start = p->pos;
    while (is_digit(cur(p))) {
        v = v * 10 + (uint32_t)(cur(p) - '0');
        if (v > MAX_REPEAT) {
            perr(p, start, "repetition count too large (more than %u)", MAX_REPEAT);
            return false;
        }
        p->pos++;
    }
    *out = v;
    return true;
}

/* {m}, {m,}, {m,n}, {,n} */
static bool parse_braces(struct parser *p, bool nested, uint32_t *min, uint32_t *max)
{
    size_t start = p->pos++;
    skip_space(p, nested);
    bool has_min = is_digit(cur(p));
    if (!parse_count(p, min))
        return false;
    skip_space(p, nested);
    if (cur(p) == '}') {
        if (!has_min) {
            perr(p, start, "expected a number in '{...}'");
            return false;
        }
        p->pos++;
        *max = *min;
        return true;
    }
    if (cur(p) != ',') {
        perr(p, p->pos, "expected ',' or '}' in repetition");
        return false;
    }
    p->pos++;
    skip_space(p, nested);
    *max = REPEAT_INF;
    if (is_digit(cur(p)) && !parse_count(p, max))
        return false;
    skip_space(p, nested);
    if (cur(p) != '}') {
        perr(p, p->pos, "expected '}' in repetition");
        return false;
    }
    p->pos++;
    if (*max < *min) {
        perr(p, start, "repetition maximum is smaller than its minimum");
        return false;
    }
    return true;
}

static void emit_copy(struct parser *p, uint32_t r, const struct gelem *s, uint32_t n)
{
    for (uint32_t i = 0; i < n && !p->failed; i++)
        emit(p, r, s[i].type, s[i].arg);
}

/* Replace body[sym..] of rule r (the last symbol, copy in s[0..n)) by its
 * repetition min..max times. */
static void expand_repeat(struct parser *p, uint32_t r, const struct gelem *s, uint32_t n,
                          uint32_t min, uint32_t max, uint32_t off)
{
    for (uint32_t i = 0; i < min && !p->failed; i++)
        emit_copy(p, r, s, n);
    if (max == REPEAT_INF) {
        /* R ::= s R | (empty) */
        int64_t g = new_rule(p, GEN_REPEAT, off);
        if (g < 0)
            return;
        emit_copy(p, (uint32_t)g, s, n);
        emit(p, (uint32_t)g, GE_RULE, (uint32_t)g);
        emit(p, (uint32_t)g, GE_END, 0);
        emit(p, (uint32_t)g, GE_END, 0);
        emit(p, r, GE_RULE, (uint32_t)g);
        return;
    }
    /* O_1 ::= s | (empty); O_k ::= s O_(k-1) | (empty) */
    int64_t prev = -1;
    for (uint32_t k = min; k < max && !p->failed; k++) {
        int64_t g = new_rule(p, GEN_REPEAT, off);
        if (g < 0)
            return;
        emit_copy(p, (uint32_t)g, s, n);
        if (prev >= 0)
            emit(p, (uint32_t)g, GE_RULE, (uint32_t)prev);
        emit(p, (uint32_t)g, GE_END, 0);
        emit(p, (uint32_t)g, GE_END, 0);
        prev = g;
    }
    if (prev >= 0)
        emit(p, r, GE_RULE, (uint32_t)prev);
}

static void parse_repeat(struct parser *p, uint32_t r, uint32_t sym, bool nested)
{
    size_t start = p->pos;
    uint32_t min = 0, max = REPEAT_INF;
    char c = cur(p);
    if (c == '{') {
        if (!parse_braces(p, nested, &min, &max))
            return;
    } else {
        p->pos++;
        min = c == '+' ? 1 : 0;
        max = c == '?' ? 1 : REPEAT_INF;
    }
    struct ebuf *b = &p->rules[r].body;
    uint32_t n = b->n - sym;
    if (n == 0)
        return; /* repeating "" */
    struct gelem *s = malloc(n * sizeof(*s));
    if (s == NULL) {
        oom(p);
        return;
    }
    memcpy(s, b->v + sym, n * sizeof(*s));
    b->n = sym;
    p->total_elems -= n;
    expand_repeat(p, r, s, n, min, max, (uint32_t)start);
    free(s);
}

/* ---- sequences, alternatives, rules ---- */

static void parse_sequence(struct parser *p, uint32_t r, bool nested)
{
    uint32_t sym = UINT32_MAX; /* start of the last symbol in the body */
    while (!p->failed) {
        skip_space(p, nested);
        if (at_end(p))
            return;
        char c = cur(p);
        uint32_t here = p->rules[r].body.n;
        if (c == '"') {
            parse_literal(p, r);
        } else if (c == '[') {
            parse_class(p, r);
        } else if (c == '.') {
            parse_any(p, r);
        } else if (c == '(') {
            parse_group(p, r);
        } else if (is_name_char(c)) {
            parse_ref(p, r);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (sym == UINT32_MAX) {
                perr(p, p->pos, "'%c' has nothing before it to repeat", c);
                return;
            }
            parse_repeat(p, r, sym, nested);
            continue;
        } else {
            return; /* '|', ')', newline or something the caller reports */
        }
        sym = here;
    }
}

/* At a newline outside parentheses: does the next non-blank line start with
 * '|' (a continued list of alternatives)? Moves there if so. */
static bool continuation(struct parser *p)
{
    size_t save = p->pos;
    skip_space(p, true);
    if (cur(p) == '|')
        return true;
    p->pos = save;
    return false;
}

static void parse_alternates(struct parser *p, uint32_t r, bool nested)
{
    parse_sequence(p, r, nested);
    emit(p, r, GE_END, 0);
    while (!p->failed) {
        skip_space(p, nested);
        if (cur(p) != '|' && !(!nested && cur(p) == '\n' && continuation(p)))
            return;
        p->pos++;
        skip_space(p, true);
        parse_sequence(p, r, nested);
        emit(p, r, GE_END, 0);
    }
}

static void parse_rule(struct parser *p)
{
    size_t start = p->pos;
    if (!is_name_char(cur(p))) {
        perr(p, start, "expected a rule name");
        return;
    }
    while (!at_end(p) && is_name_char(cur(p)))
        p->pos++;
    uint32_t n = (uint32_t)(p->pos - start);
    skip_space(p, false);
    if (p->len - p->pos < 3 || memcmp(p->text + p->pos, "::=", 3) != 0) {
        perr(p, p->pos, "expected '::=' after the rule name '%.*s'", (int)(n > 64 ? 64 : n),
             p->text + start);
        return;
    }
    p->pos += 3;
    int64_t r = rule_by_name(p, p->text + start, n, (uint32_t)start);
    if (r < 0)
        return;
    if (p->rules[r].defined) {
        perr(p, start, "rule '%.*s' is defined twice", (int)(n > 64 ? 64 : n), p->text + start);
        return;
    }
    p->rules[r].defined = true;
    p->rules[r].def_off = (uint32_t)start;
    p->cur_rule = (uint32_t)r;
    skip_space(p, true);
    parse_alternates(p, (uint32_t)r, false);
    if (p->failed)
        return;
    skip_space(p, false);
    if (at_end(p))
        return;
    if (cur(p) != '\n') {
        char c = cur(p);
        perr(p, p->pos, c == ')' ? "unmatched ')'" : "unexpected '%c'",
             c > ' ' && c < 0x7f ? c : '?');
        return;
    }
    p->pos++;
}

/* ---- checks and compilation ---- */

static const char *rule_label(const struct parser *p, uint32_t r, int *len)
{
    const struct prule *x = &p->rules[r];
    if (x->gen != GEN_NONE)
        x = &p->rules[x->owner];
    *len = (int)(x->name_len > 64 ? 64 : x->name_len);
    return x->name ? x->name : "?";
}

static bool check_defined(struct parser *p, const char *root, uint32_t *root_idx)
{
    for (uint32_t i = 0; i < p->n_rules; i++) {
        const struct prule *r = &p->rules[i];
        if (!r->defined) {
            perr(p, r->ref_off, "undefined rule '%.*s'", (int)(r->name_len > 64 ? 64 : r->name_len),
                 r->name);
            return false;
        }
    }
    uint32_t n = (uint32_t)strlen(root);
    for (uint32_t i = 0; i < p->n_rules; i++) {
        const struct prule *r = &p->rules[i];
        if (r->gen == GEN_NONE && r->name_len == n && memcmp(r->name, root, n) == 0) {
            *root_idx = i;
            return true;
        }
    }
    perr(p, 0, "the grammar has no rule '%.*s'", (int)(n > 64 ? 64 : n), root);
    return false;
}

/* Lay the rule bodies out as one grammar. */
static struct grammar *compile(struct parser *p, uint32_t root)
{
    struct grammar *g = calloc(1, sizeof(*g));
    if (g != NULL)
        atomic_init(&g->refs, 1);
    if (g == NULL)
        return NULL;
    uint32_t n_elems = 2, n_alts = 0;
    for (uint32_t i = 0; i < p->n_rules; i++) {
        n_elems += p->rules[i].body.n;
        for (uint32_t k = 0; k < p->rules[i].body.n; k++)
            n_alts += p->rules[i].body.v[k].type == GE_END;
    }
    g->elems = malloc(n_elems * sizeof(*g->elems));
    g->alts = malloc((n_alts + 1) * sizeof(*g->alts));
    g->rule_alt = malloc((p->n_rules + 1) * sizeof(*g->rule_alt));
    if (g->elems == NULL || g->alts == NULL || g->rule_alt == NULL) {
        grammar_free(g);
        return NULL;
    }
    g->elems[0] = (struct gelem){GE_RULE, root};
    g->elems[1] = (struct gelem){GE_END, 0};
    uint32_t e = 2, a = 0;
    for (uint32_t i = 0; i < p->n_rules; i++) {
        const struct ebuf *b = &p->rules[i].body;
        g->rule_alt[i] = a;
        for (uint32_t k = 0; k < b->n; k++) {
            if (k == 0 || b->v[k - 1].type == GE_END)
                g->alts[a++] = e;
            g->elems[e++] = b->v[k];
        }
    }
    g->rule_alt[p->n_rules] = a;
    g->n_elems = e;
    g->n_alts = a;
    g->n_rules = p->n_rules;
    g->start = 0;
    g->classes = p->classes;
    g->n_classes = p->n_classes;
    g->ranges = p->ranges;
    g->n_ranges = p->n_ranges;
    p->classes = NULL;
    p->ranges = NULL;
    return g;
}

/* nullable[r]: rule r can match the empty string (a linear-time worklist). */
static uint8_t *find_nullable(const struct grammar *g)
{
    uint32_t nr = g->n_rules, na = g->n_alts;
    uint8_t *nullable = calloc(nr + 1, 1);
    int32_t *cnt = calloc(na + 1, sizeof(*cnt));
    uint32_t *alt_rule = malloc((na + 1) * sizeof(*alt_rule));
    uint32_t *first = calloc(nr + 2, sizeof(*first));
    uint32_t *occ = NULL, *work = malloc((nr + 1) * sizeof(*work));
    uint32_t n_occ = 0, n_work = 0;
    if (!nullable || !cnt || !alt_rule || !first || !work)
        goto fail;
    /* count the rule references of alternatives without a character */
    for (uint32_t r = 0; r < nr; r++) {
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
            alt_rule[a] = r;
            for (const struct gelem *e = g->elems + g->alts[a]; e->type != GE_END; e++) {
                if (e->type == GE_CHAR) {
                    cnt[a] = -1;
                    break;
                }
                cnt[a]++;
            }
            if (cnt[a] > 0) {
                for (const struct gelem *e = g->elems + g->alts[a]; e->type != GE_END; e++)
                    first[e->arg + 1]++;
                n_occ += (uint32_t)cnt[a];
            } else if (cnt[a] == 0 && !nullable[r]) {
                nullable[r] = 1;
                work[n_work++] = r;
            }
        }
    }
    for (uint32_t r = 0; r < nr; r++)
        first[r + 1] += first[r];
    occ = malloc((n_occ + 1) * sizeof(*occ));
    uint32_t *fill = malloc((nr + 1) * sizeof(*fill));
    if (occ == NULL || fill == NULL) {
        free(fill);
        goto fail;
    }
    memcpy(fill, first, nr * sizeof(*fill));
    for (uint32_t a = 0; a < na; a++) {
        if (cnt[a] <= 0)
            continue;
        for (const struct gelem *e = g->elems + g->alts[a]; e->type != GE_END; e++)
            occ[fill[e->arg]++] = a;
    }
    free(fill);
    while (n_work > 0) {
        uint32_t t = work[--n_work];
        for (uint32_t k = first[t]; k < first[t + 1]; k++) {
            uint32_t a = occ[k];
            if (--cnt[a] == 0 && !nullable[alt_rule[a]]) {
                nullable[alt_rule[a]] = 1;
                work[n_work++] = alt_rule[a];
            }
        }
    }
    free(cnt);
    free(alt_rule);
    free(first);
    free(occ);
    free(work);
    return nullable;
fail:
    free(nullable);
    free(cnt);
    free(alt_rule);
    free(first);
    free(occ);
    free(work);
    return NULL;
}

/* Edges r -> t where t can start r without anything consumed before it. */
static bool left_edges(const struct grammar *g, const uint8_t *nullable, uint32_t **first_out,
                       uint32_t **to_out)
{
    uint32_t nr = g->n_rules, n = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t *first = pass ? *first_out : NULL, *to = pass ? *to_out : NULL;
        n = 0;
        for (uint32_t r = 0; r < nr; r++) {
            if (first)
                first[r] = n;
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
                for (const struct gelem *e = g->elems + g->alts[a]; e->type == GE_RULE; e++) {
                    if (to)
                        to[n] = e->arg;
                    n++;
                    if (!nullable[e->arg])
                        break;
                }
            }
        }
        if (pass == 0) {
            *first_out = malloc((nr + 1) * sizeof(uint32_t));
            *to_out = malloc((n + 1) * sizeof(uint32_t));
            if (*first_out == NULL || *to_out == NULL)
                return false;
        } else {
            first[nr] = n;
        }
    }
    return true;
}

/* Report the cycle found on the DFS stack from position from to the top. */
static void report_cycle(struct parser *p, const uint32_t *stack, uint32_t from, uint32_t top)
{
    uint32_t pick = stack[from];
    for (uint32_t i = from; i <= top; i++) {
        if (p->rules[stack[i]].gen == GEN_NONE) {
            pick = stack[i];
            break;
        }
        if (p->rules[stack[i]].gen == GEN_REPEAT && p->rules[pick].gen != GEN_REPEAT)
            pick = stack[i];
    }
    int len;
    const char *name = rule_label(p, pick, &len);
    const struct prule *x = &p->rules[pick];
    if (x->gen == GEN_NONE)
        perr(p, x->def_off, "rule '%.*s' is left-recursive", len, name);
    else if (x->gen == GEN_REPEAT)
        perr(p, x->def_off,
             "repetition of something that can be empty (left recursion) in rule '%.*s'", len,
             name);
    else
        perr(p, x->def_off, "left recursion through a group in rule '%.*s'", len, name);
}

/* The longest chain of rules the matcher may have to open before the first
 * character (a -> b -> c ... along left edges). The matcher expands at most
 * 2^14 nodes a step, so a grammar past this is refused when compiled (400)
 * rather than allowing nothing and giving an empty answer. */
#define MAX_LEFT_DEPTH 4096

/* Depth-first search over the left edges for a cycle (iterative); then,
 * the graph being acyclic, the longest left chain. */
static bool check_left_recursion(struct parser *p, const struct grammar *g)
{
    uint8_t *nullable = find_nullable(g);
    uint32_t *first = NULL, *to = NULL, nr = g->n_rules;
    uint8_t *color = calloc(nr + 1, 1);
    uint32_t *stack = malloc((nr + 1) * sizeof(*stack));
    uint32_t *iter = malloc((nr + 1) * sizeof(*iter));
    uint32_t *depth = calloc(nr + 1, sizeof(*depth));
    bool ok = nullable && color && stack && iter && depth && left_edges(g, nullable, &first, &to);
    if (!ok)
        oom(p);
    for (uint32_t s = 0; ok && s < nr; s++) {
        if (color[s])
            continue;
        uint32_t top = 0;
        stack[0] = s;
        iter[0] = first[s];
        color[s] = 1;
        while (ok) {
            uint32_t r = stack[top];
            if (iter[top] == first[r + 1]) {
                color[r] = 2;
                uint32_t d = 0;
                for (uint32_t k = first[r]; k < first[r + 1]; k++)
                    d = depth[to[k]] > d ? depth[to[k]] : d;
                depth[r] = d + 1;
                if (depth[r] > MAX_LEFT_DEPTH) {
                    int len;
                    const char *name = rule_label(p, r, &len);
                    perr(p, p->rules[r].def_off,
                         "grammar too deep: rule '%.*s' opens a chain of more than %d rules before its first "
                         "character", len, name, MAX_LEFT_DEPTH);
                    ok = false;
                    break;
                }
                if (top-- == 0)
                    break;
                continue;
            }
            uint32_t t = to[iter[top]++];
            if (color[t] == 1) {
                uint32_t from = top;
                while (stack[from] != t)
                    from--;
                report_cycle(p, stack, from, top);
                ok = false;
            } else if (color[t] == 0) {
                color[t] = 1;
                stack[++top] = t;
                iter[top] = first[t];
            }
        }
    }
    free(nullable);
    free(first);
    free(to);
    free(color);
    free(stack);
    free(iter);
    free(depth);
    return ok;
}

static void parser_free(struct parser *p)
{
    for (uint32_t i = 0; i < p->n_rules; i++)
        free(p->rules[i].body.v);
    free(p->rules);
    free(p->names);
    free(p->classes);
    free(p->ranges);
}

struct grammar *grammar_parse(const char *text, size_t len, const char *root, char *err,
                              size_t err_size)
{
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.err = err;
    p.err_size = err_size;
    memset(p.ascii_class, 0xff, sizeof(p.ascii_class));
    if (err && err_size)
        err[0] = '\0';
    if (p.len > UINT32_MAX / 2) {
        perr(&p, 0, "grammar text too large");
        return NULL;
    }
    skip_space(&p, true);
    while (!p.failed && !at_end(&p)) {
        if (grammar_cancelled()) {
            cancelled(&p);
            break;
        }
        parse_rule(&p);
        skip_space(&p, true);
    }
    uint32_t root_idx = 0;
    struct grammar *g = NULL;
    if (!p.failed && check_defined(&p, root ? root : "root", &root_idx)) {
        g = compile(&p, root_idx);
        if (g == NULL)
            oom(&p);
        else if (!check_left_recursion(&p, g)) {
            grammar_free(g);
            g = NULL;
        }
    }
    parser_free(&p);
    return g;
}

struct grammar *grammar_ref(struct grammar *g)
{
    if (g != NULL)
        atomic_fetch_add(&g->refs, 1);
    return g;
}

void grammar_free(struct grammar *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) > 1)
        return;
    free(g->elems);
    free(g->alts);
    free(g->rule_alt);
    free(g->classes);
    free(g->ranges);
    free(g);
}
