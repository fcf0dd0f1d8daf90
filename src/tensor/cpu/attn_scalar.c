/*
 * attn_scalar.c - the attention tile (tensor/attn.h) in plain C, one query
 * and one key at a time: the reference for the SIMD tiles (attn_simd.h) and
 * the entry of the scalar kernel table.
 */
#include <math.h>
#include <string.h>

#include "tensor/cpu/attn_impl.h"
#include "tensor/f16.h"
#include "tensor/ops.h"

static float value_at(const void *row, enum tensor_type type, int32_t d)
{
    if (type == TYPE_F16) {
        f16_t h;
        memcpy(&h, (const uint8_t *)row + 2 * (size_t)d, 2);
        return f16_to_f32(h);
    }
    float f;
    memcpy(&f, (const uint8_t *)row + 4 * (size_t)d, 4);
    return f;
}

static float round_f16(float x) { return f16_to_f32(f32_to_f16(x)); }

void attn_tile_scalar(const struct attn_tile *t, float *scratch)
{
    struct attn_layout l = attn_layout(t, scratch);
    const int32_t hk = t->head_dim_k, hv = t->head_dim_v;
    const int parts = attn_parts(hk);
    for (int32_t j = 0; j < t->n_q; j++) {
        float *q = l.q + (size_t)j * l.hk, *s = l.s + (size_t)j * l.kstride;
        for (int32_t d = 0; d < hk; d++)
            q[d] = t->type_k == TYPE_F16 ? round_f16(t->q[j][d]) : t->q[j][d];
        const int32_t first = t->first[j], last = t->last[j];
        for (int32_t i = first; i <= last; i++) {
            float acc[ATTN_MAX_PARTS] = { 0.0f };
            for (int32_t d = 0; d < hk; d++)
                acc[d % parts] = fmaf(q[d], value_at(t->k[i], t->type_k, d), acc[d % parts]);
            for (int n = parts; n > 1; n /= 2)
                for (int k = 0; k < n / 2; k++)
                    acc[k] = acc[2 * k] + acc[2 * k + 1];
            s[i] = acc[0];
        }
        op_softmax(s + first, s + first, last - first + 1, t->scale, NULL);
        if (t->type_v == TYPE_F16)
            for (int32_t i = first; i <= last; i++)
                s[i] = round_f16(s[i]);
        float *o = l.o + (size_t)j * l.hv;
        for (int32_t d = 0; d < hv; d++)
            o[d] = 0.0f;
        for (int32_t i = first; i <= last; i++)
            for (int32_t d = 0; d < hv; d++)
                o[d] = fmaf(s[i], value_at(t->v[i], t->type_v, d), o[d]);
        memcpy(t->out[j], o, (size_t)hv * sizeof(float));
    }
}

