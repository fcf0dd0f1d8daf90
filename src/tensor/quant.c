/*
 * quant.c - scalar reference dequantize/quantize for the plain float types
 * and the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1), plus
 * the dispatchers of quant.h. The K-quants live in quant_kquants.c, IQ4_NL
 * and IQ4_XS in quant_iq4.c.
 *
 * Every formula computes in float32 with one rounding per operation, in the
 * order gguf-py's quants.py uses, so results are bit-exact with it. Fused
 * multiply-add contraction is switched off for that reason.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "tensor/quant.h"

#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/quant_internal.h"

/* ---------------------------------------------------------------- floats */

static void dequantize_row_f16(const f16_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = f16_to_f32(x[i]);
}

static void dequantize_row_bf16(const bf16_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = bf16_to_f32(x[i]);
}

static void quantize_row_f16(const float *x, f16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = f32_to_f16(x[i]);
}

static void quantize_row_bf16(const float *x, bf16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = f32_to_bf16(x[i]);
}

/* ------------------------------------------------------ 32-element blocks */

/* Bit j of the little-endian 32-bit high-bit mask of Q5_0/Q5_1. */
static inline int qh_bit(const uint8_t qh[4], int j)
{
    return (qh[j / 8] >> (j % 8)) & 1;
}

void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK4_0; b++, y += QK4_0) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK4_0; j++)
            y[j] = d * (float)(nibble32(x[b].qs, j) - 8);
    }
}

void dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK4_1; b++, y += QK4_1) {
        const float d = f16_to_f32(x[b].d);
        const float m = f16_to_f32(x[b].m);
        for (int j = 0; j < QK4_1; j++)
            y[j] = d * (float)nibble32(x[b].qs, j) + m;
    }
}

void dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK5_0; b++, y += QK5_0) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK5_0; j++) {
            int q = nibble32(x[b].qs, j) | (qh_bit(x[b].qh, j) << 4);
            y[j] = d * (float)(q - 16);
        }
    }
}

void dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK5_1; b++, y += QK5_1) {
        const float d = f16_to_f32(x[b].d);
        const float m = f16_to_f32(x[b].m);
        for (int j = 0; j < QK5_1; j++) {
            int q = nibble32(x[b].qs, j) | (qh_bit(x[b].qh, j) << 4);
            y[j] = d * (float)q + m;
        }
    }
}

void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK8_0; b++, y += QK8_0) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = d * (float)x[b].qs[j];
    }
}

void dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK8_1; b++, y += QK8_1) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = d * (float)x[b].qs[j];
    }
}

/* ---------------------------------------------------- quantizers (RTN) */

static void pack_high_bits32(const uint8_t q[32], uint8_t qh[4])
{
    memset(qh, 0, 4);
    for (int j = 0; j < 32; j++)
        qh[j / 8] |= (uint8_t)(((q[j] >> 4) & 1) << (j % 8));
}

/* Symmetric 4/5-bit codes: q = trunc(x*id + offset + 0.5), computed like
 * gguf-py (exact double product, one double add, rounded to float). */
static void quantize_symmetric32(const float *x, float id, int offset, int qmax, uint8_t q[32])
{
    for (int j = 0; j < 32; j++) {
        float v = (float)((double)x[j] * (double)id + ((double)offset + 0.5));
        int qi = (int)truncf(v);
        q[j] = (uint8_t)(qi < 0 ? 0 : qi > qmax ? qmax : qi);
    }
}

/* Affine 4/5-bit codes: q = trunc((x - min)*id + 0.5) in float. */
static void quantize_affine32(const float *x, float min, float id, int qmax, uint8_t q[32])
{
    for (int j = 0; j < 32; j++) {
        float v = (x[j] - min) * id + 0.5f;
        int qi = (int)truncf(v);
        q[j] = (uint8_t)(qi < 0 ? 0 : qi > qmax ? qmax : qi);
    }
}

static float inverse_or_zero(float d)
{
    return d != 0.0f ? 1.0f / d : 0.0f;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = x[0];
    *mx = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *mn)
            *mn = x[j];
        if (x[j] > *mx)
            *mx = x[j];
    }
}

static void quantize_row_q4_0_ref(const float *x, block_q4_0 *y, int64_t n)
{
    uint8_t q[32];
    for (int64_t b = 0; b < n / QK4_0; b++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8.0f;
        quantize_symmetric32(x, inverse_or_zero(d), 8, 15, q);
        y[b].d = f32_to_f16(d);
        pack_nibbles32(q, y[b].qs);
    }
}

static void quantize_row_q5_0_ref(const float *x, block_q5_0 *y, int64_t n)
{
    uint8_t q[32];
    for (int64_t b = 0; b < n / QK5_0; b++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16.0f;
        quantize_symmetric32(x, inverse_or_zero(d), 16, 31, q);
        y[b].d = f32_to_f16(d);
        pack_nibbles32(q, y[b].qs);
        pack_high_bits32(q, y[b].qh);
    }
}

