/*
 * act_simd256.h - activation converters (from_float) on 256-bit vectors,
 * compiled by act_avx2.c and act_avx512.c with SIMD_NAME(f) defined. Each
 * one writes exactly the bytes of its scalar twin in act_scalar.c: the same
 * IEEE operations in the same order per element, round-half-even with an
 * explicit rounding mode.
 */
#include <immintrin.h>

#include "tensor/cpu/kernels_impl.h"

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

static inline float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline __m256i round_even_epi32(__m256 v)
{
    return _mm256_cvttps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* Four vectors of 8 int32 (each within int8 range) -> 32 int8 in order. */
static inline __m256i pack_32_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i abcd = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void SIMD_NAME(cpu_from_float_f32)(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void SIMD_NAME(cpu_from_float_f16)(const float *x, void *y, int64_t n)
{
    uint8_t *out = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(out + 2 * i), h);
    }
    for (; i < n; i++) {
        f16_t h = f32_to_f16(x[i]);
        memcpy(out + 2 * i, &h, 2);
    }
}

/* 8 floats -> 8 bf16 in the low 16 bits of each int32 lane. */
static inline __m256i bf16_round_8(__m256 v)
{
    __m256i u = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
    __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                        _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

void SIMD_NAME(cpu_from_float_bf16)(const float *x, void *y, int64_t n)
{
    uint8_t *out = y;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_round_8(_mm256_loadu_ps(x + i));
        __m256i b = bf16_round_8(_mm256_loadu_ps(x + i + 8));
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(out + 2 * i), packed);
    }
    for (; i < n; i++) {
        bf16_t h = f32_to_bf16(x[i]);
        memcpy(out + 2 * i, &h, 2);
    }
}

/* One block of 32 with scale amax/127, q = round-half-even(x * 127/amax)
 * (as act_scalar.c): writes qs, returns
 * d and the sum of the quants. */
static inline float quantize_block_q8_simd(const float *x, int8_t *qs, int *qsum)
{
    __m256 v[4];
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_loadu_ps(x + 8 * k);
    __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])),
                             _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
    const float amax = hmax_ps(m);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = round_even_epi32(_mm256_mul_ps(v[k], vid));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    *qsum = _mm_cvtsi128_si32(s);
    _mm256_storeu_si256((__m256i *)qs, pack_32_i8(q[0], q[1], q[2], q[3]));
    return d;
}

void SIMD_NAME(cpu_from_float_q8_0)(const float *x, void *y, int64_t n)
{
    block_q8_0 *out = y;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int qsum;
        out[i].d = f32_to_f16(quantize_block_q8_simd(x + i * QK8_0, out[i].qs, &qsum));
    }
}

void SIMD_NAME(cpu_from_float_q8_1)(const float *x, void *y, int64_t n)
{
    block_q8_1 *out = y;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        int qsum;
        float d = quantize_block_q8_simd(x + i * QK8_1, out[i].qs, &qsum);
        out[i].d = f32_to_f16(d);
        out[i].s = f32_to_f16((float)qsum * d);
    }
}

/* The value of largest magnitude in a Q8_K block, first one on ties. */
static inline float q8_K_block_max(const float *x)
{
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < QK_K; j += 8)
        m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + j)));
    const float amax = hmax_ps(m);
    const __m256 vamax = _mm256_set1_ps(amax);
    for (int j = 0; j < QK_K; j += 8) {
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), vamax, _CMP_EQ_OQ));
        if (hit)
            return x[j + __builtin_ctz((unsigned)hit)];
    }
    return 0.0f;
}

/* Sums of 16 consecutive int8 of 32 bytes at q -> sums[0], sums[1]. */
static inline void sum_16_i8_pairs(const int8_t *q, int16_t sums[2])
{
    __m256i biased = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)q), _mm256_set1_epi8((char)0x80));
    __m256i s8 = _mm256_sad_epu8(biased, _mm256_setzero_si256()); /* 4 sums of 8 (+128 each) */
    long long s0 = _mm256_extract_epi64(s8, 0), s1 = _mm256_extract_epi64(s8, 1);
    long long s2 = _mm256_extract_epi64(s8, 2), s3 = _mm256_extract_epi64(s8, 3);
    sums[0] = (int16_t)(s0 + s1 - 16 * 128);
    sums[1] = (int16_t)(s2 + s3 - 16 * 128);
}

static inline void quantize_block_q8_K_simd(const float *x, block_q8_K *out)
{
    const float max = q8_K_block_max(x);
    if (max == 0.0f) {
        memset(out, 0, sizeof(*out));
        return;
    }
    const float iscale = -127.0f / max;
    const __m256 vscale = _mm256_set1_ps(iscale);
    const __m256i limit = _mm256_set1_epi32(127);
    for (int j = 0; j < QK_K; j += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vscale);
            q[k] = _mm256_min_epi32(round_even_epi32(v), limit);
        }
        _mm256_storeu_si256((__m256i *)(out->qs + j), pack_32_i8(q[0], q[1], q[2], q[3]));
        sum_16_i8_pairs(out->qs + j, out->bsums + j / 16);
    }
    out->d = 1.0f / iscale;
}

void SIMD_NAME(cpu_from_float_q8_K)(const float *x, void *y, int64_t n)
{
    block_q8_K *out = y;
    for (int64_t i = 0; i < n / QK_K; i++)
        quantize_block_q8_K_simd(x + i * QK_K, &out[i]);
}
