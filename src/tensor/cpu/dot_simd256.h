/*
 * dot_simd256.h - dot-product kernels on 256-bit vectors, written once and
 * compiled twice: by dot_avx2.c (AVX2 + FMA + F16C) and by dot_avx512.c
 * (the same with AVX-512VL/BW + VNNI, which turns the int8 multiply-adds into
 * vpdpbusd / vpdpwssd). Include after defining:
 *   SIMD_NAME(f)  the public name of kernel f (e.g. f##_avx2)
 *   SIMD_VNNI     1 to use AVX-512 VNNI and BW/VL mask instructions, else 0
 *   SIMD_FN       optional storage class of the kernels (default: public)
 *
 * Summation order is fixed by n alone (never by alignment or data), so every
 * kernel is batch-invariant. K-quant kernels sum each super-block's integer
 * products exactly, then scale and add them in float one super-block at a
 * time (like the scalar kernel, but with fused multiply-adds); the 32-blocks
 * and plain types accumulate in float vectors (same result up to rounding).
 */
#include <immintrin.h>
#include <math.h>

#include "tensor/cpu/kernels_impl.h"

#ifndef SIMD_FN
#define SIMD_FN
#endif

#define SIMD_F16(p) _cvtsh_ss(load_u16(p))

/* Weight rows stream from memory with a lot of work per byte, which keeps
 * few cache misses in flight; prefetching PREFETCH_AHEAD bytes ahead (into
 * the next rows too: prefetches never fault) keeps the stream going. A step
 * prefetches the lines of its `len` bytes, PREFETCH_AHEAD later. */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 2048
#endif
#define PREFETCH_WEIGHTS(p, len)                                                       \
    for (size_t pf_ = 0; pf_ < (size_t)(len); pf_ += 64)                               \
        _mm_prefetch((const char *)(p) + PREFETCH_AHEAD + pf_, _MM_HINT_T0)

/* Multi-row kernels: one weight super-block is unpacked once and used
 * against up to KQ_MAX_ROWS activation rows. Each row's operations are the
 * same as with one row, so vec_dot_nrows gives vec_dot's bits. The row
 * functions are always inlined so that the row count is a constant and the
 * per-row arrays stay in registers. The float steps are explicit fmaf calls
 * so that the compiler cannot contract them differently per row count. */
#ifndef KQ_MAX_ROWS
#define KQ_MAX_ROWS 4 /* 8 where there are 32 vector registers (AVX-512) */
#endif
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* vec_dot_nrows from a row function taking 1, 2 or 4 rows. */
#define ROWS_IN_FOURS(rows_fn)                                                                    \
    const uint8_t *ybytes = y;                                                                    \
    int64_t r = 0;                                                                                \
    for (; r + 4 <= nrows; r += 4)                                                                \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 4);            \
    if (r + 2 <= nrows) {                                                                         \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 2);            \
        r += 2;                                                                                   \
    }                                                                                             \
    if (r < nrows)                                                                                \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 1);

/* vec_dot_nrows from a row function taking 1, 2, 4 or 8 rows
 * (KQ_MAX_ROWS 8). */
#define ROWS_IN_EIGHTS(rows_fn)                                                                   \
    const uint8_t *ybytes = y;                                                                    \
    int64_t r = 0;                                                                                \
    for (; r + 8 <= nrows; r += 8)                                                                \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 8);            \
    if (r + 4 <= nrows) {                                                                         \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 4);            \
        r += 4;                                                                                   \
    }                                                                                             \
    if (r + 2 <= nrows) {                                                                         \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 2);            \
        r += 2;                                                                                   \
    }                                                                                             \
    if (r < nrows)                                                                                \
        rows_fn(n, s + r * s_stride, s_stride, x, ybytes + r * y_stride, y_stride, 1);

/* ---- integer helpers ---------------------------------------------------- */

