/*
 * kernels.h - the CPU compute kernels behind a matrix multiply: for each
 * weight type, the dot product of one weight row with one activation row that
 * was converted ("quantized on the fly") to the weight's vec_dot_type
 * (types.h), and the converters from f32 to those activation types.
 *
 * There is one table per instruction set (scalar, AVX2, AVX-512); cpu_kernels()
 * returns the best one this CPU supports, chosen once by CPUID. Every entry of
 * every table computes the same result as the scalar one up to float rounding,
 * and each table always sums in the same order whatever the caller's batch
 * size or thread split, so results are batch-invariant.
 */
#ifndef CLLM_TENSOR_CPU_KERNELS_H
#define CLLM_TENSOR_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

struct attn_tile;

/* s = dot(x, y) over n elements: x a weight row of the table's type, y an
 * activation row of that type's vec_dot_type. x and y may have any alignment
 * (weights come straight from an mmap'ed file). n is a multiple of the block
 * size; plain types (F32/F16/BF16) take any n. Quantized activation rows must
 * come from the from_float converters: the kernels rely on int8 values in
 * [-127, 127] and on Q8_K bsums matching its quants. */
typedef void (*vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* s[r * s_stride] = dot(x, row r of y) for r < nrows, row r of y starting
 * r * y_stride bytes after y: one weight row against several activation
 * rows, reusing the unpacked weights. Each result has exactly the bits that
 * vec_dot of the same table gives for that pair of rows. */
typedef void (*vec_dot_nrows_fn)(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                 size_t y_stride, int64_t nrows);
/* Convert n floats to the activation type (Q8_0, Q8_1, Q8_K, F16, BF16, F32),
 * byte-identical in every table: quant.h's reference quantizers, except that
 * Q8_0/Q8_1 round as llama.cpp's x86 CPU backend quantizes activations
 * (x * 127/amax, ties to even; act_scalar.c). y must be aligned for its
 * block type (any malloc'ed buffer is). */
typedef void (*from_float_fn)(const float *x, void *y, int64_t n);

enum cpu_isa { CPU_ISA_SCALAR = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2, CPU_ISA_COUNT };

struct cpu_kernels {
    enum cpu_isa isa;
    const char *name;                      /* "scalar", "avx2", "avx512" */
    vec_dot_fn vec_dot[TYPE_COUNT];        /* indexed by weight type; NULL if unsupported */
    from_float_fn from_float[TYPE_COUNT];  /* indexed by activation type */
    vec_dot_nrows_fn vec_dot_nrows[TYPE_COUNT]; /* set wherever vec_dot is */
    /* Optional (NULL where a table has none): activation rows in a packed
     * layout (cpu_packed_row_size) that suits the multi-row kernels better,
     * for batches of several rows. from_float_packed is indexed by
     * activation type, vec_dot_nrows_packed by weight type; each result has
     * exactly the bits vec_dot gives on the same row converted by from_float
     * (so a row's result does not depend on the batch it is in). */
    from_float_fn from_float_packed[TYPE_COUNT];
    vec_dot_nrows_fn vec_dot_nrows_packed[TYPE_COUNT];
    /* The attention tile (tensor/attn.h); the same bits in every table but
     * for the softmax's exp (scalar vs SIMD). */
    void (*attn_tile)(const struct attn_tile *t, float *scratch);
};

/* Bytes of one packed activation row of n elements of activation type vdt
 * (0 if there is no packed layout for it). Q8_0: groups of 8 blocks (the
 * last group may have 4), each as, per four blocks, 64 bytes of elements
 * 0..15 of each block and 64 bytes of elements 16..31 (int8 + 128, as
 * uint8), then the group's scales as 16 floats (block m of the first four
 * in floats 4m and 4m + 2, block 4 + m in 4m + 1 and 4m + 3; 0 for missing
 * blocks); then the n/32 % 4 last blocks as plain block_q8_0. */
size_t cpu_packed_row_size(enum tensor_type vdt, int64_t n);

/* The best table for this CPU (CLLM_ISA=scalar|avx2|avx512 in the environment
 * caps it, for testing and benchmarking). */
const struct cpu_kernels *cpu_kernels(void);
/* A given table, or NULL if this CPU (or build) cannot run it. */
const struct cpu_kernels *cpu_kernels_for(enum cpu_isa isa);
/* What the CPU supports, from CPUID and XGETBV. */
enum cpu_isa cpu_isa_detect(void);

#endif
