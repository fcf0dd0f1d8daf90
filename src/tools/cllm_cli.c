/*
 * cllm_cli.c - `cllm-cli`: generate text from a prompt on the command line.
 *
 *   cllm-cli -m MODEL -p PROMPT [-n N] [-c CTX] [-b BATCH] [-t T] [-tb T]
 *            [--temp F] [--top-k K] [--top-p P] [--seed S] [--ignore-eos]
 *            [-ctk f16|f32|q8_0] [-ctv f16|f32|q8_0]
 *
 * The prompt is evaluated in chunks of -b tokens, then tokens are generated
 * one at a time and printed as they come (whole UTF-8 characters only).
 * Timings go to stderr at the end. Sampling here is the basic chain
 * (top-k, top-p, temperature; greedy with --temp 0); the server's full
 * sampler lives in src/sample/.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

struct cli_opts {
    const char *model;
    const char *prompt;
    int n_predict;
    struct engine_params ep;
    float temp, top_p;
    int top_k;
    uint64_t seed;
    bool ignore_eos;
    bool no_mmap;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cllm-cli -m MODEL -p PROMPT [options]\n"
            "  -m, --model FILE        GGUF model (required)\n"
            "  -p, --prompt TEXT       prompt (required)\n"
            "  -n, --n-predict N       tokens to generate (default 128; -1: until end of text)\n"
            "  -c, --ctx-size N        context size (default 4096, at most the model's)\n"
            "  -b, --batch-size N      prompt tokens per batch (default 512)\n"
            "  -t, --threads N         generation threads (default: all CPUs)\n"
            "  -tb, --threads-batch N  prompt threads (default: same as -t)\n"
            "  --temp F                temperature (default 0.8; 0: greedy)\n"
            "  --top-k K               keep the K most likely tokens (default 40; 0: off)\n"
            "  --top-p P               nucleus sampling (default 0.95; 1: off)\n"
            "  -s, --seed N            random seed (default: time)\n"
            "  -ctk, --cache-type-k T  KV cache type for keys: f16 (default), f32, q8_0\n"
            "  -ctv, --cache-type-v T  KV cache type for values: f16 (default), f32, q8_0\n"
            "  --ignore-eos            do not stop at end-of-generation tokens\n"
            "  --no-mmap               read the model into memory instead of mapping it\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "cllm-cli: %s: '%s' is not an integer in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_float(const char *opt, const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || end == s || !isfinite(v)) {
        fprintf(stderr, "cllm-cli: %s: '%s' is not a number\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_cache_type(const char *opt, const char *s, enum tensor_type *out)
{
    if (!strcmp(s, "f16"))
        *out = TYPE_F16;
    else if (!strcmp(s, "f32"))
        *out = TYPE_F32;
    else if (!strcmp(s, "q8_0"))
        *out = TYPE_Q8_0;
    else {
        fprintf(stderr, "cllm-cli: %s: '%s' is not a cache type (f16, f32, q8_0)\n", opt, s);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->ep = engine_default_params();
    o->n_predict = 128;
    o->ep.n_ctx = 4096;
    o->temp = 0.8f;
    o->top_k = 40;
    o->top_p = 0.95f;
    o->seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = true; continue; }
        if (!strcmp(a, "--no-mmap")) { o->no_mmap = true; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "cllm-cli: %s: unknown option or missing value\n", a);
            return -1;
        }
        const char *val = argv[++i];
        int rc = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = val;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = val;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { rc = parse_int(a, val, -1, 1 << 30, &v); o->n_predict = (int)v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { rc = parse_int(a, val, 0, 1 << 24, &v); o->ep.n_ctx = (int32_t)v; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { rc = parse_int(a, val, 1, 1 << 16, &v); o->ep.n_batch = (int32_t)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { rc = parse_int(a, val, 1, 1024, &v); o->ep.n_threads = (int)v; }
        else if (!strcmp(a, "-tb") || !strcmp(a, "--threads-batch")) { rc = parse_int(a, val, 1, 1024, &v); o->ep.n_threads_batch = (int)v; }
        else if (!strcmp(a, "--top-k")) { rc = parse_int(a, val, 0, 1 << 30, &v); o->top_k = (int)v; }
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) { rc = parse_int(a, val, 0, 0x7fffffffL, &v); o->seed = (uint64_t)v; }
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) rc = parse_cache_type(a, val, &o->ep.type_k);
        else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) rc = parse_cache_type(a, val, &o->ep.type_v);
        else if (!strcmp(a, "--temp")) rc = parse_float(a, val, &o->temp);
        else if (!strcmp(a, "--top-p")) rc = parse_float(a, val, &o->top_p);
        else {
            fprintf(stderr, "cllm-cli: unknown option '%s'\n", a);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    if (o->model == NULL || o->prompt == NULL) {
        fprintf(stderr, "cllm-cli: -m MODEL and -p PROMPT are required\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ sampling */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct cand {
    float logit;
    int32_t id;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->logit < y->logit ? 1 : x->logit > y->logit ? -1 : (x->id > y->id) - (x->id < y->id);
}

