/*
 * dot_avx512.c - the AVX-512 (F/BW/VL/DQ + VNNI) dot-product kernels.
 * 512-bit kernels where they measured faster: F32, F16, BF16 (masked tails);
 * the blocks of 32 with signed weights against Q8_0 (Q4_0, Q5_0, Q8_0,
 * IQ4_NL: four blocks per step in a "lane = block" layout, two steps per
 * float update, vpdpbusd; also on packed activations, kernels.h), the
 * unsigned ones against Q8_1 (Q4_1, Q5_1: four blocks per step), and Q4_K,
 * Q5_K, Q6_K (vpmaddubsw + vpdpwssd, a float vector accumulator per row).
 * The other types use the 256-bit template dot_simd256.h compiled with VNNI.
 * All have multi-row versions (vec_dot_nrows) that unpack the weights once
 * for up to eight activation rows (Q4_0/Q5_0/Q8_0/IQ4_NL: up to 64).
 *
 * As everywhere, the order of operations depends only on n. Block sums are
 * exact in integers, then scaled in float. Activation int8 values are
 * assumed in [-127, 127] (what the Q8 converters produce).
 */
#include <stdalign.h>

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
USE_VL256(cpu_dot_q2_K_q8_K)
USE_VL256(cpu_dot_q3_K_q8_K)
USE_VL256(cpu_dot_iq4_xs_q8_K)

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

void cpu_dot_f32_avx512(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_512(4, load16_f32)
}

void cpu_dot_f16_avx512(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_512(2, load16_f16)
}

void cpu_dot_bf16_avx512(int64_t n, float *s, const void *x, const void *y)
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
                cpu_dot_##name##_vl256((nb - i) * (QK), &tail, xb + i * xs, yb + r * y_stride + i * ys); \
                sum += tail;                                                                    \
            }                                                                                   \
            s[r * s_stride] = sum;                                                              \
        }                                                                                       \
    }                                                                                           \
    void cpu_dot_##name##_avx512(int64_t n, float *s, const void *x, const void *y)                 \
    {                                                                                           \
        name##_rows(n, s, 0, x, y, 0, 1);                                                       \
    }                                                                                           \
    void cpu_dot_##name##_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x,         \
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

/* Q4_1: unsigned nibbles; the min through the Q8_1 sums. */
#define Q4_1_WEIGHTS_X2(x0, x1) unpack_nibbles_2x16(BLOCK_FIELD(x0, block_q4_1, qs), BLOCK_FIELD(x1, block_q4_1, qs))
#define UNSIGNED_Q8_1_PRODUCTS_X2(w, y0, y1) u8s8_dot_512(w, Q8_1_PAIR(y0, y1))
BLOCK32_KERNELS_512(q4_1_q8_1, block_q4_1, block_q8_1, QK4_1, Q4_1_WEIGHTS_X2, UNSIGNED_Q8_1_PRODUCTS_X2, Q4_1_MIN4)

/* ---- signed blocks of 32 against Q8_0: Q4_0, Q5_0, Q8_0, IQ4_NL --------
 *
 * A step takes four blocks in a "128-bit lane = block" layout: lane b of one
 * register holds elements 0..15 of block b, of another elements 16..31; the
 * weights are unpacked once per step into signed int8 (struct s4w) and used
 * against up to eight activation rows. The activations go in as a + 128
 * (unsigned, for vpdpbusd), and the extra 128 * sum(w) is taken off by
 * starting each row's sums from corr = -128 * sum(w), made once per step.
 * Two steps (8 blocks) make a group: the two steps' int32 sums (four lanes
 * per block) are added up exactly into two lanes per block (in 128-bit
 * lane m: block m of step 0 in int32 lanes 0 and 2, of step 1 in 1 and 3),
 * so that one conversion, one scale product and one FMA per row serve 8
 * blocks:
 *   acc += float(block sums) * (dx * dy)        (16 lanes)
 * (Groups of four steps need more registers than there are.) A last group
 * may have one step (its other lanes add 0); the row's 16
 * lanes are summed once at the end, and a tail of up to three blocks goes
 * through the 256-bit kernel. The packed activations (kernels.h) hold
 * a + 128 and dy already in this layout; plain ones are rearranged per row.
 * Both give the same bits. */
