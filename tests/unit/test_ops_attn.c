/*
 * test_ops_attn.c - the attention tile (tensor/attn.h) on every instruction
 * set this CPU runs (scalar, AVX2, AVX-512):
 *   - against an independent double-precision attention (queries rounded
 *     to f16 for an F16 K, probabilities for an F16 V, as documented);
 *   - the SIMD tiles against the scalar one (close), and against each other
 *     (the same bits: both use the same softmax and the same sum orders);
 *   - batch invariance: a query's output has the same bits whether it is
 *     alone in its tile, among other queries, or in another order;
 *   - head sizes 8, 16, 40, 64, 128, 256 (and K/V of different sizes), key
 *     counts 1..300 (tails of a 16-key block), sliding-window-like ranges
 *     (first > 0) and F16/F32 K and V.
 * CLLM_TEST_QUICK=1 runs fewer cases.
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

#include "tensor/attn.h"
#include "tensor/f16.h"
#include "tensor/ops.h"

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float frand(void) /* uniform in [-1, 1) */
{
    return (float)((rng_next() >> 40) * (2.0 / 16777216.0) - 1.0);
}

static bool quick(void) { return getenv("CLLM_TEST_QUICK") != NULL; }

enum { MAX_Q = 24 };

struct tcase {
    struct attn_tile t;
    int32_t hk, hv, nk, nq;
    float *qbuf, *outbuf;
    const float *q[MAX_Q];
    float *out[MAX_Q];
    int32_t first[MAX_Q], last[MAX_Q];
    uint8_t *kbuf, *vbuf;
    const void **k, **v;
    float *scratch;
};

/* Rows of a cache: some stride between rows (as in a real cache, other
 * heads in between), values of the given type. */
static uint8_t *make_rows(int32_t n, int32_t hd, enum tensor_type type, const void **ptrs, float amp)
{
    size_t es = type == TYPE_F16 ? 2 : 4, stride = (size_t)hd * es + 6;
    uint8_t *buf = malloc(stride * (size_t)n + 8);
    assert_non_null(buf);
    for (int32_t i = 0; i < n; i++) {
        uint8_t *row = buf + 2 + stride * (size_t)i; /* 2-byte aligned only */
        for (int32_t d = 0; d < hd; d++) {
            float f = frand() * amp;
            if (type == TYPE_F16) {
                f16_t h = f32_to_f16(f);
                memcpy(row + 2 * (size_t)d, &h, 2);
            } else {
                memcpy(row + 4 * (size_t)d, &f, 4);
            }
        }
        ptrs[i] = row;
    }
    return buf;
}

static void make_case(struct tcase *c, int32_t hk, int32_t hv, int32_t nk, int32_t nq, enum tensor_type tk,
                      enum tensor_type tv)
{
    memset(c, 0, sizeof(*c));
    c->hk = hk, c->hv = hv, c->nk = nk, c->nq = nq;
    c->k = malloc((size_t)nk * sizeof(void *));
    c->v = malloc((size_t)nk * sizeof(void *));
    assert_non_null(c->k);
    assert_non_null(c->v);
    c->kbuf = make_rows(nk, hk, tk, c->k, 2.0f);
    c->vbuf = make_rows(nk, hv, tv, c->v, 1.0f);
    c->qbuf = malloc((size_t)nq * hk * sizeof(float));
    c->outbuf = malloc((size_t)nq * hv * sizeof(float));
    assert_non_null(c->qbuf);
    assert_non_null(c->outbuf);
    for (int32_t j = 0; j < nq; j++) {
        for (int32_t d = 0; d < hk; d++)
            c->qbuf[j * hk + d] = frand() * 1.5f;
        c->q[j] = c->qbuf + j * hk;
        c->out[j] = c->outbuf + j * hv;
        /* causal-like: last grows with j; sometimes a window (first > 0) */
        int32_t last = nk - 1 - (int32_t)(rng_next() % (uint64_t)(nk < 20 ? nk : 20));
        int32_t first = rng_next() % 3 == 0 ? (int32_t)(rng_next() % (uint64_t)(last + 1)) : 0;
        c->first[j] = first;
        c->last[j] = last;
    }
    c->t = (struct attn_tile){ .n_q = nq, .head_dim_k = hk, .head_dim_v = hv, .q = c->q, .out = c->out,
                               .first = c->first, .last = c->last, .n_keys = nk, .k = c->k, .v = c->v,
                               .type_k = tk, .type_v = tv, .scale = 1.0f / sqrtf((float)hk) };
    size_t fl = attn_scratch_floats(nq, nk, hk, hv);
    c->scratch = aligned_alloc(64, (fl * sizeof(float) + 63) / 64 * 64);
    assert_non_null(c->scratch);
}

