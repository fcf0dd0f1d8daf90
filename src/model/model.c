/*
 * model.c - binding a GGUF file to a model (see model.h).
 *
 * Each architecture is a row of arch_descs: its GGUF name, how it rotates,
 * and which optional tensors it has. Hyperparameters come from the
 * {arch}.* keys with the defaults llama.cpp uses; tensors are bound by name
 * and checked against the shapes the hyperparameters imply.
 */
#include "model/model.h"
#include "base/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arch_desc {
    const char *name;
    bool rope_neox;
    bool qkv_bias;     /* attn_q/k/v.bias */
    bool qk_norm;      /* attn_q_norm, attn_k_norm */
    bool post_norms;   /* post_attention_norm, post_ffw_norm */
    bool embd_scale;   /* scale embeddings by sqrt(n_embd) */
    int swa_period;    /* sliding-window layer pattern, 0 for none */
    float rope_base_swa;
};

static const struct arch_desc arch_descs[ARCH_COUNT] = {
    [ARCH_LLAMA] = { "llama", false, false, false, false, false, 0, 0 },
    [ARCH_GEMMA3] = { "gemma3", true, false, true, true, true, 6, 10000.0f },
    [ARCH_QWEN2] = { "qwen2", true, true, false, false, false, 0, 0 },
    [ARCH_QWEN3] = { "qwen3", true, false, true, false, false, 0, 0 },
    [ARCH_BERT] = { "bert", false, true, false, false, false, 0, 0 },
};

const char *model_arch_name(enum model_arch arch)
{
    return (unsigned)arch < ARCH_COUNT ? arch_descs[arch].name : "unknown";
}

bool model_layer_is_swa(const struct model_hparams *hp, int il)
{
    return hp->sliding_window > 0 && hp->swa_period > 0 && il % hp->swa_period < hp->swa_period - 1;
}

/* ------------------------------------------------------------ errors */

struct loader {
    struct gguf_ctx *gguf;
    const struct arch_desc *desc;
    char *err;
    size_t err_size;
};

static bool fail(struct loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset_at(l->err, l->err_size, gguf_name(l->gguf), fmt, ap);
    va_end(ap);
    return false;
}

/* ------------------------------------------------------------ hyperparameters */

/* Read {arch}.suffix as a positive int32; absent -> def (def < 0: required). */
static bool get_i32(struct loader *l, const char *suffix, int32_t def, int32_t *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", l->desc->name, suffix);
    int rc = gguf_get_i32(l->gguf, key, out);
    if (rc == GGUF_NOT_FOUND) {
        if (def < 0)
            return fail(l, "missing metadata key %s", key);
        *out = def;
        return true;
    }
    if (rc != GGUF_OK)
        return fail(l, "metadata key %s: %s (expected an integer)", key, gguf_status_str(rc));
    if (*out < 0)
        return fail(l, "metadata key %s is negative (%d)", key, *out);
    return true;
}

static bool get_f32(struct loader *l, const char *suffix, float def, float *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", l->desc->name, suffix);
    int rc = gguf_get_f32(l->gguf, key, out);
    if (rc == GGUF_NOT_FOUND) {
        *out = def;
        return true;
    }
    if (rc != GGUF_OK || !isfinite(*out))
        return fail(l, "metadata key %s: expected a finite float", key);
    return true;
}

static bool read_rope_scaling(struct loader *l, struct model_hparams *hp)
{
    char key[128];
    const char *s;
    size_t len;
    hp->rope_freq_scale = 1.0f;
    snprintf(key, sizeof(key), "%s.rope.scaling.type", l->desc->name);
    if (gguf_get_str(l->gguf, key, &s, &len) != GGUF_OK)
        return true;
    if (len == 4 && memcmp(s, "none", 4) == 0)
        return true;
    if (len != 6 || memcmp(s, "linear", 6) != 0)
        return fail(l, "rope scaling type '%.*s' is not supported (only none and linear)", (int)len, s);
    float factor;
    if (!get_f32(l, "rope.scaling.factor", 1.0f, &factor))
        return false;
    if (factor <= 0)
        return fail(l, "rope.scaling.factor %g must be positive", factor);
    hp->rope_freq_scale = 1.0f / factor;
    return true;
}

