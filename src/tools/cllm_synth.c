/*
 * cllm_synth.c - `cllm-synth`: write a random-weight GGUF model of a given
 * architecture and shape, quantized to a given type, in the tensor layout and
 * with the metadata llama.cpp's converter writes (so llama.cpp loads it), for
 * tests and benchmarks.
 *
 *   cllm-synth --arch ARCH [--shape NAME] [--type TYPE] [--seed N]
 *              [--vocab FILE.gguf] [--threads N] [--layers N] [--dry-run] -o FILE
 *
 * ARCH: llama, mixtral (llama with experts), qwen2, qwen3, gemma3, gemma2,
 * phi3, qwen2moe, qwen3moe, bert. SHAPE: tiny (default: 2 layers, n_embd 256,
 * runs in well under a second), llama-3.2-1b, qwen3-4b, llama-3.1-8b,
 * qwen3-30b-a3b (the dimensions of those models; an MoE arch on a dense shape
 * gets 8 experts, top 2). TYPE: a tensor type (F32, F16, BF16, Q8_0, Q4_0,
 * Q4_K, Q6_K, IQ4_NL, ...: every 2-D weight gets it, norms and biases stay
 * F32) or a llama-quantize preset (Q4_K_M, Q4_K_S, Q5_K_M, Q5_K_S: the
 * output and some attn_v/ffn_down layers get Q6_K, as llama-quantize's rules
 * say). A weight whose row length the type's block does not divide falls back
 * as llama-quantize does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, ...).
 *
 * The vocabulary is made here: an SPM one (tokenizer.ggml.model "llama":
 * <unk> <s> </s>, the 256 byte tokens, then letter pieces with and without
 * U+2581) or, for bert, a WordPiece one laid out as BERT's ([PAD] 0, [UNK]
 * 100, [CLS] 101, [SEP] 102, [MASK] 103, then words and "##"-less pieces),
 * padded with pieces to the shape's vocabulary size; --vocab copies every
 * tokenizer.* key of another GGUF instead.
 *
 * Weights are uniform with the standard deviation of the usual
 * initialisations (projections 1/sqrt(fan_in), norms 1 +- 0.1, ...), drawn
 * per row from (seed, tensor name, row), so the file does not depend on
 * --threads. The file is streamed: memory stays at about one tensor.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tensor/quant.h"
#include "tensor/types.h"

#define MAX_TENSORS_PER_LAYER 24
#define NAME_LEN 96

/* ------------------------------------------------------------ architectures */

enum synth_arch { S_LLAMA, S_MIXTRAL, S_QWEN2, S_QWEN3, S_GEMMA3, S_GEMMA2, S_PHI3, S_QWEN2MOE,
                  S_QWEN3MOE, S_BERT, S_ARCH_COUNT };

struct arch_info {
    const char *cli_name, *gguf_name;
    bool moe, shared_expert, qkv_bias, qk_norm, post_norms, fused, bert;
    int tied; /* 1: never an output tensor, 0: never tied, -1: as the shape says */
};

static const struct arch_info arches[S_ARCH_COUNT] = {
    [S_LLAMA] = { "llama", "llama", false, false, false, false, false, false, false, -1 },
    [S_MIXTRAL] = { "mixtral", "llama", true, false, false, false, false, false, false, 0 },
    [S_QWEN2] = { "qwen2", "qwen2", false, false, true, false, false, false, false, -1 },
    [S_QWEN3] = { "qwen3", "qwen3", false, false, false, true, false, false, false, -1 },
    [S_GEMMA3] = { "gemma3", "gemma3", false, false, false, true, true, false, false, 1 },
    [S_GEMMA2] = { "gemma2", "gemma2", false, false, false, false, true, false, false, 1 },
    [S_PHI3] = { "phi3", "phi3", false, false, false, false, false, true, false, 0 },
    [S_QWEN2MOE] = { "qwen2moe", "qwen2moe", true, true, true, false, false, false, false, 0 },
    [S_QWEN3MOE] = { "qwen3moe", "qwen3moe", true, false, false, true, false, false, false, 0 },
    [S_BERT] = { "bert", "bert", false, false, true, false, false, false, true, 1 },
};

/* ------------------------------------------------------------ shapes */

struct shape {
    const char *name;
    int64_t n_vocab; /* 0: the made vocabulary's own size */
    int64_t n_ctx, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int64_t n_expert, n_expert_used, n_ff_exp; /* 0 on dense shapes */
    float rope_base;
    bool tied;
};

static const struct shape shapes[] = {
    { "tiny", 0, 4096, 256, 2, 4, 2, 64, 512, 0, 0, 0, 10000.0f, false },
    { "llama-3.2-1b", 128256, 131072, 2048, 16, 32, 8, 64, 8192, 0, 0, 0, 500000.0f, true },
    { "qwen3-4b", 151936, 40960, 2560, 36, 32, 8, 128, 9728, 0, 0, 0, 1000000.0f, true },
    { "llama-3.1-8b", 128256, 131072, 4096, 32, 32, 8, 128, 14336, 0, 0, 0, 500000.0f, false },
    { "qwen3-30b-a3b", 151936, 40960, 2048, 48, 32, 4, 128, 6144, 128, 8, 768, 1000000.0f, false },
};

/* ------------------------------------------------------------ options */

struct opts {
    enum synth_arch arch;
    const struct shape *shape;
    enum tensor_type type;   /* base type */
    int preset;              /* 0: plain type, else one of PRESET_* */
    uint32_t file_type;      /* general.file_type (llama_ftype) */
    uint64_t seed;
    const char *vocab_path, *out;
    int threads;
    int layers;              /* > 0: override the shape's block count */
    bool dry_run;            /* print the plan, write nothing */
};