/* acc + sums of 4 adjacent u8*s8 products per int32 lane. */
static inline __m256i u8s8_dot(__m256i acc, __m256i u, __m256i s)
{
#if SIMD_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    __m256i pairs = _mm256_maddubs_epi16(u, s);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

/* acc + sums of 4 adjacent s8*s8 products (a, b > -128 where it matters). */
static inline __m256i s8s8_dot(__m256i acc, __m256i a, __m256i b)
{
    return u8s8_dot(acc, _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* acc + scale16 * (pairwise u8*s8 products); u <= 127 so no saturation. */
static inline __m256i u8s8_dot_scaled(__m256i acc, __m256i u, __m256i s, __m256i scale16)
{
    __m256i pairs = _mm256_maddubs_epi16(u, s);
#if SIMD_VNNI
    return _mm256_dpwssd_epi32(acc, pairs, scale16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale16));
#endif
}

/* Same for signed weights: |w| <= 127, |a| <= 127. */
static inline __m256i s8s8_dot_scaled(__m256i acc, __m256i w, __m256i a, __m256i scale16)
{
    return u8s8_dot_scaled(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w), scale16);
}

static inline int32_t hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float hsum_f32(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i load_256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles, then high nibbles. */
static inline __m256i unpack_nibbles_16(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(q, mask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

/* Byte j = `value` if bit j of the 4 bytes at qh is set, else 0. */
static inline __m256i bits_to_bytes(const uint8_t *qh, char value)
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
#if SIMD_VNNI
    return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(value));
#else
    const __m256i which_byte = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                 0x0101010101010101, 0x0000000000000000);
    const __m256i bit_of_byte = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), which_byte);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_byte), bit_of_byte);
    return _mm256_and_si256(set, _mm256_set1_epi8(value));
#endif
}

/* Bytes of v that have bit `bit` set -> `value`, others 0. */
static inline __m256i select_bit(__m256i v, int bit, char value)
{
    __m256i b = _mm256_set1_epi8((char)(1 << bit));
#if SIMD_VNNI
    return _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(v, b), _mm256_set1_epi8(value));
#else
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(v, b), b);
    return _mm256_and_si256(set, _mm256_set1_epi8(value));
#endif
}

/* The IQ4_NL codebook lookup of 16 packed nibble bytes -> 32 int8 weights. */
static inline __m256i iq4_lookup_16(const uint8_t *qs)
{
    const __m128i book = _mm_loadu_si128((const __m128i *)cpu_iq4nl_codebook);
    __m256i idx = unpack_nibbles_16(qs);
    __m256i book2 = _mm256_broadcastsi128_si256(book);
    return _mm256_shuffle_epi8(book2, idx);
}

/* ---- plain types ------------------------------------------------------- */

static inline __m256 load_8_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
static inline __m256 load_8_f16(const uint8_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline __m256 load_8_bf16(const uint8_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* Four accumulators over 32 elements, then 8 at a time, then a scalar tail;
 * elem is the element size, load_8 turns 8 elements into floats. */
#define PLAIN_DOT_BODY(elem, load_8, to_f32)                                            \
    const uint8_t *xb = x, *yb = y;                                                      \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;            \
    int64_t i = 0;                                                                       \
    for (; i + 32 <= n; i += 32) {                                                       \
        const uint8_t *xp = xb + (elem) * i, *yp = yb + (elem) * i;                      \
        PREFETCH_WEIGHTS(xp, 32 * (elem));                                               \
        acc0 = _mm256_fmadd_ps(load_8(xp), load_8(yp), acc0);                           \
        acc1 = _mm256_fmadd_ps(load_8(xp + 8 * (elem)), load_8(yp + 8 * (elem)), acc1);  \
        acc2 = _mm256_fmadd_ps(load_8(xp + 16 * (elem)), load_8(yp + 16 * (elem)), acc2); \
        acc3 = _mm256_fmadd_ps(load_8(xp + 24 * (elem)), load_8(yp + 24 * (elem)), acc3); \
    }                                                                                    \
    for (; i + 8 <= n; i += 8)                                                           \
        acc0 = _mm256_fmadd_ps(load_8(xb + (elem) * i), load_8(yb + (elem) * i), acc0);  \
    float sum = hsum_f32(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3))); \
    for (; i < n; i++)                                                                   \
        sum += to_f32(xb + (elem) * i) * to_f32(yb + (elem) * i);                        \
    *s = sum;

