/*
 * act_avx2.c - the AVX2 activation converters (from_float), byte-identical
 * to act_scalar.c; the code is the 256-bit template act_simd256.h.
 */
#define SIMD_NAME(f) f##_avx2
#include "tensor/cpu/act_simd256.h"
