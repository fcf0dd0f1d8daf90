/*
 * cllm_logits.c - `cllm-logits`: raw logits of the engine for given token
 * ids, for comparing cllm with a reference implementation.
 *
 *   cllm-logits -m MODEL --out FILE [-b N] [-c N] [-t N] < ids
 *       evaluate the ids (whitespace-separated, from stdin) as one sequence in
 *       batches of -b tokens and write the logits of every position to FILE as
 *       raw little-endian f32, n_positions x n_vocab
 *   cllm-logits -m MODEL --greedy N [-t N] < ids
 *       evaluate the ids as a prompt, then generate N tokens greedily (one per
 *       decode); print one line per step: "id top1_id:logit top2_id:logit"
 *   cllm-logits -m MODEL --perplexity FILE.ids [--chunk 512]
 *       llama-perplexity's calculation over the ids in FILE.ids (see
 *       docs/reference-vectors.md: each chunk starts with BOS when the
 *       vocabulary adds one); prints the running perplexity per chunk
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tokenizer/vocab.h"

struct opts {
    const char *model, *out, *ppl_file;
    int greedy, chunk;
    struct engine_params ep;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cllm-logits -m MODEL (--out FILE | --greedy N | --perplexity FILE) "
               "[-b N] [-c N] [-t N] [--chunk N] < ids\n");
}

static int read_ids(FILE *f, int32_t **ids, int32_t *n)
{
    int32_t cap = 1024;
    *n = 0;
    *ids = malloc((size_t)cap * sizeof(int32_t));
    long v;
    while (*ids && fscanf(f, "%ld", &v) == 1) {
        if (*n == cap) {
            int32_t *p = realloc(*ids, (size_t)(cap *= 2) * sizeof(int32_t));
            if (p == NULL)
                break;
            *ids = p;
        }
        (*ids)[(*n)++] = (int32_t)v;
    }
    if (*ids == NULL || !feof(f)) {
        fprintf(stderr, "cllm-logits: bad token id list\n");
        return -1;
    }
    return 0;
}

/* Evaluate ids[0..n) into sequence 0 from position pos0, in batches; logits of
 * every position go to out (or of the last only when out is NULL). */
static int eval_ids(struct engine *e, struct batch *b, const int32_t *ids, int32_t n, int32_t n_batch,
                    float *out)
{
    char err[256];
    int32_t nv = engine_n_vocab(e);
    for (int32_t s = 0; s < n; s += n_batch) {
        batch_clear(b);
        for (int32_t i = s; i < n && i < s + n_batch; i++)
            batch_add(b, ids[i], i, 0, out != NULL || i == n - 1);
        if (engine_decode(e, b, err, sizeof(err)) != 0) {
            fprintf(stderr, "cllm-logits: %s\n", err);
            return -1;
        }
        for (int32_t i = 0; out && i < b->n_tokens; i++)
            memcpy(out + (size_t)(s + i) * nv, engine_logits(e, i), (size_t)nv * sizeof(float));
    }
    return 0;
}

static void top2(const float *l, int32_t nv, int32_t *a, int32_t *bb)
{
    *a = 0;
    *bb = 1;
    if (l[1] > l[0]) {
        *a = 1;
        *bb = 0;
    }
    for (int32_t i = 2; i < nv; i++) {
        if (l[i] > l[*a]) {
            *bb = *a;
            *a = i;
        } else if (l[i] > l[*bb]) {
            *bb = i;
        }
    }
}

static int run_greedy(struct engine *e, struct batch *b, const int32_t *ids, int32_t n, int steps,
                      int32_t n_batch)
{
    char err[256];
    int32_t nv = engine_n_vocab(e);
    if (eval_ids(e, b, ids, n, n_batch, NULL) != 0)
        return -1;
    const float *l = engine_logits(e, b->n_tokens - 1);
    for (int k = 0; k < steps; k++) {
        int32_t t1, t2;
        top2(l, nv, &t1, &t2);
        printf("%d %d:%.9g %d:%.9g\n", t1, t1, l[t1], t2, l[t2]);
        batch_clear(b);
        batch_add(b, t1, n + k, 0, true);
        if (engine_decode(e, b, err, sizeof(err)) != 0) {
            fprintf(stderr, "cllm-logits: %s\n", err);
            return -1;
        }
        l = engine_logits(e, 0);
    }
    return 0;
}

static double log_softmax_at(const float *l, int32_t nv, int32_t t)
{
    float mx = l[0];
    for (int32_t i = 1; i < nv; i++)
        mx = l[i] > mx ? l[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < nv; i++)
        sum += exp((double)l[i] - mx);
    return (double)l[t] - mx - log(sum);
}

