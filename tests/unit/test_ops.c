/*
 * test_ops.c - reference tests of the f32 transformer ops (tensor/ops.h),
 * each against hand-computed values and/or an independent double-precision
 * computation in this file: RMSNorm, LayerNorm, RoPE (normal and NeoX,
 * partial rotation, freq_scale, freq_factors, per-row positions), softmax
 * (scale, mask, -inf rows, large inputs, masked-tail invariance), SiLU, GELU
 * (tanh and erf), SwiGLU/GEGLU, add/mul/scale, and get_rows for plain and
 * quantized tables. All run once per instruction set the ops have (scalar,
 * AVX2).
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
#include "tensor/ops.h"
#include "tensor/quant.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void fill(float *x, int64_t n, float amp)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = frand() * amp;
}

/* |got - want| <= abs_tol + rel_tol * |want| for every element. */
static void expect_close(const float *got, const double *want, int64_t n, double abs_tol, double rel_tol)
{
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= abs_tol + rel_tol * fabs(want[i])))
            fail_msg("element %lld: got %.9g want %.9g", (long long)i, got[i], want[i]);
    }
}

static void test_rms_norm(void **state)
{
    (void)state;
    float x[4] = { 1, 2, 3, 4 }, w[4] = { 1, 0.5f, -2, 0 }, y[4];
    double s = 1.0 / sqrt(7.5 + 1e-5); /* mean of squares is 30/4 */
    double want[4] = { 1 * s, 2 * s, 3 * s, 4 * s };
    op_rms_norm(y, x, NULL, 4, 1e-5f);
    expect_close(y, want, 4, 0, 1e-6);
    double want_w[4] = { 1 * s, 1 * s, -6 * s, 0 };
    op_rms_norm(x, x, w, 4, 1e-5f); /* in place */
    expect_close(x, want_w, 4, 1e-7, 1e-6);

    enum { N = 4096 };
    static float big[N], out[N];
    static double ref[N];
    fill(big, N, 3.0f);
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += (double)big[i] * big[i];
    double sc = 1.0 / sqrt(ss / N + 1e-6);
    for (int i = 0; i < N; i++)
        ref[i] = big[i] * sc;
    op_rms_norm(out, big, NULL, N, 1e-6f);
    expect_close(out, ref, N, 1e-7, 1e-6);
}

static void test_layer_norm(void **state)
{
    (void)state;
    float x[4] = { 1, 2, 3, 4 }, w[4] = { 1, 2, 3, 4 }, b[4] = { 0.5f, 0, -1, 0 }, y[4];
    /* mean 2.5, variance 1.25 */
    double s = 1.0 / sqrt(1.25 + 1e-5);
    double plain[4] = { -1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s };
    op_layer_norm(y, x, NULL, NULL, 4, 1e-5f);
    expect_close(y, plain, 4, 1e-7, 1e-6);
    double affine[4] = { -1.5 * s + 0.5, -1.0 * s, 1.5 * s - 1, 6.0 * s };
    op_layer_norm(y, x, w, b, 4, 1e-5f);
    expect_close(y, affine, 4, 1e-6, 1e-6);
    /* a constant row normalizes to the bias */
    float c[3] = { 7, 7, 7 }, cb[3] = { 1, 2, 3 };
    double want_c[3] = { 1, 2, 3 };
    op_layer_norm(c, c, NULL, cb, 3, 1e-5f);
    expect_close(c, want_c, 3, 1e-6, 0);
}

/* Independent RoPE in double: rotate pair (a, b) of each head. */
static void rope_ref(double *out, const float *x, int n_heads, int head_dim, int pos,
                     int n_dims, double base, double scale, bool neox)
{
    for (int h = 0; h < n_heads; h++) {
        const float *xh = x + h * head_dim;
        double *oh = out + h * head_dim;
        for (int d = 0; d < head_dim; d++)
            oh[d] = xh[d];
        for (int i = 0; i < n_dims / 2; i++) {
            double theta = pos * scale * pow(base, -2.0 * i / n_dims);
            int a = neox ? i : 2 * i, b = neox ? i + n_dims / 2 : 2 * i + 1;
            oh[a] = xh[a] * cos(theta) - xh[b] * sin(theta);
            oh[b] = xh[a] * sin(theta) + xh[b] * cos(theta);
        }
    }
}

