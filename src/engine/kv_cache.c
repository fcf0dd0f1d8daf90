/*
 * kv_cache.c - the paged key/value cache (see kv_cache.h).
 *
 * Storage is one anonymous mapping per group of layers (full-context layers,
 * sliding-window layers), reserved with MAP_NORESERVE and never cleared:
 * the system gives a page zeroed memory the first time it is written. A
 * page id names one page of the group: for each of its layers, page_size K
 * rows then page_size V rows, so a page is one contiguous range that can be
 * given back to the system in one madvise.
 *
 * Free pages sit on a stack: the resident ones (touched, not given back) on
 * top, so they are taken first, and the others below. When more than
 * `slack` resident pages are free, the coldest of them go back to the system
 * (MADV_DONTNEED) and join the others. Pages in use carry a reference count
 * (the number of sequence page tables that hold them).
 *
 * A sequence's length is shared by its groups; in each group it holds the
 * pages [first, pages_for(len)) (none when first >= pages_for(len)) and the
 * positions [start, len) (start >= first * page_size; a full-context group
 * has first = start = 0).
 */
#include "engine/kv_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct kv_gseq {
    int32_t first;  /* first page index held */
    int32_t start;  /* first position held */
    int32_t *pages; /* page table, by absolute page index: capacity tab_cap */
};

struct kv_group {
    int32_t n_layer;
    int32_t window;       /* 0: full context; else keys a query sees */
    bool trim;            /* drop what the window no longer sees */
    int32_t n_pages;
    size_t k_block, v_block; /* bytes of one layer's K (V) rows in a page */
    size_t page_bytes;
    uint8_t *base;        /* mapping of n_pages * page_bytes */
    size_t map_bytes;
    int32_t *refs;
    uint8_t *resident;
    int32_t *free_stack;  /* [0, n_free): below n_free - n_free_res not resident */
    int32_t n_free, n_free_res, n_resident, n_shared, slack;
    struct kv_gseq *seqs;
};

struct kv_cache {
    int32_t page_size, n_layer, n_seq, tab_cap, n_groups;
    enum tensor_type type_k, type_v;
    size_t k_row, v_row;
    int32_t *len;            /* per sequence */
    int32_t *layer_group;    /* per layer */
    int32_t *layer_index;    /* per layer: its index in its group */
    int32_t *scratch;        /* tab_cap page ids (discard) */
    struct kv_group groups[2];
};

static int32_t pages_for(int32_t len, int32_t ps) { return (len + ps - 1) / ps; }
static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

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
    else if (p->layer_swa && p->swa_window <= 0)
        why = "windowed layers need a window of at least one position";
    if (why && err && es)
        snprintf(err, es, "KV cache: %s", why);
    return why == NULL;
}

/* ------------------------------------------------------------ pages */