enum { PRESET_NONE, PRESET_K_S, PRESET_K_M };

/* Shape after the arch's own rules (MoE defaults, bert sizes). */
struct dims {
    int64_t n_vocab, n_ctx, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int64_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
    float rope_base;
    bool tied;
};

/* ------------------------------------------------------------ the tensor plan */

enum init_kind { INIT_WEIGHT, INIT_QK, INIT_EMBD, INIT_SMALL_EMBD, INIT_NORM, INIT_NORM_BIAS,
                 INIT_BIAS, INIT_ROUTER };

struct planned {
    char name[NAME_LEN];
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    enum tensor_type type;
    enum init_kind init;
    size_t nbytes;
    uint64_t offset;
};

struct plan {
    struct planned *t;
    size_t n, cap;
};

static struct planned *plan_add(struct plan *p, enum init_kind init, int64_t ne0, int64_t ne1,
                                int64_t ne2, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static struct planned *plan_add(struct plan *p, enum init_kind init, int64_t ne0, int64_t ne1,
                                int64_t ne2, const char *fmt, ...)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct planned *t = realloc(p->t, cap * sizeof(*t));
        if (t == NULL)
            return NULL;
        p->t = t;
        p->cap = cap;
    }
    struct planned *t = &p->t[p->n++];
    memset(t, 0, sizeof(*t));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    t->init = init;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->ne[2] = ne2 ? ne2 : 1;
    t->ne[3] = 1;
    t->n_dims = ne2 ? 3 : ne1 ? 2 : 1;
    return t;
}

