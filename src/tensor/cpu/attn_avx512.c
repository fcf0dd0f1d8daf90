/*
 * attn_avx512.c - the attention tile with AVX-512: the template attn_simd.h
 * on 16 lanes of 512 bits, masked loads for the partial rows (same bits as
 * attn_avx2.c).
 */
#include <immintrin.h>
#include <stdint.h>

#define SIMD_NAME(f) f##_avx512
#define W 16
typedef __m512 vec;
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_load_ps(p)
#define V_STORE(p, v) _mm512_store_ps((p), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_ROUND_F16(v) _mm512_cvtph_ps(_mm512_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))

/* The first n lanes (none for n < 1, all for n >= 16). */
static inline __mmask16 lanes(int32_t n)
{
    return n >= W ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

static inline vec load_f32_n(const float *p, int32_t n) { return _mm512_maskz_loadu_ps(lanes(n), p); }

static inline vec load_f16_n(const uint16_t *p, int32_t n)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(n), p));
}

static inline void store_f32_n(float *p, int32_t n, vec v) { _mm512_mask_storeu_ps(p, lanes(n), v); }

/* r[i] lane j <-> r[j] lane i. */
static inline void transpose(vec r[16])
{
    vec t[16];
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

#include "tensor/cpu/attn_simd.h"
