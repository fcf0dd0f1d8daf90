/*
 * ops_avx2.c - AVX2/FMA versions of the hot f32 ops (see ops_impl.h):
 * RMSNorm, softmax, SiLU, GELU (tanh form), the gated SwiGLU/GEGLU and the
 * RoPE rotation.
 *
 * exp is computed here with a range reduction x = n*ln2 + r (|r| <= ln2/2)
 * and a degree-7 Taylor polynomial for e^r, about 1-2 ulp; inputs below
 * ln(FLT_MIN) (including -inf) give exactly 0 and inputs above 88 saturate at
 * e^88. Tails shorter than a vector are padded into a whole vector, so
 * no element is ever computed by different code than its neighbours.
 */
#include "tensor/ops_impl.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* No contraction of separate multiplies and adds into FMAs: then every
 * element gets the same arithmetic whichever code path (full vector or
 * padded tail) it takes, and RoPE matches the scalar code bit for bit.
 * FMAs written as _mm256_fmadd_ps stay FMAs. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define EXP_LO -87.33654f /* ln(FLT_MIN) */
#define EXP_HI 88.0f
#define GELU_COEF_A 0.044715f
#define SQRT_2_OVER_PI 0.79788456080286535588f

static inline __m256 exp256(__m256 x)
{
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f);
    const __m256 ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(EXP_HI)), _mm256_set1_ps(EXP_LO));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2_hi, x);
    r = _mm256_fnmadd_ps(n, ln2_lo, r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* x / (1 + e^-z) */
static inline __m256 div_one_plus_exp_neg(__m256 x, __m256 z)
{
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 silu256(__m256 x) { return div_one_plus_exp_neg(x, x); }

/* 0.5x(1 + tanh(z)) = x * sigmoid(2z), z = sqrt(2/pi)(x + a x^3) */
static inline __m256 gelu256(__m256 x)
{
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(GELU_COEF_A), x2, _mm256_set1_ps(1.0f));
    __m256 z2 = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f * SQRT_2_OVER_PI), x), inner);
    return div_one_plus_exp_neg(x, z2);
}

/* The first k (< 8) floats of x, the other lanes `pad`. */
static inline __m256 load_tail(const float *x, int64_t k, float pad)
{
    float buf[8];
    for (int i = 0; i < 8; i++)
        buf[i] = pad;
    memcpy(buf, x, (size_t)k * sizeof(float));
    return _mm256_loadu_ps(buf);
}

static inline void store_tail(float *y, __m256 v, int64_t k)
{
    float buf[8];
    _mm256_storeu_ps(buf, v);
    memcpy(y, buf, (size_t)k * sizeof(float));
}

/* Fixed-order sums of the lanes. */
static inline float hsum256(__m256 v)
{
    float b[8];
    _mm256_storeu_ps(b, v);
    return ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

static inline double hsum256d(__m256d v)
{
    double b[4];
    _mm256_storeu_pd(b, v);
    return (b[0] + b[1]) + (b[2] + b[3]);
}

static inline float hmax256(__m256 v)
{
    float b[8], m = -INFINITY;
    _mm256_storeu_ps(b, v);
    for (int i = 0; i < 8; i++)
        m = b[i] > m ? b[i] : m;
    return m;
}

/* Squares rounded to float, summed in double (as ops.c's scalar). */
static inline void sumsq_step(__m256 v, __m256d *a0, __m256d *a1)
{
    __m256 sq = _mm256_mul_ps(v, v);
    *a0 = _mm256_add_pd(*a0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    *a1 = _mm256_add_pd(*a1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
}

void op_rms_norm_avx2(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        sumsq_step(_mm256_loadu_ps(x + i), &a0, &a1);
    if (i < n)
        sumsq_step(load_tail(x + i, n - i, 0.0f), &a0, &a1);
    double sum = hsum256d(_mm256_add_pd(a0, a1));
    const float mean = (float)(sum / (double)n);
    __m256 s = _mm256_set1_ps(1.0f / sqrtf(mean + eps));
    for (i = 0; i < n; i += 8) {
        int64_t k = n - i < 8 ? n - i : 8;
        __m256 v = k == 8 ? _mm256_loadu_ps(x + i) : load_tail(x + i, k, 0.0f);
        v = _mm256_mul_ps(v, s);
        if (w)
            v = _mm256_mul_ps(v, k == 8 ? _mm256_loadu_ps(w + i) : load_tail(w + i, k, 0.0f));
        if (k == 8)
            _mm256_storeu_ps(y + i, v);
        else
            store_tail(y + i, v, k);
    }
}

/* Lanes >= k of v replaced by -inf. */
static inline __m256 mask_lanes(__m256 v, int64_t k)
{
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), idx));
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, keep);
}

/* y = x * scale + mask, returning the max. */
static float softmax_logits(float *y, const float *x, int64_t n, float scale, const float *mask)
{
    __m256 vs = _mm256_set1_ps(scale), vmax = _mm256_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 8) {
        int64_t k = n - i < 8 ? n - i : 8;
        __m256 v = _mm256_mul_ps(k == 8 ? _mm256_loadu_ps(x + i) : load_tail(x + i, k, 0.0f), vs);
        if (mask)
            v = _mm256_add_ps(v, k == 8 ? _mm256_loadu_ps(mask + i) : load_tail(mask + i, k, 0.0f));
        if (k == 8) {
            _mm256_storeu_ps(y + i, v);
        } else {
            store_tail(y + i, v, k);
            v = mask_lanes(v, k);
        }
        vmax = _mm256_max_ps(vmax, v);
    }
    return hmax256(vmax);
}

