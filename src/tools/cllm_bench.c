/*
 * cllm_bench.c - `cllm-bench`: prompt processing and generation speed of the
 * engine, measured as llama-bench does.
 *
 *   cllm-bench -m MODEL [-p 512] [-n 128] [-t T] [-r 5] [-b 512] [-np 4,8]
 *              [-c N_CTX] [-s SEED] [--json]
 *
 * Tests (each repeated -r times after one untimed warm-up, the KV cache
 * cleared before every rep; model loading is not timed):
 *   ppP   P prompt tokens as one sequence from position 0, decoded in batches
 *         of -b tokens, logits for the last token of each batch;
 *         tokens/s = P / time
 *   tgN   N decode calls of one token each from position 0 (no prompt),
 *         logits for every token; tokens/s = N / time
 *   tgN xK  K sequences decoding together: N decode calls of K tokens (one
 *         per sequence, same position), logits for every token;
 *         tokens/s = K * N / time (summed over the sequences)
 * Tokens are BOS followed by pseudo-random ids < n_vocab (fixed seed -s).
 * -p 0, -n 0 or -np 0 leaves a test out. --warmup short|none makes the
 * warm-up cheaper (bench/compare runs one rep per process, many times).
 *
 * Output: an aligned table (mean ± sample standard deviation and median of
 * the reps' tokens/s), or with --json one JSON object with every sample.
 * Exit status: 0, 1 for a model / engine / decode failure, 2 for bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"

#define MAX_NP 16
#define MAX_REPS 1000

struct opts {
    const char *model;
    int p, n, t, r, b, c;
    int np[MAX_NP], n_np;
    unsigned long long seed;
    int json;
    int warmup; /* 2 full (default), 1 short, 0 none */
};

