/*
 * test_dot.c - the CPU dot-product kernels and activation converters
 * (tensor/cpu/kernels.h), for every weight type and every kernel table this
 * CPU can run (scalar, AVX2, AVX-512):
 *   - scalar dot vs a double-precision dot of the dequantized rows (quant.h);
 *   - each SIMD dot vs the scalar one;
 *     both within |a - b| <= 2e-5 * sum|x_i*y_i| (plus, for Q4_1/Q5_1, the
 *     f16 rounding of the Q8_1 block sums s: 2^-10 * sum|m*s| per row);
 *   - the same bits for unaligned copies of x and y (batch invariance: the
 *     result depends only on the two rows' contents);
 *   - weights made by quantizing random floats, by random bytes with sane
 *     scales, and by constant byte patterns against +-127 activations (the
 *     largest int8 products); n = 1 block, a few blocks, many blocks, and
 *     tails for F32/F16/BF16 (n = 1, 7, 172, 4099, ...);
 *   - vec_dot_nrows: 0..19 rows at an odd stride give vec_dot's bits per row;
 *     so does vec_dot_nrows_packed on rows from from_float_packed;
 *   - from_float: every table writes the same bytes as the scalar converter
 *     and as quant.h's reference quantizers (Q8_0/Q8_1: as llama.cpp's x86
 *     quantize_row_q8_0/q8_1, id = 127/amax and ties to even, modelled
 *     here), including rounding ties, sign ties for the Q8_K max, zero
 *     blocks, and inf/NaN/subnormal for F16/BF16; known Q8_0 bytes for ties;
 *   - CLLM_ISA capping (cpu_isa_choose and the process-wide choice).
 * CLLM_TEST_QUICK=1 runs fewer random rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/kernels_impl.h"
#include "tensor/f16.h"
#include "tensor/quant.h"
#include "tensor/types.h"

#define REL_TOL 2e-5

static const enum tensor_type weight_types[] = {
    TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q4_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_Q8_0,
    TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K, TYPE_IQ4_NL, TYPE_IQ4_XS,
};
#define N_WEIGHT_TYPES (int)(sizeof(weight_types) / sizeof(weight_types[0]))

static const enum tensor_type act_types[] = {
    TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q8_1, TYPE_Q8_K,
};
#define N_ACT_TYPES (int)(sizeof(act_types) / sizeof(act_types[0]))

static int rounds(void)
{
    const char *q = getenv("CLLM_TEST_QUICK");
    return q != NULL && q[0] != '\0' && q[0] != '0' ? 1 : 8;
}

/* ---- random data -------------------------------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float rng_float(void) /* uniform in [-1, 1) */
{
    return (float)((rng_next() >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* Mostly uniform values with an occasional outlier, scaled by amp. */
static void fill_floats(float *v, int64_t n, float amp)
{
    for (int64_t i = 0; i < n; i++) {
        float f = rng_float() * amp;
        if (rng_next() % 97 == 0)
            f *= 8.0f;
        v[i] = f;
    }
}

static int64_t block_size(enum tensor_type t) { return tensor_type_traits(t)->block_size; }
static enum tensor_type act_type_of(enum tensor_type t) { return tensor_type_traits(t)->vec_dot_type; }

/* Byte offsets of the f16 scale fields (d, dmin/m) in a block of type t. */
static int scale_fields(enum tensor_type t, size_t offs[2])
{
    switch (t) {
    case TYPE_Q4_0: offs[0] = offsetof(block_q4_0, d); return 1;
    case TYPE_Q4_1: offs[0] = offsetof(block_q4_1, d); offs[1] = offsetof(block_q4_1, m); return 2;
    case TYPE_Q5_0: offs[0] = offsetof(block_q5_0, d); return 1;
    case TYPE_Q5_1: offs[0] = offsetof(block_q5_1, d); offs[1] = offsetof(block_q5_1, m); return 2;
    case TYPE_Q8_0: offs[0] = offsetof(block_q8_0, d); return 1;
    case TYPE_IQ4_NL: offs[0] = offsetof(block_iq4_nl, d); return 1;
    case TYPE_Q2_K: offs[0] = offsetof(block_q2_K, d); offs[1] = offsetof(block_q2_K, dmin); return 2;
    case TYPE_Q3_K: offs[0] = offsetof(block_q3_K, d); return 1;
    case TYPE_Q4_K: offs[0] = offsetof(block_q4_K, d); offs[1] = offsetof(block_q4_K, dmin); return 2;
    case TYPE_Q5_K: offs[0] = offsetof(block_q5_K, d); offs[1] = offsetof(block_q5_K, dmin); return 2;
    case TYPE_Q6_K: offs[0] = offsetof(block_q6_K, d); return 1;
    case TYPE_IQ4_XS: offs[0] = offsetof(block_iq4_xs, d); return 1;
    default: return 0;
    }
}

/* A weight row of n elements: quantized random floats, or (random_bytes)
 * random bits with random but sane f16 scales. */
static uint8_t *make_weights(enum tensor_type t, int64_t n, int random_bytes)
{
    size_t size = tensor_type_row_size(t, n);
    uint8_t *w = malloc(size);
    assert_non_null(w);
    const struct type_traits *tt = tensor_type_traits(t);
    if (!random_bytes || !tt->quantized) {
        float *f = malloc((size_t)n * sizeof(float));
        assert_non_null(f);
        fill_floats(f, n, 2.0f);
        int rc = quantize_row_ref(t, f, w, n);
        free(f);
        if (rc == 0)
            return w;
        /* no reference quantizer for this type (IQ4_XS): random bytes */
    }
    for (size_t i = 0; i < size; i++)
        w[i] = (uint8_t)rng_next();
    size_t offs[2];
    int nf = scale_fields(t, offs);
    for (int64_t b = 0; b < n / tt->block_size; b++)
        for (int k = 0; k < nf; k++) {
            f16_t h = f32_to_f16(rng_float() * 0.01f);
            memcpy(w + (size_t)b * tt->type_size + offs[k], &h, 2);
        }
    return w;
}

/* An activation row of type at: random floats through the scalar converter. */
static uint8_t *make_activations(enum tensor_type at, int64_t n)
{
    float *f = malloc((size_t)n * sizeof(float));
    uint8_t *a = malloc(tensor_type_row_size(at, n));
    assert_non_null(f);
    assert_non_null(a);
    fill_floats(f, n, 1.0f);
    cpu_kernels_for(CPU_ISA_SCALAR)->from_float[at](f, a, n);
    free(f);
    return a;
}

/* Double dot of the dequantized rows; *bound gets REL_TOL * sum|x_i*y_i|
 * plus the Q8_1 sum-rounding allowance. */
static double reference_dot(enum tensor_type t, const uint8_t *x, const uint8_t *y, int64_t n, double *bound)
{
    enum tensor_type at = act_type_of(t);
    float *xf = malloc((size_t)n * sizeof(float)), *yf = malloc((size_t)n * sizeof(float));
    assert_non_null(xf);
    assert_non_null(yf);
    assert_int_equal(dequantize_row(t, x, xf, n), 0);
    assert_int_equal(dequantize_row(at, y, yf, n), 0);
    double dot = 0.0, abs_sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)xf[i] * yf[i];
        abs_sum += fabs((double)xf[i] * yf[i]);
    }
    *bound = REL_TOL * abs_sum + 1e-30;
    if (at == TYPE_Q8_1) {
        size_t m_off = t == TYPE_Q4_1 ? offsetof(block_q4_1, m) : offsetof(block_q5_1, m);
        for (int64_t b = 0; b < n / QK8_1; b++) {
            f16_t m, s;
            memcpy(&m, x + (size_t)b * tensor_type_traits(t)->type_size + m_off, 2);
            memcpy(&s, y + (size_t)b * sizeof(block_q8_1) + offsetof(block_q8_1, s), 2);
            *bound += ldexp(fabs((double)f16_to_f32(m) * f16_to_f32(s)), -10);
        }
    }
    free(xf);
    free(yf);
    return dot;
}

static void expect_close(double got, double want, double bound, const char *what,
                         enum tensor_type t, int64_t n, const char *isa)
{
    if (!(fabs(got - want) <= bound))
        fail_msg("%s: %s n=%lld %s: got %.9g want %.9g (bound %.3g)", what, tensor_type_name(t),
                 (long long)n, isa, got, want, bound);
}

/* The dot of copies of x and y placed at byte offsets xo and yo. */
static float cpu_dot_at_offset(vec_dot_fn dot, enum tensor_type t, const uint8_t *x, const uint8_t *y,
                           int64_t n, size_t xo, size_t yo)
{
    size_t xs = tensor_type_row_size(t, n), ys = tensor_type_row_size(act_type_of(t), n);
    uint8_t *xbuf = malloc(xs + xo), *ybuf = malloc(ys + yo);
    assert_non_null(xbuf);
    assert_non_null(ybuf);
    memcpy(xbuf + xo, x, xs);
    memcpy(ybuf + yo, y, ys);
    float s = NAN;
    dot(n, &s, xbuf + xo, ybuf + yo);
    free(xbuf);
    free(ybuf);
    return s;
}

/* Scalar vs reference, every table vs scalar, and the same bits at other
 * alignments, for weight row x and activation row y. */
static void check_dot_rows(enum tensor_type t, int64_t n, const uint8_t *x, const uint8_t *y)
{
    double bound;
    double want = reference_dot(t, x, y, n, &bound);
    float scalar = NAN;
    cpu_kernels_for(CPU_ISA_SCALAR)->vec_dot[t](n, &scalar, x, y);
    expect_close(scalar, want, bound, "scalar vs dequantized", t, n, "scalar");
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
        if (k == NULL)
            continue;
        float got = NAN;
        k->vec_dot[t](n, &got, x, y);
        expect_close(got, scalar, 2.0 * bound, "vs scalar", t, n, k->name);
        static const size_t offsets[][2] = { { 1, 0 }, { 3, 5 }, { 0, 2 }, { 7, 1 } };
        for (int o = 0; o < 4; o++) {
            float moved = cpu_dot_at_offset(k->vec_dot[t], t, x, y, n, offsets[o][0], offsets[o][1]);
            if (memcmp(&moved, &got, sizeof(float)) != 0)
                fail_msg("%s n=%lld %s: offsets %zu/%zu changed the bits (%.9g vs %.9g)", tensor_type_name(t),
                         (long long)n, k->name, offsets[o][0], offsets[o][1], moved, got);
        }
    }
}