static inline float f16_at(const uint8_t *p) { return SIMD_F16(p); }
static inline float bf16_at(const uint8_t *p) { return bf16_to_f32(load_u16(p)); }

SIMD_FN void SIMD_NAME(cpu_dot_f32)(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_BODY(4, load_8_f32, load_f32)
}

SIMD_FN void SIMD_NAME(cpu_dot_f16)(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_BODY(2, load_8_f16, f16_at)
}

SIMD_FN void SIMD_NAME(cpu_dot_bf16)(int64_t n, float *s, const void *x, const void *y)
{
    PLAIN_DOT_BODY(2, load_8_bf16, bf16_at)
}

/* ---- blocks of 32 ------------------------------------------------------ */

/* Blocks of 32 against nr activation rows (1, 2 or 4), two float
 * accumulators per row (even and odd blocks). WEIGHTS(xp) unpacks a weight
 * block once (32 bytes); PRODUCTS(w, yp) gives its int32x8 products with a
 * row's block; MIN(acc, xp, yp) adds the block's min term m*s (Q4_1, Q5_1).
 * Defines SIMD_NAME(cpu_dot_<name>) and SIMD_NAME(cpu_dot_<name>_nrows). */
#define BLOCK32_KERNELS_256(name, XT, YT, QK, WEIGHTS, PRODUCTS, MIN)                            \
    static ALWAYS_INLINE void name##_rows256(int64_t n, float *s, size_t s_stride, const void *x,  \
                                             const void *y, size_t y_stride, int nr)             \
    {                                                                                            \
        const int64_t nb = n / (QK);                                                             \
        const uint8_t *xb = x, *yb = y;                                                          \
        __m256 acc0[KQ_MAX_ROWS], acc1[KQ_MAX_ROWS];                                             \
        float extra[KQ_MAX_ROWS];                                                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                                     \
        {                                                                                        \
            acc0[r] = acc1[r] = _mm256_setzero_ps();                                             \
            extra[r] = 0.0f;                                                                     \
        }                                                                                        \
        int64_t i = 0;                                                                           \
        for (; i + 2 <= nb; i += 2) {                                                            \
            const uint8_t *x0 = xb + i * sizeof(XT), *x1 = x0 + sizeof(XT);                      \
            PREFETCH_WEIGHTS(x0, 2 * sizeof(XT));                                                \
            const __m256i w0 = WEIGHTS(x0), w1 = WEIGHTS(x1);                                    \
            const float d0 = SIMD_F16(BLOCK_FIELD(x0, XT, d)), d1 = SIMD_F16(BLOCK_FIELD(x1, XT, d)); \
            _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                                 \
            {                                                                                    \
                const uint8_t *y0 = yb + r * y_stride + i * sizeof(YT), *y1 = y0 + sizeof(YT);   \
                __m256 s0 = _mm256_set1_ps(d0 * SIMD_F16(BLOCK_FIELD(y0, YT, d)));               \
                __m256 s1 = _mm256_set1_ps(d1 * SIMD_F16(BLOCK_FIELD(y1, YT, d)));               \
                acc0[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PRODUCTS(w0, y0)), s0, acc0[r]);    \
                acc1[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PRODUCTS(w1, y1)), s1, acc1[r]);    \
                extra[r] = MIN(extra[r], x0, y0);                                                \
                extra[r] = MIN(extra[r], x1, y1);                                                \
            }                                                                                    \
        }                                                                                        \
        if (i < nb) {                                                                            \
            const uint8_t *x0 = xb + i * sizeof(XT);                                             \
            const __m256i w0 = WEIGHTS(x0);                                                      \
            const float d0 = SIMD_F16(BLOCK_FIELD(x0, XT, d));                                   \
            _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                                 \
            {                                                                                    \
                const uint8_t *y0 = yb + r * y_stride + i * sizeof(YT);                          \
                __m256 s0 = _mm256_set1_ps(d0 * SIMD_F16(BLOCK_FIELD(y0, YT, d)));               \
                acc0[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PRODUCTS(w0, y0)), s0, acc0[r]);    \
                extra[r] = MIN(extra[r], x0, y0);                                                \
            }                                                                                    \
        }                                                                                        \
        for (int r = 0; r < nr; r++)                                                             \
            s[r * s_stride] = hsum_f32(_mm256_add_ps(acc0[r], acc1[r])) + extra[r];              \
    }                                                                                            \
    SIMD_FN void SIMD_NAME(cpu_dot_##name)(int64_t n, float *s, const void *x, const void *y)        \
    {                                                                                            \
        name##_rows256(n, s, 0, x, y, 0, 1);                                                     \
    }                                                                                            \
    SIMD_FN void SIMD_NAME(cpu_dot_##name##_nrows)(int64_t n, float *s, size_t s_stride, const void *x, \
                                              const void *y, size_t y_stride, int64_t nrows)    \
    {                                                                                            \
        ROWS_IN_FOURS(name##_rows256)                                                            \
    }

#define NO_MIN(acc, xp, yp) (acc)
#define Q4_1_MIN(acc, xp, yp) \
    fmaf(SIMD_F16(BLOCK_FIELD(xp, block_q4_1, m)), SIMD_F16(BLOCK_FIELD(yp, block_q8_1, s)), acc)
#define Q5_1_MIN(acc, xp, yp) \
    fmaf(SIMD_F16(BLOCK_FIELD(xp, block_q5_1, m)), SIMD_F16(BLOCK_FIELD(yp, block_q8_1, s)), acc)
#define Q8_0_QS(yp) load_256(BLOCK_FIELD(yp, block_q8_0, qs))
#define Q8_1_QS(yp) load_256(BLOCK_FIELD(yp, block_q8_1, qs))
#define SIGNED_Q8_0_PRODUCTS(w, yp) s8s8_dot(_mm256_setzero_si256(), w, Q8_0_QS(yp))
#define UNSIGNED_Q8_1_PRODUCTS(w, yp) u8s8_dot(_mm256_setzero_si256(), w, Q8_1_QS(yp))

/* Q4_0: nibbles - 8, signed. */
static inline __m256i q4_0_weights(const uint8_t *xp)
{
    return _mm256_sub_epi8(unpack_nibbles_16(BLOCK_FIELD(xp, block_q4_0, qs)), _mm256_set1_epi8(8));
}
BLOCK32_KERNELS_256(q4_0_q8_0, block_q4_0, block_q8_0, QK4_0, q4_0_weights, SIGNED_Q8_0_PRODUCTS, NO_MIN)

/* Q4_1: unsigned nibbles; the min through the Q8_1 sums. */
#define Q4_1_WEIGHTS(xp) unpack_nibbles_16(BLOCK_FIELD(xp, block_q4_1, qs))
BLOCK32_KERNELS_256(q4_1_q8_1, block_q4_1, block_q8_1, QK4_1, Q4_1_WEIGHTS, UNSIGNED_Q8_1_PRODUCTS, Q4_1_MIN)

/* Q5_0: 5 bits - 16, signed. */
static inline __m256i q5_0_weights(const uint8_t *xp)
{
    __m256i w = _mm256_or_si256(unpack_nibbles_16(BLOCK_FIELD(xp, block_q5_0, qs)),
                                bits_to_bytes(BLOCK_FIELD(xp, block_q5_0, qh), 0x10));
    return _mm256_sub_epi8(w, _mm256_set1_epi8(16));
}
BLOCK32_KERNELS_256(q5_0_q8_0, block_q5_0, block_q8_0, QK5_0, q5_0_weights, SIGNED_Q8_0_PRODUCTS, NO_MIN)

/* Q5_1: unsigned 5 bits; the min through the Q8_1 sums. */
static inline __m256i q5_1_weights(const uint8_t *xp)
{
    return _mm256_or_si256(unpack_nibbles_16(BLOCK_FIELD(xp, block_q5_1, qs)),
                           bits_to_bytes(BLOCK_FIELD(xp, block_q5_1, qh), 0x10));
}
BLOCK32_KERNELS_256(q5_1_q8_1, block_q5_1, block_q8_1, QK5_1, q5_1_weights, UNSIGNED_Q8_1_PRODUCTS, Q5_1_MIN)

/* Q8_0: signed bytes as they are. */
#define Q8_0_WEIGHTS(xp) load_256(BLOCK_FIELD(xp, block_q8_0, qs))
BLOCK32_KERNELS_256(q8_0_q8_0, block_q8_0, block_q8_0, QK8_0, Q8_0_WEIGHTS, SIGNED_Q8_0_PRODUCTS, NO_MIN)

/* IQ4_NL: codebook values, signed. */
#define IQ4_NL_WEIGHTS(xp) iq4_lookup_16(BLOCK_FIELD(xp, block_iq4_nl, qs))
BLOCK32_KERNELS_256(iq4_nl_q8_0, block_iq4_nl, block_q8_0, QK4_NL, IQ4_NL_WEIGHTS, SIGNED_Q8_0_PRODUCTS, NO_MIN)

/* ---- K-quants (super-blocks of 256, Q8_K activations) -------------------- */

#define Q8K_D(yp) load_f32(BLOCK_FIELD(yp, block_q8_K, d))
#define Q8K_QS(yp, off) load_256(BLOCK_FIELD(yp, block_q8_K, qs) + (off))

/* 16 int16 scales (one per group of 16) -> for groups g, g+1 (g even):
 * int16 lanes 0..7 = scale g, 8..15 = scale g+1. */
static inline __m256i scale_pair_of16(__m256i scales16, int g)
{
    __m256i half = g < 8 ? _mm256_permute2x128_si256(scales16, scales16, 0x00)
                         : _mm256_permute2x128_si256(scales16, scales16, 0x11);
    int w = g & 7;
    const __m256i idx = _mm256_set_m128i(_mm_set1_epi16((short)(((2 * w + 3) << 8) | (2 * w + 2))),
                                         _mm_set1_epi16((short)(((2 * w + 1) << 8) | (2 * w))));
    return _mm256_shuffle_epi8(half, idx);
}

/* sum over the 16 groups of scales16[g] * bsums[g]. */
static inline int scaled_bsums(__m256i scales16, const uint8_t *yp)
{
    return hsum_i32(_mm256_madd_epi16(scales16, load_256(BLOCK_FIELD(yp, block_q8_K, bsums))));
}

/* Q2_K: the integer sums isum (scaled quants) and msum (scaled mins). */
static inline void q2_K_block_sums(const uint8_t *xp, const uint8_t *yp, int *isum, int *msum)
{
    const __m128i sc = _mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp, block_q2_K, scales));
    const __m256i scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc, _mm_set1_epi8(0x0F)));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), _mm_set1_epi8(0x0F)));
    const uint8_t *qs = BLOCK_FIELD(xp, block_q2_K, qs);
    const __m256i three = _mm256_set1_epi8(3);
    __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m256i q = load_256(qs + 32 * h);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int g = 8 * h + 2 * k;
            __m256i w = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), three);
            acc = u8s8_dot_scaled(acc, w, Q8K_QS(yp, 16 * g), scale_pair_of16(scales16, g));
        }
    }
    *isum = hsum_i32(acc);
    *msum = scaled_bsums(mins16, yp);
}

