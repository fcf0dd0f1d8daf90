/*
 * test_quant.c - the scalar reference conversions (tensor/f16.h, quant.c,
 * quant_kquants.c): f16/bf16 conversions over all 65536 bit patterns,
 * round-to-nearest-even ties, NaN/inf/subnormals; hand-computed blocks of
 * every dequantizer; quantize->dequantize error bounds per type on random
 * data; zero and constant blocks; the dispatchers rejecting unsupported
 * types and bad lengths. CLLM_TEST_QUICK=1 runs fewer random rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/quant.h"
#include "tensor/types.h"

/* --------------------------------------------------------------- f16 */

/* Value of a half computed independently of f16.h, with ldexp. */
static double half_value(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v = exp == 0 ? ldexp(man, -24) : ldexp(1024 + man, exp - 25);
    if (exp == 0x1f)
        v = man ? NAN : INFINITY;
    return (h & 0x8000) ? -v : v;
}

static void test_f16_all_halves(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((f16_t)h);
        double want = half_value((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(f));
            assert_int_equal(signbit(f) != 0, (h & 0x8000) != 0);
            f16_t back = f32_to_f16(f);
            assert_int_equal(back & 0x7c00, 0x7c00);
            assert_true((back & 0x3ff) != 0);            /* still NaN */
            assert_int_equal(back & 0x8000, h & 0x8000); /* same sign */
            continue;
        }
        assert_true((double)f == want);
        assert_int_equal(signbit(f) != 0, (h & 0x8000) != 0);
        assert_int_equal(f32_to_f16(f), h); /* exact round trip */
    }
}

/* Midpoints between neighbouring halves go to the even one; a hair either
 * side goes to the nearer one. Covers subnormals and the largest finite. */
static void test_f16_rounding_ties(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float a = f16_to_f32((f16_t)h), b = f16_to_f32((f16_t)(h + 1));
        float mid = (a + b) / 2; /* exact in f32 */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(f32_to_f16(mid), even);
        assert_int_equal(f32_to_f16(nextafterf(mid, 0)), h);
        assert_int_equal(f32_to_f16(nextafterf(mid, INFINITY)), h + 1);
        assert_int_equal(f32_to_f16(-mid), even | 0x8000);
    }
}

static void test_f16_specials(void **state)
{
    (void)state;
    assert_int_equal(f32_to_f16(0.0f), 0x0000);
    assert_int_equal(f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(f32_to_f16(65520.0f), 0x7c00); /* tie to even: inf */
    assert_int_equal(f32_to_f16(1e10f), 0x7c00);
    assert_int_equal(f32_to_f16(ldexpf(1, -25)), 0x0000);             /* tie to 0 */
    assert_int_equal(f32_to_f16(nextafterf(ldexpf(1, -25), 1)), 0x0001);
    assert_int_equal(f32_to_f16(ldexpf(3, -25)), 0x0002);             /* 1.5 ulp: even */
    assert_int_equal(f32_to_f16(ldexpf(1, -14)), 0x0400);             /* smallest normal */
    assert_int_equal(f32_to_f16(1e-30f), 0x0000);
    assert_int_equal(f32_to_f16(-1e-30f), 0x8000);
    f16_t n = f32_to_f16(NAN);
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
    n = f32_to_f16(f32_from_bits(0x7f800001u)); /* signalling NaN, payload low */
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
}

/* -------------------------------------------------------------- bf16 */

static void test_bf16_all(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((bf16_t)h);
        assert_int_equal(f32_bits(f), h << 16);
        bf16_t back = f32_to_bf16(f);
        if (isnan(f)) {
            assert_true((back & 0x7f80) == 0x7f80 && (back & 0x40) != 0); /* quiet */
            assert_int_equal(back & 0x8000, h & 0x8000);
        } else {
            assert_int_equal(back, h);
        }
    }
    assert_int_equal(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80); /* tie: even */
    assert_int_equal(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82); /* tie: even */
    assert_int_equal(f32_to_bf16(f32_from_bits(0x3f808001u)), 0x3f81);
    assert_int_equal(f32_to_bf16(f32_from_bits(0x3f807fffu)), 0x3f80);
    assert_int_equal(f32_to_bf16(f32_from_bits(0x7f7fffffu)), 0x7f80); /* overflow: inf */
    assert_int_equal(f32_to_bf16(f32_from_bits(0x7f800001u)), 0x7fc0); /* sNaN -> qNaN */
    assert_int_equal(f32_to_bf16(f32_from_bits(0x00000001u)), 0x0000); /* tiny subnormal */
}

