/*
 * kv_cache.h - the key/value cache shared by all sequences, in fixed-size
 * pages taken on demand.
 *
 * The layers are split into groups of one kind: the full-context layers,
 * and (for models with sliding-window attention, e.g. gemma 3) the
 * sliding-window layers. Each group has its own pool of pages (a page holds
 * page_size positions of every layer of the group) and each sequence its own
 * page table per group: position p lives in slot p % page_size of page
 * table[p / page_size]. Pages carry a reference count, so a sequence can be
 * forked (kv_cache_seq_cp) without copying: the fork shares the pages, and a
 * shared page is copied only when one of them appends into it (copy on
 * write). Sequences grow only at their end (kv_cache_seq_grow) and shrink
 * from any position (kv_cache_seq_rm, kv_cache_seq_discard).
 *
 * Memory: each pool is reserved (mmap, MAP_NORESERVE) for its upper bound
 * and never cleared, so only pages a sequence has taken are ever touched;
 * free pages beyond a small reserve are given back to the system
 * (madvise(MADV_DONTNEED)). Resident memory follows the positions cached.
 *
 * Sliding windows: a query of a windowed layer at position p sees keys
 * p - window + 1 .. p. Unless swa_full is set, a windowed group drops, each
 * time a sequence grows, the pages wholly before what its next query needs
 * (one page of margin kept): it holds at most window + one batch (+ 2 pages)
 * positions per sequence, and its pool is sized for that. What a sequence
 * holds of a windowed group is the range [start, len) (kv_cache_seq_start);
 * keeping only a prefix of it (kv_cache_seq_rm) is "usable" for continuing
 * only when the keys the next query needs are still held
 * (kv_cache_seq_usable); otherwise the caller re-evaluates from position 0,
 * as llama.cpp does.
 *
 * Running out of pages is an error returned to the caller; nothing is
 * evicted behind its back.
 *
 * Threads: one thread at a time (the engine's).
 */
#ifndef CLLM_ENGINE_KV_CACHE_H
#define CLLM_ENGINE_KV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

#define KV_DEFAULT_PAGE_SIZE 32

struct kv_cache_params {
    int32_t n_ctx;       /* positions in all, shared by every sequence */
    int32_t page_size;   /* positions per page (0: KV_DEFAULT_PAGE_SIZE) */
    int32_t n_seq_max;   /* sequence ids are 0 .. n_seq_max-1 */
    int32_t n_layer;
    int32_t n_embd_k;    /* K values per position and layer (heads x head size) */
    int32_t n_embd_v;
    enum tensor_type type_k; /* F16 (default), F32 or Q8_0 */
    enum tensor_type type_v;
    /* sliding windows (all zero / NULL: every layer keeps every position) */
    const bool *layer_swa; /* n_layer flags: layer uses a sliding window */
    int32_t swa_window;    /* keys a windowed query sees, itself included */
    bool swa_full;         /* windowed layers keep every position too (--swa-full) */
    int32_t n_grow_max;    /* most positions one kv_cache_seq_grow appends (0: n_ctx) */
};

struct kv_cache;

/* NULL with a message in err for bad parameters or no memory. */
struct kv_cache *kv_cache_create(const struct kv_cache_params *p, char *err, size_t err_size);
void kv_cache_free(struct kv_cache *kv);

int32_t kv_cache_seq_len(const struct kv_cache *kv, int32_t seq);
/* Pages of the first group (the full-context layers when there are any). */
int32_t kv_cache_n_pages(const struct kv_cache *kv);
int32_t kv_cache_free_pages(const struct kv_cache *kv);
int32_t kv_cache_page_size(const struct kv_cache *kv);
/* Positions that could still be appended to seq without failing. */
int32_t kv_cache_room(const struct kv_cache *kv, int32_t seq);

/* Append n positions to seq: pages are taken from the free lists, a shared
 * last page is copied first, and a windowed group first drops the pages its
 * next query no longer needs. Returns 0, or -1 (nothing changed) if there
 * are not enough free pages or seq is out of range. */
