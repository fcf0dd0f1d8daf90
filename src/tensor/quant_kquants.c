/*
 * quant_kquants.c - scalar reference dequantize and quantize for the
 * K-quants (super-blocks of 256: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K).
 *
 * Dequantizers are bit-exact with gguf-py (float32, its operation order, no
 * FMA contraction). The quantizers are our own round-to-nearest with a small
 * least-squares scale search per sub-block; gguf-py has none for these types,
 * so they are checked by round-trip error bounds, not bytes.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/quant.h"
#include "tensor/quant_internal.h"

/* ---------------------------------------------------------- dequantize */

/* Bits of element k (0..255) of the 2-bit planes used by Q2_K/Q3_K/Q6_K:
 * k = half*128 + plane*32 + l lives in byte half*32 + l, bits 2*plane. */
static inline int crumb(const uint8_t *q, int k)
{
    return (q[(k / 128) * 32 + k % 32] >> (2 * ((k % 128) / 32))) & 3;
}

/* Element k of a 256-block with 4-bit codes in 64-element chunks:
 * k = chunk*64 + nib*32 + l lives in byte chunk*32 + l. */
static inline int nibble256(const uint8_t *qs, int k)
{
    return (qs[(k / 64) * 32 + k % 32] >> (4 * ((k % 64) / 32))) & 0x0f;
}

/* Bit k/32 of byte k%32: the high-bit planes of Q3_K (hmask) and Q5_K (qh). */
static inline int bitplane(const uint8_t *h, int k)
{
    return (h[k % 32] >> (k / 32)) & 1;
}

void dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        const float dmin = f16_to_f32(x[b].dmin);
        for (int k = 0; k < QK_K; k++) {
            const uint8_t sc = x[b].scales[k / 16];
            const float dl = d * (float)(sc & 0x0f);
            const float ml = dmin * (float)(sc >> 4);
            y[k] = dl * (float)crumb(x[b].qs, k) - ml;
        }
    }
}

/* 6-bit scale j (0..15) of a Q3_K block, minus 32. */
static int q3_K_scale(const uint8_t s[12], int j)
{
    int lo = j < 8 ? (s[j] & 0x0f) : (s[j - 8] >> 4);
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

void dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        for (int k = 0; k < QK_K; k++) {
            const float dl = d * (float)q3_K_scale(x[b].scales, k / 16);
            int q = crumb(x[b].qs, k) - (bitplane(x[b].hmask, k) ? 0 : 4);
            y[k] = dl * (float)q;
        }
    }
}

/* 6-bit scale and min of sub-block j (0..7) of Q4_K/Q5_K. */
static void k_scale_min(const uint8_t s[K_SCALE_SIZE], int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void dequantize_q4_5_K(const uint8_t *scales, f16_t d16, f16_t dmin16,
                              const uint8_t *qs, const uint8_t *qh, float *y)
{
    const float d = f16_to_f32(d16);
    const float dmin = f16_to_f32(dmin16);
    for (int j = 0; j < QK_K / 32; j++) {
        int sc, m;
        k_scale_min(scales, j, &sc, &m);
        const float dl = d * (float)sc;
        const float ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int k = j * 32 + l;
            int q = nibble256(qs, k) | (qh ? bitplane(qh, k) << 4 : 0);
            y[k] = dl * (float)q - ml;
        }
    }
}

void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K)
        dequantize_q4_5_K(x[b].scales, x[b].d, x[b].dmin, x[b].qs, NULL, y);
}

void dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K)
        dequantize_q4_5_K(x[b].scales, x[b].d, x[b].dmin, x[b].qs, x[b].qh, y);
}

/* Low 4 bits of Q6_K element k: k = half*128 + nib*64 + l (l < 64) lives in
 * ql[half*64 + l], bits 4*nib. */
static inline int q6_K_low(const uint8_t *ql, int k)
{
    return (ql[(k / 128) * 64 + k % 64] >> (4 * ((k % 128) / 64))) & 0x0f;
}

void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        for (int k = 0; k < QK_K; k++) {
            const float dl = d * (float)x[b].scales[k / 16];
            int q = (q6_K_low(x[b].ql, k) | (crumb(x[b].qh, k) << 4)) - 32;
            y[k] = dl * (float)q;
        }
    }
}