/* ------------------------------------------------ hand-computed blocks */

#define H_1 0x3c00    /* 1.0 */
#define H_HALF 0x3800 /* 0.5 */
#define H_QUARTER 0x3400
#define H_2 0x4000
#define H_M2 0xc000   /* -2.0 */

static void test_known_legacy_blocks(void **state)
{
    (void)state;
    float y[32];

    block_q4_0 q40 = { .d = H_HALF };
    memset(q40.qs, 0x88, sizeof(q40.qs)); /* all codes 8: zero */
    q40.qs[0] = 0x1f;
    assert_int_equal(dequantize_row(TYPE_Q4_0, &q40, y, 32), 0);
    assert_true(y[0] == 3.5f && y[16] == -3.5f && y[1] == 0.0f && y[31] == 0.0f);

    block_q4_1 q41 = { .d = H_1, .m = H_M2 };
    memset(q41.qs, 0x21, sizeof(q41.qs));
    dequantize_row(TYPE_Q4_1, &q41, y, 32);
    assert_true(y[0] == -1.0f && y[15] == -1.0f && y[16] == 0.0f && y[31] == 0.0f);

    block_q5_0 q50 = { .d = H_1, .qh = { 0x01, 0, 0, 0x80 } };
    memset(q50.qs, 0, sizeof(q50.qs));
    q50.qs[15] = 0xf0;
    dequantize_row(TYPE_Q5_0, &q50, y, 32);
    assert_true(y[0] == 0.0f && y[1] == -16.0f && y[31] == 15.0f && y[15] == -16.0f);

    block_q5_1 q51 = { .d = H_HALF, .m = H_1, .qh = { 0, 0, 0x01, 0 } };
    memset(q51.qs, 0x00, sizeof(q51.qs));
    q51.qs[0] = 0x3f;
    dequantize_row(TYPE_Q5_1, &q51, y, 32);
    assert_true(y[0] == 8.5f && y[16] == 1.0f + 0.5f * 19 && y[1] == 1.0f);

    block_q8_0 q80 = { .d = H_2 };
    for (int j = 0; j < 32; j++)
        q80.qs[j] = (int8_t)(j - 16);
    q80.qs[31] = -128;
    dequantize_row(TYPE_Q8_0, &q80, y, 32);
    assert_true(y[0] == -32.0f && y[16] == 0.0f && y[30] == 28.0f && y[31] == -256.0f);

    block_q8_1 q81 = { .d = H_QUARTER, .s = 0x7c00 }; /* s does not enter */
    memset(q81.qs, 4, sizeof(q81.qs));
    dequantize_row(TYPE_Q8_1, &q81, y, 32);
    assert_true(y[0] == 1.0f && y[31] == 1.0f);

    block_iq4_nl iq = { .d = H_HALF };
    memset(iq.qs, 0x88, sizeof(iq.qs));
    iq.qs[0] = 0xf0;
    dequantize_row(TYPE_IQ4_NL, &iq, y, 32);
    assert_true(y[0] == -63.5f && y[16] == 56.5f && y[1] == 0.5f);
}