static void check_dot_case(enum tensor_type t, int64_t n, int random_bytes)
{
    uint8_t *x = make_weights(t, n, random_bytes);
    uint8_t *y = make_activations(act_type_of(t), n);
    check_dot_rows(t, n, x, y);
    free(x);
    free(y);
}

/* ---- tests -------------------------------------------------------------- */

static void test_tables_complete(void **state)
{
    (void)state;
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
        if (k == NULL)
            continue;
        assert_int_equal(k->isa, isa);
        for (int i = 0; i < N_WEIGHT_TYPES; i++) {
            assert_non_null(k->vec_dot[weight_types[i]]);
            assert_non_null(k->from_float[act_type_of(weight_types[i])]);
        }
    }
    assert_non_null(cpu_kernels_for(CPU_ISA_SCALAR));
    assert_non_null(cpu_kernels());
    print_message("best ISA on this CPU: %s\n", cpu_kernels_for(cpu_isa_detect())->name);
}

static void test_dot_quantized_floats(void **state)
{
    (void)state;
    for (int r = 0; r < rounds(); r++)
        for (int i = 0; i < N_WEIGHT_TYPES; i++) {
            enum tensor_type t = weight_types[i];
            int64_t bs = block_size(t) > 1 ? block_size(t) : 32;
            const int64_t blocks[] = { 1, 2, 3, 17, 4096 / bs };
            for (int b = 0; b < 5; b++)
                check_dot_case(t, blocks[b] * bs, 0);
        }
}

