/*
 * sampler_internal.h - the sampler's own structures (sampler.c,
 * sampler_sample.c), the candidate set the sampler chain works on and the
 * math of each sampler (sampler_ops.c), shared with the tests.
 *
 * A candidate set holds (token, logit, probability) for the tokens still in
 * play. It is never fully sorted unless a sampler needs the whole order: a
 * prefix c[0..n_sorted) is kept in order (best first) with every later
 * candidate ranked after it, and grown on demand by partial selection.
 *
 * n_virtual is the size of the set as llama.cpp would see it: the sampler
 * collects only tokens near the best logit (those left out have together
 * less than 1e-9 of the best one's probability), but samplers whose math
 * depends on the set's size (dynamic temperature, tail-free) use n_virtual
 * so that the result is the same as over the whole vocabulary.
 */
#ifndef CLLM_SAMPLE_SAMPLER_INTERNAL_H
#define CLLM_SAMPLE_SAMPLER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample/sampler.h"

struct cand {
    int32_t id;
    float logit;
    float p;   /* valid when the set's probs_valid */
    float key; /* the typical-p order (ascending) */
};

enum cand_order {
    ORDER_LOGIT, /* logit descending, then id ascending */
    ORDER_KEY    /* key ascending, then id ascending */
};

struct cset {
    struct cand *c;
    size_t n;
    size_t n_virtual;
    size_t n_sorted;       /* c[0..n_sorted) in `order`, ranked before the rest */
    enum cand_order order;
    bool probs_valid;      /* c[i].p is the softmax of the current logits */
    float log_z;           /* with probs_valid from sample_cset_probs: log of the sum */
};

/* ---- the sampler (sampler.c, sampler_sample.c) */

struct grammar;
struct grammar_state;
struct vocab;

struct sampler_vocab {
    const struct vocab *v;
    int32_t n_vocab;
    int32_t nl;
    uint8_t *is_eog;     /* n_vocab flags */
    uint32_t *piece_off; /* n_vocab + 1 offsets into pieces */
    char *pieces;        /* each token's bytes (special = false) */
    /* Tokens with a non-empty piece that are not end-of-generation, grouped
     * by first byte: group b is by_first[first_start[b] .. first_start[b+1]). */
    int32_t *by_first;
    uint32_t first_start[257];
};

/* Where the chain's first cutting sampler lets the candidates start:
 * collecting the whole (near) vocabulary is the slow, general case. */
enum start_kind {
    START_FULL,      /* typical, tail-free or dynamic temperature first */
    START_TOP_K,     /* the top_k best */
    START_TOP_P,     /* tokens above a probability holding top_p of the mass */
    START_MIN_P,     /* tokens above min_p's logit threshold */
    START_TEMP_ONLY  /* nothing cuts: draw from the full softmax */
};

struct sampler {
    const struct sampler_vocab *sv;
    struct sampler_params p; /* borrowed pointers cleared */
    struct sampler_bias *bias;
    size_t n_bias;
    size_t min_keep;         /* max(1, p.min_keep) */
    float t_eff;             /* the most the chain's temperatures can flatten */
    enum start_kind start;   /* how candidates are first collected */
    int32_t start_at;        /* chain index of the first sampler that cuts */
    float t_prior;           /* product of the temperatures before it */
    uint32_t seed;
    uint64_t rng;

    bool penalties;
    int32_t *hist;           /* ring of the last hist_cap tokens */
    size_t hist_cap, hist_len, hist_head;
    uint32_t *counts;        /* n_vocab zeros between calls */

    float *work;             /* n_vocab: logits after bias and penalties */
    float *probs_all;        /* n_vocab: softmax of work (fast starts) */
    bool all_probs;          /* the last draw came from probs_all, cs not built */
    struct cset cs;          /* over a n_vocab buffer */

    float mu;                /* mirostat */
    bool mirostat_pending;   /* cs holds the last mirostat draw's set */

    struct grammar *grammar;
    struct grammar_state *gstate;
};

/* Append a token to the penalty history (ignored when out of range). */
void sampler_hist_push(struct sampler *s, int32_t token);

/* ---- candidate set-up */

/* The largest of x[0..n) (-inf if none; NaN ignored), and the first index
 * holding it (-1 if none is above -inf). */
float sample_max_of(const float *x, int32_t n);
int32_t sample_argmax_of(const float *x, int32_t n);

/* The finite tokens near the best logit: those left out have together at
 * most eps of the best token's probability, also after the logits are
 * divided by temperatures whose product is at most t_eff (>= 1). Returns
 * the number collected into cs (n_virtual = n_vocab). */
size_t sample_cset_collect_near(struct cset *cs, const float *logits, int32_t n_vocab, float t_eff,
                         double eps);
/* The k best finite tokens (fewer if the vocabulary has fewer). */
size_t sample_cset_collect_top(struct cset *cs, const float *logits, int32_t n_vocab, size_t k);

/* ---- ordering and probabilities */

/* Make c[0..m) the m best in `order`, sorted, each ranked before the rest. */
void sample_cset_prefix(struct cset *cs, size_t m, enum cand_order order);
/* Softmax of the logits into p (sum 1). */
void sample_cset_probs(struct cset *cs);
/* The smallest m such that the m best in `order` have a total p of at least
 * target (more than target when strict), or n; they end up in c[0..m),
 * unsorted. Probs must be valid. */
size_t sample_cset_mass_prefix(struct cset *cs, double target, bool strict, enum cand_order order);
/* The p set from outside (a softmax over more than the set) are valid for
 * the current logits. */
void sample_cset_set_probs_valid(struct cset *cs);
/* Keep only c[0..m) (after sample_cset_prefix). */
void sample_cset_truncate(struct cset *cs, size_t m);

/* ---- the samplers (llama.cpp semantics; min_keep >= 1) */

void sample_top_k(struct cset *cs, int32_t k, size_t min_keep);
void sample_tail_free(struct cset *cs, float z, size_t min_keep);
void sample_typical(struct cset *cs, float p, size_t min_keep);
void sample_top_p(struct cset *cs, float p, size_t min_keep);
void sample_min_p(struct cset *cs, float p, size_t min_keep);
void sample_temperature(struct cset *cs, float t);
/* Dynamic temperature from the normalized entropy of the set. */
void sample_dynatemp(struct cset *cs, float t_min, float t_max, float exponent);

/* Mirostat 1's k for top-k (0: keep everything): from the Zipf exponent
 * estimated over the best m = 100 tokens of the set (which should hold
 * them) and mu; n_vocab is the paper's N. */
size_t sample_mirostat1_k(struct cset *cs, float mu, int32_t n_vocab);
/* Mirostat 2: drop tokens whose surprise -log2(p) exceeds mu. Leaves probs. */
void sample_mirostat2(struct cset *cs, float mu);

/* Index in the set of a draw with uniform u in [0, 1) over p (probs valid);
 * -1 when every p is 0. */
ptrdiff_t sample_cset_draw(const struct cset *cs, double u);

#endif