SIMD_FN void SIMD_NAME(cpu_dot_q2_K_q8_K)(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q2_K), yb += sizeof(block_q8_K)) {
        PREFETCH_WEIGHTS(xb, sizeof(block_q2_K));
        int isum, msum;
        q2_K_block_sums(xb, yb, &isum, &msum);
        float dy = Q8K_D(yb);
        sum += dy * SIMD_F16(BLOCK_FIELD(xb, block_q2_K, d)) * (float)isum
             - dy * SIMD_F16(BLOCK_FIELD(xb, block_q2_K, dmin)) * (float)msum;
    }
    *s = sum;
}

/* Q3_K: weights as unsigned low2 | hbit<<2 (0..7); the -4 offset comes back
 * through the activation sums: sum((w-4)*a) = sum(w*a) - 4*bsum. */
static inline int q3_K_block_sum(const uint8_t *xp, const uint8_t *yp)
{
    uint32_t words[4];
    q3_K_unpack_scales(BLOCK_FIELD(xp, block_q3_K, scales), words);
    const __m128i sc8 = _mm_sub_epi8(_mm_set_epi32((int)words[3], (int)words[2], (int)words[1], (int)words[0]),
                                     _mm_set1_epi8(32));
    const __m256i scales16 = _mm256_cvtepi8_epi16(sc8);
    const uint8_t *qs = BLOCK_FIELD(xp, block_q3_K, qs);
    const __m256i hm = load_256(BLOCK_FIELD(xp, block_q3_K, hmask));
    const __m256i three = _mm256_set1_epi8(3);
    __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m256i q = load_256(qs + 32 * h);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int g = 8 * h + 2 * k;
            __m256i w = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), three);
            w = _mm256_or_si256(w, select_bit(hm, 4 * h + k, 4));
            acc = u8s8_dot_scaled(acc, w, Q8K_QS(yp, 16 * g), scale_pair_of16(scales16, g));
        }
    }
    return hsum_i32(acc) - 4 * scaled_bsums(scales16, yp);
}

