/*
 * spec.c - speculative decoding (n-gram / prompt lookup drafting) against
 * plain decoding, through the scheduler on a real model: a repetitive task
 * (rewrite a JSON object with one field changed, or edit a piece of code;
 * or, to see what drafting costs where it rarely pays, a short story),
 * greedy, on 1 or more slots at once. Plain and speculative runs
 * alternate; each run's generated tokens/s (tokens / wall time from submit
 * to the last result) is printed, then the medians, the speed-up, the
 * draft acceptance, and whether the speculative text equals the plain one
 * token for token (it must: greedy decoding is the same with drafting).
 *
 *   build/bench-spec -m models/gemma-3-270m-q4_k_m.gguf [--task json|code|story]
 *       [-t THREADS] [--np SLOTS] [--runs N] [-n N_PREDICT] [--draft-max N]
 *       [--draft-min N] [--ngram N] [--ngram-min N] [--show]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "engine/engine.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "serve/scheduler.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

static const char JSON_TASK[] =
    "<start_of_turn>user\n"
    "Rewrite this JSON with the field \"city\" changed to \"Lyon\". Output only the JSON.\n\n"
    "{\n"
    "  \"id\": 48213,\n"
    "  \"name\": \"Claire Dubois\",\n"
    "  \"email\": \"claire.dubois@example.com\",\n"
    "  \"phone\": \"+33 1 42 68 53 00\",\n"
    "  \"address\": {\n"
    "    \"street\": \"12 rue de la Paix\",\n"
    "    \"city\": \"Paris\",\n"
    "    \"postcode\": \"75002\",\n"
    "    \"country\": \"France\"\n"
    "  },\n"
    "  \"orders\": [\n"
    "    {\"order_id\": 1001, \"item\": \"notebook\", \"quantity\": 3, \"price\": 4.5},\n"
    "    {\"order_id\": 1002, \"item\": \"fountain pen\", \"quantity\": 1, \"price\": 27.0},\n"
    "    {\"order_id\": 1003, \"item\": \"ink bottle\", \"quantity\": 2, \"price\": 8.25}\n"
    "  ],\n"
    "  \"member_since\": \"2019-04-17\",\n"
    "  \"newsletter\": true,\n"
    "  \"tags\": [\"stationery\", \"premium\", \"repeat-customer\"]\n"
    "}<end_of_turn>\n"
    "<start_of_turn>model\n";

static const char CODE_TASK[] =
    "<start_of_turn>user\n"
    "Rename the variable `total` to `sum_of_prices` in this Python code. Output only the code.\n\n"
    "```python\n"
    "def order_total(orders, tax_rate=0.2):\n"
    "    total = 0.0\n"
    "    for order in orders:\n"
    "        if order.get(\"cancelled\"):\n"
    "            continue\n"
    "        price = order[\"price\"] * order[\"quantity\"]\n"
    "        if order.get(\"discount\"):\n"
    "            price = price * (1 - order[\"discount\"])\n"
    "        total = total + price\n"
    "    total = total * (1 + tax_rate)\n"
    "    return round(total, 2)\n"
    "\n"
    "\n"
    "def summary(orders):\n"
    "    total = order_total(orders)\n"
    "    count = len(orders)\n"
    "    return {\"count\": count, \"total\": total, \"average\": total / count if count else 0}\n"
    "```<end_of_turn>\n"
    "<start_of_turn>model\n";

static const char STORY_TASK[] =
    "<start_of_turn>user\n"
    "Write a short story about a lighthouse keeper who finds a strange map.<end_of_turn>\n"
    "<start_of_turn>model\n";

struct opts {
    const char *model, *task;
    int threads, np, runs, n_predict, draft_max, draft_min, ngram, ngram_min;
    bool show;
};

struct run {
    double tps;
    int32_t tokens[8][1024];
    int32_t n[8];
    uint64_t drafted, accepted, steps;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* One run: the task on every slot at once, greedy, to n_predict or the end. */