int kv_cache_seq_grow(struct kv_cache *kv, int32_t seq, int32_t n);
/* Truncate seq to its first p0 positions (p0 <= 0: clear it). */
void kv_cache_seq_rm(struct kv_cache *kv, int32_t seq, int32_t p0);
/* Make dst a copy of src (dst's old contents are dropped); pages are shared. */
int kv_cache_seq_cp(struct kv_cache *kv, int32_t src, int32_t dst);
/* Remove positions [p0, p0 + n) of seq, moving the later ones down by n.
 * The caller re-applies RoPE to the moved keys (the cache knows nothing of
 * positions' meaning; see kv_cache_seq_start for what a windowed layer
 * holds afterwards). Returns 0, or -1 for a bad range or no free page. */
int kv_cache_seq_discard(struct kv_cache *kv, int32_t seq, int32_t p0, int32_t n);
/* Make seq n positions long with fresh (unwritten) pages, its windowed
 * layers holding only positions from swa_from on (for restoring a saved
 * sequence). Returns 0, or -1 (seq as it was) when the pages are not there. */
int kv_cache_seq_init(struct kv_cache *kv, int32_t seq, int32_t n, int32_t swa_from);
/* Drop every sequence. */
void kv_cache_clear(struct kv_cache *kv);

/* First position of seq whose keys layer il holds (0 for a full-context
 * layer); positions before it were dropped by the window. */
int32_t kv_cache_seq_start(const struct kv_cache *kv, int32_t il, int32_t seq);
/* The same for the windowed layers (0 when there are none). */
int32_t kv_cache_seq_swa_start(const struct kv_cache *kv, int32_t seq);
/* True if seq cut to its first n positions still holds every key its next
 * query (at position n) sees in every layer. */
bool kv_cache_seq_usable(const struct kv_cache *kv, int32_t seq, int32_t n);
/* Keys a windowed query sees (0: no windowed layers). */
int32_t kv_cache_swa_window(const struct kv_cache *kv);

/* The K / V row of position pos of seq in layer il (kv_cache_seq_start <=
 * pos < seq_len). Rows of consecutive positions within a page are
 * contiguous. */
void *kv_cache_k(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos);
void *kv_cache_v(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos);
size_t kv_cache_k_row_size(const struct kv_cache *kv);
size_t kv_cache_v_row_size(const struct kv_cache *kv);
enum tensor_type kv_cache_type_k(const struct kv_cache *kv);
enum tensor_type kv_cache_type_v(const struct kv_cache *kv);

/* Page of position pos in seq (first group; for tests of sharing). -1 if
 * out of range. */
int32_t kv_cache_page_of(const struct kv_cache *kv, int32_t seq, int32_t pos);
int32_t kv_cache_page_refs(const struct kv_cache *kv, int32_t page);

/* ---- memory */

struct kv_group_stats {
    int32_t n_layer;        /* layers in the group */
    int32_t window;         /* 0: full context; else the sliding window */
    bool trimmed;           /* the group drops what its window no longer sees */
    int32_t n_pages;        /* the pool's bound */
    int32_t n_used;         /* pages held by some sequence */
    int32_t n_shared;       /* of which held by more than one */
    int32_t n_free;
    int32_t n_resident;     /* pages touched and not given back to the system */
    size_t page_bytes;      /* one page of every layer of the group */
    size_t token_layer_bytes; /* one position's K and V in one layer */
};
int32_t kv_cache_n_groups(const struct kv_cache *kv);
void kv_cache_group_stats(const struct kv_cache *kv, int32_t g, struct kv_group_stats *st);
/* Pages seq holds, all groups together (shared ones included). */
int32_t kv_cache_seq_pages(const struct kv_cache *kv, int32_t seq);
/* Free pages kept resident per group before the rest go back to the system. */
#define KV_RESIDENT_SLACK_MIN 4

#endif