struct s4w {
    __m512i lo, hi, corr;
};

static ALWAYS_INLINE struct s4w s4w_make(__m512i lo, __m512i hi)
{
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), k128, lo), k128, hi);
    struct s4w w = { lo, hi, _mm512_sub_epi32(_mm512_setzero_si512(), sum) };
    return w;
}

static const int32_t group_scale_idx[16] = { 0, 4, 0, 4, 1, 5, 1, 5, 2, 6, 2, 6, 3, 7, 3, 7 };

/* The f16 scales of the blocks of a group of `steps` steps (block j at
 * p + j * stride) as 16 floats in group lane order (block m of step k in
 * 128-bit lane m, floats k and k + 2), those of a missing step 0. */
static ALWAYS_INLINE __m512 group_scales(const uint8_t *p, size_t stride, int steps)
{
    __m128 s0 = f16x4_at(p, stride);
    __m128 s1 = steps > 1 ? f16x4_at(p + 4 * stride, stride) : _mm_setzero_ps();
    __m512 both = _mm512_castps256_ps512(_mm256_set_m128(s1, s0));
    return _mm512_permutexvar_ps(_mm512_loadu_si512(group_scale_idx), both);
}

/* Two steps' sums (four int32 lanes per block) -> two lanes per block, in
 * group lane order. */
static inline __m512i group_sums(__m512i p0, __m512i p1)
{
    return _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
}

/* 16 bytes at p, p + stride, p + 2*stride, p + 3*stride in the four 128-bit lanes. */
static inline __m512i load_4x16(const uint8_t *p, size_t stride)
{
    __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
    return _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
}

/* Four 32-byte runs at p, p + stride, ... -> elements 0..15 of each (lo) and 16..31 (hi). */
static inline void split_4x32(const uint8_t *p, size_t stride, __m512i *lo, __m512i *hi)
{
    const __m512i a01 = load_2x32(p, p + stride), a23 = load_2x32(p + 2 * stride, p + 3 * stride);
    *lo = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(2, 0, 2, 0));
    *hi = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(3, 1, 3, 1));
}

static ALWAYS_INLINE struct s4w q4_0_step(const uint8_t *xp)
{
    const __m512i q = load_4x16(BLOCK_FIELD(xp, block_q4_0, qs), sizeof(block_q4_0));
    const __m512i low4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    return s4w_make(_mm512_sub_epi8(_mm512_and_si512(q, low4), eight),
                    _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q, 4), low4), eight));
}

static ALWAYS_INLINE struct s4w iq4_nl_step(const uint8_t *xp)
{
    const __m512i q = load_4x16(BLOCK_FIELD(xp, block_iq4_nl, qs), sizeof(block_iq4_nl));
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i book = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)cpu_iq4nl_codebook));
    return s4w_make(_mm512_shuffle_epi8(book, _mm512_and_si512(q, low4)),
                    _mm512_shuffle_epi8(book, _mm512_and_si512(_mm512_srli_epi16(q, 4), low4)));
}

/* Q5_0: the 5th bits come straight from qh as byte masks; a weight is
 * nibble - 16 where its 5th bit is clear, else the nibble. */
