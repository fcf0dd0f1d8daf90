/*
 * kernels.c - bench-kernels: speed of the matrix multiply for each weight
 * type, next to the machine's memory bandwidth.
 *
 *   matvec: 1 activation row x an n_out x n_in matrix (token generation).
 *           Memory-bound, so reported as GB/s of weights read; each rep uses
 *           the next of several copies of the matrix, so that the copies
 *           together (the working set, --ws) are bigger than the caches.
 *   matmul: --rows activation rows x the same matrix (prompt processing),
 *           compute-bound, reported as GFLOP/s (2 * rows * n_out * n_in).
 *   memory: a plain read of a --ws sized buffer, in GB/s, measured the same
 *           way, so "% bw" shows how close matvec gets to the hardware.
 *           The default working set is twice the L3 the OS reports
 *           (256..1024 MiB).
 * Each figure is the median of several reps, on 1 thread and on -t threads.
 *
 * Usage: bench-kernels [-t THREADS] [--types Q4_0,Q4_K,...] [--isa scalar|avx2|avx512]
 *                      [--n-out N] [--n-in N] [--rows N] [--ws MiB] [--reps N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tensor/matmul.h"
#include "tensor/quant.h"
#include "tensor/threadpool.h"

#define MAX_REPS 64
#define DISTINCT_ROWS 64      /* rows quantized; the rest are copies */
#define TIME_BUDGET_S 1.0     /* per measurement, after the minimum reps */
#define MIN_REPS 3

struct options {
    int threads;
    char types[512];
    const char *isa;
    int64_t n_out, n_in, rows;
    int64_t ws_mib;
    int reps;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- memory bandwidth --------------------------------------------------- */

struct read_job {
    const uint64_t *buf;
    size_t n;
    uint64_t sums[256];
};

/* Sum of the 64-byte cache lines [lo, hi) of buf (an even count): a plain
 * streaming read with the widest vectors the CPU has, as the kernels use
 * (on recent Xeons one core reads memory much faster with 64-byte loads). */
#define DEFINE_SUM_LINES(NAME, TARGET, BYTES)                                      \
    TARGET static uint64_t NAME(const uint64_t *buf, size_t lo, size_t hi)         \
    {                                                                              \
        typedef uint64_t vec __attribute__((vector_size(BYTES)));                  \
        const size_t per_line = 64 / BYTES;                                        \
        const vec *v = (const vec *)buf;                                           \
        vec a = { 0 }, b = a;                                                      \
        for (size_t i = lo * per_line; i < hi * per_line; i += 2 * per_line) {     \
            for (size_t k = 0; k < per_line; k++) {                                \
                a += v[i + k];                                                     \
                b += v[i + per_line + k];                                          \
            }                                                                      \
        }                                                                          \
        a += b;                                                                    \
        uint64_t s = 0;                                                            \
        for (size_t k = 0; k < BYTES / 8; k++)                                     \
            s += a[k];                                                             \
        return s;                                                                  \
    }

DEFINE_SUM_LINES(sum_lines_sse2, , 16)
#if defined(__x86_64__)
DEFINE_SUM_LINES(sum_lines_avx512, __attribute__((target("avx512f"))), 64)
#endif

static uint64_t sum_lines(const uint64_t *buf, size_t lo, size_t hi)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f"))
        return sum_lines_avx512(buf, lo, hi);
#endif
    return sum_lines_sse2(buf, lo, hi);
}

/* Each thread reads its share of the buffer (pairs of cache lines). */
static void read_task(void *arg, int ith, int nth)
{
    struct read_job *j = arg;
    size_t n_pairs = j->n / 16;
    size_t lo = n_pairs * (size_t)ith / (size_t)nth, hi = n_pairs * (size_t)(ith + 1) / (size_t)nth;
    j->sums[ith % 256] = sum_lines(j->buf, 2 * lo, 2 * hi);
}

static double read_bandwidth(struct thread_pool *pool, const uint64_t *buf, size_t bytes, int reps)
{
    double t[MAX_REPS];
    struct read_job job = { .buf = buf, .n = bytes / 8 };
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        thread_pool_run(pool, read_task, &job);
        t[r] = now_s() - t0;
    }
    return (double)bytes / median(t, reps) / 1e9;
}