SIMD_FN void SIMD_NAME(cpu_dot_q3_K_q8_K)(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_q3_K), yb += sizeof(block_q8_K)) {
        PREFETCH_WEIGHTS(xb, sizeof(block_q3_K));
        sum += Q8K_D(yb) * SIMD_F16(BLOCK_FIELD(xb, block_q3_K, d)) * (float)q3_K_block_sum(xb, yb);
    }
    *s = sum;
}

/* Byte j of a packed scale word, broadcast to 16 int16 lanes. */
static inline __m256i scale_byte16(uint64_t packed, int j)
{
    return _mm256_set1_epi16((short)((packed >> (8 * j)) & 0xFF));
}

/* Activation block i of rows 0..nr-1. */
#define KQ_ROW_BLOCKS(yr, y, y_stride, i, nr)                                  \
    const uint8_t *yr[KQ_MAX_ROWS];                                            \
    for (int r_ = 0; r_ < (nr); r_++)                                          \
        yr[r_] = (const uint8_t *)(y) + r_ * (y_stride) + (i) * sizeof(block_q8_K);

/* Q4_K / Q5_K super-block (qh NULL for Q4_K): isum[r], msum[r] per row. */
static ALWAYS_INLINE void q45_K_block_sums(const uint8_t *qs, const uint8_t *qhp, const uint8_t *scales,
                                           const uint8_t *const yr[], int nr, int isum[], int msum[])
{
    uint64_t sc8, mn8;
    q4_K_unpack_scales(scales, &sc8, &mn8);
    __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
    const __m256i mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i qh = qhp ? load_256(qhp) : _mm256_setzero_si256();
    __m256i acc[KQ_MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m256i q = load_256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        if (qhp) {
            lo = _mm256_or_si256(lo, select_bit(qh, 2 * c, 0x10));
            hi = _mm256_or_si256(hi, select_bit(qh, 2 * c + 1, 0x10));
        }
        const __m256i sc_lo = scale_byte16(sc8, 2 * c), sc_hi = scale_byte16(sc8, 2 * c + 1);
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            acc[r] = u8s8_dot_scaled(acc[r], lo, Q8K_QS(yr[r], 64 * c), sc_lo);
            acc[r] = u8s8_dot_scaled(acc[r], hi, Q8K_QS(yr[r], 64 * c + 32), sc_hi);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++) {
        isum[r] = hsum_i32(acc[r]);
        msum[r] = hsum_i32(_mm256_madd_epi16(mins, load_256(BLOCK_FIELD(yr[r], block_q8_K, bsums))));
    }
}

