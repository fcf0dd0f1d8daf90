/*
 * engine.c - the transformer forward pass over a batch (see engine.h).
 *
 * One decode call, for n tokens of any sequences:
 *   x = embed(tokens) * embd_scale
 *   for each layer:
 *     h = rmsnorm(x) ; q, k, v = h Wq, h Wk, h Wv (+ biases) ; per-head q/k norms
 *     rope(q, k) at each token's position ; append k, v to its sequence's cache
 *     attn = for each token and head: softmax(q . K[seq] * scale) V[seq]
 *     x += post_norm(attn Wo)
 *     h = rmsnorm(x) ; x += post_norm(down(act(h Wgate) * h Wup))
 *   logits = rmsnorm(x) Wout   for the tokens that ask for them
 *
 * Every token's arithmetic is the same whatever else is in the batch: the
 * matmul is batch-invariant, the ops work row by row, and attention walks a
 * query's own sequence in position order.
 *
 * Each sequence's token record (seq_tok) has the cache's length: a decode
 * writes the batch's tokens at their positions once the cache has grown,
 * and every engine_seq_* call changes the record and the pages together.
 */
#include "engine/engine.h"
#include "engine/engine_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err.h"
#include "base/vec.h"
#include "engine/bert.h"
#include "tensor/attn.h"
#include "tensor/cpu/kernels.h"
#include "tensor/f16.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "tensor/threadpool.h"

struct engine {
    const struct model *m;
    struct engine_params p;
    struct thread_pool *pool;
    struct matmul_ctx *mm;
    struct kv_cache *kv;
    const struct cpu_kernels *k;
    int32_t q_dim, k_dim, v_dim, o_dim;  /* row widths of q, k, v and attention output */
    /* activations, n_batch rows each */
    float *x, *h, *q, *kk, *vv, *att, *o, *g, *u;
    /* outputs */
    float *hout, *logits;
    int32_t *out_row;                    /* per batch token: its logits row, or -1 */
    int32_t n_last;                      /* tokens in the last decoded batch */
    int32_t *seq_next;                   /* per sequence: next position (scratch) */
    int32_t *seq_grow;                   /* per sequence: tokens in this batch (scratch) */
    int32_t **seq_tok;                   /* per sequence: its tokens (length: the cache's) */
    size_t *seq_tok_cap;
    /* attention scratch, one slice per thread */
    int n_att_threads;
    float *att_scores;                   /* n_ctx floats per thread */
    float *att_vrow;                     /* head_dim_v floats per thread */
    uint8_t *att_qconv;                  /* one converted query head per thread */
    size_t qconv_size;
    /* attention tiles (F16/F32 caches, tensor/attn.h) */
    bool att_tiles;                      /* the cache types allow them */
    int32_t att_group;                   /* query heads per KV head */
    int32_t att_max_q;                   /* most queries in one tile */
    size_t att_floats;                   /* tile scratch floats per thread */
    float *att_scratch;                  /* att_floats per thread */
    const void **att_kv_rows;            /* per thread: 2 * n_ctx row pointers */
    const float **att_q_rows;            /* per thread: att_max_q query rows */
    float **att_out_rows;                /* per thread: att_max_q output rows */
    int32_t *att_range;                  /* per thread: 2 * att_max_q first/last keys */
    int32_t *att_order;                  /* the batch's tokens grouped by sequence */
    int32_t *att_seq_first;              /* per sequence: its first entry in att_order */
    struct att_unit *att_units;          /* the tiles of one layer */
    int32_t n_att_units;
    int att_threads;                     /* threads for them */
    size_t scratch_bytes;                /* activations, logits and attention scratch */
};

/* One attention tile: tokens order[t0 .. t1-1] (one sequence, consecutive
 * positions), query heads h0 .. h1-1 (one KV head). */
struct att_unit {
    int32_t t0, t1, h0, h1;
};

static int errf(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------------ set-up */

static void fill_defaults(struct engine_params *p, const struct model_hparams *hp)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (p->n_ctx <= 0)
        p->n_ctx = hp->n_ctx_train;
    if (p->n_batch <= 0)
        p->n_batch = 512;
    if (p->n_seq_max <= 0)
        p->n_seq_max = 1;
    if (p->n_outputs_max <= 0)
        p->n_outputs_max = p->n_seq_max;
    if (p->n_outputs_max > p->n_batch)
        p->n_outputs_max = p->n_batch;
    if (p->n_threads <= 0)
        p->n_threads = cpus > 0 ? (int)cpus : 1;
    if (p->n_threads_batch <= 0)
        p->n_threads_batch = p->n_threads;
}

struct engine_params engine_default_params(void)
{
    struct engine_params p = { .n_batch = 512, .n_seq_max = 1, .type_k = TYPE_F16,
                               .type_v = TYPE_F16 };
    return p;
}

/* Zeroed, 64-byte aligned floats. Big buffers are anonymous mappings, so
 * their memory is touched only where it is written (a server sized for long
 * contexts pays for the scratch it uses). A 64-byte header before the
 * buffer records the mapping's size (0: from aligned_alloc). */
#define BIG_BUFFER_BYTES (256u << 10)

static float *alloc_f32(struct engine *e, size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64 + 64;
    e->scratch_bytes += bytes;
    uint8_t *p;
    if (bytes >= BIG_BUFFER_BYTES) {
        void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        p = m;
        *(size_t *)p = bytes;
    } else {
        p = aligned_alloc(64, bytes);
        if (p == NULL)
            return NULL;
        memset(p, 0, bytes);
    }
    return (float *)(p + 64);
}

static void free_f32(float *f)
{
    if (f == NULL)
        return;
    uint8_t *p = (uint8_t *)f - 64;
    size_t mapped = *(size_t *)p;
    if (mapped)
        munmap(p, mapped);
    else
        free(p);
}

/* Tuning of the attention tiles: most tokens per tile, and the scratch per
 * thread (scores of every query of a tile over its keys, kept in L2). */
#ifndef ATT_TILE_TOKENS
#define ATT_TILE_TOKENS 32
#endif
#ifndef ATT_SCRATCH_BYTES
#define ATT_SCRATCH_BYTES (1 << 20)
#endif
#ifndef ROWS_THREAD_FLOATS
#define ROWS_THREAD_FLOATS 16384 /* least row-wise work (floats of x) worth another thread */
#endif
#ifndef ATT_THREAD_MACS
#define ATT_THREAD_MACS 65536 /* least work worth another thread (cf. matmul.c) */
#endif

