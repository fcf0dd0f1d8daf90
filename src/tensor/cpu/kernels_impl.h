/*
 * kernels_impl.h - internal to src/tensor/cpu: the per-ISA kernel functions
 * that kernels.c gathers into the dispatch tables, plus small helpers shared
 * by the scalar and SIMD files (K-quant scale unpacking).
 */
#ifndef CLLM_TENSOR_CPU_KERNELS_IMPL_H
#define CLLM_TENSOR_CPU_KERNELS_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tensor/cpu/kernels.h"
#include "tensor/f16.h"

/* Weight rows come from an mmap'ed file at any byte offset, so block fields
 * are read through memcpy (no misaligned struct access). */
static inline uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline int16_t load_i16(const uint8_t *p) { int16_t v; memcpy(&v, p, 2); return v; }
static inline float load_f32(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }
/* Field `f` of block type T at byte address b. */
#define BLOCK_FIELD(b, T, f) ((const uint8_t *)(b) + offsetof(T, f))
#define BLOCK_F16(b, T, f) f16_to_f32(load_u16(BLOCK_FIELD(b, T, f)))

/* The table to use on a CPU that supports `detected`, given the CLLM_ISA
 * value `cap` ("scalar", "avx2", "avx512"; NULL or unknown: no cap). */
enum cpu_isa cpu_isa_choose(enum cpu_isa detected, const char *cap);

/* Every ISA provides the same set of functions, named cpu_dot_<types>_<isa>,
 * cpu_dot_<types>_nrows_<isa> and cpu_from_float_<type>_<isa>. */
#define CLLM_DECLARE_DOT(name, isa)                                                  \
    void cpu_dot_##name##_##isa(int64_t n, float *s, const void *x, const void *y);     \
    void cpu_dot_##name##_nrows_##isa(int64_t n, float *s, size_t s_stride, const void *x, \
                                  const void *y, size_t y_stride, int64_t nrows);

#define CLLM_DECLARE_KERNELS(isa)                                               \
    CLLM_DECLARE_DOT(f32, isa)                                     \
    CLLM_DECLARE_DOT(f16, isa)                                     \
    CLLM_DECLARE_DOT(bf16, isa)                                    \
    CLLM_DECLARE_DOT(q4_0_q8_0, isa)                               \
    CLLM_DECLARE_DOT(q4_1_q8_1, isa)                               \
    CLLM_DECLARE_DOT(q5_0_q8_0, isa)                               \
    CLLM_DECLARE_DOT(q5_1_q8_1, isa)                               \
    CLLM_DECLARE_DOT(q8_0_q8_0, isa)                               \
    CLLM_DECLARE_DOT(iq4_nl_q8_0, isa)                             \
    CLLM_DECLARE_DOT(q2_K_q8_K, isa)                               \
    CLLM_DECLARE_DOT(q3_K_q8_K, isa)                               \
    CLLM_DECLARE_DOT(q4_K_q8_K, isa)                               \
    CLLM_DECLARE_DOT(q5_K_q8_K, isa)                               \
    CLLM_DECLARE_DOT(q6_K_q8_K, isa)                               \
    CLLM_DECLARE_DOT(iq4_xs_q8_K, isa)                             \
    void cpu_from_float_f32_##isa(const float *x, void *y, int64_t n);     \
    void cpu_from_float_f16_##isa(const float *x, void *y, int64_t n);     \
    void cpu_from_float_bf16_##isa(const float *x, void *y, int64_t n);    \
    void cpu_from_float_q8_0_##isa(const float *x, void *y, int64_t n);    \
    void cpu_from_float_q8_1_##isa(const float *x, void *y, int64_t n);    \
    void cpu_from_float_q8_K_##isa(const float *x, void *y, int64_t n);

/* cpu_dot_<name>_nrows_<isa> as a loop over cpu_dot_<name>_<isa>: for the kernels
 * without a multi-row version (trivially the same bits per row). */
#define CLLM_NROWS_BY_LOOP(name, isa)                                                     \
    void cpu_dot_##name##_nrows_##isa(int64_t n, float *s, size_t s_stride, const void *x,    \
                                  const void *y, size_t y_stride, int64_t nrows)          \
    {                                                                                     \
        for (int64_t r = 0; r < nrows; r++)                                               \
            cpu_dot_##name##_##isa(n, s + r * s_stride, x, (const uint8_t *)y + r * y_stride); \
    }