static void free_case(struct tcase *c)
{
    free(c->k);
    free(c->v);
    free(c->kbuf);
    free(c->vbuf);
    free(c->qbuf);
    free(c->outbuf);
    free(c->scratch);
}

static double value(const void *row, enum tensor_type type, int32_t d)
{
    if (type == TYPE_F16) {
        f16_t h;
        memcpy(&h, (const uint8_t *)row + 2 * (size_t)d, 2);
        return f16_to_f32(h);
    }
    float f;
    memcpy(&f, (const uint8_t *)row + 4 * (size_t)d, 4);
    return f;
}

/* Double-precision attention of query j; mag = sum of |p v| per dim. */
static void reference(const struct tcase *c, int32_t j, double *out, double *mag)
{
    const struct attn_tile *t = &c->t;
    double s[512], m = -INFINITY, z = 0;
    for (int32_t i = t->first[j]; i <= t->last[j]; i++) {
        double acc = 0;
        for (int32_t d = 0; d < c->hk; d++) {
            float q = t->q[j][d];
            if (t->type_k == TYPE_F16)
                q = f16_to_f32(f32_to_f16(q));
            acc += (double)q * value(t->k[i], t->type_k, d);
        }
        s[i] = acc * t->scale;
        m = s[i] > m ? s[i] : m;
    }
    for (int32_t i = t->first[j]; i <= t->last[j]; i++)
        z += (s[i] = exp(s[i] - m));
    for (int32_t d = 0; d < c->hv; d++)
        out[d] = mag[d] = 0;
    for (int32_t i = t->first[j]; i <= t->last[j]; i++) {
        double p = s[i] / z;
        if (t->type_v == TYPE_F16)
            p = f16_to_f32(f32_to_f16((float)p));
        for (int32_t d = 0; d < c->hv; d++) {
            out[d] += p * value(t->v[i], t->type_v, d);
            mag[d] += fabs(p * value(t->v[i], t->type_v, d));
        }
    }
}

static int run(enum cpu_isa isa, const struct attn_tile *t, float *scratch)
{
    if (ops_set_isa(isa) != 0)
        return -1;
    return attn_tile_run_isa(isa, t, scratch);
}

/* One case on every ISA: accuracy, agreement, invariance. */
static void check_case(int32_t hk, int32_t hv, int32_t nk, int32_t nq, enum tensor_type tk, enum tensor_type tv)
{
    struct tcase c;
    make_case(&c, hk, hv, nk, nq, tk, tv);
    enum cpu_isa saved = ops_get_isa();
    float *first_simd = NULL;
    float *scalar = malloc((size_t)nq * hv * sizeof(float));
    assert_non_null(scalar);
    double ref[512], mag[512];
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        memset(c.outbuf, 0xff, (size_t)nq * hv * sizeof(float));
        if (run((enum cpu_isa)isa, &c.t, c.scratch) != 0)
            continue;
        char what[128];
        snprintf(what, sizeof(what), "isa %d hk %d hv %d keys %d %s/%s", isa, hk, hv, nk, type_name(tk),
                 type_name(tv));
        /* accuracy */
        for (int32_t j = 0; j < nq; j++) {
            reference(&c, j, ref, mag);
            for (int32_t d = 0; d < hv; d++) {
                double err = fabs(c.out[j][d] - ref[d]);
                /* the f16 rounding of the probabilities can flip near a tie */
                double tol = 1e-5 * mag[d] + 1e-6 + (tv == TYPE_F16 ? 1e-3 * mag[d] : 0);
                if (!(err <= tol))
                    fail_msg("%s: query %d dim %d: %.9g, reference %.9g", what, j, d, c.out[j][d], ref[d]);
            }
        }
        if (isa == CPU_ISA_SCALAR) {
            memcpy(scalar, c.outbuf, (size_t)nq * hv * sizeof(float));
        } else if (first_simd == NULL) {
            first_simd = malloc((size_t)nq * hv * sizeof(float));
            assert_non_null(first_simd);
            memcpy(first_simd, c.outbuf, (size_t)nq * hv * sizeof(float));
        } else if (memcmp(first_simd, c.outbuf, (size_t)nq * hv * sizeof(float)) != 0) {
            fail_msg("%s: SIMD tiles differ", what);
        }
        /* invariance: each query alone, and the queries in reverse order */
        float *all = malloc((size_t)nq * hv * sizeof(float));
        assert_non_null(all);
        memcpy(all, c.outbuf, (size_t)nq * hv * sizeof(float));
        for (int32_t j = 0; j < nq; j++) {
            struct attn_tile one = c.t;
            one.n_q = 1;
            one.q = &c.q[j];
            one.out = &c.out[j];
            one.first = &c.first[j];
            one.last = &c.last[j];
            memset(c.out[j], 0, (size_t)hv * sizeof(float));
            run((enum cpu_isa)isa, &one, c.scratch);
            if (memcmp(c.out[j], all + j * hv, (size_t)hv * sizeof(float)) != 0)
                fail_msg("%s: query %d alone differs from its tile", what, j);
        }
        const float *rq[MAX_Q];
        float *ro[MAX_Q];
        int32_t rf[MAX_Q], rl[MAX_Q];
        for (int32_t j = 0; j < nq; j++) {
            rq[j] = c.q[nq - 1 - j];
            ro[j] = c.out[nq - 1 - j];
            rf[j] = c.first[nq - 1 - j];
            rl[j] = c.last[nq - 1 - j];
        }
        struct attn_tile rev = c.t;
        rev.q = rq, rev.out = ro, rev.first = rf, rev.last = rl;
        memset(c.outbuf, 0, (size_t)nq * hv * sizeof(float));
        run((enum cpu_isa)isa, &rev, c.scratch);
        if (memcmp(c.outbuf, all, (size_t)nq * hv * sizeof(float)) != 0)
            fail_msg("%s: queries in another order differ", what);
        free(all);
    }
    /* scalar vs SIMD: only the softmax's exp differs */
    if (first_simd)
        for (int32_t i = 0; i < nq * hv; i++) {
            double err = fabs(first_simd[i] - scalar[i]);
            if (!(err <= 1e-5 * fabs(scalar[i]) + 1e-6 + (tv == TYPE_F16 ? 2e-3 : 0)))
                fail_msg("hk %d nk %d: SIMD %.9g vs scalar %.9g at %d", hk, nk, first_simd[i], scalar[i], i);
        }
    ops_set_isa(saved);
    free(first_simd);
    free(scalar);
    free_case(&c);
}

