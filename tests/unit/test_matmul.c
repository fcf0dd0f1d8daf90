/*
 * test_matmul.c - the matrix multiply (tensor/matmul.h), for every weight
 * type that has a kernel and every kernel table this CPU runs:
 *   - accuracy: Y against a double-precision reference built from the
 *     dequantized weights and the reference-quantized activations;
 *   - batch invariance: Y row r is bitwise identical (memcmp) whether it is
 *     computed alone (n_rows = 1), inside a batch of 3 or 7, or inside a
 *     batch of 70 at another position (another tile), on 1, 2 and 3 threads;
 *   - matmul_many (several matrices sharing X) equal to separate matmuls;
 *   - batches bigger than the context's size (done in slices): same bits;
 *   - unaligned weight rows with a row stride, strided X and Y, and the
 *     argument checks.
 * CLLM_TEST_QUICK=1 skips the 70-row batches.
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

#include "tensor/f16.h"
#include "tensor/matmul.h"
#include "tensor/quant.h"

#define N_IN 512
#define N_OUT 67
#define SMALL_BATCH 7
#define BIG_BATCH 70
#define MAX_THREADS 3

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void fill(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = frand();
}

static bool quick(void) { return getenv("CLLM_TEST_QUICK") != NULL; }

/* Types without a reference quantizer: random quants and scales, with the
 * f16 super-block scale set to something sane. */
static bool random_row(enum tensor_type type, void *row, int64_t n)
{
    if (type != TYPE_IQ4_XS)
        return false;
    block_iq4_xs *b = row;
    for (int64_t k = 0; k < n / QK_K; k++) {
        uint8_t *bytes = (uint8_t *)&b[k];
        for (size_t j = 0; j < sizeof(b[k]); j++)
            bytes[j] = (uint8_t)(frand() * 128 + 128);
        b[k].d = f32_to_f16(0.004f * (1 + frand()));
    }
    return true;
}

/* A weight matrix of a type quantized from random floats, placed `offset`
 * bytes into its buffer with `pad` bytes between rows. */
struct test_weights {
    struct matmul_weights w;
    char *buf;
    float *deq; /* the weights as dequantized, n_out x n_in */
};

static bool make_weights(struct test_weights *tw, enum tensor_type type, int64_t n_out,
                         int64_t n_in, size_t offset, size_t pad)
{
    size_t rs = tensor_type_row_size(type, n_in);
    size_t stride = rs + pad;
    float *src = malloc(sizeof(float) * (size_t)n_in);
    tw->buf = calloc(1, offset + stride * (size_t)n_out + 64);
    tw->deq = malloc(sizeof(float) * (size_t)(n_out * n_in));
    assert_true(src && tw->buf && tw->deq);
    bool ok = true;
    for (int64_t i = 0; i < n_out && ok; i++) {
        fill(src, n_in);
        char *row = tw->buf + offset + (size_t)i * stride;
        ok = (quantize_row_ref(type, src, row, n_in) == 0 || random_row(type, row, n_in)) &&
             dequantize_row(type, row, tw->deq + i * n_in, n_in) == 0;
    }
    free(src);
    tw->w = (struct matmul_weights){ type, tw->buf + offset, n_out, n_in, pad ? stride : 0 };
    return ok;
}

static void free_weights(struct test_weights *tw)
{
    free(tw->buf);
    free(tw->deq);
}

/* Double reference of one output row, with X quantized the reference way to
 * the activation type; also returns sum |w*x| for the tolerance. */
static void reference_row(const struct test_weights *tw, const float *x, double *y, double *mag)
{
    enum tensor_type vdt = tensor_type_traits(tw->w.type)->vec_dot_type;
    int64_t n_in = tw->w.n_in;
    void *q = malloc(tensor_type_row_size(vdt, n_in) + 64);
    float *xq = malloc(sizeof(float) * (size_t)n_in);
    assert_true(q && xq);
    assert_int_equal(quantize_row_ref(vdt, x, q, n_in), 0);
    assert_int_equal(dequantize_row(vdt, q, xq, n_in), 0);
    for (int64_t i = 0; i < tw->w.n_out; i++) {
        double s = 0, m = 0;
        for (int64_t k = 0; k < n_in; k++) {
            double p = (double)tw->deq[i * n_in + k] * xq[k];
            s += p;
            m += fabs(p);
        }
        y[i] = s;
        mag[i] = m;
    }
    free(q);
    free(xq);
}