static void test_known_q2_q3_K(void **state)
{
    (void)state;
    float y[QK_K];

    block_q2_K q2 = { .d = H_1, .dmin = H_HALF };
    memset(q2.scales, 0x21, sizeof(q2.scales)); /* scale 1, min 2 */
    memset(q2.qs, 0, sizeof(q2.qs));
    q2.qs[0] = 0xe4; /* codes 0,1,2,3 for elements 0, 32, 64, 96 */
    assert_int_equal(dequantize_row(TYPE_Q2_K, &q2, y, QK_K), 0);
    assert_true(y[0] == -1.0f && y[32] == 0.0f && y[64] == 1.0f && y[96] == 2.0f);
    assert_true(y[128] == -1.0f && y[1] == -1.0f);
    q2.scales[8] = 0x05; /* sub-block 8 (elements 128..143): scale 5, min 0 */
    q2.qs[32] = 0x03;
    dequantize_row(TYPE_Q2_K, &q2, y, QK_K);
    assert_true(y[128] == 15.0f && y[144] == -1.0f);

    block_q3_K q3 = { .d = H_1 };
    memset(q3.scales, 0x11, 8);  /* low nibbles 1 */
    memset(q3.scales + 8, 0xaa, 4); /* high bits 2: code 33, scale 1 */
    memset(q3.qs, 0, sizeof(q3.qs));
    memset(q3.hmask, 0, sizeof(q3.hmask));
    q3.qs[0] = 0xe4;
    q3.hmask[0] = 0x01; /* element 0 has no -4 */
    q3.hmask[1] = 0xff;
    dequantize_row(TYPE_Q3_K, &q3, y, QK_K);
    assert_true(y[0] == 0.0f && y[32] == -3.0f && y[64] == -2.0f && y[96] == -1.0f);
    assert_true(y[1] == 0.0f && y[33] == 0.0f && y[2] == -4.0f);
    q3.scales[8] = 0xa8; /* scale 0 high bits 0: code 1, scale -31 */
    dequantize_row(TYPE_Q3_K, &q3, y, QK_K);
    assert_true(y[2] == 124.0f && y[16] == -4.0f);
}

static void test_known_q4_q5_K(void **state)
{
    (void)state;
    float y[QK_K];

    /* sub-block 0: scale 2, min 1; sub-block 4: scale 5, min 35 */
    block_q4_K q4 = { .d = H_1, .dmin = H_1,
                      .scales = { 2, 0, 0, 0, 0x81, 0, 0, 0, 0x35, 0, 0, 0 } };
    memset(q4.qs, 0, sizeof(q4.qs));
    q4.qs[0] = 0x73;
    q4.qs[64] = 0x0a;
    assert_int_equal(dequantize_row(TYPE_Q4_K, &q4, y, QK_K), 0);
    assert_true(y[0] == 5.0f && y[1] == -1.0f && y[32] == 0.0f);
    assert_true(y[128] == 15.0f && y[129] == -35.0f);

    block_q5_K q5 = { .d = H_HALF, .dmin = H_1, .scales = { 1, 0, 0, 0, 1 } };
    memset(q5.qs, 0, sizeof(q5.qs));
    memset(q5.qh, 0, sizeof(q5.qh));
    q5.qs[0] = 0x0f;
    q5.qh[0] = 0x01;
    q5.qh[3] = 0x02; /* element 35: bit 1 -> sub-block 1 (scale 0, min 0) */
    dequantize_row(TYPE_Q5_K, &q5, y, QK_K);
    assert_true(y[0] == 31.0f * 0.5f - 1.0f && y[1] == -1.0f && y[35] == 0.0f);
}