static bool read_hparams(struct loader *l, struct model_hparams *hp)
{
    if (!get_i32(l, "context_length", -1, &hp->n_ctx_train) ||
        !get_i32(l, "embedding_length", -1, &hp->n_embd) ||
        !get_i32(l, "block_count", -1, &hp->n_layer) ||
        !get_i32(l, "feed_forward_length", -1, &hp->n_ff) ||
        !get_i32(l, "attention.head_count", -1, &hp->n_head))
        return false;
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_ff == 0)
        return fail(l, "embedding_length, block_count, feed_forward_length and head_count must be non-zero");
    if (!get_i32(l, "attention.head_count_kv", hp->n_head, &hp->n_head_kv) ||
        !get_i32(l, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim_k) ||
        !get_i32(l, "attention.value_length", hp->head_dim_k, &hp->head_dim_v) ||
        !get_i32(l, "rope.dimension_count", hp->head_dim_k, &hp->n_rot) ||
        !get_i32(l, "attention.sliding_window", 0, &hp->sliding_window) ||
        !get_f32(l, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps) ||
        !get_f32(l, "rope.freq_base", 10000.0f, &hp->rope_freq_base) ||
        !read_rope_scaling(l, hp))
        return false;
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
        return fail(l, "head_count %d is not a multiple of head_count_kv %d", hp->n_head, hp->n_head_kv);
    if (hp->head_dim_k == 0 || hp->head_dim_v == 0)
        return fail(l, "attention key/value length must be non-zero");
    if (hp->n_rot > hp->head_dim_k || hp->n_rot % 2 != 0)
        return fail(l, "rope.dimension_count %d must be even and at most the head size %d", hp->n_rot,
                    hp->head_dim_k);
    hp->rope_neox = l->desc->rope_neox;
    hp->swa_period = hp->sliding_window > 0 ? l->desc->swa_period : 0;
    hp->rope_freq_base_swa = l->desc->rope_base_swa > 0 ? l->desc->rope_base_swa : hp->rope_freq_base;
    hp->embd_scale = l->desc->embd_scale ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim_k);
    return true;
}

/* Encoders (bert): LayerNorm epsilon, bidirectional attention, pooling. */
static bool read_encoder_hparams(struct loader *l, struct model_hparams *hp)
{
    char key[128];
    hp->causal = hp->arch != ARCH_BERT;
    hp->pooling_type = -1;
    if (hp->arch != ARCH_BERT)
        return true;
    if (!get_f32(l, "attention.layer_norm_epsilon", 1e-12f, &hp->norm_eps))
        return false;
    bool causal;
    snprintf(key, sizeof(key), "%s.attention.causal", l->desc->name);
    if (gguf_get_bool(l->gguf, key, &causal) == GGUF_OK && causal)
        return fail(l, "%s is true: cllm runs bert models as encoders only", key);
    uint32_t pooling;
    snprintf(key, sizeof(key), "%s.pooling_type", l->desc->name);
    if (gguf_get_u32(l->gguf, key, &pooling) == GGUF_OK)
        hp->pooling_type = (int32_t)pooling;
    return true;
}

/* ------------------------------------------------------------ tensors */

/* Bind tensor `name`; check its shape is [ne0, ne1] (ne1 0: 1-D). */
static bool bind(struct loader *l, struct weight *w, const char *name, int64_t ne0, int64_t ne1,
                 bool required)
{
    const struct gguf_tensor *t = gguf_find_tensor(l->gguf, name);
    if (t == NULL) {
        memset(w, 0, sizeof(*w));
        return required ? fail(l, "missing tensor '%s'", name) : true;
    }
    int64_t want_dims = ne1 ? 2 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != (ne1 ? ne1 : 1) || t->ne[2] != 1 || t->ne[3] != 1)
        return fail(l, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld%s%lld]", name,
                    (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                    (long long)t->ne[3], (long long)ne0, want_dims == 2 ? ", " : "",
                    (long long)(want_dims == 2 ? ne1 : 0));
    const struct type_traits *tt = tensor_type_traits(t->type);
    if (!tt->supported)
        return fail(l, "tensor '%s' has type %s, which cllm cannot compute with", name, tt->name);
    if (want_dims == 1 && t->type != TYPE_F32)
        return fail(l, "tensor '%s' has type %s; norms and biases must be F32", name, tt->name);
    w->name = t->name;
    w->type = t->type;
    memcpy(w->ne, t->ne, sizeof(w->ne));
    w->data = t->data;
    w->nbytes = t->nbytes;
    return true;
}