/* The weight types to test: supported, with a kernel in table k. */
static bool testable(const struct cpu_kernels *k, uint32_t t)
{
    const struct type_traits *tt = tensor_type_traits(t);
    return tt && tt->supported && k->vec_dot[t] != NULL &&
           (tt->vec_dot_type == TYPE_F32 || k->from_float[tt->vec_dot_type] != NULL);
}

struct fixture {
    struct thread_pool *pools[MAX_THREADS + 1];
    struct matmul_ctx *ctx[MAX_THREADS + 1]; /* index = number of threads */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    for (int n = 1; n <= MAX_THREADS; n++) {
        f->pools[n] = thread_pool_create(n);
        f->ctx[n] = matmul_ctx_create(f->pools[n], BIG_BATCH, N_IN);
        if (f->pools[n] == NULL || f->ctx[n] == NULL)
            return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int n = 1; n <= MAX_THREADS; n++) {
        matmul_ctx_free(f->ctx[n]);
        thread_pool_free(f->pools[n]);
    }
    free(f);
    return 0;
}

static int set_isa_all(struct fixture *f, enum cpu_isa isa)
{
    for (int n = 1; n <= MAX_THREADS; n++)
        if (matmul_ctx_set_isa(f->ctx[n], isa) != 0)
            return -1;
    return 0;
}

static void check_accuracy(struct matmul_ctx *ctx, const struct test_weights *tw, const char *isa)
{
    float x[SMALL_BATCH * N_IN], y[SMALL_BATCH * N_OUT];
    double ref[N_OUT], mag[N_OUT];
    fill(x, SMALL_BATCH * N_IN);
    assert_int_equal(matmul(ctx, &tw->w, x, SMALL_BATCH, 0, y, 0), 0);
    for (int r = 0; r < SMALL_BATCH; r++) {
        reference_row(tw, x + r * N_IN, ref, mag);
        for (int i = 0; i < N_OUT; i++) {
            double err = fabs(y[r * N_OUT + i] - ref[i]);
            if (!(err <= 2e-3 * mag[i] + 1e-5))
                fail_msg("%s %s: Y[%d][%d] = %.7g, reference %.7g (sum|wx| %.4g)", isa,
                         tensor_type_name(tw->w.type), r, i, y[r * N_OUT + i], ref[i], mag[i]);
        }
    }
}

static void test_accuracy(void **state)
{
    struct fixture *f = *state;
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (set_isa_all(f, (enum cpu_isa)isa) != 0)
            continue;
        const struct cpu_kernels *k = matmul_ctx_kernels(f->ctx[1]);
        int n_types = 0;
        char names[256] = "";
        for (uint32_t t = 0; t < TYPE_COUNT; t++) {
            if (!testable(k, t))
                continue;
            size_t len = strlen(names);
            snprintf(names + len, sizeof(names) - len, "%s ", tensor_type_name(t));
            struct test_weights tw;
            if (make_weights(&tw, (enum tensor_type)t, N_OUT, N_IN, 0, 0)) {
                check_accuracy(f->ctx[1 + t % MAX_THREADS], &tw, k->name);
                n_types++;
            } else {
                print_message("%s: no reference quantizer, skipped\n", tensor_type_name(t));
            }
            free_weights(&tw);
        }
        print_message("accuracy (%s): %d types: %s\n", k->name, n_types, names);
        assert_true(n_types >= 3);
    }
}

/* Y row r alone, in the small batch and in the big batch (at row big_pos[r])
 * on each thread count: all bitwise identical to the 1-thread single row. */
