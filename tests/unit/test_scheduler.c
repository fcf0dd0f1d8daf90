/*
 * test_scheduler.c - the scheduler on a real tiny model (stories260K), seen
 * through its event queues:
 *
 *  - admission and queueing: more tasks than slots all finish, each with the
 *    tokens it gets alone (continuous batching is batch-invariant);
 *  - prefix reuse (n_cached) in the same slot and borrowed from another;
 *  - context shift and prompt truncation (truncated);
 *  - cancellation of a queued and of a running task;
 *  - n > 1: a follower borrows its leader's prompt and, greedy, says the same;
 *  - slot save / restore / erase, the system prompt, embeddings;
 *  - errors: bad slot, empty prompt, a bad file, 503 on shutdown;
 *  - sampling the slots in parallel on the engine's threads gives each task
 *    the tokens and probabilities it gets alone on one thread;
 *  - speculative decoding (n-gram drafting): greedy and seeded output the
 *    same as plain decoding, drafts accepted and rejected, the cache left
 *    as plain decoding leaves it; at temperature > 0 the token frequencies
 *    over many seeds match plain decoding's (chi-square bound).
 *
 * Tests wait on the event queues with bounded polling loops; nothing here
 * depends on timing.
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
#include <time.h>
#include <unistd.h>

#include "serve/scheduler.h"

enum { N_SLOTS = 2, SLOT_CTX = 64, MAX_TOK = 512, MAX_IDX = 4 };

struct fx {
    struct model *m;
    struct vocab *v;
    struct sampler_vocab *sv;
    struct engine *e;
    struct sched *s;
};

/* What one request's queue delivered, per task index. */
struct got {
    int32_t n_tokens[MAX_IDX];
    int32_t tokens[MAX_IDX][MAX_TOK];
    float token_prob[MAX_IDX][MAX_TOK];
    struct sched_token_prob top[MAX_IDX][MAX_TOK]; /* probs[0] when n_probs > 0 */
    bool done[MAX_IDX], error[MAX_IDX];
    int code[MAX_IDX];
    char msg[MAX_IDX][256];
    struct sched_result r[MAX_IDX];
    int32_t n_embd_floats;
    float embd0;
};

/* The fixture's engine and scheduler: threads for the engine (and the
 * parallel sampling), outputs per batch (0: one per slot), and the
 * speculative decoding settings (sp->n_slots etc. are filled in). */
struct fx_opts {
    int n_threads;
    int32_t n_outputs_max;
    struct sched_params sp;
};

static struct fx *fx_make(int32_t n_slots, const struct fx_opts *o);

static struct fx *fx_new(int32_t n_slots)
{
    struct fx_opts o = {.n_threads = 1};
    return fx_make(n_slots, &o);
}

static struct fx *fx_make(int32_t n_slots, const struct fx_opts *o)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", src);
    struct fx *f = calloc(1, sizeof *f);
    f->m = model_load(path, 0, err, sizeof err);
    if (!f->m)
        fail_msg("%s", err);
    f->v = vocab_load(f->m->gguf, err, sizeof err);
    f->sv = f->v ? sampler_vocab_create(f->v, err, sizeof err) : NULL;
    if (!f->sv)
        fail_msg("%s", err);
    struct engine_params ep = engine_default_params();
    ep.n_ctx = engine_ctx_for_seqs(n_slots + 1, SLOT_CTX);
    ep.n_seq_max = n_slots + 1;
    ep.n_outputs_max = o->n_outputs_max > 0 ? o->n_outputs_max : n_slots;
    ep.n_batch = 32;
    ep.n_threads = ep.n_threads_batch = o->n_threads;
    f->e = engine_create(f->m, &ep, err, sizeof err);
    if (!f->e)
        fail_msg("%s", err);
    struct sched_params sp = o->sp;
    sp.n_slots = n_slots;
    sp.n_ctx = SLOT_CTX * n_slots;
    sp.n_predict = -1;
    sp.n_batch = 32;
    f->s = sched_create(f->e, f->v, &sp, err, sizeof err);
    if (!f->s)
        fail_msg("%s", err);
    return f;
}

static void fx_free(struct fx *f)
{
    sched_free(f->s);
    engine_free(f->e);
    sampler_vocab_free(f->sv);
    vocab_free(f->v);
    model_free(f->m);
    free(f);
}

