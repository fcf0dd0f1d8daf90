/*
 * matmul.c - weights x activations on the thread pool (see matmul.h).
 *
 * One or more weight matrices sharing X (matmul_many) make one job.
 * Two phases, each one pool run:
 *   1. convert: X rows -> the weight type's vec_dot_type, rows split over
 *      the threads (skipped for F32 activations and done inline for 1 row);
 *      in the kernels' packed layout when they have one for every matrix of
 *      the job (kernels.h: e.g. Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL on AVX-512),
 *      then every product goes through vec_dot_nrows_packed, which has
 *      vec_dot's bits.
 *   2. dot: the weight rows are cut into chunks handed out through an atomic
 *      counter (so a busy core does not hold the others back). A chunk of
 *      weight rows is multiplied against the activation rows a tile at a
 *      time: each weight row is reused from L1 across a tile of activation
 *      rows that stays in L2 (unpacked once per tile when the kernels have a
 *      multi-row dot). For one activation row (generation) the chunks are
 *      just slices of the output.
 * A batch bigger than the scratch holds goes through in slices of rows.
 * Every output element is one vec_dot (or has vec_dot's bits, which the
 * multi-row kernels promise and test_matmul checks), so the split never
 * changes it.
 */
#include "tensor/matmul.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_ALIGN 64
/* Tuning (overridable with -D for experiments). */
#ifndef TILE_X_ROWS
/* activation rows per tile (many-row case), at most: a tile stays in L1
 * (TILE_X_BYTES, e.g. 32 rows of a 640-wide Q8_0 activation) while
 * TILE_W_ROWS weight rows pass over it. (With 64 rows per tile and 4 weight
 * rows per chunk, the activations were re-read from L2 every 4 weight rows:
 * pp512 on gemma-3-270m was ~9% slower.) */
#define TILE_X_ROWS 64
#endif
#ifndef TILE_X_BYTES
#define TILE_X_BYTES 24576
#endif
#ifndef TILE_W_ROWS
#define TILE_W_ROWS 16       /* weight rows per chunk (many-row case) */
#endif
#ifndef CHUNKS_PER_THREAD
#define CHUNKS_PER_THREAD 8  /* matvec: chunks per thread for balance */
#endif
#ifndef MATMUL_USE_NROWS
#define MATMUL_USE_NROWS 1   /* use the multi-row dot kernels when present */
#endif
#ifndef MIN_VEC_CHUNK
#define MIN_VEC_CHUNK 8      /* matvec: least weight rows per chunk */
#endif
#ifndef MIN_THREAD_MACS
/* least multiply-adds per thread: below that, waking another thread costs
 * more than it saves (a pool run is a few microseconds; e.g. the small
 * matrices of a tiny model in generation) */
#define MIN_THREAD_MACS 65536
#endif

struct matmul_ctx {
    struct thread_pool *pool;
    const struct cpu_kernels *k;
    void *scratch;         /* converted activation rows */
    size_t scratch_size;
    int max_threads;       /* 0: every thread of the pool */
};

/* One weight matrix of a job and where its output goes. */
struct matmul_part {
    const struct matmul_weights *w;
    vec_dot_fn dot;
    vec_dot_nrows_fn dot_nrows; /* one weight row x several rows, or NULL */
    size_t w_stride;       /* bytes between weight rows */
    float *y;
    int64_t y_stride;      /* floats between Y rows */
    int64_t first_chunk;   /* chunks of earlier parts */
    int64_t n_chunks;
};

/* One matmul (of one or more matrices sharing X) in flight, shared by the
 * threads of a run. */
struct matmul_job {
    from_float_fn convert;
    bool packed;           /* activations in the packed layout (kernels.h) */
    const float *x;
    int64_t x_stride;      /* floats between X rows */
    int64_t n_in;
    const char *act;       /* activation rows as vec_dot takes them */
    size_t act_stride;     /* bytes between activation rows */
    int64_t n_rows;
    struct matmul_part parts[MATMUL_MAX_MANY];
    int n_parts;
    int64_t chunk_rows;    /* weight rows per chunk */
    int64_t n_chunks;      /* over all parts */
    alignas(64) atomic_llong next_chunk;
};

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static size_t act_row_bytes(enum tensor_type vdt, int64_t n_in)
{
    const struct type_traits *tt = tensor_type_traits((uint32_t)vdt);
    if (tt == NULL)
        return 0;
    int64_t blocks = (n_in + tt->block_size - 1) / tt->block_size;
    return round_up((size_t)blocks * tt->type_size, SCRATCH_ALIGN);
}

size_t matmul_scratch_size(enum tensor_type type, int64_t n_rows, int64_t n_in)
{
    const struct type_traits *tt = tensor_type_traits((uint32_t)type);
    if (tt == NULL || tt->vec_dot_type == TYPE_F32)
        return 0;
    return (size_t)n_rows * act_row_bytes(tt->vec_dot_type, n_in);
}