static void check_invariance(struct fixture *f, const struct test_weights *tw)
{
    static float x[SMALL_BATCH * N_IN], xbig[BIG_BATCH * N_IN];
    static float y1[N_OUT], want[SMALL_BATCH][N_OUT], ys[SMALL_BATCH * N_OUT], ybig[BIG_BATCH * N_OUT];
    const int big_pos[SMALL_BATCH] = { 0, 5, 63, 64, 33, 69, 17 };
    fill(x, SMALL_BATCH * N_IN);
    fill(xbig, BIG_BATCH * N_IN);
    for (int r = 0; r < SMALL_BATCH; r++)
        memcpy(xbig + big_pos[r] * N_IN, x + r * N_IN, sizeof(float) * N_IN);
    for (int r = 0; r < SMALL_BATCH; r++)
        assert_int_equal(matmul(f->ctx[1], &tw->w, x + r * N_IN, 1, 0, want[r], 0), 0);
    for (int n = 1; n <= MAX_THREADS; n++) {
        struct matmul_ctx *ctx = f->ctx[n];
        for (int r = 0; r < SMALL_BATCH; r++) {
            assert_int_equal(matmul(ctx, &tw->w, x + r * N_IN, 1, 0, y1, 0), 0);
            assert_memory_equal(y1, want[r], sizeof(y1));
        }
        assert_int_equal(matmul(ctx, &tw->w, x, SMALL_BATCH, 0, ys, 0), 0);
        for (int r = 0; r < SMALL_BATCH; r++)
            assert_memory_equal(ys + r * N_OUT, want[r], sizeof(y1));
        /* 3 rows (rows 2..4) take the few-rows split */
        assert_int_equal(matmul(ctx, &tw->w, x + 2 * N_IN, 3, 0, ys, 0), 0);
        for (int r = 0; r < 3; r++)
            assert_memory_equal(ys + r * N_OUT, want[2 + r], sizeof(y1));
        if (quick())
            continue;
        assert_int_equal(matmul(ctx, &tw->w, xbig, BIG_BATCH, 0, ybig, 0), 0);
        for (int r = 0; r < SMALL_BATCH; r++)
            assert_memory_equal(ybig + big_pos[r] * N_OUT, want[r], sizeof(y1));
    }
}

static void test_batch_invariance(void **state)
{
    struct fixture *f = *state;
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (set_isa_all(f, (enum cpu_isa)isa) != 0)
            continue;
        const struct cpu_kernels *k = matmul_ctx_kernels(f->ctx[1]);
        for (uint32_t t = 0; t < TYPE_COUNT; t++) {
            if (!testable(k, t))
                continue;
            struct test_weights tw;
            if (make_weights(&tw, (enum tensor_type)t, N_OUT, N_IN, 0, 0))
                check_invariance(f, &tw);
            free_weights(&tw);
        }
    }
}

/* Rows 2 bytes off alignment with a stride, strided X and Y: same numbers as
 * packed aligned rows. */
static void test_unaligned_and_strides(void **state)
{
    struct fixture *f = *state;
    set_isa_all(f, cpu_kernels()->isa);
    enum tensor_type types[] = { TYPE_Q4_0, TYPE_Q8_0, TYPE_Q4_K, TYPE_Q6_K, TYPE_F16 };
    enum { XS = N_IN + 3, YS = N_OUT + 5, ROWS = 5 };
    static float x[ROWS * XS], xp[ROWS * N_IN], y[ROWS * YS], yp[ROWS * N_OUT];
    fill(x, ROWS * XS);
    for (int r = 0; r < ROWS; r++)
        memcpy(xp + r * N_IN, x + r * XS, sizeof(float) * N_IN);
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        if (!testable(cpu_kernels(), types[t]))
            continue;
        struct test_weights a, b;
        uint64_t saved = rng_state;
        bool ok = make_weights(&a, types[t], N_OUT, N_IN, 0, 0);
        rng_state = saved;
        ok = make_weights(&b, types[t], N_OUT, N_IN, 2, 6) && ok;
        if (ok) {
            for (int n = 1; n <= MAX_THREADS; n++) {
                memset(y, 0x7f, sizeof(y));
                assert_int_equal(matmul(f->ctx[n], &a.w, xp, ROWS, 0, yp, 0), 0);
                assert_int_equal(matmul(f->ctx[n], &b.w, x, ROWS, XS, y, YS), 0);
                for (int r = 0; r < ROWS; r++) {
                    assert_memory_equal(y + r * YS, yp + r * N_OUT, sizeof(float) * N_OUT);
                    for (int i = N_OUT; i < YS; i++) /* gaps untouched */
                        assert_memory_equal(&y[r * YS + i], &(uint32_t){ 0x7f7f7f7f }, 4);
                }
            }
        }
        free_weights(&a);
        free_weights(&b);
    }
}

/* matmul_many: each output bitwise equal to its own matmul(), for mixed
 * types sharing an activation type, strided outputs, all thread counts. */
