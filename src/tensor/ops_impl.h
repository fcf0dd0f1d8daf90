/*
 * ops_impl.h - internal to the ops: the AVX2 versions of the hot ops
 * (cpu/ops_avx2.c, built only on x86 with -mavx2 -mfma) that ops.c dispatches to
 * when the CPU (and CLLM_ISA) allow. Same contracts as ops.h. Each processes
 * a row in 8-float vectors from its start and pads the tail into a full
 * vector, so an element's result depends only on its own inputs (and, for
 * the reductions, on the row's contents, never on the batch around it).
 */
#ifndef CLLM_TENSOR_OPS_IMPL_H
#define CLLM_TENSOR_OPS_IMPL_H

#include <stdint.h>

#ifdef CLLM_X86
void op_rms_norm_avx2(float *y, const float *x, const float *w, int64_t n, float eps);
void op_softmax_avx2(float *y, const float *x, int64_t n, float scale, const float *mask);
void op_silu_avx2(float *y, const float *x, int64_t n);
void op_gelu_avx2(float *y, const float *x, int64_t n);
void op_swiglu_avx2(float *y, const float *gate, const float *up, int64_t n);
void op_geglu_avx2(float *y, const float *gate, const float *up, int64_t n);
void op_axpy_avx2(float *y, float a, const float *x, int64_t n);
void op_axpy_f16_avx2(float *y, float a, const uint16_t *x, int64_t n);
/* Rotate one head in place by angles cs/sn (half = n_dims/2 pairs): pairs
 * (2i, 2i+1), or (i, i+half) for NeoX; bit-identical to the scalar code. */
void op_rope_normal_avx2(float *x, const float *cs, const float *sn, int half);
void op_rope_neox_avx2(float *x, const float *cs, const float *sn, int half);
#endif

#endif
