/*
 * quant.h - scalar reference conversions between float rows and every
 * supported tensor type: dequantize (type -> f32) and quantize (f32 -> type).
 * These are the definitions the fast kernels are tested against; they are
 * bit-exact with the published GGUF formats (checked against gguf-py).
 */
#ifndef CLLM_TENSOR_QUANT_H
#define CLLM_TENSOR_QUANT_H

#include <stdint.h>

#include "tensor/types.h"

/* Dequantize n elements (a multiple of the type's block size) from x into y.
 * Returns 0, or -1 if cllm cannot dequantize this type or n is not a multiple. */
int dequantize_row(enum tensor_type type, const void *x, float *y, int64_t n);

/* Quantize n floats into blocks of the given type with the reference
 * (round-to-nearest) algorithm. Returns 0, or -1 for a type without a quantizer. */
int quantize_row_ref(enum tensor_type type, const float *x, void *y, int64_t n);

/* One function per type, for callers that dispatch themselves. */
void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n);
void dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n);
void dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n);
void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n);
void dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n);
void dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n);
void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n);
void dequantize_row_iq4_nl(const block_iq4_nl *x, float *y, int64_t n);
void dequantize_row_iq4_xs(const block_iq4_xs *x, float *y, int64_t n);

void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t n);
void quantize_row_q8_1_ref(const float *x, block_q8_1 *y, int64_t n);
void quantize_row_q8_K_ref(const float *x, block_q8_K *y, int64_t n);

/* The 16 values of the IQ4_NL / IQ4_XS non-linear codebook. */
extern const int8_t quant_iq4nl_values[16];

#endif
