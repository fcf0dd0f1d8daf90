/*
 * test_sampler_vectors.c - cllm's DRY, XTC and top-n-sigma against
 * llama.cpp's: tests/vectors/samplers/llama-cpp.json (made by
 * scripts/make-sampler-vectors.py with llama-cpp-python) holds, per case,
 * fixed logits over the stories260K vocabulary, the history DRY sees, the
 * samplers with their parameters and the candidates llama.cpp left. Each
 * case runs twice here: the sampler math on a candidate set
 * (sampler_internal.h), and the whole sampler (sampler_create with that
 * chain, sampler_sample with n_probs covering the vocabulary), whose
 * candidates and probabilities must be the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "sample/sampler.h"
#include "sample/sampler_internal.h"
#include "tokenizer/vocab.h"

struct fix {
    json_t *doc;
    struct vocab *v;
    struct sampler_vocab *sv;
};

static int setup(void **state)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[256];
    struct fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(path, sizeof path, "%s/tests/vectors/samplers/llama-cpp.json", src);
    json_error_t je;
    f->doc = json_load_file(path, 0, &je);
    assert_non_null(f->doc);
    snprintf(path, sizeof path, "%s/models/%s", src,
             json_string_value(json_object_get(f->doc, "model")));
    struct gguf_ctx *g = gguf_open(path, 0, err, sizeof err);
    if (!g) {
        fprintf(stderr, "skip: %s\n", err);
        *state = f;
        return 0;
    }
    f->v = vocab_load(g, err, sizeof err);
    gguf_close(g);
    assert_non_null(f->v);
    f->sv = sampler_vocab_create(f->v, err, sizeof err);
    assert_non_null(f->sv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    if (!f)
        return 0;
    sampler_vocab_free(f->sv);
    vocab_free(f->v);
    json_decref(f->doc);
    free(f);
    return 0;
}

static float num(const json_t *o, const char *k)
{
    return (float)json_number_value(json_object_get(o, k));
}

/* JSON logits (null: -inf, a banned token). */
static float *read_logits(const json_t *a, size_t *n)
{
    *n = json_array_size(a);
    float *x = malloc(*n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < *n; i++)
        x[i] = json_is_null(json_array_get(a, i)) ? -INFINITY : (float)json_number_value(json_array_get(a, i));
    return x;
}

static size_t read_breakers(const json_t *s, char (*out)[SAMPLER_DRY_BREAKER_MAX + 1])
{
    const json_t *a = json_object_get(s, "breakers");
    size_t n = json_array_size(a);
    assert_true(n <= SAMPLER_MAX_DRY_BREAKERS);
    for (size_t i = 0; i < n; i++)
        snprintf(out[i], SAMPLER_DRY_BREAKER_MAX + 1, "%s", json_string_value(json_array_get(a, i)));
    return n;
}

/* ---------------------------------------------------------------- the math */

static void apply_dry(const struct fix *f, struct cset *cs, const json_t *s, const json_t *hist)
{
    char br[SAMPLER_MAX_DRY_BREAKERS][SAMPLER_DRY_BREAKER_MAX + 1];
    size_t nb = read_breakers(s, br);
    struct dry_breaker *brk;
    size_t n_brk;
    assert_int_equal(sample_dry_breakers(f->v, (const char (*)[SAMPLER_DRY_BREAKER_MAX + 1])br, nb, &brk,
                                         &n_brk), 0);
    size_t nh = json_array_size(hist), last_n = (size_t)json_integer_value(json_object_get(s, "last_n"));
    size_t from = nh > last_n ? nh - last_n : 0, n = nh - from;
    int32_t *h = malloc((n + 1) * sizeof *h), *z = malloc((n + 1) * sizeof *z);
    struct dry_pen *pen = malloc((n + 1) * sizeof *pen);
    assert_true(h && z && pen);
    for (size_t i = 0; i < n; i++)
        h[i] = (int32_t)json_integer_value(json_array_get(hist, from + i));
    size_t np = sample_dry_penalties(h, n, brk, n_brk, num(s, "multiplier"), num(s, "base"),
                                     (int32_t)json_integer_value(json_object_get(s, "allowed_length")), z, pen);
    for (size_t i = 0; i < cs->n; i++)
        cs->c[i].logit -= sample_dry_lookup(pen, np, cs->c[i].id);
    cs->n_sorted = 0;
    cs->probs_valid = false;
    free(h);
    free(z);
    free(pen);
    free(brk);
}