static int alloc_tiles(struct engine *e)
{
    const struct model_hparams *hp = &e->m->hp;
    int nth = e->n_att_threads;
    e->att_tiles = attn_types_supported(kv_cache_type_k(e->kv), kv_cache_type_v(e->kv));
    e->att_group = hp->n_head / hp->n_head_kv;
    e->att_max_q = ATT_TILE_TOKENS * e->att_group;
    size_t least = attn_scratch_floats(e->att_group, e->p.n_ctx, hp->head_dim_k, hp->head_dim_v);
    e->att_floats = least > ATT_SCRATCH_BYTES / sizeof(float) ? least : ATT_SCRATCH_BYTES / sizeof(float);
    e->att_floats = (e->att_floats + 15) / 16 * 16;
    e->att_scratch = alloc_f32(e, (size_t)nth * e->att_floats);
    e->att_kv_rows = malloc((size_t)nth * 2 * (size_t)e->p.n_ctx * sizeof(void *));
    e->att_q_rows = malloc((size_t)nth * (size_t)e->att_max_q * sizeof(float *));
    e->att_out_rows = malloc((size_t)nth * (size_t)e->att_max_q * sizeof(float *));
    e->att_range = malloc((size_t)nth * 2 * (size_t)e->att_max_q * sizeof(int32_t));
    e->att_order = malloc((size_t)e->p.n_batch * sizeof(int32_t));
    e->att_seq_first = malloc(((size_t)e->p.n_seq_max + 1) * sizeof(int32_t));
    e->att_units = malloc((size_t)e->p.n_batch * (size_t)hp->n_head * sizeof(struct att_unit));
    return e->att_scratch && e->att_kv_rows && e->att_q_rows && e->att_out_rows && e->att_range &&
                   e->att_order && e->att_seq_first && e->att_units
               ? 0
               : -1;
}

static int alloc_buffers(struct engine *e)
{
    const struct model_hparams *hp = &e->m->hp;
    size_t nb = (size_t)e->p.n_batch, no = (size_t)e->p.n_outputs_max;
    int32_t widest = hp->n_embd > e->o_dim ? hp->n_embd : e->o_dim;
    e->x = alloc_f32(e, nb * hp->n_embd);
    e->h = alloc_f32(e, nb * widest);
    e->q = alloc_f32(e, nb * e->q_dim);
    e->kk = alloc_f32(e, nb * e->k_dim);
    e->vv = alloc_f32(e, nb * e->v_dim);
    e->att = alloc_f32(e, nb * e->o_dim);
    e->o = alloc_f32(e, nb * hp->n_embd);
    e->g = alloc_f32(e, nb * hp->n_ff);
    e->u = alloc_f32(e, nb * hp->n_ff);
    e->hout = alloc_f32(e, no * hp->n_embd);
    e->logits = alloc_f32(e, no * (size_t)hp->n_vocab);
    e->out_row = malloc(nb * sizeof(int32_t));
    e->seq_next = malloc((size_t)e->p.n_seq_max * sizeof(int32_t));
    e->seq_grow = malloc((size_t)e->p.n_seq_max * sizeof(int32_t));
    e->seq_tok = calloc((size_t)e->p.n_seq_max, sizeof(*e->seq_tok));
    e->seq_tok_cap = calloc((size_t)e->p.n_seq_max, sizeof(*e->seq_tok_cap));
    e->n_att_threads = thread_pool_size(e->pool);
    e->att_scores = alloc_f32(e, (size_t)e->n_att_threads * (size_t)e->p.n_ctx);
    e->att_vrow = alloc_f32(e, (size_t)e->n_att_threads * (size_t)hp->head_dim_v);
    enum tensor_type qt = type_traits(kv_cache_type_k(e->kv))->vec_dot_type;
    e->qconv_size = (type_row_size(qt, hp->head_dim_k) + 63) / 64 * 64;
    e->att_qconv = aligned_alloc(64, (size_t)e->n_att_threads * e->qconv_size);
    bool ok = e->x && e->h && e->q && e->kk && e->vv && e->att && e->o && e->g && e->u &&
              e->hout && e->logits && e->out_row && e->seq_next && e->seq_grow && e->seq_tok && e->seq_tok_cap && e->att_scores &&
              e->att_vrow && e->att_qconv;
    return ok && alloc_tiles(e) == 0 ? 0 : -1;
}

static int check_kernels(const struct engine *e, char *err, size_t n)
{
    const struct model *m = e->m;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const struct layer_weights *l = &m->layers[il];
        const struct weight *lw[] = { &l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up,
                                      &l->ffn_down };
        for (size_t i = 0; i < sizeof(lw) / sizeof(lw[0]); i++)
            if (e->k->vec_dot[lw[i]->type] == NULL)
                return errf(err, n, "no kernel for %s weights (%s)", type_name(lw[i]->type),
                            lw[i]->name);
    }
    if (e->k->vec_dot[m->output.type] == NULL)
        return errf(err, n, "no kernel for %s weights (%s)", type_name(m->output.type), m->output.name);
    enum tensor_type tk = kv_cache_type_k(e->kv);
    if (type_row_size(tk, m->hp.head_dim_k) == 0 || type_row_size(kv_cache_type_v(e->kv), m->hp.head_dim_v) == 0)
        return errf(err, n, "KV cache type %s needs a head size that is a multiple of its block size",
                    type_name(tk));
    return 0;
}

struct engine *engine_create(const struct model *m, const struct engine_params *params, char *err,
                             size_t err_size)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        errf(err, err_size, "out of memory");
        return NULL;
    }
    const struct model_hparams *hp = &m->hp;
    e->m = m;
    e->p = *params;
    fill_defaults(&e->p, hp);
    e->q_dim = hp->n_head * hp->head_dim_k;
    e->k_dim = hp->n_head_kv * hp->head_dim_k;
    e->v_dim = hp->n_head_kv * hp->head_dim_v;
    e->o_dim = hp->n_head * hp->head_dim_v;
    e->k = cpu_kernels();
    int threads = e->p.n_threads > e->p.n_threads_batch ? e->p.n_threads : e->p.n_threads_batch;
    bool *layer_swa = calloc((size_t)hp->n_layer, sizeof(bool));
    if (layer_swa == NULL) {
        errf(err, err_size, "out of memory");
        goto fail_quiet;
    }
    for (int32_t il = 0; il < hp->n_layer; il++)
        layer_swa[il] = model_layer_is_swa(hp, il);
    struct kv_cache_params kp = { .n_ctx = e->p.n_ctx, .n_seq_max = e->p.n_seq_max,
                                  .n_layer = hp->n_layer, .n_embd_k = e->k_dim,
                                  .n_embd_v = e->v_dim, .type_k = e->p.type_k,
                                  .type_v = e->p.type_v,
                                  .layer_swa = hp->sliding_window > 0 ? layer_swa : NULL,
                                  .swa_window = hp->sliding_window, .swa_full = e->p.swa_full,
                                  .n_grow_max = e->p.n_batch };
    e->kv = kv_cache_create(&kp, err, err_size);
    free(layer_swa);
    if (e->kv == NULL)
        goto fail_quiet;
    e->pool = thread_pool_create(threads);
    int64_t widest_in = hp->n_embd > e->o_dim ? hp->n_embd : e->o_dim;
    if (hp->n_ff > widest_in)
        widest_in = hp->n_ff;
    e->mm = e->pool ? matmul_ctx_create(e->pool, e->p.n_batch, widest_in) : NULL;
    if (e->pool == NULL || e->mm == NULL || alloc_buffers(e) != 0) {
        errf(err, err_size, "out of memory for a batch of %d tokens and %d positions",
             e->p.n_batch, e->p.n_ctx);
        goto fail_quiet;
    }
    if (check_kernels(e, err, err_size) != 0)
        goto fail_quiet;
    return e;