/* A greedy completion of prompt[0..n) that does not stop at end-of-text. */
static struct sched_task *completion(struct fx *f, const int32_t *prompt, size_t n, int32_t n_predict,
                                     struct sched_events *q)
{
    struct sched_task *t = sched_task_new(SCHED_COMPLETION);
    t->prompt = malloc((n ? n : 1) * sizeof *t->prompt);
    if (n)
        memcpy(t->prompt, prompt, n * sizeof *prompt);
    t->n_prompt = n;
    t->n_predict = n_predict;
    t->cache_prompt = true;
    struct sampler_params sp;
    sampler_default_params(&sp);
    sp.temperature = 0;
    sp.repeat_penalty = 1;
    sp.ignore_eos = true;
    sp.seed = 1;
    char err[256];
    t->sampler = sampler_create(f->sv, &sp, SLOT_CTX, err, sizeof err);
    if (!t->sampler)
        fail_msg("%s", err);
    sched_task_set_events(t, q);
    return t;
}

/* Take what q holds into g; true once `want` tasks have ended. */
static bool drain(struct sched_events *q, struct got *g, int want)
{
    struct sched_event *ev;
    while ((ev = sched_events_pop(q))) {
        int i = ev->index;
        assert_true(i >= 0 && i < MAX_IDX);
        assert_false(g->done[i] || g->error[i]); /* nothing after the final event */
        if (ev->kind == SCHED_EV_TOKEN) {
            assert_true(g->n_tokens[i] < MAX_TOK);
            g->token_prob[i][g->n_tokens[i]] = ev->token_prob;
            if (ev->n_probs > 0)
                g->top[i][g->n_tokens[i]] = ev->probs[0];
            g->tokens[i][g->n_tokens[i]++] = ev->token;
            assert_non_null(ev->text);
        } else if (ev->kind == SCHED_EV_DONE) {
            g->done[i] = true;
            g->r[i] = ev->result;
            g->r[i].stopping_word = NULL;
            g->r[i].embd = NULL;
            if (ev->result.embd) {
                g->n_embd_floats = ev->result.n_rows * ev->result.n_embd;
                g->embd0 = ev->result.embd[0];
            }
        } else {
            g->error[i] = true;
            g->code[i] = ev->error_code;
            snprintf(g->msg[i], sizeof g->msg[i], "%s", ev->error);
        }
        sched_event_free(ev);
    }
    int ended = 0;
    for (int i = 0; i < MAX_IDX; i++)
        ended += g->done[i] || g->error[i];
    return ended >= want;
}

static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Wait (bounded) until `want` tasks of q have ended. */
static void wait_for(struct sched_events *q, struct got *g, int want)
{
    for (long i = 0; i < 600000; i++) {
        if (drain(q, g, want))
            return;
        nap();
    }
    fail_msg("the scheduler did not finish");
}

static void wait_idle(struct sched *s)
{
    for (long i = 0; i < 600000; i++) {
        struct sched_stats st;
        sched_get_stats(s, &st);
        if (st.n_processing == 0 && st.n_deferred == 0)
            return;
        nap();
    }
    fail_msg("the scheduler did not go idle");
}

/* Run one completion to its end; returns its queue's harvest in g. */
static void run_one(struct fx *f, struct sched_task *t, struct got *g)
{
    struct sched_events *q = t->events;
    sched_events_ref(q);
    memset(g, 0, sizeof *g);
    sched_submit(f->s, t);
    wait_for(q, g, 1);
    sched_events_unref(q);
}

static void prompt_of(int32_t *p, int32_t n, int32_t salt)
{
    p[0] = 1;
    for (int32_t i = 1; i < n; i++)
        p[i] = 260 + (i * 7 + salt * 13) % 200;
}

struct slot_look {
    int32_t n_past[8];
    bool processing[8];
};

static void look(void *ud, const struct sched_slot_info *si)
{
    struct slot_look *l = ud;
    l->n_past[si->id] = si->n_past;
    l->processing[si->id] = si->processing;
}

/* ------------------------------------------------------------ tests */

