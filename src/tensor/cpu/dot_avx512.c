/*
 * dot_avx512.c - the AVX-512 (F/BW/VL/DQ + VNNI) dot-product kernels.
 * 512-bit kernels where they measured faster: F32, F16, BF16 (masked tails);
 * the blocks of 32 (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL: four blocks per
 * step, vpdpbusd; Q5_0, the bulk of gemma-3's prompt time, has its own
 * layout and up to eight rows per call) and Q6_K (half a super-block per
 * step, vpmaddubsw + vpdpwssd). The other types use the 256-bit template
 * dot_simd256.h compiled with VNNI (a 512-bit Q4_K/Q5_K was tried and was
 * slower). The blocks of 32 and Q4_K/Q5_K/Q6_K also have multi-row versions
 * (vec_dot_nrows) that unpack each weight block once for up to four (Q5_0:
 * eight) activation rows.
 *
 * As everywhere, the order of operations depends only on n. K-quant
 * super-blocks are summed exactly in integers, then scaled in float.
 * Activation int8 values are assumed in [-127, 127] (what the Q8 converters
 * produce).
 */
#define SIMD_NAME(f) f##_vl256
#define SIMD_VNNI 1
#define KQ_MAX_ROWS 8 /* 32 vector registers: the multi-row kernels take eight rows */
#define SIMD_FN static inline
#include "tensor/cpu/dot_simd256.h"

/* Types that keep the 256-bit kernels. */
#define USE_VL256(f)                                                      \
    void f##_avx512(int64_t n, float *s, const void *x, const void *y)    \
    {                                                                     \
        f##_vl256(n, s, x, y);                                            \
    }
#define USE_VL256_NROWS(f)                                                               \
    void f##_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x,           \
                          const void *y, size_t y_stride, int64_t nrows)                 \
    {                                                                                    \
        f##_nrows_vl256(n, s, s_stride, x, y, y_stride, nrows);                          \
    }
USE_VL256(dot_q2_K_q8_K)
USE_VL256(dot_q3_K_q8_K)
USE_VL256(dot_iq4_xs_q8_K)
USE_VL256(dot_q4_K_q8_K)
USE_VL256(dot_q5_K_q8_K)
USE_VL256_NROWS(dot_q4_K_q8_K)
USE_VL256_NROWS(dot_q5_K_q8_K)

/* ---- plain types ------------------------------------------------------- */

static inline __m512 load16_f32(const uint8_t *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load16_f16(const uint8_t *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
static inline __m512 load16_bf16(const uint8_t *p, __mmask16 m)
{
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* Four accumulators over 64 elements, then 16 at a time, then one masked
 * step for the last n % 16. */
#define PLAIN_DOT_512(elem, load16)                                                        \
    const uint8_t *xb = x, *yb = y;                                                        \
    const __mmask16 all = 0xffff;                                                          \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;              \
    int64_t i = 0;                                                                         \
    for (; i + 64 <= n; i += 64) {                                                         \
        const uint8_t *xp = xb + (elem) * i, *yp = yb + (elem) * i;                        \
        PREFETCH_WEIGHTS(xp, 64 * (elem));                                                 \
        acc0 = _mm512_fmadd_ps(load16(xp, all), load16(yp, all), acc0);                    \
        acc1 = _mm512_fmadd_ps(load16(xp + 16 * (elem), all), load16(yp + 16 * (elem), all), acc1); \
        acc2 = _mm512_fmadd_ps(load16(xp + 32 * (elem), all), load16(yp + 32 * (elem), all), acc2); \
        acc3 = _mm512_fmadd_ps(load16(xp + 48 * (elem), all), load16(yp + 48 * (elem), all), acc3); \
    }                                                                                      \
    for (; i + 16 <= n; i += 16)                                                           \
        acc0 = _mm512_fmadd_ps(load16(xb + (elem) * i, all), load16(yb + (elem) * i, all), acc0); \
    if (i < n) {                                                                           \
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                                    \
        acc1 = _mm512_fmadd_ps(load16(xb + (elem) * i, m), load16(yb + (elem) * i, m), acc1); \
    }                                                                                      \
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));

void dot_f32_avx512(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_512(4, load16_f32)
}

void dot_f16_avx512(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_512(2, load16_f16)
}

void dot_bf16_avx512(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_512(2, load16_bf16)
}

/* ---- blocks of 32, four per step ----------------------------------------- */

/* 32 bytes at p0 in the low half, 32 at p1 in the high half. */
static inline __m512i load_2x32(const uint8_t *p0, const uint8_t *p1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_256(p0)), load_256(p1), 1);
}