fail_quiet:
    engine_free(e);
    return NULL;
}

void engine_free(struct engine *e)
{
    if (e == NULL)
        return;
    matmul_ctx_free(e->mm);
    thread_pool_free(e->pool);
    kv_cache_free(e->kv);
    float *bufs[] = { e->x, e->h, e->q, e->kk, e->vv, e->att, e->o, e->g, e->u, e->hout,
                      e->logits, e->att_scores, e->att_vrow };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        free_f32(bufs[i]);
    free(e->att_qconv);
    free_f32(e->att_scratch);
    free(e->att_kv_rows);
    free(e->att_q_rows);
    free(e->att_out_rows);
    free(e->att_range);
    free(e->att_order);
    free(e->att_seq_first);
    free(e->att_units);
    free(e->out_row);
    free(e->seq_next);
    free(e->seq_grow);
    for (int32_t s = 0; e->seq_tok && s < e->p.n_seq_max; s++)
        free(e->seq_tok[s]);
    free(e->seq_tok);
    free(e->seq_tok_cap);
    free(e);
}

/* ------------------------------------------------------------ checking a batch */

static int check_batch(struct engine *e, const struct batch *b, int32_t *n_out, char *err, size_t n)
{
    const struct model_hparams *hp = &e->m->hp;
    if (b->n_tokens <= 0 || b->n_tokens > e->p.n_batch)
        return errf(err, n, "batch of %d tokens (must be 1..%d)", b->n_tokens, e->p.n_batch);
    for (int32_t s = 0; s < e->p.n_seq_max; s++) {
        e->seq_next[s] = kv_cache_seq_len(e->kv, s);
        e->seq_grow[s] = 0;
    }
    *n_out = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        int32_t t = b->token[i], s = b->seq_id[i];
        if (t < 0 || t >= hp->n_vocab)
            return errf(err, n, "token id %d is out of range (the vocabulary has %d tokens)", t,
                        hp->n_vocab);
        if (s < 0 || s >= e->p.n_seq_max)
            return errf(err, n, "sequence id %d is out of range (0..%d)", s, e->p.n_seq_max - 1);
        if (b->pos[i] != e->seq_next[s])
            return errf(err, n, "token %d of sequence %d has position %d, expected %d", i, s,
                        b->pos[i], e->seq_next[s]);
        if (e->seq_next[s] >= e->p.n_ctx)
            return errf(err, n, "sequence %d is full: it holds %d positions, the context size is %d",
                        s, e->seq_next[s], e->p.n_ctx);
        e->seq_next[s]++;
        e->seq_grow[s]++;
        e->out_row[i] = b->logits[i] ? (*n_out)++ : -1;
    }
    if (*n_out > e->p.n_outputs_max)
        return errf(err, n, "%d tokens ask for logits, at most %d can", *n_out, e->p.n_outputs_max);
    for (int32_t s = 0; s < e->p.n_seq_max; s++)
        if (e->seq_grow[s] > 0 && engine_seq_reserve(e, s, e->seq_next[s]) == NULL)
            return errf(err, n, "out of memory for the tokens of sequence %d", s);
    return 0;
}

/* Append each sequence's new positions to the cache, all or none. */
static int grow_cache(struct engine *e, char *err, size_t n)
{
    for (int32_t s = 0; s < e->p.n_seq_max; s++) {
        if (e->seq_grow[s] == 0 || kv_cache_seq_grow(e->kv, s, e->seq_grow[s]) == 0)
            continue;
        int32_t room = kv_cache_room(e->kv, s);
        for (int32_t r = 0; r < s; r++)
            kv_cache_seq_rm(e->kv, r, e->seq_next[r] - e->seq_grow[r]);
        return errf(err, n, "the KV cache is full: sequence %d needs %d more positions, %d are free",
                    s, e->seq_grow[s], room);
    }
    return 0;
}

/* ------------------------------------------------------------ attention */

struct attn_job {
    struct engine *e;
    const struct batch *b;
    int32_t il;
    bool swa;
    float score_scale;
    int nth;
};

/* First key a query of seq at pos sees in layer il: the window's first,
 * or the first the cache still holds (after a context shift that left a
 * windowed layer fewer keys, as llama.cpp's cache does). */
static int32_t key_lo(const struct engine *e, bool swa, int32_t il, int32_t seq, int32_t pos)
{
    if (!swa)
        return 0;
    int32_t w = e->m->hp.sliding_window, held = kv_cache_seq_start(e->kv, il, seq);
    int32_t lo = pos - w + 1 > 0 ? pos - w + 1 : 0;
    return lo > held ? lo : held;
}

