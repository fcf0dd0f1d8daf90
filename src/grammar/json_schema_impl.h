/*
 * json_schema_impl.h - pieces shared by the JSON-schema-to-GBNF converter
 * (json_schema.c) and its regex translator (json_schema_regex.c): a growable
 * string, GBNF literal writing, and a set of code points written as one
 * character of a JSON string. Not a public interface.
 */
#ifndef CLLM_GRAMMAR_JSON_SCHEMA_IMPL_H
#define CLLM_GRAMMAR_JSON_SCHEMA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable NUL-terminated string; after a failed allocation it stays as it
 * was and oom is set (checked once at the end). */
struct sb {
    char *s;
    size_t n, cap;
    bool oom;
};

void jss_init(struct sb *b);
void jss_free(struct sb *b);
/* Hands the text over (never NULL unless oom); the buffer is reset. */
char *jss_take(struct sb *b);
void jss_putn(struct sb *b, const char *s, size_t n);
void jss_puts(struct sb *b, const char *s);
void jss_putc(struct sb *b, char c);
void jss_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append cp as UTF-8. */
void jss_put_utf8(struct sb *b, uint32_t cp);
/* Append a GBNF string literal ("...") matching exactly the bytes s[0..n). */
void jss_literal(struct sb *b, const char *s, size_t n);
/* Append a GBNF literal of the JSON string text of s[0..n): "\"...\"". */
void jss_json_string_literal(struct sb *b, const char *s, size_t n);

/* Append a GBNF expression matching one character of the content of a JSON
 * string (as it appears between the quotes, escaped where JSON requires it)
 * whose value is in the set of code-point ranges r[0..2n) (lo, hi pairs, any
 * order, may overlap; the array is reordered). Control characters are
 * offered (as escapes) only when the set has few of them; surrogates never. */
void jss_charset(struct sb *b, uint32_t *r, size_t n);

/* What jss_regex learnt about a pattern. */
struct jss_regex_info {
    uint64_t min_len, max_len; /* characters it can match; UINT64_MAX: no limit */
    bool single;               /* it is one character set repeated qmin..qmax times */
    char *atom;                /* that set as GBNF (malloc'd; NULL unless single) */
    uint64_t qmin, qmax;
};

/* Translate a regular expression (a practical subset of Python's `re`:
 * literals, escapes, classes, ., groups, |, ? * + {m,n}, ^ and $ at the
 * ends) into a GBNF expression for the content of a JSON string whose value
 * matches the whole pattern. Returns 0 (info filled when not NULL), or -1
 * with a message in err. */
int jss_regex(const char *pattern, size_t len, struct sb *out, struct jss_regex_info *info,
              char *err, size_t err_size);

#endif