static ALWAYS_INLINE struct s4w q5_0_step(const uint8_t *xp)
{
    const size_t xs = sizeof(block_q5_0);
    const __m512i q = load_4x16(BLOCK_FIELD(xp, block_q5_0, qs), xs);
    uint32_t h0, h1, h2, h3;
    memcpy(&h0, BLOCK_FIELD(xp, block_q5_0, qh), 4);
    memcpy(&h1, BLOCK_FIELD(xp + xs, block_q5_0, qh), 4);
    memcpy(&h2, BLOCK_FIELD(xp + 2 * xs, block_q5_0, qh), 4);
    memcpy(&h3, BLOCK_FIELD(xp + 3 * xs, block_q5_0, qh), 4);
    const uint64_t lo16 = 0x0000ffff0000ffffull;
    const uint64_t h02 = (uint64_t)h0 | (uint64_t)h2 << 32, h13 = (uint64_t)h1 | (uint64_t)h3 << 32;
    const __mmask64 neg_lo = (__mmask64)~((h02 & lo16) | (h13 & lo16) << 16);
    const __mmask64 neg_hi = (__mmask64)~(((h02 >> 16) & lo16) | (h13 & ~lo16));
    const __m512i low4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    const __m512i nib_lo = _mm512_and_si512(q, low4);
    const __m512i nib_hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    return s4w_make(_mm512_mask_sub_epi8(nib_lo, neg_lo, nib_lo, sixteen),
                    _mm512_mask_sub_epi8(nib_hi, neg_hi, nib_hi, sixteen));
}

static ALWAYS_INLINE struct s4w q8_0_step(const uint8_t *xp)
{
    __m512i lo, hi;
    split_4x32(BLOCK_FIELD(xp, block_q8_0, qs), sizeof(block_q8_0), &lo, &hi);
    return s4w_make(lo, hi);
}

#define Q8P_STEP 128 /* packed bytes per step: a + 128 of elements 0..15, then 16..31 of 4 blocks */
#define Q8P_GROUP CPU_Q8_0_PACKED_GROUP /* 2 steps + 16 scales */

/* A group's weights, unpacked: two steps and the 16 scales. */
struct s4g {
    struct s4w w[2];
    __m512 dx;
};

#define S4_CHUNK 32   /* groups unpacked at a time (14 KiB) */
#define S4_ROWS 64    /* activation rows per pass over the unpacked groups */

/* Rows r .. r+nr-1 (nr 1, 2, 4 or 8) against groups g[0 .. n_full-1] of two
 * steps and, if last1, g[n_full] of one step; the activations of group 0 at
 * yb (row 0), gy bytes per group. Accumulates into acc[0 .. nr-1]. */
