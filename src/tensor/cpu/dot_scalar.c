/*
 * dot_scalar.c - the scalar reference dot products: one weight row (any
 * supported type) against one activation row of its vec_dot_type. Quantized
 * types sum integer products per block (per sub-block for K-quants), then
 * scale by the block scales as the GGUF formats define; K-quant mins use the
 * Q8_K per-16 sums (bsums). These define what the SIMD tables must match.
 * Plain types accumulate in double, so they are also the accuracy reference.
 */
#include "tensor/cpu/kernels_impl.h"

const int8_t cpu_iq4nl_codebook[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

void cpu_dot_f32_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const uint8_t *xb = x, *yb = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)load_f32(xb + 4 * i) * (double)load_f32(yb + 4 * i);
    *s = (float)sum;
}

void cpu_dot_f16_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const uint8_t *xb = x, *yb = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)f16_to_f32(load_u16(xb + 2 * i)) * (double)f16_to_f32(load_u16(yb + 2 * i));
    *s = (float)sum;
}

void cpu_dot_bf16_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const uint8_t *xb = x, *yb = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)bf16_to_f32(load_u16(xb + 2 * i)) * (double)bf16_to_f32(load_u16(yb + 2 * i));
    *s = (float)sum;
}

/* Sum of 32 products of int8 activations with weights w[0..31]. */
static int sum_i8_products(const int8_t *w, const int8_t *a, int len)
{
    int sum = 0;
    for (int j = 0; j < len; j++)
        sum += w[j] * a[j];
    return sum;
}

/* Unpack the 32 4-bit quants of a Q4_0/Q4_1/IQ4_NL block into w[] (low
 * nibbles are elements 0..15, high nibbles 16..31), adding `offset`. */
static void unpack_nibbles(const uint8_t *qs, int offset, int8_t w[32])
{
    for (int j = 0; j < 16; j++) {
        w[j] = (int8_t)((qs[j] & 0xF) + offset);
        w[j + 16] = (int8_t)((qs[j] >> 4) + offset);
    }
}

/* Unpack the 32 5-bit quants of a Q5_0/Q5_1 block, adding `offset`. */
static void unpack_5bit(const uint8_t *qs, const uint8_t *qh_bytes, int offset, int8_t w[32])
{
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < 16; j++) {
        int lo_high = (qh >> j) & 1;
        int hi_high = (qh >> (j + 16)) & 1;
        w[j] = (int8_t)(((qs[j] & 0xF) | (lo_high << 4)) + offset);
        w[j + 16] = (int8_t)(((qs[j] >> 4) | (hi_high << 4)) + offset);
    }
}

void cpu_dot_q4_0_q8_0_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK4_0;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q4_0), yb += sizeof(block_q8_0)) {
        int8_t w[32];
        unpack_nibbles(BLOCK_FIELD(xb, block_q4_0, qs), -8, w);
        int isum = sum_i8_products(w, (const int8_t *)BLOCK_FIELD(yb, block_q8_0, qs), 32);
        sum += (float)isum * (BLOCK_F16(xb, block_q4_0, d) * BLOCK_F16(yb, block_q8_0, d));
    }
    *s = sum;
}

void cpu_dot_q4_1_q8_1_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK4_1;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q4_1), yb += sizeof(block_q8_1)) {
        int8_t w[32];
        unpack_nibbles(BLOCK_FIELD(xb, block_q4_1, qs), 0, w);
        int isum = sum_i8_products(w, (const int8_t *)BLOCK_FIELD(yb, block_q8_1, qs), 32);
        float dxy = BLOCK_F16(xb, block_q4_1, d) * BLOCK_F16(yb, block_q8_1, d);
        sum += (float)isum * dxy + BLOCK_F16(xb, block_q4_1, m) * BLOCK_F16(yb, block_q8_1, s);
    }
    *s = sum;
}

