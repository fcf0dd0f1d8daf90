/*
 * sampler_internal.h - the sampler's own structures (sampler.c,
 * sampler_sample.c), the candidate set the sampler chain works on and the
 * math of each sampler (sampler_ops.c; DRY in sampler_dry.c), shared with
 * the tests.
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

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"
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

/* DRY: a sequence breaker as tokens: a head token and the tail tokens that
 * must follow it (len 0: the head alone breaks). */
#define DRY_MAX_TAIL 20
struct dry_breaker {
    int32_t head;
    int32_t len;
    int32_t tail[DRY_MAX_TAIL];
};

/* DRY's penalty for one token (subtracted from its logit). */
struct dry_pen {
    int32_t id;
    float pen;
};

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
    /* DRY's breakers as token sequences for the last breaker set asked
     * (walking the vocabulary takes tens of ms on a large one): under
     * dry_lock, the one thing a sampler_vocab changes after start-up. */
    pthread_mutex_t dry_lock;
    bool dry_cached;
    int32_t dry_key_n;
    char dry_key[SAMPLER_MAX_DRY_BREAKERS][SAMPLER_DRY_BREAKER_MAX + 1];
    struct dry_breaker *dry_cache;
    size_t n_dry_cache;
};

/* Where the chain's first cutting sampler lets the candidates start:
 * collecting the whole (near) vocabulary is the slow, general case. */
enum start_kind {
    START_FULL,      /* typical, tail-free or dynamic temperature first */
    START_TOP_K,     /* the top_k best */
    START_TOP_P,     /* tokens above a probability holding top_p of the mass */
    START_MIN_P,     /* tokens above min_p's logit threshold */
    START_TOP_N_SIGMA, /* tokens above top-n-sigma's threshold (over the whole vocabulary) */
    START_TEMP_ONLY  /* nothing cuts: draw from the full softmax */
};

/* The chain as run: the params' chain with DRY, top-n-sigma and XTC added
 * where llama.cpp's default chain has them when on and not named. */
#define SAMPLER_MAX_RUN_CHAIN (SAMPLER_MAX_CHAIN + 3)

struct sampler {
    const struct sampler_vocab *sv;
    struct sampler_params p; /* borrowed pointers cleared */
    enum sampler_type chain[SAMPLER_MAX_RUN_CHAIN];
    int32_t n_chain;
    float chain_tscale[SAMPLER_MAX_RUN_CHAIN]; /* product of the temperatures before each step
                                                  (for steps before start_at) */
    bool dry_on, xtc_on, nsigma_on;
    bool greedy_chain;       /* temperature 0 runs the chain (XTC or DRY after a cut) */
    bool collect_all;        /* a general start collects every finite token (XTC and top-n-sigma
                                look at the tail, where "near the best" would cut) */
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

    /* DRY */
    struct dry_breaker *dry_brk; /* sorted by head */
    size_t n_dry_brk;
    int32_t *dry_hist;       /* ring of the last dry_cap tokens */
    size_t dry_cap, dry_len, dry_head;
    int32_t *dry_lin;        /* dry_cap: the ring in order, oldest first */
    int32_t *dry_z;          /* dry_cap: scratch */
    struct dry_pen *dry_pen; /* dry_cap: this step's penalties, sorted by id */
    size_t n_dry_pen;
    bool dry_done;           /* dry_pen is this step's */

    float mu;                /* mirostat */
    bool mirostat_pending;   /* cs holds the last mirostat draw's set */

    struct grammar *grammar;
    struct grammar_state *gstate;
    /* a lazy grammar waiting for a trigger (grammar stays NULL until then) */
    struct grammar *lazy;
    char **triggers;
    size_t n_triggers, max_trigger;
    struct sbuf lazy_text; /* the output's tail, searched for triggers */
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

/* Top-n-sigma: the threshold max - n * stddev over the finite x[0..n)
 * (-inf when n_sigma <= 0 or fewer than two are finite). */
float sample_top_n_sigma_threshold(const float *x, size_t n, float n_sigma);
/* Top-n-sigma over the set: drop logits below its threshold (the set's
 * virtual size is kept: llama.cpp masks them and leaves them in). */
void sample_top_n_sigma(struct cset *cs, float n_sigma);
/* XTC once its coin said yes: remove the tokens with p >= threshold but the
 * least likely of them, when at least two qualify and min_keep remain. */
void sample_xtc(struct cset *cs, float threshold, size_t min_keep);

/* ---- DRY (sampler_dry.c) */

/* The breakers' token sequences (llama.cpp's processing: every token whose
 * text holds a breaker is a head alone; a token whose text ends with the
 * breaker's beginning is a head whose tail is the rest, tokenized). Sorted
 * by head. NULL with *n = 0 when there are none; -1 on allocation failure. */
int sample_dry_breakers(const struct vocab *v, const char (*breakers)[SAMPLER_DRY_BREAKER_MAX + 1],
                        size_t n_breakers, struct dry_breaker **out, size_t *n_out);
/* The penalties for the next token after hist[0..n) (oldest first; n is
 * already at most dry_penalty_last_n). z: n ints of scratch; out: n entries
 * at most. Returns the number written, sorted by id. */
size_t sample_dry_penalties(const int32_t *hist, size_t n, const struct dry_breaker *brk, size_t n_brk,
                            float multiplier, float base, int32_t allowed_length, int32_t *z,
                            struct dry_pen *out);
/* The penalty of token id in pen[0..n) (sorted), 0 when none. */
float sample_dry_lookup(const struct dry_pen *pen, size_t n, int32_t id);

/* Index in the set of a draw with uniform u in [0, 1) over p (probs valid);
 * -1 when every p is 0. */
ptrdiff_t sample_cset_draw(const struct cset *cs, double u);

#endif