/* llama-quantize's "use more bits" layers (attn_v, ffn_down in _M presets). */
static bool use_more_bits(int64_t il, int64_t n)
{
    return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The type llama-quantize would give a weight whose rows the wanted type
 * cannot hold. */
static enum tensor_type fallback_type(enum tensor_type t, int64_t ne0)
{
    if (tensor_type_row_size(t, ne0) != 0)
        return t;
    switch (t) {
    case TYPE_Q2_K: case TYPE_Q3_K: case TYPE_IQ4_XS: t = TYPE_IQ4_NL; break;
    case TYPE_Q4_K: t = TYPE_Q5_0; break;
    case TYPE_Q5_K: t = TYPE_Q5_1; break;
    case TYPE_Q6_K: t = TYPE_Q8_0; break;
    default: t = TYPE_F16; break;
    }
    return tensor_type_row_size(t, ne0) != 0 ? t : TYPE_F16;
}

static enum tensor_type choose_type(const struct opts *o, const struct dims *d, const struct planned *t,
                                    int64_t il)
{
    if (t->n_dims == 1 || t->init == INIT_ROUTER || strcmp(t->name, "position_embd.weight") == 0 ||
        strcmp(t->name, "token_types.weight") == 0)
        return TYPE_F32;
    enum tensor_type ty = o->type;
    if (o->preset != PRESET_NONE) {
        bool is_output = strcmp(t->name, "output.weight") == 0 ||
                         (d->tied && strcmp(t->name, "token_embd.weight") == 0);
        bool more = o->preset == PRESET_K_M && il >= 0 &&
                    (ends_with(t->name, "attn_v.weight") || ends_with(t->name, "ffn_down.weight") ||
                     ends_with(t->name, "ffn_down_exps.weight")) &&
                    use_more_bits(il, d->n_layer);
        if (is_output || more)
            ty = TYPE_Q6_K;
    }
    return fallback_type(ty, t->ne[0]);
}

static int build_plan(const struct opts *o, const struct dims *d, struct plan *p)
{
    const struct arch_info *a = &arches[o->arch];
    int64_t e = d->n_embd, q = d->n_head * d->head_dim, kv = d->n_head_kv * d->head_dim;
    bool ok = true;
#define ADD(init, ne0, ne1, ne2, ...) (ok = ok && plan_add(p, init, ne0, ne1, ne2, __VA_ARGS__) != NULL)
    ADD(INIT_EMBD, e, d->n_vocab, 0, "token_embd.weight");
    if (a->bert) {
        ADD(INIT_SMALL_EMBD, e, 2, 0, "token_types.weight");
        ADD(INIT_SMALL_EMBD, e, d->n_ctx, 0, "position_embd.weight");
        ADD(INIT_NORM, e, 0, 0, "token_embd_norm.weight");
        ADD(INIT_NORM_BIAS, e, 0, 0, "token_embd_norm.bias");
    }
    size_t first_layer = p->n;
    for (int64_t il = 0; il < d->n_layer; il++) {
        if (a->bert) {
            ADD(INIT_QK, e, q, 0, "blk.%lld.attn_q.weight", (long long)il);
            ADD(INIT_BIAS, q, 0, 0, "blk.%lld.attn_q.bias", (long long)il);
            ADD(INIT_QK, e, kv, 0, "blk.%lld.attn_k.weight", (long long)il);
            ADD(INIT_BIAS, kv, 0, 0, "blk.%lld.attn_k.bias", (long long)il);
            ADD(INIT_WEIGHT, e, kv, 0, "blk.%lld.attn_v.weight", (long long)il);
            ADD(INIT_BIAS, kv, 0, 0, "blk.%lld.attn_v.bias", (long long)il);
            ADD(INIT_WEIGHT, q, e, 0, "blk.%lld.attn_output.weight", (long long)il);
            ADD(INIT_BIAS, e, 0, 0, "blk.%lld.attn_output.bias", (long long)il);
            ADD(INIT_NORM, e, 0, 0, "blk.%lld.attn_output_norm.weight", (long long)il);
            ADD(INIT_NORM_BIAS, e, 0, 0, "blk.%lld.attn_output_norm.bias", (long long)il);
            ADD(INIT_WEIGHT, e, d->n_ff, 0, "blk.%lld.ffn_up.weight", (long long)il);
            ADD(INIT_BIAS, d->n_ff, 0, 0, "blk.%lld.ffn_up.bias", (long long)il);
            ADD(INIT_WEIGHT, d->n_ff, e, 0, "blk.%lld.ffn_down.weight", (long long)il);
            ADD(INIT_BIAS, e, 0, 0, "blk.%lld.ffn_down.bias", (long long)il);
            ADD(INIT_NORM, e, 0, 0, "blk.%lld.layer_output_norm.weight", (long long)il);
            ADD(INIT_NORM_BIAS, e, 0, 0, "blk.%lld.layer_output_norm.bias", (long long)il);
            continue;
        }
        ADD(INIT_NORM, e, 0, 0, "blk.%lld.attn_norm.weight", (long long)il);
        if (a->fused) {
            ADD(INIT_QK, e, q + 2 * kv, 0, "blk.%lld.attn_qkv.weight", (long long)il);
        } else {
            ADD(INIT_QK, e, q, 0, "blk.%lld.attn_q.weight", (long long)il);
            ADD(INIT_QK, e, kv, 0, "blk.%lld.attn_k.weight", (long long)il);
            ADD(INIT_WEIGHT, e, kv, 0, "blk.%lld.attn_v.weight", (long long)il);
        }
        if (a->qkv_bias) {
            ADD(INIT_BIAS, q, 0, 0, "blk.%lld.attn_q.bias", (long long)il);
            ADD(INIT_BIAS, kv, 0, 0, "blk.%lld.attn_k.bias", (long long)il);
            ADD(INIT_BIAS, kv, 0, 0, "blk.%lld.attn_v.bias", (long long)il);
        }
        if (a->qk_norm) {
            ADD(INIT_NORM, d->head_dim, 0, 0, "blk.%lld.attn_q_norm.weight", (long long)il);
            ADD(INIT_NORM, d->head_dim, 0, 0, "blk.%lld.attn_k_norm.weight", (long long)il);
        }
        ADD(INIT_WEIGHT, q, e, 0, "blk.%lld.attn_output.weight", (long long)il);
        if (a->post_norms)
            ADD(INIT_NORM, e, 0, 0, "blk.%lld.post_attention_norm.weight", (long long)il);
        ADD(INIT_NORM, e, 0, 0, "blk.%lld.ffn_norm.weight", (long long)il);
        if (a->moe) {
            int64_t f = d->n_ff_exp, x = d->n_expert;
            ADD(INIT_ROUTER, e, x, 0, "blk.%lld.ffn_gate_inp.weight", (long long)il);
            ADD(INIT_WEIGHT, e, f, x, "blk.%lld.ffn_gate_exps.weight", (long long)il);
            ADD(INIT_WEIGHT, f, e, x, "blk.%lld.ffn_down_exps.weight", (long long)il);
            ADD(INIT_WEIGHT, e, f, x, "blk.%lld.ffn_up_exps.weight", (long long)il);
            if (a->shared_expert) {
                int64_t s = d->n_ff_shexp;
                ADD(INIT_ROUTER, e, 0, 0, "blk.%lld.ffn_gate_inp_shexp.weight", (long long)il);
                ADD(INIT_WEIGHT, e, s, 0, "blk.%lld.ffn_gate_shexp.weight", (long long)il);
                ADD(INIT_WEIGHT, s, e, 0, "blk.%lld.ffn_down_shexp.weight", (long long)il);
                ADD(INIT_WEIGHT, e, s, 0, "blk.%lld.ffn_up_shexp.weight", (long long)il);
            }
        } else if (a->fused) {
            ADD(INIT_WEIGHT, d->n_ff, e, 0, "blk.%lld.ffn_down.weight", (long long)il);
            ADD(INIT_WEIGHT, e, 2 * d->n_ff, 0, "blk.%lld.ffn_up.weight", (long long)il);
        } else {
            ADD(INIT_WEIGHT, e, d->n_ff, 0, "blk.%lld.ffn_gate.weight", (long long)il);
            ADD(INIT_WEIGHT, d->n_ff, e, 0, "blk.%lld.ffn_down.weight", (long long)il);
            ADD(INIT_WEIGHT, e, d->n_ff, 0, "blk.%lld.ffn_up.weight", (long long)il);
        }
        if (a->post_norms)
            ADD(INIT_NORM, e, 0, 0, "blk.%lld.post_ffw_norm.weight", (long long)il);
    }
    size_t end_layers = p->n;
    if (!a->bert) {
        ADD(INIT_NORM, e, 0, 0, "output_norm.weight");
        if (!d->tied)
            ADD(INIT_EMBD, e, d->n_vocab, 0, "output.weight");
    }
#undef ADD
    if (!ok)
        return -1;
    /* Types and sizes: the layer index of each layer tensor for the presets. */
    int64_t per_layer = d->n_layer ? (int64_t)(end_layers - first_layer) / d->n_layer : 0;
    for (size_t i = 0; i < p->n; i++) {
        struct planned *t = &p->t[i];
        int64_t il = i >= first_layer && i < end_layers ? (int64_t)(i - first_layer) / per_layer : -1;
        t->type = choose_type(o, d, t, il);
        t->nbytes = tensor_type_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    }
    return 0;
}

/* ------------------------------------------------------------ random weights */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Uniform on [-1, 1). */
static float uniform(uint64_t *s)
{
    return (float)(splitmix64(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static void fill_row(const struct planned *t, const struct dims *d, uint64_t seed, int64_t row, float *x)
{
    uint64_t s = seed ^ hash_name(t->name);
    s = splitmix64(&s) + (uint64_t)row * 0x632be59bd9b4e019ULL;
    float sq3 = sqrtf(3.0f), std = 0, mean = 0;
    switch (t->init) {
    case INIT_WEIGHT: std = 1.0f / sqrtf((float)t->ne[0]); break;
    case INIT_QK: std = 2.0f / sqrtf((float)t->ne[0]); break;
    case INIT_EMBD: std = 2.5f / sqrtf((float)d->n_embd); break;
    case INIT_SMALL_EMBD: std = 0.1f; break;
    case INIT_NORM: mean = 1.0f; std = 0.1f; break;
    case INIT_NORM_BIAS: std = 0.05f; break;
    case INIT_BIAS: std = 0.1f; break;
    case INIT_ROUTER: std = 3.0f / sqrtf((float)t->ne[0]); break;
    }
    for (int64_t i = 0; i < t->ne[0]; i++)
        x[i] = mean + std * sq3 * uniform(&s);
}

struct job {
    const struct planned *t;
    const struct dims *d;
    uint64_t seed;
    uint8_t *out;
    int64_t row0, row1;
    int rc;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    const struct planned *t = j->t;
    size_t row_size = tensor_type_row_size(t->type, t->ne[0]);
    float *x = malloc((size_t)t->ne[0] * sizeof(float));
    if (x == NULL) {
        j->rc = -1;
        return NULL;
    }
    for (int64_t r = j->row0; r < j->row1 && j->rc == 0; r++) {
        fill_row(t, j->d, j->seed, r, x);
        j->rc = quantize_row_ref(t->type, x, j->out + (size_t)r * row_size, t->ne[0]);
    }
    free(x);
    return NULL;
}

/* The tensor's bytes, made with n_threads threads. */
static int make_tensor(const struct planned *t, const struct dims *d, uint64_t seed, int n_threads,
                       uint8_t *out)
{
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (n_threads > rows)
        n_threads = (int)rows;
    if (n_threads < 1)
        n_threads = 1;
    struct job jobs[64];
    pthread_t tid[64];
    bool started[64] = { false };
    if (n_threads > 64)
        n_threads = 64;
    for (int i = 0; i < n_threads; i++) {
        jobs[i] = (struct job){ t, d, seed, out, rows * i / n_threads, rows * (i + 1) / n_threads, 0 };
        if (i > 0)
            started[i] = pthread_create(&tid[i], NULL, run_job, &jobs[i]) == 0;
        if (i > 0 && !started[i])
            run_job(&jobs[i]);
    }
    run_job(&jobs[0]);
    int rc = jobs[0].rc;
    for (int i = 1; i < n_threads; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        rc |= jobs[i].rc;
    }
    return rc;
}

/* ------------------------------------------------------------ vocabulary */

struct vocab_out {
    char **tokens;
    float *scores;
    int32_t *types;
    int64_t n, cap;
};

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };

static int vocab_push(struct vocab_out *v, const char *text, float score, int32_t type)
{
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 1024;
        char **t = realloc(v->tokens, (size_t)cap * sizeof(*t));
        if (t == NULL)
            return -1;
        v->tokens = t;
        float *s = realloc(v->scores, (size_t)cap * sizeof(*s));
        if (s == NULL)
            return -1;
        v->scores = s;
        int32_t *y = realloc(v->types, (size_t)cap * sizeof(*y));
        if (y == NULL)
            return -1;
        v->types = y;
        v->cap = cap;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return -1;
    v->tokens[v->n] = copy;
    v->scores[v->n] = score;
    v->types[v->n] = type;
    v->n++;
    return 0;
}

static void vocab_free(struct vocab_out *v)
{
    for (int64_t i = 0; i < v->n; i++)
        free(v->tokens[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
}

#define PHANTOM "\xe2\x96\x81" /* U+2581, SentencePiece's and llama.cpp WPM's word start */

/* Letter pieces of length 1, 2, ... ("▁ab" and "ab"), in order, until the
 * vocabulary has `want` tokens (or, want 0, the pieces up to length 1 and
 * the two-letter ones up to 512 tokens). */
static int vocab_fill_pieces(struct vocab_out *v, int64_t want)
{
    int64_t target = want > 0 ? want : 512;
    char buf[32];
    for (int len = 1; v->n < target && len <= 6; len++) {
        int64_t combos = 1;
        for (int i = 0; i < len; i++)
            combos *= 26;
        for (int64_t c = 0; c < combos && v->n < target; c++) {
            char word[8];
            int64_t x = c;
            for (int i = len - 1; i >= 0; i--, x /= 26)
                word[i] = (char)('a' + x % 26);
            word[len] = '\0';
            for (int pre = 1; pre >= 0 && v->n < target; pre--) {
                snprintf(buf, sizeof(buf), "%s%s", pre ? PHANTOM : "", word);
                if (vocab_push(v, buf, -(float)v->n, TT_NORMAL) != 0)
                    return -1;
            }
        }
    }
    return v->n < target ? -1 : 0;
}

/* phi3: llama.cpp looks up <|endoftext|> in Phi-3 vocabularies. */
static int vocab_make_spm(struct vocab_out *v, int64_t want, bool phi3)
{
    char buf[16];
    if (vocab_push(v, "<unk>", 0, TT_UNKNOWN) || vocab_push(v, "<s>", 0, TT_CONTROL) ||
        vocab_push(v, "</s>", 0, TT_CONTROL) || (phi3 && vocab_push(v, "<|endoftext|>", 0, TT_CONTROL)))
        return -1;
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof(buf), "<0x%02X>", b);
        if (vocab_push(v, buf, 0, TT_BYTE) != 0)
            return -1;
    }
    if (vocab_push(v, PHANTOM, -(float)v->n, TT_NORMAL) != 0)
        return -1;
    for (int c = 0x21; c < 0x7f; c++) { /* printable ASCII other than letters */
        if (c >= 'a' && c <= 'z')
            continue;
        buf[0] = (char)c;
        buf[1] = '\0';
        if (vocab_push(v, buf, -(float)v->n, TT_NORMAL) != 0)
            return -1;
    }
    return vocab_fill_pieces(v, want);
}

/* BERT's layout: [PAD] 0, [unused*] 1..99, [UNK] 100, [CLS] 101, [SEP] 102,
 * [MASK] 103 (llama.cpp's WPM defaults), then words and pieces. */
static int vocab_make_wpm(struct vocab_out *v, int64_t want)
{
    static const char *const special[] = { "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
    char buf[16];
    if (vocab_push(v, "[PAD]", 0, TT_CONTROL) != 0)
        return -1;
    for (int i = 1; i < 100; i++) {
        snprintf(buf, sizeof(buf), "[unused%d]", i - 1);
        if (vocab_push(v, buf, 0, TT_NORMAL) != 0)
            return -1;
    }
    for (int i = 0; i < 4; i++)
        if (vocab_push(v, special[i], 0, TT_CONTROL) != 0)
            return -1;
    for (int c = 0x21; c < 0x7f; c++) { /* punctuation and digits are words of their own */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        snprintf(buf, sizeof(buf), PHANTOM "%c", c);
        if (vocab_push(v, buf, 0, TT_NORMAL) != 0)
            return -1;
        if (c >= '0' && c <= '9' && vocab_push(v, buf + 3, 0, TT_NORMAL) != 0) /* digit pieces */
            return -1;
    }
    return vocab_fill_pieces(v, want);
}

static int add_made_vocab(struct gguf_writer *w, const struct opts *o, struct vocab_out *v)
{
    int rc = gguf_writer_add_str(w, "tokenizer.ggml.model", arches[o->arch].bert ? "bert" : "llama") |
             gguf_writer_add_str(w, "tokenizer.ggml.pre", "default") |
             gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
                                     (uint64_t)v->n);
    if (!arches[o->arch].bert)
        rc |= gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, (uint64_t)v->n);
    rc |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, (uint64_t)v->n);
    if (arches[o->arch].bert) {
        rc |= gguf_writer_add_u32(w, "tokenizer.ggml.token_type_count", 2) |
              gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0) |
              gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 100) |
              gguf_writer_add_u32(w, "tokenizer.ggml.cls_token_id", 101) |
              gguf_writer_add_u32(w, "tokenizer.ggml.seperator_token_id", 102) |
              gguf_writer_add_u32(w, "tokenizer.ggml.mask_token_id", 103);
    } else {
        rc |= gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0) |
              gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1) |
              gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2) |
              gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true) |
              gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
    }
    return rc ? -1 : 0;
}