static void test_queueing(void **state)
{
    (void)state;
    struct fx *f = fx_new(N_SLOTS);
    enum { N = 5, NP = 12, NPRED = 10 };
    int32_t prompts[N][NP];
    struct got *alone = calloc(N, sizeof *alone), *g = calloc(N, sizeof *g);
    struct sched_events *q[N];
    for (int k = 0; k < N; k++)
        prompt_of(prompts[k], NP, k);
    /* each alone (cache off, so nothing is reused) */
    for (int k = 0; k < N; k++) {
        struct sched_events *qq = sched_events_new(NULL, NULL);
        struct sched_task *t = completion(f, prompts[k], NP, NPRED, qq);
        t->cache_prompt = false;
        run_one(f, t, &alone[k]);
        sched_events_unref(qq);
    }
    /* all at once: more tasks than slots */
    for (int k = 0; k < N; k++) {
        q[k] = sched_events_new(NULL, NULL);
        struct sched_task *t = completion(f, prompts[k], NP, NPRED, q[k]);
        t->cache_prompt = false;
        assert_true(sched_submit(f->s, t) >= 0);
    }
    for (int k = 0; k < N; k++) {
        wait_for(q[k], &g[k], 1);
        assert_true(g[k].done[0]);
        assert_int_equal(g[k].r[0].n_decoded, NPRED);
        assert_int_equal(g[k].r[0].n_prompt, NP);
        assert_true(g[k].r[0].stopped_limit);
        assert_int_equal(g[k].n_tokens[0], NPRED);
        assert_memory_equal(g[k].tokens[0], alone[k].tokens[0], NPRED * sizeof(int32_t));
        sched_events_unref(q[k]);
    }
    wait_idle(f->s);
    struct sched_stats st;
    sched_get_stats(f->s, &st);
    assert_int_equal(st.n_predicted_tokens, 2 * N * NPRED);
    assert_int_equal(st.n_idle, N_SLOTS);
    assert_true(st.n_decode_calls > 0);
    assert_true(st.kv_size >= 2 * SLOT_CTX);
    free(alone);
    free(g);
    fx_free(f);
}

static void test_prefix_reuse_and_borrow(void **state)
{
    (void)state;
    struct fx *f = fx_new(N_SLOTS);
    enum { NP = 20 };
    int32_t p[NP + 1];
    prompt_of(p, NP, 3);
    struct got g;
    struct sched_events *q = sched_events_new(NULL, NULL);
    struct sched_task *t = completion(f, p, NP, 4, q);
    t->id_slot = 0;
    run_one(f, t, &g);
    assert_true(g.done[0]);
    assert_int_equal(g.r[0].n_cached, 0);
    assert_int_equal(g.r[0].id_slot, 0);
    int32_t first = g.tokens[0][0];
    p[NP] = first == 300 ? 301 : 300; /* differs from what slot 0 holds after the prompt */

    /* the same slot: the prompt is reused */
    t = completion(f, p, NP + 1, 2, q);
    t->id_slot = 0;
    run_one(f, t, &g);
    assert_int_equal(g.r[0].n_cached, NP);
    assert_int_equal(g.r[0].n_evaluated, 1);

    /* another slot, empty: it borrows slot 0's sequence */
    t = completion(f, p, NP + 1, 2, q);
    t->id_slot = 1;
    run_one(f, t, &g);
    assert_int_equal(g.r[0].id_slot, 1);
    assert_int_equal(g.r[0].n_cached, NP);

    /* the whole prompt cached: the last token is evaluated again */
    t = completion(f, p, NP + 1, 2, q);
    t->id_slot = 1;
    run_one(f, t, &g);
    assert_int_equal(g.r[0].n_cached, NP);

    /* no cache_prompt: nothing reused */
    t = completion(f, p, NP + 1, 2, q);
    t->id_slot = 1;
    t->cache_prompt = false;
    run_one(f, t, &g);
    assert_int_equal(g.r[0].n_cached, 0);

    /* any slot: the one with the longest prefix is picked */
    t = completion(f, p, NP + 1, 2, q);
    run_one(f, t, &g);
    assert_int_equal(g.r[0].id_slot, 0);
    assert_int_equal(g.r[0].n_cached, NP);
    sched_events_unref(q);
    fx_free(f);
}

static void test_context_shift_and_truncation(void **state)
{
    (void)state;
    struct fx *f = fx_new(N_SLOTS);
    int32_t p[100];
    prompt_of(p, 100, 5);
    struct got g;
    struct sched_events *q = sched_events_new(NULL, NULL);
    /* generation past the slot's context */
    struct sched_task *t = completion(f, p, 10, 100, q);
    run_one(f, t, &g);
    assert_true(g.done[0]);
    assert_int_equal(g.r[0].n_decoded, 100);
    assert_int_equal(g.n_tokens[0], 100);
    assert_true(g.r[0].truncated);
    struct slot_look l = {0};
    sched_visit_slots(f->s, look, &l);
    assert_true(l.n_past[g.r[0].id_slot] < SLOT_CTX);
    /* a prompt longer than the slot */
    t = completion(f, p, 100, 3, q);
    t->n_keep = 4;
    run_one(f, t, &g);
    assert_true(g.done[0]);
    assert_true(g.r[0].truncated);
    assert_true(g.r[0].n_prompt < SLOT_CTX);
    assert_int_equal(g.r[0].n_decoded, 3);
    /* a short one is not */
    t = completion(f, p, 10, 3, q);
    run_one(f, t, &g);
    assert_false(g.r[0].truncated);
    sched_events_unref(q);
    fx_free(f);
}