static int run_once(struct engine *e, const struct vocab *v, const struct sampler_vocab *sv, const struct opts *o,
                    const int32_t *prompt, int32_t n_prompt, bool spec, struct run *r)
{
    char err[256];
    engine_seq_clear(e, -1);
    struct sched_params sp = {.n_slots = o->np, .n_ctx = engine_n_ctx(e) / (o->np + 1) * o->np,
                              .n_predict = -1, .n_batch = 512};
    if (spec) {
        sp.spec_type = SCHED_SPEC_NGRAM;
        sp.draft_max = o->draft_max;
        sp.draft_min = o->draft_min;
        sp.ngram_n = o->ngram;
        sp.ngram_n_min = o->ngram_min;
    }
    struct sched *s = sched_create(e, v, &sp, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sched_create: %s\n", err);
        return -1;
    }
    struct sched_events *q = sched_events_new(NULL, NULL);
    double t0 = clock_ms();
    for (int k = 0; k < o->np; k++) {
        struct sched_task *t = sched_task_new(SCHED_COMPLETION);
        t->prompt = malloc((size_t)n_prompt * sizeof *t->prompt);
        memcpy(t->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
        t->n_prompt = (size_t)n_prompt;
        t->n_predict = o->n_predict;
        t->index = k;
        struct sampler_params smp;
        sampler_default_params(&smp);
        smp.temperature = 0;
        t->sampler = sampler_create(sv, &smp, 4096, err, sizeof err);
        sched_task_set_events(t, q);
        sched_submit(s, t);
    }
    int done = 0;
    long total = 0;
    memset(r->n, 0, sizeof r->n);
    while (done < o->np) {
        struct sched_event *ev = sched_events_pop(q);
        if (!ev) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (ev->kind == SCHED_EV_TOKEN && ev->index < 8 && r->n[ev->index] < 1024)
            r->tokens[ev->index][r->n[ev->index]++] = ev->token;
        if (ev->kind == SCHED_EV_TOKEN)
            total++;
        if (ev->kind == SCHED_EV_ERROR)
            fprintf(stderr, "error: %s\n", ev->error);
        if (ev->kind != SCHED_EV_TOKEN)
            done++;
        sched_event_free(ev);
    }
    double ms = clock_ms() - t0;
    struct sched_stats st;
    sched_get_stats(s, &st);
    r->tps = (double)total / (ms / 1e3);
    r->drafted = st.n_drafted;
    r->accepted = st.n_draft_accepted;
    r->steps = st.n_decode_calls;
    sched_events_unref(q);
    sched_free(s);
    return 0;
}

static void show(const struct vocab *v, const struct run *r)
{
    char buf[8192];
    int64_t n = detokenize(v, r->tokens[0], (size_t)r->n[0], buf, sizeof buf - 1, false, false);
    if (n >= 0 && n < (int64_t)sizeof buf) {
        buf[n] = '\0';
        printf("---- generated (%d tokens)\n%s\n----\n", r->n[0], buf);
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.task = "json", .threads = 0, .np = 1, .runs = 3, .n_predict = 400, .draft_max = 16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--show")) {
            o.show = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m")) o.model = val;
        else if (!strcmp(a, "--task")) o.task = val;
        else if (!strcmp(a, "-t")) o.threads = atoi(val);
        else if (!strcmp(a, "--np")) o.np = atoi(val);
        else if (!strcmp(a, "--runs")) o.runs = atoi(val);
        else if (!strcmp(a, "-n")) o.n_predict = atoi(val);
        else if (!strcmp(a, "--draft-max")) o.draft_max = atoi(val);
        else if (!strcmp(a, "--draft-min")) o.draft_min = atoi(val);
        else if (!strcmp(a, "--ngram")) o.ngram = atoi(val);
        else if (!strcmp(a, "--ngram-min")) o.ngram_min = atoi(val);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    if (!o.model || o.np < 1 || o.np > 8 || o.runs < 1) {
        fprintf(stderr, "usage: %s -m MODEL [--task json|code|story] [--np 1..8] [--runs N] ...\n", argv[0]);
        return 2;
    }
    char err[512];
    struct model *m = model_load(o.model, 0, err, sizeof err);
    struct vocab *v = m ? vocab_load(m->gguf, err, sizeof err) : NULL;
    struct sampler_vocab *sv = v ? sampler_vocab_create(v, err, sizeof err) : NULL;
    if (!sv) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const char *text = !strcmp(o.task, "code") ? CODE_TASK : !strcmp(o.task, "story") ? STORY_TASK : JSON_TASK;
    int32_t prompt[2048];
    int64_t n_prompt = tokenize(v, text, strlen(text), true, true, prompt, 2048);
    struct engine_params ep = engine_default_params();
    int32_t slot_ctx = 2048;
    ep.n_ctx = engine_ctx_for_seqs(o.np + 1, slot_ctx);
    ep.n_seq_max = o.np + 1;
    ep.n_batch = 512;
    ep.n_outputs_max = o.np * (1 + o.draft_max);
    ep.n_threads = ep.n_threads_batch = o.threads;
    struct engine *e = engine_create(m, &ep, err, sizeof err);
    if (!e || n_prompt <= 0) {
        fprintf(stderr, "%s\n", e ? "cannot tokenize" : err);
        return 1;
    }
    printf("task %s: %lld prompt tokens, %d slot(s), n_predict %d, draft max %d min %d, n-gram %d..%d (0: default)\n",
           o.task, (long long)n_prompt, o.np, o.n_predict, o.draft_max, o.draft_min, o.ngram_min, o.ngram);
    struct run *plain = calloc(1, sizeof *plain), *spec = calloc(1, sizeof *spec);
    double *tp = calloc((size_t)o.runs, sizeof *tp), *ts = calloc((size_t)o.runs, sizeof *ts);
    bool same = true;
    for (int r = 0; r < o.runs; r++) {
        for (int k = 0; k < 2; k++) {
            bool sp = (k == 1) ^ (r % 2 == 1);
            struct run *x = sp ? spec : plain;
            if (run_once(e, v, sv, &o, prompt, (int32_t)n_prompt, sp, x) != 0)
                return 1;
            (sp ? ts : tp)[r] = x->tps;
            printf("run %d %-5s %7.1f tok/s  (%d tokens, %llu steps", r, sp ? "spec" : "plain", x->tps, x->n[0],
                   (unsigned long long)x->steps);
            if (sp)
                printf(", drafted %llu, accepted %llu", (unsigned long long)x->drafted,
                       (unsigned long long)x->accepted);
            printf(")\n");
            fflush(stdout);
        }
        for (int k = 0; k < o.np; k++)
            same = same && plain->n[k] == spec->n[k] &&
                   !memcmp(plain->tokens[k], spec->tokens[k], (size_t)plain->n[k] * sizeof(int32_t));
    }
    if (o.show)
        show(v, plain);
    double mp = median(tp, o.runs), ms = median(ts, o.runs);
    printf("median: plain %.1f tok/s, speculative %.1f tok/s, speed-up %.2fx; identical text: %s\n", mp, ms, ms / mp,
           same ? "yes" : "NO");
    free(plain);
    free(spec);
    free(tp);
    free(ts);
    engine_free(e);
    sampler_vocab_free(sv);
    vocab_free(v);
    model_free(m);
    return same ? 0 : 1;
}