void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K)
        for (int k = 0; k < QK_K; k++)
            y[k] = x[b].d * (float)x[b].qs[k];
}

/* ------------------------------------------------------------ helpers */

static float max_of(const float *x, int n)
{
    float m = x[0];
    for (int j = 1; j < n; j++)
        if (x[j] > m)
            m = x[j];
    return m;
}

/* The f16 value a float scale will be stored as. */
static float as_stored_f16(float v)
{
    return f16_to_f32(f32_to_f16(v));
}

/* Symmetric fit x ~ scale * L, L in [lo, hi] (lo = -hi-1). Tries a few
 * inverse scales around lo/max and keeps the least-squares scale with the
 * smallest squared error. */
static float fit_symmetric(const float *x, int n, int lo, int hi)
{
    const float max = signed_absmax(x, n);
    if (max == 0.0f)
        return 0.0f;
    float best_err = FLT_MAX, best_scale = 0.0f;
    for (int t = -4; t <= 4; t++) {
        const float id = ((float)lo + 0.1f * (float)t) / max;
        float sumlx = 0.0f, suml2 = 0.0f;
        for (int j = 0; j < n; j++) {
            float l = (float)clamp_round(id * x[j], lo, hi);
            sumlx += l * x[j];
            suml2 += l * l;
        }
        float scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
        float err = 0.0f;
        for (int j = 0; j < n; j++) {
            float l = (float)clamp_round(id * x[j], lo, hi);
            float e = x[j] - scale * l;
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = scale;
        }
    }
    return best_scale;
}

struct affine_sums { float n, l, l2, x, xl; };

/* Least squares x ~ a*L + b with b <= 0 (the stored min is -b >= 0). */
static void affine_solve(const struct affine_sums *s, float *a, float *b)
{
    float det = s->n * s->l2 - s->l * s->l;
    *a = 0.0f;
    *b = 0.0f;
    if (det > 0.0f) {
        *a = (s->n * s->xl - s->l * s->x) / det;
        *b = (s->l2 * s->x - s->l * s->xl) / det;
    }
    if (*b > 0.0f || det <= 0.0f) {
        *b = 0.0f;
        *a = s->l2 > 0.0f ? s->xl / s->l2 : 0.0f;
    }
    if (*a < 0.0f)
        *a = 0.0f;
}

/* Affine fit x ~ scale*L - min, L in [0, nmax], min >= 0. */
static float fit_affine(const float *x, int n, int nmax, float *min_out)
{
    float mn = x[0], mx = x[0];
    for (int j = 1; j < n; j++) {
        mn = x[j] < mn ? x[j] : mn;
        mx = x[j] > mx ? x[j] : mx;
    }
    if (mn > 0.0f)
        mn = 0.0f;
    *min_out = -mn;
    if (mx <= mn)
        return 0.0f;
    float best_err = FLT_MAX, best_a = 0.0f, best_b = mn;
    for (int t = -4; t <= 4; t++) {
        const float iscale = ((float)nmax + 0.1f * (float)t) / (mx - mn);
        struct affine_sums s = { (float)n, 0, 0, 0, 0 };
        for (int j = 0; j < n; j++) {
            float l = (float)clamp_round(iscale * (x[j] - mn), 0, nmax);
            s.l += l; s.l2 += l * l; s.x += x[j]; s.xl += x[j] * l;
        }
        float a, b, err = 0.0f;
        affine_solve(&s, &a, &b);
        for (int j = 0; j < n; j++) {
            float l = (float)clamp_round(iscale * (x[j] - mn), 0, nmax);
            float e = x[j] - (a * l + b);
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_a = a;
            best_b = b;
        }
    }
    *min_out = -best_b;
    return best_a;
}

/* Codes for x ~ dl*L - ml with the final (stored) scale and min. */
static void requantize_affine(const float *x, int n, float dl, float ml, int nmax, uint8_t *L)
{
    for (int j = 0; j < n; j++)
        L[j] = (uint8_t)(dl > 0.0f ? clamp_round((x[j] + ml) / dl, 0, nmax) : 0);
}