static void test_cancel(void **state)
{
    (void)state;
    struct fx *f = fx_new(1);
    int32_t p[10];
    prompt_of(p, 10, 7);
    /* a running task, cancelled after its first token */
    struct sched_events *q = sched_events_new(NULL, NULL);
    struct sched_task *t = completion(f, p, 10, -1, q);
    t->n_keep = -1; /* a context shift keeps the prompt */
    assert_true(sched_submit(f->s, t) >= 0);
    /* a queued one behind it, cancelled before it starts */
    struct sched_events *q2 = sched_events_new(NULL, NULL);
    int32_t p2[10];
    prompt_of(p2, 10, 8);
    t = completion(f, p2, 10, 5, q2);
    sched_events_cancel(q2);
    assert_true(sched_events_cancelled(q2));
    assert_true(sched_submit(f->s, t) >= 0);
    struct sched_event *ev = NULL;
    for (long i = 0; i < 600000 && !(ev = sched_events_pop(q)); i++)
        nap();
    assert_non_null(ev);
    assert_int_equal(ev->kind, SCHED_EV_TOKEN);
    sched_event_free(ev);
    sched_events_cancel(q);
    wait_idle(f->s);
    /* the slot kept its cache; the queued task never ran */
    struct slot_look l = {0};
    sched_visit_slots(f->s, look, &l);
    assert_false(l.processing[0]);
    assert_true(l.n_past[0] >= 10);
    assert_null(sched_events_pop(q2));
    /* the slot serves the next task, reusing the cancelled one's prompt */
    struct got g;
    struct sched_events *q3 = sched_events_new(NULL, NULL);
    run_one(f, completion(f, p, 10, 2, q3), &g);
    assert_true(g.done[0]);
    assert_int_equal(g.r[0].n_cached, 9);
    while ((ev = sched_events_pop(q))) /* drop what came before the cancel */
        sched_event_free(ev);
    sched_events_unref(q);
    sched_events_unref(q2);
    sched_events_unref(q3);
    fx_free(f);
}

static void test_followers(void **state)
{
    (void)state;
    struct fx *f = fx_new(3);
    enum { NP = 24, NPRED = 6 };
    int32_t p[NP];
    prompt_of(p, NP, 9);
    struct sched_events *q = sched_events_new(NULL, NULL);
    struct sched_task *lead = completion(f, p, NP, NPRED, q);
    int64_t id = sched_submit(f->s, lead);
    assert_true(id >= 0);
    for (int k = 1; k < 3; k++) {
        struct sched_task *t = completion(f, p, NP, NPRED, q);
        t->index = k;
        t->follow = id;
        assert_true(sched_submit(f->s, t) >= 0);
    }
    struct got *g = calloc(1, sizeof *g);
    wait_for(q, g, 3);
    for (int k = 0; k < 3; k++) {
        assert_true(g->done[k]);
        assert_int_equal(g->n_tokens[k], NPRED);
        assert_memory_equal(g->tokens[k], g->tokens[0], NPRED * sizeof(int32_t));
    }
    assert_int_equal(g->r[0].n_cached, 0);
    assert_int_equal(g->r[1].n_cached, NP - 1);
    assert_int_equal(g->r[2].n_cached, NP - 1);
    assert_true(g->r[1].id_slot != g->r[0].id_slot && g->r[2].id_slot != g->r[1].id_slot);
    free(g);
    sched_events_unref(q);
    fx_free(f);
}

static struct sched_task *slot_op(enum sched_task_kind kind, int32_t slot, const char *path, struct sched_events *q)
{
    struct sched_task *t = sched_task_new(kind);
    t->id_slot = slot;
    t->path = path ? strdup(path) : NULL;
    sched_task_set_events(t, q);
    return t;
}

