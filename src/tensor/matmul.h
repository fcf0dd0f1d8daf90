/*
 * matmul.h - matrix multiply of a weight matrix (any supported type) by a
 * batch of f32 activation rows: Y[r][i] = dot(W row i, X row r).
 *
 * Each X row is converted once to the weight type's vec_dot_type (types.h)
 * in a scratch buffer owned by a matmul context made at start-up, then the
 * output elements are shared among the threads of a pool. Every output
 * element is exactly one vec_dot call of the kernel table in use, so Y[r][i]
 * is bit-identical whatever the batch size, the row's place in the batch,
 * and the number of threads (batch invariance).
 *
 * W = F32 (or F16) also covers the attention products (Q.K^T with K rows as
 * "weights").
 */
#ifndef CLLM_TENSOR_MATMUL_H
#define CLLM_TENSOR_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/cpu/kernels.h"
#include "tensor/threadpool.h"
#include "tensor/types.h"

/* A weight matrix of n_out rows of n_in elements; row i starts at
 * data + i * row_stride bytes (no alignment needed, e.g. inside an mmap).
 * row_stride 0 means packed rows (tensor_type_row_size(type, n_in)). */
struct matmul_weights {
    enum tensor_type type;
    const void *data;
    int64_t n_out;
    int64_t n_in;
    size_t row_stride;
};

struct matmul_ctx;

/* A context for batches of up to max_rows rows of up to max_n_in elements
 * (its scratch is sized for that; a bigger batch is done in slices, with
 * the same results), running on `pool` (NULL: the calling thread only; the
 * pool is borrowed, not owned). Uses the best kernels for this CPU (CLLM_ISA
 * caps them). */
struct matmul_ctx *matmul_ctx_create(struct thread_pool *pool, int64_t max_rows, int64_t max_n_in);
void matmul_ctx_free(struct matmul_ctx *ctx);

/* Use at most n_threads threads of the pool (<= 0: all of them), e.g. fewer
 * for generation than for prompt batches. Results do not depend on it. */
void matmul_ctx_set_threads(struct matmul_ctx *ctx, int n_threads);

/* Use another kernel table (for tests and benchmarks). Returns 0, or -1 if
 * this CPU cannot run it. */
int matmul_ctx_set_isa(struct matmul_ctx *ctx, enum cpu_isa isa);
const struct cpu_kernels *matmul_ctx_kernels(const struct matmul_ctx *ctx);

/* Y = X W^T: x holds n_rows rows of w->n_in floats, x_stride floats apart
 * (0: n_in); y gets n_rows rows of w->n_out floats, y_stride floats apart
 * (0: n_out). Returns 0, or -1 if the type has no kernel, n_in is not a
 * multiple of its block size, or one row of n_in does not fit the scratch. */
int matmul(struct matmul_ctx *ctx, const struct matmul_weights *w,
           const float *x, int64_t n_rows, int64_t x_stride,
           float *y, int64_t y_stride);

/* Several matrices against the same X, e.g. the Q, K and V projections, or
 * the gate and up ones: X is converted once and all products share one pool
 * run. They must have the same n_in and the same activation type (Q4_K and
 * Q6_K mix, both take Q8_K). ys[m] gets n_rows rows of ws[m].n_out floats,
 * y_strides[m] floats apart (y_strides NULL or 0 entries: packed). Each
 * element is bit-identical to what matmul() gives. Returns 0 or -1 as
 * matmul() does (also for n_w outside 1..MATMUL_MAX_MANY). */
#define MATMUL_MAX_MANY 8
int matmul_many(struct matmul_ctx *ctx, const struct matmul_weights *ws, int n_w,
                const float *x, int64_t n_rows, int64_t x_stride,
                float *const *ys, const int64_t *y_strides);

/* Bytes of scratch a batch needs: n_rows rows converted to the activation
 * type of weight type `type` (0 if no conversion is needed). */
size_t matmul_scratch_size(enum tensor_type type, int64_t n_rows, int64_t n_in);

#endif
