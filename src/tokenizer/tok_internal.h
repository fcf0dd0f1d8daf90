/*
 * tok_internal.h - pieces shared by the tokenizer's source files (not a
 * public API): growable id lists, the special-token partition of raw text,
 * the merge priority queue and the per-model tokenizers.
 */
#ifndef CLLM_TOKENIZER_TOK_INTERNAL_H
#define CLLM_TOKENIZER_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "base/unicode.h"


/* ---- special-token partition ---- */

struct fragment {
    uint32_t off, len; /* raw text bytes, when token == TOKEN_NULL */
    int32_t token;
};

struct fragment_list {
    struct fragment *v;
    size_t n, cap;
};

struct special_node {
    int32_t first_child, next_sibling; /* -1: none */
    int32_t rank;                      /* index into vocab.special of the token ending here, or -1 */
    uint8_t byte;
};

/* Build the trie over vocab.special (at load). Returns 0 or -1. */
int tok_special_index_build(struct vocab *v);

/* Split text into raw-text fragments and special tokens (control and unknown
 * tokens only when parse_special; user-defined always). Returns 0 or -1. */
int tok_special_partition(const struct vocab *v, const char *text, size_t len, bool parse_special,
                      struct fragment_list *out);

/* ---- merging ---- */

struct tok_symbol {
    const char *text;
    uint32_t n;        /* 0 once merged into its left neighbour */
    int32_t prev, next;
};

struct tok_bigram {
    float prio;        /* higher first: SPM score, or -rank for BPE */
    int32_t left, right;
    uint32_t size;
};

struct tok_heap {
    struct tok_bigram *v;
    size_t n, cap;
};

int tok_heap_push(struct tok_heap *h, struct tok_bigram b);
struct tok_bigram tok_heap_pop(struct tok_heap *h);

/* Scratch reused across the words of one call. */
struct tok_work {
    struct tok_symbol *sym;
    size_t sym_cap;
    struct tok_heap heap;
    char *buf;         /* escaped / byte-encoded text */
    size_t buf_cap;
};

int tok_work_reserve(struct tok_work *w, size_t n_sym, size_t n_buf);

/* Split text into one symbol per UTF-8 character (a truncated sequence at
 * the end is one symbol), linked in order; returns the count. */
int32_t tok_split_chars(struct tok_work *w, const char *text, size_t len);
/* Queue the bigram of symbols left and right if the model merges it
 * (SPM: by score, BPE: by merge rank). Returns 0, or -1 on allocation failure. */
typedef int (*tok_bigram_fn)(const struct vocab *v, struct tok_work *w, int32_t left, int32_t right);
/* Apply queued merges, best first, re-queueing each merged symbol's new
 * neighbours with add. Returns 0, or -1 on allocation failure. */
int tok_merge_all(const struct vocab *v, struct tok_work *w, tok_bigram_fn add);
/* Append the tokens of a merged symbol to out. Returns 0, or -1. */
typedef int (*tok_emit_fn)(const struct vocab *v, const struct tok_symbol *s, struct tok_list *out);
/* The whole merge of one run of text: split it into characters, queue their
 * bigrams with add, merge, and emit the symbols left in order. Returns 0,
 * or -1 on allocation failure. */
int tok_merge_text(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                   tok_bigram_fn add, tok_emit_fn emit, struct tok_list *out);
void tok_work_free(struct tok_work *w);

/* Tokenize one raw fragment with each model. Return 0, or -1 on allocation failure. */
int tok_spm(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                 bool space_prefix, struct tok_list *out);
int tok_bpe(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                 struct tok_list *out);
int tok_wpm(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                 struct tok_list *out);

#endif