static void test_slot_ops(void **state)
{
    (void)state;
    struct fx *f = fx_new(N_SLOTS);
    char path[256];
    snprintf(path, sizeof path, "/tmp/cllm_test_scheduler_%d.bin", (int)getpid());
    int32_t p[16];
    prompt_of(p, 16, 11);
    struct got g;
    struct sched_events *q = sched_events_new(NULL, NULL);
    struct sched_task *t = completion(f, p, 16, 4, q);
    t->id_slot = 0;
    run_one(f, t, &g);
    struct slot_look l = {0};
    sched_visit_slots(f->s, look, &l);
    assert_int_equal(l.n_past[0], 19);

    run_one(f, slot_op(SCHED_SLOT_SAVE, 0, path, q), &g);
    assert_true(g.done[0]);
    assert_int_equal(g.r[0].n_tokens, 19);
    assert_true(g.r[0].n_bytes > 0);
    run_one(f, slot_op(SCHED_SLOT_ERASE, 0, NULL, q), &g);
    assert_int_equal(g.r[0].n_tokens, 19);
    sched_visit_slots(f->s, look, &l);
    assert_int_equal(l.n_past[0], 0);
    run_one(f, slot_op(SCHED_SLOT_RESTORE, 1, path, q), &g);
    assert_true(g.done[0]);
    assert_int_equal(g.r[0].n_tokens, 19);
    sched_visit_slots(f->s, look, &l);
    assert_int_equal(l.n_past[1], 19);
    /* the restored slot serves the prompt from its cache */
    t = completion(f, p, 16, 2, q);
    t->id_slot = 1;
    run_one(f, t, &g);
    assert_int_equal(g.r[0].n_cached, 15);
    /* a missing file */
    run_one(f, slot_op(SCHED_SLOT_RESTORE, 0, "/nonexistent/x.bin", q), &g);
    assert_true(g.error[0]);
    assert_int_equal(g.code[0], 400);
    assert_non_null(strstr(g.msg[0], "cannot restore slot 0"));
    remove(path);
    sched_events_unref(q);
    fx_free(f);
}

static void test_system_prompt_and_embeddings(void **state)
{
    (void)state;
    struct fx *f = fx_new(N_SLOTS);
    int32_t sys[8], p[6];
    prompt_of(sys, 8, 13);
    prompt_of(p, 6, 14);
    p[0] = 300;
    struct got g;
    struct sched_events *q = sched_events_new(NULL, NULL);
    struct sched_task *t = sched_task_new(SCHED_SYSTEM_PROMPT);
    t->prompt = malloc(sizeof sys);
    memcpy(t->prompt, sys, sizeof sys);
    t->n_prompt = 8;
    sched_task_set_events(t, q);
    run_one(f, t, &g);
    assert_true(g.done[0]);
    assert_int_equal(g.r[0].n_tokens, 8);
    run_one(f, completion(f, p, 6, 2, q), &g);
    assert_int_equal(g.r[0].n_prompt, 14);
    assert_int_equal(g.r[0].n_cached, 8);

    int32_t n_embd = engine_n_embd(f->e);
    enum sched_pooling pools[4] = {POOL_NONE, POOL_MEAN, POOL_CLS, POOL_LAST};
    float cls = 0, none0 = 0;
    for (int k = 0; k < 4; k++) {
        t = sched_task_new(SCHED_EMBED);
        t->prompt = malloc(sizeof p);
        memcpy(t->prompt, p, sizeof p);
        t->n_prompt = 6;
        t->pooling = pools[k];
        sched_task_set_events(t, q);
        run_one(f, t, &g);
        assert_true(g.done[0]);
        assert_int_equal(g.r[0].n_rows, k == 0 ? 6 : 1);
        assert_int_equal(g.n_embd_floats, (k == 0 ? 6 : 1) * n_embd);
        if (k == 0)
            none0 = g.embd0;
        if (k == 2)
            cls = g.embd0;
    }
    assert_true(cls == none0); /* the first row either way */
    /* an empty input */
    t = sched_task_new(SCHED_EMBED);
    sched_task_set_events(t, q);
    run_one(f, t, &g);
    assert_true(g.error[0]);
    assert_int_equal(g.code[0], 400);
    sched_events_unref(q);
    fx_free(f);
}

static void test_errors_and_shutdown(void **state)
{
    (void)state;
    struct fx *f = fx_new(1);
    struct got g;
    struct sched_events *q = sched_events_new(NULL, NULL);
    /* a slot that does not exist: refused at once */
    int32_t p[10];
    prompt_of(p, 10, 15);
    struct sched_task *t = completion(f, p, 10, 2, q);
    t->id_slot = 5;
    memset(&g, 0, sizeof g);
    assert_int_equal(sched_submit(f->s, t), -1);
    assert_true(drain(q, &g, 1));
    assert_int_equal(g.code[0], 400);
    assert_non_null(strstr(g.msg[0], "id_slot 5 is out of range"));
    /* an empty prompt */
    run_one(f, completion(f, p, 0, 2, q), &g);
    assert_true(g.error[0]);
    assert_int_equal(g.code[0], 400);
    assert_non_null(strstr(g.msg[0], "the prompt is empty"));
    /* shutting down: the running task and the queued one get 503 */
    struct sched_events *q1 = sched_events_new(NULL, NULL), *q2 = sched_events_new(NULL, NULL);
    assert_true(sched_submit(f->s, completion(f, p, 10, -1, q1)) >= 0);
    assert_true(sched_submit(f->s, completion(f, p, 10, 2, q2)) >= 0);
    struct sched_event *ev = NULL;
    for (long i = 0; i < 600000 && !(ev = sched_events_pop(q1)); i++)
        nap();
    assert_non_null(ev);
    sched_event_free(ev);
    sched_free(f->s);
    f->s = NULL;
    struct got g1, g2;
    memset(&g1, 0, sizeof g1);
    memset(&g2, 0, sizeof g2);
    assert_true(drain(q1, &g1, 1));
    assert_true(drain(q2, &g2, 1));
    assert_int_equal(g1.code[0], 503);
    assert_int_equal(g2.code[0], 503);
    sched_events_unref(q);
    sched_events_unref(q1);
    sched_events_unref(q2);
    fx_free(f);
}