/* bos < 0: the vocabulary adds no BOS, chunks keep their first token. */
static int run_perplexity(struct engine *e, struct batch *b, const int32_t *ids, int32_t n,
                          int32_t chunk, int32_t bos)
{
    int32_t nv = engine_n_vocab(e), n_chunks = n / chunk;
    float *logits = malloc((size_t)chunk * nv * sizeof(float));
    int32_t *c = malloc((size_t)chunk * sizeof(int32_t));
    if (logits == NULL || c == NULL || n_chunks < 1) {
        fprintf(stderr, "cllm-logits: need at least one chunk of %d tokens and memory for it\n", chunk);
        free(logits);
        free(c);
        return -1;
    }
    double total = 0;
    int64_t scored = 0;
    int rc = 0;
    for (int32_t k = 0; k < n_chunks && rc == 0; k++) {
        memcpy(c, ids + (size_t)k * chunk, (size_t)chunk * sizeof(int32_t));
        if (bos >= 0)
            c[0] = bos;
        engine_seq_clear(e, -1);
        rc = eval_ids(e, b, c, chunk, chunk, logits);
        for (int32_t j = chunk / 2; rc == 0 && j < chunk - 1; j++, scored++)
            total -= log_softmax_at(logits + (size_t)j * nv, nv, c[j + 1]);
        if (rc == 0)
            printf("%.6f\n", exp(total / (double)scored));
    }
    free(logits);
    free(c);
    return rc;
}

/* A whole decimal number in lo..hi, or a message naming the option. */
static int parse_num(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "cllm-logits: %s: '%s' is not a number in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->ep = engine_default_params();
    o->chunk = 512;
    o->ep.n_threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        int rc = 0;
        if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--perplexity")) o->ppl_file = v;
        else if (!strcmp(a, "--greedy")) rc = parse_num(a, v, 1, 1 << 20, &o->greedy);
        else if (!strcmp(a, "--chunk")) rc = parse_num(a, v, 4, 1 << 20, &o->chunk);
        else if (!strcmp(a, "-b")) rc = parse_num(a, v, 1, 1 << 16, &o->ep.n_batch);
        else if (!strcmp(a, "-c")) rc = parse_num(a, v, 1, 1 << 24, &o->ep.n_ctx);
        else if (!strcmp(a, "-t")) rc = parse_num(a, v, 1, 1024, &o->ep.n_threads);
        else {
            fprintf(stderr, "cllm-logits: unknown option '%s'\n", a);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    if (argc % 2 == 0 || o->model == NULL || (!o->out && o->greedy <= 0 && !o->ppl_file))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    int32_t *ids = NULL, n = 0;
    FILE *in = o.ppl_file ? fopen(o.ppl_file, "r") : stdin;
    if (in == NULL || read_ids(in, &ids, &n) != 0 || n == 0) {
        fprintf(stderr, "cllm-logits: no token ids read\n");
        return 1;
    }
    char err[512];
    struct model *m = model_load(o.model, 0, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "cllm-logits: %s\n", err);
        return 1;
    }
    int32_t n_batch = o.ppl_file ? o.chunk : (o.ep.n_batch > 0 ? o.ep.n_batch : 512);
    o.ep.n_batch = n_batch;
    if (o.ep.n_ctx <= 0)
        o.ep.n_ctx = (o.ppl_file ? o.chunk : n + o.greedy) + 32;
    o.ep.n_outputs_max = n_batch;
    struct engine *e = engine_create(m, &o.ep, err, sizeof(err));
    struct batch b;
    int rc = 1;
    if (e == NULL || batch_init(&b, n_batch) != 0) {
        fprintf(stderr, "cllm-logits: %s\n", e ? "out of memory" : err);
    } else {
        if (o.ppl_file) {
            struct vocab *v = vocab_load(m->gguf, err, sizeof(err));
            if (v == NULL)
                fprintf(stderr, "cllm-logits: %s\n", err);
            else
                rc = run_perplexity(e, &b, ids, n, o.chunk, v->add_bos ? v->bos : -1) == 0 ? 0 : 1;
            vocab_free(v);
        } else if (o.greedy > 0) {
            rc = run_greedy(e, &b, ids, n, o.greedy, n_batch) == 0 ? 0 : 1;
        } else {
            float *out = malloc((size_t)n * engine_n_vocab(e) * sizeof(float));
            FILE *f = out ? fopen(o.out, "wb") : NULL;
            if (f && eval_ids(e, &b, ids, n, n_batch, out) == 0 &&
                fwrite(out, sizeof(float), (size_t)n * engine_n_vocab(e), f) ==
                    (size_t)n * engine_n_vocab(e))
                rc = 0;
            else
                fprintf(stderr, "cllm-logits: %s: cannot write logits\n", o.out);
            if (f)
                fclose(f);
            free(out);
        }
        batch_free(&b);
    }
    engine_free(e);
    model_free(m);
    free(ids);
    return rc;
}
