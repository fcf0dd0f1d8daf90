/*
 * tokenizer.h - text <-> token ids exactly as llama.cpp does it for the
 * model's vocabulary (SPM, byte-level BPE, WordPiece): tokenize with optional
 * BOS/EOS and special-token parsing, token -> piece, detokenize, and a
 * streaming decoder that only ever emits whole UTF-8 characters.
 */
#ifndef CLLM_TOKENIZER_TOKENIZER_H
#define CLLM_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

/* A growable list of token ids, owned by the caller. */
struct tok_list {
    int32_t *v;
    size_t n, cap;
};

/* Append one id; returns 0, or -1 on allocation failure. */
int tok_list_push(struct tok_list *l, int32_t id);
void tok_list_free(struct tok_list *l);

/* Tokenize text[0..len) and append the ids to out.
 * add_special: add BOS/EOS (or CLS/SEP) as the vocabulary asks.
 * parse_special: text of control tokens (e.g. "<|im_start|>") becomes that
 * token; otherwise it is plain text. User-defined tokens are always matched.
 * Returns 0, or -1 on allocation failure or a vocabulary without tokenizer. */
int tokenize_list(const struct vocab *v, const char *text, size_t len, bool add_special,
                  bool parse_special, struct tok_list *out);

/* The same into a caller's array: returns the number of tokens (only the first
 * max_out are written when it is larger), or -1 on error. */
int64_t tokenize(const struct vocab *v, const char *text, size_t len, bool add_special,
                 bool parse_special, int32_t *out, size_t max_out);

/* The bytes of one token: returns its length and writes it to buf when it
 * fits in size (otherwise writes nothing: call again with a larger buf), or
 * -1 for an id out of range. special: render control/unknown tokens (else
 * they are empty). lstrip: drop up to that many leading spaces. */
int64_t token_to_piece(const struct vocab *v, int32_t id, char *buf, size_t size, int lstrip,
                       bool special);

/* Text of ids[0..n): returns its length and writes it to buf when it fits in
 * size (otherwise nothing; buf may be NULL with size 0 to ask the length), or
 * -1 for an invalid id. remove_special: drop a leading BOS / trailing EOS the
 * vocabulary adds; unparse_special: render control tokens as their text. The
 * leading space an SPM vocabulary adds is removed, and BPE/WPM spaces before
 * punctuation are cleaned as llama.cpp's detokenizer does. */
int64_t detokenize(const struct vocab *v, const int32_t *ids, size_t n, char *buf, size_t size,
                   bool remove_special, bool unparse_special);

/* Streaming decoder for generated tokens: emits the pieces as tokens arrive
 * (as token_to_piece gives them; no space clean-up, like llama-server's
 * streaming) but holds back the bytes of a UTF-8 character until it is
 * complete. */
struct detok_stream {
    const struct vocab *v;
    bool special;      /* render control tokens */
    bool strip_space;  /* strip one leading space from the next piece */
    char *out;         /* returned text, valid until the next call */
    size_t out_cap;
    char held[4];
    size_t n_held;
};

/* lstrip_first: drop a leading space of the first token's piece (as detokenize
 * does for SPM vocabularies). */
void detok_stream_init(struct detok_stream *s, const struct vocab *v, bool special,
                       bool lstrip_first);
/* Feed one token. Returns the text that is now complete (*len bytes, possibly
 * 0, followed by a NUL), or NULL on error (bad id, out of memory). */
const char *detok_stream_push(struct detok_stream *s, int32_t id, size_t *len);
/* End of stream: the held bytes of an unfinished character, as they are. */
const char *detok_stream_flush(struct detok_stream *s, size_t *len);
void detok_stream_free(struct detok_stream *s);

#endif