static int n_notified;
static void notify(void *ud) { (*(int *)ud)++; }

/* ------------------------------------------------------------ parallel sampling, speculation */

/* A completion sampled at temperature temp with seed and n_probs. */
static struct sched_task *sampled(struct fx *f, const int32_t *prompt, size_t n, int32_t n_predict,
                                  struct sched_events *q, float temp, uint32_t seed, int32_t n_probs)
{
    struct sched_task *t = completion(f, prompt, n, n_predict, q);
    struct sampler_params sp;
    sampler_default_params(&sp);
    sp.temperature = temp;
    sp.repeat_penalty = 1;
    sp.ignore_eos = true;
    sp.seed = seed;
    sp.n_probs = n_probs;
    char err[256];
    sampler_free(t->sampler);
    t->sampler = sampler_create(f->sv, &sp, SLOT_CTX, err, sizeof err);
    if (!t->sampler)
        fail_msg("%s", err);
    t->n_probs = n_probs;
    t->cache_prompt = false;
    return t;
}

/* A prompt that repeats a phrase of `period` tokens (n-gram drafting finds
 * it again). */
static void repetitive_prompt(int32_t *p, int32_t n, int32_t period, int32_t salt)
{
    p[0] = 1;
    for (int32_t i = 1; i < n; i++)
        p[i] = 300 + ((i - 1) % period) * 11 + salt * 3;
}

typedef struct sched_task *(*make_task_fn)(struct fx *f, int k, struct sched_events *q);

/* Run tasks k0 .. k0+n-1 (made by mk), all submitted at once, to their
 * ends, into g[0..n). */
static void run_all(struct fx *f, int k0, int n, struct got *g, make_task_fn mk)
{
    struct sched_events **q = calloc((size_t)n, sizeof *q);
    for (int k = 0; k < n; k++) {
        q[k] = sched_events_new(NULL, NULL);
        assert_true(sched_submit(f->s, mk(f, k0 + k, q[k])) >= 0);
    }
    for (int k = 0; k < n; k++) {
        memset(&g[k], 0, sizeof g[k]);
        wait_for(q[k], &g[k], 1);
        assert_true(g[k].done[0]);
        sched_events_unref(q[k]);
    }
    free(q);
    wait_idle(f->s);
}

static struct sched_task *mk_parallel(struct fx *f, int k, struct sched_events *q)
{
    int32_t p[20];
    prompt_of(p, 20, k);
    return sampled(f, p, 20, 16, q, 0.9f, 100u + (uint32_t)k, 3);
}

static void assert_same_output(const struct got *a, const struct got *b)
{
    assert_int_equal(a->n_tokens[0], b->n_tokens[0]);
    assert_int_equal(a->r[0].n_decoded, b->r[0].n_decoded);
    assert_memory_equal(a->tokens[0], b->tokens[0], (size_t)a->n_tokens[0] * sizeof(int32_t));
    assert_memory_equal(a->token_prob[0], b->token_prob[0], (size_t)a->n_tokens[0] * sizeof(float));
    assert_memory_equal(a->top[0], b->top[0], (size_t)a->n_tokens[0] * sizeof(struct sched_token_prob));
}

static void test_parallel_sampling(void **state)
{
    (void)state;
    enum { N = 6 };
    struct fx_opts o = {.n_threads = 2, .sp = {.n_sample_threads = 1}};
    struct got *alone = calloc(N, sizeof *alone), *g = calloc(N, sizeof *g);
    struct fx *f = fx_make(4, &o);
    /* one at a time: each step samples one slot, on the loop thread */
    for (int k = 0; k < N; k++)
        run_all(f, k, 1, &alone[k], mk_parallel);
    /* all at once: up to 4 slots sampled per step, on 2 threads */
    run_all(f, 0, N, g, mk_parallel);
    for (int k = 0; k < N; k++) {
        assert_int_equal(g[k].n_tokens[0], 16);
        assert_true(g[k].token_prob[0][0] > 0);
        assert_same_output(&g[k], &alone[k]);
    }
    fx_free(f);
    free(alone);
    free(g);
}

