/*
 * sbuf.h - the one growable string of the code base (in the spirit of
 * SQLite's StrAccum): bytes appended at the end, always NUL-terminated,
 * with a sticky out-of-memory flag so that a run of appends is checked
 * once at the end.
 *
 * Ownership: the sbuf owns its bytes until sbuf_take hands them over. A
 * zeroed struct sbuf is an empty string. Not thread-safe (one owner).
 */
#ifndef CLLM_BASE_SBUF_H
#define CLLM_BASE_SBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sbuf {
    char *s;     /* NULL until the first append; then NUL-terminated */
    size_t len;  /* bytes, not counting the NUL */
    size_t cap;  /* bytes allocated */
    bool oom;    /* an append failed: the content is incomplete */
};

#define SBUF_INIT {0}

/* Each returns 0, or -1 when out of memory (then oom stays set and later
 * appends do nothing). */
int sbuf_append(struct sbuf *b, const void *data, size_t n);
int sbuf_puts(struct sbuf *b, const char *str);
int sbuf_putc(struct sbuf *b, char c);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap);
/* Room for n more bytes (and the NUL) without another allocation. */
int sbuf_reserve(struct sbuf *b, size_t n);

/* The content ("" when empty; never NULL). */
const char *sbuf_str(const struct sbuf *b);
/* Forget the content but keep the memory (and clear oom). */
void sbuf_clear(struct sbuf *b);
/* Cut the content to its first len bytes (len <= b->len). */
void sbuf_truncate(struct sbuf *b, size_t len);
/* Hand over the content as a malloc'd NUL-terminated string (length in
 * *len if not NULL) and leave b empty. NULL if an append failed (the
 * memory is freed) or out of memory. */
char *sbuf_take(struct sbuf *b, size_t *len);
void sbuf_free(struct sbuf *b);

#endif