static ALWAYS_INLINE void s4_rows(const struct s4g *g, int n_full, int last1, const uint8_t *yb,
                                  size_t y_stride, size_t gy, int nr, int packed, __m512 *accp)
{
    __m512 acc[KQ_MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        acc[r] = accp[r];
    for (int gi = 0; gi < n_full + last1; gi++) {
        const int steps = gi < n_full ? 2 : 1;
        const struct s4w w0 = g[gi].w[0], w1 = g[gi].w[1];
        const __m512 dx = g[gi].dx;
        const uint8_t *yg = yb + (size_t)gi * gy;
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const uint8_t *y_ = yg + r * y_stride;
            __m512i alo0, ahi0, alo1, ahi1;
            __m512 dy;
            if (packed) {
                alo0 = _mm512_loadu_si512(y_);
                ahi0 = _mm512_loadu_si512(y_ + 64);
                alo1 = _mm512_loadu_si512(y_ + Q8P_STEP);
                ahi1 = _mm512_loadu_si512(y_ + Q8P_STEP + 64);
                dy = _mm512_loadu_ps(y_ + steps * Q8P_STEP);
            } else {
                const __m512i flip = _mm512_set1_epi8((char)0x80);
                split_4x32(BLOCK_FIELD(y_, block_q8_0, qs), sizeof(block_q8_0), &alo0, &ahi0);
                alo0 = _mm512_xor_si512(alo0, flip);
                ahi0 = _mm512_xor_si512(ahi0, flip);
                if (steps > 1) {
                    split_4x32(BLOCK_FIELD(y_ + 4 * sizeof(block_q8_0), block_q8_0, qs), sizeof(block_q8_0),
                               &alo1, &ahi1);
                    alo1 = _mm512_xor_si512(alo1, flip);
                    ahi1 = _mm512_xor_si512(ahi1, flip);
                }
                dy = group_scales(y_, sizeof(block_q8_0), steps);
            }
            const __m512i p0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(w0.corr, alo0, w0.lo), ahi0, w0.hi);
            const __m512i p1 = steps > 1 ? _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(w1.corr, alo1, w1.lo), ahi1, w1.hi)
                                         : _mm512_setzero_si512();
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(group_sums(p0, p1)), _mm512_mul_ps(dx, dy), acc[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        accp[r] = acc[r];
}

/* dot_<name>, _nrows and _nrows_packed: a weight row's groups are unpacked
 * S4_CHUNK at a time and then used against up to S4_ROWS rows, 8 at a time
 * (each row's float accumulator goes through memory between chunks: same
 * bits). */
#define S4_KERNELS(name, XT, STEP)                                                                 \
    static ALWAYS_INLINE void name##_prep(const uint8_t *xp, int steps, struct s4g *g)            \
    {                                                                                              \
        g->w[0] = STEP(xp);                                                                        \
        if (steps > 1)                                                                             \
            g->w[1] = STEP(xp + 4 * sizeof(XT));                                                   \
        g->dx = group_scales(xp + offsetof(XT, d), sizeof(XT), steps);                             \
    }                                                                                              \
    static ALWAYS_INLINE void name##_s4(int64_t n, float *s, size_t s_stride, const void *x,        \
                                        const void *y, size_t y_stride, int64_t nrows, int packed)  \
    {                                                                                              \
        const int64_t nb = n / QK8_0, nsteps = nb / 4, ngroups = (nsteps + 1) / 2;                 \
        const uint8_t *xb = x, *yb = y;                                                            \
        const size_t xs = sizeof(XT), ys = sizeof(block_q8_0);                                     \
        const size_t gy = packed ? Q8P_GROUP : 8 * ys; /* activation bytes per group */           \
        const size_t tail_off = packed ? (size_t)(nsteps / 2) * Q8P_GROUP + (nsteps % 2 ? Q8P_STEP + 64 : 0) \
                                       : (size_t)(4 * nsteps) * ys;                                \
        alignas(64) struct s4g g[S4_CHUNK];                                                        \
        alignas(64) __m512 acc[S4_ROWS];                                                           \
        if (nrows == 1) { /* one row: each group used as soon as it is unpacked */               \
            acc[0] = _mm512_setzero_ps();                                                          \
            for (int64_t k = 0; k < ngroups; k++) {                                                \
                const int last1 = k == ngroups - 1 && nsteps % 2;                                  \
                PREFETCH_WEIGHTS(xb + (size_t)k * 8 * xs, 8 * xs);                                 \
                name##_prep(xb + (size_t)k * 8 * xs, last1 ? 1 : 2, &g[0]);                        \
                s4_rows(g, !last1, last1, yb + (size_t)k * gy, y_stride, gy, 1, packed, acc);      \
            }                                                                                      \
            nrows = 0; /* done but for the sum and the tail below */                               \
            float sum = _mm512_reduce_add_ps(acc[0]);                                              \
            if (4 * nsteps < nb) {                                                                 \
                float tail;                                                                        \
                cpu_dot_##name##_vl256((nb - 4 * nsteps) * QK8_0, &tail, xb + 4 * nsteps * xs, yb + tail_off); \
                sum += tail;                                                                       \
            }                                                                                      \
            s[0] = sum;                                                                            \
        }                                                                                          \
        for (int64_t r0 = 0; r0 < nrows; r0 += S4_ROWS) {                                          \
            const int rows = nrows - r0 < S4_ROWS ? (int)(nrows - r0) : S4_ROWS;                   \
            for (int r = 0; r < rows; r++)                                                         \
                acc[r] = _mm512_setzero_ps();                                                      \
            for (int64_t g0 = 0; g0 < ngroups; g0 += S4_CHUNK) {                                   \
                const int gc = ngroups - g0 < S4_CHUNK ? (int)(ngroups - g0) : S4_CHUNK;           \
                const int last1 = g0 + gc == ngroups && nsteps % 2;                                \
                const uint8_t *xp = xb + (size_t)g0 * 8 * xs;                                      \
                for (int k = 0; k < gc - last1; k++) {                                             \
                    PREFETCH_WEIGHTS(xp + (size_t)k * 8 * xs, 8 * xs);                             \
                    name##_prep(xp + (size_t)k * 8 * xs, 2, &g[k]);                                \
                }                                                                                  \
                if (last1)                                                                         \
                    name##_prep(xp + (size_t)(gc - 1) * 8 * xs, 1, &g[gc - 1]);                    \
                const uint8_t *yg = yb + (size_t)r0 * y_stride + (size_t)g0 * gy;                  \
                int r = 0;                                                                         \
                for (; r + 8 <= rows; r += 8)                                                      \
                    s4_rows(g, gc - last1, last1, yg + r * y_stride, y_stride, gy, 8, packed, acc + r); \
                if (r + 4 <= rows) {                                                               \
                    s4_rows(g, gc - last1, last1, yg + r * y_stride, y_stride, gy, 4, packed, acc + r); \
                    r += 4;                                                                        \
                }                                                                                  \
                if (r + 2 <= rows) {                                                               \
                    s4_rows(g, gc - last1, last1, yg + r * y_stride, y_stride, gy, 2, packed, acc + r); \
                    r += 2;                                                                        \
                }                                                                                  \
                if (r < rows)                                                                      \
                    s4_rows(g, gc - last1, last1, yg + r * y_stride, y_stride, gy, 1, packed, acc + r); \
            }                                                                                      \
            for (int r = 0; r < rows; r++) {                                                       \
                float sum = _mm512_reduce_add_ps(acc[r]);                                          \
                if (4 * nsteps < nb) {                                                             \
                    float tail;                                                                    \
                    cpu_dot_##name##_vl256((nb - 4 * nsteps) * QK8_0, &tail, xb + 4 * nsteps * xs,     \
                                       yb + (size_t)(r0 + r) * y_stride + tail_off);              \
                    sum += tail;                                                                   \
                }                                                                                  \
                s[(r0 + r) * s_stride] = sum;                                                      \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void cpu_dot_##name##_avx512(int64_t n, float *s, const void *x, const void *y)                    \
    {                                                                                              \
        name##_s4(n, s, 0, x, y, 0, 1, 0);                                                         \
    }                                                                                              \
    void cpu_dot_##name##_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x,            \
                                   const void *y, size_t y_stride, int64_t nrows)                  \
    {                                                                                              \
        name##_s4(n, s, s_stride, x, y, y_stride, nrows, 0);                                       \
    }                                                                                              \
    void cpu_dot_##name##_nrows_packed_avx512(int64_t n, float *s, size_t s_stride, const void *x,     \
                                          const void *y, size_t y_stride, int64_t nrows)           \
    {                                                                                              \
        name##_s4(n, s, s_stride, x, y, y_stride, nrows, 1);                                       \
    }

