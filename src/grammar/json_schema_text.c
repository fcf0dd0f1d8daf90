/*
 * json_schema_text.c - text helpers for the JSON schema converter: GBNF
 * literals, JSON string escaping, and sets of code
 * points written as one character of a JSON string (see json_schema_impl.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/unicode.h"
#include "grammar/grammar.h"
#include "grammar/json_schema_impl.h"

void json_schema_put_utf8(struct sbuf *b, uint32_t cp)
{
    char u[4];
    sbuf_append(b, u, utf8_encode(cp, u));
}

void json_schema_literal(struct sbuf *b, const char *s, size_t n)
{
    sbuf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sbuf_puts(b, "\\\""); break;
        case '\\': sbuf_puts(b, "\\\\"); break;
        case '\n': sbuf_puts(b, "\\n"); break;
        case '\r': sbuf_puts(b, "\\r"); break;
        case '\t': sbuf_puts(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7F)
                sbuf_printf(b, "\\x%02X", c);
            else
                sbuf_putc(b, (char)c);
        }
    }
    sbuf_putc(b, '"');
}

/* JSON's escape for a character that may not appear raw in a string. */
static void json_escape(struct sbuf *b, unsigned char c)
{
    switch (c) {
    case '"': sbuf_puts(b, "\\\""); break;
    case '\\': sbuf_puts(b, "\\\\"); break;
    case '\n': sbuf_puts(b, "\\n"); break;
    case '\r': sbuf_puts(b, "\\r"); break;
    case '\t': sbuf_puts(b, "\\t"); break;
    case '\b': sbuf_puts(b, "\\b"); break;
    case '\f': sbuf_puts(b, "\\f"); break;
    default: sbuf_printf(b, "\\u%04x", c);
    }
}

void json_schema_string_literal(struct sbuf *b, const char *s, size_t n)
{
    struct sbuf t;
    t = (struct sbuf)SBUF_INIT;
    sbuf_putc(&t, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            json_escape(&t, c);
        else
            sbuf_putc(&t, (char)c);
    }
    sbuf_putc(&t, '"');
    if (t.oom)
        b->oom = true;
    else
        json_schema_literal(b, t.s, t.len);
    sbuf_free(&t);
}

/* ---- code point sets ---- */

static bool in_set(const uint32_t *r, size_t n, uint32_t cp)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[2 * i] && cp <= r[2 * i + 1])
            return true;
    return false;
}

static void class_cp(struct sbuf *b, uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F)
        sbuf_printf(b, "\\x%02X", cp);
    else if (cp == ']' || cp == '[' || cp == '\\' || cp == '-' || cp == '^' || cp == '"')
        sbuf_printf(b, "\\%c", (char)cp);
    else if (cp < 0x80)
        sbuf_putc(b, (char)cp);
    else if (cp <= 0xFFFF)
        sbuf_printf(b, "\\u%04X", cp);
    else
        sbuf_printf(b, "\\U%08X", cp);
}

/* Write the class of the members of r that may appear raw in a JSON string;
 * returns false if there are none. */
static bool plain_class(struct sbuf *b, const uint32_t *r, size_t n)
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
                sbuf_putc(b, '[');
            any = true;
            class_cp(b, lo);
            if (end > lo) {
                sbuf_putc(b, '-');
                class_cp(b, end);
            }
            if (end == hi)
                break;
            lo = end + 1;
        }
    }
    if (any)
        sbuf_putc(b, ']');
    return any;
}

void json_schema_charset(struct sbuf *b, uint32_t *r, size_t n)
{
    n = grammar_ranges_normalize(r, n);
    size_t ctrl = 0;
    for (uint32_t c = 0; c < 0x20; c++)
        ctrl += in_set(r, n, c);
    struct sbuf t;
    t = (struct sbuf)SBUF_INIT;
    int pieces = plain_class(&t, r, n) ? 1 : 0;
    bool want_ctrl = ctrl <= 6 || pieces == 0;
    for (uint32_t c = 0; c < 0x60; c++) {
        bool special = c == '"' || c == '\\' || (c < 0x20 && want_ctrl);
        if (!special || !in_set(r, n, c))
            continue;
        struct sbuf e;
        e = (struct sbuf)SBUF_INIT;
        json_escape(&e, (unsigned char)c);
        if (pieces++)
            sbuf_puts(&t, " | ");
        json_schema_literal(&t, e.s ? e.s : "", e.len);
        if (e.oom)
            t.oom = true;
        sbuf_free(&e);
    }
    if (t.oom)
        b->oom = true;
    else if (pieces == 0)
        sbuf_puts(b, "[]");
    else if (pieces == 1)
        sbuf_append(b, t.s, t.len);
    else {
        sbuf_putc(b, '(');
        sbuf_append(b, t.s, t.len);
        sbuf_putc(b, ')');
    }
    sbuf_free(&t);
}