static void test_dot_random_bytes(void **state)
{
    (void)state;
    for (int r = 0; r < rounds(); r++)
        for (int i = 0; i < N_WEIGHT_TYPES; i++) {
            enum tensor_type t = weight_types[i];
            if (!tensor_type_traits(t)->quantized)
                continue;
            const int64_t blocks[] = { 1, 5, 4096 / block_size(t) };
            for (int b = 0; b < 3; b++)
                check_dot_case(t, blocks[b] * block_size(t), 1);
        }
}

/* vec_dot_nrows of every table: for 0..19 activation rows at an odd byte
 * stride, each output has exactly the bits of vec_dot on that row. */
static void check_nrows(enum tensor_type t, int64_t n)
{
    enum { MAX_ROWS = 19, S_STRIDE = 3 }; /* past the 8-row paths */
    enum tensor_type at = act_type_of(t);
    size_t row = tensor_type_row_size(at, n), stride = row + 5;
    uint8_t *x = make_weights(t, n, 0);
    uint8_t *ys = malloc(stride * MAX_ROWS);
    assert_non_null(ys);
    for (int r = 0; r < MAX_ROWS; r++) {
        uint8_t *yr = make_activations(at, n);
        memcpy(ys + r * stride, yr, row);
        free(yr);
    }
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
        if (k == NULL)
            continue;
        assert_non_null(k->vec_dot_nrows[t]);
        float want[MAX_ROWS];
        for (int r = 0; r < MAX_ROWS; r++)
            k->vec_dot[t](n, &want[r], x, ys + r * stride);
        for (int nrows = 0; nrows <= MAX_ROWS; nrows++) {
            float got[MAX_ROWS * S_STRIDE + 1];
            for (int j = 0; j < MAX_ROWS * S_STRIDE + 1; j++)
                got[j] = -12345.0f;
            k->vec_dot_nrows[t](n, got, S_STRIDE, x, ys, stride, nrows);
            for (int r = 0; r < MAX_ROWS; r++) {
                float expect = r < nrows ? want[r] : -12345.0f;
                if (memcmp(&got[r * S_STRIDE], &expect, sizeof(float)) != 0)
                    fail_msg("nrows %s n=%lld %s: row %d of %d: %.9g, vec_dot %.9g", tensor_type_name(t), (long long)n,
                             k->name, r, nrows, got[r * S_STRIDE], expect);
            }
        }
    }
    free(x);
    free(ys);
}