static void run_math(const struct fix *f, const json_t *c, struct cset *cs)
{
    size_t n;
    float *x = read_logits(json_object_get(c, "logits"), &n);
    cs->c = malloc(n * sizeof *cs->c);
    assert_non_null(cs->c);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > -INFINITY)
            cs->c[m++] = (struct cand){(int32_t)i, x[i], 0, 0};
    cs->n = m;
    cs->n_virtual = n;
    cs->n_sorted = 0;
    cs->order = ORDER_LOGIT;
    cs->probs_valid = false;
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(c, "samplers"), i, s) {
        const char *t = json_string_value(json_object_get(s, "type"));
        if (strcmp(t, "dry") == 0)
            apply_dry(f, cs, s, json_object_get(c, "history"));
        else if (strcmp(t, "xtc") == 0)
            sample_xtc(cs, num(s, "threshold"), 1);
        else if (strcmp(t, "top_n_sigma") == 0)
            sample_top_n_sigma(cs, num(s, "n"));
        else if (strcmp(t, "top_k") == 0)
            sample_top_k(cs, (int32_t)json_integer_value(json_object_get(s, "k")), 1);
        else if (strcmp(t, "top_p") == 0)
            sample_top_p(cs, num(s, "p"), 1);
        else if (strcmp(t, "min_p") == 0)
            sample_min_p(cs, num(s, "p"), 1);
        else if (strcmp(t, "temperature") == 0)
            sample_temperature(cs, num(s, "t"));
        else
            fail_msg("unknown sampler %s", t);
    }
    sample_cset_prefix(cs, cs->n, ORDER_LOGIT);
    free(x);
}

static void expect_same(const char *name, const json_t *want_doc, const int32_t *ids, const float *logits,
                        const float *probs, size_t n)
{
    const json_t *eid = json_object_get(want_doc, "ids"), *el = json_object_get(want_doc, "logits");
    if (json_array_size(eid) != n)
        fail_msg("%s: %zu candidates, llama.cpp %zu", name, n, json_array_size(eid));
    double mx = n ? json_number_value(json_array_get(el, 0)) : 0, z = 0;
    for (size_t i = 0; i < n; i++)
        z += exp(json_number_value(json_array_get(el, i)) - mx);
    for (size_t i = 0; i < n; i++) {
        int32_t want = (int32_t)json_integer_value(json_array_get(eid, i));
        double wl = json_number_value(json_array_get(el, i));
        if (ids[i] != want)
            fail_msg("%s: candidate %zu is %d, llama.cpp %d", name, i, ids[i], want);
        if (logits && fabs(logits[i] - wl) > 1e-4 * (1 + fabs(wl)))
            fail_msg("%s: token %d logit %.6f, llama.cpp %.6f", name, want, logits[i], wl);
        double wp = exp(wl - mx) / z;
        if (probs && fabs(probs[i] - wp) > 1e-5 + 1e-4 * wp)
            fail_msg("%s: token %d p %.7f, llama.cpp %.7f", name, want, probs[i], wp);
    }
}

static void test_math(void **state)
{
    struct fix *f = *state;
    if (!f->v)
        skip();
    size_t k;
    const json_t *c;
    json_array_foreach(json_object_get(f->doc, "cases"), k, c) {
        struct cset cs = {0};
        run_math(f, c, &cs);
        int32_t *ids = malloc((cs.n + 1) * sizeof *ids);
        float *lg = malloc((cs.n + 1) * sizeof *lg);
        assert_true(ids && lg);
        for (size_t i = 0; i < cs.n; i++) {
            ids[i] = cs.c[i].id;
            lg[i] = cs.c[i].logit;
        }
        expect_same(json_string_value(json_object_get(c, "name")), json_object_get(c, "expect"), ids, lg, NULL,
                    cs.n);
        free(ids);
        free(lg);
        free(cs.c);
    }
}