void cpu_dot_q5_0_q8_0_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK5_0;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q5_0), yb += sizeof(block_q8_0)) {
        int8_t w[32];
        unpack_5bit(BLOCK_FIELD(xb, block_q5_0, qs), BLOCK_FIELD(xb, block_q5_0, qh), -16, w);
        int isum = sum_i8_products(w, (const int8_t *)BLOCK_FIELD(yb, block_q8_0, qs), 32);
        sum += (float)isum * (BLOCK_F16(xb, block_q5_0, d) * BLOCK_F16(yb, block_q8_0, d));
    }
    *s = sum;
}

void cpu_dot_q5_1_q8_1_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK5_1;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q5_1), yb += sizeof(block_q8_1)) {
        int8_t w[32];
        unpack_5bit(BLOCK_FIELD(xb, block_q5_1, qs), BLOCK_FIELD(xb, block_q5_1, qh), 0, w);
        int isum = sum_i8_products(w, (const int8_t *)BLOCK_FIELD(yb, block_q8_1, qs), 32);
        float dxy = BLOCK_F16(xb, block_q5_1, d) * BLOCK_F16(yb, block_q8_1, d);
        sum += (float)isum * dxy + BLOCK_F16(xb, block_q5_1, m) * BLOCK_F16(yb, block_q8_1, s);
    }
    *s = sum;
}

void cpu_dot_q8_0_q8_0_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK8_0;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q8_0), yb += sizeof(block_q8_0)) {
        int isum = sum_i8_products((const int8_t *)BLOCK_FIELD(xb, block_q8_0, qs),
                                   (const int8_t *)BLOCK_FIELD(yb, block_q8_0, qs), 32);
        sum += (float)isum * (BLOCK_F16(xb, block_q8_0, d) * BLOCK_F16(yb, block_q8_0, d));
    }
    *s = sum;
}

void cpu_dot_iq4_nl_q8_0_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK4_NL;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_iq4_nl), yb += sizeof(block_q8_0)) {
        const uint8_t *qs = BLOCK_FIELD(xb, block_iq4_nl, qs);
        int8_t w[32];
        for (int j = 0; j < 16; j++) {
            w[j] = cpu_iq4nl_codebook[qs[j] & 0xF];
            w[j + 16] = cpu_iq4nl_codebook[qs[j] >> 4];
        }
        int isum = sum_i8_products(w, (const int8_t *)BLOCK_FIELD(yb, block_q8_0, qs), 32);
        sum += (float)isum * (BLOCK_F16(xb, block_iq4_nl, d) * BLOCK_F16(yb, block_q8_0, d));
    }
    *s = sum;
}

/* The Q8_K activation block fields. */
static float q8_K_d(const uint8_t *yb) { return load_f32(BLOCK_FIELD(yb, block_q8_K, d)); }
static const int8_t *q8_K_qs(const uint8_t *yb) { return (const int8_t *)BLOCK_FIELD(yb, block_q8_K, qs); }
static int q8_K_bsum(const uint8_t *yb, int j)
{
    return load_i16(BLOCK_FIELD(yb, block_q8_K, bsums) + 2 * j);
}

/* Q2_K: element 128h + 32k + l (h 0..1, k 0..3, l 0..31) is bits 2k..2k+1 of
 * qs[32h + l]; 16-element group g uses scales[g] (low 4: scale, high 4: min). */
void cpu_dot_q2_K_q8_K_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q2_K), yb += sizeof(block_q8_K)) {
        const uint8_t *sc = BLOCK_FIELD(xb, block_q2_K, scales);
        const uint8_t *qs = BLOCK_FIELD(xb, block_q2_K, qs);
        const int8_t *a = q8_K_qs(yb);
        int isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int h = g / 8, k = (g % 8) / 2, l0 = (g % 2) * 16;
            int gsum = 0;
            for (int l = l0; l < l0 + 16; l++)
                gsum += ((qs[32 * h + l] >> (2 * k)) & 3) * a[16 * g + l - l0];
            isum += (sc[g] & 0xF) * gsum;
            msum += (sc[g] >> 4) * q8_K_bsum(yb, g);
        }
        float dy = q8_K_d(yb);
        sum += dy * BLOCK_F16(xb, block_q2_K, d) * (float)isum
             - dy * BLOCK_F16(xb, block_q2_K, dmin) * (float)msum;
    }
    *s = sum;
}