/* ---- weights -------------------------------------------------------------- */

struct bench_weights {
    struct matmul_weights w;
    char *buf;       /* n_copies matrices back to back */
    size_t bytes;    /* of one matrix */
    int n_copies;
};

static uint64_t rng_state = 0x853c49e6748fea9bull;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* Random rows quantized to the type (random bytes with small f16 scales for
 * a type without a reference quantizer), copied to fill ws_bytes. */
static int make_weights(struct bench_weights *bw, enum tensor_type type, int64_t n_out,
                        int64_t n_in, size_t ws_bytes)
{
    size_t rs = type_row_size(type, n_in);
    if (rs == 0)
        return -1;
    bw->bytes = rs * (size_t)n_out;
    bw->n_copies = (int)((ws_bytes + bw->bytes - 1) / bw->bytes);
    if (bw->n_copies < 1)
        bw->n_copies = 1;
    bw->buf = aligned_alloc(64, (bw->bytes * (size_t)bw->n_copies + 63) / 64 * 64);
    float *src = malloc(sizeof(float) * (size_t)n_in);
    if (bw->buf == NULL || src == NULL) {
        free(src);
        return -1;
    }
    for (int64_t i = 0; i < n_out; i++) {
        char *row = bw->buf + (size_t)i * rs;
        if (i >= DISTINCT_ROWS) {
            memcpy(row, bw->buf + (size_t)(i % DISTINCT_ROWS) * rs, rs);
            continue;
        }
        for (int64_t k = 0; k < n_in; k++)
            src[k] = frand();
        if (quantize_row_ref(type, src, row, n_in) != 0) {
            for (size_t b = 0; b < rs; b++)
                row[b] = (char)(frand() * 127);
            if (type == TYPE_IQ4_XS)
                for (size_t b = 0; b < rs; b += sizeof(block_iq4_xs))
                    memset(row + b, 0x10, 2); /* d: a small f16 */
        }
    }
    free(src);
    for (int c = 1; c < bw->n_copies; c++)
        memcpy(bw->buf + (size_t)c * bw->bytes, bw->buf, bw->bytes);
    bw->w = (struct matmul_weights){ type, bw->buf, n_out, n_in, 0 };
    return 0;
}

/* ---- measurements ---------------------------------------------------------- */

/* Median seconds of one matmul of `rows` rows; matvec (rotate=1) moves to the
 * next copy of the weights each rep. */
static double time_matmul(struct matmul_ctx *ctx, struct bench_weights *bw, const float *x,
                          float *y, int64_t rows, int rotate, int max_reps)
{
    double t[MAX_REPS];
    int n = 0;
    double start = now_s();
    struct matmul_weights w = bw->w;
    matmul(ctx, &w, x, rows, 0, y, 0); /* warm up */
    while (n < max_reps && (n < MIN_REPS || now_s() - start < TIME_BUDGET_S)) {
        if (rotate)
            w.data = bw->buf + (size_t)((n + 1) % bw->n_copies) * bw->bytes;
        double t0 = now_s();
        if (matmul(ctx, &w, x, rows, 0, y, 0) != 0)
            return -1;
        t[n++] = now_s() - t0;
    }
    return median(t, n);
}

struct row {
    double mv_ms[2], mv_gbs[2], mm_gflops[2];
};

static void print_header(const struct options *o, int nth, double bw1, double bwn)
{
    printf("matvec: 1 x %lld x %lld; matmul: %lld x %lld x %lld; working set %lld MiB\n",
           (long long)o->n_out, (long long)o->n_in, (long long)o->rows, (long long)o->n_out,
           (long long)o->n_in, (long long)o->ws_mib);
    printf("memory read: %.1f GB/s on 1 thread, %.1f GB/s on %d threads\n\n", bw1, bwn, nth);
    printf("%-7s %6s | %9s %8s %5s | %9s %8s %5s | %9s %9s\n", "type", "bpw", "mv ms 1t",
           "GB/s", "%bw", "mv ms", "GB/s", "%bw", "GFLOP/s", "GFLOP/s");
    printf("%-7s %6s | %9s %8s %5s | %6s%3dt %8s %5s | %9s %7s%2dt\n", "", "", "", "1t", "",
           "", nth, "", "", "mm 1t", "mm", nth);
    printf("--------------------------------------------------------------------------------------\n");
}