static void test_many(void **state)
{
    struct fixture *f = *state;
    set_isa_all(f, cpu_kernels()->isa);
    enum { M = 3, ROWS = SMALL_BATCH };
    const enum tensor_type types[M] = { TYPE_Q4_K, TYPE_Q6_K, TYPE_Q4_K };
    const int64_t n_out[M] = { 67, 33, 130 }, strides[M] = { 0, 40, 131 };
    struct test_weights tw[M];
    struct matmul_weights ws[M];
    static float x[ROWS * N_IN], alone[ROWS * 131], out[M][ROWS * 131];
    float *ys[M] = { out[0], out[1], out[2] };
    fill(x, ROWS * N_IN);
    bool ok = true;
    for (int m = 0; m < M; m++) {
        ok = make_weights(&tw[m], types[m], n_out[m], N_IN, 0, 0) && ok;
        ws[m] = tw[m].w;
    }
    const int64_t batches[] = { 1, ROWS };
    for (int n = 1; n <= MAX_THREADS && ok; n++) {
        for (int b = 0; b < 2; b++) {
            int64_t rows = batches[b];
            assert_int_equal(matmul_many(f->ctx[n], ws, M, x, rows, 0, ys, strides), 0);
            for (int m = 0; m < M; m++) {
                int64_t ys_m = strides[m] ? strides[m] : n_out[m];
                assert_int_equal(matmul(f->ctx[1], &ws[m], x, rows, 0, alone, 0), 0);
                for (int64_t r = 0; r < rows; r++)
                    assert_memory_equal(out[m] + r * ys_m, alone + r * n_out[m],
                                        sizeof(float) * (size_t)n_out[m]);
            }
        }
    }
    /* mismatched activation types, bad counts */
    struct test_weights q40;
    if (make_weights(&q40, TYPE_Q4_0, 8, N_IN, 0, 0)) {
        struct matmul_weights mixed[2] = { ws[0], q40.w };
        assert_int_equal(matmul_many(f->ctx[2], mixed, 2, x, 1, 0, ys, NULL), -1);
    }
    free_weights(&q40);
    assert_int_equal(matmul_many(f->ctx[2], ws, 0, x, 1, 0, ys, NULL), -1);
    assert_int_equal(matmul_many(f->ctx[2], ws, MATMUL_MAX_MANY + 1, x, 1, 0, ys, NULL), -1);
    for (int m = 0; m < M; m++)
        free_weights(&tw[m]);
}

/* A batch bigger than the context was made for runs in slices, with the
 * same bits. */
static void test_batch_over_context_size(void **state)
{
    struct fixture *f = *state;
    set_isa_all(f, cpu_kernels()->isa);
    enum { ROWS = SMALL_BATCH };
    static float x[ROWS * N_IN], want[ROWS * N_OUT], got[ROWS * N_OUT];
    fill(x, ROWS * N_IN);
    struct matmul_ctx *small = matmul_ctx_create(f->pools[3], 3, N_IN);
    assert_non_null(small);
    enum tensor_type types[] = { TYPE_Q4_K, TYPE_Q8_0, TYPE_F32 };
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        struct test_weights tw;
        if (make_weights(&tw, types[t], N_OUT, N_IN, 0, 0)) {
            assert_int_equal(matmul(f->ctx[2], &tw.w, x, ROWS, 0, want, 0), 0);
            assert_int_equal(matmul(small, &tw.w, x, ROWS, 0, got, 0), 0);
            assert_memory_equal(got, want, sizeof(want));
        }
        free_weights(&tw);
    }
    matmul_ctx_free(small);
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    static float x[(BIG_BATCH + 1) * N_IN], y[(BIG_BATCH + 1) * N_OUT];
    static block_q4_0 blocks[N_OUT * N_IN / QK4_0];
    memset(blocks, 0, sizeof(blocks));
    struct matmul_weights w = { TYPE_Q4_0, blocks, N_OUT, N_IN, 0 };
    assert_int_equal(matmul(f->ctx[2], &w, x, 1, 0, y, 0), 0);
    assert_int_equal(matmul(f->ctx[2], &w, x, 0, 0, y, 0), 0); /* empty batch */
    struct matmul_ctx *tiny = matmul_ctx_create(f->pools[2], 1, 32);
    assert_non_null(tiny);
    assert_int_equal(matmul(tiny, &w, x, 1, 0, y, 0), -1); /* a row does not fit */
    matmul_ctx_free(tiny);
    w.n_in = N_IN - 16; /* not a whole number of blocks */
    assert_int_equal(matmul(f->ctx[2], &w, x, 1, 0, y, 0), -1);
    w.n_in = N_IN;
    w.type = TYPE_IQ2_XXS; /* no kernel */
    assert_int_equal(matmul(f->ctx[2], &w, x, 1, 0, y, 0), -1);
    assert_int_equal(matmul(NULL, &w, x, 1, 0, y, 0), -1);
    assert_null(matmul_ctx_create(NULL, 0, N_IN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_unaligned_and_strides),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_batch_over_context_size),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