CLLM_DECLARE_KERNELS(scalar)
#define CPU_Q8_0_PACKED_GROUP 320 /* bytes per 8 blocks of packed Q8_0 (kernels.h) */
#ifdef CLLM_X86
CLLM_DECLARE_KERNELS(avx2)
CLLM_DECLARE_KERNELS(avx512)
/* The packed Q8_0 activations (kernels.h) and the kernels that take them. */
void cpu_from_float_q8_0_packed_avx512(const float *x, void *y, int64_t n);
#define CLLM_DECLARE_PACKED(name, isa)                                                       \
    void cpu_dot_##name##_nrows_packed_##isa(int64_t n, float *s, size_t s_stride, const void *x, \
                                         const void *y, size_t y_stride, int64_t nrows);
CLLM_DECLARE_PACKED(q4_0_q8_0, avx512)
CLLM_DECLARE_PACKED(q5_0_q8_0, avx512)
CLLM_DECLARE_PACKED(q8_0_q8_0, avx512)
CLLM_DECLARE_PACKED(iq4_nl_q8_0, avx512)
#endif

/* The IQ4_NL / IQ4_XS codebook (same values as quant_iq4nl_values in quant.h; kept
 * here so the kernels do not depend on quant.c). */
extern const int8_t cpu_iq4nl_codebook[16];

/* Q3_K: the 6-bit scale j (0..15) of a block's 12 packed scale bytes, minus 32. */
static inline int q3_K_scale(const uint8_t *scales, int j)
{
    int low = j < 8 ? (scales[j] & 0xF) : (scales[j - 8] >> 4);
    int high = (scales[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (low | (high << 4)) - 32;
}

/* Q3_K: the 16 6-bit scales (before the -32) as four words, byte j%4 of
 * word j/4 being scale j (same values as q3_K_scale + 32). */
static inline void q3_K_unpack_scales(const uint8_t *scales, uint32_t out[4])
{
    uint32_t w[3];
    memcpy(w, scales, 12);
    out[0] = (w[0] & 0x0f0f0f0fu) | ((w[2] & 0x03030303u) << 4);
    out[1] = (w[1] & 0x0f0f0f0fu) | (((w[2] >> 2) & 0x03030303u) << 4);
    out[2] = ((w[0] >> 4) & 0x0f0f0f0fu) | (((w[2] >> 4) & 0x03030303u) << 4);
    out[3] = ((w[1] >> 4) & 0x0f0f0f0fu) | (((w[2] >> 6) & 0x03030303u) << 4);
}

/* Q4_K / Q5_K: the 6-bit scale and min j (0..7) of the 12 packed bytes. */
static inline void q4_K_scale_min(const uint8_t *scales, int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = scales[j] & 63;
        *mn = scales[j + 4] & 63;
    } else {
        *sc = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
        *mn = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

/* Q4_K / Q5_K: all 8 scales (bytes of *sc) and 8 mins (bytes of *mn) at
 * once, with 32-bit word operations on the three words of the packed bytes
 * (same values as q4_K_scale_min). */
static inline void q4_K_unpack_scales(const uint8_t *scales, uint64_t *sc, uint64_t *mn)
{
    uint32_t w[3];
    memcpy(w, scales, 12);
    uint32_t sc_lo = w[0] & 0x3f3f3f3fu;                                              /* 0..3 */
    uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);      /* 4..7 */
    uint32_t mn_lo = w[1] & 0x3f3f3f3fu;
    uint32_t mn_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
    *sc = (uint64_t)sc_hi << 32 | sc_lo;
    *mn = (uint64_t)mn_hi << 32 | mn_lo;
}

/* IQ4_XS: the 6-bit scale of 32-element group j (0..7), minus 32. */
static inline int iq4_xs_scale(uint16_t scales_h, const uint8_t *scales_l, int j)
{
    int low = (scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
    int high = (scales_h >> (2 * j)) & 3;
    return (low | (high << 4)) - 32;
}

#endif
