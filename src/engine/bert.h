/*
 * bert.h - the forward pass of encoder-only BERT models (general.architecture
 * "bert"), for embeddings: token + absolute position + token-type embeddings
 * and a LayerNorm, then post-norm layers of bidirectional attention (each
 * token sees every token of its sequence in the batch) and a GELU FFN, with
 * biases everywhere. The engine calls it for ARCH_BERT models; the caller
 * pools the final hidden states.
 *
 * A sequence must come whole in one batch (non-causal attention), as in
 * llama.cpp. Nothing is allocated: the engine lends its buffers.
 *
 * Threads: called by the engine's thread; uses the engine's pool.
 */
#ifndef CLLM_ENGINE_BERT_H
#define CLLM_ENGINE_BERT_H

#include <stdint.h>

#include "engine/batch.h"
#include "model/model.h"
#include "tensor/matmul.h"
#include "tensor/threadpool.h"

/* The engine's buffers, n_batch rows each (widths in floats). */
struct bert_bufs {
    float *x;              /* n_embd: the hidden states, the result */
    float *o;              /* n_embd */
    float *q, *k, *v;      /* n_head * head_dim each */
    float *att;            /* n_head * head_dim */
    float *g;              /* n_ff */
    float *scores;         /* n_threads * scores_stride */
    int32_t scores_stride; /* at least the longest sequence of a batch */
    int n_threads;         /* slices of scores */
    const int32_t *order;     /* the batch's tokens grouped by sequence */
    const int32_t *seq_first; /* per sequence s: its tokens are order[seq_first[s] .. seq_first[s+1]) */
};

/* Run the model over batch b: bufs->x gets each token's final hidden state.
 * Returns 0, or -1 with a message in err (a table lookup that failed). */
int engine_bert_forward(const struct model *m, struct matmul_ctx *mm, struct thread_pool *pool, int nth,
                 const struct batch *b, const struct bert_bufs *bufs, char *err, size_t err_size);

#endif
