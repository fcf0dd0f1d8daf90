/*
 * ops.c - the f32 transformer ops (see ops.h): norms, RoPE, softmax,
 * activations, element-wise arithmetic and the embedding lookup. The scalar
 * versions here are the reference (sums kept in double); the hot ones have
 * AVX2 versions (cpu/ops_avx2.c) chosen at run time.
 */
#define _GNU_SOURCE /* sincos */
#include "tensor/ops.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "tensor/cpu/kernels.h"
#include "tensor/f16.h"
#include "tensor/ops_impl.h"
#include "tensor/quant.h"

/* 0: not chosen yet, else 1 + the enum cpu_isa in use. */
static atomic_int ops_isa;

int ops_set_isa(enum cpu_isa isa)
{
    if (isa < 0 || isa >= CPU_ISA_COUNT || cpu_kernels_for(isa) == NULL)
        return -1;
    atomic_store_explicit(&ops_isa, 1 + (int)isa, memory_order_relaxed);
    return 0;
}

enum cpu_isa ops_get_isa(void)
{
    int s = atomic_load_explicit(&ops_isa, memory_order_relaxed);
    if (s == 0) {
        s = 1 + (int)cpu_kernels()->isa;
        atomic_store_explicit(&ops_isa, s, memory_order_relaxed);
    }
    return (enum cpu_isa)(s - 1);
}

static bool use_avx2(void)
{
#ifdef CLLM_X86
    return ops_get_isa() >= CPU_ISA_AVX2;
#else
    return false;
#endif
}

/* llama.cpp's arithmetic: squares rounded to float, summed in double, the
 * mean rounded to float, then 1/sqrtf(mean + eps) in float. The bits of s
 * matter: activations quantized to Q8_0 next often sit exactly on a half,
 * so one ulp of s decides their rounding. The double sum runs in 8 lanes
 * (element i in lane i % 8, lanes j and j + 4 added, then (0+1) + (2+3)),
 * as the AVX2 version does, so both give the same bits. */
static void op_rms_norm_scalar(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double lane[8] = { 0 };
    for (int64_t i = 0; i < n; i++)
        lane[i % 8] += (double)(x[i] * x[i]);
    double t[4];
    for (int j = 0; j < 4; j++)
        t[j] = lane[j] + lane[j + 4];
    const double sum = (t[0] + t[1]) + (t[2] + t[3]);
    const float mean = (float)(sum / (double)n);
    const float s = 1.0f / sqrtf(mean + eps);
    if (w == NULL) {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * s;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * s * w[i];
}

void op_layer_norm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i];
    double mean = sum / (double)n;
    double var = 0.0;
    for (int64_t i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    double s = 1.0 / sqrt(var / (double)n + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(((double)x[i] - mean) * s);
        if (w)
            v *= w[i];
        if (b)
            v += b[i];
        y[i] = v;
    }
}

/* cos/sin of theta_i = pos * freq_scale * freq_base^(-2i/n_dims)
 * (/ freq_factors[i]), in double. */
static void rope_angles(float *cs, float *sn, int64_t pos, const struct rope_params *p)
{
    int half = p->n_dims / 2;
    double step = pow((double)p->freq_base, -2.0 / p->n_dims); /* inv_freq ratio */
    double theta0 = (double)pos * p->freq_scale, inv_freq = 1.0;
    for (int i = 0; i < half; i++, inv_freq *= step) {
        double theta = theta0 * inv_freq;
        if (p->freq_factors)
            theta /= p->freq_factors[i];
        double c, s;
        sincos(theta, &s, &c);
        cs[i] = (float)c;
        sn[i] = (float)s;
    }
}

/* Rotate pairs (x[i*stride], x[i*stride + off]) by the angles. The AVX2
 * versions do the same multiplies and adds (no FMA), so give the same bits. */
static void rope_head(float *x, const float *cs, const float *sn, int half, int stride, int off)
{
    for (int i = 0; i < half; i++) {
        float x0 = x[i * stride];
        float x1 = x[i * stride + off];
        x[i * stride] = x0 * cs[i] - x1 * sn[i];
        x[i * stride + off] = x0 * sn[i] + x1 * cs[i];
    }
}

static int rope_check(int64_t head_dim, const struct rope_params *p)
{
    if (p == NULL || p->n_dims <= 0 || p->n_dims % 2 != 0 || p->n_dims > head_dim ||
        p->n_dims > ROPE_MAX_DIMS)
        return -1;
    return 0;
}

static void rope_row(float *x, int64_t n_heads, int64_t head_dim, int64_t pos,
                     const struct rope_params *p)
{
    float cs[ROPE_MAX_DIMS / 2], sn[ROPE_MAX_DIMS / 2];
    int half = p->n_dims / 2;
    rope_angles(cs, sn, pos, p);
    bool neox = p->mode == ROPE_NEOX;
    for (int64_t h = 0; h < n_heads; h++) {
        float *xh = x + h * head_dim;
#ifdef CLLM_X86
        if (use_avx2()) {
            if (neox)
                op_rope_neox_avx2(xh, cs, sn, half);
            else
                op_rope_normal_avx2(xh, cs, sn, half);
            continue;
        }
#endif
        if (neox)
            rope_head(xh, cs, sn, half, 1, half);
        else
            rope_head(xh, cs, sn, half, 2, 1);
    }
}