/* One query head of one token over its sequence's keys [lo, pos]. */
static void attend_one(struct attn_job *j, int32_t i, int32_t h, int ith)
{
    struct engine *e = j->e;
    const struct model_hparams *hp = &e->m->hp;
    int32_t seq = j->b->seq_id[i], pos = j->b->pos[i];
    int32_t lo = key_lo(e, j->swa, j->il, seq, pos);
    int32_t kvh = h / (hp->n_head / hp->n_head_kv);
    enum tensor_type tk = kv_cache_type_k(e->kv), tv = kv_cache_type_v(e->kv);
    enum tensor_type qt = type_traits(tk)->vec_dot_type;
    size_t k_off = (size_t)kvh * type_row_size(tk, hp->head_dim_k);
    size_t v_off = (size_t)kvh * type_row_size(tv, hp->head_dim_v);
    void *qc = e->att_qconv + (size_t)ith * e->qconv_size;
    float *scores = e->att_scores + (size_t)ith * e->p.n_ctx;
    float *vrow = e->att_vrow + (size_t)ith * hp->head_dim_v;
    float *out = e->att + (size_t)i * e->o_dim + (size_t)h * hp->head_dim_v;

    e->k->from_float[qt](e->q + (size_t)i * e->q_dim + (size_t)h * hp->head_dim_k, qc, hp->head_dim_k);
    int32_t n = pos - lo + 1;
    for (int32_t t = 0; t < n; t++) {
        const uint8_t *krow = kv_cache_k(e->kv, j->il, seq, lo + t);
        e->k->vec_dot[tk](hp->head_dim_k, &scores[t], krow + k_off, qc);
    }
    op_softmax(scores, scores, n, j->score_scale, NULL);
    memset(out, 0, (size_t)hp->head_dim_v * sizeof(float));
    for (int32_t t = 0; t < n; t++) {
        const uint8_t *vr = (const uint8_t *)kv_cache_v(e->kv, j->il, seq, lo + t) + v_off;
        if (tv == TYPE_F16) {
            /* with an F16 V cache, llama.cpp multiplies V by the probabilities
             * rounded to F16; doing the same keeps us within its own spread */
            op_axpy_f16(out, f16_to_f32(f32_to_f16(scores[t])), (const f16_t *)vr, hp->head_dim_v);
        } else if (tv == TYPE_F32) {
            op_axpy(out, scores[t], (const float *)vr, hp->head_dim_v);
        } else {
            dequantize_row(tv, vr, vrow, hp->head_dim_v);
            op_axpy(out, scores[t], vrow, hp->head_dim_v);
        }
    }
}

static void attn_task(void *arg, int ith, int nth)
{
    struct attn_job *j = arg;
    int32_t n_head = j->e->m->hp.n_head;
    int32_t total = j->b->n_tokens * n_head;
    for (int32_t w = ith; w < total; w += nth)
        attend_one(j, w / n_head, w % n_head, ith);
}

/* ---- tiles (F16 / F32 caches): the queries of a run of one sequence's
 * tokens and of the heads of one KV head, against the keys they need, in
 * one tensor/attn.h call; each query's result is the same in any tile. */


/* att_order: the batch's tokens grouped by sequence, each sequence's in
 * batch order (which is position order). */
static void group_by_seq(struct engine *e, const struct batch *b)
{
    int32_t at = 0;
    for (int32_t s = 0; s < e->p.n_seq_max; s++) {
        at += e->seq_grow[s];
        e->att_seq_first[s] = at; /* its end, for now */
    }
    e->att_seq_first[e->p.n_seq_max] = at;
    for (int32_t i = b->n_tokens - 1; i >= 0; i--)
        e->att_order[--e->att_seq_first[b->seq_id[i]]] = i;
}

/* Cut each sequence's tokens into tiles, the last (biggest) ones first,
 * each as long as the scratch and ATT_TILE_TOKENS allow; one unit per KV
 * head, or per query head when that leaves threads idle. */
static void plan_tiles(struct engine *e, const struct batch *b, int32_t il, bool swa, int nth)
{
    const struct model_hparams *hp = &e->m->hp;
    const int32_t g = e->att_group;
    int32_t n = 0;
    int64_t work = 0; /* multiply-adds, about */
    for (int32_t s = 0; s < e->p.n_seq_max; s++) {
        int32_t f = e->att_seq_first[s], end = e->att_seq_first[s + 1];
        int32_t sq = f < end ? b->seq_id[e->att_order[f]] : 0;
        while (end > f) {
            int32_t start = end - 1, pos_last = b->pos[e->att_order[end - 1]];
            while (start > f && end - start < ATT_TILE_TOKENS) {
                int32_t nk = pos_last - key_lo(e, swa, il, sq, b->pos[e->att_order[start - 1]]) + 1;
                if (attn_scratch_floats((end - start + 1) * g, nk, hp->head_dim_k, hp->head_dim_v) >
                    e->att_floats)
                    break;
                start--;
            }
            int32_t nk = pos_last - key_lo(e, swa, il, sq, b->pos[e->att_order[start]]) + 1;
            work += (int64_t)(end - start) * hp->n_head * nk * (hp->head_dim_k + hp->head_dim_v);
            for (int32_t kvh = 0; kvh < hp->n_head_kv; kvh++)
                e->att_units[n++] = (struct att_unit){ start, end, kvh * g, (kvh + 1) * g };
            end = start;
        }
    }
    /* threads worth waking: no more than one per ATT_THREAD_MACS */
    int64_t most = work / ATT_THREAD_MACS + 1;
    e->att_threads = nth < most ? nth : (int)most;
    if (n < e->att_threads && g > 1) { /* one unit per query head */
        for (int32_t u = n - 1; u >= 0; u--) {
            struct att_unit a = e->att_units[u];
            for (int32_t k = 0; k < g; k++)
                e->att_units[u * g + k] = (struct att_unit){ a.t0, a.t1, a.h0 + k, a.h0 + k + 1 };
        }
        n *= g;
    }
    e->n_att_units = n;
}

struct tile_job {
    struct engine *e;
    const struct batch *b;
    int32_t il;
    bool swa;
    float score_scale;
    alignas(64) atomic_int next;
};

