/*
 * attn_simd.h - the attention tile (tensor/attn.h) on SIMD vectors, written
 * once and compiled twice: by attn_avx2.c (8 lanes of 256 bits) and by
 * attn_avx512.c (16 lanes of 512 bits). Lanes are keys for the scores (the
 * block's keys transposed once for all the queries) and dims for the
 * output, so the lane width changes no result: both give the same bits, and
 * the same as attn_scalar.c up to the softmax's exp.
 *
 * Include after defining, for the target's vectors:
 *   SIMD_NAME(f)        the public name of kernel f (e.g. f##_avx2)
 *   W                   lanes per vector
 *   vec                 the vector type
 *   V_ZERO()            all lanes 0
 *   V_SET1(x)           all lanes x
 *   V_LOAD(p)/V_STORE(p, v)  aligned loads and stores of W floats
 *   V_FMA(a, b, c)      a * b + c, fused
 *   V_ADD(a, b)         a + b
 *   V_ROUND_F16(v)      each lane rounded to f16 and back
 * and these static inline functions:
 *   vec load_f32_n(const float *p, int32_t n)     p[0..n) (n may be < 1 or
 *                                                   > W), the rest zero
 *   vec load_f16_n(const uint16_t *p, int32_t n)  the same from f16
 *   void store_f32_n(float *p, int32_t n, vec v)   lanes 0..min(n, W)
 *   void transpose(vec r[W])                       r[i] lane j <-> r[j] lane i
 */
#include <string.h>

#include "tensor/cpu/attn_impl.h"
#include "tensor/ops.h"

/* Elements d0 .. d0+n-1 of a row (F16 or F32), the rest zero. */
static inline vec load_row(const void *row, enum tensor_type type, int32_t d0, int32_t n)
{
    if (type == TYPE_F16)
        return load_f16_n((const uint16_t *)row + d0, n);
    return load_f32_n((const float *)row + d0, n);
}

/* Keys kb .. kb+nb-1 transposed into w: row d (W floats) = dim d of each key. */
static void keys_block(const struct attn_tile *t, float *w, int32_t kb, int32_t nb)
{
    const int32_t hk = t->head_dim_k;
    for (int32_t d0 = 0; d0 < hk; d0 += W) {
        vec r[W];
        for (int i = 0; i < W; i++)
            r[i] = i < nb ? load_row(t->k[kb + i], t->type_k, d0, hk - d0) : V_ZERO();
        transpose(r);
        int32_t nd = hk - d0 < W ? hk - d0 : W;
        for (int i = 0; i < nd; i++)
            V_STORE(w + (size_t)(d0 + i) * W, r[i]);
    }
}

/* Values kb .. kb+nb-1 into w: row i (hv floats, zero padded) = value of key kb+i. */
static void values_block(const struct attn_tile *t, float *w, size_t hv, int32_t kb, int32_t nb)
{
    for (int32_t i = 0; i < nb; i++)
        for (int32_t d0 = 0; d0 < (int32_t)hv; d0 += W)
            V_STORE(w + i * hv + d0, load_row(t->v[kb + i], t->type_v, d0, t->head_dim_v - d0));
}

/* W scores of query q against a transposed block, in p partial sums. */
static inline vec block_scores_p(const float *q, const float *w, int32_t hk, const int p)
{
    vec a[ATTN_MAX_PARTS];
#pragma GCC unroll 16
    for (int k = 0; k < p; k++)
        a[k] = V_ZERO();
    int32_t d = 0;
    for (; d + p <= hk; d += p) {
#pragma GCC unroll 16
        for (int k = 0; k < p; k++)
            a[k] = V_FMA(V_SET1(q[d + k]), V_LOAD(w + (size_t)(d + k) * W), a[k]);
    }
    for (int k = 0; d + k < hk; k++)
        a[k] = V_FMA(V_SET1(q[d + k]), V_LOAD(w + (size_t)(d + k) * W), a[k]);
    for (int n = p; n > 1; n /= 2) {
#pragma GCC unroll 8
        for (int k = 0; k < n / 2; k++)
            a[k] = V_ADD(a[2 * k], a[2 * k + 1]);
    }
    return a[0];
}

/* W scores of query q against a transposed block (attn_parts(hk) partial sums). */
static inline vec block_scores(const float *q, const float *w, int32_t hk)
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
        vec acc = V_LOAD(o + c);
        for (int32_t i = i0; i <= i1; i++)
            acc = V_FMA(V_SET1(p[i]), V_LOAD(w + i * hv + c), acc);
        V_STORE(o + c, acc);
    }
}

void SIMD_NAME(attn_tile)(const struct attn_tile *t, float *scratch)
{
    struct attn_layout l = attn_layout(t, scratch);
    const int32_t hk = t->head_dim_k, nq = t->n_q, nk = t->n_keys;
    /* queries as used (rounded to f16 for an F16 K), zero padded */
    for (int32_t j = 0; j < nq; j++) {
        float *q = l.q + (size_t)j * l.hk;
        for (int32_t d0 = 0; d0 < (int32_t)l.hk; d0 += W) {
            vec v = load_f32_n(t->q[j] + d0, hk - d0);
            V_STORE(q + d0, t->type_k == TYPE_F16 ? V_ROUND_F16(v) : v);
        }
    }
    /* scores, a block of keys at a time */
    for (int32_t kb = 0; kb < nk; kb += W) {
        int32_t nb = nk - kb < W ? nk - kb : W;
        keys_block(t, l.w, kb, nb);
        for (int32_t j = 0; j < nq; j++) {
            if (t->first[j] >= kb + nb || t->last[j] < kb)
                continue;
            V_STORE(l.s + (size_t)j * l.kstride + kb, block_scores(l.q + (size_t)j * l.hk, l.w, hk));
        }
    }
    /* probabilities (rounded to f16 for an F16 V) */
    for (int32_t j = 0; j < nq; j++) {
        float *s = l.s + (size_t)j * l.kstride;
        int32_t first = t->first[j], n = t->last[j] - first + 1;
        op_softmax(s + first, s + first, n, t->scale, NULL);
        if (t->type_v == TYPE_F16)
            for (int32_t i = first; i < first + n; i += W)
                store_f32_n(s + i, first + n - i, V_ROUND_F16(load_f32_n(s + i, first + n - i)));
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