/* Rows of a Q4_K (or, with Q5, Q5_K) weight row against nr activation rows. */
#define Q45_K_ROWS_BODY(XT, WITH_QH)                                                        \
    const uint8_t *xb = x;                                                                  \
    float sum[KQ_MAX_ROWS] = { 0.0f };                                                      \
    for (int64_t i = 0; i < n / QK_K; i++, xb += sizeof(XT)) {                              \
        PREFETCH_WEIGHTS(xb, sizeof(XT));                                                   \
        KQ_ROW_BLOCKS(yr, y, y_stride, i, nr)                                               \
        int isum[KQ_MAX_ROWS], msum[KQ_MAX_ROWS];                                           \
        q45_K_block_sums(BLOCK_FIELD(xb, XT, qs), WITH_QH, BLOCK_FIELD(xb, XT, scales), yr, \
                         nr, isum, msum);                                                   \
        const float d = SIMD_F16(BLOCK_FIELD(xb, XT, d));                                   \
        const float dmin = SIMD_F16(BLOCK_FIELD(xb, XT, dmin));                             \
        _Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)                                \
        {                                                                                   \
            const float dy = Q8K_D(yr[r]);                                                  \
            sum[r] = fmaf(dy * d, (float)isum[r], sum[r]);                                  \
            sum[r] = fmaf(-(dy * dmin), (float)msum[r], sum[r]);                            \
        }                                                                                   \
    }                                                                                       \
    for (int r = 0; r < nr; r++)                                                            \
        s[r * s_stride] = sum[r];

