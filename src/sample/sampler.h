/*
 * sampler.h - choosing the next token from a row of logits: the seed's
 * sampler chain (penalties, logit bias, top-k, tail-free, typical, top-p,
 * min-p, temperature with its dynamic range, mirostat 1 and 2), llama.cpp's
 * DRY, top-n-sigma and XTC samplers, an optional
 * GBNF grammar that masks tokens which cannot continue it, and the
 * probabilities the server reports with n_probs.
 *
 * One sampler_vocab per model (token pieces prepared once at start-up, shared
 * by every slot: read-only but for a cache of DRY's breaker tokens under its
 * own lock); one sampler per request, owned by its slot. A
 * sampler keeps its own RNG, penalty history, mirostat state and grammar
 * state, so samplers of different slots never touch each other.
 *
 * This module knows nothing of HTTP or JSON: the server fills
 * sampler_params from a request.
 */
#ifndef CLLM_SAMPLE_SAMPLER_H
#define CLLM_SAMPLE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

enum sampler_type {
    SAMPLER_TOP_K,
    SAMPLER_TFS_Z,
    SAMPLER_TYPICAL_P,
    SAMPLER_TOP_P,
    SAMPLER_MIN_P,
    SAMPLER_TEMPERATURE,
    SAMPLER_DRY,         /* llama.cpp's "dry" */
    SAMPLER_TOP_N_SIGMA, /* "top_n_sigma" */
    SAMPLER_XTC,         /* "xtc" */
    SAMPLER_TYPE_COUNT
};

#define SAMPLER_MAX_CHAIN 32
/* DRY sequence breakers: at most this many, each cut to this many bytes
 * (llama.cpp cuts them to 40 too). */
#define SAMPLER_MAX_DRY_BREAKERS 32
#define SAMPLER_DRY_BREAKER_MAX 40
#define SAMPLER_SEED_RANDOM 0xFFFFFFFFu

/* One logit_bias entry: bias is added to the token's logit; -INFINITY means
 * the token is never produced (the seed's `false`). */
struct sampler_bias {
    int32_t token;
    float bias;
};

struct grammar;

struct sampler_params {
    float temperature;       /* 0.8; <= 0: greedy (n_probs then from a plain softmax) */
    float dynatemp_range;    /* 0: off */
    float dynatemp_exponent; /* 1 */
    int32_t top_k;           /* 40; <= 0: off */
    float top_p;             /* 0.95; 1: off */
    float min_p;             /* 0.05; 0: off */
    float tfs_z;             /* 1: off */
    float typical_p;         /* 1: off */
    float repeat_penalty;    /* 1.1; 1: off */
    int32_t repeat_last_n;   /* 64; 0: off; -1: the context size */
    bool penalize_nl;        /* true */
    float presence_penalty;  /* 0 */
    float frequency_penalty; /* 0 */
    int32_t mirostat;        /* 0, 1 or 2 */
    float mirostat_tau;      /* 5 */
    float mirostat_eta;      /* 0.1 */
    uint32_t seed;           /* SAMPLER_SEED_RANDOM: a random seed */
    bool ignore_eos;         /* end-of-generation tokens get -inf */
    int32_t n_probs;         /* 0 */
    int32_t min_keep;        /* 0 */
    /* DRY ("don't repeat yourself", llama.cpp's semantics): a token that
     * would extend a repeat of the context's end longer than
     * dry_allowed_length tokens loses multiplier * base^(len - allowed)
     * from its logit; a sequence breaker stops a repeat. */
    float dry_multiplier;       /* 0: off */
    float dry_base;             /* 1.75; below 1: off */
    int32_t dry_allowed_length; /* 2 */
    int32_t dry_penalty_last_n; /* 64 tokens scanned; 0: off; -1: the context size */
    int32_t n_dry_breakers;     /* default 4: "\n", ":", "\"", "*" */
    char dry_breakers[SAMPLER_MAX_DRY_BREAKERS][SAMPLER_DRY_BREAKER_MAX + 1]; /* NUL-terminated */
    /* XTC: with probability xtc_probability, the tokens with a probability
     * of at least xtc_threshold are removed but the least likely of them
     * (when at least two qualify). Draws from the sampler's RNG. */
    float xtc_probability;   /* 0: off */
    float xtc_threshold;     /* 0.1; above 0.5: off */
    float top_n_sigma;       /* keep logits >= max - n * stddev; <= 0: off (-1 default) */
    /* The chain, in order, repeats allowed. DRY, top-n-sigma and XTC turned
     * on by their parameters but not named here run where llama.cpp's
     * default chain puts them: DRY then top-n-sigma first, XTC just before
     * the first temperature (or last). */
    int32_t n_samplers;
    enum sampler_type samplers[SAMPLER_MAX_CHAIN];
    /* Borrowed for the duration of sampler_create (it copies them). */
    const struct sampler_bias *logit_bias;
    size_t n_logit_bias;
    const int32_t *penalty_prompt; /* replaces the prompt as penalty history */
    size_t n_penalty_prompt;
    bool use_penalty_prompt;
    struct grammar *grammar; /* compiled (grammar_parse), or NULL: none; the sampler takes
                                its own reference, so one grammar serves many samplers */
    /* A lazy grammar (tool calls with tool_choice auto): with triggers, the
     * grammar applies only from the first trigger word in the output on
     * (the text before it is free, the trigger is the grammar's start);
     * grammar_prefix (may be NULL) is output written before the first
     * sampled token (an assistant prefill). Both copied by sampler_create. */
    const char *const *grammar_triggers;
    size_t n_grammar_triggers;
    const char *grammar_prefix;
};

