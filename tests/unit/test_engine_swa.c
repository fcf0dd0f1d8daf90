/*
 * test_engine_swa.c - gemma 3's sliding-window layers kept to their window
 * (the default) against the same engine keeping every position
 * (engine_params.swa_full): a prompt longer than the window, generation,
 * a fork, a context shift and a save / restore give bit-identical logits,
 * while the windowed engine holds far fewer pages; a prefix whose window
 * was dropped is refused (engine_seq_keep) and not offered for reuse
 * (engine_seq_common_prefix).
 *
 * CLLM_TEST_QUICK=1 (the sanitizer run) gives the model a window of 48
 * instead of 512 (both engines alike) and sequences to match, so the same
 * paths run in a fraction of the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

enum { N_BATCH = 64, N_GEN = 12, N_TOKS = 1100 + 64 };
/* the window and the two prompts' lengths (see main) */
static int32_t g_window = 512, g_prompt = 600, g_prompt_shift = 1100;

struct pair {
    struct model *m;
    struct engine *full, *win;
    int32_t nv;
    int32_t toks[N_TOKS];
    struct batch b;
};

static struct model *load(const char *name)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/models/%s", src, name);
    struct model *m = model_load(path, 0, err, sizeof(err));
    if (m == NULL)
        fail_msg("%s (the test needs %s)", err, path);
    return m;
}

static struct engine *make(struct model *m, bool swa_full)
{
    struct engine_params p = engine_default_params();
    p.n_ctx = 2048;
    p.n_batch = N_BATCH;
    p.n_seq_max = 3;
    p.n_outputs_max = 4;
    p.n_threads = 2;
    p.n_threads_batch = 2;
    p.swa_full = swa_full;
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof err);
    if (e == NULL)
        fail_msg("%s", err);
    return e;
}

/* Decode toks[from, to) into seq of both engines, in batches, and compare
 * the logits of each batch's last token. */
static void feed(struct pair *pr, int32_t seq, int32_t pos0, const int32_t *toks, int32_t n)
{
    char err[256];
    for (int32_t i = 0; i < n;) {
        batch_clear(&pr->b);
        for (; i < n && pr->b.n_tokens < N_BATCH; i++)
            batch_add(&pr->b, toks[i], pos0 + i, seq, i == n - 1 || pr->b.n_tokens == N_BATCH - 1);
        struct engine *es[2] = { pr->full, pr->win };
        for (int k = 0; k < 2; k++)
            if (engine_decode(es[k], &pr->b, err, sizeof err) != 0)
                fail_msg("%s", err);
        const float *a = engine_logits(pr->full, pr->b.n_tokens - 1), *w = engine_logits(pr->win, pr->b.n_tokens - 1);
        assert_non_null(a);
        assert_non_null(w);
        if (memcmp(a, w, (size_t)pr->nv * sizeof(float)) != 0)
            fail_msg("seq %d position %d: windowed logits differ from the full cache's", seq, pos0 + i - 1);
    }
}

/* Greedy tokens one by one in seq, both engines compared at each step. */
static void generate(struct pair *pr, int32_t seq, int32_t n)
{
    for (int32_t k = 0; k < n; k++) {
        const float *l = engine_logits(pr->full, pr->b.n_tokens - 1);
        int32_t best = 0;
        for (int32_t i = 1; i < pr->nv; i++)
            if (l[i] > l[best])
                best = i;
        int32_t pos = engine_seq_len(pr->full, seq);
        assert_int_equal(engine_seq_len(pr->win, seq), pos);
        feed(pr, seq, pos, &best, 1);
    }
}

static void setup_pair(struct pair *pr)
{
    memset(pr, 0, sizeof(*pr));
    pr->m = load("gemma-3-270m-q4_k_m.gguf");
    assert_int_equal(pr->m->hp.sliding_window, 512);
    pr->m->hp.sliding_window = g_window;
    pr->full = make(pr->m, true);
    pr->win = make(pr->m, false);
    pr->nv = engine_n_vocab(pr->full);
    uint32_t x = 12345;
    pr->toks[0] = 2; /* <bos> */
    for (int32_t i = 1; i < N_TOKS; i++) {
        x = x * 1103515245u + 12345u;
        pr->toks[i] = 300 + (int32_t)((x >> 8) % 20000u);
    }
    assert_int_equal(batch_init(&pr->b, N_BATCH), 0);
}

static void free_pair(struct pair *pr)
{
    batch_free(&pr->b);
    engine_free(pr->full);
    engine_free(pr->win);
    model_free(pr->m);
}