static ALWAYS_INLINE void q4_K_rows(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                    size_t y_stride, int nr)
{
    Q45_K_ROWS_BODY(block_q4_K, NULL)
}

static ALWAYS_INLINE void q5_K_rows(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                    size_t y_stride, int nr)
{
    Q45_K_ROWS_BODY(block_q5_K, BLOCK_FIELD(xb, block_q5_K, qh))
}

SIMD_FN void SIMD_NAME(cpu_dot_q4_K_q8_K)(int64_t n, float *s, const void *x, const void *y)
{
    q4_K_rows(n, s, 0, x, y, 0, 1);
}

SIMD_FN void SIMD_NAME(cpu_dot_q4_K_q8_K_nrows)(int64_t n, float *s, size_t s_stride, const void *x,
                                            const void *y, size_t y_stride, int64_t nrows)
{
#if KQ_MAX_ROWS >= 8
    ROWS_IN_EIGHTS(q4_K_rows)
#else
    ROWS_IN_FOURS(q4_K_rows)
#endif
}

SIMD_FN void SIMD_NAME(cpu_dot_q5_K_q8_K)(int64_t n, float *s, const void *x, const void *y)
{
    q5_K_rows(n, s, 0, x, y, 0, 1);
}

SIMD_FN void SIMD_NAME(cpu_dot_q5_K_q8_K_nrows)(int64_t n, float *s, size_t s_stride, const void *x,
                                            const void *y, size_t y_stride, int64_t nrows)
{
#if KQ_MAX_ROWS >= 8
    ROWS_IN_EIGHTS(q5_K_rows)
#else
    ROWS_IN_FOURS(q5_K_rows)
#endif
}

