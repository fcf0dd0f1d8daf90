/*
 * json_schema_impl.h - pieces shared by the JSON-schema-to-GBNF converter
 * (json_schema.c) and its regex translator (json_schema_regex.c): GBNF
 * literal writing, and a set of code points written as one
 * character of a JSON string. Not a public interface.
 */
#ifndef CLLM_GRAMMAR_JSON_SCHEMA_IMPL_H
#define CLLM_GRAMMAR_JSON_SCHEMA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"

/* Append cp as UTF-8. */
void json_schema_put_utf8(struct sbuf *b, uint32_t cp);
/* Append a GBNF string literal ("...") matching exactly the bytes s[0..n). */
void json_schema_literal(struct sbuf *b, const char *s, size_t n);
/* Append a GBNF literal of the JSON string text of s[0..n): "\"...\"". */
void json_schema_string_literal(struct sbuf *b, const char *s, size_t n);

/* Append a GBNF expression matching one character of the content of a JSON
 * string (as it appears between the quotes, escaped where JSON requires it)
 * whose value is in the set of code-point ranges r[0..2n) (lo, hi pairs, any
 * order, may overlap; the array is reordered). Control characters are
 * offered (as escapes) only when the set has few of them; surrogates never. */
void json_schema_charset(struct sbuf *b, uint32_t *r, size_t n);

/* What jss_regex learnt about a pattern. */
struct json_schema_regex_info {
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
int json_schema_regex(const char *pattern, size_t len, struct sbuf *out, struct json_schema_regex_info *info,
              char *err, size_t err_size);

#endif
