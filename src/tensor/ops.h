/*
 * ops.h - the f32 transformer ops other than the matrix multiply:
 * normalization, rotary position embedding, softmax, activations, gated
 * feed-forward helpers, element-wise arithmetic and the embedding lookup.
 *
 * All work on one row (or one contiguous run of n floats) and are
 * deterministic: a row's result never depends on what else is in a batch.
 * Unless said otherwise the output may alias the input (in place).
 */
#ifndef CLLM_TENSOR_OPS_H
#define CLLM_TENSOR_OPS_H

#include <stdint.h>

#include "tensor/cpu/kernels.h"
#include "tensor/types.h"

/* The instruction set the ops use: by default the matmul kernels' choice
 * (cpu_kernels(), so CLLM_ISA caps it too). ops_set_isa is for tests and
 * benchmarks; it returns -1 if this CPU cannot run the ISA. Results differ
 * between ISAs only by float rounding. */
int ops_set_isa(enum cpu_isa isa);
enum cpu_isa ops_get_isa(void);

/* y = x / sqrt(mean(x^2) + eps) * w   (w NULL: no weight). */
void op_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);
/* y = (x - mean) / sqrt(var + eps) * w + b   (w, b may be NULL). */
void op_layer_norm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);

/* Rotary position embedding. theta_i = pos * freq_scale * freq_base^(-2i/n_dims)
 * rotates pair i (i < n_dims/2) of each head; dims from n_dims on are left as
 * they are. NORMAL pairs adjacent elements (2i, 2i+1), NEOX pairs the halves
 * (i, i + n_dims/2). */
enum rope_mode { ROPE_NORMAL = 0, ROPE_NEOX = 2 };

struct rope_params {
    int n_dims;        /* rotated dims per head: even, <= head_dim */
    float freq_base;   /* e.g. 10000 */
    float freq_scale;  /* 1 for none; 1/k for linear scaling by k */
    enum rope_mode mode;
    const float *freq_factors; /* NULL, or n_dims/2 divisors of theta_i
                                  (a model's rope_freqs, e.g. Llama 3.1) */
};

#define ROPE_MAX_DIMS 4096

/* Rotate one token: x holds n_heads heads of head_dim floats, in place.
 * Returns 0, or -1 for bad params (n_dims odd, > head_dim or > ROPE_MAX_DIMS). */
int op_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, const struct rope_params *p);
/* The same for n_rows tokens, row r at x + r * row_stride with position pos[r]. */
int op_rope_rows(float *x, int64_t n_rows, int64_t row_stride, int64_t n_heads, int64_t head_dim,
                 const int32_t *pos, const struct rope_params *p);

/* y = softmax(x * scale + mask) over n elements; mask may be NULL and may hold
 * -INFINITY. A row that is all -INFINITY gives all zeros. */
void op_softmax(float *y, const float *x, int64_t n, float scale, const float *mask);

void op_silu(float *y, const float *x, int64_t n);        /* x * sigmoid(x) */
void op_gelu(float *y, const float *x, int64_t n);        /* tanh approximation */
void op_gelu_erf(float *y, const float *x, int64_t n);    /* exact: 0.5x(1+erf(x/sqrt2)) */
/* Gated feed-forward: y = act(gate) * up. y may alias gate or up. */
void op_swiglu(float *y, const float *gate, const float *up, int64_t n);
void op_geglu(float *y, const float *gate, const float *up, int64_t n);
void op_geglu_erf(float *y, const float *gate, const float *up, int64_t n);

void op_add(float *y, const float *a, const float *b, int64_t n);  /* y = a + b */
/* y += a * x, x in f32 or f16 (attention's weighted sum of V rows). */
void op_axpy(float *y, float a, const float *x, int64_t n);
void op_axpy_f16(float *y, float a, const f16_t *x, int64_t n);
void op_mul(float *y, const float *a, const float *b, int64_t n);  /* y = a * b */
void op_scale(float *y, const float *x, float s, int64_t n);       /* y = x * s */

/* Embedding lookup: for each k < n_ids, y row k (n_cols floats, rows packed)
 * = row ids[k] of the n_rows x n_cols tensor at data, of any supported type,
 * dequantized. Returns 0, or -1 for an id out of range or a type that cannot
 * be dequantized. */
int op_get_rows(float *y, enum tensor_type type, const void *data, int64_t n_rows, int64_t n_cols,
                const int32_t *ids, int64_t n_ids);

#endif