static void test_windowed_equals_full(void **state)
{
    (void)state;
    struct pair pr;
    setup_pair(&pr);
    struct engine_memory mf, mw;
    engine_memory(pr.win, &mw);
    assert_int_equal(mw.n_groups, 2);
    assert_true(mw.kv[1].windowed);
    assert_int_equal(mw.kv[1].window, g_window);
    assert_int_equal(mw.kv[1].n_layer, 15);
    assert_int_equal(mw.kv[0].n_layer, 3);

    feed(&pr, 0, 0, pr.toks, g_prompt);
    generate(&pr, 0, N_GEN);

    /* the windowed layers hold window + one batch, the full engine all */
    engine_memory(pr.full, &mf);
    engine_memory(pr.win, &mw);
    int32_t len = engine_seq_len(pr.win, 0), ps = mw.page_size;
    assert_true(mf.kv[1].pages_used >= len / ps);
    assert_true(mw.kv[1].pages_used * ps <= g_window + N_BATCH + 3 * ps);
    assert_int_equal(mw.kv[0].pages_used, mf.kv[0].pages_used);
    assert_true(mw.kv_bytes_used < mf.kv_bytes_used);

    /* a fork of the whole sequence goes on alike */
    char err[256];
    assert_int_equal(engine_seq_copy(pr.full, 0, 1, len, err, sizeof err), 0);
    assert_int_equal(engine_seq_copy(pr.win, 0, 1, len, err, sizeof err), 0);
    feed(&pr, 1, len, pr.toks + 5, 3);
    generate(&pr, 1, 4);

    /* a prefix whose window is gone: refused, and not offered for reuse */
    const int32_t *t = engine_seq_tokens(pr.win, 0);
    int32_t half = g_prompt / 2;
    assert_int_equal(engine_seq_common_prefix(pr.win, 0, t, half), 0);
    assert_int_equal(engine_seq_common_prefix(pr.full, 0, t, half), half);
    assert_int_equal(engine_seq_common_prefix(pr.win, 0, t, len), len);
    assert_int_equal(engine_seq_usable(pr.win, 0, half), 0);
    assert_int_equal(engine_seq_usable(pr.full, 0, half), half);
    assert_int_not_equal(engine_seq_keep(pr.win, 2, 0, err, sizeof err), -1);
    assert_int_equal(engine_seq_copy(pr.win, 0, 2, half, err, sizeof err), -1);
    assert_int_equal(engine_seq_keep(pr.win, 0, half, err, sizeof err), -1);
    assert_non_null(strstr(err, "sliding-window"));
    assert_int_equal(engine_seq_len(pr.win, 0), len);
    free_pair(&pr);
}

/* Context shift (keep 4, drop half, as the server does when a slot is
 * full) and save / restore. The shift is exact when what remains is at
 * least the window past the kept tokens (a slot of 1100 here); shorter, the
 * windowed layers no longer hold the kept tokens and attend to fewer keys,
 * as llama.cpp's do. */
static void test_shift_and_restore(void **state)
{
    (void)state;
    struct pair pr;
    setup_pair(&pr);
    char err[256];
    feed(&pr, 0, 0, pr.toks, g_prompt_shift);
    int32_t len = engine_seq_len(pr.win, 0), n_discard = (len - 4) / 2;
    assert_int_equal(engine_seq_discard(pr.full, 0, 4, n_discard, err, sizeof err), 0);
    assert_int_equal(engine_seq_discard(pr.win, 0, 4, n_discard, err, sizeof err), 0);
    feed(&pr, 0, len - n_discard, pr.toks + g_prompt_shift, 20);
    generate(&pr, 0, 4);

    /* save both; a file of the full engine holds every position, the
     * windowed one only the window */
    char path_w[256], path_f[256];
    snprintf(path_w, sizeof path_w, "/tmp/cllm-test-swa-%ld.win", (long)getpid());
    snprintf(path_f, sizeof path_f, "/tmp/cllm-test-swa-%ld.full", (long)getpid());
    int64_t sz_w = engine_seq_save(pr.win, 0, path_w, err, sizeof err);
    int64_t sz_f = engine_seq_save(pr.full, 0, path_f, err, sizeof err);
    assert_true(sz_w > 0);
    assert_true(sz_f > sz_w);
    /* each file into both engines: seq 1 from the windowed file, seq 2 from the full one */
    struct engine *es[2] = { pr.full, pr.win };
    for (int k = 0; k < 2; k++) {
        if (engine_seq_load(es[k], 1, path_w, err, sizeof err) != sz_w)
            fail_msg("%s", err);
        if (engine_seq_load(es[k], 2, path_f, err, sizeof err) != sz_f)
            fail_msg("%s", err);
    }
    struct engine_memory mw;
    engine_memory(pr.win, &mw);
    assert_true(mw.kv[1].pages_used * mw.page_size <= 3 * (g_window + N_BATCH + 3 * mw.page_size));
    /* the three sequences go on alike, in both engines */
    len = engine_seq_len(pr.full, 0);
    float *ref = malloc((size_t)pr.nv * sizeof(float));
    assert_non_null(ref);
    for (int32_t seq = 0; seq < 3; seq++) {
        assert_int_equal(engine_seq_len(pr.full, seq), len);
        assert_int_equal(engine_seq_len(pr.win, seq), len);
        feed(&pr, seq, len, pr.toks + 100, 10);
        const float *l = engine_logits(pr.full, pr.b.n_tokens - 1);
        if (seq == 0)
            memcpy(ref, l, (size_t)pr.nv * sizeof(float));
        else if (memcmp(ref, l, (size_t)pr.nv * sizeof(float)) != 0)
            fail_msg("restored sequence %d: logits differ from the original's", seq);
    }
    free(ref);
    remove(path_w);
    remove(path_f);
    free_pair(&pr);
}

int main(void)
{
    if (getenv("CLLM_TEST_QUICK")) {
        g_window = 48;
        g_prompt = 200;
        g_prompt_shift = 300;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windowed_equals_full),
        cmocka_unit_test(test_shift_and_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