/* Give pg's memory back to the system (its whole OS pages). */
static void page_forget(struct kv_group *g, int32_t pg)
{
    static size_t os_page;
    if (os_page == 0) {
        long sz = sysconf(_SC_PAGESIZE);
        os_page = sz > 0 ? (size_t)sz : 4096;
    }
    uintptr_t a = (uintptr_t)(g->base + (size_t)pg * g->page_bytes);
    uintptr_t b = a + g->page_bytes;
    a = round_up(a, os_page);
    b = b / os_page * os_page;
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

static void group_reclaim(struct kv_group *g)
{
    while (g->n_free_res > g->slack) {
        int32_t pg = g->free_stack[g->n_free - g->n_free_res];
        page_forget(g, pg);
        g->resident[pg] = 0;
        g->n_resident--;
        g->n_free_res--;
    }
}

static int32_t page_take(struct kv_group *g)
{
    int32_t pg = g->free_stack[--g->n_free];
    if (g->n_free_res > 0)
        g->n_free_res--;
    if (!g->resident[pg]) {
        g->resident[pg] = 1;
        g->n_resident++;
    }
    g->refs[pg] = 1;
    return pg;
}

static void page_ref(struct kv_group *g, int32_t pg)
{
    if (++g->refs[pg] == 2)
        g->n_shared++;
}

static void page_release(struct kv_group *g, int32_t pg)
{
    if (--g->refs[pg] == 1)
        g->n_shared--;
    if (g->refs[pg] == 0) {
        g->free_stack[g->n_free++] = pg;
        g->n_free_res++;
    }
}

static uint8_t *k_at(const struct kv_cache *kv, const struct kv_group *g, int32_t j, int32_t pg, int32_t slot)
{
    return g->base + (size_t)pg * g->page_bytes + (size_t)j * (g->k_block + g->v_block) + (size_t)slot * kv->k_row;
}

static uint8_t *v_at(const struct kv_cache *kv, const struct kv_group *g, int32_t j, int32_t pg, int32_t slot)
{
    return g->base + (size_t)pg * g->page_bytes + (size_t)j * (g->k_block + g->v_block) + g->k_block +
           (size_t)slot * kv->v_row;
}

/* Copy rows [0, n) of page src to page dst in every layer of g. */
static void page_copy(struct kv_cache *kv, struct kv_group *g, int32_t dst, int32_t src, int32_t n)
{
    for (int32_t j = 0; j < g->n_layer; j++) {
        memcpy(k_at(kv, g, j, dst, 0), k_at(kv, g, j, src, 0), (size_t)n * kv->k_row);
        memcpy(v_at(kv, g, j, dst, 0), v_at(kv, g, j, src, 0), (size_t)n * kv->v_row);
    }
}

/* Give the sequence its own copy of page table entry i (`used` rows). */
static void page_unshare(struct kv_cache *kv, struct kv_group *g, struct kv_gseq *s, int32_t i, int32_t used)
{
    int32_t old = s->pages[i];
    int32_t pg = page_take(g);
    page_copy(kv, g, pg, old, used);
    page_release(g, old);
    s->pages[i] = pg;
}

/* ------------------------------------------------------------ set-up */

static int group_init(struct kv_cache *kv, struct kv_group *g, int32_t n_pages)
{
    g->n_pages = n_pages;
    g->k_block = round_up((size_t)kv->page_size * kv->k_row, 64);
    g->v_block = round_up((size_t)kv->page_size * kv->v_row, 64);
    g->page_bytes = (size_t)g->n_layer * (g->k_block + g->v_block);
    if (g->page_bytes >= 16384)
        g->page_bytes = round_up(g->page_bytes, 4096); /* whole OS pages to give back */
    g->map_bytes = (size_t)n_pages * g->page_bytes;
    void *m = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    g->base = m;
    g->refs = calloc((size_t)n_pages, sizeof(*g->refs));
    g->resident = calloc((size_t)n_pages, 1);
    g->free_stack = malloc((size_t)n_pages * sizeof(*g->free_stack));
    g->seqs = calloc((size_t)kv->n_seq, sizeof(*g->seqs));
    if (!g->refs || !g->resident || !g->free_stack || !g->seqs)
        return -1;
    for (int32_t s = 0; s < kv->n_seq; s++) {
        g->seqs[s].pages = malloc((size_t)kv->tab_cap * sizeof(int32_t));
        if (g->seqs[s].pages == NULL)
            return -1;
    }
    g->slack = kv->n_seq > KV_RESIDENT_SLACK_MIN ? kv->n_seq : KV_RESIDENT_SLACK_MIN;
    return 0;
}

static void group_free(struct kv_cache *kv, struct kv_group *g)
{
    if (g->base)
        munmap(g->base, g->map_bytes);
    for (int32_t s = 0; g->seqs && s < kv->n_seq; s++)
        free(g->seqs[s].pages);
    free(g->seqs);
    free(g->refs);
    free(g->resident);
    free(g->free_stack);
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
    kv->n_layer = p->n_layer;
    kv->n_seq = p->n_seq_max;
    kv->type_k = p->type_k;
    kv->type_v = p->type_v;
    kv->k_row = type_row_size(p->type_k, p->n_embd_k);
    kv->v_row = type_row_size(p->type_v, p->n_embd_v);
    /* every sequence may hold one partly filled page besides n_ctx positions */
    int32_t full_pages = pages_for(p->n_ctx, ps) + p->n_seq_max;
    kv->tab_cap = full_pages + 1;
    kv->len = calloc((size_t)kv->n_seq, sizeof(*kv->len));
    kv->layer_group = calloc((size_t)kv->n_layer, sizeof(int32_t));
    kv->layer_index = calloc((size_t)kv->n_layer, sizeof(int32_t));
    kv->scratch = malloc((size_t)kv->tab_cap * sizeof(int32_t));
    if (!kv->len || !kv->layer_group || !kv->layer_index || !kv->scratch)
        goto oom;
    /* group 0: the full-context layers; group 1: the windowed ones */
    int32_t n_swa = 0;
    for (int32_t il = 0; il < kv->n_layer; il++)
        n_swa += p->layer_swa && p->layer_swa[il];
    int32_t g_swa = n_swa == kv->n_layer ? 0 : 1;
    kv->n_groups = n_swa == 0 || n_swa == kv->n_layer ? 1 : 2;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        int32_t g = p->layer_swa && p->layer_swa[il] ? g_swa : 0;
        kv->layer_group[il] = g;
        kv->layer_index[il] = kv->groups[g].n_layer++;
    }
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        struct kv_group *g = &kv->groups[gi];
        int32_t n_pages = full_pages;
        if (n_swa > 0 && gi == g_swa) {
            g->window = p->swa_window;
            g->trim = !p->swa_full;
            if (g->trim) {
                int32_t grow = p->n_grow_max > 0 ? p->n_grow_max : p->n_ctx;
                int64_t per_seq = ((int64_t)p->swa_window + grow + ps - 1) / ps + 4;
                if (per_seq * p->n_seq_max < n_pages)
                    n_pages = (int32_t)(per_seq * p->n_seq_max);
            }
        }
        if (group_init(kv, g, n_pages) != 0)
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
    for (int32_t gi = 0; gi < 2; gi++)
        group_free(kv, &kv->groups[gi]);
    free(kv->len);
    free(kv->layer_group);
    free(kv->layer_index);
    free(kv->scratch);
    free(kv);
}