/* The f16 at p, p + stride, p + 2*stride, p + 3*stride as 4 floats. */
static inline __m128 f16x4_at(const uint8_t *p, size_t stride)
{
    uint64_t v = (uint64_t)load_u16(p) | (uint64_t)load_u16(p + stride) << 16
               | (uint64_t)load_u16(p + 2 * stride) << 32 | (uint64_t)load_u16(p + 3 * stride) << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* Lanes 0..7 = scales[first], lanes 8..15 = scales[first + 1]. */
static inline __m512 spread_scales(__m128 scales, int first)
{
    const __m512i idx = _mm512_set_epi32(first + 1, first + 1, first + 1, first + 1, first + 1, first + 1,
                                         first + 1, first + 1, first, first, first, first, first, first,
                                         first, first);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(scales));
}

/* int32 sums of 4 s8*s8 products; a in [-127, 127]. */
static inline __m512i s8s8_dot_512(__m512i w, __m512i a)
{
    __m512i a_signed = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), a_signed);
}

/* Blocks of 32, four per step with two float accumulators, against nr
 * activation rows (1, 2 or 4): the weights of two blocks are unpacked once
 * (WEIGHTS(x0, x1) -> 64 bytes) and multiplied with each row's activations
 * (PRODUCTS(w, y0, y1) -> int32x16); MIN4(acc, xp, yp, xs, ys) adds the
 * 4 min terms m*s of four blocks (Q4_1, Q5_1). A tail of up to three blocks
 * goes through the 256-bit kernel TAIL256. Defines dot_<name>_avx512 and
 * dot_<name>_nrows_avx512, which give the same bits per row. */