static int32_t sample(const float *logits, int32_t n_vocab, const struct cli_opts *o,
                      struct cand *c, uint64_t *rng)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best])
            best = i;
    if (o->temp <= 0)
        return best;
    for (int32_t i = 0; i < n_vocab; i++)
        c[i] = (struct cand){ logits[i], i };
    qsort(c, (size_t)n_vocab, sizeof(*c), cmp_cand);
    int32_t n = o->top_k > 0 && o->top_k < n_vocab ? o->top_k : n_vocab;
    double sum = 0, cum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((c[i].logit - c[0].logit) / o->temp);
    int32_t keep = n;
    for (int32_t i = 0; i < n; i++) {
        cum += exp((c[i].logit - c[0].logit) / o->temp) / sum;
        if (cum >= o->top_p) {
            keep = i + 1;
            break;
        }
    }
    double total = 0;
    for (int32_t i = 0; i < keep; i++)
        total += exp((c[i].logit - c[0].logit) / o->temp);
    double r = (double)(rng_next(rng) >> 11) / 9007199254740992.0 * total;
    for (int32_t i = 0; i < keep; i++) {
        r -= exp((c[i].logit - c[0].logit) / o->temp);
        if (r <= 0)
            return c[i].id;
    }
    return c[keep - 1].id;
}

/* ------------------------------------------------------------ main loop */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int eval_prompt(struct engine *e, struct batch *b, const struct tok_list *toks, int32_t n_batch)
{
    char err[256];
    for (size_t start = 0; start < toks->n; start += (size_t)n_batch) {
        batch_clear(b);
        for (size_t i = start; i < toks->n && i < start + (size_t)n_batch; i++)
            batch_add(b, toks->v[i], (int32_t)i, 0, i == toks->n - 1);
        if (engine_decode(e, b, err, sizeof(err)) != 0) {
            fprintf(stderr, "cllm-cli: prompt: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int generate(struct engine *e, const struct vocab *v, const struct cli_opts *o,
                    const struct tok_list *toks)
{
    int32_t n_vocab = engine_n_vocab(e), n_batch = o->ep.n_batch > 0 ? o->ep.n_batch : 512;
    struct batch b;
    struct cand *c = malloc((size_t)n_vocab * sizeof(*c));
    if (c == NULL || batch_init(&b, n_batch) != 0) {
        free(c);
        fprintf(stderr, "cllm-cli: out of memory\n");
        return -1;
    }
    fwrite(o->prompt, 1, strlen(o->prompt), stdout);
    fflush(stdout);
    double t0 = now_s();
    int rc = eval_prompt(e, &b, toks, n_batch);
    double t1 = now_s();
    struct detok_stream ds;
    detok_stream_init(&ds, v, false, false);
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    int32_t pos = (int32_t)toks->n, n_gen = 0;
    char err[256];
    while (rc == 0 && (o->n_predict < 0 || n_gen < o->n_predict) && pos < engine_n_ctx(e)) {
        int32_t id = sample(engine_logits(e, b.n_tokens - 1), n_vocab, o, c, &rng);
        if (!o->ignore_eos && vocab_is_eog(v, id))
            break;
        size_t len;
        const char *piece = detok_stream_push(&ds, id, &len);
        if (piece)
            fwrite(piece, 1, len, stdout);
        fflush(stdout);
        n_gen++;
        batch_clear(&b);
        batch_add(&b, id, pos++, 0, true);
        if (engine_decode(e, &b, err, sizeof(err)) != 0) {
            fprintf(stderr, "\ncllm-cli: %s\n", err);
            rc = -1;
        }
    }
    size_t len;
    const char *rest = detok_stream_flush(&ds, &len);
    if (rest)
        fwrite(rest, 1, len, stdout);
    printf("\n");
    double t2 = now_s();
    fprintf(stderr, "\nprompt: %zu tokens in %.3f s (%.1f tokens/s)\n", toks->n, t1 - t0,
            (double)toks->n / (t1 - t0));
    fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tokens/s)\n", n_gen, t2 - t1,
            n_gen / (t2 - t1 > 0 ? t2 - t1 : 1));
    detok_stream_free(&ds);
    batch_free(&b);
    free(c);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli_opts o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    char err[512];
    struct model *m = model_load(o.model, o.no_mmap ? GGUF_OPEN_NO_MMAP : 0, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "cllm-cli: %s\n", err);
        return 1;
    }
    if (o.ep.n_ctx == 0 || o.ep.n_ctx > m->hp.n_ctx_train)
        o.ep.n_ctx = m->hp.n_ctx_train;
    struct vocab *v = vocab_load(m->gguf, err, sizeof(err));
    struct engine *e = v ? engine_create(m, &o.ep, err, sizeof(err)) : NULL;
    struct tok_list toks = { 0 };
    int rc = 1;
    if (v == NULL || e == NULL) {
        fprintf(stderr, "cllm-cli: %s: %s\n", o.model, err);
    } else if (tokenize_list(v, o.prompt, strlen(o.prompt), true, true, &toks) != 0 || toks.n == 0) {
        fprintf(stderr, "cllm-cli: cannot tokenize the prompt\n");
    } else if (toks.n >= (size_t)engine_n_ctx(e)) {
        fprintf(stderr, "cllm-cli: the prompt has %zu tokens, the context only %d\n", toks.n,
                engine_n_ctx(e));
    } else {
        rc = generate(e, v, &o, &toks) == 0 ? 0 : 1;
    }
    tok_list_free(&toks);
    engine_free(e);
    vocab_free(v);
    model_free(m);
    return rc;
}
