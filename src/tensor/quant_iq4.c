/*
 * quant_iq4.c - the non-linear 4-bit types IQ4_NL (blocks of 32, one f16
 * scale) and IQ4_XS (super-blocks of 256: f16 scale, eight signed 6-bit
 * sub-block scales): the codebook, the dequantizers (bit-exact with gguf-py)
 * and our own reference quantizers (a small scale search with least-squares
 * fit; gguf-py has none for these types, so they are checked by error bounds).
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/quant.h"
#include "tensor/quant_internal.h"

const int8_t quant_iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* ---------------------------------------------------------- dequantize */

void dequantize_row_iq4_nl(const block_iq4_nl *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK4_NL; b++, y += QK4_NL) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK4_NL; j++)
            y[j] = d * (float)quant_iq4nl_values[nibble32(x[b].qs, j)];
    }
}

/* 6-bit scale of sub-block ib (of 8) of an IQ4_XS super-block, minus 32. */
static int iq4_xs_scale(const block_iq4_xs *x, int ib)
{
    int lo = (x->scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    int hi = (x->scales_h >> (2 * ib)) & 0x03;
    return (lo | (hi << 4)) - 32;
}

void dequantize_row_iq4_xs(const block_iq4_xs *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = f16_to_f32(x[b].d);
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32) {
            const float dl = d * (float)iq4_xs_scale(&x[b], ib);
            const uint8_t *qs = x[b].qs + 16 * ib;
            for (int j = 0; j < 32; j++)
                y[j] = dl * (float)quant_iq4nl_values[nibble32(qs, j)];
        }
    }
}

/* ------------------------------------------------------------ quantize */

/* Index of the codebook value nearest to v (the lower one on ties). */
static int iq4nl_nearest(float v)
{
    if (!(v > quant_iq4nl_values[0]))
        return 0;
    if (v >= quant_iq4nl_values[15])
        return 15;
    int lo = 0, hi = 15; /* values[lo] < v < values[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < quant_iq4nl_values[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - quant_iq4nl_values[lo] <= quant_iq4nl_values[hi] - v ? lo : hi;
}

/* For a trial inverse scale: codes of the block and the least-squares scale
 * for them, weighting each element by x^2 (big values matter most).
 * Returns the weighted fit quality sumqx^2/sumq2 (bigger is better). */
static float iq4nl_trial(const float *x, int n, float id, uint8_t *q, float *scale)
{
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int j = 0; j < n; j++) {
        q[j] = (uint8_t)iq4nl_nearest(x[j] * id);
        float w = x[j] * x[j];
        float v = (float)quant_iq4nl_values[q[j]];
        sumqx += w * v * x[j];
        sumq2 += w * v * v;
    }
    *scale = sumq2 > 0.0f ? sumqx / sumq2 : 0.0f;
    return sumq2 > 0.0f ? sumqx * sumqx / sumq2 : 0.0f;
}

/* The scale that best fits x[0..n) (n <= 32) to the codebook:
 * x[j] ~ scale * quant_iq4nl_values[q[j]]; 0 for an all-zero block. */
static float iq4nl_fit(const float *x, int n, uint8_t *q)
{
    const float max = signed_absmax(x, n);
    if (max == 0.0f) {
        memset(q, 0, (size_t)n);
        return 0.0f;
    }
    uint8_t trial[32];
    float best = -1.0f, best_scale = 0.0f;
    for (int t = -8; t <= 8; t++) {
        /* maps max to near the codebook's end value, stretched a little */
        float id = ((float)quant_iq4nl_values[0] + 0.5f * (float)t) / max;
        float scale;
        float fit = iq4nl_trial(x, n, id, trial, &scale);
        if (fit > best) {
            best = fit;
            best_scale = scale;
            memcpy(q, trial, (size_t)n);
        }
    }
    return best_scale;
}

static void quantize_row_iq4_nl_ref(const float *x, block_iq4_nl *y, int64_t n)
{
    uint8_t q[QK4_NL];
    for (int64_t b = 0; b < n / QK4_NL; b++, x += QK4_NL) {
        const float d = iq4nl_fit(x, QK4_NL, q);
        y[b].d = f32_to_f16(d);
        pack_nibbles32(q, y[b].qs);
    }
}

/* Codes for x ~ dl * quant_iq4nl_values[q] with the final (stored) scale. */
static void iq4nl_requantize(const float *x, float dl, uint8_t q[32])
{
    for (int j = 0; j < 32; j++)
        q[j] = (uint8_t)iq4nl_nearest(dl != 0.0f ? x[j] / dl : 0.0f);
}

static void quantize_block_iq4_xs(const float *x, block_iq4_xs *y)
{
    float scales[QK_K / 32];
    uint8_t q[32];
    for (int ib = 0; ib < QK_K / 32; ib++)
        scales[ib] = iq4nl_fit(x + 32 * ib, 32, q);
    /* signed 6-bit sub-block scales of one f16 super scale */
    const float max = signed_absmax(scales, QK_K / 32);
    const float d = max != 0.0f ? f16_to_f32(f32_to_f16(max / -32.0f)) : 0.0f;
    memset(y, 0, sizeof(*y));
    for (int ib = 0; ib < QK_K / 32; ib++) {
        int ls = d != 0.0f ? clamp_round(scales[ib] / d, -32, 31) : 0;
        iq4nl_requantize(x + 32 * ib, d * (float)ls, q);
        pack_nibbles32(q, y->qs + 16 * ib);
        y->scales_l[ib / 2] |= (uint8_t)(((ls + 32) & 0x0f) << (4 * (ib % 2)));
        y->scales_h = (uint16_t)(y->scales_h | (((ls + 32) >> 4) << (2 * ib)));
    }
    y->d = f32_to_f16(d);
}

int quantize_row_iq4_ref(enum tensor_type type, const float *x, void *y, int64_t n)
{
    switch (type) {
    case TYPE_IQ4_NL:
        quantize_row_iq4_nl_ref(x, y, n);
        return 0;
    case TYPE_IQ4_XS:
        for (int64_t b = 0; b < n / QK_K; b++)
            quantize_block_iq4_xs(x + b * QK_K, (block_iq4_xs *)y + b);
        return 0;
    default:
        return -1;
    }
}