/* Copy one scalar or array key of src into w. */
static int copy_kv(struct gguf_writer *w, const struct gguf_ctx *src, int64_t kv)
{
    const char *key = gguf_kv_key(src, kv);
    enum gguf_type t = gguf_kv_type(src, kv);
    const char *s;
    size_t len;
    if (t == GGUF_TYPE_ARRAY) {
        enum gguf_type et = gguf_arr_type(src, kv);
        uint64_t n = gguf_arr_n(src, kv);
        if (et != GGUF_TYPE_STRING)
            return gguf_writer_add_arr(w, key, et, gguf_arr_data(src, kv), n);
        char **v = calloc(n ? n : 1, sizeof(*v));
        int rc = v ? 0 : -1;
        for (uint64_t i = 0; rc == 0 && i < n; i++) {
            rc = gguf_arr_get_str(src, kv, i, &s, &len) == GGUF_OK && (v[i] = strndup(s, len)) ? 0 : -1;
        }
        if (rc == 0)
            rc = gguf_writer_add_arr_str(w, key, (const char *const *)v, n);
        for (uint64_t i = 0; v && i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    union { uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; float f32; double f64; bool b; } u;
    switch (t) {
    case GGUF_TYPE_STRING: {
        if (gguf_get_str(src, key, &s, &len) != GGUF_OK)
            return -1;
        char *c = strndup(s, len);
        int rc = c ? gguf_writer_add_str(w, key, c) : -1;
        free(c);
        return rc;
    }
    case GGUF_TYPE_BOOL: return gguf_get_bool(src, key, &u.b) ? -1 : gguf_writer_add_bool(w, key, u.b);
    case GGUF_TYPE_FLOAT32: return gguf_get_f32(src, key, &u.f32) ? -1 : gguf_writer_add_f32(w, key, u.f32);
    case GGUF_TYPE_FLOAT64: return gguf_get_f64(src, key, &u.f64) ? -1 : gguf_writer_add_f64(w, key, u.f64);
    case GGUF_TYPE_UINT64: return gguf_get_u64(src, key, &u.u64) ? -1 : gguf_writer_add_u64(w, key, u.u64);
    case GGUF_TYPE_INT64: return gguf_get_i64(src, key, &u.i64) ? -1 : gguf_writer_add_i64(w, key, u.i64);
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32:
        return gguf_get_u32(src, key, &u.u32) ? -1 : gguf_writer_add_u32(w, key, u.u32);
    default:
        return gguf_get_i32(src, key, &u.i32) ? -1 : gguf_writer_add_i32(w, key, u.i32);
    }
}

/* The number of tokens of the vocabulary in path. */
static int count_tokens(const char *path, int64_t *n_tokens, char *err, size_t err_size)
{
    struct gguf_ctx *src = gguf_open(path, 0, err, err_size);
    if (src == NULL)
        return -1;
    uint64_t n = 0;
    int rc = gguf_get_arr(src, "tokenizer.ggml.tokens", NULL, &n, NULL);
    gguf_close(src);
    if (rc != GGUF_OK || n == 0)
        return err_set(err, err_size, "%s: no tokenizer.ggml.tokens array", path);
    *n_tokens = (int64_t)n;
    return 0;
}

/* Every tokenizer.* key of path. */
static int add_copied_vocab(struct gguf_writer *w, const char *path, char *err, size_t err_size)
{
    struct gguf_ctx *src = gguf_open(path, 0, err, err_size);
    if (src == NULL)
        return -1;
    for (int64_t kv = 0; kv < gguf_n_kv(src); kv++) {
        if (strncmp(gguf_kv_key(src, kv), "tokenizer.", 10) != 0)
            continue;
        if (copy_kv(w, src, kv) != 0) {
            err_set(err, err_size, "%s: cannot copy key %s", path, gguf_kv_key(src, kv));
            gguf_close(src);
            return -1;
        }
    }
    gguf_close(src);
    return 0;
}

/* ------------------------------------------------------------ metadata */

static int add_hparams(struct gguf_writer *w, const struct opts *o, const struct dims *d)
{
    const struct arch_info *a = &arches[o->arch];
    const char *an = a->gguf_name;
    char key[128], name[128];
    int rc = 0;
#define KEY(suffix) (snprintf(key, sizeof(key), "%s.%s", an, suffix), key)
    snprintf(name, sizeof(name), "cllm-synth %s %s", a->cli_name, o->shape->name);
    rc |= gguf_writer_add_str(w, "general.architecture", an) | gguf_writer_add_str(w, "general.name", name) |
          gguf_writer_add_u32(w, "general.file_type", o->file_type) |
          gguf_writer_add_u32(w, "general.quantization_version", 2);
    rc |= gguf_writer_add_u32(w, KEY("vocab_size"), (uint32_t)d->n_vocab) |
          gguf_writer_add_u32(w, KEY("context_length"), (uint32_t)d->n_ctx) |
          gguf_writer_add_u32(w, KEY("embedding_length"), (uint32_t)d->n_embd) |
          gguf_writer_add_u32(w, KEY("block_count"), (uint32_t)d->n_layer) |
          gguf_writer_add_u32(w, KEY("feed_forward_length"), (uint32_t)d->n_ff) |
          gguf_writer_add_u32(w, KEY("attention.head_count"), (uint32_t)d->n_head);
    if (a->bert) {
        rc |= gguf_writer_add_f32(w, KEY("attention.layer_norm_epsilon"), 1e-12f) |
              gguf_writer_add_bool(w, KEY("attention.causal"), false) |
              gguf_writer_add_u32(w, KEY("pooling_type"), 1); /* mean */
#undef KEY
        return rc ? -1 : 0;
    }
#define KEY(suffix) (snprintf(key, sizeof(key), "%s.%s", an, suffix), key)
    rc |= gguf_writer_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)d->n_head_kv) |
          gguf_writer_add_f32(w, KEY("rope.freq_base"), d->rope_base) |
          gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"),
                              o->arch == S_LLAMA || o->arch == S_MIXTRAL || o->arch == S_PHI3 ? 1e-5f : 1e-6f);
    if (d->head_dim != d->n_embd / d->n_head || a->qk_norm || a->post_norms)
        rc |= gguf_writer_add_u32(w, KEY("attention.key_length"), (uint32_t)d->head_dim) |
              gguf_writer_add_u32(w, KEY("attention.value_length"), (uint32_t)d->head_dim);
    if (o->arch == S_LLAMA || o->arch == S_MIXTRAL || o->arch == S_PHI3)
        rc |= gguf_writer_add_u32(w, KEY("rope.dimension_count"), (uint32_t)d->head_dim);
    if (o->arch == S_GEMMA3)
        rc |= gguf_writer_add_u32(w, KEY("attention.sliding_window"), 512);
    if (o->arch == S_GEMMA2)
        rc |= gguf_writer_add_u32(w, KEY("attention.sliding_window"), 4096) |
              gguf_writer_add_f32(w, KEY("attn_logit_softcapping"), 50.0f) |
              gguf_writer_add_f32(w, KEY("final_logit_softcapping"), 30.0f);
    if (o->arch == S_PHI3)
        rc |= gguf_writer_add_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)d->n_ctx);
    if (a->moe) {
        rc |= gguf_writer_add_u32(w, KEY("expert_count"), (uint32_t)d->n_expert) |
              gguf_writer_add_u32(w, KEY("expert_used_count"), (uint32_t)d->n_expert_used);
        if (o->arch != S_MIXTRAL)
            rc |= gguf_writer_add_u32(w, KEY("expert_feed_forward_length"), (uint32_t)d->n_ff_exp);
        if (a->shared_expert)
            rc |= gguf_writer_add_u32(w, KEY("expert_shared_feed_forward_length"), (uint32_t)d->n_ff_shexp);
    }
