/*
 * kv_cache.c - the paged key/value cache (see kv_cache.h).
 *
 * Storage is one array per layer for K and one for V, each holding n_pages
 * pages of page_size rows. A page id names the same page in every layer's
 * arrays. Free pages sit on a stack; pages in use carry a reference count
 * (the number of sequence page tables that hold them).
 */
#include "engine/kv_cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kv_seq {
    int32_t len;
    int32_t *pages; /* page table: capacity n_pages */
};

struct kv_cache {
    int32_t page_size, n_pages, n_layer, n_seq;
    enum tensor_type type_k, type_v;
    size_t k_row, v_row;
    uint8_t **k, **v;  /* per layer: n_pages * page_size rows */
    int32_t *refs;     /* per page */
    int32_t *free_stack;
    int32_t n_free;
    struct kv_seq *seqs;
};

static int32_t pages_for(int32_t len, int32_t ps) { return (len + ps - 1) / ps; }

static bool kv_type_ok(enum tensor_type t)
{
    return t == TYPE_F16 || t == TYPE_F32 || t == TYPE_Q8_0;
}

static bool check_params(const struct kv_cache_params *p, int32_t ps, char *err, size_t es)
{
    const char *why = NULL;
    if (p->n_ctx <= 0 || p->n_seq_max <= 0 || p->n_layer <= 0 || p->n_embd_k <= 0 || p->n_embd_v <= 0)
        why = "n_ctx, n_seq_max, n_layer and the row sizes must be positive";
    else if (ps <= 0 || ps > 4096)
        why = "page size must be 1..4096";
    else if (!kv_type_ok(p->type_k) || !kv_type_ok(p->type_v))
        why = "cache types must be f16, f32 or q8_0";
    else if (type_row_size(p->type_k, p->n_embd_k) == 0 || type_row_size(p->type_v, p->n_embd_v) == 0)
        why = "q8_0 cache rows must be a multiple of 32 values";
    if (why && err && es)
        snprintf(err, es, "KV cache: %s", why);
    return why == NULL;
}

static uint8_t *alloc_layer(size_t bytes)
{
    size_t cap = (bytes + 63) / 64 * 64;
    uint8_t *p = aligned_alloc(64, cap ? cap : 64);
    if (p)
        memset(p, 0, cap);
    return p;
}

struct kv_cache *kv_cache_create(const struct kv_cache_params *p, char *err, size_t err_size)
{
    int32_t ps = p->page_size ? p->page_size : KV_DEFAULT_PAGE_SIZE;
    if (!check_params(p, ps, err, err_size))
        return NULL;
    struct kv_cache *kv = calloc(1, sizeof(*kv));
    if (kv == NULL)
        goto oom;
    kv->page_size = ps;
    /* every sequence may hold one partly filled page besides n_ctx positions */
    kv->n_pages = pages_for(p->n_ctx, ps) + p->n_seq_max;
    kv->n_layer = p->n_layer;
    kv->n_seq = p->n_seq_max;
    kv->type_k = p->type_k;
    kv->type_v = p->type_v;
    kv->k_row = type_row_size(p->type_k, p->n_embd_k);
    kv->v_row = type_row_size(p->type_v, p->n_embd_v);
    kv->k = calloc((size_t)kv->n_layer, sizeof(*kv->k));
    kv->v = calloc((size_t)kv->n_layer, sizeof(*kv->v));
    kv->refs = calloc((size_t)kv->n_pages, sizeof(*kv->refs));
    kv->free_stack = malloc((size_t)kv->n_pages * sizeof(*kv->free_stack));
    kv->seqs = calloc((size_t)kv->n_seq, sizeof(*kv->seqs));
    if (!kv->k || !kv->v || !kv->refs || !kv->free_stack || !kv->seqs)
        goto oom;
    size_t rows = (size_t)kv->n_pages * (size_t)ps;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        kv->k[il] = alloc_layer(rows * kv->k_row);
        kv->v[il] = alloc_layer(rows * kv->v_row);
        if (!kv->k[il] || !kv->v[il])
            goto oom;
    }
    for (int32_t s = 0; s < kv->n_seq; s++) {
        kv->seqs[s].pages = malloc((size_t)kv->n_pages * sizeof(int32_t));
        if (kv->seqs[s].pages == NULL)
            goto oom;
    }
    kv_cache_clear(kv);
    return kv;