static void test_dot_nrows(void **state)
{
    (void)state;
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        enum tensor_type t = weight_types[i];
        int64_t bs = block_size(t) > 1 ? block_size(t) : 32;
        const int64_t blocks[] = { 1, 3, 17, 4096 / bs };
        for (int b = 0; b < 4; b++)
            check_nrows(t, blocks[b] * bs + (block_size(t) == 1 ? 5 : 0));
    }
}

/* vec_dot_nrows_packed (where a table has it): rows converted by
 * from_float_packed, 0..19 of them, give exactly the
 * bits of vec_dot on the same rows converted by from_float; with random
 * weights (also random bytes) and block counts with and without a tail of
 * 1..3 blocks past the groups of four. */
static void check_nrows_packed(enum tensor_type t, int64_t n, int random_bytes)
{
    enum { MAX_ROWS = 19, S_STRIDE = 3 };
    enum tensor_type at = act_type_of(t);
    uint8_t *x = make_weights(t, n, random_bytes);
    float *f = malloc((size_t)MAX_ROWS * n * sizeof(float));
    assert_non_null(f);
    fill_floats(f, MAX_ROWS * n, 1.0f);
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
        if (k == NULL || k->vec_dot_nrows_packed[t] == NULL)
            continue;
        assert_non_null(k->from_float_packed[at]);
        /* rows 64-byte aligned, as the matmul's scratch gives them */
        size_t row = tensor_type_row_size(at, n), prow = cpu_packed_row_size(at, n);
        size_t stride = (prow + 63) / 64 * 64 + 64;
        assert_true(prow >= row);
        uint8_t *plain = aligned_alloc(64, (row + 63) / 64 * 64);
        uint8_t *packed = aligned_alloc(64, (stride * MAX_ROWS + 63) / 64 * 64);
        assert_non_null(plain);
        assert_non_null(packed);
        float want[MAX_ROWS];
        for (int r = 0; r < MAX_ROWS; r++) {
            k->from_float[at](f + r * n, plain, n);
            k->vec_dot[t](n, &want[r], x, plain);
            k->from_float_packed[at](f + r * n, packed + r * stride, n);
        }
        for (int nrows = 0; nrows <= MAX_ROWS; nrows++) {
            float got[MAX_ROWS * S_STRIDE + 1];
            for (int j = 0; j < MAX_ROWS * S_STRIDE + 1; j++)
                got[j] = -12345.0f;
            k->vec_dot_nrows_packed[t](n, got, S_STRIDE, x, packed, stride, nrows);
            for (int r = 0; r < MAX_ROWS; r++) {
                float expect = r < nrows ? want[r] : -12345.0f;
                if (memcmp(&got[r * S_STRIDE], &expect, sizeof(float)) != 0)
                    fail_msg("packed %s n=%lld %s: row %d of %d: %.9g, vec_dot %.9g", tensor_type_name(t),
                             (long long)n, k->name, r, nrows, got[r * S_STRIDE], expect);
            }
        }
        free(plain);
        free(packed);
    }
    free(x);
    free(f);
}