#define BLOCK32_KERNELS_512(name, XT, YT, QK, WEIGHTS, PRODUCTS, MIN4)                          \
    static ALWAYS_INLINE void name##_rows(int64_t n, float *s, size_t s_stride, const void *x,  \
                                          const void *y, size_t y_stride, int nr)               \
    {                                                                                           \
        const int64_t nb = n / (QK);                                                            \
        const uint8_t *xb = x, *yb = y;                                                         \
        const size_t xs = sizeof(XT), ys = sizeof(YT);                                          \
        __m512 acc0[KQ_MAX_ROWS], acc1[KQ_MAX_ROWS];                                            \
        __m128 acc_min[KQ_MAX_ROWS];                                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                                    \
        {                                                                                       \
            acc0[r] = acc1[r] = _mm512_setzero_ps();                                            \
            acc_min[r] = _mm_setzero_ps();                                                      \
        }                                                                                       \
        int64_t i = 0;                                                                          \
        for (; i + 4 <= nb; i += 4) {                                                           \
            const uint8_t *xp = xb + i * xs;                                                    \
            PREFETCH_WEIGHTS(xp, 4 * xs);                                                       \
            const __m128 dx = f16x4_at(BLOCK_FIELD(xp, XT, d), xs);                             \
            const __m512i w01 = WEIGHTS(xp, xp + xs), w23 = WEIGHTS(xp + 2 * xs, xp + 3 * xs);  \
            _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                                \
            {                                                                                   \
                const uint8_t *yp = yb + r * y_stride + i * ys;                                 \
                __m128 d = _mm_mul_ps(dx, f16x4_at(BLOCK_FIELD(yp, YT, d), ys));                \
                __m512i p01 = PRODUCTS(w01, yp, yp + ys);                                       \
                __m512i p23 = PRODUCTS(w23, yp + 2 * ys, yp + 3 * ys);                          \
                acc0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p01), spread_scales(d, 0), acc0[r]); \
                acc1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p23), spread_scales(d, 2), acc1[r]); \
                acc_min[r] = MIN4(acc_min[r], xp, yp, xs, ys);                                  \
            }                                                                                   \
        }                                                                                       \
        for (int r = 0; r < nr; r++) {                                                          \
            float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r])) + hsum_f32_128(acc_min[r]); \
            if (i < nb) {                                                                       \
                float tail;                                                                     \
                dot_##name##_vl256((nb - i) * (QK), &tail, xb + i * xs, yb + r * y_stride + i * ys); \
                sum += tail;                                                                    \
            }                                                                                   \
            s[r * s_stride] = sum;                                                              \
        }                                                                                       \
    }                                                                                           \
    void dot_##name##_avx512(int64_t n, float *s, const void *x, const void *y)                 \
    {                                                                                           \
        name##_rows(n, s, 0, x, y, 0, 1);                                                       \
    }                                                                                           \
    void dot_##name##_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x,         \
                                   const void *y, size_t y_stride, int64_t nrows)               \
    {                                                                                           \
        ROWS_IN_FOURS(name##_rows)                                                              \
    }

static inline float hsum_f32_128(__m128 v)
{
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

#define NO_MIN4(acc, xp, yp, xs, ys) (acc)
#define Q4_1_MIN4(acc, xp, yp, xs, ys) \
    _mm_fmadd_ps(f16x4_at(BLOCK_FIELD(xp, block_q4_1, m), xs), f16x4_at(BLOCK_FIELD(yp, block_q8_1, s), ys), acc)
#define Q5_1_MIN4(acc, xp, yp, xs, ys) \
    _mm_fmadd_ps(f16x4_at(BLOCK_FIELD(xp, block_q5_1, m), xs), f16x4_at(BLOCK_FIELD(yp, block_q8_1, s), ys), acc)

/* Two blocks' nibbles -> 64 bytes: lo0, hi0, lo1, hi1 (16 bytes each). */
static inline __m512i unpack_nibbles_2x16(const uint8_t *qs0, const uint8_t *qs1)
{
    __m256i both = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)qs1), _mm_loadu_si128((const __m128i *)qs0));
    __m512i spread = _mm512_shuffle_i64x2(_mm512_castsi256_si512(both), _mm512_castsi256_si512(both),
                                          _MM_SHUFFLE(1, 1, 0, 0));
    /* per-16-bit shift counts: 0 for the 128-bit lanes 0 and 2, 4 for 1 and 3 */
    const __m512i shifts = _mm512_set_epi32(0x40004, 0x40004, 0x40004, 0x40004, 0, 0, 0, 0,
                                            0x40004, 0x40004, 0x40004, 0x40004, 0, 0, 0, 0);
    __m512i shifted = _mm512_srlv_epi16(spread, shifts);
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

/* The 5th bits of two Q5 blocks: bit j of the 64-bit mask = element j of
 * block 0 (j < 32) or element j-32 of block 1, matching the byte order of
 * unpack_nibbles_2x16. */
static inline __m512i add_fifth_bits(__m512i q, const uint8_t *qh0, const uint8_t *qh1)
{
    uint32_t h0, h1;
    memcpy(&h0, qh0, 4);
    memcpy(&h1, qh1, 4);
    __mmask64 bits = (__mmask64)h0 | (__mmask64)h1 << 32;
    return _mm512_mask_add_epi8(q, bits, q, _mm512_set1_epi8(0x10)); /* sets bit 4 */
}

/* int32 sums of 4 products of unsigned weights q with activations a. */
static inline __m512i u8s8_dot_512(__m512i q, __m512i a)
{
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, a);
}

/* sum((q - offset) * a) = sum(q * a) - sum(offset * a) */
static inline __m512i offset_u8s8_dot_512(__m512i q, __m512i a, char offset)
{
    return _mm512_sub_epi32(u8s8_dot_512(q, a), u8s8_dot_512(_mm512_set1_epi8(offset), a));
}

#define Q8_0_PAIR(y0, y1) load_2x32(BLOCK_FIELD(y0, block_q8_0, qs), BLOCK_FIELD(y1, block_q8_0, qs))
#define Q8_1_PAIR(y0, y1) load_2x32(BLOCK_FIELD(y0, block_q8_1, qs), BLOCK_FIELD(y1, block_q8_1, qs))