static void test_attn_tiles(void **state)
{
    (void)state;
    const int32_t dims[][2] = { { 8, 8 }, { 16, 16 }, { 40, 40 }, { 64, 64 }, { 128, 128 }, { 256, 256 }, { 64, 32 }, { 24, 72 } };
    const int32_t keys[] = { 1, 5, 16, 17, 33, 100, 300 };
    const enum tensor_type types[][2] = { { TYPE_F16, TYPE_F16 }, { TYPE_F32, TYPE_F32 }, { TYPE_F16, TYPE_F32 } };
    int n = 0;
    for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            for (size_t ty = 0; ty < sizeof(types) / sizeof(types[0]); ty++) {
                if (quick() && (k + ty + d) % 3 != 0)
                    continue;
                int32_t nq = 1 + (int32_t)(rng_next() % MAX_Q);
                check_case(dims[d][0], dims[d][1], keys[k], nq, types[ty][0], types[ty][1]);
                n++;
            }
    print_message("%d tiles\n", n);
}

/* A query whose probabilities are one-hot (one key far above the rest)
 * returns that key's value; an all-equal score row averages the values. */
static void test_attn_extremes(void **state)
{
    (void)state;
    enum cpu_isa saved = ops_get_isa();
    struct tcase c;
    make_case(&c, 16, 16, 20, 2, TYPE_F32, TYPE_F32);
    /* K rows are only 2-byte aligned: written through memcpy */
    float *q0 = (float *)c.q[0], *q1 = (float *)c.q[1];
    const float zero = 0.0f, big = 100.0f;
    for (int d = 0; d < 16; d++) {
        q0[d] = d == 3 ? 100.0f : 0.0f;
        q1[d] = 0.0f;
        for (int i = 0; i < 20; i++)
            memcpy((uint8_t *)c.k[i] + 4 * d, &zero, 4);
    }
    memcpy((uint8_t *)c.k[7] + 4 * 3, &big, 4);
    c.first[0] = c.first[1] = 0;
    c.last[0] = c.last[1] = 19;
    c.t.scale = 1.0f;
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (run((enum cpu_isa)isa, &c.t, c.scratch) != 0)
            continue;
        for (int d = 0; d < 16; d++) {
            assert_float_equal(c.out[0][d], value(c.v[7], TYPE_F32, d), 1e-6);
            double mean = 0;
            for (int i = 0; i < 20; i++)
                mean += value(c.v[i], TYPE_F32, d) / 20.0;
            assert_float_equal(c.out[1][d], mean, 1e-5);
        }
    }
    ops_set_isa(saved);
    free_case(&c);
}

static void test_attn_supported(void **state)
{
    (void)state;
    assert_true(attn_types_supported(TYPE_F16, TYPE_F16));
    assert_true(attn_types_supported(TYPE_F32, TYPE_F16));
    assert_false(attn_types_supported(TYPE_Q8_0, TYPE_F16));
    assert_false(attn_types_supported(TYPE_F16, TYPE_Q8_0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attn_supported),
        cmocka_unit_test(test_attn_tiles),
        cmocka_unit_test(test_attn_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
