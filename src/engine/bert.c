/*
 * bert.c - BERT's encoder forward pass (see bert.h). Per layer, for the n
 * tokens of a batch:
 *   q, k, v = x Wq + bq, x Wk + bk, x Wv + bv
 *   att = for each token and head: softmax(q . k[j] / sqrt(d)) v[j] over
 *         the tokens j of its own sequence (all of them: no causal mask)
 *   x = LayerNorm(x + att Wo + bo)
 *   x = LayerNorm(x + gelu(x Wup + bup) Wdown + bdown)
 * after x = LayerNorm(tok_embd[id] + pos_embd[pos] + type_embd[0]).
 * Attention is in F32 on the batch's own rows (no KV cache), as llama.cpp
 * computes it for embedding models.
 */
#include "engine/bert.h"

#include <math.h>
#include <string.h>

#include "base/err.h"
#include "tensor/ops.h"

static struct matmul_weights bw(const struct weight *w)
{
    struct matmul_weights r = { .type = w->type, .data = w->data, .n_out = w->ne[1], .n_in = w->ne[0],
                                .row_stride = 0 };
    return r;
}

static void add_bias_rows(float *x, const struct weight *b, int32_t n_rows, int64_t n)
{
    if (b->name == NULL)
        return;
    for (int32_t r = 0; r < n_rows; r++)
        op_add(x + (size_t)r * n, x + (size_t)r * n, b->data, n);
}

/* x = LayerNorm(x + o) row by row. */
static void residual_norm(float *x, float *o, const struct weight *w, const struct weight *b, int32_t n_rows,
                          int64_t n, float eps)
{
    for (int32_t r = 0; r < n_rows; r++) {
        float *xr = x + (size_t)r * n, *orow = o + (size_t)r * n;
        op_add(orow, orow, xr, n);
        op_layer_norm(xr, orow, w->data, b->name ? b->data : NULL, n, eps);
    }
}

struct bert_attn_job {
    const struct model *m;
    const struct batch *b;
    const struct bert_bufs *bufs;
    int32_t q_dim, kv_dim;
};