/* Q8_0: signed weights as they are. */
#define Q8_0_WEIGHTS_X2(x0, x1) load_2x32(BLOCK_FIELD(x0, block_q8_0, qs), BLOCK_FIELD(x1, block_q8_0, qs))
#define SIGNED_PRODUCTS_X2(w, y0, y1) s8s8_dot_512(w, Q8_0_PAIR(y0, y1))
BLOCK32_KERNELS_512(q8_0_q8_0, block_q8_0, block_q8_0, QK8_0, Q8_0_WEIGHTS_X2, SIGNED_PRODUCTS_X2, NO_MIN4)

/* Q4_0: unsigned nibbles, minus 8 through the activations. */
#define Q4_0_WEIGHTS_X2(x0, x1) unpack_nibbles_2x16(BLOCK_FIELD(x0, block_q4_0, qs), BLOCK_FIELD(x1, block_q4_0, qs))
#define MINUS8_PRODUCTS_X2(w, y0, y1) offset_u8s8_dot_512(w, Q8_0_PAIR(y0, y1), 8)
BLOCK32_KERNELS_512(q4_0_q8_0, block_q4_0, block_q8_0, QK4_0, Q4_0_WEIGHTS_X2, MINUS8_PRODUCTS_X2, NO_MIN4)

/* Q4_1: unsigned nibbles; the min through the Q8_1 sums. */
#define Q4_1_WEIGHTS_X2(x0, x1) unpack_nibbles_2x16(BLOCK_FIELD(x0, block_q4_1, qs), BLOCK_FIELD(x1, block_q4_1, qs))
#define UNSIGNED_Q8_1_PRODUCTS_X2(w, y0, y1) u8s8_dot_512(w, Q8_1_PAIR(y0, y1))
BLOCK32_KERNELS_512(q4_1_q8_1, block_q4_1, block_q8_1, QK4_1, Q4_1_WEIGHTS_X2, UNSIGNED_Q8_1_PRODUCTS_X2, Q4_1_MIN4)

/* Q5_0, four blocks per step in a "128-bit lane = block" layout: lane b of
 * one register holds elements 0..15 of block b, of another elements 16..31,
 * so one int32 accumulator, one conversion and one scale vector serve all
 * four blocks. The weights are kept as |q - 16| with the sign moved onto the
 * activations (a masked negate per row); the 5th bits come straight from qh
 * as byte masks. Up to eight activation rows per unpacked step (one
 * accumulator register each). The four scales of a row come through
 * scalar loads (f16x4_at), which measured faster than a vector gather
 * (vpermt2w) as they use ports the vector work leaves idle. */
