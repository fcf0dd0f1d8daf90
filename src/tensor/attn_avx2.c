/*
 * attn_avx2.c - the attention tile (attn.h) with AVX2/FMA: 8 keys' scores
 * per vector (the block's keys transposed once for all the queries), 8
 * dims of the output per vector. Same bits as attn_avx512.c, and as the
 * scalar reference up to the softmax.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/attn_impl.h"
#include "tensor/ops.h"

#define W 8 /* lanes */

/* Elements d0 .. d0+n-1 (n <= 8) of a row (F16 or F32), the rest zero. */
static inline __m256 load_row(const void *row, enum tensor_type type, int32_t d0, int32_t n)
{
    if (type == TYPE_F16) {
        const uint16_t *p = (const uint16_t *)row + d0;
        if (n >= W)
            return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        uint16_t tmp[W] = { 0 };
        memcpy(tmp, p, (size_t)n * 2);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tmp));
    }
    const float *p = (const float *)row + d0;
    if (n >= W)
        return _mm256_loadu_ps(p);
    float tmp[W] = { 0 };
    memcpy(tmp, p, (size_t)n * 4);
    return _mm256_loadu_ps(tmp);
}

static inline void transpose8(__m256 r[8])
{
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        t[c] = _mm256_permute2f128_ps(r[c], r[c + 4], 0x20);
        t[c + 4] = _mm256_permute2f128_ps(r[c], r[c + 4], 0x31);
    }
    for (int i = 0; i < 8; i++)
        r[i] = t[i];
}

static void keys_block(const struct attn_tile *t, float *w, int32_t kb, int32_t nb)
{
    const int32_t hk = t->head_dim_k;
    for (int32_t d0 = 0; d0 < hk; d0 += W) {
        __m256 r[8];
        for (int i = 0; i < W; i++)
            r[i] = i < nb ? load_row(t->k[kb + i], t->type_k, d0, hk - d0) : _mm256_setzero_ps();
        transpose8(r);
        int32_t nd = hk - d0 < W ? hk - d0 : W;
        for (int i = 0; i < nd; i++)
            _mm256_store_ps(w + (size_t)(d0 + i) * W, r[i]);
    }
}

static void values_block(const struct attn_tile *t, float *w, size_t hv, int32_t kb, int32_t nb)
{
    for (int32_t i = 0; i < nb; i++)
        for (int32_t d0 = 0; d0 < (int32_t)hv; d0 += W)
            _mm256_store_ps(w + i * hv + d0, load_row(t->v[kb + i], t->type_v, d0, t->head_dim_v - d0));
}

static inline __m256 block_scores_p(const float *q, const float *w, int32_t hk, const int p)
{
    __m256 a[ATTN_MAX_PARTS];
#pragma GCC unroll 16
    for (int k = 0; k < p; k++)
        a[k] = _mm256_setzero_ps();
    int32_t d = 0;
    for (; d + p <= hk; d += p) {
#pragma GCC unroll 16
        for (int k = 0; k < p; k++)
            a[k] = _mm256_fmadd_ps(_mm256_set1_ps(q[d + k]), _mm256_load_ps(w + (size_t)(d + k) * W), a[k]);
    }
    for (int k = 0; d + k < hk; k++)
        a[k] = _mm256_fmadd_ps(_mm256_set1_ps(q[d + k]), _mm256_load_ps(w + (size_t)(d + k) * W), a[k]);
    for (int n = p; n > 1; n /= 2) {
#pragma GCC unroll 8
        for (int k = 0; k < n / 2; k++)
            a[k] = _mm256_add_ps(a[2 * k], a[2 * k + 1]);
    }
    return a[0];
}

/* W scores of query q against a transposed block (attn_parts(hk) partial sums). */
static inline __m256 block_scores(const float *q, const float *w, int32_t hk)
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

static inline void block_values(float *o, const float *p, const float *w, size_t hv, int32_t i0, int32_t i1)
{
    for (size_t c = 0; c < hv; c += W) {
        __m256 acc = _mm256_load_ps(o + c);
        for (int32_t i = i0; i <= i1; i++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), _mm256_load_ps(w + i * hv + c), acc);
        _mm256_store_ps(o + c, acc);
    }
}

static inline __m256 round_f16(__m256 x)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void attn_tile_avx2(const struct attn_tile *t, float *scratch)
{
    struct attn_layout l = attn_layout(t, scratch);
    const int32_t hk = t->head_dim_k, nq = t->n_q, nk = t->n_keys;
    for (int32_t j = 0; j < nq; j++) {
        float *q = l.q + (size_t)j * l.hk;
        memset(q, 0, l.hk * sizeof(float));
        memcpy(q, t->q[j], (size_t)hk * sizeof(float));
        if (t->type_k == TYPE_F16)
            for (size_t d0 = 0; d0 < l.hk; d0 += W)
                _mm256_store_ps(q + d0, round_f16(_mm256_load_ps(q + d0)));
    }
    for (int32_t kb = 0; kb < nk; kb += W) {
        int32_t nb = nk - kb < W ? nk - kb : W;
        keys_block(t, l.w, kb, nb);
        for (int32_t j = 0; j < nq; j++) {
            if (t->first[j] >= kb + nb || t->last[j] < kb)
                continue;
            _mm256_store_ps(l.s + (size_t)j * l.kstride + kb, block_scores(l.q + (size_t)j * l.hk, l.w, hk));
        }
    }
    for (int32_t j = 0; j < nq; j++) {
        float *s = l.s + (size_t)j * l.kstride;
        int32_t first = t->first[j], n = t->last[j] - first + 1;
        op_softmax(s + first, s + first, n, t->scale, NULL);
        if (t->type_v == TYPE_F16) {
            int32_t i = first;
            for (; i + W <= first + n; i += W)
                _mm256_storeu_ps(s + i, round_f16(_mm256_loadu_ps(s + i)));
            for (; i < first + n; i++)
                s[i] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(s[i]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
        }
        memset(l.o + (size_t)j * l.hv, 0, l.hv * sizeof(float));
    }
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
