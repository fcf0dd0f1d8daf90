/*
 * attn_avx512.c - the attention tile (attn.h) with AVX-512: 16 keys' scores
 * per vector (the block's keys transposed once for all the queries), 16
 * dims of the output per vector. Same bits as attn_avx2.c, and as the
 * scalar reference up to the softmax.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/attn_impl.h"
#include "tensor/ops.h"

#define W 16 /* lanes */

static inline __mmask16 lanes(int32_t n) { return n >= W ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* Elements d0.. of a row (F16 or F32), lanes outside m zero. */
static inline __m512 load_row(const void *row, enum tensor_type type, int32_t d0, __mmask16 m)
{
    if (type == TYPE_F16)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + d0));
    return _mm512_maskz_loadu_ps(m, (const float *)row + d0);
}

/* r[i] lane j <-> r[j] lane i. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int g = 0; g < 16; g += 8)
        for (int c = 0; c < 4; c++) {
            t[g + c] = _mm512_shuffle_f32x4(r[g + c], r[g + 4 + c], 0x88);
            t[g + 4 + c] = _mm512_shuffle_f32x4(r[g + c], r[g + 4 + c], 0xdd);
        }
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xdd);
    }
}

/* Keys kb .. kb+nb-1 transposed into w: row d (16 floats) = dim d of each key. */
static void keys_block(const struct attn_tile *t, float *w, int32_t kb, int32_t nb)
{
    const int32_t hk = t->head_dim_k;
    for (int32_t d0 = 0; d0 < hk; d0 += W) {
        __mmask16 m = lanes(hk - d0);
        __m512 r[16];
        for (int i = 0; i < W; i++)
            r[i] = i < nb ? load_row(t->k[kb + i], t->type_k, d0, m) : _mm512_setzero_ps();
        transpose16(r);
        int32_t nd = hk - d0 < W ? hk - d0 : W;
        for (int i = 0; i < nd; i++)
            _mm512_store_ps(w + (size_t)(d0 + i) * W, r[i]);
    }
}

/* Values kb .. kb+nb-1 into w: row i (hv floats, zero padded) = value of key kb+i. */
static void values_block(const struct attn_tile *t, float *w, size_t hv, int32_t kb, int32_t nb)
{
    for (int32_t i = 0; i < nb; i++)
        for (int32_t d0 = 0; d0 < (int32_t)hv; d0 += W)
            _mm512_store_ps(w + i * hv + d0, load_row(t->v[kb + i], t->type_v, d0, lanes(t->head_dim_v - d0)));
}

/* 16 scores of query q against a transposed block. */
static inline __m512 block_scores_p(const float *q, const float *w, int32_t hk, const int p)
{
    __m512 a[ATTN_MAX_PARTS];
#pragma GCC unroll 16
    for (int k = 0; k < p; k++)
        a[k] = _mm512_setzero_ps();
    int32_t d = 0;
    for (; d + p <= hk; d += p) {
#pragma GCC unroll 16
        for (int k = 0; k < p; k++)
            a[k] = _mm512_fmadd_ps(_mm512_set1_ps(q[d + k]), _mm512_load_ps(w + (size_t)(d + k) * W), a[k]);
    }
    for (int k = 0; d + k < hk; k++)
        a[k] = _mm512_fmadd_ps(_mm512_set1_ps(q[d + k]), _mm512_load_ps(w + (size_t)(d + k) * W), a[k]);
    for (int n = p; n > 1; n /= 2) {
#pragma GCC unroll 8
        for (int k = 0; k < n / 2; k++)
            a[k] = _mm512_add_ps(a[2 * k], a[2 * k + 1]);
    }
    return a[0];
}

/* W scores of query q against a transposed block (attn_parts(hk) partial sums). */
static inline __m512 block_scores(const float *q, const float *w, int32_t hk)
{
    switch (attn_parts(hk)) {
    case 16:
        return block_scores_p(q, w, hk, 16);
    case 8:
        return block_scores_p(q, w, hk, 8);
    default:
        return block_scores_p(q, w, hk, 4);
    }
}

/* o += sum over keys i0..i1 of the block (rows of w) of p[i] * value. */
static inline void block_values(float *o, const float *p, const float *w, size_t hv, int32_t i0, int32_t i1)
{
    for (size_t c = 0; c < hv; c += W) {
        __m512 acc = _mm512_load_ps(o + c);
        for (int32_t i = i0; i <= i1; i++)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_load_ps(w + i * hv + c), acc);
        _mm512_store_ps(o + c, acc);
    }
}

static inline __m512 round_f16(__m512 x)
{
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void attn_tile_avx512(const struct attn_tile *t, float *scratch)
{
    struct attn_layout l = attn_layout(t, scratch);
    const int32_t hk = t->head_dim_k, nq = t->n_q, nk = t->n_keys;
    /* queries as used (rounded to f16 for an F16 K), zero padded */
    for (int32_t j = 0; j < nq; j++) {
        float *q = l.q + (size_t)j * l.hk;
        for (int32_t d0 = 0; d0 < (int32_t)l.hk; d0 += W) {
            __m512 v = _mm512_maskz_loadu_ps(lanes(hk - d0), t->q[j] + d0);
            _mm512_store_ps(q + d0, t->type_k == TYPE_F16 ? round_f16(v) : v);
        }
    }
    /* scores, a block of keys at a time */
    for (int32_t kb = 0; kb < nk; kb += W) {
        int32_t nb = nk - kb < W ? nk - kb : W;
        keys_block(t, l.w, kb, nb);
        for (int32_t j = 0; j < nq; j++) {
            if (t->first[j] >= kb + nb || t->last[j] < kb)
                continue;
            _mm512_store_ps(l.s + (size_t)j * l.kstride + kb, block_scores(l.q + (size_t)j * l.hk, l.w, hk));
        }
    }
    /* probabilities (rounded to f16 for an F16 V) */
    for (int32_t j = 0; j < nq; j++) {
        float *s = l.s + (size_t)j * l.kstride;
        int32_t first = t->first[j], n = t->last[j] - first + 1;
        op_softmax(s + first, s + first, n, t->scale, NULL);
        if (t->type_v == TYPE_F16)
            for (int32_t i = first; i < first + n; i += W) {
                __mmask16 m = lanes(first + n - i);
                _mm512_mask_storeu_ps(s + i, m, round_f16(_mm512_maskz_loadu_ps(m, s + i)));
            }
        memset(l.o + (size_t)j * l.hv, 0, l.hv * sizeof(float));
    }
    /* weighted sums of the values, a block at a time */
    for (int32_t kb = 0; kb < nk; kb += W) {
        int32_t nb = nk - kb < W ? nk - kb : W;
        values_block(t, l.w, l.hv, kb, nb);
        for (int32_t j = 0; j < nq; j++) {
            int32_t i0 = t->first[j] - kb, i1 = t->last[j] - kb;
            if (i0 >= nb || i1 < 0)
                continue;
            i0 = i0 < 0 ? 0 : i0;
            i1 = i1 >= nb ? nb - 1 : i1;
            block_values(l.o + (size_t)j * l.hv, l.s + (size_t)j * l.kstride + kb, l.w, l.hv, i0, i1);
        }
    }
    for (int32_t j = 0; j < nq; j++)
        memcpy(t->out[j], l.o + (size_t)j * l.hv, (size_t)t->head_dim_v * sizeof(float));
}