oom:
    kv_cache_free(kv);
    if (err && err_size)
        snprintf(err, err_size, "KV cache: out of memory for %d positions", p->n_ctx);
    return NULL;
}

void kv_cache_free(struct kv_cache *kv)
{
    if (kv == NULL)
        return;
    for (int32_t il = 0; kv->k && il < kv->n_layer; il++)
        free(kv->k[il]);
    for (int32_t il = 0; kv->v && il < kv->n_layer; il++)
        free(kv->v[il]);
    for (int32_t s = 0; kv->seqs && s < kv->n_seq; s++)
        free(kv->seqs[s].pages);
    free(kv->k);
    free(kv->v);
    free(kv->refs);
    free(kv->free_stack);
    free(kv->seqs);
    free(kv);
}

void kv_cache_clear(struct kv_cache *kv)
{
    for (int32_t s = 0; s < kv->n_seq; s++)
        kv->seqs[s].len = 0;
    kv->n_free = 0;
    for (int32_t pg = kv->n_pages - 1; pg >= 0; pg--) {
        kv->refs[pg] = 0;
        kv->free_stack[kv->n_free++] = pg;
    }
}

static bool seq_ok(const struct kv_cache *kv, int32_t seq) { return seq >= 0 && seq < kv->n_seq; }

int32_t kv_cache_seq_len(const struct kv_cache *kv, int32_t seq)
{
    return seq_ok(kv, seq) ? kv->seqs[seq].len : 0;
}

int32_t kv_cache_n_pages(const struct kv_cache *kv) { return kv->n_pages; }
int32_t kv_cache_free_pages(const struct kv_cache *kv) { return kv->n_free; }
int32_t kv_cache_page_size(const struct kv_cache *kv) { return kv->page_size; }
size_t kv_cache_k_row_size(const struct kv_cache *kv) { return kv->k_row; }
size_t kv_cache_v_row_size(const struct kv_cache *kv) { return kv->v_row; }
enum tensor_type kv_cache_type_k(const struct kv_cache *kv) { return kv->type_k; }
enum tensor_type kv_cache_type_v(const struct kv_cache *kv) { return kv->type_v; }

static int32_t page_take(struct kv_cache *kv)
{
    int32_t pg = kv->free_stack[--kv->n_free];
    kv->refs[pg] = 1;
    return pg;
}

static void page_release(struct kv_cache *kv, int32_t pg)
{
    if (--kv->refs[pg] == 0)
        kv->free_stack[kv->n_free++] = pg;
}

/* Copy rows [0, n) of page src to page dst in every layer. */
static void page_copy(struct kv_cache *kv, int32_t dst, int32_t src, int32_t n)
{
    size_t ps = (size_t)kv->page_size;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        memcpy(kv->k[il] + (size_t)dst * ps * kv->k_row, kv->k[il] + (size_t)src * ps * kv->k_row,
               (size_t)n * kv->k_row);
        memcpy(kv->v[il] + (size_t)dst * ps * kv->v_row, kv->v[il] + (size_t)src * ps * kv->v_row,
               (size_t)n * kv->v_row);
    }
}

/* Give seq its own copy of page table entry i (which holds `used` rows). */
static void page_unshare(struct kv_cache *kv, struct kv_seq *s, int32_t i, int32_t used)
{
    int32_t old = s->pages[i];
    int32_t pg = page_take(kv);
    page_copy(kv, pg, old, used);
    page_release(kv, old);
    s->pages[i] = pg;
}

int32_t kv_cache_room(const struct kv_cache *kv, int32_t seq)
{
    if (!seq_ok(kv, seq))
        return 0;
    const struct kv_seq *s = &kv->seqs[seq];
    int32_t ps = kv->page_size, tail = s->len % ps;
    int32_t in_last = tail == 0 ? 0 : ps - tail;
    int32_t free_pages = kv->n_free;
    if (tail != 0 && kv->refs[s->pages[s->len / ps]] > 1)
        free_pages--; /* appending copies the shared last page first */
    if (free_pages < 0)
        return 0;
    return in_last + free_pages * ps;
}