void kv_cache_clear(struct kv_cache *kv)
{
    for (int32_t s = 0; s < kv->n_seq; s++)
        kv->len[s] = 0;
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        struct kv_group *g = &kv->groups[gi];
        /* the resident pages on top, the lowest ids topmost */
        g->n_free = 0;
        for (int32_t pg = g->n_pages - 1; pg >= 0; pg--)
            if (!g->resident[pg])
                g->free_stack[g->n_free++] = pg;
        g->n_free_res = 0;
        for (int32_t pg = g->n_pages - 1; pg >= 0; pg--) {
            g->refs[pg] = 0;
            if (g->resident[pg]) {
                g->free_stack[g->n_free++] = pg;
                g->n_free_res++;
            }
        }
        g->n_shared = 0;
        for (int32_t s = 0; s < kv->n_seq; s++)
            g->seqs[s].first = g->seqs[s].start = 0;
        group_reclaim(g);
    }
}

/* ------------------------------------------------------------ queries */

static bool seq_ok(const struct kv_cache *kv, int32_t seq) { return seq >= 0 && seq < kv->n_seq; }

int32_t kv_cache_seq_len(const struct kv_cache *kv, int32_t seq)
{
    return seq_ok(kv, seq) ? kv->len[seq] : 0;
}

int32_t kv_cache_n_pages(const struct kv_cache *kv) { return kv->groups[0].n_pages; }
int32_t kv_cache_free_pages(const struct kv_cache *kv) { return kv->groups[0].n_free; }
int32_t kv_cache_page_size(const struct kv_cache *kv) { return kv->page_size; }
size_t kv_cache_k_row_size(const struct kv_cache *kv) { return kv->k_row; }
size_t kv_cache_v_row_size(const struct kv_cache *kv) { return kv->v_row; }
enum tensor_type kv_cache_type_k(const struct kv_cache *kv) { return kv->type_k; }
enum tensor_type kv_cache_type_v(const struct kv_cache *kv) { return kv->type_v; }