static void test_rope_hand_values(void **state)
{
    (void)state;
    /* pos 1, n_dims 2 of head_dim 4: only (x0, x1) turns, by 1 radian. */
    float x[4] = { 1, 0, 5, 6 };
    struct rope_params p = { .n_dims = 2, .freq_base = 10000, .freq_scale = 1, .mode = ROPE_NORMAL };
    assert_int_equal(op_rope(x, 1, 4, 1, &p), 0);
    double want[4] = { cos(1.0), sin(1.0), 5, 6 };
    expect_close(x, want, 4, 1e-7, 0);

    /* NeoX, n_dims 4 of head_dim 4: pairs (0,2) by pos, (1,3) by pos/100. */
    float y[4] = { 1, 1, 0, 0 };
    p = (struct rope_params){ .n_dims = 4, .freq_base = 10000, .freq_scale = 1, .mode = ROPE_NEOX };
    assert_int_equal(op_rope(y, 1, 4, 3, &p), 0);
    double want_y[4] = { cos(3.0), cos(0.03), sin(3.0), sin(0.03) };
    expect_close(y, want_y, 4, 1e-7, 0);

    /* position 0 is the identity */
    float z[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    double want_z[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_int_equal(op_rope(z, 2, 4, 0, &p), 0);
    expect_close(z, want_z, 8, 0, 0);

    /* bad params */
    p.n_dims = 3;
    assert_int_equal(op_rope(z, 2, 4, 1, &p), -1);
    p.n_dims = 6;
    assert_int_equal(op_rope(z, 2, 4, 1, &p), -1);
}

static void check_rope_case(int n_heads, int head_dim, int n_dims, float base, float scale,
                            enum rope_mode mode)
{
    enum { MAXN = 8 * 256 };
    float x[MAXN], orig[MAXN];
    double ref[MAXN];
    int n = n_heads * head_dim;
    assert_true(n <= MAXN);
    struct rope_params p = { .n_dims = n_dims, .freq_base = base, .freq_scale = scale, .mode = mode };
    int positions[] = { 0, 1, 17, 1000, 32767 };
    for (size_t k = 0; k < sizeof(positions) / sizeof(positions[0]); k++) {
        fill(orig, n, 2.0f);
        memcpy(x, orig, sizeof(float) * (size_t)n);
        assert_int_equal(op_rope(x, n_heads, head_dim, positions[k], &p), 0);
        rope_ref(ref, orig, n_heads, head_dim, positions[k], n_dims, base, scale, mode == ROPE_NEOX);
        /* angles up to ~3e4 rad in float: allow a few ulp of the angle */
        expect_close(x, ref, n, 2e-5, 0);
    }
}

static void test_rope_vs_double(void **state)
{
    (void)state;
    check_rope_case(4, 64, 64, 10000, 1, ROPE_NORMAL);
    check_rope_case(4, 64, 64, 10000, 1, ROPE_NEOX);
    check_rope_case(2, 128, 32, 1e6f, 1, ROPE_NEOX);   /* partial rotation */
    check_rope_case(2, 128, 32, 10000, 1, ROPE_NORMAL);
    check_rope_case(3, 80, 80, 500000, 0.25f, ROPE_NEOX); /* linear scaling */
    check_rope_case(8, 256, 256, 10000, 0.125f, ROPE_NORMAL);
}

/* freq_factors divide theta_i: same as the plain rotation with pos scaled
 * per pair; checked against the double reference pair by pair. */
static void test_rope_freq_factors(void **state)
{
    (void)state;
    enum { HD = 8 };
    const float ff[HD / 2] = { 1, 2, 8, 0.5f };
    float x[HD], orig[HD];
    fill(orig, HD, 1.0f);
    memcpy(x, orig, sizeof(x));
    struct rope_params p = { .n_dims = HD, .freq_base = 10000, .freq_scale = 1, .mode = ROPE_NEOX,
                             .freq_factors = ff };
    assert_int_equal(op_rope(x, 1, HD, 77, &p), 0);
    double want[HD];
    for (int i = 0; i < HD / 2; i++) {
        double theta = 77.0 * pow(10000.0, -2.0 * i / HD) / ff[i];
        want[i] = orig[i] * cos(theta) - orig[i + HD / 2] * sin(theta);
        want[i + HD / 2] = orig[i] * sin(theta) + orig[i + HD / 2] * cos(theta);
    }
    expect_close(x, want, HD, 1e-6, 0);
}

/* The AVX2 rotation does the scalar arithmetic, so both give the same bits. */
static void test_rope_same_bits_every_isa(void **state)
{
    (void)state;
    enum cpu_isa saved = ops_get_isa();
    if (ops_set_isa(CPU_ISA_AVX2) != 0)
        skip();
    enum { HEADS = 3, HD = 80 };
    const int dims[] = { 80, 40, 18, 8, 2 };
    float orig[HEADS * HD], a[HEADS * HD], b[HEADS * HD];
    for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++) {
        for (int mode = 0; mode < 2; mode++) {
            struct rope_params p = { .n_dims = dims[d], .freq_base = 10000, .freq_scale = 1,
                                     .mode = mode ? ROPE_NEOX : ROPE_NORMAL };
            fill(orig, HEADS * HD, 3.0f);
            memcpy(a, orig, sizeof(a));
            memcpy(b, orig, sizeof(b));
            ops_set_isa(CPU_ISA_SCALAR);
            assert_int_equal(op_rope(a, HEADS, HD, 1234, &p), 0);
            ops_set_isa(CPU_ISA_AVX2);
            assert_int_equal(op_rope(b, HEADS, HD, 1234, &p), 0);
            assert_memory_equal(a, b, sizeof(a));
        }
    }
    ops_set_isa(saved);
}

/* RMS norm: the same bits on every ISA, and llama.cpp's recipe (squares
 * rounded to float, summed in double, the mean rounded to float, then
 * 1/sqrtf(mean + eps), y = (x * s) * w): activations quantized next round
 * ties by these bits. */
static void test_rms_norm_same_bits_every_isa(void **state)
{
    (void)state;
    enum cpu_isa saved = ops_get_isa();
    if (ops_set_isa(CPU_ISA_AVX2) != 0)
        skip();
    const int lengths[] = { 1, 7, 8, 13, 128, 640, 1001 };
    static float x[1001], w[1001], a[1001], b[1001], want[1001];
    for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
        int n = lengths[l];
        fill(x, n, 3.0f);
        fill(w, n, 1.0f);
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += (double)(x[i] * x[i]);
        const float mean = (float)(sum / n);
        const float sc = 1.0f / sqrtf(mean + 1e-6f);
        for (int i = 0; i < n; i++)
            want[i] = x[i] * sc * w[i];
        ops_set_isa(CPU_ISA_SCALAR);
        op_rms_norm(a, x, w, n, 1e-6f);
        ops_set_isa(CPU_ISA_AVX2);
        op_rms_norm(b, x, w, n, 1e-6f);
        assert_memory_equal(a, b, sizeof(float) * (size_t)n);
        assert_memory_equal(a, want, sizeof(float) * (size_t)n);
    }
    ops_set_isa(saved);
}

