/*
 * act_scalar.c - scalar activation converters (from_float): f32 rows to the
 * vec_dot_types F32, F16, BF16, Q8_0, Q8_1 and Q8_K (the SIMD versions must
 * produce the same bytes):
 *   Q8_0/Q8_1: d = amax/127, id = amax ? 127/amax : 0, q = round-half-even
 *              (x*id); Q8_1 also stores s = f16(sum(q) * d). This is how
 *              llama.cpp's CPU backend quantizes activations on x86 (its
 *              SIMD quantize_row_q8_0/q8_1), not quant.h's reference (1/d,
 *              half away from zero, as gguf-py quantizes files): activations
 *              often land exactly on a half (e.g. a norm of Q8_0 embeddings),
 *              and the other rule decides those ties the other way, which
 *              puts a tiny model's logits ~10x further from llama.cpp's than
 *              its own batched-vs-single spread.
 *   Q8_K:      max = the value of largest magnitude (first one wins),
 *              iscale = -127/max, q = min(127, round-half-even(iscale*x)),
 *              d = 1/iscale, bsums = per-16 sums of q; an all-zero block is
 *              d = 0 and all-zero quants and sums.
 */
#include <math.h>

#include "tensor/cpu/kernels_impl.h"

void cpu_from_float_f32_scalar(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void cpu_from_float_f16_scalar(const float *x, void *y, int64_t n)
{
    uint8_t *out = y;
    for (int64_t i = 0; i < n; i++) {
        f16_t h = f32_to_f16(x[i]);
        memcpy(out + 2 * i, &h, 2);
    }
}

void cpu_from_float_bf16_scalar(const float *x, void *y, int64_t n)
{
    uint8_t *out = y;
    for (int64_t i = 0; i < n; i++) {
        bf16_t h = f32_to_bf16(x[i]);
        memcpy(out + 2 * i, &h, 2);
    }
}

/* Round to nearest, ties to even, for |v| < 2^22 (the GGUF nearest_int). */
static int round_half_even(float v)
{
    float shifted = v + 12582912.0f; /* 1.5 * 2^23 */
    return (int)(f32_bits(shifted) & 0x007fffff) - 0x00400000;
}

/* Quantize one block of 32 to int8 with scale amax/127; returns the scale. */
static float quantize_block_q8(const float *x, int8_t *qs)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++)
        qs[j] = (int8_t)round_half_even(x[j] * id);
    return d;
}

void cpu_from_float_q8_0_scalar(const float *x, void *y, int64_t n)
{
    block_q8_0 *out = y;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = quantize_block_q8(x + i * QK8_0, out[i].qs);
        out[i].d = f32_to_f16(d);
    }
}

void cpu_from_float_q8_1_scalar(const float *x, void *y, int64_t n)
{
    block_q8_1 *out = y;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        float d = quantize_block_q8(x + i * QK8_1, out[i].qs);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++)
            sum += out[i].qs[j];
        out[i].d = f32_to_f16(d);
        out[i].s = f32_to_f16((float)sum * d);
    }
}

static void quantize_block_q8_K(const float *x, block_q8_K *out)
{
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < QK_K; j++) {
        float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        memset(out, 0, sizeof(*out));
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; j++) {
        int v = round_half_even(iscale * x[j]);
        out->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < QK_K / 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += out->qs[16 * g + j];
        out->bsums[g] = (int16_t)sum;
    }
    out->d = 1.0f / iscale;
}

void cpu_from_float_q8_K_scalar(const float *x, void *y, int64_t n)
{
    block_q8_K *out = y;
    for (int64_t i = 0; i < n / QK_K; i++)
        quantize_block_q8_K(x + i * QK_K, &out[i]);
}