static const struct kv_group *swa_group(const struct kv_cache *kv)
{
    for (int32_t gi = 0; gi < kv->n_groups; gi++)
        if (kv->groups[gi].window > 0)
            return &kv->groups[gi];
    return NULL;
}

int32_t kv_cache_swa_window(const struct kv_cache *kv)
{
    const struct kv_group *g = swa_group(kv);
    return g ? g->window : 0;
}

int32_t kv_cache_seq_start(const struct kv_cache *kv, int32_t il, int32_t seq)
{
    return kv->groups[kv->layer_group[il]].seqs[seq].start;
}

int32_t kv_cache_seq_swa_start(const struct kv_cache *kv, int32_t seq)
{
    const struct kv_group *g = swa_group(kv);
    return g && seq_ok(kv, seq) ? g->seqs[seq].start : 0;
}

bool kv_cache_seq_usable(const struct kv_cache *kv, int32_t seq, int32_t n)
{
    if (!seq_ok(kv, seq) || n < 0 || n > kv->len[seq])
        return false;
    const struct kv_group *g = swa_group(kv);
    if (g == NULL || n == 0)
        return true;
    int32_t need = n - g->window + 1;
    return g->seqs[seq].start <= (need > 0 ? need : 0);
}

/* Page index before which a windowed group may drop pages when seq, now
 * len positions long, grows (one page of margin is kept). */
static int32_t trim_first(const struct kv_cache *kv, const struct kv_group *g, int32_t len)
{
    if (!g->trim)
        return 0;
    int32_t lo = len - g->window + 1;
    return lo > 0 ? lo / kv->page_size - 1 : 0;
}

/* Can g's part of seq (len positions) grow by n? Pages freed by the trim
 * count as free when nobody else holds them. */
static int32_t group_room(const struct kv_cache *kv, const struct kv_group *g, int32_t seq)
{
    const struct kv_gseq *s = &g->seqs[seq];
    int32_t ps = kv->page_size, len = kv->len[seq], have = pages_for(len, ps);
    int32_t first = s->first, to = trim_first(kv, g, len);
    int32_t free_pages = g->n_free;
    for (int32_t i = first; i < to && i < have; i++)
        free_pages += g->refs[s->pages[i]] == 1;
    if (to > first)
        first = to;
    int32_t tail = len % ps, in_last = 0;
    if (tail != 0) {
        if (first < have) {
            in_last = ps - tail;
            if (g->refs[s->pages[have - 1]] > 1)
                free_pages--; /* appending copies the shared last page first */
        } else {
            free_pages--;     /* the partly filled page is not held: a fresh one */
            in_last = ps - tail;
        }
    }
    if (free_pages < 0)
        return 0;
    int64_t room = (int64_t)in_last + (int64_t)free_pages * ps;
    int64_t cap = (int64_t)kv->tab_cap * ps - len; /* the page table's end */
    if (room > cap)
        room = cap;
    return room > INT32_MAX ? INT32_MAX : (int32_t)room;
}

int32_t kv_cache_room(const struct kv_cache *kv, int32_t seq)
{
    if (!seq_ok(kv, seq))
        return 0;
    int32_t room = INT32_MAX;
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        int32_t r = group_room(kv, &kv->groups[gi], seq);
        if (r < room)
            room = r;
    }
    return room;
}

/* ------------------------------------------------------------ changes */

static void group_trim(struct kv_cache *kv, struct kv_group *g, int32_t seq)
{
    struct kv_gseq *s = &g->seqs[seq];
    int32_t len = kv->len[seq], have = pages_for(len, kv->page_size);
    int32_t to = trim_first(kv, g, len);
    if (to <= s->first)
        return;
    for (int32_t i = s->first; i < to && i < have; i++)
        page_release(g, s->pages[i]);
    s->first = to;
    if (s->start < to * kv->page_size)
        s->start = to * kv->page_size;
}