/* Sub-block scales (>= 0) as codes 0..qmax of a super scale; returns it. */
static float quantize_unsigned_scales(const float *s, int n, int qmax, uint8_t *codes)
{
    const float d = as_stored_f16(max_of(s, n) / (float)qmax);
    for (int j = 0; j < n; j++)
        codes[j] = (uint8_t)(d > 0.0f ? clamp_round(s[j] / d, 0, qmax) : 0);
    return d;
}

/* Signed sub-block scales as codes lo..hi of a super scale; returns it. */
static float quantize_signed_scales(const float *s, int n, int lo, int hi, int *codes)
{
    const float max = signed_absmax(s, n);
    const float d = max != 0.0f ? as_stored_f16(max / (float)lo) : 0.0f;
    for (int j = 0; j < n; j++)
        codes[j] = d != 0.0f ? clamp_round(s[j] / d, lo, hi) : 0;
    return d;
}

/* ---------------------------------------------------------- quantizers */

static void quantize_block_q2_K(const float *x, block_q2_K *y)
{
    float scales[16], mins[16];
    uint8_t sc[16], mc[16], L[QK_K];
    for (int j = 0; j < 16; j++)
        scales[j] = fit_affine(x + 16 * j, 16, 3, &mins[j]);
    const float d = quantize_unsigned_scales(scales, 16, 15, sc);
    const float dmin = quantize_unsigned_scales(mins, 16, 15, mc);
    memset(y, 0, sizeof(*y));
    for (int j = 0; j < 16; j++) {
        y->scales[j] = (uint8_t)(sc[j] | (mc[j] << 4));
        requantize_affine(x + 16 * j, 16, d * (float)sc[j], dmin * (float)mc[j], 3, L + 16 * j);
    }
    for (int k = 0; k < QK_K; k++)
        y->qs[(k / 128) * 32 + k % 32] |= (uint8_t)(L[k] << (2 * ((k % 128) / 32)));
    y->d = f32_to_f16(d);
    y->dmin = f32_to_f16(dmin);
}

/* Codes x ~ dl*L, L in [lo, hi]. */
static void requantize_symmetric(const float *x, int n, float dl, int lo, int hi, int *L)
{
    for (int j = 0; j < n; j++)
        L[j] = dl != 0.0f ? clamp_round(x[j] / dl, lo, hi) : 0;
}

static void quantize_block_q3_K(const float *x, block_q3_K *y)
{
    float scales[16];
    int sc[16], L[QK_K];
    for (int j = 0; j < 16; j++)
        scales[j] = fit_symmetric(x + 16 * j, 16, -4, 3);
    const float d = quantize_signed_scales(scales, 16, -32, 31, sc);
    memset(y, 0, sizeof(*y));
    for (int j = 0; j < 16; j++) {
        requantize_symmetric(x + 16 * j, 16, d * (float)sc[j], -4, 3, L + 16 * j);
        int s = sc[j] + 32;
        if (j < 8)
            y->scales[j] |= (uint8_t)(s & 0x0f);
        else
            y->scales[j - 8] |= (uint8_t)((s & 0x0f) << 4);
        y->scales[8 + j % 4] |= (uint8_t)((s >> 4) << (2 * (j / 4)));
    }
    for (int k = 0; k < QK_K; k++) {
        int l = L[k] + 4; /* 0..7 */
        y->qs[(k / 128) * 32 + k % 32] |= (uint8_t)((l & 3) << (2 * ((k % 128) / 32)));
        y->hmask[k % 32] |= (uint8_t)((l >> 2) << (k / 32));
    }
    y->d = f32_to_f16(d);
}

/* Pack eight 6-bit scales and mins in the Q4_K/Q5_K layout. */
static void pack_k_scale_min(const uint8_t sc[8], const uint8_t m[8], uint8_t s[K_SCALE_SIZE])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4));
    }
}

