/*
 * attn.c - the attention tile (see attn.h): the types handled, the scratch
 * size and the dispatch to the kernel table's tile (cpu/attn_scalar.c, and
 * cpu/attn_avx2.c, cpu/attn_avx512.c from the template cpu/attn_simd.h).
 */
#include "tensor/attn.h"

#include "tensor/cpu/attn_impl.h"
#include "tensor/ops.h"

int attn_types_supported(enum tensor_type type_k, enum tensor_type type_v)
{
    return (type_k == TYPE_F16 || type_k == TYPE_F32) && (type_v == TYPE_F16 || type_v == TYPE_F32);
}

size_t attn_scratch_floats(int32_t n_q, int32_t n_keys, int32_t head_dim_k, int32_t head_dim_v)
{
    size_t hk = attn_pad(head_dim_k), hv = attn_pad(head_dim_v);
    size_t w = ATTN_BLOCK * (hk > hv ? hk : hv);
    return (size_t)n_q * (attn_pad(n_keys) + hk + hv) + w;
}

int attn_tile_run_isa(enum cpu_isa isa, const struct attn_tile *t, float *scratch)
{
    const struct cpu_kernels *k = cpu_kernels_for(isa);
    if (k == NULL)
        return -1;
    k->attn_tile(t, scratch);
    return 0;
}

void attn_tile_run(const struct attn_tile *t, float *scratch)
{
    attn_tile_run_isa(ops_get_isa(), t, scratch);
}