static void group_grow(struct kv_cache *kv, struct kv_group *g, int32_t seq, int32_t n)
{
    struct kv_gseq *s = &g->seqs[seq];
    int32_t ps = kv->page_size, len = kv->len[seq];
    group_trim(kv, g, seq);
    int32_t have = pages_for(len, ps), need = pages_for(len + n, ps);
    if (s->first >= have) { /* nothing held: start afresh at len */
        s->first = len / ps;
        s->start = len;
        for (int32_t i = s->first; i < need; i++)
            s->pages[i] = page_take(g);
        return;
    }
    if (len % ps != 0 && g->refs[s->pages[have - 1]] > 1)
        page_unshare(kv, g, s, have - 1, len % ps);
    for (int32_t i = have; i < need; i++)
        s->pages[i] = page_take(g);
}

int kv_cache_seq_grow(struct kv_cache *kv, int32_t seq, int32_t n)
{
    if (!seq_ok(kv, seq) || n < 0)
        return -1;
    if (n == 0)
        return 0;
    if (n > kv_cache_room(kv, seq))
        return -1;
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        group_grow(kv, &kv->groups[gi], seq, n);
        group_reclaim(&kv->groups[gi]);
    }
    kv->len[seq] += n;
    return 0;
}

static void group_rm(struct kv_cache *kv, struct kv_group *g, int32_t seq, int32_t new_len)
{
    struct kv_gseq *s = &g->seqs[seq];
    int32_t ps = kv->page_size;
    int32_t keep = pages_for(new_len, ps), have = pages_for(kv->len[seq], ps);
    for (int32_t i = keep > s->first ? keep : s->first; i < have; i++)
        page_release(g, s->pages[i]);
    if (s->first >= keep) { /* nothing left */
        s->first = keep;
        s->start = new_len;
    } else if (s->start > new_len) {
        s->start = new_len;
    }
    if (new_len == 0)
        s->first = s->start = 0;
    group_reclaim(g);
}

void kv_cache_seq_rm(struct kv_cache *kv, int32_t seq, int32_t p0)
{
    if (!seq_ok(kv, seq))
        return;
    int32_t len = kv->len[seq];
    int32_t new_len = p0 < 0 ? 0 : (p0 < len ? p0 : len);
    for (int32_t gi = 0; gi < kv->n_groups; gi++)
        group_rm(kv, &kv->groups[gi], seq, new_len);
    kv->len[seq] = new_len;
}

int kv_cache_seq_cp(struct kv_cache *kv, int32_t src, int32_t dst)
{
    if (!seq_ok(kv, src) || !seq_ok(kv, dst))
        return -1;
    if (src == dst)
        return 0;
    kv_cache_seq_rm(kv, dst, 0);
    int32_t have = pages_for(kv->len[src], kv->page_size);
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        struct kv_group *g = &kv->groups[gi];
        struct kv_gseq *s = &g->seqs[src], *d = &g->seqs[dst];
        for (int32_t i = s->first; i < have; i++) {
            d->pages[i] = s->pages[i];
            page_ref(g, s->pages[i]);
        }
        d->first = s->first;
        d->start = s->start;
    }
    kv->len[dst] = kv->len[src];
    return 0;
}

/* Discard in one group (see kv_cache_seq_discard). The positions d kept at
 * or after max(p0, new start) take the rows of d + n. The held pages, in
 * order, plus fresh ones at the end, form a list indexed by "linear" row
 * l (page l / page_size - first, slot l % page_size): before the move,
 * position q is at l = q; after it, position d is at l = d + D, where
 * D = (first - new first) * page_size (0 unless a windowed group's held
 * range moves down with the rows). Rows are moved in ascending d when
 * D <= n, descending otherwise, so none is overwritten before it is read. */
struct discard_plan {
    int32_t new_start, new_first, shift, d_lo, n_list, extra, unshare;
};