/* Shared by Q4_K (qh NULL, 4-bit codes) and Q5_K (5-bit codes). */
static void quantize_q4_5_K(const float *x, int nmax, uint8_t scales_out[K_SCALE_SIZE],
                            f16_t *d_out, f16_t *dmin_out, uint8_t *qs, uint8_t *qh)
{
    float scales[8], mins[8];
    uint8_t sc[8], mc[8], L[QK_K];
    for (int j = 0; j < 8; j++)
        scales[j] = fit_affine(x + 32 * j, 32, nmax, &mins[j]);
    const float d = quantize_unsigned_scales(scales, 8, 63, sc);
    const float dmin = quantize_unsigned_scales(mins, 8, 63, mc);
    for (int j = 0; j < 8; j++)
        requantize_affine(x + 32 * j, 32, d * (float)sc[j], dmin * (float)mc[j], nmax, L + 32 * j);
    pack_k_scale_min(sc, mc, scales_out);
    memset(qs, 0, QK_K / 2);
    if (qh)
        memset(qh, 0, QK_K / 8);
    for (int k = 0; k < QK_K; k++) {
        qs[(k / 64) * 32 + k % 32] |= (uint8_t)((L[k] & 0x0f) << (4 * ((k % 64) / 32)));
        if (qh)
            qh[k % 32] |= (uint8_t)((L[k] >> 4) << (k / 32));
    }
    *d_out = f32_to_f16(d);
    *dmin_out = f32_to_f16(dmin);
}

static void quantize_block_q6_K(const float *x, block_q6_K *y)
{
    float scales[16];
    int sc[16], L[QK_K];
    for (int j = 0; j < 16; j++)
        scales[j] = fit_symmetric(x + 16 * j, 16, -32, 31);
    const float d = quantize_signed_scales(scales, 16, -128, 127, sc);
    memset(y, 0, sizeof(*y));
    for (int j = 0; j < 16; j++) {
        y->scales[j] = (int8_t)sc[j];
        requantize_symmetric(x + 16 * j, 16, d * (float)sc[j], -32, 31, L + 16 * j);
    }
    for (int k = 0; k < QK_K; k++) {
        int l = L[k] + 32; /* 0..63 */
        y->ql[(k / 128) * 64 + k % 64] |= (uint8_t)((l & 0x0f) << (4 * ((k % 128) / 64)));
        y->qh[(k / 128) * 32 + k % 32] |= (uint8_t)((l >> 4) << (2 * ((k % 128) / 32)));
    }
    y->d = f32_to_f16(d);
}

void quantize_row_q8_K_ref(const float *x, block_q8_K *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float max = signed_absmax(x, QK_K);
        memset(&y[b], 0, sizeof(y[b]));
        if (max == 0.0f)
            continue;
        const float iscale = -127.0f / max;
        for (int k = 0; k < QK_K; k++) {
            y[b].qs[k] = (int8_t)clamp_round(iscale * x[k], -127, 127);
            y[b].bsums[k / 16] = (int16_t)(y[b].bsums[k / 16] + y[b].qs[k]);
        }
        y[b].d = 1.0f / iscale;
    }
}

int quantize_row_kquant_ref(enum tensor_type type, const float *x, void *vy, int64_t n)
{
    const int64_t nb = n / QK_K;
    switch (type) {
    case TYPE_Q2_K:
        for (int64_t b = 0; b < nb; b++)
            quantize_block_q2_K(x + b * QK_K, (block_q2_K *)vy + b);
        return 0;
    case TYPE_Q3_K:
        for (int64_t b = 0; b < nb; b++)
            quantize_block_q3_K(x + b * QK_K, (block_q3_K *)vy + b);
        return 0;
    case TYPE_Q4_K:
        for (int64_t b = 0; b < nb; b++) {
            block_q4_K *y = (block_q4_K *)vy + b;
            quantize_q4_5_K(x + b * QK_K, 15, y->scales, &y->d, &y->dmin, y->qs, NULL);
        }
        return 0;
    case TYPE_Q5_K:
        for (int64_t b = 0; b < nb; b++) {
            block_q5_K *y = (block_q5_K *)vy + b;
            quantize_q4_5_K(x + b * QK_K, 31, y->scales, &y->d, &y->dmin, y->qs, y->qh);
        }
        return 0;
    case TYPE_Q6_K:
        for (int64_t b = 0; b < nb; b++)
            quantize_block_q6_K(x + b * QK_K, (block_q6_K *)vy + b);
        return 0;
    default:
        return -1;
    }
}