static void test_rope_rows_positions(void **state)
{
    (void)state;
    enum { ROWS = 3, HEADS = 2, HD = 16, STRIDE = HEADS * HD + 5 };
    float x[ROWS * STRIDE], one[ROWS * STRIDE];
    fill(x, ROWS * STRIDE, 1.0f);
    memcpy(one, x, sizeof(x));
    int32_t pos[ROWS] = { 5, 0, 123 };
    struct rope_params p = { .n_dims = 12, .freq_base = 10000, .freq_scale = 1, .mode = ROPE_NEOX };
    assert_int_equal(op_rope_rows(x, ROWS, STRIDE, HEADS, HD, pos, &p), 0);
    for (int r = 0; r < ROWS; r++)
        assert_int_equal(op_rope(one + r * STRIDE, HEADS, HD, pos[r], &p), 0);
    assert_memory_equal(x, one, sizeof(x)); /* also: the gaps between rows untouched */
}

static void softmax_ref(double *out, const float *x, int n, double scale, const float *mask)
{
    double max = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) {
        out[i] = x[i] * scale + (mask ? mask[i] : 0);
        max = out[i] > max ? out[i] : max;
    }
    for (int i = 0; i < n; i++)
        sum += (out[i] = exp(out[i] - max));
    for (int i = 0; i < n; i++)
        out[i] /= sum;
}