static void plan_discard(const struct kv_cache *kv, const struct kv_group *g, int32_t seq, int32_t p0,
                         int32_t n, struct discard_plan *pl)
{
    const struct kv_gseq *s = &g->seqs[seq];
    int32_t ps = kv->page_size, len = kv->len[seq], new_len = len - n, have = pages_for(len, ps);
    memset(pl, 0, sizeof(*pl));
    pl->new_start = s->start <= p0 ? s->start : (s->start - n > p0 ? s->start - n : p0);
    if (s->first >= have || pl->new_start >= new_len) {
        pl->n_list = -1; /* nothing kept */
        return;
    }
    pl->new_first = s->start <= p0 ? s->first : pl->new_start / ps;
    if (pl->new_first > s->first)
        pl->new_first = s->first;
    pl->shift = (s->first - pl->new_first) * ps;
    pl->d_lo = p0 > pl->new_start ? p0 : pl->new_start;
    int32_t old_list = have - s->first;
    pl->n_list = pages_for(new_len + pl->shift, ps) - s->first;
    pl->extra = pl->n_list > old_list ? pl->n_list - old_list : 0;
    int32_t k0 = (pl->d_lo + pl->shift) / ps - s->first;
    for (int32_t k = k0; k < old_list && k < pl->n_list; k++)
        pl->unshare += g->refs[s->pages[s->first + k]] > 1;
}

static void move_row(struct kv_cache *kv, struct kv_group *g, const int32_t *list, int32_t first, int32_t to,
                     int32_t from)
{
    int32_t ps = kv->page_size;
    int32_t tp = list[to / ps - first], fp = list[from / ps - first];
    for (int32_t j = 0; j < g->n_layer; j++) {
        memcpy(k_at(kv, g, j, tp, to % ps), k_at(kv, g, j, fp, from % ps), kv->k_row);
        memcpy(v_at(kv, g, j, tp, to % ps), v_at(kv, g, j, fp, from % ps), kv->v_row);
    }
}

static void group_discard(struct kv_cache *kv, struct kv_group *g, int32_t seq, int32_t p0, int32_t n,
                          const struct discard_plan *pl)
{
    struct kv_gseq *s = &g->seqs[seq];
    int32_t ps = kv->page_size, len = kv->len[seq], new_len = len - n, have = pages_for(len, ps);
    if (pl->n_list < 0) {
        for (int32_t i = s->first; i < have; i++)
            page_release(g, s->pages[i]);
        s->first = pages_for(new_len, ps);
        s->start = new_len;
        group_reclaim(g);
        return;
    }
    /* the list: held pages (unshared where rows are written), then fresh ones */
    int32_t *list = kv->scratch, old_list = have - s->first;
    int32_t k0 = (pl->d_lo + pl->shift) / ps - s->first;
    for (int32_t k = 0; k < old_list; k++) {
        int32_t i = s->first + k;
        if (k >= k0 && k < pl->n_list && g->refs[s->pages[i]] > 1)
            page_unshare(kv, g, s, i, i == have - 1 && len % ps ? len % ps : ps);
        list[k] = s->pages[i];
    }
    for (int32_t k = old_list; k < pl->n_list; k++)
        list[k] = page_take(g);
    /* linear index l: list[l / ps - first], slot l % ps; source of d: d + n */
    if (pl->shift <= n) {
        for (int32_t d = pl->d_lo; d < new_len; d++)
            move_row(kv, g, list, s->first, d + pl->shift, d + n);
    } else {
        for (int32_t d = new_len - 1; d >= pl->d_lo; d--)
            move_row(kv, g, list, s->first, d + pl->shift, d + n);
    }
    for (int32_t k = pl->n_list; k < old_list; k++)
        page_release(g, list[k]);
    for (int32_t k = 0; k < pl->n_list; k++)
        s->pages[pl->new_first + k] = list[k];
    s->first = pl->new_first;
    s->start = pl->new_start;
    group_reclaim(g);
}

int kv_cache_seq_discard(struct kv_cache *kv, int32_t seq, int32_t p0, int32_t n)
{
    if (!seq_ok(kv, seq))
        return -1;
    int32_t len = kv->len[seq];
    if (p0 < 0 || n < 0 || p0 > len || n > len - p0)
        return -1;
    if (n == 0)
        return 0;
    struct discard_plan plans[2];
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        plan_discard(kv, &kv->groups[gi], seq, p0, n, &plans[gi]);
        if (plans[gi].unshare + plans[gi].extra > kv->groups[gi].n_free)
            return -1;
    }
    for (int32_t gi = 0; gi < kv->n_groups; gi++)
        group_discard(kv, &kv->groups[gi], seq, p0, n, &plans[gi]);
    kv->len[seq] = len - n;
    return 0;
}

