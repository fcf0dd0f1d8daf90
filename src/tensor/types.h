/*
 * types.h - tensor element types: the GGUF/ggml type ids, their quantization
 * block layouts (bit-exact with the published GGUF formats) and a traits table
 * (block size, bytes per block, name).
 *
 * A row of n elements of type t takes tensor_type_row_size(t, n) bytes; n must be a
 * multiple of the type's block size.
 */
#ifndef CLLM_TENSOR_TYPES_H
#define CLLM_TENSOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ids as stored in GGUF files. Gaps are ids that ggml retired. */
enum tensor_type {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,
    TYPE_Q4_1 = 3,
    TYPE_Q5_0 = 6,
    TYPE_Q5_1 = 7,
    TYPE_Q8_0 = 8,
    TYPE_Q8_1 = 9,
    TYPE_Q2_K = 10,
    TYPE_Q3_K = 11,
    TYPE_Q4_K = 12,
    TYPE_Q5_K = 13,
    TYPE_Q6_K = 14,
    TYPE_Q8_K = 15,
    TYPE_IQ2_XXS = 16,
    TYPE_IQ2_XS = 17,
    TYPE_IQ3_XXS = 18,
    TYPE_IQ1_S = 19,
    TYPE_IQ4_NL = 20,
    TYPE_IQ3_S = 21,
    TYPE_IQ2_S = 22,
    TYPE_IQ4_XS = 23,
    TYPE_I8 = 24,
    TYPE_I16 = 25,
    TYPE_I32 = 26,
    TYPE_I64 = 27,
    TYPE_F64 = 28,
    TYPE_IQ1_M = 29,
    TYPE_BF16 = 30,
    TYPE_TQ1_0 = 34,
    TYPE_TQ2_0 = 35,
    TYPE_MXFP4 = 39,
    TYPE_COUNT = 40
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t f16_t;  /* IEEE half, stored bits */
typedef uint16_t bf16_t; /* bfloat16, stored bits */

/* Blocks of 32: one scale d (and min m), 4/5/8-bit quants. x = d*q (+ m). */
typedef struct { f16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { f16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { f16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { f16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { f16_t d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { f16_t d, s; int8_t qs[QK8_1]; } block_q8_1; /* s = d * sum(qs) */
typedef struct { f16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;

/* Super-blocks of 256 (K-quants). */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; f16_t d, dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; f16_t d; } block_q3_K;
typedef struct { f16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { f16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; f16_t d; } block_q6_K;
typedef struct { f16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;
/* Activation blocks for K-quant dot products: float scale, per-16 sums. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl layout");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

struct type_traits {
    const char *name;          /* "Q4_K", as ggml and gguf-py print it */
    int64_t block_size;        /* elements per block (1 for plain types) */
    size_t type_size;          /* bytes per block */
    bool quantized;
    bool supported;            /* cllm can dequantize and compute with it */
    enum tensor_type vec_dot_type; /* activation type its dot product takes */
};

/* NULL for an id that names no type. */
const struct type_traits *tensor_type_traits(uint32_t type);
const char *tensor_type_name(uint32_t type); /* "unknown" for a bad id */
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t tensor_type_row_size(enum tensor_type type, int64_t n);

/* The old names, while the modules outside tensor move to the tensor_
 * ones (src/engine, bench/kernels.c, tests/unit/test_ops_attn.c); no
 * symbol carries them. */
#define type_traits(t) tensor_type_traits(t)
#define type_name(t) tensor_type_name(t)
#define type_row_size(t, n) tensor_type_row_size((t), (n))

#endif