static void test_softmax(void **state)
{
    (void)state;
    float x[3] = { 1, 2, 3 }, y[3];
    double e1 = exp(1.0), e2 = exp(2.0), e3 = exp(3.0), s = e1 + e2 + e3;
    double want[3] = { e1 / s, e2 / s, e3 / s };
    op_softmax(y, x, 3, 1.0f, NULL);
    expect_close(y, want, 3, 0, 1e-6);

    /* mask: -inf gives exactly 0; scale applies before the mask */
    float mask[3] = { 0, -INFINITY, 0.5f };
    double a = exp(0.5), c = exp(1.5 + 0.5), sm = a + c;
    double want_m[3] = { a / sm, 0, c / sm };
    op_softmax(y, x, 3, 0.5f, mask);
    expect_close(y, want_m, 3, 0, 1e-6);
    assert_true(y[1] == 0.0f);

    /* all masked: zeros, not NaN */
    float all[3] = { -INFINITY, -INFINITY, -INFINITY };
    op_softmax(y, x, 3, 1.0f, all);
    for (int i = 0; i < 3; i++)
        assert_true(y[i] == 0.0f);

    /* large inputs stay finite; in place */
    float big[2] = { 1000, 1001 };
    op_softmax(big, big, 2, 1.0f, NULL);
    double want_b[2] = { 1 / (1 + exp(1.0)), exp(1.0) / (1 + exp(1.0)) };
    expect_close(big, want_b, 2, 0, 1e-6);

    enum { N = 1001 };
    float r[N], rm[N], out[N];
    double ref[N];
    fill(r, N, 20.0f);
    for (int i = 0; i < N; i++)
        rm[i] = (i % 3 == 0) ? -INFINITY : frand();
    softmax_ref(ref, r, N, 0.125, rm);
    op_softmax(out, r, N, 0.125f, rm);
    expect_close(out, ref, N, 1e-9, 1e-5);
}

static void test_activations_hand_values(void **state)
{
    (void)state;
    float x[5] = { 0, 1, -1, 3, -100 }, y[5];
    double silu[5] = { 0, 0.7310585786300049, -0.2689414213699951, 2.8577223804673, -3.720076e-42 };
    op_silu(y, x, 5);
    expect_close(y, silu, 5, 1e-30, 1e-6);
    double gelu_tanh[5] = { 0, 0.8411919906082768, -0.15880800939172324, 2.996362607918227, 0 };
    op_gelu(y, x, 5);
    expect_close(y, gelu_tanh, 5, 1e-7, 1e-6);
    double gelu_erf[5] = { 0, 0.8413447460685429, -0.15865525393145707, 2.99595030590511, 0 };
    op_gelu_erf(y, x, 5);
    expect_close(y, gelu_erf, 5, 1e-7, 1e-6);
    float big[2] = { 100, 1e30f };
    op_silu(big, big, 2);
    assert_true(big[0] == 100.0f && big[1] == 1e30f);
}