static void run_unit(struct tile_job *j, const struct att_unit *u, int ith)
{
    struct engine *e = j->e;
    const struct model_hparams *hp = &e->m->hp;
    const struct batch *b = j->b;
    const int32_t *order = e->att_order;
    int32_t seq = b->seq_id[order[u->t0]];
    int32_t lo0 = key_lo(e, j->swa, j->il, seq, b->pos[order[u->t0]]);
    int32_t nk = b->pos[order[u->t1 - 1]] - lo0 + 1;
    int32_t kvh = u->h0 / e->att_group;
    enum tensor_type tk = kv_cache_type_k(e->kv), tv = kv_cache_type_v(e->kv);
    size_t k_off = (size_t)kvh * type_row_size(tk, hp->head_dim_k);
    size_t v_off = (size_t)kvh * type_row_size(tv, hp->head_dim_v);
    const void **krows = e->att_kv_rows + (size_t)ith * 2 * (size_t)e->p.n_ctx;
    const void **vrows = krows + e->p.n_ctx;
    for (int32_t i = 0; i < nk; i++) {
        krows[i] = (const uint8_t *)kv_cache_k(e->kv, j->il, seq, lo0 + i) + k_off;
        vrows[i] = (const uint8_t *)kv_cache_v(e->kv, j->il, seq, lo0 + i) + v_off;
    }
    const float **qr = e->att_q_rows + (size_t)ith * e->att_max_q;
    float **outr = e->att_out_rows + (size_t)ith * e->att_max_q;
    int32_t *first = e->att_range + (size_t)ith * 2 * e->att_max_q, *last = first + e->att_max_q;
    int32_t nq = 0;
    for (int32_t t = u->t0; t < u->t1; t++) {
        int32_t i = order[t], pos = b->pos[i];
        for (int32_t h = u->h0; h < u->h1; h++, nq++) {
            qr[nq] = e->q + (size_t)i * e->q_dim + (size_t)h * hp->head_dim_k;
            outr[nq] = e->att + (size_t)i * e->o_dim + (size_t)h * hp->head_dim_v;
            first[nq] = key_lo(e, j->swa, j->il, seq, pos) - lo0;
            last[nq] = pos - lo0;
        }
    }
    struct attn_tile tile = { .n_q = nq, .head_dim_k = hp->head_dim_k, .head_dim_v = hp->head_dim_v,
                              .q = qr, .out = outr, .first = first, .last = last, .n_keys = nk,
                              .k = krows, .v = vrows, .type_k = tk, .type_v = tv,
                              .scale = j->score_scale };
    attn_tile_run(&tile, e->att_scratch + (size_t)ith * e->att_floats);
}

static void tile_task(void *arg, int ith, int nth)
{
    struct tile_job *j = arg;
    (void)nth;
    for (;;) {
        int u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= j->e->n_att_units)
            break;
        run_unit(j, &j->e->att_units[u], ith);
    }
}

/* ------------------------------------------------------------ layers */

static struct matmul_weights mw(const struct weight *w)
{
    struct matmul_weights r = { .type = w->type, .data = w->data, .n_out = w->ne[1],
                                .n_in = w->ne[0], .row_stride = 0 };
    return r;
}

static void rms_rows(float *y, const float *x, const struct weight *w, int32_t n_rows, int64_t n,
                     int64_t stride, float eps)
{
    for (int32_t r = 0; r < n_rows; r++)
        op_rms_norm(y + r * stride, x + r * stride, w ? (const float *)w->data : NULL, n, eps);
}

/* Per-head RMS norm of n_rows rows of n_heads heads (gemma3/qwen3 q and k norms). */
static void head_norm(float *x, const struct weight *w, int32_t n_rows, int32_t n_heads,
                      int32_t head_dim, float eps)
{
    if (w->name == NULL)
        return;
    rms_rows(x, x, w, n_rows * n_heads, head_dim, head_dim, eps);
}

static void add_bias(float *x, const struct weight *b, int32_t n_rows, int32_t n)
{
    if (b->name == NULL)
        return;
    for (int32_t r = 0; r < n_rows; r++)
        op_add(x + (size_t)r * n, x + (size_t)r * n, b->data, n);
}

/* RoPE of layer il: sliding-window layers have their own base and no scaling. */
static struct rope_params layer_rope(const struct model_hparams *hp, int32_t il)
{
    bool swa = model_layer_is_swa(hp, il);
    struct rope_params rp = { .n_dims = hp->n_rot,
                              .freq_base = swa ? hp->rope_freq_base_swa : hp->rope_freq_base,
                              .freq_scale = swa ? 1.0f : hp->rope_freq_scale,
                              .mode = hp->rope_neox ? ROPE_NEOX : ROPE_NORMAL };
    return rp;
}

/* ---- the row-wise work between the matrix multiplies: each step takes a
 * range of the batch's tokens, so a batch's rows are shared among the
 * threads (the same per-row arithmetic, so the same bits, whatever the
 * split). */

enum row_step {
    ROWS_ATTN_NORM,  /* h = attn_norm(x) */
    ROWS_QKV,        /* biases, q/k norms, RoPE, (gemma) q scale, K/V into the cache */
    ROWS_ATTN_OUT,   /* x += post_attn_norm(o); h = ffn_norm(x) */
    ROWS_GLU,        /* g = act(g) * u */
    ROWS_FFN_OUT,    /* x += post_ffn_norm(o) */
};

struct rows_job {
    struct engine *e;
    const struct batch *b;
    int32_t il;
    enum row_step step;
};

static void rms_row(float *y, const float *x, const struct weight *w, int64_t n, float eps)
{
    op_rms_norm(y, x, w ? (const float *)w->data : NULL, n, eps);
}

static void rows_range(const struct rows_job *j, int32_t r0, int32_t r1)
{
    struct engine *e = j->e;
    const struct model_hparams *hp = &e->m->hp;
    const struct layer_weights *l = &e->m->layers[j->il];
    const int64_t ne = hp->n_embd;
    for (int32_t r = r0; r < r1; r++) {
        float *x = e->x + (size_t)r * ne, *h = e->h + (size_t)r * ne, *o = e->o + (size_t)r * ne;
        switch (j->step) {
        case ROWS_ATTN_NORM:
            rms_row(h, x, &l->attn_norm, ne, hp->norm_eps);
            break;
        case ROWS_QKV: {
            float *q = e->q + (size_t)r * e->q_dim, *k = e->kk + (size_t)r * e->k_dim;
            float *v = e->vv + (size_t)r * e->v_dim;
            add_bias(q, &l->bq, 1, e->q_dim);
            add_bias(k, &l->bk, 1, e->k_dim);
            add_bias(v, &l->bv, 1, e->v_dim);
            head_norm(q, &l->q_norm, 1, hp->n_head, hp->head_dim_k, hp->norm_eps);
            head_norm(k, &l->k_norm, 1, hp->n_head_kv, hp->head_dim_k, hp->norm_eps);
            struct rope_params rp = layer_rope(hp, j->il);
            op_rope(q, hp->n_head, hp->head_dim_k, j->b->pos[r], &rp);
            op_rope(k, hp->n_head_kv, hp->head_dim_k, j->b->pos[r], &rp);
            if (hp->arch == ARCH_GEMMA3) /* gemma scales the query itself, before the dot products */
                op_scale(q, q, hp->attn_scale, e->q_dim);
            enum tensor_type tk = kv_cache_type_k(e->kv), tv = kv_cache_type_v(e->kv);
            int32_t seq = j->b->seq_id[r], pos = j->b->pos[r];
            e->k->from_float[tk](k, kv_cache_k(e->kv, j->il, seq, pos), e->k_dim);
            e->k->from_float[tv](v, kv_cache_v(e->kv, j->il, seq, pos), e->v_dim);
            break;
        }
        case ROWS_ATTN_OUT:
            if (l->post_attn_norm.name)
                rms_row(o, o, &l->post_attn_norm, ne, hp->norm_eps);
            op_add(x, x, o, ne);
            rms_row(h, x, &l->ffn_norm, ne, hp->norm_eps);
            break;
        case ROWS_GLU: {
            float *g = e->g + (size_t)r * hp->n_ff, *u = e->u + (size_t)r * hp->n_ff;
            if (hp->arch == ARCH_GEMMA3)
                op_geglu(g, g, u, hp->n_ff);
            else
                op_swiglu(g, g, u, hp->n_ff);
            break;
        }
        case ROWS_FFN_OUT:
            if (l->post_ffn_norm.name)
                rms_row(o, o, &l->post_ffn_norm, ne, hp->norm_eps);
            op_add(x, x, o, ne);
            break;
        }
    }
}