S4_KERNELS(q4_0_q8_0, block_q4_0, q4_0_step)
S4_KERNELS(q5_0_q8_0, block_q5_0, q5_0_step)
S4_KERNELS(q8_0_q8_0, block_q8_0, q8_0_step)
S4_KERNELS(iq4_nl_q8_0, block_iq4_nl, iq4_nl_step)

/* Q8_0 rows in the packed layout (kernels.h): blocks quantized as
 * cpu_from_float_q8_0 does (same bits), then rearranged a group at a time. */
void cpu_from_float_q8_0_packed_avx512(const float *x, void *y, int64_t n)
{
    const int64_t nb = n / QK8_0, nsteps = nb / 4;
    const size_t ys = sizeof(block_q8_0);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    uint8_t *out = y;
    for (int64_t st = 0; st < nsteps; st += 2) {
        const int steps = nsteps - st < 2 ? (int)(nsteps - st) : 2;
        block_q8_0 tmp[8];
        cpu_from_float_q8_0_avx512(x + st * 4 * QK8_0, tmp, (int64_t)steps * 4 * QK8_0);
        const uint8_t *tp = (const uint8_t *)tmp;
        for (int k = 0; k < steps; k++) {
            __m512i lo, hi;
            split_4x32(BLOCK_FIELD(tp + 4 * k * ys, block_q8_0, qs), ys, &lo, &hi);
            _mm512_storeu_si512(out + k * Q8P_STEP, _mm512_xor_si512(lo, flip));
            _mm512_storeu_si512(out + k * Q8P_STEP + 64, _mm512_xor_si512(hi, flip));
        }
        _mm512_storeu_ps(out + steps * Q8P_STEP, group_scales(tp, ys, steps));
        out += steps * Q8P_STEP + 64;
    }
    if (nb % 4)
        cpu_from_float_q8_0_avx512(x + nsteps * 4 * QK8_0, out, (nb % 4) * QK8_0);
}