static void test_activations_vs_double(void **state)
{
    (void)state;
    enum { N = 2003 };
    float x[N], y[N];
    double ref[N];
    fill(x, N, 8.0f);
    for (int i = 0; i < N; i++)
        ref[i] = x[i] / (1 + exp(-(double)x[i]));
    op_silu(y, x, N);
    expect_close(y, ref, N, 1e-7, 2e-6);
    for (int i = 0; i < N; i++) {
        double v = x[i];
        ref[i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    }
    op_gelu(y, x, N);
    expect_close(y, ref, N, 1e-6, 2e-6);
    for (int i = 0; i < N; i++)
        ref[i] = 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
    op_gelu_erf(y, x, N);
    expect_close(y, ref, N, 1e-6, 2e-6);
}

static void test_gated(void **state)
{
    (void)state;
    enum { N = 257 };
    float gate[N], up[N], y[N], act[N];
    double ref[N];
    fill(gate, N, 5.0f);
    fill(up, N, 2.0f);
    op_silu(act, gate, N);
    for (int i = 0; i < N; i++)
        ref[i] = (double)act[i] * up[i];
    op_swiglu(y, gate, up, N);
    expect_close(y, ref, N, 0, 1e-6);
    op_gelu(act, gate, N);
    for (int i = 0; i < N; i++)
        ref[i] = (double)act[i] * up[i];
    op_geglu(y, gate, up, N);
    expect_close(y, ref, N, 0, 1e-6);
    op_gelu_erf(act, gate, N);
    for (int i = 0; i < N; i++)
        ref[i] = (double)act[i] * up[i];
    op_geglu_erf(gate, gate, up, N); /* y aliases gate */
    expect_close(gate, ref, N, 0, 1e-6);
}

static void test_elementwise(void **state)
{
    (void)state;
    float a[5] = { 1, -2, 3.5f, 0, 1e10f }, b[5] = { 0.5f, 2, -1, 7, 1 }, y[5];
    double sum[5] = { 1.5, 0, 2.5, 7, 1e10 }, prod[5] = { 0.5, -4, -3.5, 0, 1e10 };
    double scaled[5] = { -3, 6, -10.5, 0, -3e10 };
    op_add(y, a, b, 5);
    expect_close(y, sum, 5, 0, 1e-7);
    op_mul(y, a, b, 5);
    expect_close(y, prod, 5, 0, 1e-7);
    op_scale(y, a, -3, 5);
    expect_close(y, scaled, 5, 0, 1e-7);
    op_add(a, a, b, 5); /* in place */
    expect_close(a, sum, 5, 0, 1e-7);
}

static void test_get_rows_plain(void **state)
{
    (void)state;
    enum { ROWS = 4, COLS = 6 };
    float table[ROWS * COLS];
    f16_t t16[ROWS * COLS];
    bf16_t tb16[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) {
        table[i] = (float)i * 0.25f - 2; /* exact in f16 and bf16 */
        t16[i] = f32_to_f16(table[i]);
        tb16[i] = f32_to_bf16(table[i]);
    }
    int32_t ids[3] = { 3, 0, 3 };
    float y[3 * COLS];
    double want[3 * COLS];
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < COLS; c++)
            want[k * COLS + c] = table[ids[k] * COLS + c];
    assert_int_equal(op_get_rows(y, TYPE_F32, table, ROWS, COLS, ids, 3), 0);
    expect_close(y, want, 3 * COLS, 0, 0);
    assert_int_equal(op_get_rows(y, TYPE_F16, t16, ROWS, COLS, ids, 3), 0);
    expect_close(y, want, 3 * COLS, 0, 0);
    assert_int_equal(op_get_rows(y, TYPE_BF16, tb16, ROWS, COLS, ids, 3), 0);
    expect_close(y, want, 3 * COLS, 0, 0);
    int32_t bad[2] = { 1, 4 };
    assert_int_equal(op_get_rows(y, TYPE_F32, table, ROWS, COLS, bad, 2), -1);
    bad[1] = -1;
    assert_int_equal(op_get_rows(y, TYPE_F32, table, ROWS, COLS, bad, 2), -1);
}

/* Quantized tables: each row must equal dequantize_row of that row. */
static void test_get_rows_quantized(void **state)
{
    (void)state;
    enum { ROWS = 5, COLS = 512 };
    enum tensor_type types[] = { TYPE_Q4_0, TYPE_Q8_0, TYPE_Q4_K, TYPE_Q6_K };
    static float src[ROWS * COLS], y[3 * COLS], want_row[COLS];
    static char q[ROWS * COLS * 2];
    fill(src, ROWS * COLS, 1.0f);
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        size_t rs = tensor_type_row_size(types[t], COLS);
        for (int r = 0; r < ROWS; r++)
            assert_int_equal(quantize_row_ref(types[t], src + r * COLS, q + r * rs, COLS), 0);
        int32_t ids[3] = { 4, 1, 2 };
        assert_int_equal(op_get_rows(y, types[t], q, ROWS, COLS, ids, 3), 0);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(dequantize_row(types[t], q + ids[k] * rs, want_row, COLS), 0);
            assert_memory_equal(y + k * COLS, want_row, sizeof(want_row));
            for (int c = 0; c < COLS; c++) /* and near the original values */
                assert_true(fabsf(y[k * COLS + c] - src[ids[k] * COLS + c]) < 0.2f);
        }
    }
}