/* ---------------------------------------------------------------- the sampler */

static void params_for(const json_t *c, struct sampler_params *p)
{
    sampler_default_params(p);
    p->repeat_penalty = 1.0f;
    p->temperature = 1.0f;
    p->seed = 42;
    p->n_samplers = 0;
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(c, "samplers"), i, s) {
        const char *t = json_string_value(json_object_get(s, "type"));
        int ty = sampler_type_from_name(t);
        assert_true(ty >= 0);
        p->samplers[p->n_samplers++] = (enum sampler_type)ty;
        if (ty == SAMPLER_DRY) {
            p->dry_multiplier = num(s, "multiplier");
            p->dry_base = num(s, "base");
            p->dry_allowed_length = (int32_t)json_integer_value(json_object_get(s, "allowed_length"));
            p->dry_penalty_last_n = (int32_t)json_integer_value(json_object_get(s, "last_n"));
            memset(p->dry_breakers, 0, sizeof p->dry_breakers);
            p->n_dry_breakers = (int32_t)read_breakers(s, p->dry_breakers);
        } else if (ty == SAMPLER_XTC) {
            p->xtc_probability = num(s, "probability");
            p->xtc_threshold = num(s, "threshold");
        } else if (ty == SAMPLER_TOP_N_SIGMA) {
            p->top_n_sigma = num(s, "n");
        } else if (ty == SAMPLER_TOP_K) {
            p->top_k = (int32_t)json_integer_value(json_object_get(s, "k"));
        } else if (ty == SAMPLER_TOP_P) {
            p->top_p = num(s, "p");
        } else if (ty == SAMPLER_MIN_P) {
            p->min_p = num(s, "p");
        } else if (ty == SAMPLER_TEMPERATURE) {
            p->temperature = num(s, "t");
        }
    }
}

static void test_sampler(void **state)
{
    struct fix *f = *state;
    if (!f->v)
        skip();
    size_t k;
    const json_t *c;
    json_array_foreach(json_object_get(f->doc, "cases"), k, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        struct sampler_params p;
        params_for(c, &p);
        size_t n;
        float *x = read_logits(json_object_get(c, "logits"), &n);
        assert_int_equal(n, (size_t)f->sv->n_vocab);
        p.n_probs = (int32_t)n;
        char err[256];
        struct sampler *s = sampler_create(f->sv, &p, 4096, err, sizeof err);
        if (!s)
            fail_msg("%s: %s", name, err);
        const json_t *hist = json_object_get(c, "history");
        size_t nh = json_array_size(hist);
        int32_t *h = malloc((nh + 1) * sizeof *h);
        assert_non_null(h);
        for (size_t i = 0; i < nh; i++)
            h[i] = (int32_t)json_integer_value(json_array_get(hist, i));
        sampler_set_history(s, h, nh);
        struct sampler_prob *pr = malloc(n * sizeof *pr);
        int32_t nw = 0;
        assert_non_null(pr);
        int32_t tok = sampler_sample(s, x, pr, &nw);
        assert_true(tok >= 0);
        int32_t *ids = malloc(n * sizeof *ids);
        float *ps = malloc(n * sizeof *ps);
        assert_true(ids && ps);
        size_t m = 0;
        for (int32_t i = 0; i < nw; i++) {
            if (pr[i].prob <= 0 && json_array_size(json_object_get(json_object_get(c, "expect"), "ids")) <= m)
                break; /* the whole vocabulary's tail, below llama.cpp's cut */
            ids[m] = pr[i].token;
            ps[m++] = pr[i].prob;
        }
        expect_same(name, json_object_get(c, "expect"), ids, NULL, ps, m);
        free(ids);
        free(ps);
        free(pr);
        free(h);
        free(x);
        sampler_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_math),
        cmocka_unit_test(test_sampler),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