/* Speculative decoding's fixture: n-gram drafts of up to 8 tokens, room
 * for them in the outputs, sampling on 2 threads. */
static struct fx *fx_spec(int32_t n_slots, int32_t draft_min)
{
    struct fx_opts o = {.n_threads = 2, .n_outputs_max = 32,
                        .sp = {.spec_type = SCHED_SPEC_NGRAM, .draft_max = 8, .draft_min = draft_min,
                               .ngram_n = 4, .ngram_n_min = 1}};
    return fx_make(n_slots, &o);
}

enum { SPEC_NP = 20 };
static const int32_t spec_npred[] = {30, 41, 7, 150, 1, 2};

static struct sched_task *mk_spec_greedy(struct fx *f, int k, struct sched_events *q)
{
    int32_t p[SPEC_NP];
    repetitive_prompt(p, SPEC_NP, 3 + k % 4, k);
    struct sched_task *t = completion(f, p, SPEC_NP, spec_npred[k % 6], q);
    t->cache_prompt = false;
    return t;
}

static void test_spec_greedy_same_as_plain(void **state)
{
    (void)state;
    enum { N = 12 };
    struct got *plain = calloc(N, sizeof *plain), *g = calloc(N, sizeof *g);
    struct fx *f = fx_new(2);
    run_all(f, 0, N, plain, mk_spec_greedy);
    fx_free(f);
    for (int32_t draft_min = 0; draft_min <= 3; draft_min += 3) {
        f = fx_spec(3, draft_min);
        run_all(f, 0, N, g, mk_spec_greedy);
        for (int k = 0; k < N; k++) {
            assert_int_equal(g[k].n_tokens[0], spec_npred[k % 6]);
            assert_true(g[k].r[0].stopped_limit);
            assert_int_equal(g[k].r[0].truncated, plain[k].r[0].truncated);
            assert_same_output(&g[k], &plain[k]);
        }
        struct sched_stats st;
        sched_get_stats(f->s, &st);
        assert_true(st.n_draft_accepted > 0);            /* drafts were taken */
        assert_true(st.n_draft_accepted < st.n_drafted); /* and some were rejected */
        assert_true(st.n_decode_calls < st.n_predicted_tokens); /* several tokens a step */
        /* the cache holds what plain decoding leaves (the prompt and every
         * token but the last), so the same prompt with cache_prompt reuses
         * all of it and says the same */
        struct sched_events *q = sched_events_new(NULL, NULL);
        struct sched_task *t = mk_spec_greedy(f, 0, q);
        t->id_slot = 0;
        run_one(f, t, &g[0]);
        struct slot_look l = {0};
        sched_visit_slots(f->s, look, &l);
        assert_int_equal(l.n_past[0], SPEC_NP + spec_npred[0] - 1);
        t = mk_spec_greedy(f, 0, q);
        t->id_slot = 0;
        t->cache_prompt = true;
        run_one(f, t, &g[1]);
        assert_int_equal(g[1].r[0].n_cached, SPEC_NP - 1);
        assert_same_output(&g[1], &plain[0]);
        sched_events_unref(q);
        fx_free(f);
    }
    free(plain);
    free(g);
}

/* Temperature 1, a seed per task, n_probs on (so probabilities are
 * compared too). */
enum { DIST_N = 400, DIST_NPRED = 10, DIST_G = 24 };
/* The prompt: what the model says greedily after BOS, then its start again
 * (so the model's likely continuation is in the history to be drafted). */
static int32_t dist_prompt[1 + DIST_G + 8];

static struct sched_task *mk_dist(struct fx *f, int k, struct sched_events *q)
{
    return sampled(f, dist_prompt, 1 + DIST_G + 8, DIST_NPRED, q, 1.0f, 1u + (uint32_t)k, 2);
}

static struct sched_task *mk_dist_other_seeds(struct fx *f, int k, struct sched_events *q)
{
    return mk_dist(f, k + 100000, q);
}

/* Two samples of equal size: the chi-square statistic of homogeneity of
 * the tokens at position pos (tokens seen fewer than 10 times in both
 * together pooled into one bin); *dof gets its degrees of freedom. */
