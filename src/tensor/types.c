/*
 * types.c - the traits table of tensor element types (see types.h).
 * Sizes follow the published GGUF block layouts; the unsupported i-quants
 * are listed so that files holding them can still be read and described.
 */
#include "tensor/types.h"

#define T(id, nm, bs, ts, q, sup, vdt) [id] = { nm, bs, ts, q, sup, vdt }

static const struct type_traits traits[TYPE_COUNT] = {
    T(TYPE_F32, "F32", 1, 4, false, true, TYPE_F32),
    T(TYPE_F16, "F16", 1, 2, false, true, TYPE_F16),
    T(TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), true, true, TYPE_Q8_0),
    T(TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), true, true, TYPE_Q8_1),
    T(TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), true, true, TYPE_Q8_0),
    T(TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), true, true, TYPE_Q8_1),
    T(TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), true, true, TYPE_Q8_0),
    T(TYPE_Q8_1, "Q8_1", QK8_1, sizeof(block_q8_1), true, true, TYPE_Q8_1),
    T(TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), true, true, TYPE_Q8_K),
    T(TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), true, true, TYPE_Q8_K),
    T(TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), true, true, TYPE_Q8_K),
    T(TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), true, true, TYPE_Q8_K),
    T(TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), true, true, TYPE_Q8_K),
    T(TYPE_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), true, true, TYPE_Q8_K),
    T(TYPE_IQ2_XXS, "IQ2_XXS", QK_K, 66, true, false, TYPE_Q8_K),
    T(TYPE_IQ2_XS, "IQ2_XS", QK_K, 74, true, false, TYPE_Q8_K),
    T(TYPE_IQ3_XXS, "IQ3_XXS", QK_K, 98, true, false, TYPE_Q8_K),
    T(TYPE_IQ1_S, "IQ1_S", QK_K, 50, true, false, TYPE_Q8_K),
    T(TYPE_IQ4_NL, "IQ4_NL", QK4_NL, sizeof(block_iq4_nl), true, true, TYPE_Q8_0),
    T(TYPE_IQ3_S, "IQ3_S", QK_K, 110, true, false, TYPE_Q8_K),
    T(TYPE_IQ2_S, "IQ2_S", QK_K, 82, true, false, TYPE_Q8_K),
    T(TYPE_IQ4_XS, "IQ4_XS", QK_K, sizeof(block_iq4_xs), true, true, TYPE_Q8_K),
    T(TYPE_I8, "I8", 1, 1, false, false, TYPE_I8),
    T(TYPE_I16, "I16", 1, 2, false, false, TYPE_I16),
    T(TYPE_I32, "I32", 1, 4, false, false, TYPE_I32),
    T(TYPE_I64, "I64", 1, 8, false, false, TYPE_I64),
    T(TYPE_F64, "F64", 1, 8, false, false, TYPE_F64),
    T(TYPE_IQ1_M, "IQ1_M", QK_K, 56, true, false, TYPE_Q8_K),
    T(TYPE_BF16, "BF16", 1, 2, false, true, TYPE_BF16),
    T(TYPE_TQ1_0, "TQ1_0", QK_K, 54, true, false, TYPE_Q8_K),
    T(TYPE_TQ2_0, "TQ2_0", QK_K, 66, true, false, TYPE_Q8_K),
    T(TYPE_MXFP4, "MXFP4", 32, 17, true, false, TYPE_Q8_0),
};

const struct type_traits *tensor_type_traits(uint32_t type)
{
    if (type >= TYPE_COUNT || traits[type].name == NULL)
        return NULL;
    return &traits[type];
}

const char *tensor_type_name(uint32_t type)
{
    const struct type_traits *tt = tensor_type_traits(type);
    return tt ? tt->name : "unknown";
}

size_t tensor_type_row_size(enum tensor_type type, int64_t n)
{
    const struct type_traits *tt = tensor_type_traits((uint32_t)type);
    if (tt == NULL || n < 0 || n % tt->block_size != 0)
        return 0;
    return (size_t)(n / tt->block_size) * tt->type_size;
}