static void test_known_q6_q8_iq4xs(void **state)
{
    (void)state;
    float y[QK_K];

    block_q6_K q6 = { .d = H_QUARTER };
    memset(q6.scales, 4, sizeof(q6.scales));
    q6.scales[8] = -2;
    memset(q6.ql, 0, sizeof(q6.ql));
    memset(q6.qh, 0xaa, sizeof(q6.qh)); /* high bits 2: code 32 + low = zero-based */
    q6.ql[0] = 0x5a;
    q6.qh[0] = 0x82; /* element 0: high 2; element 64 (bits 4..5): 0 */
    q6.ql[64] = 0x01;
    q6.qh[32] = 0xab; /* element 128: high 3 */
    assert_int_equal(dequantize_row(TYPE_Q6_K, &q6, y, QK_K), 0);
    assert_true(y[0] == 10.0f && y[64] == -27.0f && y[1] == 0.0f && y[128] == -8.5f);

    block_q8_K q8 = { .d = 0.5f };
    memset(q8.qs, 0, sizeof(q8.qs));
    q8.qs[0] = -128;
    q8.qs[255] = 127;
    dequantize_row(TYPE_Q8_K, &q8, y, QK_K);
    assert_true(y[0] == -64.0f && y[255] == 63.5f && y[1] == 0.0f);

    block_iq4_xs xs = { .d = H_1, .scales_h = 0x0002, .scales_l = { 0x21, 0, 0, 0 } };
    memset(xs.qs, 0x88, sizeof(xs.qs)); /* codebook index 8: value 1 */
    xs.qs[0] = 0xf0;
    xs.qs[16] = 0x80;
    dequantize_row(TYPE_IQ4_XS, &xs, y, QK_K);
    assert_true(y[0] == -127.0f && y[16] == 113.0f && y[1] == 1.0f); /* scale +1 */
    assert_true(y[32] == -30.0f * -127.0f && y[33] == -30.0f);         /* scale -30 */
    assert_true(y[64] == -32.0f); /* sub-block 2: code 0, scale -32 */
}

/* --------------------------------------------------- quantize round trip */

struct bound { enum tensor_type type; double rms; double max_rel; };

/* Relative RMS error over normal data, and the worst |error| over a block
 * relative to its largest magnitude (of the whole super-block for K-quants). */