static void rows_task(void *arg, int ith, int nth)
{
    const struct rows_job *j = arg;
    int32_t n = j->b->n_tokens;
    rows_range(j, (int32_t)((int64_t)n * ith / nth), (int32_t)((int64_t)n * (ith + 1) / nth));
}

static void run_rows(struct engine *e, const struct batch *b, int32_t il, enum row_step step, int nth)
{
    struct rows_job j = { e, b, il, step };
    int32_t n = b->n_tokens;
    /* a few small rows are not worth waking the other threads */
    int64_t most = (int64_t)n * e->m->hp.n_embd / ROWS_THREAD_FLOATS + 1;
    if (nth > most)
        nth = (int)most;
    if (nth > n)
        nth = n;
    if (nth <= 1)
        rows_range(&j, 0, n);
    else
        thread_pool_run_n(e->pool, nth, rows_task, &j);
}

static void attention_block(struct engine *e, const struct batch *b, int32_t il, int nth)
{
    const struct model_hparams *hp = &e->m->hp;
    const struct layer_weights *l = &e->m->layers[il];
    int32_t n = b->n_tokens;
    bool swa = model_layer_is_swa(hp, il);
    bool gemma = hp->arch == ARCH_GEMMA3;

    run_rows(e, b, il, ROWS_ATTN_NORM, nth);
    struct matmul_weights qkv[3] = { mw(&l->wq), mw(&l->wk), mw(&l->wv) };
    float *outs[3] = { e->q, e->kk, e->vv };
    matmul_many(e->mm, qkv, 3, e->h, n, hp->n_embd, outs, NULL);
    run_rows(e, b, il, ROWS_QKV, nth);

    float score_scale = gemma ? 1.0f : hp->attn_scale;
    if (e->att_tiles) {
        plan_tiles(e, b, il, swa, nth);
        struct tile_job job = { .e = e, .b = b, .il = il, .swa = swa, .score_scale = score_scale };
        atomic_init(&job.next, 0);
        int n_run = e->n_att_units < e->att_threads ? e->n_att_units : e->att_threads;
        if (n_run <= 1)
            tile_task(&job, 0, 1);
        else
            thread_pool_run_n(e->pool, n_run, tile_task, &job);
    } else {
        struct attn_job job = { e, b, il, swa, score_scale, nth };
        thread_pool_run_n(e->pool, nth, attn_task, &job);
    }

    struct matmul_weights wo = mw(&l->wo);
    matmul(e->mm, &wo, e->att, n, e->o_dim, e->o, hp->n_embd);
    run_rows(e, b, il, ROWS_ATTN_OUT, nth);
}

static void ffn_block(struct engine *e, const struct batch *b, int32_t il, int nth)
{
    const struct model_hparams *hp = &e->m->hp;
    const struct layer_weights *l = &e->m->layers[il];
    int32_t n = b->n_tokens;
    struct matmul_weights gu[2] = { mw(&l->ffn_gate), mw(&l->ffn_up) };
    float *outs[2] = { e->g, e->u };
    matmul_many(e->mm, gu, 2, e->h, n, hp->n_embd, outs, NULL);
    run_rows(e, b, il, ROWS_GLU, nth);
    struct matmul_weights down = mw(&l->ffn_down);
    matmul(e->mm, &down, e->g, n, hp->n_ff, e->o, hp->n_embd);
    run_rows(e, b, il, ROWS_FFN_OUT, nth);
}

static void compute_logits(struct engine *e, const struct batch *b, int32_t n_out)
{
    const struct model_hparams *hp = &e->m->hp;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        if (e->out_row[i] < 0)
            continue;
        op_rms_norm(e->hout + (size_t)e->out_row[i] * hp->n_embd, e->x + (size_t)i * hp->n_embd,
                    e->m->output_norm.data, hp->n_embd, hp->norm_eps);
    }
    struct matmul_weights out = mw(&e->m->output);
    matmul(e->mm, &out, e->hout, n_out, hp->n_embd, e->logits, hp->n_vocab);
}

/* Encoders (bert): every sequence of the batch must be whole in it (its
 * attention sees all its tokens); the layers are bert.c's. */
static int bert_batch(struct engine *e, const struct batch *b, int nth, char *err, size_t err_size)
{
    int rc = 0;
    for (int32_t s = 0; s < e->p.n_seq_max && rc == 0; s++)
        if (e->seq_grow[s] > 0 && e->seq_next[s] != e->seq_grow[s])
            rc = errf(err, err_size, "sequence %d already holds %d tokens: a bert model (non-causal "
                      "attention) needs all of a sequence in one batch", s, e->seq_next[s] - e->seq_grow[s]);
    if (rc == 0) {
        struct bert_bufs bb = { .x = e->x, .o = e->o, .q = e->q, .k = e->kk, .v = e->vv, .att = e->att,
                                .g = e->g, .scores = e->att_scores, .scores_stride = e->p.n_ctx,
                                .n_threads = e->n_att_threads, .order = e->att_order,
                                .seq_first = e->att_seq_first };
        rc = engine_bert_forward(e->m, e->mm, e->pool, nth, b, &bb, err, err_size);
    }
    if (rc != 0)
        for (int32_t s = 0; s < e->p.n_seq_max; s++)
            kv_cache_seq_rm(e->kv, s, e->seq_next[s] - e->seq_grow[s]);
    return rc;
}

/* Check the batch, append its keys and values, and run every layer: e->x
 * then holds each token's final hidden state. Returns the number of tokens
 * asking for logits, or -1. */