static ALWAYS_INLINE void q5_0_rows_512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                        size_t y_stride, int nr)
{
    const int64_t nb = n / QK5_0;
    const uint8_t *xb = x, *yb = y;
    const size_t xs = sizeof(block_q5_0), ys = sizeof(block_q8_0);
    __m512 acc[KQ_MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16), zero = _mm512_setzero_si512();
    const __m512i spread4 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const uint64_t lo16 = 0x0000ffff0000ffffull;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const uint8_t *xp = xb + i * xs;
        PREFETCH_WEIGHTS(xp, 4 * xs);
        __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp, block_q5_0, qs)));
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp + xs, block_q5_0, qs)), 1);
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp + 2 * xs, block_q5_0, qs)), 2);
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp + 3 * xs, block_q5_0, qs)), 3);
        uint32_t h0, h1, h2, h3;
        memcpy(&h0, BLOCK_FIELD(xp, block_q5_0, qh), 4);
        memcpy(&h1, BLOCK_FIELD(xp + xs, block_q5_0, qh), 4);
        memcpy(&h2, BLOCK_FIELD(xp + 2 * xs, block_q5_0, qh), 4);
        memcpy(&h3, BLOCK_FIELD(xp + 3 * xs, block_q5_0, qh), 4);
        const uint64_t h02 = (uint64_t)h0 | (uint64_t)h2 << 32, h13 = (uint64_t)h1 | (uint64_t)h3 << 32;
        /* weight negative (q < 16) where the 5th bit is clear */
        const __mmask64 neg_lo = (__mmask64)~((h02 & lo16) | (h13 & lo16) << 16);
        const __mmask64 neg_hi = (__mmask64)~(((h02 >> 16) & lo16) | (h13 & ~lo16));
        const __m512i nib_lo = _mm512_and_si512(q, low4);
        const __m512i nib_hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
        /* |q - 16|: the nibble where the 5th bit is set, else 16 - nibble */
        const __m512i abs_lo = _mm512_mask_sub_epi8(nib_lo, neg_lo, sixteen, nib_lo);
        const __m512i abs_hi = _mm512_mask_sub_epi8(nib_hi, neg_hi, sixteen, nib_hi);
        const __m512 dx = _mm512_permutexvar_ps(spread4, _mm512_castps128_ps512(f16x4_at(BLOCK_FIELD(xp, block_q5_0, d), xs)));
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const uint8_t *yp = yb + r * y_stride + i * ys;
            const __m512i a01 = load_2x32(yp + 2, yp + ys + 2), a23 = load_2x32(yp + 2 * ys + 2, yp + 3 * ys + 2);
            __m512i a_lo = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(2, 0, 2, 0));
            __m512i a_hi = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(3, 1, 3, 1));
            a_lo = _mm512_mask_sub_epi8(a_lo, neg_lo, zero, a_lo);
            a_hi = _mm512_mask_sub_epi8(a_hi, neg_hi, zero, a_hi);
            const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, abs_lo, a_lo), abs_hi, a_hi);
            const __m512 d = _mm512_mul_ps(dx, _mm512_permutexvar_ps(spread4, _mm512_castps128_ps512(f16x4_at(yp, ys))));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc[r]);
        }
    }
    for (int r = 0; r < nr; r++) {
        float sum = _mm512_reduce_add_ps(acc[r]);
        if (i < nb) {
            float tail;
            dot_q5_0_q8_0_vl256((nb - i) * QK5_0, &tail, xb + i * xs, yb + r * y_stride + i * ys);
            sum += tail;
        }
        s[r * s_stride] = sum;
    }
}

void dot_q5_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y)
{
    q5_0_rows_512(n, s, 0, x, y, 0, 1);
}

void dot_q5_0_q8_0_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                size_t y_stride, int64_t nrows)
{
    ROWS_IN_EIGHTS(q5_0_rows_512)
}

/* Q5_1: 5-bit unsigned; the min through the Q8_1 sums. */
#define Q5_1_WEIGHTS_X2(x0, x1)                                                                        \
    add_fifth_bits(unpack_nibbles_2x16(BLOCK_FIELD(x0, block_q5_1, qs), BLOCK_FIELD(x1, block_q5_1, qs)), \
                   BLOCK_FIELD(x0, block_q5_1, qh), BLOCK_FIELD(x1, block_q5_1, qh))
BLOCK32_KERNELS_512(q5_1_q8_1, block_q5_1, block_q8_1, QK5_1, Q5_1_WEIGHTS_X2, UNSIGNED_Q8_1_PRODUCTS_X2, Q5_1_MIN4)

/* IQ4_NL: codebook values (signed). */
static inline __m512i iq4_nl_weights(const uint8_t *x0, const uint8_t *x1)
{
    const __m512i book = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)cpu_iq4nl_codebook));
    __m512i idx = unpack_nibbles_2x16(BLOCK_FIELD(x0, block_iq4_nl, qs), BLOCK_FIELD(x1, block_iq4_nl, qs));
    return _mm512_shuffle_epi8(book, idx);
}
BLOCK32_KERNELS_512(iq4_nl_q8_0, block_iq4_nl, block_q8_0, QK4_NL, iq4_nl_weights, SIGNED_PRODUCTS_X2, NO_MIN4)

/* ---- K-quants: half a super-block (128 elements) per step --------------- */

/* 32 int16 lanes: 8 each of the scales of groups g, g+1, g+2, g+3. */
static inline __m512i scales_4x8(__m512i scales16, int g)
{
    const __m512i idx = _mm512_set_epi32(
        (g + 3) * 0x10001, (g + 3) * 0x10001, (g + 3) * 0x10001, (g + 3) * 0x10001,
        (g + 2) * 0x10001, (g + 2) * 0x10001, (g + 2) * 0x10001, (g + 2) * 0x10001,
        (g + 1) * 0x10001, (g + 1) * 0x10001, (g + 1) * 0x10001, (g + 1) * 0x10001,
        g * 0x10001, g * 0x10001, g * 0x10001, g * 0x10001);
    return _mm512_permutexvar_epi16(idx, scales16);
}