/* A bert layer: Q/K/V/output projections with biases, the attention
 * output LayerNorm, the FFN (up, down, biases) and the layer output LayerNorm. */
static bool bind_bert_layer(struct loader *l, const struct model_hparams *hp, int il, struct layer_weights *lw)
{
    int64_t e = hp->n_embd, f = hp->n_ff, q = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t k = (int64_t)hp->n_head_kv * hp->head_dim_k, v = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t o = (int64_t)hp->n_head * hp->head_dim_v;
    const struct { struct weight *w; const char *suffix; int64_t ne0, ne1; bool required; } t[] = {
        { &lw->wq, "attn_q.weight", e, q, true }, { &lw->bq, "attn_q.bias", q, 0, false },
        { &lw->wk, "attn_k.weight", e, k, true }, { &lw->bk, "attn_k.bias", k, 0, false },
        { &lw->wv, "attn_v.weight", e, v, true }, { &lw->bv, "attn_v.bias", v, 0, false },
        { &lw->wo, "attn_output.weight", o, e, true }, { &lw->bo, "attn_output.bias", e, 0, false },
        { &lw->attn_out_norm, "attn_output_norm.weight", e, 0, true },
        { &lw->attn_out_norm_b, "attn_output_norm.bias", e, 0, false },
        { &lw->ffn_up, "ffn_up.weight", e, f, true }, { &lw->ffn_up_b, "ffn_up.bias", f, 0, false },
        { &lw->ffn_down, "ffn_down.weight", f, e, true }, { &lw->ffn_down_b, "ffn_down.bias", e, 0, false },
        { &lw->layer_out_norm, "layer_output_norm.weight", e, 0, true },
        { &lw->layer_out_norm_b, "layer_output_norm.bias", e, 0, false },
    };
    char name[96];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(name, sizeof(name), "blk.%d.%s", il, t[i].suffix);
        if (!bind(l, t[i].w, name, t[i].ne0, t[i].ne1, t[i].required))
            return false;
    }
    return true;
}

static bool bind_layer(struct loader *l, const struct model_hparams *hp, int il,
                       struct layer_weights *lw)
{
    if (hp->arch == ARCH_BERT)
        return bind_bert_layer(l, hp, il, lw);
    const struct arch_desc *d = l->desc;
    int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t k = (int64_t)hp->n_head_kv * hp->head_dim_k, v = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t o = (int64_t)hp->n_head * hp->head_dim_v;
    char n[16][96];
    const char *suffix[] = { "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                             "attn_output.weight", "attn_q.bias", "attn_k.bias", "attn_v.bias",
                             "attn_q_norm.weight", "attn_k_norm.weight", "post_attention_norm.weight",
                             "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
                             "post_ffw_norm.weight" };
    for (int i = 0; i < 16; i++)
        snprintf(n[i], sizeof(n[i]), "blk.%d.%s", il, suffix[i]);
    return bind(l, &lw->attn_norm, n[0], e, 0, true) && bind(l, &lw->wq, n[1], e, q, true) &&
           bind(l, &lw->wk, n[2], e, k, true) && bind(l, &lw->wv, n[3], e, v, true) &&
           bind(l, &lw->wo, n[4], o, e, true) && bind(l, &lw->bq, n[5], q, 0, d->qkv_bias) &&
           bind(l, &lw->bk, n[6], k, 0, d->qkv_bias) && bind(l, &lw->bv, n[7], v, 0, d->qkv_bias) &&
           bind(l, &lw->q_norm, n[8], hp->head_dim_k, 0, d->qk_norm) &&
           bind(l, &lw->k_norm, n[9], hp->head_dim_k, 0, d->qk_norm) &&
           bind(l, &lw->post_attn_norm, n[10], e, 0, d->post_norms) &&
           bind(l, &lw->ffn_norm, n[11], e, 0, true) &&
           bind(l, &lw->ffn_gate, n[12], e, hp->n_ff, true) &&
           bind(l, &lw->ffn_up, n[13], e, hp->n_ff, true) &&
           bind(l, &lw->ffn_down, n[14], hp->n_ff, e, true) &&
           bind(l, &lw->post_ffn_norm, n[15], e, 0, d->post_norms);
}