static int32_t forward(struct engine *e, const struct batch *b, char *err, size_t err_size)
{
    const struct model_hparams *hp = &e->m->hp;
    int32_t n_out = 0;
    e->n_last = 0;
    if (check_batch(e, b, &n_out, err, err_size) != 0 || grow_cache(e, err, err_size) != 0)
        return -1;
    for (int32_t i = 0; i < b->n_tokens; i++)
        e->seq_tok[b->seq_id[i]][b->pos[i]] = b->token[i];
    int nth = b->n_tokens == 1 ? e->p.n_threads : e->p.n_threads_batch;
    matmul_ctx_set_threads(e->mm, nth);
    int32_t n = b->n_tokens;
    if (e->att_tiles || hp->arch == ARCH_BERT)
        group_by_seq(e, b);
    if (hp->arch == ARCH_BERT)
        return bert_batch(e, b, nth, err, err_size) == 0 ? n_out : -1;
    if (op_get_rows(e->x, e->m->tok_embd.type, e->m->tok_embd.data, hp->n_vocab, hp->n_embd,
                    b->token, n) != 0) {
        for (int32_t s = 0; s < e->p.n_seq_max; s++)
            kv_cache_seq_rm(e->kv, s, e->seq_next[s] - e->seq_grow[s]);
        return errf(err, err_size, "cannot read token embeddings");
    }
    if (hp->embd_scale != 1.0f)
        op_scale(e->x, e->x, hp->embd_scale, (int64_t)n * hp->n_embd);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        attention_block(e, b, il, nth);
        ffn_block(e, b, il, nth);
    }
    return n_out;
}

int engine_decode(struct engine *e, const struct batch *b, char *err, size_t err_size)
{
    if (e->m->hp.arch == ARCH_BERT)
        return errf(err, err_size, "a bert model has no output head: it gives embeddings only");
    int32_t n_out = forward(e, b, err, err_size);
    if (n_out < 0)
        return -1;
    if (n_out > 0)
        compute_logits(e, b, n_out);
    e->n_last = b->n_tokens;
    return 0;
}

int engine_decode_embd(struct engine *e, const struct batch *b, float *out, char *err, size_t err_size)
{
    const struct model_hparams *hp = &e->m->hp;
    if (forward(e, b, err, err_size) < 0)
        return -1;
    if (hp->arch == ARCH_BERT) { /* the last layer's LayerNorm is the output */
        memcpy(out, e->x, (size_t)b->n_tokens * (size_t)hp->n_embd * sizeof(float));
        return 0;
    }
    for (int32_t i = 0; i < b->n_tokens; i++)
        op_rms_norm(out + (size_t)i * hp->n_embd, e->x + (size_t)i * hp->n_embd, e->m->output_norm.data,
                    hp->n_embd, hp->norm_eps);
    return 0;
}

int32_t engine_n_embd(const struct engine *e) { return e->m->hp.n_embd; }

const float *engine_logits(const struct engine *e, int32_t i)
{
    if (i < 0 || i >= e->n_last || e->out_row[i] < 0)
        return NULL;
    return e->logits + (size_t)e->out_row[i] * e->m->hp.n_vocab;
}

int32_t engine_n_vocab(const struct engine *e) { return e->m->hp.n_vocab; }
int32_t engine_n_ctx(const struct engine *e) { return e->p.n_ctx; }
const struct model *engine_model(const struct engine *e) { return e->m; }
int32_t engine_n_outputs_max(const struct engine *e) { return e->p.n_outputs_max; }
int engine_n_threads(const struct engine *e) { return e->p.n_threads; }

static int kv_discard(struct engine *e, int32_t seq, int32_t p0, int32_t n, char *err, size_t err_size)
{
    const struct model_hparams *hp = &e->m->hp;
    int32_t len = kv_cache_seq_len(e->kv, seq);
    if (seq < 0 || seq >= e->p.n_seq_max || p0 < 0 || n < 0 || p0 > len || n > len - p0)
        return errf(err, err_size, "cannot discard [%d, %d) of sequence %d (it holds %d positions)",
                    p0, p0 + n, seq, len);
    if (kv_cache_seq_discard(e->kv, seq, p0, n) != 0)
        return errf(err, err_size, "the KV cache is full: no page free to unshare sequence %d", seq);
    enum tensor_type tk = kv_cache_type_k(e->kv);
    float *row = e->kk; /* scratch: one K row */
    for (int32_t il = 0; il < hp->n_layer && n > 0; il++) {
        struct rope_params rp = layer_rope(hp, il);
        int32_t held = kv_cache_seq_start(e->kv, il, seq);
        for (int32_t q = p0 > held ? p0 : held; q < len - n; q++) {
            void *k = kv_cache_k(e->kv, il, seq, q);
            dequantize_row(tk, k, row, e->k_dim);
            op_rope(row, hp->n_head_kv, hp->head_dim_k, -(int64_t)n, &rp);
            e->k->from_float[tk](row, k, e->k_dim);
        }
    }
    e->n_last = 0;
    return 0;
}

/* ------------------------------------------------------------ sequences */

struct kv_cache *engine_cache(struct engine *e) { return e->kv; }

static bool seq_ok(const struct engine *e, int32_t seq) { return seq >= 0 && seq < e->p.n_seq_max; }

int32_t *engine_seq_reserve(struct engine *e, int32_t seq, int32_t n)
{
    if (!seq_ok(e, seq) || n < 0)
        return NULL;
    if (vec_reserve((void **)&e->seq_tok[seq], &e->seq_tok_cap[seq], (size_t)(n ? n : 1),
                    sizeof(int32_t)) != 0)
        return NULL;
    return e->seq_tok[seq];
}

int32_t engine_ctx_for_seqs(int32_t n_seqs, int32_t n_ctx_seq)
{
    int64_t ps = KV_DEFAULT_PAGE_SIZE;
    if (n_seqs < 0 || n_ctx_seq < 0)
        return -1;
    int64_t per_seq = ((int64_t)n_ctx_seq + ps - 1) / ps * ps + ps;
    int64_t n = per_seq * n_seqs;
    return n > INT32_MAX ? -1 : (int32_t)n;
}

int32_t engine_seq_len(const struct engine *e, int32_t seq) { return kv_cache_seq_len(e->kv, seq); }

const int32_t *engine_seq_tokens(const struct engine *e, int32_t seq)
{
    static const int32_t none[1];
    if (!seq_ok(e, seq))
        return NULL;
    return e->seq_tok[seq] ? e->seq_tok[seq] : none;
}

