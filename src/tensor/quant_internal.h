/*
 * quant_internal.h - helpers shared by the reference quantizer files
 * (quant.c, quant_kquants.c, quant_iq4.c); not part of the quant.h API.
 */
#ifndef CLLM_TENSOR_QUANT_INTERNAL_H
#define CLLM_TENSOR_QUANT_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "tensor/types.h"

/* Element j of a 32-block packed as nibbles: j < 16 low nibble of qs[j],
 * else high nibble of qs[j - 16]. */
static inline int nibble32(const uint8_t *qs, int j)
{
    return j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
}

/* The inverse: codes q[0..32) (low 4 bits used) into 16 bytes. */
static inline void pack_nibbles32(const uint8_t q[32], uint8_t qs[16])
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

/* The value of largest magnitude (the first one on ties), with its sign. */
static inline float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* round(v) clamped to [lo, hi]; NaN gives lo. */
static inline int clamp_round(float v, int lo, int hi)
{
    if (!(v > (float)lo))
        return lo;
    if (v >= (float)hi)
        return hi;
    return (int)lrintf(v);
}

/* quantize_row_ref for the K-quants (Q2_K..Q6_K); -1 for any other type. */
int quantize_row_kquant_ref(enum tensor_type type, const float *x, void *y, int64_t n);
/* quantize_row_ref for IQ4_NL and IQ4_XS; -1 for any other type. */
int quantize_row_iq4_ref(enum tensor_type type, const float *x, void *y, int64_t n);

#endif