static void test_dot_nrows_packed(void **state)
{
    (void)state;
    int tested = 0;
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        enum tensor_type t = weight_types[i];
        int any = 0;
        for (int isa = 0; isa < CPU_ISA_COUNT; isa++)
            any |= cpu_kernels_for((enum cpu_isa)isa) && cpu_kernels_for((enum cpu_isa)isa)->vec_dot_nrows_packed[t];
        if (!any)
            continue;
        const int64_t blocks[] = { 1, 3, 4, 5, 6, 7, 17, 20, 128 };
        for (int r = 0; r < rounds(); r++)
            for (int b = 0; b < (int)(sizeof(blocks) / sizeof(blocks[0])); b++)
                check_nrows_packed(t, blocks[b] * block_size(t), r & 1);
        tested++;
    }
    print_message("packed activations: %d weight types\n", tested);
}

/* Extreme quants: every weight byte the same pattern (all-max, all-min,
 * sign bits, ...) with a fixed scale, against activations at +-127 (the
 * largest int8 products, where 16-bit intermediate sums could saturate). */
static void test_dot_extremes(void **state)
{
    (void)state;
    const uint8_t patterns[] = { 0x00, 0xFF, 0x80, 0x7F, 0x88, 0x11 };
    const int64_t n = 2 * QK_K + 0; /* 2 super-blocks, 16 blocks of 32 */
    float f[2 * QK_K];
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        enum tensor_type t = weight_types[i];
        const struct type_traits *tt = tensor_type_traits(t);
        if (!tt->quantized)
            continue;
        size_t size = tensor_type_row_size(t, n);
        uint8_t *x = malloc(size), *y = malloc(tensor_type_row_size(tt->vec_dot_type, n));
        assert_non_null(x);
        assert_non_null(y);
        for (int p = 0; p < (int)sizeof(patterns); p++) {
            memset(x, patterns[p], size);
            size_t offs[2];
            int nf = scale_fields(t, offs);
            for (int64_t b = 0; b < n / tt->block_size; b++)
                for (int k = 0; k < nf; k++) {
                    f16_t h = f32_to_f16(k == 0 ? 0.01f : -0.02f);
                    memcpy(x + (size_t)b * tt->type_size + offs[k], &h, 2);
                }
            for (int sign = 0; sign < 3; sign++) {
                for (int64_t j = 0; j < n; j++)
                    f[j] = sign == 0 ? 1.0f : sign == 1 ? -1.0f : (j & 1 ? -1.0f : 1.0f);
                cpu_kernels_for(CPU_ISA_SCALAR)->from_float[tt->vec_dot_type](f, y, n);
                check_dot_rows(t, n, x, y);
            }
        }
        free(x);
        free(y);
    }
}