/* Q3_K: like Q2_K's 2-bit layout, plus hmask bit 4h + k of hmask[l]; a clear
 * bit subtracts 4. Signed 6-bit scales per 16 elements. */
void cpu_dot_q3_K_q8_K_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q3_K), yb += sizeof(block_q8_K)) {
        const uint8_t *scales = BLOCK_FIELD(xb, block_q3_K, scales);
        const uint8_t *qs = BLOCK_FIELD(xb, block_q3_K, qs);
        const uint8_t *hm = BLOCK_FIELD(xb, block_q3_K, hmask);
        const int8_t *a = q8_K_qs(yb);
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int h = g / 8, k = (g % 8) / 2, l0 = (g % 2) * 16;
            int gsum = 0;
            for (int l = l0; l < l0 + 16; l++) {
                int q = ((qs[32 * h + l] >> (2 * k)) & 3) - (((hm[l] >> (4 * h + k)) & 1) ? 0 : 4);
                gsum += q * a[16 * g + l - l0];
            }
            isum += q3_K_scale(scales, g) * gsum;
        }
        sum += q8_K_d(yb) * BLOCK_F16(xb, block_q3_K, d) * (float)isum;
    }
    *s = sum;
}

/* Q4_K: 64-element chunk c: elements 64c..64c+31 are the low nibbles of
 * qs[32c..32c+31] with scale/min 2c, the next 32 the high nibbles with 2c+1. */
void cpu_dot_q4_K_q8_K_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q4_K), yb += sizeof(block_q8_K)) {
        const uint8_t *scales = BLOCK_FIELD(xb, block_q4_K, scales);
        const uint8_t *qs = BLOCK_FIELD(xb, block_q4_K, qs);
        const int8_t *a = q8_K_qs(yb);
        int isum = 0, msum = 0;
        for (int g = 0; g < 8; g++) {
            int sc, mn;
            q4_K_scale_min(scales, g, &sc, &mn);
            const uint8_t *q = qs + 32 * (g / 2);
            int shift = 4 * (g % 2), gsum = 0;
            for (int l = 0; l < 32; l++)
                gsum += ((q[l] >> shift) & 0xF) * a[32 * g + l];
            isum += sc * gsum;
            msum += mn * (q8_K_bsum(yb, 2 * g) + q8_K_bsum(yb, 2 * g + 1));
        }
        float dy = q8_K_d(yb);
        sum += dy * BLOCK_F16(xb, block_q4_K, d) * (float)isum
             - dy * BLOCK_F16(xb, block_q4_K, dmin) * (float)msum;
    }
    *s = sum;
}

/* Q5_K: Q4_K plus a fifth bit: bit g of qh[l] for element 32g + l. */
void cpu_dot_q5_K_q8_K_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q5_K), yb += sizeof(block_q8_K)) {
        const uint8_t *scales = BLOCK_FIELD(xb, block_q5_K, scales);
        const uint8_t *qs = BLOCK_FIELD(xb, block_q5_K, qs);
        const uint8_t *qh = BLOCK_FIELD(xb, block_q5_K, qh);
        const int8_t *a = q8_K_qs(yb);
        int isum = 0, msum = 0;
        for (int g = 0; g < 8; g++) {
            int sc, mn;
            q4_K_scale_min(scales, g, &sc, &mn);
            const uint8_t *q = qs + 32 * (g / 2);
            int shift = 4 * (g % 2), gsum = 0;
            for (int l = 0; l < 32; l++) {
                int w = ((q[l] >> shift) & 0xF) | (((qh[l] >> g) & 1) << 4);
                gsum += w * a[32 * g + l];
            }
            isum += sc * gsum;
            msum += mn * (q8_K_bsum(yb, 2 * g) + q8_K_bsum(yb, 2 * g + 1));
        }
        float dy = q8_K_d(yb);
        sum += dy * BLOCK_F16(xb, block_q5_K, d) * (float)isum
             - dy * BLOCK_F16(xb, block_q5_K, dmin) * (float)msum;
    }
    *s = sum;
}