static void print_row(enum tensor_type type, const struct row *r, double bw1, double bwn)
{
    const struct type_traits *tt = type_traits(type);
    double bpw = 8.0 * (double)tt->type_size / (double)tt->block_size;
    printf("%-7s %6.2f | %9.3f %8.1f %4.0f%% | %9.3f %8.1f %4.0f%% | %9.1f %9.1f\n", tt->name, bpw,
           r->mv_ms[0], r->mv_gbs[0], 100 * r->mv_gbs[0] / bw1, r->mv_ms[1], r->mv_gbs[1],
           100 * r->mv_gbs[1] / bwn, r->mm_gflops[0], r->mm_gflops[1]);
    fflush(stdout);
}

static int bench_type(struct matmul_ctx *ctx[2], enum tensor_type type, const struct options *o,
                      const float *x, float *y, struct row *out)
{
    struct bench_weights bw;
    memset(&bw, 0, sizeof(bw));
    if (make_weights(&bw, type, o->n_out, o->n_in, (size_t)o->ws_mib << 20) != 0) {
        free(bw.buf);
        return -1;
    }
    double flops = 2.0 * (double)o->rows * (double)o->n_out * (double)o->n_in;
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        double tv = time_matmul(ctx[k], &bw, x, y, 1, 1, o->reps);
        double tm = time_matmul(ctx[k], &bw, x, y, o->rows, 0, o->reps);
        if (tv < 0 || tm < 0)
            rc = -1;
        out->mv_ms[k] = tv * 1e3;
        out->mv_gbs[k] = (double)bw.bytes / tv / 1e9;
        out->mm_gflops[k] = flops / tm / 1e9;
    }
    free(bw.buf);
    return rc;
}

/* ---- options ---------------------------------------------------------------- */

static const char *default_types =
    "F32,F16,BF16,Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,IQ4_NL,IQ4_XS";

/* Twice the last-level cache (as the OS reports it), 256..1024 MiB. */
static int64_t default_ws_mib(void)
{
    long l3 = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
    l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    int64_t mib = l3 > 0 ? 2 * (int64_t)(l3 >> 20) : 256;
    return mib < 256 ? 256 : mib > 1024 ? 1024 : mib;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-kernels [-t THREADS] [--types LIST] [--isa scalar|avx2|avx512]\n"
            "                     [--n-out N] [--n-in N] [--rows N] [--ws MiB] [--reps N]\n"
            "  defaults: all CPUs, %s,\n"
            "            best ISA, 4096 x 4096, 64 rows, twice the L3 (%lld MiB), up to 15 reps\n",
            default_types, (long long)default_ws_mib());
}