#undef KEY
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------ writing */

static int put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static int pad(FILE *f, uint64_t *pos, uint64_t align)
{
    static const uint8_t zeros[64];
    uint64_t k = (align - *pos % align) % align;
    *pos += k;
    return put(f, zeros, (size_t)k);
}

/* Header: the writer's metadata (written with no tensors), then the tensor
 * infos patched in, then each tensor made and written in turn. */
static int write_model(const struct opts *o, const struct dims *d, struct gguf_writer *w,
                       struct plan *p, char *err, size_t err_size)
{
    uint8_t *hdr = NULL;
    size_t hdr_size = 0;
    if (gguf_writer_to_memory(w, &hdr, &hdr_size) != 0 || hdr_size < 24) {
        free(hdr);
        return err_set(err, err_size, "%s: out of memory building the metadata", o->out);
    }
    uint64_t n_tensors = p->n;
    memcpy(hdr + 8, &n_tensors, 8);
    uint64_t offset = 0;
    size_t max_bytes = 0;
    for (size_t i = 0; i < p->n; i++) {
        p->t[i].offset = offset;
        offset += (p->t[i].nbytes + GGUF_DEFAULT_ALIGNMENT - 1) / GGUF_DEFAULT_ALIGNMENT * GGUF_DEFAULT_ALIGNMENT;
        if (p->t[i].nbytes > max_bytes)
            max_bytes = p->t[i].nbytes;
    }
    FILE *f = fopen(o->out, "wb");
    if (f == NULL) {
        free(hdr);
        return err_set(err, err_size, "%s: cannot create: %s", o->out, strerror(errno));
    }
    uint64_t pos = hdr_size;
    int rc = put(f, hdr, hdr_size);
    free(hdr);
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        const struct planned *t = &p->t[i];
        uint64_t len = strlen(t->name), ne;
        uint32_t nd = t->n_dims, type = t->type;
        rc = put(f, &len, 8) | put(f, t->name, len) | put(f, &nd, 4);
        for (uint32_t k = 0; k < nd; k++) {
            ne = (uint64_t)t->ne[k];
            rc |= put(f, &ne, 8);
        }
        rc |= put(f, &type, 4) | put(f, &t->offset, 8);
        pos += 8 + len + 4 + 8 * nd + 4 + 8;
    }
    rc |= pad(f, &pos, GGUF_DEFAULT_ALIGNMENT);
    uint8_t *buf = rc == 0 ? malloc(max_bytes ? max_bytes : 1) : NULL;
    if (rc == 0 && buf == NULL) {
        fclose(f);
        return err_set(err, err_size, "%s: out of memory (%zu bytes for one tensor)", o->out, max_bytes);
    }
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        const struct planned *t = &p->t[i];
        if (make_tensor(t, d, o->seed, o->threads, buf) != 0) {
            free(buf);
            fclose(f);
            remove(o->out);
            return err_set(err, err_size, "%s: cannot quantize %s to %s", o->out, t->name,
                           tensor_type_name(t->type));
        }
        pos += t->nbytes;
        rc = put(f, buf, t->nbytes) | pad(f, &pos, GGUF_DEFAULT_ALIGNMENT);
    }
    free(buf);
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0) {
        remove(o->out);
        return err_set(err, err_size, "%s: cannot write: %s", o->out, strerror(errno));
    }
    return 0;
}