static double chi_square(const struct got *a, const struct got *b, int n, int pos, int *dof)
{
    enum { V = 512 };
    int ca[V + 1] = {0}, cb[V + 1] = {0};
    for (int k = 0; k < n; k++) {
        ca[a[k].tokens[0][pos] < V ? a[k].tokens[0][pos] : V]++;
        cb[b[k].tokens[0][pos] < V ? b[k].tokens[0][pos] : V]++;
    }
    double chi = 0, ra = 0, rb = 0;
    int bins = 0;
    for (int t = 0; t <= V; t++) {
        if (ca[t] + cb[t] >= 10) {
            chi += (double)(ca[t] - cb[t]) * (ca[t] - cb[t]) / (ca[t] + cb[t]);
            bins++;
        } else {
            ra += ca[t];
            rb += cb[t];
        }
    }
    if (ra + rb > 0) {
        chi += (ra - rb) * (ra - rb) / (ra + rb);
        bins++;
    }
    *dof = bins - 1;
    return chi;
}

static void test_spec_sampled_distribution(void **state)
{
    (void)state;
    struct got *plain = calloc(DIST_N, sizeof *plain), *spec = calloc(DIST_N, sizeof *spec);
    struct got *spec2 = calloc(DIST_N, sizeof *spec2);
    struct fx *f = fx_new(4);
    int32_t bos = 1;
    struct sched_events *q = sched_events_new(NULL, NULL);
    run_one(f, completion(f, &bos, 1, DIST_G, q), &plain[0]);
    sched_events_unref(q);
    dist_prompt[0] = bos;
    memcpy(dist_prompt + 1, plain[0].tokens[0], DIST_G * sizeof(int32_t));
    memcpy(dist_prompt + 1 + DIST_G, plain[0].tokens[0], 8 * sizeof(int32_t));
    run_all(f, 0, DIST_N, plain, mk_dist);
    fx_free(f);
    f = fx_spec(4, 0);
    run_all(f, 0, DIST_N, spec, mk_dist);
    run_all(f, 0, DIST_N, spec2, mk_dist_other_seeds);
    struct sched_stats st;
    sched_get_stats(f->s, &st);
    assert_true(st.n_draft_accepted > 0);
    assert_true(st.n_draft_accepted < st.n_drafted);
    fx_free(f);
    /* the same seed: the same tokens and probabilities as plain decoding */
    for (int k = 0; k < DIST_N; k++)
        assert_same_output(&spec[k], &plain[k]);
    /* other seeds: the same distribution, position by position; the bound
     * is far out in the chi-square tail (p < 1e-6 at these degrees of
     * freedom): a sampler that favoured the drafted tokens exceeds it */
    int tested = 0;
    for (int pos = 0; pos < DIST_NPRED; pos++) {
        int dof;
        double chi = chi_square(spec2, plain, DIST_N, pos, &dof);
        if (dof < 1)
            continue;
        tested++;
        double bound = dof + 7.0 * sqrt(2.0 * dof) + 10.0;
        if (chi > bound)
            fail_msg("position %d: chi-square %.1f > %.1f (%d degrees of freedom)", pos, chi, bound, dof);
    }
    assert_true(tested >= DIST_NPRED / 2);
    free(plain);
    free(spec);
    free(spec2);
}

static void test_events_queue(void **state)
{
    (void)state;
    struct sched_events *q = sched_events_new(notify, &n_notified);
    struct sched_task *t = sched_task_new(SCHED_COMPLETION);
    sched_task_set_events(t, q);
    for (int i = 0; i < 3; i++) {
        struct sched_event *ev = calloc(1, sizeof *ev);
        ev->token = i;
        ev->text = strdup("x");
        sched_events_push(q, ev);
    }
    assert_int_equal(n_notified, 3);
    for (int i = 0; i < 2; i++) {
        struct sched_event *ev = sched_events_pop(q);
        assert_int_equal(ev->token, i);
        sched_event_free(ev);
    }
    sched_events_cancel(q);
    struct sched_event *ev = calloc(1, sizeof *ev);
    sched_events_push(q, ev); /* dropped */
    assert_int_equal(n_notified, 3);
    sched_task_free(t); /* drops its reference; one event is left for the last unref */
    sched_events_unref(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_queue),
        cmocka_unit_test(test_queueing),
        cmocka_unit_test(test_prefix_reuse_and_borrow),
        cmocka_unit_test(test_context_shift_and_truncation),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_followers),
        cmocka_unit_test(test_slot_ops),
        cmocka_unit_test(test_system_prompt_and_embeddings),
        cmocka_unit_test(test_errors_and_shutdown),
        cmocka_unit_test(test_parallel_sampling),
        cmocka_unit_test(test_spec_greedy_same_as_plain),
        cmocka_unit_test(test_spec_sampled_distribution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