/* bert: token, position and token type embeddings and their LayerNorm. */
static bool bind_bert_globals(struct loader *l, struct model *m)
{
    struct model_hparams *hp = &m->hp;
    const struct gguf_tensor *tt = gguf_find_tensor(l->gguf, "token_types.weight");
    return bind(l, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true) &&
           bind(l, &m->pos_embd, "position_embd.weight", hp->n_embd, hp->n_ctx_train, true) &&
           (tt == NULL || bind(l, &m->type_embd, "token_types.weight", hp->n_embd, tt->ne[1] > 0 ? tt->ne[1] : 1,
                               true)) &&
           bind(l, &m->embd_norm, "token_embd_norm.weight", hp->n_embd, 0, true) &&
           bind(l, &m->embd_norm_b, "token_embd_norm.bias", hp->n_embd, 0, false);
}

static bool bind_globals(struct loader *l, struct model *m)
{
    struct model_hparams *hp = &m->hp;
    const struct gguf_tensor *te = gguf_find_tensor(l->gguf, "token_embd.weight");
    if (te == NULL)
        return fail(l, "missing tensor 'token_embd.weight'");
    if (te->ne[1] <= 0 || te->ne[1] > INT32_MAX)
        return fail(l, "tensor 'token_embd.weight' has %lld rows", (long long)te->ne[1]);
    hp->n_vocab = (int32_t)te->ne[1];
    uint64_t n_tokens;
    if (gguf_get_arr(l->gguf, "tokenizer.ggml.tokens", NULL, &n_tokens, NULL) == GGUF_OK &&
        n_tokens > (uint64_t)hp->n_vocab)
        return fail(l, "the vocabulary has %llu tokens but token_embd.weight only %d rows",
                    (unsigned long long)n_tokens, hp->n_vocab);
    if (hp->arch == ARCH_BERT)
        return bind_bert_globals(l, m);
    if (!bind(l, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true) ||
        !bind(l, &m->output_norm, "output_norm.weight", hp->n_embd, 0, true) ||
        !bind(l, &m->output, "output.weight", hp->n_embd, hp->n_vocab, false))
        return false;
    m->tied_output = m->output.name == NULL;
    if (m->tied_output)
        m->output = m->tok_embd;
    return true;
}

static bool find_arch(struct loader *l, struct model_hparams *hp)
{
    const char *s;
    size_t len;
    int rc = gguf_get_str(l->gguf, "general.architecture", &s, &len);
    if (rc != GGUF_OK)
        return fail(l, "general.architecture: %s", gguf_status_str(rc));
    for (int a = 0; a < ARCH_COUNT; a++) {
        if (strlen(arch_descs[a].name) == len && memcmp(arch_descs[a].name, s, len) == 0) {
            hp->arch = (enum model_arch)a;
            l->desc = &arch_descs[a];
            return true;
        }
    }
    return fail(l, "unsupported architecture '%.*s' (cllm supports llama, gemma3, qwen2, qwen3, bert)",
                (int)len, s);
}

struct model *model_from_gguf(struct gguf_ctx *gguf, char *err, size_t err_size)
{
    char dummy[1];
    struct loader l = { gguf, NULL, err ? err : dummy, err ? err_size : sizeof(dummy) };
    struct model *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        fail(&l, "out of memory");
        gguf_close(gguf);
        return NULL;
    }
    m->gguf = gguf;
    bool ok = find_arch(&l, &m->hp) && read_hparams(&l, &m->hp) && read_encoder_hparams(&l, &m->hp) &&
              bind_globals(&l, m);
    if (ok) {
        m->layers = calloc((size_t)m->hp.n_layer, sizeof(*m->layers));
        ok = m->layers != NULL || fail(&l, "out of memory");
    }
    for (int il = 0; ok && il < m->hp.n_layer; il++)
        ok = bind_layer(&l, &m->hp, il, &m->layers[il]);
    if (!ok) {
        model_free(m);
        return NULL;
    }
    return m;
}

struct model *model_load(const char *path, unsigned flags, char *err, size_t err_size)
{
    struct gguf_ctx *gguf = gguf_open(path, flags, err, err_size);
    if (gguf == NULL)
        return NULL;
    return model_from_gguf(gguf, err, err_size);
}

void model_free(struct model *m)
{
    if (m == NULL)
        return;
    free(m->layers);
    gguf_close(m->gguf);
    free(m);
}
