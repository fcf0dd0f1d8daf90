/*
 * sbuf.c - the growable string (see sbuf.h).
 */
#include "base/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sbuf_reserve(struct sbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    /* (written so that a huge n cannot wrap around) */
    if (b->s && n < b->cap - b->len)
        return 0;
    if (n > (size_t)-1 / 2 - b->len) {
        b->oom = true;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
        b->oom = true;
        return -1;
    }
    b->s = ns;
    b->cap = cap;
    return 0;
}

int sbuf_append(struct sbuf *b, const void *data, size_t n)
{
    if (sbuf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

int sbuf_puts(struct sbuf *b, const char *str) { return sbuf_append(b, str, strlen(str)); }

int sbuf_putc(struct sbuf *b, char c) { return sbuf_append(b, &c, 1); }

int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || sbuf_reserve(b, (size_t)n) != 0) {
        b->oom = true;
        return -1;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *sbuf_str(const struct sbuf *b) { return b->s ? b->s : ""; }

void sbuf_clear(struct sbuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->s)
        b->s[0] = '\0';
}

void sbuf_truncate(struct sbuf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->s[len] = '\0';
    }
}

char *sbuf_take(struct sbuf *b, size_t *len)
{
    char *s = b->s;
    if (b->oom) {
        sbuf_free(b);
        return NULL;
    }
    if (!s && !(s = calloc(1, 1)))
        return NULL;
    if (len)
        *len = b->len;
    *b = (struct sbuf)SBUF_INIT;
    return s;
}

void sbuf_free(struct sbuf *b)
{
    free(b->s);
    *b = (struct sbuf)SBUF_INIT;
}