int op_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, const struct rope_params *p)
{
    if (rope_check(head_dim, p) != 0)
        return -1;
    rope_row(x, n_heads, head_dim, pos, p);
    return 0;
}

int op_rope_rows(float *x, int64_t n_rows, int64_t row_stride, int64_t n_heads, int64_t head_dim,
                 const int32_t *pos, const struct rope_params *p)
{
    if (rope_check(head_dim, p) != 0)
        return -1;
    for (int64_t r = 0; r < n_rows; r++)
        rope_row(x + r * row_stride, n_heads, head_dim, pos[r], p);
    return 0;
}

static void op_softmax_scalar(float *y, const float *x, int64_t n, float scale, const float *mask)
{
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale + (mask ? mask[i] : 0.0f);
        y[i] = v;
        max = v > max ? v : max;
    }
    if (max == -INFINITY) { /* nothing may be attended to */
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.0f;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(y[i] - max);
        y[i] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        y[i] *= inv;
}

static inline float silu1(float x) { return x / (1.0f + expf(-x)); }

#define GELU_COEF_A 0.044715f
#define SQRT_2_OVER_PI 0.79788456080286535588f
#define INV_SQRT_2 0.70710678118654752440f

static inline float gelu1(float x)
{
    return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * x * (1.0f + GELU_COEF_A * x * x)));
}

static inline float gelu_erf1(float x) { return 0.5f * x * (1.0f + erff(x * INV_SQRT_2)); }

static void op_silu_scalar(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = silu1(x[i]);
}

static void op_gelu_scalar(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu1(x[i]);
}

void op_gelu_erf(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu_erf1(x[i]);
}

static void op_swiglu_scalar(float *y, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = silu1(gate[i]) * up[i];
}

static void op_geglu_scalar(float *y, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu1(gate[i]) * up[i];
}

void op_geglu_erf(float *y, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu_erf1(gate[i]) * up[i];
}

void op_add(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void op_mul(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

void op_scale(float *y, const float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * s;
}

/* ---- dispatch to the vector versions ---- */

#ifdef CLLM_X86
#define DISPATCH(call_avx2, call_scalar) \
    do {                                 \
        if (use_avx2())                  \
            call_avx2;                   \
        else                             \
            call_scalar;                 \
    } while (0)
#else
#define DISPATCH(call_avx2, call_scalar) call_scalar
#endif

void op_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    DISPATCH(op_rms_norm_avx2(y, x, w, n, eps), op_rms_norm_scalar(y, x, w, n, eps));
}

void op_softmax(float *y, const float *x, int64_t n, float scale, const float *mask)
{
    DISPATCH(op_softmax_avx2(y, x, n, scale, mask), op_softmax_scalar(y, x, n, scale, mask));
}

void op_silu(float *y, const float *x, int64_t n)
{
    DISPATCH(op_silu_avx2(y, x, n), op_silu_scalar(y, x, n));
}

void op_gelu(float *y, const float *x, int64_t n)
{
    DISPATCH(op_gelu_avx2(y, x, n), op_gelu_scalar(y, x, n));
}

void op_swiglu(float *y, const float *gate, const float *up, int64_t n)
{
    DISPATCH(op_swiglu_avx2(y, gate, up, n), op_swiglu_scalar(y, gate, up, n));
}

void op_geglu(float *y, const float *gate, const float *up, int64_t n)
{
    DISPATCH(op_geglu_avx2(y, gate, up, n), op_geglu_scalar(y, gate, up, n));
}

static void op_axpy_scalar(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void op_axpy_f16_scalar(float *y, float a, const f16_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * f16_to_f32(x[i]);
}

void op_axpy(float *y, float a, const float *x, int64_t n)
{
    DISPATCH(op_axpy_avx2(y, a, x, n), op_axpy_scalar(y, a, x, n));
}

void op_axpy_f16(float *y, float a, const f16_t *x, int64_t n)
{
    DISPATCH(op_axpy_f16_avx2(y, a, x, n), op_axpy_f16_scalar(y, a, x, n));
}

static int row_to_f32(float *y, enum tensor_type type, const void *row, int64_t n)
{
    switch (type) {
    case TYPE_F32:
        memcpy(y, row, (size_t)n * sizeof(float));
        return 0;
    case TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            f16_t h;
            memcpy(&h, (const char *)row + 2 * i, 2);
            y[i] = f16_to_f32(h);
        }
        return 0;
    case TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            bf16_t h;
            memcpy(&h, (const char *)row + 2 * i, 2);
            y[i] = bf16_to_f32(h);
        }
        return 0;
    default:
        return dequantize_row(type, row, y, n);
    }
}

int op_get_rows(float *y, enum tensor_type type, const void *data, int64_t n_rows, int64_t n_cols,
                const int32_t *ids, int64_t n_ids)
{
    size_t row_size = tensor_type_row_size(type, n_cols);
    if (row_size == 0)
        return -1;
    for (int64_t k = 0; k < n_ids; k++) {
        if (ids[k] < 0 || ids[k] >= n_rows)
            return -1;
        const char *row = (const char *)data + (size_t)ids[k] * row_size;
        if (row_to_f32(y + k * n_cols, type, row, n_cols) != 0)
            return -1;
    }
    return 0;
}
