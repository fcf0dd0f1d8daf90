/*
 * sampler.c - bench-sampler: the sampler's time per token on a model's
 * vocabulary (gemma3: 262k tokens) next to the time of one decode step, for
 * the default chain, the chain without top_k, other samplers, greedy, and
 * grammars (one whose tokens the chain mostly proposes, one that forces the
 * full-vocabulary check every step). The issue asks for < 5% of a token.
 *
 * Logits are real (the model's next-token logits after a prompt) or, with
 * --random, Gaussian with the same spread. Penalties see a 64-token history.
 *
 * Usage: bench-sampler [-m MODEL] [-t THREADS] [-n TOKENS] [--random] [--only TEXT]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "grammar/grammar.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

struct options {
    const char *model;
    int threads;
    int n_tokens;
    bool random;
    const char *only; /* run the configurations whose name contains this */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse(int argc, char **argv, struct options *o)
{
    o->model = "models/gemma-3-270m-q4_k_m.gguf";
    o->threads = 0;
    o->n_tokens = 200;
    o->random = false;
    o->only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--random"))
            o->random = true;
        else if (i + 1 < argc && !strcmp(argv[i], "-m"))
            o->model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "-t"))
            o->threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--only"))
            o->only = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "-n"))
            o->n_tokens = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-sampler [-m MODEL] [-t THREADS] [-n TOKENS] [--random] "
                            "[--only TEXT]\n");
            return -1;
        }
    }
    return o->n_tokens > 0 ? 0 : -1;
}

/* Decode the prompt, then time n single-token steps. Leaves the logits
 * after the prompt in logits. Returns seconds per step, or -1. */
static double decode_time(struct model *m, const struct vocab *v, const struct options *o,
                          float *logits, int32_t *hist, int n_hist)
{
    static const char *prompt =
        "The history of the city goes back to Roman times, when a small settlement grew "
        "up at the crossing of two roads. In the middle ages it became a market town, and";
    struct engine_params ep = engine_default_params();
    ep.n_ctx = 512;
    if (o->threads > 0)
        ep.n_threads = ep.n_threads_batch = o->threads;
    char err[256];
    struct engine *e = engine_create(m, &ep, err, sizeof(err));
    struct tok_list toks = {0};
    struct batch b;
    double dt = -1;
    if (e == NULL || tokenize_list(v, prompt, strlen(prompt), true, false, &toks) != 0 ||
        batch_init(&b, 512) != 0) {
        fprintf(stderr, "bench-sampler: %s\n", e ? "cannot tokenize" : err);
        goto out;
    }
    for (size_t i = 0; i < toks.n; i++)
        batch_add(&b, toks.v[i], (int32_t)i, 0, i + 1 == toks.n);
    for (int i = 0; i < n_hist; i++)
        hist[i] = toks.v[(size_t)i % toks.n];
    if (engine_decode(e, &b, err, sizeof(err)) == 0) {
        memcpy(logits, engine_logits(e, b.n_tokens - 1), (size_t)engine_n_vocab(e) * sizeof(float));
        int32_t pos = (int32_t)toks.n, steps = 16;
        double t0 = now_s();
        for (int i = 0; i < steps; i++) {
            batch_clear(&b);
            batch_add(&b, toks.v[(size_t)i % toks.n], pos++, 0, true);
            if (engine_decode(e, &b, err, sizeof(err)) != 0)
                break;
        }
        dt = (now_s() - t0) / steps;
    }
    batch_free(&b);
out:
    tok_list_free(&toks);
    engine_free(e);
    return dt;
}

struct config {
    const char *name;
    void (*set)(struct sampler_params *p);
    const char *grammar;
};

static void set_default(struct sampler_params *p) { (void)p; }
static void set_no_top_k(struct sampler_params *p) { p->top_k = 0; }
static void set_top_p_only(struct sampler_params *p) { p->top_k = 0; p->min_p = 0; }
static void set_temp_only(struct sampler_params *p) { p->top_k = 0; p->min_p = 0; p->top_p = 1; }
static void set_min_p_first(struct sampler_params *p)
{
    static const enum sampler_type chain[] = {SAMPLER_MIN_P, SAMPLER_TOP_P, SAMPLER_TEMPERATURE};
    p->n_samplers = 3;
    memcpy(p->samplers, chain, sizeof(chain));
}
static void set_typical(struct sampler_params *p) { p->top_k = 0; p->typical_p = 0.95f; }
static void set_tfs(struct sampler_params *p) { p->top_k = 0; p->tfs_z = 0.95f; }
static void set_all(struct sampler_params *p) { p->top_k = 0; p->tfs_z = 0.95f; p->typical_p = 0.95f; }
static void set_greedy(struct sampler_params *p) { p->temperature = 0; }
static void set_mirostat2(struct sampler_params *p) { p->mirostat = 2; }
static void set_dynatemp(struct sampler_params *p) { p->top_k = 0; p->dynatemp_range = 0.5f; }