static void quantize_row_q4_1_ref(const float *x, block_q4_1 *y, int64_t n)
{
    uint8_t q[32];
    for (int64_t b = 0; b < n / QK4_1; b++, x += QK4_1) {
        float mn, mx;
        min_max(x, QK4_1, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        quantize_affine32(x, mn, inverse_or_zero(d), 15, q);
        y[b].d = f32_to_f16(d);
        y[b].m = f32_to_f16(mn);
        pack_nibbles32(q, y[b].qs);
    }
}

static void quantize_row_q5_1_ref(const float *x, block_q5_1 *y, int64_t n)
{
    uint8_t q[32];
    for (int64_t b = 0; b < n / QK5_1; b++, x += QK5_1) {
        float mn, mx;
        min_max(x, QK5_1, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        quantize_affine32(x, mn, inverse_or_zero(d), 31, q);
        y[b].d = f32_to_f16(d);
        y[b].m = f32_to_f16(mn);
        pack_nibbles32(q, y[b].qs);
        pack_high_bits32(q, y[b].qh);
    }
}

static float absmax(const float *x, int n)
{
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax)
            amax = fabsf(x[j]);
    return amax;
}

/* int8 codes round(x*id) (half away from zero); returns their sum. */
static int quantize_int8_32(const float *x, float id, int8_t qs[32])
{
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)roundf(x[j] * id);
        sum += qs[j];
    }
    return sum;
}

void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        const float d = absmax(x, QK8_0) / 127.0f;
        quantize_int8_32(x, inverse_or_zero(d), y[b].qs);
        y[b].d = f32_to_f16(d);
    }
}

void quantize_row_q8_1_ref(const float *x, block_q8_1 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        const float d = absmax(x, QK8_1) / 127.0f;
        int sum = quantize_int8_32(x, inverse_or_zero(d), y[b].qs);
        y[b].d = f32_to_f16(d);
        y[b].s = f32_to_f16((float)sum * d);
    }
}

/* ------------------------------------------------------------ dispatch */

static bool row_ok(enum tensor_type type, int64_t n)
{
    const struct type_traits *tt = tensor_type_traits((uint32_t)type);
    return tt != NULL && n >= 0 && n % tt->block_size == 0;
}

int dequantize_row(enum tensor_type type, const void *x, float *y, int64_t n)
{
    if (!row_ok(type, n))
        return -1;
    switch (type) {
    case TYPE_F32: if (n > 0) memmove(y, x, (size_t)n * sizeof(float)); return 0;
    case TYPE_F16: dequantize_row_f16(x, y, n); return 0;
    case TYPE_BF16: dequantize_row_bf16(x, y, n); return 0;
    case TYPE_Q4_0: dequantize_row_q4_0(x, y, n); return 0;
    case TYPE_Q4_1: dequantize_row_q4_1(x, y, n); return 0;
    case TYPE_Q5_0: dequantize_row_q5_0(x, y, n); return 0;
    case TYPE_Q5_1: dequantize_row_q5_1(x, y, n); return 0;
    case TYPE_Q8_0: dequantize_row_q8_0(x, y, n); return 0;
    case TYPE_Q8_1: dequantize_row_q8_1(x, y, n); return 0;
    case TYPE_Q2_K: dequantize_row_q2_K(x, y, n); return 0;
    case TYPE_Q3_K: dequantize_row_q3_K(x, y, n); return 0;
    case TYPE_Q4_K: dequantize_row_q4_K(x, y, n); return 0;
    case TYPE_Q5_K: dequantize_row_q5_K(x, y, n); return 0;
    case TYPE_Q6_K: dequantize_row_q6_K(x, y, n); return 0;
    case TYPE_Q8_K: dequantize_row_q8_K(x, y, n); return 0;
    case TYPE_IQ4_NL: dequantize_row_iq4_nl(x, y, n); return 0;
    case TYPE_IQ4_XS: dequantize_row_iq4_xs(x, y, n); return 0;
    default: return -1;
    }
}

int quantize_row_ref(enum tensor_type type, const float *x, void *y, int64_t n)
{
    if (!row_ok(type, n))
        return -1;
    switch (type) {
    case TYPE_F32: if (n > 0) memmove(y, x, (size_t)n * sizeof(float)); return 0;
    case TYPE_F16: quantize_row_f16(x, y, n); return 0;
    case TYPE_BF16: quantize_row_bf16(x, y, n); return 0;
    case TYPE_Q4_0: quantize_row_q4_0_ref(x, y, n); return 0;
    case TYPE_Q4_1: quantize_row_q4_1_ref(x, y, n); return 0;
    case TYPE_Q5_0: quantize_row_q5_0_ref(x, y, n); return 0;
    case TYPE_Q5_1: quantize_row_q5_1_ref(x, y, n); return 0;
    case TYPE_Q8_0: quantize_row_q8_0_ref(x, y, n); return 0;
    case TYPE_Q8_1: quantize_row_q8_1_ref(x, y, n); return 0;
    case TYPE_Q8_K: quantize_row_q8_K_ref(x, y, n); return 0;
    case TYPE_IQ4_NL:
    case TYPE_IQ4_XS: return quantize_row_iq4_ref(type, x, y, n);
    default: return quantize_row_kquant_ref(type, x, y, n);
    }
}