/* ------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fprintf(f, "usage: cllm-synth --arch ARCH [--shape NAME] [--type TYPE] [--seed N] [--vocab FILE.gguf]\n"
               "                  [--threads N] -o FILE\n"
               "  --arch    llama, mixtral, qwen2, qwen3, gemma3, gemma2, phi3, qwen2moe, qwen3moe, bert\n"
               "  --shape   tiny (default), llama-3.2-1b, qwen3-4b, llama-3.1-8b, qwen3-30b-a3b\n"
               "  --type    F32 (default), F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, ... or Q4_K_M, Q4_K_S,\n"
               "            Q5_K_M, Q5_K_S (llama-quantize's presets)\n"
               "  --seed    random seed (default 1)\n"
               "  --vocab   copy the tokenizer.* keys of this GGUF instead of making a vocabulary\n"
               "  --threads threads that make the weights (default 1)\n"
               "  --layers  override the shape's block count (smaller files of a big shape)\n"
               "  --dry-run print the tensors, their types and the totals; write nothing\n");
}

/* llama_ftype of a plain tensor type (its "mostly" file type). */
static uint32_t ftype_of(enum tensor_type t)
{
    switch (t) {
    case TYPE_F32: return 0;
    case TYPE_F16: return 1;
    case TYPE_Q4_0: return 2;
    case TYPE_Q4_1: return 3;
    case TYPE_Q8_0: return 7;
    case TYPE_Q5_0: return 8;
    case TYPE_Q5_1: return 9;
    case TYPE_Q2_K: return 10;
    case TYPE_Q3_K: return 11;
    case TYPE_Q4_K: return 14;
    case TYPE_Q5_K: return 16;
    case TYPE_Q6_K: return 18;
    case TYPE_IQ4_NL: return 25;
    case TYPE_IQ4_XS: return 30;
    case TYPE_BF16: return 32;
    default: return 1024; /* LLAMA_FTYPE_GUESSED */
    }
}