static void test_dot_plain_tails(void **state)
{
    (void)state;
    const enum tensor_type plain[] = { TYPE_F32, TYPE_F16, TYPE_BF16 };
    const int64_t lengths[] = { 1, 2, 7, 9, 31, 33, 172, 1000, 4099 };
    for (int p = 0; p < 3; p++)
        for (int l = 0; l < 9; l++)
            check_dot_case(plain[p], lengths[l], 0);
}

/* Floats that exercise the converters' corner cases, block by block. */
static void fill_converter_input(float *f, int64_t n, int variant)
{
    fill_floats(f, n, variant == 0 ? 1.0f : 300.0f);
    for (int64_t b = 0; b + 256 <= n; b += 256) {
        switch ((b / 256) % 5) {
        case 0: /* rounding ties: scale 1 for Q8_0 (amax 127) and Q8_K (max -127) */
            f[b] = -127.0f;
            f[b + 32] = 127.0f;
            for (int j = 1; j < 256; j++)
                if (j != 32 && j % 3 == 0)
                    f[b + j] = (float)((int)(rng_next() % 200) - 100) + 0.5f;
            break;
        case 1: /* zero block */
            memset(f + b, 0, 256 * sizeof(float));
            break;
        case 2: /* two values of the largest magnitude with opposite signs */
            f[b + 5] = 3.0f;
            f[b + 200] = -3.0f;
            break;
        default:
            break;
        }
    }
}

/* llama.cpp's CPU (x86) activation quantizer for Q8_0/Q8_1, written from
 * its description: d = amax/127 stored as f16, q = x * (127/amax) rounded to
 * nearest with ties to even (the default rounding mode's nearbyintf);
 * Q8_1 also s = f16(d * sum(q)). (quant.h's reference, which quantizes
 * files as gguf-py does, uses 1/d and rounds half away from zero.) */
static void model_act_q8(enum tensor_type at, const float *f, uint8_t *out, int64_t n)
{
    size_t bsize = at == TYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q8_1);
    for (int64_t b = 0; b < n / 32; b++, f += 32, out += bsize) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fabsf(f[j]) > amax ? fabsf(f[j]) : amax;
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int8_t qs[32];
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            qs[j] = (int8_t)nearbyintf(f[j] * id);
            sum += qs[j];
        }
        f16_t hd = f32_to_f16(d), hs = f32_to_f16(d * (float)sum);
        memcpy(out, &hd, 2);
        if (at == TYPE_Q8_0) {
            memcpy(out + 2, qs, 32);
        } else {
            memcpy(out + 2, &hs, 2);
            memcpy(out + 4, qs, 32);
        }
    }
}

static void check_converter(enum tensor_type at, int64_t n, int variant)
{
    float *f = malloc((size_t)n * sizeof(float));
    assert_non_null(f);
    fill_converter_input(f, n, variant);
    if (at == TYPE_F16 || at == TYPE_BF16) { /* specials */
        const float specials[] = { INFINITY, -INFINITY, NAN, 1e-40f, -3e-8f, 65519.0f, 65520.0f, 1e30f };
        for (int k = 0; k < 8 && k < n; k++)
            f[(k * 37) % n] = specials[k];
    }
    size_t size = tensor_type_row_size(at, n);
    uint8_t *want = calloc(1, size), *got = calloc(1, size);
    assert_non_null(want);
    assert_non_null(got);
    cpu_kernels_for(CPU_ISA_SCALAR)->from_float[at](f, want, n);
    memset(got, 0xAA, size);
    if (at == TYPE_Q8_0 || at == TYPE_Q8_1)
        model_act_q8(at, f, got, n);
    else
        assert_int_equal(quantize_row_ref(at, f, got, n), 0);
    if (memcmp(got, want, size) != 0)
        fail_msg("from_float %s n=%lld: scalar differs from the reference", tensor_type_name(at), (long long)n);
    for (int isa = 1; isa < CPU_ISA_COUNT; isa++) {
        const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
        if (k == NULL)
            continue;
        memset(got, 0x55, size);
        k->from_float[at](f, got, n);
        if (memcmp(got, want, size) != 0)
            fail_msg("from_float %s n=%lld %s: bytes differ from scalar", tensor_type_name(at), (long long)n, k->name);
    }
    free(f);
    free(want);
    free(got);
}