/* Q6_K: unsigned 6-bit weights (0..63); the -32 offset via bsums. */
static ALWAYS_INLINE void q6_K_block_sums(const uint8_t *xp, const uint8_t *const yr[], int nr, int isum[])
{
    const uint8_t *ql = BLOCK_FIELD(xp, block_q6_K, ql);
    const uint8_t *qhp = BLOCK_FIELD(xp, block_q6_K, qh);
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)BLOCK_FIELD(xp, block_q6_K, scales)));
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(0x30);
    __m256i acc[KQ_MAX_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m256i l0 = load_256(ql + 64 * h), l1 = load_256(ql + 64 * h + 32);
        __m256i qh = load_256(qhp + 32 * h);
        __m256i lows[4] = {
            _mm256_and_si256(l0, low4), _mm256_and_si256(l1, low4),
            _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
            _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
        };
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int g = 8 * h + 2 * k;
            /* bits 2k..2k+1 of qh moved to bits 4..5 */
            __m256i hi = k < 2 ? _mm256_slli_epi16(qh, 4 - 2 * k) : _mm256_srli_epi16(qh, 2 * k - 4);
            __m256i w = _mm256_or_si256(lows[k], _mm256_and_si256(hi, two));
            __m256i sc = scale_pair_of16(scales16, g);
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++)
                acc[r] = u8s8_dot_scaled(acc[r], w, Q8K_QS(yr[r], 16 * g), sc);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        isum[r] = hsum_i32(acc[r]) - 32 * scaled_bsums(scales16, yr[r]);
}

static ALWAYS_INLINE void q6_K_rows(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                    size_t y_stride, int nr)
{
    const uint8_t *xb = x;
    float sum[KQ_MAX_ROWS] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (int64_t i = 0; i < n / QK_K; i++, xb += sizeof(block_q6_K)) {
        PREFETCH_WEIGHTS(xb, sizeof(block_q6_K));
        KQ_ROW_BLOCKS(yr, y, y_stride, i, nr)
        int isum[KQ_MAX_ROWS];
        q6_K_block_sums(xb, yr, nr, isum);
        const float d = SIMD_F16(BLOCK_FIELD(xb, block_q6_K, d));
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++)
            sum[r] = fmaf(Q8K_D(yr[r]) * d, (float)isum[r], sum[r]);
    }
    for (int r = 0; r < nr; r++)
        s[r * s_stride] = sum[r];
}

SIMD_FN void SIMD_NAME(cpu_dot_q6_K_q8_K)(int64_t n, float *s, const void *x, const void *y)
{
    q6_K_rows(n, s, 0, x, y, 0, 1);
}

SIMD_FN void SIMD_NAME(cpu_dot_q6_K_q8_K_nrows)(int64_t n, float *s, size_t s_stride, const void *x,
                                            const void *y, size_t y_stride, int64_t nrows)
{
    ROWS_IN_FOURS(q6_K_rows)
}

static inline int iq4_xs_block_sum(const uint8_t *xp, const uint8_t *yp)
{
    uint16_t scales_h = load_u16(BLOCK_FIELD(xp, block_iq4_xs, scales_h));
    const uint8_t *scales_l = BLOCK_FIELD(xp, block_iq4_xs, scales_l);
    const uint8_t *qs = BLOCK_FIELD(xp, block_iq4_xs, qs);
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        __m256i w = iq4_lookup_16(qs + 16 * g);
        __m256i scale = _mm256_set1_epi16((short)iq4_xs_scale(scales_h, scales_l, g));
        acc = s8s8_dot_scaled(acc, w, Q8K_QS(yp, 32 * g), scale);
    }
    return hsum_i32(acc);
}

SIMD_FN void SIMD_NAME(cpu_dot_iq4_xs_q8_K)(int64_t n, float *s, const void *x, const void *y)
{
    const int64_t nb = n / QK_K;
    const uint8_t *xb = x, *yb = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, xb += sizeof(block_iq4_xs), yb += sizeof(block_q8_K)) {
        PREFETCH_WEIGHTS(xb, sizeof(block_iq4_xs));
        sum += Q8K_D(yb) * SIMD_F16(BLOCK_FIELD(xb, block_iq4_xs, d)) * (float)iq4_xs_block_sum(xb, yb);
    }
    *s = sum;
}
