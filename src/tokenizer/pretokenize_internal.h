/*
 * pretokenize_internal.h - what pretokenize.c (driver) and
 * pretokenize_rules.c (the hand-written matchers) share: the decoded text,
 * spans of code points, and a kind's sequence of steps.
 */
#ifndef CLLM_TOKENIZER_PRETOKENIZE_INTERNAL_H
#define CLLM_TOKENIZER_PRETOKENIZE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretokenize.h"

/* The text as code points: cp[i] starts at byte off[i] (off[n] = length),
 * fl[i] = unicode_flags(cp[i]). Invalid UTF-8 bytes decode as U+FFFD. */
struct pt_ws_cache;

struct pt_text {
    uint32_t *cp;
    uint32_t *off;
    uint16_t *fl;
    size_t n;
    struct pt_ws_cache *ws; /* the last whitespace run scanned (matchers may update it) */
};

/* Whitespace run [from, to) inside a piece ending at piece_end, and the last
 * \r or \n in it (SIZE_MAX if none): lets repeated questions about one long
 * run (each match taking only part of it) be answered without rescanning. */
struct pt_ws_cache {
    size_t from, to, piece_end, last_nl;
};

/* Code points [a, b). */
struct pt_span {
    size_t a, b;
};

struct pt_spans {
    struct pt_span *v;
    size_t n, cap;
};

/* The length in code points of the match of one expression at i, where the
 * text ends at end (the piece's end); 0 if it does not match there. */
typedef size_t (*pt_matcher)(const struct pt_text *t, size_t i, size_t end);
/* Split a whole piece (for expressions cheaper to handle per piece). */
typedef int (*pt_splitter)(const struct pt_text *t, struct pt_span piece, struct pt_spans *out);

/* One expression of a sequence: match or split is set; the list ends with both NULL. */
struct pt_step {
    pt_matcher match;
    pt_splitter split;
};

int pretok_spans_push(struct pt_spans *s, size_t a, size_t b);
int pretok_split_matcher(const struct pt_text *t, pt_matcher match, struct pt_span piece,
                     struct pt_spans *out);
/* The steps of a kind (NULL for an unknown kind). */
const struct pt_step *pretok_kind_steps(enum pretok_kind kind);

#endif