static float dot(const float *a, const float *b, int32_t n)
{
    float s = 0;
    for (int32_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void attend(const struct bert_attn_job *j, int32_t i, int32_t h, int ith)
{
    const struct model_hparams *hp = &j->m->hp;
    const struct bert_bufs *bb = j->bufs;
    int32_t s = j->b->seq_id[i], f = bb->seq_first[s], n = bb->seq_first[s + 1] - f;
    int32_t kvh = h / (hp->n_head / hp->n_head_kv), dk = hp->head_dim_k, dv = hp->head_dim_v;
    float *scores = bb->scores + (size_t)ith * bb->scores_stride;
    const float *q = bb->q + (size_t)i * j->q_dim + (size_t)h * dk;
    for (int32_t t = 0; t < n; t++)
        scores[t] = dot(q, bb->k + (size_t)bb->order[f + t] * j->kv_dim + (size_t)kvh * dk, dk);
    op_softmax(scores, scores, n, hp->attn_scale, NULL);
    float *out = bb->att + (size_t)i * hp->n_head * dv + (size_t)h * dv;
    memset(out, 0, (size_t)dv * sizeof(float));
    for (int32_t t = 0; t < n; t++)
        op_axpy(out, scores[t], bb->v + (size_t)bb->order[f + t] * (size_t)hp->n_head_kv * dv + (size_t)kvh * dv,
                dv);
}

static void attn_task(void *arg, int ith, int nth)
{
    const struct bert_attn_job *j = arg;
    int32_t n_head = j->m->hp.n_head, total = j->b->n_tokens * n_head;
    for (int32_t w = ith; w < total; w += nth)
        attend(j, w / n_head, w % n_head, ith);
}

static int embed(const struct model *m, const struct batch *b, const struct bert_bufs *bb, char *err,
                 size_t err_size)
{
    const struct model_hparams *hp = &m->hp;
    int32_t n = b->n_tokens;
    int64_t ne = hp->n_embd;
    static const int32_t type0 = 0;
    if (op_get_rows(bb->x, m->tok_embd.type, m->tok_embd.data, hp->n_vocab, ne, b->token, n) != 0 ||
        op_get_rows(bb->o, m->pos_embd.type, m->pos_embd.data, m->pos_embd.ne[1], ne, b->pos, n) != 0)
        return err_set(err, err_size, "cannot read the token or position embeddings");
    if (m->type_embd.name != NULL &&
        op_get_rows(bb->g, m->type_embd.type, m->type_embd.data, m->type_embd.ne[1], ne, &type0, 1) != 0)
        return err_set(err, err_size, "cannot read the token type embeddings");
    for (int32_t r = 0; r < n; r++) {
        float *x = bb->x + (size_t)r * ne;
        op_add(x, x, bb->o + (size_t)r * ne, ne);
        if (m->type_embd.name != NULL)
            op_add(x, x, bb->g, ne);
        op_layer_norm(x, x, m->embd_norm.data, m->embd_norm_b.name ? m->embd_norm_b.data : NULL, ne,
                      hp->norm_eps);
    }
    return 0;
}

int engine_bert_forward(const struct model *m, struct matmul_ctx *mm, struct thread_pool *pool, int nth,
                 const struct batch *b, const struct bert_bufs *bb, char *err, size_t err_size)
{
    const struct model_hparams *hp = &m->hp;
    int32_t n = b->n_tokens;
    int64_t ne = hp->n_embd, nf = hp->n_ff;
    struct bert_attn_job job = { m, b, bb, hp->n_head * hp->head_dim_k, hp->n_head_kv * hp->head_dim_k };
    int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v, v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    if (embed(m, b, bb, err, err_size) != 0)
        return -1;
    if (nth > bb->n_threads)
        nth = bb->n_threads;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const struct layer_weights *l = &m->layers[il];
        struct matmul_weights qkv[3] = { bw(&l->wq), bw(&l->wk), bw(&l->wv) };
        float *outs[3] = { bb->q, bb->k, bb->v };
        if (matmul_many(mm, qkv, 3, bb->x, n, ne, outs, NULL) != 0)
            return err_set(err, err_size, "layer %d: cannot multiply by the Q/K/V weights", il);
        add_bias_rows(bb->q, &l->bq, n, job.q_dim);
        add_bias_rows(bb->k, &l->bk, n, job.kv_dim);
        add_bias_rows(bb->v, &l->bv, n, v_dim);
        if (nth <= 1)
            attn_task(&job, 0, 1);
        else
            thread_pool_run_n(pool, nth, attn_task, &job);
        struct matmul_weights wo = bw(&l->wo);
        if (matmul(mm, &wo, bb->att, n, o_dim, bb->o, ne) != 0)
            return err_set(err, err_size, "layer %d: cannot multiply by attn_output", il);
        add_bias_rows(bb->o, &l->bo, n, ne);
        residual_norm(bb->x, bb->o, &l->attn_out_norm, &l->attn_out_norm_b, n, ne, hp->norm_eps);
        struct matmul_weights up = bw(&l->ffn_up), down = bw(&l->ffn_down);
        if (matmul(mm, &up, bb->x, n, ne, bb->g, nf) != 0)
            return err_set(err, err_size, "layer %d: cannot multiply by ffn_up", il);
        add_bias_rows(bb->g, &l->ffn_up_b, n, nf);
        op_gelu(bb->g, bb->g, (int64_t)n * nf);
        if (matmul(mm, &down, bb->g, n, nf, bb->o, ne) != 0)
            return err_set(err, err_size, "layer %d: cannot multiply by ffn_down", il);
        add_bias_rows(bb->o, &l->ffn_down_b, n, ne);
        residual_norm(bb->x, bb->o, &l->layer_out_norm, &l->layer_out_norm_b, n, ne, hp->norm_eps);
    }
    return 0;
}