/* The seed's defaults, with the default chain
 * top_k, tfs_z, typical_p, top_p, min_p, temperature. */
void sampler_default_params(struct sampler_params *p);

/* Name <-> type for the `samplers` field ("top_k", "tfs_z", "typical_p",
 * "top_p", "min_p", "temperature", "dry", "top_n_sigma", "xtc"; also
 * llama.cpp's other spellings, any case: "typ_p", "typ", "top-k", "topk",
 * "nucleus", "temp", "top-n-sigma"...). Returns -1 for an unknown name.
 * sampler_type_from_char: llama.cpp's --sampling-seq letters (k y p m t
 * d s x; -1 for others). */
int sampler_type_from_char(char c);
int sampler_type_from_name(const char *name);
const char *sampler_type_name(enum sampler_type t);

/* Per-model data the samplers share, read-only: the vocabulary and each
 * token's bytes as the grammar sees them. Made once at start-up. */
struct sampler_vocab;
struct sampler_vocab *sampler_vocab_create(const struct vocab *v, char *err, size_t err_size);
void sampler_vocab_free(struct sampler_vocab *sv);

struct sampler;

/* NULL with a message in err for bad parameters. n_ctx is what
 * repeat_last_n = -1 means. */
struct sampler *sampler_create(const struct sampler_vocab *sv, const struct sampler_params *p,
                               int32_t n_ctx, char *err, size_t err_size);
void sampler_free(struct sampler *s);

/* The prompt as penalty history (ignored when use_penalty_prompt was set)
 * and as DRY's history (always: the context, as llama-server). */
void sampler_set_history(struct sampler *s, const int32_t *tokens, size_t n);

struct sampler_prob {
    int32_t token;
    float prob;
};

/* Choose the next token from logits (n_vocab floats; not modified). When
 * probs is not NULL and n_probs > 0, the top n_probs candidates after the
 * chain are written there with their probabilities, most likely first, and
 * their number to *n_written. Returns the token, or -1 when the grammar
 * allows no token at all. */
int32_t sampler_sample(struct sampler *s, const float *logits, struct sampler_prob *probs,
                       int32_t *n_written);

/* Record the chosen token: penalty history, mirostat, grammar state.
 * Returns 0, or -1 when the grammar does not accept it. */
int sampler_accept(struct sampler *s, int32_t token);

/* The grammar is complete and admits nothing more: generation must stop.
 * Always false without a grammar. */
bool sampler_grammar_done(const struct sampler *s);

/* The seed actually used (the random one when SAMPLER_SEED_RANDOM was asked). */
uint32_t sampler_seed(const struct sampler *s);

#endif
