/*
 * attn_impl.h - internal to the attention kernels (tensor/attn.c and
 * cpu/attn_scalar.c, cpu/attn_avx2.c, cpu/attn_avx512.c, the last two from
 * the template attn_simd.h): the scratch layout they share and the per-ISA
 * entries (in the kernel tables, kernels.c).
 */
#ifndef CLLM_TENSOR_CPU_ATTN_IMPL_H
#define CLLM_TENSOR_CPU_ATTN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/attn.h"

#define ATTN_BLOCK 16 /* keys per block (scores) and floats per padded row */

/* Partial sums of a score: dim d goes to sum d % parts (an FMA chain in
 * order of d), and the sums are then added pairwise ((s0+s1)+(s2+s3))+...;
 * more of them for long heads keeps the chains short (accuracy). */
#define ATTN_MAX_PARTS 16
static inline int attn_parts(int32_t head_dim) { return head_dim >= 256 ? 16 : head_dim >= 128 ? 8 : 4; }

static inline size_t attn_pad(int64_t n) { return (size_t)(n + ATTN_BLOCK - 1) / ATTN_BLOCK * ATTN_BLOCK; }

/* The scratch, in floats, every part 64-byte aligned:
 *   s: n_q rows of kstride scores (then probabilities), key i at column i
 *   q: n_q rows of hk queries as the kernel uses them (rounded, zero padded)
 *   o: n_q rows of hv output sums
 *   w: one block of keys transposed (hk rows of ATTN_BLOCK) or of values
 *      (ATTN_BLOCK rows of hv) */
struct attn_layout {
    size_t kstride, hk, hv;
    float *s, *q, *o, *w;
};

static inline struct attn_layout attn_layout(const struct attn_tile *t, float *scratch)
{
    struct attn_layout l;
    l.kstride = attn_pad(t->n_keys);
    l.hk = attn_pad(t->head_dim_k);
    l.hv = attn_pad(t->head_dim_v);
    l.s = scratch;
    l.q = l.s + (size_t)t->n_q * l.kstride;
    l.o = l.q + (size_t)t->n_q * l.hk;
    l.w = l.o + (size_t)t->n_q * l.hv;
    return l;
}

/* One query at a time, one key at a time: the reference for the SIMD tiles. */
void attn_tile_scalar(const struct attn_tile *t, float *scratch);
#ifdef CLLM_X86
void attn_tile_avx2(const struct attn_tile *t, float *scratch);
void attn_tile_avx512(const struct attn_tile *t, float *scratch);
#endif

#endif