static int parse_options(int argc, char **argv, struct options *o)
{
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (struct options){ .threads = n_cpu > 0 ? (int)n_cpu : 1, .n_out = 4096, .n_in = 4096,
                           .rows = 64, .ws_mib = default_ws_mib(), .reps = 15 };
    snprintf(o->types, sizeof(o->types), "%s", default_types);
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return -1;
        if (!strcmp(a, "-t"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--types"))
            snprintf(o->types, sizeof(o->types), "%s", v);
        else if (!strcmp(a, "--isa"))
            o->isa = v;
        else if (!strcmp(a, "--n-out"))
            o->n_out = atoll(v);
        else if (!strcmp(a, "--n-in"))
            o->n_in = atoll(v);
        else if (!strcmp(a, "--rows"))
            o->rows = atoll(v);
        else if (!strcmp(a, "--ws"))
            o->ws_mib = atoll(v);
        else if (!strcmp(a, "--reps"))
            o->reps = atoi(v);
        else
            return -1;
    }
    if (o->threads < 1 || o->n_out < 1 || o->n_in < 1 || o->rows < 1 || o->ws_mib < 1 ||
        o->reps < 1)
        return -1;
    if (o->reps > MAX_REPS)
        o->reps = MAX_REPS;
    return 0;
}

static int type_by_name(const char *name)
{
    for (uint32_t t = 0; t < TYPE_COUNT; t++)
        if (type_traits(t) && !strcasecmp(type_traits(t)->name, name))
            return (int)t;
    return -1;
}

static int isa_by_name(const char *name)
{
    const char *names[CPU_ISA_COUNT] = { "scalar", "avx2", "avx512" };
    for (int i = 0; i < CPU_ISA_COUNT; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

/* ---- main ---------------------------------------------------------------------- */

struct bench {
    struct thread_pool *pool;
    struct matmul_ctx *ctx[2]; /* 1 thread, all threads */
    float *x, *y;
    uint64_t *membuf;
};

static void bench_free(struct bench *b)
{
    matmul_ctx_free(b->ctx[0]);
    matmul_ctx_free(b->ctx[1]);
    thread_pool_free(b->pool);
    free(b->x);
    free(b->y);
    free(b->membuf);
}

static int bench_init(struct bench *b, const struct options *o)
{
    if (o->isa) {
        int isa = isa_by_name(o->isa);
        if (isa < 0 || cpu_kernels_for((enum cpu_isa)isa) == NULL) {
            fprintf(stderr, "bench-kernels: ISA %s not available here\n", o->isa);
            return -1;
        }
        setenv("CLLM_ISA", o->isa, 1);
    }
    b->pool = thread_pool_create(o->threads);
    b->ctx[0] = matmul_ctx_create(NULL, o->rows, o->n_in);
    b->ctx[1] = matmul_ctx_create(b->pool, o->rows, o->n_in);
    b->x = malloc(sizeof(float) * (size_t)(o->rows * o->n_in));
    b->y = malloc(sizeof(float) * (size_t)(o->rows * o->n_out));
    b->membuf = aligned_alloc(64, (size_t)o->ws_mib << 20);
    if (!b->pool || !b->ctx[0] || !b->ctx[1] || !b->x || !b->y || !b->membuf)
        return -1;
    if (o->isa) {
        int isa = isa_by_name(o->isa);
        matmul_ctx_set_isa(b->ctx[0], (enum cpu_isa)isa);
        matmul_ctx_set_isa(b->ctx[1], (enum cpu_isa)isa);
    }
    for (int64_t i = 0; i < o->rows * o->n_in; i++)
        b->x[i] = frand();
    memset(b->membuf, 1, (size_t)o->ws_mib << 20);
    return 0;
}

static int run_types(struct bench *b, const struct options *o, double bw1, double bwn)
{
    char list[512];
    snprintf(list, sizeof(list), "%s", o->types);
    int failures = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        int t = type_by_name(name);
        struct row r;
        if (t < 0 || bench_type(b->ctx, (enum tensor_type)t, o, b->x, b->y, &r) != 0) {
            printf("%-7s   (not supported with these sizes/kernels)\n", name);
            failures++;
            continue;
        }
        print_row((enum tensor_type)t, &r, bw1, bwn);
    }
    return failures;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    struct bench b;
    memset(&b, 0, sizeof(b));
    if (bench_init(&b, &o) != 0) {
        fprintf(stderr, "bench-kernels: setup failed\n");
        bench_free(&b);
        return 1;
    }
    size_t mem_bytes = (size_t)o.ws_mib << 20;
    int mem_reps = o.reps < 5 ? o.reps : 5;
    double bw1 = read_bandwidth(NULL, b.membuf, mem_bytes, mem_reps);
    double bwn = read_bandwidth(b.pool, b.membuf, mem_bytes, mem_reps);
    free(b.membuf); /* make room for the weights */
    b.membuf = NULL;
    printf("bench-kernels: isa %s, %d threads (medians; a shared machine is noisy)\n",
           matmul_ctx_kernels(b.ctx[0])->name, o.threads);
    print_header(&o, o.threads, bw1, bwn);
    int failures = run_types(&b, &o, bw1, bwn);
    bench_free(&b);
    return failures ? 1 : 0;
}