static const struct bound bounds[] = {
    { TYPE_F32, 0.0, 0.0 },          { TYPE_F16, 5e-4, 1e-3 },
    { TYPE_BF16, 4e-3, 8e-3 },       { TYPE_Q4_0, 0.12, 0.13 },
    { TYPE_Q4_1, 0.10, 0.08 },       { TYPE_Q5_0, 0.06, 0.065 },
    { TYPE_Q5_1, 0.05, 0.04 },       { TYPE_Q8_0, 0.01, 0.006 },
    { TYPE_Q8_1, 0.01, 0.006 },      { TYPE_Q8_K, 0.01, 0.006 },
    { TYPE_IQ4_NL, 0.12, 0.2 },      { TYPE_Q2_K, 0.45, 0.6 },
    { TYPE_Q3_K, 0.22, 0.4 },        { TYPE_Q4_K, 0.12, 0.15 },
    { TYPE_Q5_K, 0.06, 0.08 },       { TYPE_Q6_K, 0.03, 0.05 },
    { TYPE_IQ4_XS, 0.12, 0.2 },
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

static float normal(void)
{
    double u = uniform01() + 1e-12, v = uniform01();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static int test_rows(void)
{
    const char *q = getenv("CLLM_TEST_QUICK");
    return q && *q && *q != '0' ? 4 : 32;
}

/* Quantize n floats of type b->type and back; check both error bounds. */
static void check_roundtrip(const struct bound *b, const float *x, int64_t n)
{
    const int64_t bs = tensor_type_traits(b->type)->block_size > 1 ? tensor_type_traits(b->type)->block_size : 32;
    void *q = malloc(tensor_type_row_size(b->type, n));
    float *y = malloc((size_t)n * sizeof(float));
    assert_non_null(q);
    assert_non_null(y);
    assert_int_equal(quantize_row_ref(b->type, x, q, n), 0);
    assert_int_equal(dequantize_row(b->type, q, y, n), 0);
    double se = 0, sx = 0;
    for (int64_t i0 = 0; i0 < n; i0 += bs) {
        double amax = 0, emax = 0;
        for (int64_t i = i0; i < i0 + bs; i++) {
            assert_false(isnan(y[i]));
            amax = fmax(amax, fabs(x[i]));
            emax = fmax(emax, fabs((double)y[i] - x[i]));
            se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            sx += (double)x[i] * x[i];
        }
        /* slack: an f16 scale near the subnormal range loses precision */
        if (emax > b->max_rel * amax + 128 * 0x1p-25)
            fail_msg("%s: block %lld: max error %g > %g * %g", tensor_type_name(b->type),
                     (long long)(i0 / bs), emax, b->max_rel, amax);
    }
    if (sqrt(se / sx) > b->rms)
        fail_msg("%s: relative RMS error %g > %g", tensor_type_name(b->type), sqrt(se / sx), b->rms);
    free(q);
    free(y);
}

static void test_roundtrip_random(void **state)
{
    (void)state;
    const int64_t n = (int64_t)test_rows() * 1024;
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    static const float scales[] = { 1.0f, 1e-2f, 250.0f };
    for (size_t s = 0; s < sizeof(scales) / sizeof(scales[0]); s++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = normal() * scales[s];
        for (size_t t = 0; t < sizeof(bounds) / sizeof(bounds[0]); t++)
            check_roundtrip(&bounds[t], x, n);
    }
    free(x);
}

/* Zero, constant and one-spike blocks: exact or near, and never NaN. */
static void test_roundtrip_special_blocks(void **state)
{
    (void)state;
    float x[QK_K], y[QK_K];
    uint8_t q[QK_K * sizeof(float)]; /* the largest row: F32 */
    for (size_t t = 0; t < sizeof(bounds) / sizeof(bounds[0]); t++) {
        enum tensor_type type = bounds[t].type;
        memset(x, 0, sizeof(x));
        assert_int_equal(quantize_row_ref(type, x, q, QK_K), 0);
        assert_int_equal(dequantize_row(type, q, y, QK_K), 0);
        for (int i = 0; i < QK_K; i++)
            assert_true(y[i] == 0.0f);
        for (int i = 0; i < QK_K; i++)
            x[i] = -0.75f;
        quantize_row_ref(type, x, q, QK_K);
        dequantize_row(type, q, y, QK_K);
        for (int i = 0; i < QK_K; i++)
            assert_true(fabsf(y[i] + 0.75f) <= 0.75f * (float)bounds[t].max_rel + 1e-6f);
        memset(x, 0, sizeof(x));
        x[37] = 5.0f;
        quantize_row_ref(type, x, q, QK_K);
        dequantize_row(type, q, y, QK_K);
        for (int i = 0; i < QK_K; i++)
            if (fabsf(y[i] - x[i]) > 5.0f * (float)bounds[t].max_rel + 1e-6f)
                fail_msg("%s: spike block: y[%d] = %g, want %g", tensor_type_name(type), i, y[i], x[i]);
    }
}

/* Known reference quantizations (as gguf-py computes them). */
static void test_quantize_known(void **state)
{
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16); /* -16..15: max magnitude -16 */
    block_q4_0 q40;
    quantize_row_ref(TYPE_Q4_0, x, &q40, 32);
    assert_int_equal(q40.d, H_2); /* -16 / -8 */
    /* x=-16 -> trunc(0.5) = 0; x=0 -> trunc(8.5) = 8; x=15 -> 16, clipped to 15 */
    assert_int_equal(q40.qs[0] & 0x0f, 0);
    assert_int_equal(q40.qs[0] >> 4, 8);
    assert_int_equal(q40.qs[15] >> 4, 15);

    block_q8_0 q80;
    quantize_row_ref(TYPE_Q8_0, x, &q80, 32);
    assert_int_equal(q80.qs[0], -127);
    assert_int_equal(q80.qs[16], 0);
    assert_int_equal(q80.qs[20], 32); /* 4 * 127/16 = 31.75 */
    assert_int_equal(q80.qs[12], -32);
    assert_int_equal(q80.qs[31], 119); /* 15 * 127/16 = 119.06 */

    block_q8_1 q81;
    quantize_row_ref(TYPE_Q8_1, x, &q81, 32);
    int sum = 0;
    for (int j = 0; j < 32; j++)
        sum += q81.qs[j];
    assert_int_equal(q81.s, f32_to_f16((float)sum * (16.0f / 127.0f)));

    float xk[QK_K];
    for (int j = 0; j < QK_K; j++)
        xk[j] = (float)(j % 16) - 4.0f;
    block_q8_K q8k;
    quantize_row_ref(TYPE_Q8_K, xk, &q8k, QK_K);
    for (int g = 0; g < QK_K / 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += q8k.qs[g * 16 + j];
        assert_int_equal(q8k.bsums[g], s);
    }
    assert_int_equal(q8k.qs[15], -127); /* max 11 maps to -127 */
    assert_true(q8k.d * -127.0f == 11.0f || fabsf(q8k.d * -127.0f - 11.0f) < 1e-5f);
}

/* --------------------------------------------------------- dispatchers */

static void test_dispatch_rejects(void **state)
{
    (void)state;
    float x[512] = { 0 }, y[512];
    uint8_t q[2048] = { 0 };
    static const enum tensor_type unsupported[] = {
        TYPE_IQ2_XXS, TYPE_IQ2_XS, TYPE_IQ3_XXS, TYPE_IQ1_S, TYPE_IQ3_S, TYPE_IQ2_S,
        TYPE_I8, TYPE_I16, TYPE_I32, TYPE_I64, TYPE_F64, TYPE_IQ1_M, TYPE_TQ1_0,
        TYPE_TQ2_0, TYPE_MXFP4, TYPE_COUNT, (enum tensor_type)4, (enum tensor_type)999,
    };
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        assert_int_equal(dequantize_row(unsupported[i], q, y, 256), -1);
        assert_int_equal(quantize_row_ref(unsupported[i], x, q, 256), -1);
    }
    assert_int_equal(quantize_row_ref(TYPE_IQ4_XS, x, q, 32), -1);
    assert_int_equal(dequantize_row(TYPE_Q4_0, q, y, 31), -1);
    assert_int_equal(dequantize_row(TYPE_Q4_0, q, y, -32), -1);
    assert_int_equal(dequantize_row(TYPE_Q4_K, q, y, 128), -1);
    assert_int_equal(quantize_row_ref(TYPE_Q6_K, x, q, 300), -1);
    assert_int_equal(quantize_row_ref(TYPE_Q8_0, x, q, 33), -1);
    assert_int_equal(dequantize_row(TYPE_Q4_K, q, y, 0), 0);
    assert_int_equal(dequantize_row(TYPE_F32, NULL, NULL, 0), 0);
    assert_int_equal(dequantize_row(TYPE_F16, q, y, 7), 0); /* plain types: any n */
    assert_int_equal(quantize_row_ref(TYPE_BF16, x, q, 5), 0);
}

static void test_iq4nl_codebook(void **state)
{
    (void)state;
    assert_int_equal(quant_iq4nl_values[0], -127);
    assert_int_equal(quant_iq4nl_values[8], 1);
    assert_int_equal(quant_iq4nl_values[15], 113);
    for (int i = 1; i < 16; i++)
        assert_true(quant_iq4nl_values[i] > quant_iq4nl_values[i - 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_all_halves),
        cmocka_unit_test(test_f16_rounding_ties),
        cmocka_unit_test(test_f16_specials),
        cmocka_unit_test(test_bf16_all),
        cmocka_unit_test(test_known_legacy_blocks),
        cmocka_unit_test(test_known_q2_q3_K),
        cmocka_unit_test(test_known_q4_q5_K),
        cmocka_unit_test(test_known_q6_q8_iq4xs),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_roundtrip_special_blocks),
        cmocka_unit_test(test_quantize_known),
        cmocka_unit_test(test_dispatch_rejects),
        cmocka_unit_test(test_iq4nl_codebook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