/* Q6_K: half h (128 elements), quarter k (32 elements), l 0..31: low 4 bits
 * from ql[64h + 32(k%2) + l] (nibble k/2), high 2 bits from bits 2k of
 * qh[32h + l]; value - 32; signed 8-bit scale per 16 elements. */
void cpu_dot_q6_K_q8_K_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q6_K), yb += sizeof(block_q8_K)) {
        const uint8_t *ql = BLOCK_FIELD(xb, block_q6_K, ql);
        const uint8_t *qh = BLOCK_FIELD(xb, block_q6_K, qh);
        const int8_t *scales = (const int8_t *)BLOCK_FIELD(xb, block_q6_K, scales);
        const int8_t *a = q8_K_qs(yb);
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int h = g / 8, k = (g % 8) / 2, l0 = (g % 2) * 16;
            int gsum = 0;
            for (int l = l0; l < l0 + 16; l++) {
                int lo = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
                int hi = (qh[32 * h + l] >> (2 * k)) & 3;
                gsum += ((lo | (hi << 4)) - 32) * a[16 * g + l - l0];
            }
            isum += scales[g] * gsum;
        }
        sum += q8_K_d(yb) * BLOCK_F16(xb, block_q6_K, d) * (float)isum;
    }
    *s = sum;
}

/* IQ4_XS: 8 groups of 32 codebook-coded nibbles, 6-bit scale (minus 32) each. */
void cpu_dot_iq4_xs_q8_K_scalar(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_iq4_xs), yb += sizeof(block_q8_K)) {
        uint16_t scales_h = load_u16(BLOCK_FIELD(xb, block_iq4_xs, scales_h));
        const uint8_t *scales_l = BLOCK_FIELD(xb, block_iq4_xs, scales_l);
        const uint8_t *qs = BLOCK_FIELD(xb, block_iq4_xs, qs);
        const int8_t *a = q8_K_qs(yb);
        int isum = 0;
        for (int g = 0; g < 8; g++) {
            int8_t w[32];
            for (int j = 0; j < 16; j++) {
                w[j] = cpu_iq4nl_codebook[qs[16 * g + j] & 0xF];
                w[j + 16] = cpu_iq4nl_codebook[qs[16 * g + j] >> 4];
            }
            isum += iq4_xs_scale(scales_h, scales_l, g) * sum_i8_products(w, a + 32 * g, 32);
        }
        sum += q8_K_d(yb) * BLOCK_F16(xb, block_iq4_xs, d) * (float)isum;
    }
    *s = sum;
}

/* Multi-row versions: a loop over the one-row kernel. */
CLLM_NROWS_BY_LOOP(f32, scalar)
CLLM_NROWS_BY_LOOP(f16, scalar)
CLLM_NROWS_BY_LOOP(bf16, scalar)
CLLM_NROWS_BY_LOOP(q4_0_q8_0, scalar)
CLLM_NROWS_BY_LOOP(q4_1_q8_1, scalar)
CLLM_NROWS_BY_LOOP(q5_0_q8_0, scalar)
CLLM_NROWS_BY_LOOP(q5_1_q8_1, scalar)
CLLM_NROWS_BY_LOOP(q8_0_q8_0, scalar)
CLLM_NROWS_BY_LOOP(iq4_nl_q8_0, scalar)
CLLM_NROWS_BY_LOOP(q2_K_q8_K, scalar)
CLLM_NROWS_BY_LOOP(q3_K_q8_K, scalar)
CLLM_NROWS_BY_LOOP(q4_K_q8_K, scalar)
CLLM_NROWS_BY_LOOP(q5_K_q8_K, scalar)
CLLM_NROWS_BY_LOOP(q6_K_q8_K, scalar)
CLLM_NROWS_BY_LOOP(iq4_xs_q8_K, scalar)