/* Q5_1: 5-bit unsigned; the min through the Q8_1 sums. */
#define Q5_1_WEIGHTS_X2(x0, x1)                                                                        \
    add_fifth_bits(unpack_nibbles_2x16(BLOCK_FIELD(x0, block_q5_1, qs), BLOCK_FIELD(x1, block_q5_1, qs)), \
                   BLOCK_FIELD(x0, block_q5_1, qh), BLOCK_FIELD(x1, block_q5_1, qh))
BLOCK32_KERNELS_512(q5_1_q8_1, block_q5_1, block_q8_1, QK5_1, Q5_1_WEIGHTS_X2, UNSIGNED_Q8_1_PRODUCTS_X2, Q5_1_MIN4)


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

/* K-quant super-blocks against up to eight activation rows: each row's
 * integer sums stay in a vector (16 int32 lanes) for the super-block, and
 * are then scaled into a float vector accumulator (one FMA per row and
 * super-block, no horizontal sum); a row's float vector is summed once at
 * the end. (A horizontal sum per super-block and row cost about as much as
 * the multiply-adds.) */

/* Q6_K, half h: ql's 64 bytes give groups 8h+0..3 (low nibbles, elements
 * 0..63 of the half) and 8h+4..7 (high nibbles, elements 64..127); the 32 qh
 * bytes give bits 4..5 of quarter k from their bits 2k..2k+1. Weights are
 * unsigned (0..63); the -32 comes back through the bsums, in the integer
 * lanes (it has the same scale d). */
static ALWAYS_INLINE void q6_K_rows_512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                        size_t y_stride, int nr)
{
    const uint8_t *xb = x;
    __m512 accf[KQ_MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        accf[r] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    const __m512i shl_01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr_23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    for (int64_t i = 0; i < n / QK_K; i++, xb += sizeof(block_q6_K)) {
        PREFETCH_WEIGHTS(xb, sizeof(block_q6_K));
        KQ_ROW_BLOCKS(yr, y, y_stride, i, nr)
        const uint8_t *ql = BLOCK_FIELD(xb, block_q6_K, ql);
        const uint8_t *qhp = BLOCK_FIELD(xb, block_q6_K, qh);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)BLOCK_FIELD(xb, block_q6_K, scales)));
        const __m512i scales16 = _mm512_castsi256_si512(sc16);
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
        const float d = SIMD_F16(BLOCK_FIELD(xb, block_q6_K, d));
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            /* lanes 0..7 -= 32 * scale * bsums (two groups of 16 each) */
            __m256i offset = _mm256_madd_epi16(sc16, load_256(BLOCK_FIELD(yr[r], block_q8_K, bsums)));
            __m512i isum = _mm512_sub_epi32(acc[r], _mm512_zextsi256_si512(_mm256_slli_epi32(offset, 5)));
            accf[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(Q8K_D(yr[r]) * d), accf[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        s[r * s_stride] = _mm512_reduce_add_ps(accf[r]);
}

/* Q4_K / Q5_K: step c of a super-block takes qs[32c..32c+31]: its low
 * nibbles are elements 64c..64c+31 (group 2c), its high nibbles the next 32
 * (group 2c+1), so one 64-byte register holds elements 64c..64c+63 in
 * order, against one plain load of the activations; the 5th bits (Q5_K)
 * are bits 2c and 2c+1 of qh. Products are scaled by the groups' 6-bit
 * scales in int16 (vpmaddubsw + vpdpwssd); the mins come through the bsums,
 * in float (they have their own scale dmin), in lanes 0..7. */
static ALWAYS_INLINE void q45_K_rows_512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                         size_t y_stride, int nr, int q5)
{
    const uint8_t *xb = x;
    const size_t xs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    __m512 accf[KQ_MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        accf[r] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(0x10);
    const __m512i shifts = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    for (int64_t i = 0; i < n / QK_K; i++, xb += xs) {
        PREFETCH_WEIGHTS(xb, xs);
        KQ_ROW_BLOCKS(yr, y, y_stride, i, nr)
        const uint8_t *qs = q5 ? BLOCK_FIELD(xb, block_q5_K, qs) : BLOCK_FIELD(xb, block_q4_K, qs);
        uint64_t sc8, mn8;
        q4_K_unpack_scales(q5 ? BLOCK_FIELD(xb, block_q5_K, scales) : BLOCK_FIELD(xb, block_q4_K, scales), &sc8, &mn8);
        const __m512i scales16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
        const __m256i mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        const __m512i qh = q5 ? _mm512_broadcast_i64x4(load_256(BLOCK_FIELD(xb, block_q5_K, qh))) : _mm512_setzero_si512();
        __m512i acc[KQ_MAX_ROWS];
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++)
            acc[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i w = _mm512_broadcast_i64x4(load_256(qs + 32 * c));
            w = _mm512_and_si512(_mm512_srlv_epi16(w, shifts), low4);
            if (q5) {
                const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * c))),
                                                       _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
                w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(qh, bit), w, sixteen);
            }
            const __m512i sc = _mm512_permutexvar_epi16(
                _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)), _mm256_set1_epi16((short)(2 * c + 1)), 1),
                scales16);
