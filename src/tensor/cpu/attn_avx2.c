/*
 * attn_avx2.c - the attention tile with AVX2/FMA/F16C: the template
 * attn_simd.h on 8 lanes of 256 bits (same bits as attn_avx512.c).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define SIMD_NAME(f) f##_avx2
#define W 8
typedef __m256 vec;
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_load_ps(p)
#define V_STORE(p, v) _mm256_store_ps((p), (v))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_ROUND_F16(v) _mm256_cvtph_ps(_mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))

static inline int32_t clamp_lanes(int32_t n) { return n < 0 ? 0 : n > W ? W : n; }

static inline vec load_f32_n(const float *p, int32_t n)
{
    if (n >= W)
        return _mm256_loadu_ps(p);
    float tmp[W] = { 0 };
    memcpy(tmp, p, (size_t)clamp_lanes(n) * 4);
    return _mm256_loadu_ps(tmp);
}

static inline vec load_f16_n(const uint16_t *p, int32_t n)
{
    if (n >= W)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    uint16_t tmp[W] = { 0 };
    memcpy(tmp, p, (size_t)clamp_lanes(n) * 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tmp));
}

static inline void store_f32_n(float *p, int32_t n, vec v)
{
    if (n >= W) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float tmp[W];
    _mm256_storeu_ps(tmp, v);
    memcpy(p, tmp, (size_t)clamp_lanes(n) * 4);
}

static inline void transpose(vec r[8])
{
    vec t[8];
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

#include "tensor/cpu/attn_simd.h"