static int parse_type(const char *s, struct opts *o)
{
    static const struct { const char *name; enum tensor_type base; int preset; uint32_t ftype; } presets[] = {
        { "Q4_K_S", TYPE_Q4_K, PRESET_K_S, 14 }, { "Q4_K_M", TYPE_Q4_K, PRESET_K_M, 15 },
        { "Q5_K_S", TYPE_Q5_K, PRESET_K_S, 16 }, { "Q5_K_M", TYPE_Q5_K, PRESET_K_M, 17 },
    };
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcasecmp(s, presets[i].name) == 0) {
            o->type = presets[i].base;
            o->preset = presets[i].preset;
            o->file_type = presets[i].ftype;
            return 0;
        }
    }
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        const struct type_traits *tt = tensor_type_traits(t);
        if (tt != NULL && strcasecmp(s, tt->name) == 0) {
            o->type = (enum tensor_type)t;
            o->preset = PRESET_NONE;
            o->file_type = ftype_of(o->type);
            return 0;
        }
    }
    return -1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    const char *arch = NULL, *shape = "tiny", *type = "F32";
    o->seed = 1;
    o->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cllm-synth: %s needs a value (or is unknown)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--arch") == 0)
            arch = v;
        else if (strcmp(a, "--shape") == 0)
            shape = v;
        else if (strcmp(a, "--type") == 0)
            type = v;
        else if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--vocab") == 0)
            o->vocab_path = v;
        else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0)
            o->threads = atoi(v);
        else if (strcmp(a, "--layers") == 0)
            o->layers = atoi(v);
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0)
            o->out = v;
        else {
            fprintf(stderr, "cllm-synth: unknown option %s\n", a);
            return -1;
        }
    }
    if (arch == NULL || (o->out == NULL && !o->dry_run)) {
        fprintf(stderr, "cllm-synth: --arch and -o are required\n");
        return -1;
    }
    o->arch = S_ARCH_COUNT;
    for (int k = 0; k < S_ARCH_COUNT; k++)
        if (strcmp(arch, arches[k].cli_name) == 0)
            o->arch = (enum synth_arch)k;
    if (o->arch == S_ARCH_COUNT) {
        fprintf(stderr, "cllm-synth: unknown architecture '%s'\n", arch);
        return -1;
    }
    o->shape = NULL;
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
        if (strcmp(shape, shapes[k].name) == 0)
            o->shape = &shapes[k];
    if (o->shape == NULL) {
        fprintf(stderr, "cllm-synth: unknown shape '%s'\n", shape);
        return -1;
    }
    if (parse_type(type, o) != 0) {
        fprintf(stderr, "cllm-synth: unknown type '%s'\n", type);
        return -1;
    }
    uint8_t probe[512];
    float zeros[256] = { 0 };
    if (o->type != TYPE_F32 && (tensor_type_row_size(o->type, 256) > sizeof(probe) ||
                                quantize_row_ref(o->type, zeros, probe, 256) != 0)) {
        fprintf(stderr, "cllm-synth: cllm has no quantizer for type %s\n", type);
        return -1;
    }
    if (o->threads < 1)
        o->threads = 1;
    return 0;
}

