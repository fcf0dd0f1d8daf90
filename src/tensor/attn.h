/*
 * attn.h - attention of a tile of queries that share one KV head:
 * for each query j, out_j = softmax(scale * q_j . K[first_j..last_j]) V[...].
 *
 * The tile lets the keys and values of a block of positions be converted
 * (and the keys transposed) once for every query that reads them: the
 * queries of all the heads of a GQA group and of a run of a sequence's
 * tokens. Each query's result depends only on its own q, its own key range
 * and the K/V rows, never on the other queries of the tile (batch
 * invariance), and every ISA gives the same bits for the scores and the
 * weighted sum of V (only the softmax's exp differs between the scalar and
 * the SIMD ops):
 *   - a score is a sum over the head's dims d in P partial sums (P = 4, 8
 *     or 16 by head size, attn_impl.h; sum d mod P is an FMA chain in order
 *     of d), added pairwise: ((s0 + s1) + (s2 + s3)) + ...;
 *   - the query is rounded to f16 first when K is F16 (what llama.cpp's
 *     F16 matmul does), the probabilities too when V is F16;
 *   - out[d] is an FMA chain over the keys in position order, from 0.
 * The SIMD kernels compute 8 or 16 keys' scores at once (lanes = keys) and
 * 8 or 16 dims of out at once (lanes = dims), so the lane width does not
 * change any result.
 */
#ifndef CLLM_TENSOR_ATTN_H
#define CLLM_TENSOR_ATTN_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/cpu/kernels.h"
#include "tensor/types.h"

struct attn_tile {
    int32_t n_q;                 /* queries */
    int32_t head_dim_k;          /* q and K row size */
    int32_t head_dim_v;          /* V and out row size */
    const float *const *q;       /* n_q query rows */
    float *const *out;           /* n_q output rows */
    const int32_t *first;        /* per query: first key it attends to (0 .. n_keys-1) */
    const int32_t *last;         /* per query: last key (first <= last < n_keys) */
    int32_t n_keys;
    const void *const *k;        /* n_keys K rows (head_dim_k values of type_k) */
    const void *const *v;        /* n_keys V rows */
    enum tensor_type type_k;     /* F16 or F32 */
    enum tensor_type type_v;     /* F16 or F32 */
    float scale;                 /* applied to the scores before the softmax */
};

/* Whether attn_tile_run handles these cache types. */
int attn_types_supported(enum tensor_type type_k, enum tensor_type type_v);

/* Floats of scratch a tile needs (64-byte aligned scratch). */
size_t attn_scratch_floats(int32_t n_q, int32_t n_keys, int32_t head_dim_k, int32_t head_dim_v);

/* Run a tile with the ops' ISA (ops_get_isa()). */
void attn_tile_run(const struct attn_tile *t, float *scratch);
/* With a given ISA (tests); -1 if this CPU or build cannot run it. */
int attn_tile_run_isa(enum cpu_isa isa, const struct attn_tile *t, float *scratch);

#endif