int kv_cache_seq_init(struct kv_cache *kv, int32_t seq, int32_t n, int32_t swa_from)
{
    if (!seq_ok(kv, seq) || n < 0 || pages_for(n, kv->page_size) > kv->tab_cap)
        return -1;
    int32_t ps = kv->page_size, have = pages_for(kv->len[seq], ps), need = pages_for(n, ps);
    int32_t firsts[2];
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        const struct kv_group *g = &kv->groups[gi];
        const struct kv_gseq *s = &g->seqs[seq];
        int32_t from = g->window > 0 && swa_from > 0 ? (swa_from < n ? swa_from : n) : 0;
        firsts[gi] = from / ps;
        int32_t avail = g->n_free;
        for (int32_t i = s->first; i < have; i++)
            avail += g->refs[s->pages[i]] == 1;
        if (need - firsts[gi] > avail)
            return -1;
    }
    kv_cache_seq_rm(kv, seq, 0);
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        struct kv_group *g = &kv->groups[gi];
        struct kv_gseq *s = &g->seqs[seq];
        s->first = firsts[gi];
        s->start = g->window > 0 && swa_from > 0 ? (swa_from < n ? swa_from : n) : 0;
        for (int32_t i = s->first; i < need; i++)
            s->pages[i] = page_take(g);
        group_reclaim(g);
    }
    kv->len[seq] = n;
    return 0;
}

/* ------------------------------------------------------------ rows */

void *kv_cache_k(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos)
{
    struct kv_group *g = &kv->groups[kv->layer_group[il]];
    int32_t pg = g->seqs[seq].pages[pos / kv->page_size];
    return k_at(kv, g, kv->layer_index[il], pg, pos % kv->page_size);
}

void *kv_cache_v(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos)
{
    struct kv_group *g = &kv->groups[kv->layer_group[il]];
    int32_t pg = g->seqs[seq].pages[pos / kv->page_size];
    return v_at(kv, g, kv->layer_index[il], pg, pos % kv->page_size);
}

int32_t kv_cache_page_of(const struct kv_cache *kv, int32_t seq, int32_t pos)
{
    if (!seq_ok(kv, seq) || pos < 0 || pos >= kv->len[seq])
        return -1;
    const struct kv_gseq *s = &kv->groups[0].seqs[seq];
    int32_t i = pos / kv->page_size;
    return i >= s->first ? s->pages[i] : -1;
}

int32_t kv_cache_page_refs(const struct kv_cache *kv, int32_t page)
{
    return page >= 0 && page < kv->groups[0].n_pages ? kv->groups[0].refs[page] : 0;
}

/* ------------------------------------------------------------ memory */

int32_t kv_cache_n_groups(const struct kv_cache *kv) { return kv->n_groups; }

void kv_cache_group_stats(const struct kv_cache *kv, int32_t gi, struct kv_group_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (gi < 0 || gi >= kv->n_groups)
        return;
    const struct kv_group *g = &kv->groups[gi];
    st->n_layer = g->n_layer;
    st->window = g->window;
    st->trimmed = g->trim;
    st->n_pages = g->n_pages;
    st->n_free = g->n_free;
    st->n_used = g->n_pages - g->n_free;
    st->n_shared = g->n_shared;
    st->n_resident = g->n_resident;
    st->page_bytes = g->page_bytes;
    st->token_layer_bytes = kv->k_row + kv->v_row;
}

int32_t kv_cache_seq_pages(const struct kv_cache *kv, int32_t seq)
{
    if (!seq_ok(kv, seq))
        return 0;
    int32_t n = 0, have = pages_for(kv->len[seq], kv->page_size);
    for (int32_t gi = 0; gi < kv->n_groups; gi++) {
        int32_t first = kv->groups[gi].seqs[seq].first;
        n += have > first ? have - first : 0;
    }
    return n;
}