#pragma GCC unroll 8
            for (int r = 0; r < nr; r++)
                acc[r] = u8s8_dot_scaled_512(acc[r], w, load_512(BLOCK_FIELD(yr[r], block_q8_K, qs) + 64 * c), sc);
        }
        const float d = q5 ? SIMD_F16(BLOCK_FIELD(xb, block_q5_K, d)) : SIMD_F16(BLOCK_FIELD(xb, block_q4_K, d));
        const float dmin = q5 ? SIMD_F16(BLOCK_FIELD(xb, block_q5_K, dmin)) : SIMD_F16(BLOCK_FIELD(xb, block_q4_K, dmin));
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const float dy = Q8K_D(yr[r]);
            __m256i m = _mm256_madd_epi16(mins, load_256(BLOCK_FIELD(yr[r], block_q8_K, bsums)));
            accf[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), _mm512_set1_ps(dy * d), accf[r]);
            accf[r] = _mm512_mask3_fmadd_ps(_mm512_castps256_ps512(_mm256_cvtepi32_ps(m)),
                                            _mm512_set1_ps(-(dy * dmin)), accf[r], 0x00FF);
        }
    }
    for (int r = 0; r < nr; r++)
        s[r * s_stride] = _mm512_reduce_add_ps(accf[r]);
}

static ALWAYS_INLINE void q4_K_rows_512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                        size_t y_stride, int nr)
{
    q45_K_rows_512(n, s, s_stride, x, y, y_stride, nr, 0);
}

static ALWAYS_INLINE void q5_K_rows_512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                        size_t y_stride, int nr)
{
    q45_K_rows_512(n, s, s_stride, x, y, y_stride, nr, 1);
}

void cpu_dot_q4_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y)
{
    q4_K_rows_512(n, s, 0, x, y, 0, 1);
}

void cpu_dot_q4_K_q8_K_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                size_t y_stride, int64_t nrows)
{
    ROWS_IN_EIGHTS(q4_K_rows_512)
}

void cpu_dot_q5_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y)
{
    q5_K_rows_512(n, s, 0, x, y, 0, 1);
}

void cpu_dot_q5_K_q8_K_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                size_t y_stride, int64_t nrows)
{
    ROWS_IN_EIGHTS(q5_K_rows_512)
}

void cpu_dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y)
{
    q6_K_rows_512(n, s, 0, x, y, 0, 1);
}

void cpu_dot_q6_K_q8_K_nrows_avx512(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
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