void op_softmax_avx2(float *y, const float *x, int64_t n, float scale, const float *mask)
{
    float max = softmax_logits(y, x, n, scale, mask);
    if (max == -INFINITY) {
        memset(y, 0, (size_t)n * sizeof(float));
        return;
    }
    __m256 vmax = _mm256_set1_ps(max), acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        int64_t k = n - i < 8 ? n - i : 8;
        __m256 v = k == 8 ? _mm256_loadu_ps(y + i) : load_tail(y + i, k, -INFINITY);
        __m256 e = exp256(_mm256_sub_ps(v, vmax));
        acc = _mm256_add_ps(acc, e);
        if (k == 8)
            _mm256_storeu_ps(y + i, e);
        else
            store_tail(y + i, e, k);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum256(acc));
    for (int64_t i = 0; i < n; i += 8) {
        int64_t k = n - i < 8 ? n - i : 8;
        if (k == 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
        else
            store_tail(y + i, _mm256_mul_ps(load_tail(y + i, k, 0.0f), inv), k);
    }
}

/* y = act(a) (* b when b is not NULL), 8 at a time. */
#define DEFINE_UNARY_GATED(NAME, ACT)                                                 \
    static void NAME(float *y, const float *a, const float *b, int64_t n)            \
    {                                                                                 \
        for (int64_t i = 0; i < n; i += 8) {                                          \
            int64_t k = n - i < 8 ? n - i : 8;                                        \
            __m256 v = ACT(k == 8 ? _mm256_loadu_ps(a + i) : load_tail(a + i, k, 0)); \
            if (b)                                                                    \
                v = _mm256_mul_ps(v, k == 8 ? _mm256_loadu_ps(b + i)                  \
                                            : load_tail(b + i, k, 0));                \
            if (k == 8)                                                               \
                _mm256_storeu_ps(y + i, v);                                           \
            else                                                                      \
                store_tail(y + i, v, k);                                              \
        }                                                                             \
    }

DEFINE_UNARY_GATED(silu_rows, silu256)
DEFINE_UNARY_GATED(gelu_rows, gelu256)

void op_silu_avx2(float *y, const float *x, int64_t n) { silu_rows(y, x, NULL, n); }
void op_gelu_avx2(float *y, const float *x, int64_t n) { gelu_rows(y, x, NULL, n); }

void op_swiglu_avx2(float *y, const float *gate, const float *up, int64_t n)
{
    silu_rows(y, gate, up, n);
}

void op_geglu_avx2(float *y, const float *gate, const float *up, int64_t n)
{
    gelu_rows(y, gate, up, n);
}

/* x*c - y*s and x*s + y*c with separate roundings, as the scalar code. */
static inline void rotate8(__m256 *a, __m256 *b, __m256 c, __m256 s)
{
    __m256 x = *a, y = *b;
    *a = _mm256_sub_ps(_mm256_mul_ps(x, c), _mm256_mul_ps(y, s));
    *b = _mm256_add_ps(_mm256_mul_ps(x, s), _mm256_mul_ps(y, c));
}

void op_rope_neox_avx2(float *x, const float *cs, const float *sn, int half)
{
    float *hi = x + half;
    for (int i = 0; i < half; i += 8) {
        int k = half - i < 8 ? half - i : 8;
        if (k == 8) {
            __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(hi + i);
            rotate8(&a, &b, _mm256_loadu_ps(cs + i), _mm256_loadu_ps(sn + i));
            _mm256_storeu_ps(x + i, a);
            _mm256_storeu_ps(hi + i, b);
        } else {
            __m256 a = load_tail(x + i, k, 0), b = load_tail(hi + i, k, 0);
            rotate8(&a, &b, load_tail(cs + i, k, 0), load_tail(sn + i, k, 0));
            store_tail(x + i, a, k);
            store_tail(hi + i, b, k);
        }
    }
}

/* [v0 v0 v1 v1 v2 v2 v3 v3] from 4 floats. */
static inline __m256 dup_pairs(__m128 v)
{
    return _mm256_set_m128(_mm_unpackhi_ps(v, v), _mm_unpacklo_ps(v, v));
}

/* Adjacent pairs, 4 per vector: even lanes x0*c - x1*s, odd x1*c + x0*s. */
static inline __m256 rotate_pairs(__m256 v, __m128 c4, __m128 s4)
{
    const __m256 sign = _mm256_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1);
    __m256 c = dup_pairs(c4), s = _mm256_mul_ps(dup_pairs(s4), sign);
    __m256 swapped = _mm256_permute_ps(v, 0xB1); /* x1 x0 x3 x2 ... */
    return _mm256_add_ps(_mm256_mul_ps(v, c), _mm256_mul_ps(swapped, s));
}

void op_rope_normal_avx2(float *x, const float *cs, const float *sn, int half)
{
    for (int i = 0; i < half; i += 4) {
        int k = half - i < 4 ? half - i : 4;
        if (k == 4) {
            __m256 v = rotate_pairs(_mm256_loadu_ps(x + 2 * i), _mm_loadu_ps(cs + i), _mm_loadu_ps(sn + i));
            _mm256_storeu_ps(x + 2 * i, v);
        } else {
            float c[4] = { 0 }, s[4] = { 0 };
            memcpy(c, cs + i, (size_t)k * sizeof(float));
            memcpy(s, sn + i, (size_t)k * sizeof(float));
            __m256 v = rotate_pairs(load_tail(x + 2 * i, 2 * k, 0), _mm_loadu_ps(c), _mm_loadu_ps(s));
            store_tail(x + 2 * i, v, 2 * k);
        }
    }
}

void op_axpy_avx2(float *y, float a, const float *x, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

void op_axpy_f16_avx2(float *y, float a, const uint16_t *x, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xv, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] = fmaf(a, _cvtsh_ss(x[i]), y[i]);
}
