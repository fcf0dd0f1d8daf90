/*
 * slot_text.h - the text a slot generates, token by token: whole UTF-8
 * characters only, stop strings found (and cut off) as soon as they appear,
 * and the tail that could still become a stop string held back until it is
 * known not to be one. What a slot_text returns is final: it will never be
 * taken back.
 */
#ifndef CLLM_SERVE_SLOT_TEXT_H
#define CLLM_SERVE_SLOT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

struct slot_text {
    const struct vocab *v;
    struct detok_stream ds;
    bool ds_live;
    char *buf; /* the text so far (cut at a stop string) */
    size_t len, cap;
    size_t n_sent; /* bytes of buf already returned */
    const char *const *stop; /* borrowed; must outlive the generation */
    size_t n_stop;
    bool stopped_eos, stopped_limit, stopped_word;
    const char *stopping_word; /* one of stop[] */
};

/* Start a new generation (reuses the buffers). Returns 0, or -1 out of memory. */
int slot_text_start(struct slot_text *t, const struct vocab *v, const char *const *stop, size_t n_stop);
/* Take a generated token: an end-of-generation token sets stopped_eos and
 * adds nothing; text that completes a stop string is cut there and sets
 * stopped_word. Returns the text that became final (*len bytes, maybe 0),
 * valid until the next call; NULL out of memory. */
const char *slot_text_push(struct slot_text *t, int32_t token, size_t *len);
/* The end: whatever was held back (unless a stop string ended it). */
const char *slot_text_finish(struct slot_text *t, size_t *len);
void slot_text_free(struct slot_text *t);

/* Exposed for tests: bytes at the end of text[0..len) that are a proper
 * prefix of some stop string. */
size_t stop_partial_len(const char *text, size_t len, const char *const *stop, size_t n_stop);

#endif