static inline __m512i load_512(const void *p) { return _mm512_loadu_si512(p); }

/* acc + scale16 * (pairwise u8*s8 products). */
static inline __m512i u8s8_dot_scaled_512(__m512i acc, __m512i u, __m512i s, __m512i scale16)
{
    return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u, s), scale16);
}

/* Q6_K, half h: ql's 64 bytes give groups 8h+0..3 (low nibbles, elements
 * 0..63 of the half) and 8h+4..7 (high nibbles, elements 64..127); the 32 qh
 * bytes give bits 4..5 of quarter k from their bits 2k..2k+1. Weights are
 * unsigned (0..63); the -32 comes back through the bsums. */
static ALWAYS_INLINE void q6_K_block_sums_512(const uint8_t *xp, const uint8_t *const yr[], int nr, int isum[])
{
    const uint8_t *ql = BLOCK_FIELD(xp, block_q6_K, ql);
    const uint8_t *qhp = BLOCK_FIELD(xp, block_q6_K, qh);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp, block_q6_K, scales));
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const __m512i scales16 = _mm512_castsi256_si512(sc16);
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    const __m512i shl_01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr_23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512i acc[KQ_MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m512i l = load_512(ql + 64 * h);
        __m512i qh = _mm512_broadcast_i64x4(load_256(qhp + 32 * h));
        __m512i w01 = _mm512_or_si512(_mm512_and_si512(l, low4),
                                      _mm512_and_si512(_mm512_sllv_epi16(qh, shl_01), bits45));
        __m512i w23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                      _mm512_and_si512(_mm512_srlv_epi16(qh, shr_23), bits45));
        __m512i sc01 = scales_4x8(scales16, 8 * h), sc23 = scales_4x8(scales16, 8 * h + 4);
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const int8_t *a = (const int8_t *)BLOCK_FIELD(yr[r], block_q8_K, qs);
            acc[r] = u8s8_dot_scaled_512(acc[r], w01, load_512(a + 128 * h), sc01);
            acc[r] = u8s8_dot_scaled_512(acc[r], w23, load_512(a + 128 * h + 64), sc23);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++) {
        __m256i offset = _mm256_madd_epi16(sc16, load_256(BLOCK_FIELD(yr[r], block_q8_K, bsums)));
        isum[r] = _mm512_reduce_add_epi32(acc[r]) - 32 * hsum_i32(offset);
    }
}

static ALWAYS_INLINE void q6_K_rows_512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                        size_t y_stride, int nr)
{
    const uint8_t *xb = x;
    float sum[KQ_MAX_ROWS] = { 0.0f };
    for (int64_t i = 0; i < n / QK_K; i++, xb += sizeof(block_q6_K)) {
        PREFETCH_WEIGHTS(xb, sizeof(block_q6_K));
        KQ_ROW_BLOCKS(yr, y, y_stride, i, nr)
        int isum[KQ_MAX_ROWS];
        q6_K_block_sums_512(xb, yr, nr, isum);
        const float d = SIMD_F16(BLOCK_FIELD(xb, block_q6_K, d));
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++)
            sum[r] = fmaf(Q8K_D(yr[r]) * d, (float)isum[r], sum[r]);
    }
    for (int r = 0; r < nr; r++)
        s[r * s_stride] = sum[r];
}

void dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y)
{
    q6_K_rows_512(n, s, 0, x, y, 0, 1);
}

void dot_q6_K_q8_K_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                size_t y_stride, int64_t nrows)
{
    ROWS_IN_EIGHTS(q6_K_rows_512)
}

/* Multi-row versions: a loop over the one-row kernel. */
CLLM_NROWS_BY_LOOP(f32, avx512)
CLLM_NROWS_BY_LOOP(f16, avx512)
CLLM_NROWS_BY_LOOP(bf16, avx512)
CLLM_NROWS_BY_LOOP(q2_K_q8_K, avx512)
CLLM_NROWS_BY_LOOP(q3_K_q8_K, avx512)
CLLM_NROWS_BY_LOOP(iq4_xs_q8_K, avx512)
