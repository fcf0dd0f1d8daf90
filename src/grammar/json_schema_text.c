/*
 * json_schema_text.c - text helpers for the JSON schema converter: a
 * growable string, GBNF literals, JSON string escaping, and sets of code
 * points written as one character of a JSON string (see json_schema_impl.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema_impl.h"

void jss_init(struct sb *b) { memset(b, 0, sizeof(*b)); }

void jss_free(struct sb *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

char *jss_take(struct sb *b)
{
    char *s = b->s;
    if (s == NULL && !b->oom)
        s = calloc(1, 1);
    if (b->oom) {
        free(s);
        s = NULL;
    }
    memset(b, 0, sizeof(*b));
    return s;
}

static bool reserve(struct sb *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->n + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void jss_putn(struct sb *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void jss_puts(struct sb *b, const char *s) { jss_putn(b, s, strlen(s)); }
void jss_putc(struct sb *b, char c) { jss_putn(b, &c, 1); }

void jss_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void jss_put_utf8(struct sb *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    jss_putn(b, u, n);
}

void jss_literal(struct sb *b, const char *s, size_t n)
{
    jss_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': jss_puts(b, "\\\""); break;
        case '\\': jss_puts(b, "\\\\"); break;
        case '\n': jss_puts(b, "\\n"); break;
        case '\r': jss_puts(b, "\\r"); break;
        case '\t': jss_puts(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7F)
                jss_printf(b, "\\x%02X", c);
            else
                jss_putc(b, (char)c);
        }
    }
    jss_putc(b, '"');
}

/* JSON's escape for a character that may not appear raw in a string. */
static void json_escape(struct sb *b, unsigned char c)
{
    switch (c) {
    case '"': jss_puts(b, "\\\""); break;
    case '\\': jss_puts(b, "\\\\"); break;
    case '\n': jss_puts(b, "\\n"); break;
    case '\r': jss_puts(b, "\\r"); break;
    case '\t': jss_puts(b, "\\t"); break;
    case '\b': jss_puts(b, "\\b"); break;
    case '\f': jss_puts(b, "\\f"); break;
    default: jss_printf(b, "\\u%04x", c);
    }
}

void jss_json_string_literal(struct sb *b, const char *s, size_t n)
{
    struct sb t;
    jss_init(&t);
    jss_putc(&t, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            json_escape(&t, c);
        else
            jss_putc(&t, (char)c);
    }
    jss_putc(&t, '"');
    if (t.oom)
        b->oom = true;
    else
        jss_literal(b, t.s, t.n);
    jss_free(&t);
}

/* ---- code point sets ---- */

static int cmp_pair(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static size_t normalize(uint32_t *r, size_t n)
{
    if (n == 0)
        return 0;
    qsort(r, n, 2 * sizeof(uint32_t), cmp_pair);
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

static bool in_set(const uint32_t *r, size_t n, uint32_t cp)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[2 * i] && cp <= r[2 * i + 1])
            return true;
    return false;
}

static void class_cp(struct sb *b, uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F)
        jss_printf(b, "\\x%02X", cp);
    else if (cp == ']' || cp == '[' || cp == '\\' || cp == '-' || cp == '^' || cp == '"')
        jss_printf(b, "\\%c", (char)cp);
    else if (cp < 0x80)
        jss_putc(b, (char)cp);
    else if (cp <= 0xFFFF)
        jss_printf(b, "\\u%04X", cp);
    else
        jss_printf(b, "\\U%08X", cp);
}

/* Write the class of the members of r that may appear raw in a JSON string;
 * returns false if there are none. */
static bool plain_class(struct sb *b, const uint32_t *r, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = r[2 * i], hi = r[2 * i + 1];
        if (lo < 0x20)
            lo = 0x20;
        while (lo <= hi) {
            /* split around '"' (0x22), '\\' (0x5C) and surrogates */
            uint32_t end = hi;
            if (lo <= 0x22 && end >= 0x22)
                end = lo == 0x22 ? 0 : 0x21;
            else if (lo <= 0x5C && end >= 0x5C)
                end = lo == 0x5C ? 0 : 0x5B;
            else if (lo <= 0xDFFF && end >= 0xD800)
                end = lo >= 0xD800 ? 0 : 0xD7FF;
            if (end == 0) { /* lo itself is excluded: skip it (or the surrogates) */
                lo = lo >= 0xD800 && lo <= 0xDFFF ? 0xE000 : lo + 1;
                continue;
            }
            if (!any)
                jss_putc(b, '[');
            any = true;
            class_cp(b, lo);
            if (end > lo) {
                jss_putc(b, '-');
                class_cp(b, end);
            }
            if (end == hi)
                break;
            lo = end + 1;
        }
    }
    if (any)
        jss_putc(b, ']');
    return any;
}

void jss_charset(struct sb *b, uint32_t *r, size_t n)
{
    n = normalize(r, n);
    size_t ctrl = 0;
    for (uint32_t c = 0; c < 0x20; c++)
        ctrl += in_set(r, n, c);
    struct sb t;
    jss_init(&t);
    int pieces = plain_class(&t, r, n) ? 1 : 0;
    bool want_ctrl = ctrl <= 6 || pieces == 0;
    for (uint32_t c = 0; c < 0x60; c++) {
        bool special = c == '"' || c == '\\' || (c < 0x20 && want_ctrl);
        if (!special || !in_set(r, n, c))
            continue;
        struct sb e;
        jss_init(&e);
        json_escape(&e, (unsigned char)c);
        if (pieces++)
            jss_puts(&t, " | ");
        jss_literal(&t, e.s ? e.s : "", e.n);
        if (e.oom)
            t.oom = true;
        jss_free(&e);
    }
    if (t.oom)
        b->oom = true;
    else if (pieces == 0)
        jss_puts(b, "[]");
    else if (pieces == 1)
        jss_putn(b, t.s, t.n);
    else {
        jss_putc(b, '(');
        jss_putn(b, t.s, t.n);
        jss_putc(b, ')');
    }
    jss_free(&t);
}