struct result {
    char name[32];
    int n_tokens; /* tokens per rep */
    int n_seqs;
    double *secs; /* per rep */
    double *ts;   /* tokens/s per rep */
    double mean, sd, median;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cllm-bench -m MODEL [-p N] [-n N] [-t N] [-r N] [-b N] [-np N[,N...]]\n"
            "                  [-c N] [-s SEED] [--warmup full|short|none] [--json]\n"
            "  -m MODEL   GGUF model file\n"
            "  -p N       prompt tokens for the pp test (default 512; 0: no pp test)\n"
            "  -n N       generated tokens for the tg tests (default 128; 0: no tg tests)\n"
            "  -t N       threads (default: all CPUs)\n"
            "  -r N       repetitions of each test (default 5)\n"
            "  -b N       batch size for the pp test (default 512)\n"
            "  -np LIST   parallel sequences for aggregate generation, comma-separated\n"
            "             (default 4,8; 0: none)\n"
            "  -c N       KV cache positions (default: what the tests need)\n"
            "  -s SEED    seed of the random token ids (default 42)\n"
            "  --warmup full|short|none\n"
            "             untimed run before each test: full (default, as llama-bench: the\n"
            "             whole prompt for pp, one step for tg), short (one decode of one\n"
            "             token per sequence: every weight is read once) or none\n"
            "  --json     print the results as JSON\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_np(const char *s, struct opts *o)
{
    o->n_np = 0;
    const char *q = s;
    for (;;) {
        char buf[32];
        const char *comma = strchr(q, ',');
        size_t len = comma ? (size_t)(comma - q) : strlen(q);
        int v;
        if (len == 0 || len >= sizeof(buf))
            return -1;
        memcpy(buf, q, len);
        buf[len] = '\0';
        if (parse_int(buf, 0, 4096, &v) != 0)
            return -1;
        if (v > 0) {
            if (o->n_np == MAX_NP)
                return -1;
            o->np[o->n_np++] = v;
        }
        if (!comma)
            break;
        q = comma + 1;
    }
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->p = 512;
    o->n = 128;
    o->r = 5;
    o->b = 512;
    o->seed = 42;
    o->warmup = 2;
    o->np[0] = 4;
    o->np[1] = 8;
    o->n_np = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        static const char *const with_value[] = { "-m", "-p", "-n", "-t", "-r", "-b", "-c", "-np", "-s", "--warmup" };
        int known = 0;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "cllm-bench: %s %s\n", a[0] == '-' ? "unknown option" : "unexpected argument", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cllm-bench: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "-p")) bad = parse_int(v, 0, 1 << 20, &o->p);
        else if (!strcmp(a, "-n")) bad = parse_int(v, 0, 1 << 20, &o->n);
        else if (!strcmp(a, "-t")) bad = parse_int(v, 1, 1024, &o->t);
        else if (!strcmp(a, "-r")) bad = parse_int(v, 1, MAX_REPS, &o->r);
        else if (!strcmp(a, "-b")) bad = parse_int(v, 1, 1 << 16, &o->b);
        else if (!strcmp(a, "-c")) bad = parse_int(v, 1, 1 << 24, &o->c);
        else if (!strcmp(a, "-np")) bad = parse_np(v, o);
        else if (!strcmp(a, "--warmup")) {
            o->warmup = !strcmp(v, "full") ? 2 : !strcmp(v, "short") ? 1 : !strcmp(v, "none") ? 0 : -1;
            bad = o->warmup < 0;
        }
        else if (!strcmp(a, "-s")) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            bad = errno || end == v || *end != '\0';
        } else {
            fprintf(stderr, "cllm-bench: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "cllm-bench: bad value for %s: '%s'\n", a, v);
            return -1;
        }
    }
    if (o->model == NULL) {
        fprintf(stderr, "cllm-bench: no model given (-m MODEL)\n");
        return -1;
    }
    if (o->p == 0 && o->n == 0) {
        fprintf(stderr, "cllm-bench: nothing to measure (-p 0 and -n 0)\n");
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: the same ids on every run and machine for a given seed. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void stats(struct result *res, int reps)
{
    double sum = 0, sq = 0;
    double *sorted = malloc((size_t)reps * sizeof(double));
    for (int i = 0; i < reps; i++)
        sum += res->ts[i];
    res->mean = sum / reps;
    for (int i = 0; i < reps; i++)
        sq += (res->ts[i] - res->mean) * (res->ts[i] - res->mean);
    res->sd = reps > 1 ? sqrt(sq / (reps - 1)) : 0.0;
    if (sorted) {
        memcpy(sorted, res->ts, (size_t)reps * sizeof(double));
        qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
        res->median = reps % 2 ? sorted[reps / 2] : 0.5 * (sorted[reps / 2 - 1] + sorted[reps / 2]);
        free(sorted);
    } else {
        res->median = res->mean;
    }
}

struct bench {
    struct engine *e;
    struct batch b;
    const int32_t *ids; /* BOS + random, at least max(p, n) */
    int32_t n_vocab;
};

static int decode(struct bench *B)
{
    char err[256];
    if (engine_decode(B->e, &B->b, err, sizeof(err)) != 0) {
        fprintf(stderr, "cllm-bench: decode failed: %s\n", err);
        return -1;
    }
    return 0;
}

/* p prompt tokens of sequence 0 in batches of n_batch. */
static int run_pp(struct bench *B, int p, int n_batch)
{
    engine_seq_clear(B->e, -1);
    for (int s = 0; s < p; s += n_batch) {
        int end = s + n_batch < p ? s + n_batch : p;
        batch_clear(&B->b);
        for (int i = s; i < end; i++)
            batch_add(&B->b, B->ids[i], i, 0, i == end - 1);
        if (decode(B) != 0)
            return -1;
    }
    return 0;
}

/* n steps of n_seqs tokens each (one per sequence, positions 0..n-1). */
static int run_tg(struct bench *B, int n, int n_seqs)
{
    engine_seq_clear(B->e, -1);
    for (int k = 0; k < n; k++) {
        batch_clear(&B->b);
        for (int s = 0; s < n_seqs; s++) {
            /* sequence s, step k: BOS first, then ids shifted per sequence */
            int32_t tok = k == 0 ? B->ids[0] : B->ids[1 + (k - 1 + s * 7) % (n > 1 ? n - 1 : 1)];
            batch_add(&B->b, tok, k, s, true);
        }
        if (decode(B) != 0)
            return -1;
    }
    return 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    struct stat st;
    if (stat(o.model, &st) != 0) {
        fprintf(stderr, "cllm-bench: %s: %s\n", o.model, strerror(errno));
        return 1;
    }
    char err[512];
    struct model *m = model_load(o.model, 0, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "cllm-bench: cannot load model %s: %s\n", o.model, err);
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o.t > 0 ? o.t : (cpus > 0 ? (int)cpus : 1);
    int max_np = 1;
    for (int i = 0; i < o.n_np; i++)
        max_np = o.np[i] > max_np ? o.np[i] : max_np;
    if (o.n == 0)
        max_np = 1;
    int n_batch = o.p > 0 ? (o.b < o.p ? o.b : o.p) : 1;
    if (max_np > n_batch)
        n_batch = max_np;

    /* Room for the largest test: pp in one sequence, tg in max_np. */
    int32_t ctx_pp = engine_ctx_for_seqs(1, o.p), ctx_tg = engine_ctx_for_seqs(max_np, o.n);
    if (ctx_pp < 0 || ctx_tg < 0 || ctx_tg > INT32_MAX / 2) {
        fprintf(stderr, "cllm-bench: -n x -np is too large\n");
        model_free(m);
        return 2;
    }
    struct engine_params ep = {
        .n_ctx = o.c > 0 ? o.c : (ctx_pp > ctx_tg ? ctx_pp : ctx_tg),
        .n_batch = n_batch,
        .n_seq_max = max_np,
        .n_outputs_max = max_np, /* pp wants one token's logits per batch, tg x N N */
        .n_threads = threads,
        .n_threads_batch = threads,
        .type_k = TYPE_F16,
        .type_v = TYPE_F16,
    };
    struct bench B = { 0 };
    B.e = engine_create(m, &ep, err, sizeof(err));
    if (B.e == NULL) {
        fprintf(stderr, "cllm-bench: %s: cannot create the engine: %s\n", o.model, err);
        model_free(m);
        return 1;
    }
    B.n_vocab = engine_n_vocab(B.e);
    int n_ids = (o.p > o.n ? o.p : o.n) + 1;
    int32_t *ids = malloc((size_t)n_ids * sizeof(int32_t));
    struct result *res = calloc(2 + (size_t)o.n_np, sizeof(*res));
    int n_res = 0, rc = 1;
    if (ids == NULL || res == NULL || batch_init(&B.b, n_batch) != 0) {
        fprintf(stderr, "cllm-bench: out of memory\n");
        goto done;
    }
    int32_t bos = 1;
    if (gguf_get_i32(m->gguf, "tokenizer.ggml.bos_token_id", &bos) != 0 || bos < 0 ||
        bos >= B.n_vocab)
        bos = B.n_vocab > 1 ? 1 : 0;
    uint64_t rs = o.seed;
    ids[0] = bos;
    for (int i = 1; i < n_ids; i++)
        ids[i] = (int32_t)(rng_next(&rs) % (uint64_t)B.n_vocab);
    B.ids = ids;

    /* The tests in order: pp, tg, tg x np... */
    struct { int kind, n, seqs; } tests[2 + MAX_NP];
    int n_tests = 0;
    if (o.p > 0)
        tests[n_tests++] = (typeof(tests[0])){ 0, o.p, 1 };
    if (o.n > 0) {
        tests[n_tests++] = (typeof(tests[0])){ 1, o.n, 1 };
        for (int i = 0; i < o.n_np; i++)
            tests[n_tests++] = (typeof(tests[0])){ 1, o.n, o.np[i] };
    }
    for (int ti = 0; ti < n_tests; ti++) {
        struct result *r = &res[n_res++];
        int kind = tests[ti].kind, n = tests[ti].n, seqs = tests[ti].seqs;
        if (kind == 0)
            snprintf(r->name, sizeof(r->name), "pp%d", n);
        else if (seqs == 1)
            snprintf(r->name, sizeof(r->name), "tg%d", n);
        else
            snprintf(r->name, sizeof(r->name), "tg%d x%d", n, seqs);
        r->n_seqs = seqs;
        r->n_tokens = n * seqs;
        r->secs = calloc((size_t)o.r, sizeof(double));
        r->ts = calloc((size_t)o.r, sizeof(double));
        if (r->secs == NULL || r->ts == NULL) {
            fprintf(stderr, "cllm-bench: out of memory\n");
            goto done;
        }
        /* warm-up (as llama-bench: the whole prompt, or one generation step) */
        if (o.warmup == 2 && (kind == 0 ? run_pp(&B, n, o.b) : run_tg(&B, 1, seqs)) != 0)
            goto done;
        if (o.warmup == 1 && (kind == 0 ? run_pp(&B, 1, o.b) : run_tg(&B, 1, seqs)) != 0)
            goto done;
        for (int k = 0; k < o.r; k++) {
            double t0 = now_s();
            if ((kind == 0 ? run_pp(&B, n, o.b) : run_tg(&B, n, seqs)) != 0)
                goto done;
            double dt = now_s() - t0;
            r->secs[k] = dt;
            r->ts[k] = dt > 0 ? r->n_tokens / dt : 0;
        }
        stats(r, o.r);
    }
    rc = 0;

    const char *base = strrchr(o.model, '/');
    base = base ? base + 1 : o.model;
    double size_mib = (double)st.st_size / (1024.0 * 1024.0);
    if (o.json) {
        printf("{\n  \"model\": ");
        json_str(stdout, o.model);
        printf(",\n  \"model_size\": %lld,\n  \"n_vocab\": %d,\n  \"n_ctx_train\": %d,\n"
               "  \"n_ctx\": %d,\n  \"n_threads\": %d,\n  \"n_batch\": %d,\n  \"reps\": %d,\n"
               "  \"seed\": %llu,\n  \"warmup\": \"%s\",\n  \"results\": [",
               (long long)st.st_size, B.n_vocab, m->hp.n_ctx_train, engine_n_ctx(B.e), threads,
               o.b, o.r, o.seed, o.warmup == 2 ? "full" : o.warmup ? "short" : "none");
        for (int i = 0; i < n_res; i++) {
            struct result *r = &res[i];
            printf("%s\n    {\"test\": \"%s\", \"kind\": \"%s\", \"n_tokens\": %d, \"n_seqs\": %d, "
                   "\"mean_ts\": %.6g, \"stddev_ts\": %.6g, \"median_ts\": %.6g, \"samples_s\": [",
                   i ? "," : "", r->name, r->name[0] == 'p' ? "pp" : "tg", r->n_tokens, r->n_seqs,
                   r->mean, r->sd, r->median);
            for (int k = 0; k < o.r; k++)
                printf("%s%.9g", k ? ", " : "", r->secs[k]);
            printf("], \"samples_ts\": [");
            for (int k = 0; k < o.r; k++)
                printf("%s%.6g", k ? ", " : "", r->ts[k]);
            printf("]}");
        }
        printf("\n  ]\n}\n");
    } else {
        int wm = (int)strlen(base) > 5 ? (int)strlen(base) : 5;
        printf("%-*s | %9s | %7s | %5s | %-11s | %4s | %21s | %10s\n", wm, "model", "size", "threads",
               "batch", "test", "reps", "t/s mean ± sd", "t/s median");
        char dash[256];
        int dl = wm < 200 ? wm : 200;
        memset(dash, '-', (size_t)dl);
        dash[dl] = '\0';
        printf("%s-|-----------|---------|-------|-------------|------|----------------------|----------"
               "--\n",
               dash);
        for (int i = 0; i < n_res; i++) {
            struct result *r = &res[i];
            char ms[64];
            snprintf(ms, sizeof(ms), "%.2f ± %.2f", r->mean, r->sd);
            printf("%-*s | %5.1f MiB | %7d | %5d | %-11s | %4d | %21s | %10.2f\n", wm, base, size_mib,
                   threads, r->name[0] == 'p' ? (o.b < r->n_tokens ? o.b : r->n_tokens) : r->n_seqs, r->name, o.r, ms, r->median);
        }
        printf("(n_ctx %d, n_ctx_train %d, n_vocab %d; tg x N: N sequences in each decode, "
               "t/s summed)\n",
               engine_n_ctx(B.e), m->hp.n_ctx_train, B.n_vocab);
    }

done:
    for (int i = 0; i < n_res; i++) {
        free(res[i].secs);
        free(res[i].ts);
    }
    free(res);
    free(ids);
    batch_free(&B.b);
    engine_free(B.e);
    model_free(m);
    return rc;
}