static const struct config CONFIGS[] = {
    {"default chain (top_k 40)", set_default, NULL},
    {"top_k off (top_p, min_p)", set_no_top_k, NULL},
    {"top_k off, min_p off", set_top_p_only, NULL},
    {"temperature only", set_temp_only, NULL},
    {"min_p first, then top_p", set_min_p_first, NULL},
    {"typical, no top_k", set_typical, NULL},
    {"tfs, no top_k", set_tfs, NULL},
    {"tfs + typical, no top_k", set_all, NULL},
    {"dynatemp, no top_k", set_dynatemp, NULL},
    {"mirostat 2", set_mirostat2, NULL},
    {"greedy", set_greedy, NULL},
    {"grammar: free text", set_default, "root ::= [^\\x00]*"},
    {"grammar: digits (full check)", set_default, "root ::= [0-9]+"},
    {"grammar: digits, greedy", set_greedy, "root ::= [0-9]+"},
};

/* Seconds per token of one configuration on a fixed logits row. */
static double time_config(const struct sampler_vocab *sv, const struct config *c,
                          const float *logits, const int32_t *hist, int n_hist, int n)
{
    struct sampler_params p;
    sampler_default_params(&p);
    p.seed = 1;
    c->set(&p);
    char err[512];
    p.grammar = c->grammar ? grammar_parse(c->grammar, strlen(c->grammar), NULL, err, sizeof(err)) : NULL;
    if (c->grammar && p.grammar == NULL) {
        fprintf(stderr, "bench-sampler: %s: %s\n", c->name, err);
        return -1;
    }
    struct sampler *s = sampler_create(sv, &p, 4096, err, sizeof(err));
    grammar_free(p.grammar); /* the sampler holds its own reference */
    if (s == NULL) {
        fprintf(stderr, "bench-sampler: %s: %s\n", c->name, err);
        return -1;
    }
    sampler_set_history(s, hist, (size_t)n_hist);
    double t0 = now_s();
    int done = 0;
    for (; done < n; done++) {
        int32_t t = sampler_sample(s, logits, NULL, NULL);
        if (t < 0 || sampler_accept(s, t) != 0 || sampler_grammar_done(s))
            break;
    }
    double dt = (now_s() - t0) / (done > 0 ? done : 1);
    sampler_free(s);
    return dt;
}

static void random_logits(float *l, int32_t n)
{
    uint64_t s = 12345;
    for (int32_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = ((double)(s >> 11) + 1) * 0x1p-53;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double w = (double)(s >> 11) * 0x1p-53;
        l[i] = (float)(3.0 * sqrt(-2 * log(u)) * cos(6.283185307179586 * w));
    }
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    char err[512];
    struct model *m = model_load(o.model, 0, err, sizeof(err));
    struct vocab *v = m ? vocab_load(m->gguf, err, sizeof(err)) : NULL;
    if (v == NULL) {
        fprintf(stderr, "bench-sampler: %s: %s\n", o.model, err);
        model_free(m);
        return 1;
    }
    double t0 = now_s();
    struct sampler_vocab *sv = sampler_vocab_create(v, err, sizeof(err));
    double t_vocab = now_s() - t0;
    float *logits = malloc((size_t)v->n_tokens * sizeof(float));
    int32_t hist[64];
    double t_dec = sv && logits ? decode_time(m, v, &o, logits, hist, 64) : -1;
    if (t_dec < 0) {
        fprintf(stderr, "bench-sampler: %s\n", sv ? "decode failed" : err);
        return 1;
    }
    if (o.random)
        random_logits(logits, v->n_tokens);
    printf("model %s: %d tokens; sampler_vocab_create %.1f ms\n", o.model, (int)v->n_tokens,
           t_vocab * 1e3);
    printf("decode step: %.2f ms/token; logits: %s\n\n", t_dec * 1e3,
           o.random ? "random (Gaussian, sd 3)" : "real (after a prompt)");
    printf("%-32s %12s %10s\n", "sampler", "us/token", "% decode");
    for (size_t i = 0; i < sizeof(CONFIGS) / sizeof(CONFIGS[0]); i++) {
        if (o.only && !strstr(CONFIGS[i].name, o.only))
            continue;
        double dt = time_config(sv, &CONFIGS[i], logits, hist, 64, o.n_tokens);
        printf("%-32s %12.1f %9.2f%%\n", CONFIGS[i].name, dt * 1e6, 100 * dt / t_dec);
    }
    free(logits);
    sampler_vocab_free(sv);
    vocab_free(v);
    model_free(m);
    return 0;
}