static size_t packed_row_bytes(enum tensor_type vdt, int64_t n_in)
{
    return round_up(cpu_packed_row_size(vdt, n_in), SCRATCH_ALIGN);
}

/* The largest converted row of n_in elements over all supported types
 * (plain or packed). */
static size_t max_act_row_bytes(int64_t n_in)
{
    size_t most = 0;
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        const struct type_traits *tt = tensor_type_traits(t);
        if (tt == NULL || !tt->supported || tt->vec_dot_type == TYPE_F32)
            continue;
        size_t b = act_row_bytes(tt->vec_dot_type, n_in);
        most = b > most ? b : most;
        /* a packed row holds whole blocks only where n_in allows */
        int64_t whole = n_in / tt->block_size * tt->block_size;
        b = whole > 0 ? packed_row_bytes(tt->vec_dot_type, whole) : 0;
        most = b > most ? b : most;
    }
    return most;
}

struct matmul_ctx *matmul_ctx_create(struct thread_pool *pool, int64_t max_rows, int64_t max_n_in)
{
    if (max_rows <= 0 || max_n_in <= 0)
        return NULL;
    struct matmul_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return NULL;
    ctx->pool = pool;
    ctx->k = cpu_kernels();
    ctx->scratch_size = (size_t)max_rows * max_act_row_bytes(max_n_in);
    ctx->scratch = aligned_alloc(SCRATCH_ALIGN, round_up(ctx->scratch_size, SCRATCH_ALIGN));
    if (ctx->scratch == NULL || ctx->k == NULL) {
        matmul_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void matmul_ctx_set_threads(struct matmul_ctx *ctx, int n_threads)
{
    ctx->max_threads = n_threads;
}

void matmul_ctx_free(struct matmul_ctx *ctx)
{
    if (ctx == NULL)
        return;
    free(ctx->scratch);
    free(ctx);
}

int matmul_ctx_set_isa(struct matmul_ctx *ctx, enum cpu_isa isa)
{
    const struct cpu_kernels *k = cpu_kernels_for(isa);
    if (k == NULL)
        return -1;
    ctx->k = k;
    return 0;
}

const struct cpu_kernels *matmul_ctx_kernels(const struct matmul_ctx *ctx)
{
    return ctx->k;
}

static void convert_rows(const struct matmul_job *job, int64_t first, int64_t step)
{
    for (int64_t r = first; r < job->n_rows; r += step)
        job->convert(job->x + r * job->x_stride, (char *)job->act + r * job->act_stride, job->n_in);
}

static void convert_task(void *arg, int ith, int nth)
{
    convert_rows(arg, ith, nth);
}

/* Weight rows [i0, i1) of a part against activation rows [r0, r1). With a
 * multi-row kernel each weight row is unpacked once for the whole tile; it
 * gives the bits vec_dot gives, which a single row always uses. */
static void dot_tile(const struct matmul_job *job, const struct matmul_part *p, int64_t i0,
                     int64_t i1, int64_t r0, int64_t r1)
{
    const char *wbase = p->w->data;
    const char *act = job->act + (size_t)r0 * job->act_stride;
    for (int64_t i = i0; i < i1; i++) {
        const void *wrow = wbase + (size_t)i * p->w_stride;
        float *y = p->y + r0 * p->y_stride + i;
        if (p->dot_nrows && (r1 - r0 > 1 || job->packed)) {
            p->dot_nrows(job->n_in, y, (size_t)p->y_stride, wrow, act, job->act_stride, r1 - r0);
            continue;
        }
        for (int64_t r = 0; r < r1 - r0; r++)
            p->dot(job->n_in, y + r * p->y_stride, wrow, act + (size_t)r * job->act_stride);
    }
}

static void dot_chunk(const struct matmul_job *job, int64_t chunk)
{
    const struct matmul_part *p = job->parts;
    while (chunk >= p->first_chunk + p->n_chunks)
        p++;
    int64_t i0 = (chunk - p->first_chunk) * job->chunk_rows;
    int64_t i1 = i0 + job->chunk_rows < p->w->n_out ? i0 + job->chunk_rows : p->w->n_out;
    /* as many activation rows as fit in TILE_X_BYTES (a multiple of 8, the
     * most rows the multi-row kernels take at once), at least 8 */
    int64_t tile = job->act_stride ? (int64_t)(TILE_X_BYTES / job->act_stride) & ~(int64_t)7 : TILE_X_ROWS;
    tile = tile < 8 ? 8 : tile > TILE_X_ROWS ? TILE_X_ROWS : tile;
    for (int64_t r0 = 0; r0 < job->n_rows; r0 += tile) {
        int64_t r1 = r0 + tile < job->n_rows ? r0 + tile : job->n_rows;
        dot_tile(job, p, i0, i1, r0, r1);
    }
}

static void dot_task(void *arg, int ith, int nth)
{
    struct matmul_job *job = arg;
    (void)ith;
    (void)nth;
    for (;;) {
        long long c = atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed);
        if (c >= job->n_chunks)
            break;
        dot_chunk(job, c);
    }
}

/* Chunk size: for few rows, slices of the outputs that give each thread
 * several chunks (one chunk per matrix on one thread); for many rows, small
 * blocks of weight rows that stay in cache. */
static int64_t pick_chunk_rows(int64_t total_out, int64_t max_out, int64_t n_rows, int nth)
{
    if (n_rows >= 4)
        return TILE_W_ROWS;
    if (nth == 1)
        return max_out;
    int64_t want = (int64_t)nth * CHUNKS_PER_THREAD;
    int64_t rows = (total_out + want - 1) / want;
    return rows < MIN_VEC_CHUNK ? MIN_VEC_CHUNK : rows;
}

static int check_weights(const struct matmul_ctx *ctx, const struct matmul_weights *w)
{
    const struct type_traits *tt = tensor_type_traits((uint32_t)w->type);
    if (tt == NULL || !tt->supported || ctx->k->vec_dot[w->type] == NULL)
        return -1;
    if (w->n_in <= 0 || w->n_out < 0 || w->n_in % tt->block_size != 0)
        return -1;
    if (tt->vec_dot_type != TYPE_F32 && ctx->k->from_float[tt->vec_dot_type] == NULL)
        return -1;
    return 0;
}

/* All matrices valid and sharing n_in and the activation type. */
static int check_many(const struct matmul_ctx *ctx, const struct matmul_weights *ws, int n_w)
{
    if (ctx == NULL || ws == NULL || n_w < 1 || n_w > MATMUL_MAX_MANY)
        return -1;
    const struct type_traits *first = tensor_type_traits((uint32_t)ws[0].type);
    if (first == NULL)
        return -1;
    for (int m = 0; m < n_w; m++) {
        if (check_weights(ctx, &ws[m]) != 0 || ws[m].n_in != ws[0].n_in ||
            tensor_type_traits((uint32_t)ws[m].type)->vec_dot_type != first->vec_dot_type)
            return -1;
    }
    return 0;
}

/* No more threads than pieces of work (no point waking the others). */
static int threads_for(const struct matmul_ctx *ctx, int64_t pieces)
{
    int n = thread_pool_size(ctx->pool);
    if (ctx->max_threads > 0 && ctx->max_threads < n)
        n = ctx->max_threads;
    return pieces < n ? (int)pieces : n;
}

/* Packed activations, when the kernels have them for the activation type
 * and every matrix of the job (for one row too: they save the kernel the
 * rearranging of the activations for every weight row). */
static bool use_packed(const struct matmul_ctx *ctx, const struct matmul_weights *ws, int n_w,
                       enum tensor_type vdt, int64_t n_rows)
{
    if (n_rows < 1 || vdt == TYPE_F32 || ctx->k->from_float_packed[vdt] == NULL ||
        cpu_packed_row_size(vdt, ws[0].n_in) == 0)
        return false;
    for (int m = 0; m < n_w; m++)
        if (ctx->k->vec_dot_nrows_packed[ws[m].type] == NULL)
            return false;
    return true;
}

static void setup_activations(struct matmul_ctx *ctx, struct matmul_job *job, enum tensor_type vdt)
{
    if (vdt == TYPE_F32) {
        job->act = (const char *)job->x;
        job->act_stride = (size_t)job->x_stride * sizeof(float);
        return;
    }
    job->convert = job->packed ? ctx->k->from_float_packed[vdt] : ctx->k->from_float[vdt];
    job->act = ctx->scratch;
    job->act_stride = job->packed ? packed_row_bytes(vdt, job->n_in) : act_row_bytes(vdt, job->n_in);
    if (job->n_rows == 1 || ctx->pool == NULL)
        convert_rows(job, 0, 1);
    else
        thread_pool_run_n(ctx->pool, threads_for(ctx, job->n_rows), convert_task, job);
}

static void setup_parts(const struct matmul_ctx *ctx, struct matmul_job *job,
                        const struct matmul_weights *ws, int n_w, float *const *ys,
                        const int64_t *y_strides)
{
    int64_t total_out = 0, max_out = 1;
    for (int m = 0; m < n_w; m++) {
        total_out += ws[m].n_out;
        max_out = ws[m].n_out > max_out ? ws[m].n_out : max_out;
    }
    job->chunk_rows = pick_chunk_rows(total_out, max_out, job->n_rows, thread_pool_size(ctx->pool));
    job->n_parts = n_w;
    for (int m = 0; m < n_w; m++) {
        const struct matmul_weights *w = &ws[m];
        struct matmul_part *p = &job->parts[m];
        p->w = w;
        p->dot = ctx->k->vec_dot[w->type];
        p->dot_nrows = job->packed ? ctx->k->vec_dot_nrows_packed[w->type]
                       : MATMUL_USE_NROWS ? ctx->k->vec_dot_nrows[w->type]
                                          : NULL;
        p->w_stride = w->row_stride ? w->row_stride : tensor_type_row_size(w->type, w->n_in);
        p->y = ys[m];
        p->y_stride = y_strides && y_strides[m] ? y_strides[m] : w->n_out;
        p->first_chunk = job->n_chunks;
        p->n_chunks = (w->n_out + job->chunk_rows - 1) / job->chunk_rows;
        job->n_chunks += p->n_chunks;
    }
}

/* Rows whose converted activations fit the scratch at once (all of them
 * for F32 activations); 0 if not even one does. */
static int64_t rows_per_slice(const struct matmul_ctx *ctx, enum tensor_type vdt, int64_t n_in,
                              int64_t n_rows, bool packed)
{
    if (vdt == TYPE_F32)
        return n_rows;
    int64_t fit = (int64_t)(ctx->scratch_size / (packed ? packed_row_bytes(vdt, n_in) : act_row_bytes(vdt, n_in)));
    return fit < n_rows ? fit : n_rows;
}

/* Pieces the dot phase is worth splitting into: its chunks, but no more
 * than one per MIN_THREAD_MACS multiply-adds. */
static int64_t dot_pieces(const struct matmul_job *job)
{
    int64_t macs = 0;
    for (int m = 0; m < job->n_parts; m++)
        macs += job->parts[m].w->n_out * job->n_in * job->n_rows;
    int64_t most = macs / MIN_THREAD_MACS + 1;
    return job->n_chunks < most ? job->n_chunks : most;
}

static void run_slice(struct matmul_ctx *ctx, const struct matmul_weights *ws, int n_w,
                      const float *x, int64_t n_rows, int64_t x_stride,
                      float *const *ys, const int64_t *y_strides, bool packed)
{
    struct matmul_job job = {
        .x = x,
        .x_stride = x_stride,
        .n_in = ws[0].n_in,
        .n_rows = n_rows,
        .packed = packed,
    };
    atomic_init(&job.next_chunk, 0);
    setup_parts(ctx, &job, ws, n_w, ys, y_strides);
    if (job.n_chunks == 0)
        return;
    setup_activations(ctx, &job, tensor_type_traits((uint32_t)ws[0].type)->vec_dot_type);
    int nth = ctx->pool ? threads_for(ctx, dot_pieces(&job)) : 1;
    if (nth <= 1)
        dot_task(&job, 0, 1);
    else
        thread_pool_run_n(ctx->pool, nth, dot_task, &job);
}

int matmul_many(struct matmul_ctx *ctx, const struct matmul_weights *ws, int n_w,
                const float *x, int64_t n_rows, int64_t x_stride,
                float *const *ys, const int64_t *y_strides)
{
    if (check_many(ctx, ws, n_w) != 0 || n_rows < 0)
        return -1;
    if (n_rows == 0)
        return 0;
    enum tensor_type vdt = tensor_type_traits((uint32_t)ws[0].type)->vec_dot_type;
    bool packed = use_packed(ctx, ws, n_w, vdt, n_rows);
    int64_t slice = rows_per_slice(ctx, vdt, ws[0].n_in, n_rows, packed);
    if (slice == 0)
        return -1;
    if (x_stride == 0)
        x_stride = ws[0].n_in;
    int64_t strides[MATMUL_MAX_MANY];
    for (int m = 0; m < n_w; m++)
        strides[m] = y_strides && y_strides[m] ? y_strides[m] : ws[m].n_out;
    /* Batches bigger than the context was made for go a slice at a time;
     * each element is still the same single vec_dot. */
    for (int64_t r0 = 0; r0 < n_rows; r0 += slice) {
        float *ys_slice[MATMUL_MAX_MANY];
        for (int m = 0; m < n_w; m++)
            ys_slice[m] = ys[m] + r0 * strides[m];
        int64_t rows = n_rows - r0 < slice ? n_rows - r0 : slice;
        run_slice(ctx, ws, n_w, x + r0 * x_stride, rows, x_stride, ys_slice, strides, packed);
    }
    return 0;
}

int matmul(struct matmul_ctx *ctx, const struct matmul_weights *w,
           const float *x, int64_t n_rows, int64_t x_stride,
           float *y, int64_t y_stride)
{
    if (w == NULL)
        return -1;
    return matmul_many(ctx, w, 1, x, n_rows, x_stride, &y, &y_stride);
}