static void test_from_float_identical(void **state)
{
    (void)state;
    for (int r = 0; r < rounds(); r++)
        for (int i = 0; i < N_ACT_TYPES; i++) {
            enum tensor_type at = act_types[i];
            int64_t bs = block_size(at);
            const int64_t lengths[] = { bs, 256, 2048, bs == 1 ? 172 : 4 * bs, bs == 1 ? 13 : 256 * 5 };
            for (int l = 0; l < 5; l++)
                for (int v = 0; v < 2; v++)
                    check_converter(at, lengths[l], v);
        }
}

/* Q8_0 activations round ties to even with id = 127/amax, in every table:
 * the bytes llama.cpp's CPU backend writes for the same floats. */
static void test_from_float_q8_ties(void **state)
{
    (void)state;
    float f[32] = { 127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, 126.5f, -126.5f };
    const int8_t want_ties[10] = { 127, 0, 2, 2, 0, -2, -2, 4, 126, -126 };
    /* id = 127/amax, not 1/(amax/127): here x * id is 97.50001 (-> 98)
     * where x * (1/d) would be 97.49999 (-> 97) */
    float g[32] = { 0x1.cf20f6p+1f, 0x1.638d36p+1f };
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
        if (k == NULL)
            continue;
        block_q8_0 b;
        k->from_float[TYPE_Q8_0](f, &b, 32);
        for (int j = 0; j < 10; j++)
            if (b.qs[j] != want_ties[j])
                fail_msg("%s: Q8_0 of %g is %d, want %d", k->name, (double)f[j], b.qs[j], want_ties[j]);
        assert_true(f16_to_f32(b.d) == f16_to_f32(f32_to_f16(1.0f)));
        k->from_float[TYPE_Q8_0](g, &b, 32);
        assert_int_equal(b.qs[0], 127);
        assert_int_equal(b.qs[1], 98);
    }
}

static void test_isa_cap(void **state)
{
    (void)state;
    enum cpu_isa best = cpu_isa_detect();
    assert_int_equal(cpu_isa_choose(best, NULL), best);
    assert_int_equal(cpu_isa_choose(best, "bogus"), best);
    assert_int_equal(cpu_isa_choose(best, "scalar"), CPU_ISA_SCALAR);
    assert_int_equal(cpu_isa_choose(CPU_ISA_AVX512, "avx2"), CPU_ISA_AVX2);
    assert_int_equal(cpu_isa_choose(CPU_ISA_AVX2, "avx512"), CPU_ISA_AVX2);
    assert_int_equal(cpu_isa_choose(CPU_ISA_SCALAR, "avx512"), CPU_ISA_SCALAR);
    /* main() set CLLM_ISA=scalar before the first cpu_kernels() call */
    assert_int_equal(cpu_kernels()->isa, CPU_ISA_SCALAR);
    /* explicit tables stay available up to what the CPU supports */
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (isa <= (int)best)
            assert_non_null(cpu_kernels_for((enum cpu_isa)isa));
        else
            assert_null(cpu_kernels_for((enum cpu_isa)isa));
    }
}

int main(void)
{
    setenv("CLLM_ISA", "scalar", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_cap),
        cmocka_unit_test(test_tables_complete),
        cmocka_unit_test(test_dot_quantized_floats),
        cmocka_unit_test(test_dot_random_bytes),
        cmocka_unit_test(test_dot_extremes),
        cmocka_unit_test(test_dot_nrows),
        cmocka_unit_test(test_dot_nrows_packed),
        cmocka_unit_test(test_dot_plain_tails),
        cmocka_unit_test(test_from_float_identical),
        cmocka_unit_test(test_from_float_q8_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