int32_t engine_seq_common_prefix(const struct engine *e, int32_t seq, const int32_t *tokens, int32_t n)
{
    int32_t len = engine_seq_len(e, seq), i = 0;
    const int32_t *t = e->seq_tok && seq_ok(e, seq) ? e->seq_tok[seq] : NULL;
    while (t && i < len && i < n && t[i] == tokens[i])
        i++;
    /* windowed layers: i must leave the keys of position i - 1 too (the
     * caller may evaluate the last common token again), as llama.cpp's
     * pos_min check; else nothing is reusable */
    if (i > 0 && !kv_cache_seq_usable(e->kv, seq, i - 1))
        return 0;
    return i;
}

int32_t engine_seq_usable(const struct engine *e, int32_t seq, int32_t n)
{
    if (!seq_ok(e, seq) || n < 0)
        return 0;
    int32_t len = engine_seq_len(e, seq);
    if (n > len)
        n = len;
    return kv_cache_seq_usable(e->kv, seq, n) ? n : 0;
}

int engine_seq_keep(struct engine *e, int32_t seq, int32_t n, char *err, size_t err_size)
{
    if (!seq_ok(e, seq))
        return err_set(err, err_size, "sequence id %d is out of range (0..%d)", seq, e->p.n_seq_max - 1);
    int32_t len = kv_cache_seq_len(e->kv, seq);
    if (n < 0 || n > len)
        return err_set(err, err_size, "cannot keep %d positions of sequence %d: it holds %d", n, seq, len);
    if (!kv_cache_seq_usable(e->kv, seq, n))
        return err_set(err, err_size, "cannot keep %d positions of sequence %d: its sliding-window layers "
                       "no longer hold the keys position %d needs (evaluate it again)", n, seq, n);
    kv_cache_seq_rm(e->kv, seq, n);
    return 0;
}

int engine_seq_copy(struct engine *e, int32_t src, int32_t dst, int32_t n, char *err, size_t err_size)
{
    if (!seq_ok(e, src) || !seq_ok(e, dst))
        return err_set(err, err_size, "cannot copy sequence %d to %d: ids are 0..%d", src, dst,
                       e->p.n_seq_max - 1);
    int32_t len = kv_cache_seq_len(e->kv, src);
    if (n < 0 || n > len)
        return err_set(err, err_size, "cannot copy %d positions of sequence %d: it holds %d", n, src, len);
    if (!kv_cache_seq_usable(e->kv, src, n))
        return err_set(err, err_size, "cannot copy %d positions of sequence %d: its sliding-window layers "
                       "no longer hold the keys position %d needs", n, src, n);
    if (src == dst) {
        kv_cache_seq_rm(e->kv, dst, n);
        return 0;
    }
    if (engine_seq_reserve(e, dst, n) == NULL)
        return err_set(err, err_size, "out of memory for the tokens of sequence %d", dst);
    if (kv_cache_seq_cp(e->kv, src, dst) != 0)
        return err_set(err, err_size, "cannot copy sequence %d to %d", src, dst);
    kv_cache_seq_rm(e->kv, dst, n);
    if (n > 0)
        memcpy(e->seq_tok[dst], e->seq_tok[src], (size_t)n * sizeof(int32_t));
    return 0;
}

void engine_seq_clear(struct engine *e, int32_t seq)
{
    if (seq < 0)
        kv_cache_clear(e->kv);
    else
        kv_cache_seq_rm(e->kv, seq, 0);
}

int engine_seq_discard(struct engine *e, int32_t seq, int32_t p0, int32_t n, char *err, size_t err_size)
{
    int32_t len = kv_cache_seq_len(e->kv, seq);
    if (kv_discard(e, seq, p0, n, err, err_size) != 0)
        return -1;
    if (n > 0)
        memmove(e->seq_tok[seq] + p0, e->seq_tok[seq] + p0 + n, (size_t)(len - p0 - n) * sizeof(int32_t));
    return 0;
}

int32_t engine_seq_pages(const struct engine *e, int32_t seq) { return kv_cache_seq_pages(e->kv, seq); }

size_t engine_model_bytes(const struct model *m)
{
    size_t n = m->tok_embd.nbytes + m->output_norm.nbytes + m->pos_embd.nbytes + m->type_embd.nbytes +
               m->embd_norm.nbytes + m->embd_norm_b.nbytes;
    if (m->output.data != m->tok_embd.data)
        n += m->output.nbytes;
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        const struct layer_weights *l = &m->layers[il];
        const struct weight *w[] = { &l->attn_norm, &l->wq, &l->wk, &l->wv, &l->wo, &l->bq, &l->bk, &l->bv,
                                     &l->q_norm, &l->k_norm, &l->post_attn_norm, &l->ffn_norm, &l->ffn_gate,
                                     &l->ffn_up, &l->ffn_down, &l->post_ffn_norm, &l->bo, &l->attn_out_norm,
                                     &l->attn_out_norm_b, &l->layer_out_norm, &l->layer_out_norm_b,
                                     &l->ffn_up_b, &l->ffn_down_b };
        for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
            n += w[i]->nbytes;
    }
    return n;
}

void engine_memory(const struct engine *e, struct engine_memory *mem)
{
    memset(mem, 0, sizeof(*mem));
    mem->weights_bytes = engine_model_bytes(e->m);
    mem->scratch_bytes = e->scratch_bytes;
    mem->n_groups = kv_cache_n_groups(e->kv);
    for (int32_t g = 0; g < mem->n_groups && g < 2; g++) {
        struct kv_group_stats st;
        kv_cache_group_stats(e->kv, g, &st);
        struct engine_kv_group *o = &mem->kv[g];
        o->n_layer = st.n_layer;
        o->window = st.window;
        o->windowed = st.trimmed;
        o->pages_total = st.n_pages;
        o->pages_used = st.n_used;
        o->pages_shared = st.n_shared;
        o->pages_free = st.n_free;
        o->pages_resident = st.n_resident;
        o->page_bytes = st.page_bytes;
        o->token_layer_bytes = st.token_layer_bytes;
        mem->kv_bytes_max += (size_t)st.n_pages * st.page_bytes;
        mem->kv_bytes_used += (size_t)st.n_used * st.page_bytes;
        mem->kv_bytes_resident += (size_t)st.n_resident * st.page_bytes;
        mem->pages_used += st.n_used;
        mem->pages_shared += st.n_shared;
        mem->pages_free += st.n_free;
    }
    mem->page_size = kv_cache_page_size(e->kv);
}

void engine_kv_usage(const struct engine *e, int32_t *used, int32_t *size)
{
    int32_t ps = kv_cache_page_size(e->kv), np = kv_cache_n_pages(e->kv);
    *used = (np - kv_cache_free_pages(e->kv)) * ps;
    *size = np * ps;
}