static struct dims make_dims(const struct opts *o)
{
    const struct shape *s = o->shape;
    const struct arch_info *a = &arches[o->arch];
    struct dims d = { s->n_vocab, s->n_ctx, s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->head_dim,
                      s->n_ff, s->n_expert, s->n_expert_used, s->n_ff_exp, 0, s->rope_base, s->tied };
    if (a->tied >= 0)
        d.tied = a->tied == 1;
    if (o->layers > 0)
        d.n_layer = o->layers;
    if (a->moe && d.n_expert == 0) {
        d.n_expert = 8;
        d.n_expert_used = 2;
        d.n_ff_exp = d.n_ff / 2;
    }
    if (!a->moe)
        d.n_expert = d.n_expert_used = d.n_ff_exp = 0;
    if (o->arch == S_MIXTRAL)
        d.n_ff = d.n_ff_exp; /* Mixtral's feed_forward_length is the expert's */
    if (a->shared_expert)
        d.n_ff_shexp = d.n_ff_exp * 2;
    if (a->bert) { /* encoders: all heads for K/V, 512 positions */
        d.n_head_kv = d.n_head;
        d.head_dim = d.n_embd / d.n_head;
        d.n_ctx = 512;
    }
    return d;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof(o));
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    struct dims d = make_dims(&o);
    char err[512] = "";
    struct gguf_writer *w = gguf_writer_new();
    struct vocab_out v = { 0 };
    struct plan p = { 0 };
    int rc = w ? 0 : -1;
    if (rc == 0 && o.vocab_path) {
        int64_t n_tokens = 0;
        rc = count_tokens(o.vocab_path, &n_tokens, err, sizeof(err));
        if (rc == 0 && d.n_vocab < n_tokens)
            d.n_vocab = n_tokens;
    } else if (rc == 0) {
        rc = arches[o.arch].bert ? vocab_make_wpm(&v, d.n_vocab)
                                   : vocab_make_spm(&v, d.n_vocab, o.arch == S_PHI3);
        d.n_vocab = v.n;
        if (rc != 0)
            err_set(err, sizeof(err), "out of memory making the vocabulary");
    }
    if (rc == 0 && (add_hparams(w, &o, &d) != 0 || build_plan(&o, &d, &p) != 0))
        rc = err_set(err, sizeof(err), "out of memory building the metadata");
    if (rc == 0 && o.vocab_path)
        rc = add_copied_vocab(w, o.vocab_path, err, sizeof(err));
    else if (rc == 0 && add_made_vocab(w, &o, &v) != 0)
        rc = err_set(err, sizeof(err), "out of memory adding the vocabulary");
    if (rc == 0 && o.dry_run) {
        uint64_t params = 0, bytes = 0;
        for (size_t i = 0; i < p.n; i++) {
            const struct planned *t = &p.t[i];
            printf("%-40s %-7s %lld x %lld x %lld\n", t->name, tensor_type_name(t->type), (long long)t->ne[0],
                   (long long)t->ne[1], (long long)t->ne[2]);
            params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2]);
            bytes += t->nbytes;
        }
        printf("params %llu bytes %llu tensors %zu vocab %lld\n", (unsigned long long)params,
               (unsigned long long)bytes, p.n, (long long)d.n_vocab);
    } else if (rc == 0) {
        rc = write_model(&o, &d, w, &p, err, sizeof(err));
    }
    if (rc == 0 && o.dry_run) {
        /* printed above */
    } else if (rc == 0) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < p.n; i++)
            bytes += p.t[i].nbytes;
        printf("cllm-synth: wrote %s: %s, shape %s, %zu tensors, %.2f MiB of weights, vocab %lld\n", o.out,
               arches[o.arch].cli_name, o.shape->name, p.n, (double)bytes / (1024.0 * 1024.0),
               (long long)d.n_vocab);
    } else {
        fprintf(stderr, "cllm-synth: %s\n", err);
    }
    free(p.t);
    vocab_free(&v);
    gguf_writer_free(w);
    return rc == 0 ? 0 : 1;
}
