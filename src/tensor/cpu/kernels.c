/*
 * kernels.c - the kernel dispatch tables (scalar, AVX2, AVX-512) and the
 * choice among them: the best one CPUID allows, capped by the CLLM_ISA
 * environment variable (scalar|avx2|avx512), decided once per process.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu/attn_impl.h"
#include "tensor/cpu/kernels_impl.h"

#define KERNEL_TABLE(ISA, sfx, ...)                               \
    {                                                             \
        .isa = ISA,                                               \
        .name = #sfx,                                             \
        .vec_dot = {                                              \
            [TYPE_F32] = cpu_dot_f32_##sfx,                           \
            [TYPE_F16] = cpu_dot_f16_##sfx,                           \
            [TYPE_BF16] = cpu_dot_bf16_##sfx,                         \
            [TYPE_Q4_0] = cpu_dot_q4_0_q8_0_##sfx,                    \
            [TYPE_Q4_1] = cpu_dot_q4_1_q8_1_##sfx,                    \
            [TYPE_Q5_0] = cpu_dot_q5_0_q8_0_##sfx,                    \
            [TYPE_Q5_1] = cpu_dot_q5_1_q8_1_##sfx,                    \
            [TYPE_Q8_0] = cpu_dot_q8_0_q8_0_##sfx,                    \
            [TYPE_IQ4_NL] = cpu_dot_iq4_nl_q8_0_##sfx,                \
            [TYPE_Q2_K] = cpu_dot_q2_K_q8_K_##sfx,                    \
            [TYPE_Q3_K] = cpu_dot_q3_K_q8_K_##sfx,                    \
            [TYPE_Q4_K] = cpu_dot_q4_K_q8_K_##sfx,                    \
            [TYPE_Q5_K] = cpu_dot_q5_K_q8_K_##sfx,                    \
            [TYPE_Q6_K] = cpu_dot_q6_K_q8_K_##sfx,                    \
            [TYPE_IQ4_XS] = cpu_dot_iq4_xs_q8_K_##sfx,                \
        },                                                        \
        .from_float = {                                           \
            [TYPE_F32] = cpu_from_float_f32_##sfx,                    \
            [TYPE_F16] = cpu_from_float_f16_##sfx,                    \
            [TYPE_BF16] = cpu_from_float_bf16_##sfx,                  \
            [TYPE_Q8_0] = cpu_from_float_q8_0_##sfx,                  \
            [TYPE_Q8_1] = cpu_from_float_q8_1_##sfx,                  \
            [TYPE_Q8_K] = cpu_from_float_q8_K_##sfx,                  \
        },                                                        \
        .vec_dot_nrows = {                                        \
            [TYPE_F32] = cpu_dot_f32_nrows_##sfx,                     \
            [TYPE_F16] = cpu_dot_f16_nrows_##sfx,                     \
            [TYPE_BF16] = cpu_dot_bf16_nrows_##sfx,                   \
            [TYPE_Q4_0] = cpu_dot_q4_0_q8_0_nrows_##sfx,              \
            [TYPE_Q4_1] = cpu_dot_q4_1_q8_1_nrows_##sfx,              \
            [TYPE_Q5_0] = cpu_dot_q5_0_q8_0_nrows_##sfx,              \
            [TYPE_Q5_1] = cpu_dot_q5_1_q8_1_nrows_##sfx,              \
            [TYPE_Q8_0] = cpu_dot_q8_0_q8_0_nrows_##sfx,              \
            [TYPE_IQ4_NL] = cpu_dot_iq4_nl_q8_0_nrows_##sfx,          \
            [TYPE_Q2_K] = cpu_dot_q2_K_q8_K_nrows_##sfx,              \
            [TYPE_Q3_K] = cpu_dot_q3_K_q8_K_nrows_##sfx,              \
            [TYPE_Q4_K] = cpu_dot_q4_K_q8_K_nrows_##sfx,              \
            [TYPE_Q5_K] = cpu_dot_q5_K_q8_K_nrows_##sfx,              \
            [TYPE_Q6_K] = cpu_dot_q6_K_q8_K_nrows_##sfx,              \
            [TYPE_IQ4_XS] = cpu_dot_iq4_xs_q8_K_nrows_##sfx,          \
        },                                                        \
        .attn_tile = attn_tile_##sfx,                             \
        __VA_ARGS__                                               \
    }

static const struct cpu_kernels tables[CPU_ISA_COUNT] = {
    [CPU_ISA_SCALAR] = KERNEL_TABLE(CPU_ISA_SCALAR, scalar),
#ifdef CLLM_X86
    [CPU_ISA_AVX2] = KERNEL_TABLE(CPU_ISA_AVX2, avx2),
    [CPU_ISA_AVX512] = KERNEL_TABLE(CPU_ISA_AVX512, avx512,
        .from_float_packed = { [TYPE_Q8_0] = cpu_from_float_q8_0_packed_avx512 },
        .vec_dot_nrows_packed = {
            [TYPE_Q4_0] = cpu_dot_q4_0_q8_0_nrows_packed_avx512,
            [TYPE_Q5_0] = cpu_dot_q5_0_q8_0_nrows_packed_avx512,
            [TYPE_Q8_0] = cpu_dot_q8_0_q8_0_nrows_packed_avx512,
            [TYPE_IQ4_NL] = cpu_dot_iq4_nl_q8_0_nrows_packed_avx512,
        }),
#endif
};

size_t cpu_packed_row_size(enum tensor_type vdt, int64_t n)
{
    if (vdt != TYPE_Q8_0 || n <= 0 || n % QK8_0 != 0)
        return 0;
    int64_t nb = n / QK8_0, steps = nb / 4;
    size_t last = steps % 2 ? 128 + 64 : 0; /* a group of one step */
    return (size_t)(steps / 2) * CPU_Q8_0_PACKED_GROUP + last + (size_t)(nb % 4) * sizeof(block_q8_0);
}

static enum cpu_isa detected_isa;
static enum cpu_isa chosen_isa;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

enum cpu_isa cpu_isa_choose(enum cpu_isa detected, const char *cap)
{
    if (cap == NULL)
        return detected;
    for (int i = 0; i < CPU_ISA_COUNT; i++)
        if (tables[i].name != NULL && strcmp(cap, tables[i].name) == 0)
            return (enum cpu_isa)i < detected ? (enum cpu_isa)i : detected;
    return detected; /* unknown name: no cap */
}

static void choose_isa(void)
{
    detected_isa = cpu_isa_detect();
    chosen_isa = cpu_isa_choose(detected_isa, getenv("CLLM_ISA"));
}

const struct cpu_kernels *cpu_kernels(void)
{
    pthread_once(&choose_once, choose_isa);
    return &tables[chosen_isa];
}

const struct cpu_kernels *cpu_kernels_for(enum cpu_isa isa)
{
    pthread_once(&choose_once, choose_isa);
    if ((int)isa < 0 || isa >= CPU_ISA_COUNT || isa > detected_isa || tables[isa].name == NULL)
        return NULL;
    return &tables[isa];
}
