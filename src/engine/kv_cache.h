/*
 * kv_cache.h - the key/value cache shared by all sequences, in fixed-size
 * pages.
 *
 * Memory for n_pages pages of page_size positions is reserved once, for every
 * layer. Each sequence has a page table (position p lives in slot
 * p % page_size of page table[p / page_size]) and each page a reference
 * count, so a sequence can be forked (kv_cache_seq_cp) without copying: the
 * fork shares the pages, and a shared page is copied only when one of them
 * appends into it (copy on write). Sequences grow only at their end
 * (kv_cache_seq_grow) and shrink from any position (kv_cache_seq_rm).
 *
 * Running out of pages is an error returned to the caller; nothing is
 * evicted behind its back.
 */
#ifndef CLLM_ENGINE_KV_CACHE_H
#define CLLM_ENGINE_KV_CACHE_H

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
};

struct kv_cache;

/* NULL with a message in err for bad parameters or no memory. */
struct kv_cache *kv_cache_create(const struct kv_cache_params *p, char *err, size_t err_size);
void kv_cache_free(struct kv_cache *kv);

int32_t kv_cache_seq_len(const struct kv_cache *kv, int32_t seq);
int32_t kv_cache_n_pages(const struct kv_cache *kv);
int32_t kv_cache_free_pages(const struct kv_cache *kv);
int32_t kv_cache_page_size(const struct kv_cache *kv);
/* Positions that could still be appended to seq without failing. */
int32_t kv_cache_room(const struct kv_cache *kv, int32_t seq);

/* Append n positions to seq: pages are taken from the free list, and a
 * shared last page is copied first. Returns 0, or -1 (nothing changed) if
 * there are not enough free pages or seq is out of range. */
int kv_cache_seq_grow(struct kv_cache *kv, int32_t seq, int32_t n);
/* Truncate seq to its first p0 positions (p0 <= 0: clear it). */
void kv_cache_seq_rm(struct kv_cache *kv, int32_t seq, int32_t p0);
/* Make dst a copy of src (dst's old contents are dropped); pages are shared. */
int kv_cache_seq_cp(struct kv_cache *kv, int32_t src, int32_t dst);
/* Remove positions [p0, p0 + n) of seq, moving the later ones down by n.
 * The caller re-applies RoPE to the moved keys (the cache knows nothing of
 * positions' meaning). Returns 0, or -1 for a bad range or no free page. */
int kv_cache_seq_discard(struct kv_cache *kv, int32_t seq, int32_t p0, int32_t n);
/* Drop every sequence. */
void kv_cache_clear(struct kv_cache *kv);

/* The K / V row of position pos of seq in layer il (pos < seq_len). Rows of
 * consecutive positions within a page are contiguous. */
void *kv_cache_k(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos);
void *kv_cache_v(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos);
size_t kv_cache_k_row_size(const struct kv_cache *kv);
size_t kv_cache_v_row_size(const struct kv_cache *kv);
enum tensor_type kv_cache_type_k(const struct kv_cache *kv);
enum tensor_type kv_cache_type_v(const struct kv_cache *kv);

/* Page of position pos in seq (for tests of sharing). -1 if out of range. */
int32_t kv_cache_page_of(const struct kv_cache *kv, int32_t seq, int32_t pos);
int32_t kv_cache_page_refs(const struct kv_cache *kv, int32_t page);

#endif
