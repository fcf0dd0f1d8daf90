/*
 * dot_avx2.c - the AVX2 (+FMA, F16C) dot-product kernels: the 256-bit
 * template dot_simd256.h with maddubs/madd integer multiply-adds (its
 * blocks of 32 and Q4_K/Q5_K/Q6_K have multi-row versions; the other
 * vec_dot_nrows entries loop over the one-row kernel).
 */
#define SIMD_NAME(f) f##_avx2
#define SIMD_VNNI 0
#include "tensor/cpu/dot_simd256.h"

/* Multi-row versions: a loop over the one-row kernel. */
CLLM_NROWS_BY_LOOP(f32, avx2)
CLLM_NROWS_BY_LOOP(f16, avx2)
CLLM_NROWS_BY_LOOP(bf16, avx2)
CLLM_NROWS_BY_LOOP(q2_K_q8_K, avx2)
CLLM_NROWS_BY_LOOP(q3_K_q8_K, avx2)
CLLM_NROWS_BY_LOOP(iq4_xs_q8_K, avx2)