/* A row's softmax must not change when masked (-inf) entries are appended:
 * attention over a longer KV cache with the extra positions masked (a batch)
 * then gives bitwise the same weights as over just the visible ones. */
static void test_softmax_masked_tail_invariant(void **state)
{
    (void)state;
    enum { MAXN = 64 };
    const int lens[][2] = { { 1, 3 }, { 5, 13 }, { 7, 8 }, { 8, 9 }, { 16, 40 }, { 23, 64 } };
    float x[MAXN], mask[MAXN], y_short[MAXN], y_long[MAXN];
    for (size_t c = 0; c < sizeof(lens) / sizeof(lens[0]); c++) {
        int n = lens[c][0], m = lens[c][1];
        fill(x, MAXN, 10.0f);
        for (int i = 0; i < MAXN; i++)
            mask[i] = i < n ? (i % 4 == 1 ? -INFINITY : 0.0f) : -INFINITY;
        op_softmax(y_short, x, n, 0.3f, mask);
        op_softmax(y_long, x, m, 0.3f, mask);
        assert_memory_equal(y_short, y_long, sizeof(float) * (size_t)n);
        for (int i = n; i < m; i++)
            assert_true(y_long[i] == 0.0f);
    }
}

static const char *isa_names[CPU_ISA_COUNT] = { "scalar", "avx2", "avx512" };

/* y += a * x for f32 and f16 rows of odd lengths, against double. */
static void test_axpy(void **state)
{
    (void)state;
    enum { N = 77 };
    float x[N], y32[N], y16[N];
    f16_t h[N];
    double want32[N], want16[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)((i * 37) % 19) / 7.0f - 1.3f;
        h[i] = f32_to_f16(x[i]);
        y32[i] = y16[i] = (float)i * 0.25f;
        want32[i] = y32[i] + 0.3 * (double)x[i];
        want16[i] = y16[i] + 0.3 * (double)f16_to_f32(h[i]);
    }
    for (int len = 1; len <= N; len += 19) {
        float a[N], b[N];
        memcpy(a, y32, sizeof(a));
        memcpy(b, y16, sizeof(b));
        op_axpy(a, 0.3f, x, len);
        op_axpy_f16(b, 0.3f, h, len);
        for (int i = 0; i < N; i++) {
            assert_true(fabs(a[i] - (i < len ? want32[i] : y32[i])) < 1e-5);
            assert_true(fabs(b[i] - (i < len ? want16[i] : y16[i])) < 1e-5);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_masked_tail_invariant),
        cmocka_unit_test(test_axpy),
        cmocka_unit_test(test_rms_norm),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_rope_hand_values),
        cmocka_unit_test(test_rope_vs_double),
        cmocka_unit_test(test_rope_freq_factors),
        cmocka_unit_test(test_rope_same_bits_every_isa),
        cmocka_unit_test(test_rms_norm_same_bits_every_isa),
        cmocka_unit_test(test_rope_rows_positions),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_activations_hand_values),
        cmocka_unit_test(test_activations_vs_double),
        cmocka_unit_test(test_gated),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_get_rows_plain),
        cmocka_unit_test(test_get_rows_quantized),
    };
    /* the whole set on each instruction set the ops have a version for */
    int failed = 0;
    for (int isa = CPU_ISA_SCALAR; isa <= CPU_ISA_AVX2; isa++) {
        if (ops_set_isa((enum cpu_isa)isa) != 0)
            continue;
        print_message("ops on %s\n", isa_names[isa]);
        failed += cmocka_run_group_tests_name(isa_names[isa], tests, NULL, NULL);
    }
    return failed;
}