int kv_cache_seq_grow(struct kv_cache *kv, int32_t seq, int32_t n)
{
    if (!seq_ok(kv, seq) || n < 0)
        return -1;
    struct kv_seq *s = &kv->seqs[seq];
    int32_t ps = kv->page_size;
    if (n > kv_cache_room(kv, seq))
        return -1;
    int32_t have = pages_for(s->len, ps);
    int32_t need = pages_for(s->len + n, ps);
    if (n > 0 && s->len % ps != 0 && kv->refs[s->pages[have - 1]] > 1)
        page_unshare(kv, s, have - 1, s->len % ps);
    for (int32_t i = have; i < need; i++)
        s->pages[i] = page_take(kv);
    s->len += n;
    return 0;
}

void kv_cache_seq_rm(struct kv_cache *kv, int32_t seq, int32_t p0)
{
    if (!seq_ok(kv, seq))
        return;
    struct kv_seq *s = &kv->seqs[seq];
    int32_t new_len = p0 < 0 ? 0 : (p0 < s->len ? p0 : s->len);
    int32_t keep = pages_for(new_len, kv->page_size), have = pages_for(s->len, kv->page_size);
    for (int32_t i = keep; i < have; i++)
        page_release(kv, s->pages[i]);
    s->len = new_len;
}

int kv_cache_seq_cp(struct kv_cache *kv, int32_t src, int32_t dst)
{
    if (!seq_ok(kv, src) || !seq_ok(kv, dst))
        return -1;
    if (src == dst)
        return 0;
    kv_cache_seq_rm(kv, dst, 0);
    struct kv_seq *s = &kv->seqs[src], *d = &kv->seqs[dst];
    int32_t n = pages_for(s->len, kv->page_size);
    for (int32_t i = 0; i < n; i++) {
        d->pages[i] = s->pages[i];
        kv->refs[s->pages[i]]++;
    }
    d->len = s->len;
    return 0;
}

static uint8_t *row_at(struct kv_cache *kv, uint8_t *base, size_t row, int32_t page, int32_t slot)
{
    return base + ((size_t)page * (size_t)kv->page_size + (size_t)slot) * row;
}

int kv_cache_seq_discard(struct kv_cache *kv, int32_t seq, int32_t p0, int32_t n)
{
    if (!seq_ok(kv, seq))
        return -1;
    struct kv_seq *s = &kv->seqs[seq];
    if (p0 < 0 || n < 0 || p0 > s->len || n > s->len - p0)
        return -1;
    if (n == 0)
        return 0;
    int32_t ps = kv->page_size, first = p0 / ps, have = pages_for(s->len, ps);
    int32_t shared = 0;
    for (int32_t i = first; i < have; i++)
        shared += kv->refs[s->pages[i]] > 1;
    if (shared > kv->n_free)
        return -1;
    for (int32_t i = first; i < have; i++)
        if (kv->refs[s->pages[i]] > 1)
            page_unshare(kv, s, i, i == have - 1 && s->len % ps ? s->len % ps : ps);
    for (int32_t q = p0 + n; q < s->len; q++) {
        int32_t from_pg = s->pages[q / ps], to_pg = s->pages[(q - n) / ps];
        for (int32_t il = 0; il < kv->n_layer; il++) {
            memcpy(row_at(kv, kv->k[il], kv->k_row, to_pg, (q - n) % ps),
                   row_at(kv, kv->k[il], kv->k_row, from_pg, q % ps), kv->k_row);
            memcpy(row_at(kv, kv->v[il], kv->v_row, to_pg, (q - n) % ps),
                   row_at(kv, kv->v[il], kv->v_row, from_pg, q % ps), kv->v_row);
        }
    }
    kv_cache_seq_rm(kv, seq, s->len - n);
    return 0;
}

void *kv_cache_k(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos)
{
    const struct kv_seq *s = &kv->seqs[seq];
    return row_at(kv, kv->k[il], kv->k_row, s->pages[pos / kv->page_size], pos % kv->page_size);
}

void *kv_cache_v(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos)
{
    const struct kv_seq *s = &kv->seqs[seq];
    return row_at(kv, kv->v[il], kv->v_row, s->pages[pos / kv->page_size], pos % kv->page_size);
}

int32_t kv_cache_page_of(const struct kv_cache *kv, int32_t seq, int32_t pos)
{
    if (!seq_ok(kv, seq) || pos < 0 || pos >= kv->seqs[seq].len)
        return -1;
    return kv->seqs[seq].pages[pos / kv->page_size];
}

int32_t kv_cache_page_refs(const struct kv_cache *kv, int32_t page)
{
    return page >= 0 && page < kv->n_pages ? kv->refs[page] : 0;
}
