/*
 * engine.h - the forward pass: a batch of tokens from any number of
 * sequences evaluated in one call over the shared paged KV cache.
 *
 * engine_decode checks the batch (token ids in the vocabulary, each
 * sequence's positions continuing where its cache ends, room in the cache),
 * appends every token's keys and values to its sequence, and computes logits
 * for the tokens that ask for them. Each token's result depends only on its
 * own sequence: evaluated alone, in a prompt chunk or beside other sequences,
 * its logits are bit-identical (batch invariance).
 *
 * All buffers and the thread pool are made by engine_create; decoding
 * allocates nothing.
 */
#ifndef CLLM_ENGINE_ENGINE_H
#define CLLM_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/batch.h"
#include "engine/kv_cache.h"
#include "model/model.h"

struct engine_params {
    int32_t n_ctx;         /* KV positions shared by all sequences, and the most one sequence
                              may hold (0: the model's training context) */
    int32_t n_batch;       /* most tokens in one decode call (default 512) */
    int32_t n_seq_max;     /* sequence ids 0 .. n_seq_max-1 (default 1) */
    int32_t n_outputs_max; /* most tokens with logits in one call (default n_seq_max) */
    int n_threads;         /* threads for batches of one token per sequence (default: all CPUs) */
    int n_threads_batch;   /* threads for prompt batches (default n_threads) */
    enum tensor_type type_k, type_v; /* KV cache types (default F16) */
};

struct engine;

/* The defaults above (F16 cache, 512-token batches, one sequence, all CPUs):
 * start from these and change what you need. Zero fields are also taken as
 * "default" by engine_create, but cache types must be set (TYPE_F32 is 0). */
struct engine_params engine_default_params(void);

/* The model is borrowed and must outlive the engine. */
struct engine *engine_create(const struct model *m, const struct engine_params *p, char *err,
                             size_t err_size);
void engine_free(struct engine *e);

/* Evaluate a batch. Returns 0, or -1 with a message in err: a bad token id,
 * sequence id or position, too many tokens or outputs, or no room left in
 * the KV cache. On error the cache is as it was before the call. */
int engine_decode(struct engine *e, const struct batch *b, char *err, size_t err_size);

/* The same, but instead of logits write every token's final hidden state
 * (after the output norm: n_tokens x engine_n_embd floats) to out, for
 * embeddings. The batch's logits flags are ignored. */
int engine_decode_embd(struct engine *e, const struct batch *b, float *out, char *err, size_t err_size);
int32_t engine_n_embd(const struct engine *e);

/* Context shift: remove positions [p0, p0 + n) of seq and move the later
 * ones down by n, re-applying RoPE to their keys for the new positions (as
 * llama.cpp's K-shift does). The sequence then continues at len - n. Returns
 * 0, or -1 with a message for a bad range. Invalidates the last logits. */
int engine_kv_discard(struct engine *e, int32_t seq, int32_t p0, int32_t n, char *err, size_t err_size);

/* Logits (n_vocab floats) of token i of the last decoded batch; NULL if that
 * token did not ask for logits. */
const float *engine_logits(const struct engine *e, int32_t i);
int32_t engine_n_vocab(const struct engine *e);
int32_t engine_n_ctx(const struct engine *e);
struct kv_cache *engine_kv(struct engine *e);
const struct model *engine_model(const struct engine *e);

#endif
