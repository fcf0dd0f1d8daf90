/*
 * act_avx512.c - the activation converters of the AVX-512 table. Converting
 * activations is a small share of the work, so these are the 256-bit
 * template act_simd256.h compiled for the AVX-512 target (byte-identical to
 * act_scalar.c).
 */
#define SIMD_NAME(f) f##_avx512
#include "tensor/cpu/act_simd256.h"
