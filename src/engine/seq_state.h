/*
 * seq_state.h - one sequence's state (its tokens and their keys and values in
 * every layer) written to a file and read back, for the server's slot
 * save / restore.
 *
 * The file records the model's shape and the cache types; a file made for
 * another model or with other cache types is refused, and every count is
 * checked against the file's size before anything is read into the cache.
 */
#ifndef CLLM_ENGINE_SEQ_STATE_H
#define CLLM_ENGINE_SEQ_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* Write tokens[0..n) and seq's cache rows for them (n <= the sequence's
 * length) to path. Returns the bytes written, or -1 with a message. */
int64_t seq_state_save(struct engine *e, int32_t seq, const int32_t *tokens, int32_t n,
                       const char *path, char *err, size_t err_size);

/* Replace seq with the state in path. The tokens are returned in *tokens
 * (malloc'd; caller frees) and their number in *n_tokens. Returns the bytes
 * read, or -1 with a message (seq is then empty). */
int64_t seq_state_load(struct engine *e, int32_t seq, const char *path, int32_t **tokens,
                       int32_t *n_tokens, char *err, size_t err_size);

#endif
