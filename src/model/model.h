/*
 * model.h - a transformer model's hyperparameters and weights, bound from a
 * GGUF file: the architecture ({arch}.* metadata keys) and every tensor by
 * its GGUF name (token_embd, blk.N.attn_q, ..., output_norm, output).
 *
 * Loading checks everything the engine will rely on: a known architecture,
 * the hyperparameters it needs, each required tensor present with the shape
 * the hyperparameters imply, and a type cllm can compute with. A bad model
 * gives NULL and a message naming the file and what is missing or wrong.
 *
 * Weights point into the GGUF mapping; the model owns the GGUF context.
 */
#ifndef CLLM_MODEL_MODEL_H
#define CLLM_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "tensor/types.h"

enum model_arch { ARCH_LLAMA = 0, ARCH_GEMMA3, ARCH_QWEN2, ARCH_QWEN3, ARCH_BERT, ARCH_COUNT };

/* A weight tensor as the engine uses it: ne[0] elements per row. */
struct weight {
    const char *name; /* NULL when the tensor is absent (optional weights) */
    enum tensor_type type;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
};

struct model_hparams {
    enum model_arch arch;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_ff;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim_k;      /* attention.key_length, default n_embd / n_head */
    int32_t head_dim_v;      /* attention.value_length, default head_dim_k */
    float norm_eps;          /* attention.layer_norm_rms_epsilon */
    int32_t n_rot;           /* rope.dimension_count, default head_dim_k */
    bool rope_neox;          /* NeoX (halves) pairing rather than adjacent pairs */
    float rope_freq_base;
    float rope_freq_scale;   /* 1 / rope.scaling.factor for linear scaling, else 1 */
    float rope_freq_base_swa;/* sliding-window layers' base (gemma3: 10000) */
    int32_t sliding_window;  /* 0: none */
    int32_t swa_period;      /* every swa_period-th layer is global (gemma3: 6); 0: none */
    float embd_scale;        /* token embeddings are multiplied by this (gemma: sqrt(n_embd)) */
    float attn_scale;        /* softmax scale of Q.K (1/sqrt(head_dim) unless the model says) */
    bool causal;             /* attention.causal: false for encoders (bert) */
    int32_t pooling_type;    /* {arch}.pooling_type: -1 unset, 0 none, 1 mean, 2 cls, 3 last, 4 rank */
};

struct layer_weights {
    struct weight attn_norm, wq, wk, wv, wo;
    struct weight bq, bk, bv;                  /* qwen2 biases */
    struct weight q_norm, k_norm;              /* gemma3, qwen3 */
    struct weight post_attn_norm;              /* gemma3 */
    struct weight ffn_norm, ffn_gate, ffn_up, ffn_down;
    struct weight post_ffn_norm;               /* gemma3 */
    /* bert: output bias, post-norm LayerNorms (weight, bias), FFN biases */
    struct weight bo, attn_out_norm, attn_out_norm_b, layer_out_norm, layer_out_norm_b;
    struct weight ffn_up_b, ffn_down_b;
};

struct model {
    struct gguf_ctx *gguf;
    struct model_hparams hp;
    struct weight tok_embd, output_norm, output; /* output = tok_embd when tied */
    bool tied_output;
    /* bert: absolute position and token type embeddings, embedding LayerNorm;
     * no output_norm / output (an encoder: embeddings only) */
    struct weight pos_embd, type_embd, embd_norm, embd_norm_b;
    struct layer_weights *layers;
};

/* Open and bind a model. flags are gguf_open's (GGUF_OPEN_NO_MMAP, ...). */
struct model *model_load(const char *path, unsigned flags, char *err, size_t err_size);
/* Bind a model from an already-open GGUF context; takes ownership of gguf on
 * success and on failure. */
struct model *model_from_gguf(struct gguf_ctx *gguf, char *err, size_t err_size);
void model_free(struct model *m);

const char *model_arch_name(enum model_arch arch);
/* True if layer il uses sliding-window attention. */
bool model_layer_is_swa(const struct model_hparams *hp, int il);

#endif
