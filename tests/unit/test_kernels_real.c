/*
 * test_kernels_real.c - the dot-product kernels on real model weights.
 *
 * For rows of every weight tensor of every real model in models/, and every
 * instruction set this CPU runs, vec_dot(weight row, activation row converted
 * to the weight's vec_dot_type) must equal, within float tolerance, the dot
 * product computed in double from the scalar reference dequantization of
 * both rows. Skipped when no model has been fetched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tensor/cpu/kernels.h"
#include "tensor/f16.h"
#include "tensor/quant.h"
#include "tensor/types.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float rand_normal(void)
{
    /* xorshift + Box-Muller: deterministic, good enough for test activations */
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        u[i] = ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

/*
 * Q4_1 and Q5_1 rows take Q8_1 activations, whose blocks carry s = d * sum(q)
 * stored as f16; the formats define the min term of the dot product as m * s
 * with that stored s. Return the difference between that and m * d * sum(q),
 * so that the double reference computes what the format defines.
 */
static double q8_1_sum_correction(enum tensor_type wt, const void *row, const void *act, int64_t n)
{
    if (wt != TYPE_Q4_1 && wt != TYPE_Q5_1)
        return 0;
    size_t wbytes = tensor_type_traits(wt)->type_size;
    const block_q8_1 *a = act;
    double corr = 0;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        f16_t m_bits; /* m is the second f16 of both Q4_1 and Q5_1 blocks */
        memcpy(&m_bits, (const uint8_t *)row + (size_t)b * wbytes + 2, 2);
        int sum = 0;
        for (int i = 0; i < QK8_1; i++)
            sum += a[b].qs[i];
        double d = f16_to_f32(a[b].d), s = f16_to_f32(a[b].s);
        corr += f16_to_f32(m_bits) * (s - d * sum);
    }
    return corr;
}

struct stats {
    int tensors, rows, dots;
    double worst;
};

/* Check rows of one tensor against every ISA table. */
static void check_tensor(const struct gguf_tensor *t, struct stats *st, int max_rows)
{
    const struct type_traits *tt = tensor_type_traits(t->type);
    if (t->n_dims < 2 || tt == NULL || !tt->supported)
        return;
    int64_t n = t->ne[0];
    int64_t n_rows = t->nbytes / tensor_type_row_size(t->type, n);
    size_t row_bytes = tensor_type_row_size(t->type, n);
    enum tensor_type act_type = tt->vec_dot_type;
    size_t act_bytes = tensor_type_row_size(act_type, n);
    if (row_bytes == 0 || act_bytes == 0)
        return;
    float *x = malloc((size_t)n * sizeof(float));
    float *w = malloc((size_t)n * sizeof(float));
    float *a = malloc((size_t)n * sizeof(float));
    void *act = malloc(act_bytes);
    assert_true(x && w && a && act);
    for (int64_t i = 0; i < n; i++)
        x[i] = rand_normal();
    const struct cpu_kernels *ref = cpu_kernels_for(CPU_ISA_SCALAR);
    assert_non_null(ref);
    assert_non_null(ref->from_float[act_type]);
    ref->from_float[act_type](x, act, n);
    assert_int_equal(dequantize_row(act_type, act, a, n), 0);

    int64_t step = n_rows > max_rows ? n_rows / max_rows : 1;
    for (int64_t r = 0; r < n_rows; r += step) {
        const uint8_t *row = (const uint8_t *)t->data + (size_t)r * row_bytes;
        assert_int_equal(dequantize_row(t->type, row, w, n), 0);
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            exact += (double)w[i] * a[i];
            mag += fabs((double)w[i] * a[i]);
        }
        exact += q8_1_sum_correction(t->type, row, act, n);
        for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
            const struct cpu_kernels *k = cpu_kernels_for((enum cpu_isa)isa);
            if (k == NULL)
                continue;
            assert_non_null(k->vec_dot[t->type]);
            float s = NAN;
            k->vec_dot[t->type](n, &s, row, act);
            double err = fabs(s - exact) / (mag + 1e-30);
            if (!(err < 2e-5))
                fail_msg("%s row %lld (%s, %s): vec_dot %g, reference %g, relative error %g",
                         t->name, (long long)r, tt->name, k->name, s, exact, err);
            if (err > st->worst)
                st->worst = err;
            st->dots++;
        }
        st->rows++;
    }
    st->tensors++;
    free(x);
    free(w);
    free(a);
    free(act);
}

static void check_model(const char *path, int max_rows)
{
    char err[512];
    struct gguf_ctx *ctx = gguf_open(path, 0, err, sizeof(err));
    if (ctx == NULL)
        fail_msg("%s", err);
    struct stats st = { 0 };
    for (int64_t i = 0; i < gguf_n_tensors(ctx); i++)
        check_tensor(gguf_tensor(ctx, i), &st, max_rows);
    print_message("%s: %d tensors, %d rows, %d dot products, worst relative error %.3g\n", path,
                  st.tensors, st.rows, st.dots, st.worst);
    assert_true(st.tensors > 0);
    gguf_close(ctx);
}

static void test_real_models(void **state)
{
    (void)state;
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    int max_rows = getenv("CLLM_TEST_QUICK") ? 2 : 16;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/models", src);
    DIR *d = opendir(dir);
    if (d == NULL)
        skip();
    int models = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
            continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        check_model(path, max_rows);
        models++;
    }
    closedir(d);
    if (models == 0)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
