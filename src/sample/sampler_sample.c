/*
 * sampler_sample.c - choosing one token (sampler_sample): the logits after
 * logit_bias, ignore_eos, the penalties and DRY; greedy (through the chain
 * when XTC may remove the best token); or the candidates
 * collected where the chain can start cheaply (the top_k best, the tokens
 * above min_p's threshold or inside top_p's mass from a vectorized softmax
 * of the whole vocabulary, or everything near the best logit), the chain
 * run over them and a draw with the sampler's RNG; mirostat 1 and 2; the
 * grammar's check of the drawn token, redraws without rejected ones, and
 * the masking of the whole vocabulary when needed; n_probs.
 */
#include "sample/sampler.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "grammar/grammar.h"
#include "sample/sampler_internal.h"
#include "tensor/ops.h"

/* Tokens far below the best logit are left out of the candidates when
 * together they have at most this much of the best one's probability. */
#define NEAR_EPS 1e-9
/* Grammar: after this many rejected draws, mask the whole vocabulary. */
#define GRAMMAR_MAX_REJECTS 64
/* Greedy with a grammar: the best tokens checked in order before masking. */
#define GRAMMAR_GREEDY_TRIES 64

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

/* ------------------------------------------------------------ logits */

static void apply_bias(struct sampler *s, const float *logits)
{
    int32_t n = s->sv->n_vocab;
    for (size_t i = 0; i < s->n_bias; i++) {
        int32_t t = s->bias[i].token;
        if (t < 0 || t >= n)
            continue;
        float x = logits[t] + s->bias[i].bias; /* the last entry of a token wins */
        s->work[t] = x > FLT_MAX ? FLT_MAX : x;
    }
    if (s->p.ignore_eos)
        for (size_t i = 0; i < s->sv->v->n_eog; i++)
            if (s->sv->v->eog[i] >= 0 && s->sv->v->eog[i] < n)
                s->work[s->sv->v->eog[i]] = -INFINITY;
}

/* Far above any real logit, yet finite after any temperature scaling. */
#define PENALTY_LOGIT_MAX 1e15f

static void apply_penalties(struct sampler *s)
{
    if (!s->penalties || s->hist_len == 0)
        return;
    float *w = s->work;
    int32_t nl = s->sv->nl;
    float nl_logit = nl >= 0 ? w[nl] : 0;
    for (size_t i = 0; i < s->hist_len; i++)
        s->counts[s->hist[i]]++;
    float rp = s->p.repeat_penalty, fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    for (size_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        uint32_t c = s->counts[t];
        if (c == 0)
            continue; /* done already */
        float x = w[t];
        /* as llama.cpp (x * rp or x / rp), but finite: repeat_penalty 0
         * makes a seen token's positive logit PENALTY_LOGIT_MAX (not +inf,
         * which turned the softmax into NaNs and the answer empty), and a
         * banned token (-inf) stays banned (not -inf * 0 = NaN) */
        if (x <= 0)
            x = isfinite(x) ? x * rp : x;
        else if (!((x = x / rp) < PENALTY_LOGIT_MAX))
            x = PENALTY_LOGIT_MAX;
        w[t] = x - ((float)c * fp + pp);
        s->counts[t] = 0;
    }
    if (!s->p.penalize_nl && nl >= 0)
        w[nl] = nl_logit;
}

/* This step's DRY penalties (once per step, from the DRY history). */
static void dry_compute(struct sampler *s)
{
    if (s->dry_done)
        return;
    s->dry_done = true;
    size_t n = s->dry_len;
    for (size_t i = 0; i < n; i++)
        s->dry_lin[i] = s->dry_hist[(s->dry_head + i) % s->dry_cap];
    s->n_dry_pen = sample_dry_penalties(s->dry_lin, n, s->dry_brk, s->n_dry_brk, s->p.dry_multiplier,
                                        s->p.dry_base, s->p.dry_allowed_length, s->dry_z, s->dry_pen);
}

/* The DRY steps before the first cutting sampler act on every logit: on
 * work, the penalty times the temperatures before the step (dividing by
 * them later gives the penalty on the scaled logit, as in llama.cpp). */
static void apply_dry_early(struct sampler *s)
{
    if (!s->dry_on)
        return;
    for (int32_t i = 0; i < s->start_at; i++) {
        if (s->chain[i] != SAMPLER_DRY)
            continue;
        dry_compute(s);
        for (size_t k = 0; k < s->n_dry_pen; k++)
            s->work[s->dry_pen[k].id] -= s->dry_pen[k].pen * s->chain_tscale[i];
    }
}

static void prepare_logits(struct sampler *s, const float *logits)
{
    memcpy(s->work, logits, (size_t)s->sv->n_vocab * sizeof(*logits));
    apply_bias(s, logits);
    apply_penalties(s);
    s->dry_done = false;
    apply_dry_early(s);
}

/* ------------------------------------------------------------ grammar */

static bool token_allowed(const struct sampler *s, int32_t t)
{
    const struct sampler_vocab *sv = s->sv;
    if (sv->is_eog[t])
        return grammar_state_can_end(s->gstate);
    uint32_t off = sv->piece_off[t], len = sv->piece_off[t + 1] - off;
    return len > 0 && grammar_state_accepts(s->gstate, sv->pieces + off, len);
}

/* -inf for every token the grammar rejects. Only the tokens of first-byte
 * groups the grammar accepts are checked one by one (a byte that cannot
 * come next rejects every token starting with it); the accepted ones are
 * kept in cs.c while work is cleared, then put back. */
static void grammar_mask(struct sampler *s)
{
    const struct sampler_vocab *sv = s->sv;
    struct cand *keep = s->cs.c;
    size_t n = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t lo = sv->first_start[b], hi = sv->first_start[b + 1];
        char byte = (char)b;
        if (lo == hi || !grammar_state_accepts(s->gstate, &byte, 1))
            continue;
        for (uint32_t j = lo; j < hi; j++) {
            int32_t t = sv->by_first[j];
            if (s->work[t] > -INFINITY && token_allowed(s, t))
                keep[n++] = (struct cand){t, s->work[t], 0, 0};
        }
    }
    if (grammar_state_can_end(s->gstate))
        for (size_t i = 0; i < sv->v->n_eog; i++) {
            int32_t t = sv->v->eog[i];
            if (t >= 0 && t < sv->n_vocab && s->work[t] > -INFINITY)
                keep[n++] = (struct cand){t, s->work[t], 0, 0};
        }
    for (int32_t t = 0; t < sv->n_vocab; t++)
        s->work[t] = -INFINITY;
    for (size_t i = 0; i < n; i++)
        s->work[keep[i].id] = keep[i].logit;
}

/* ------------------------------------------------------------ sampling */

/* DRY inside the chain: on the candidates' (scaled) logits. */
static void run_dry(struct sampler *s)
{
    struct cset *cs = &s->cs;
    dry_compute(s);
    if (s->n_dry_pen == 0)
        return;
    for (size_t i = 0; i < cs->n; i++)
        cs->c[i].logit -= sample_dry_lookup(s->dry_pen, s->n_dry_pen, cs->c[i].id);
    cs->n_sorted = 0;
    cs->probs_valid = false;
}

/* XTC: the coin (from the sampler's RNG, only when it can act), then the cut. */
static void run_xtc(struct sampler *s)
{
    struct cset *cs = &s->cs;
    if (!s->xtc_on || cs->n < 2)
        return;
    float u = (float)rng_uniform(&s->rng);
    if (u > s->p.xtc_probability)
        return;
    sample_xtc(cs, s->p.xtc_threshold, s->min_keep);
}

static void run_step(struct sampler *s, enum sampler_type t)
{
    const struct sampler_params *p = &s->p;
    struct cset *cs = &s->cs;
    size_t mk = s->min_keep;
    switch (t) {
    case SAMPLER_TOP_K: sample_top_k(cs, p->top_k, mk); break;
    case SAMPLER_TFS_Z: sample_tail_free(cs, p->tfs_z, mk); break;
    case SAMPLER_TYPICAL_P: sample_typical(cs, p->typical_p, mk); break;
    case SAMPLER_TOP_P: sample_top_p(cs, p->top_p, mk); break;
    case SAMPLER_MIN_P: sample_min_p(cs, p->min_p, mk); break;
    case SAMPLER_TEMPERATURE:
        if (p->temperature <= 0) /* greedy through the chain: the best of what is left */
            break;
        if (p->dynatemp_range > 0) {
            float lo = p->temperature - p->dynatemp_range;
            float hi = p->temperature + p->dynatemp_range;
            sample_dynatemp(cs, lo > 0 ? lo : 0, hi > 0 ? hi : 0, p->dynatemp_exponent);
        } else {
            sample_temperature(cs, p->temperature);
        }
        break;
    case SAMPLER_DRY:
        if (s->dry_on)
            run_dry(s);
        break;
    case SAMPLER_TOP_N_SIGMA:
        if (s->nsigma_on)
            sample_top_n_sigma(cs, p->top_n_sigma);
        break;
    case SAMPLER_XTC: run_xtc(s); break;
    default: break;
    }
}

/* Steps from..to of the chain; DRY before start_at is already in work. */
static void run_chain(struct sampler *s, int32_t from, int32_t to)
{
    for (int32_t i = from; i < to; i++)
        if (!(i < s->start_at && s->chain[i] == SAMPLER_DRY))
            run_step(s, s->chain[i]);
}

/* The general start: every token near the best one. */
static void collect_full(struct sampler *s, size_t need)
{
    int32_t n_vocab = s->sv->n_vocab;
    double eps = s->collect_all ? 0.0 : NEAR_EPS;
    if (sample_cset_collect_near(&s->cs, s->work, n_vocab, s->t_eff, eps) < need)
        sample_cset_collect_top(&s->cs, s->work, n_vocab, need);
}

/* probs_all = softmax(work * scale), vectorized over the whole vocabulary. */
static void softmax_all(struct sampler *s, float scale)
{
    op_softmax(s->probs_all, s->work, s->sv->n_vocab, scale, NULL);
}

/* A large general start: run the temperatures before the first cutting
 * sampler, then take the probabilities from the vectorized softmax rather
 * than a scalar pass. Returns the chain index to go on from. */
static int32_t probs_from_all(struct sampler *s)
{
    struct cset *cs = &s->cs;
    if (cs->n < 4096)
        return 0;
    softmax_all(s, 1.0f / s->t_prior);
    run_chain(s, 0, s->start_at);
    for (size_t i = 0; i < cs->n; i++)
        cs->c[i].p = s->probs_all[cs->c[i].id];
    sample_cset_set_probs_valid(cs);
    return s->start_at;
}

/* Collect the tokens whose probability (in probs_all) is at least tau, with
 * p from probs_all; returns their total probability. */
static double collect_above(struct sampler *s, float tau)
{
    const float *P = s->probs_all, *w = s->work;
    struct cand *c = s->cs.c;
    int32_t n_vocab = s->sv->n_vocab;
    size_t n = 0;
    double mass[4] = {0, 0, 0, 0};
    for (int32_t i = 0; i < n_vocab; i++) {
        float p = P[i];
        int keep = (p >= tau) & (w[i] > -INFINITY);
        c[n] = (struct cand){i, w[i], p, 0};
        n += (size_t)keep;
        mass[i & 3] += keep ? p : 0.0f;
    }
    s->cs.n = n;
    s->cs.n_virtual = (size_t)n_vocab;
    s->cs.n_sorted = 0;
    s->cs.order = ORDER_LOGIT;
    s->cs.probs_valid = false;
    return mass[0] + mass[1] + mass[2] + mass[3];
}

/* top_p first: only the tokens that can be inside its cut, with their
 * probabilities over the whole vocabulary. Returns false when the general
 * start is needed. */
static bool start_top_p(struct sampler *s)
{
    softmax_all(s, 1.0f / s->t_prior);
    float pmax = sample_max_of(s->probs_all, s->sv->n_vocab);
    if (!(pmax > 0))
        return false;
    /* lower the threshold until the mass above it holds top_p, with room */
    double target = s->p.top_p + 1e-4;
    float tau = pmax;
    for (int i = 0;; i++) {
        if (i == 6)
            return false; /* below 1e-24 of the best: the general start */
        tau *= 1e-4f;
        if (collect_above(s, tau) >= target && s->cs.n > s->min_keep)
            break;
    }
    run_chain(s, 0, s->start_at); /* the temperatures before it */
    sample_cset_set_probs_valid(&s->cs); /* p over the whole vocabulary, as top_p needs */
    run_step(s, SAMPLER_TOP_P);
    return s->cs.n_virtual < (size_t)s->sv->n_vocab; /* it did cut inside the set */
}

/* min_p first: the tokens above its threshold (a little lower: the sampler
 * itself then makes the exact cut). */
static void start_min_p(struct sampler *s, size_t need)
{
    int32_t n_vocab = s->sv->n_vocab;
    const float *w = s->work;
    float thr = sample_max_of(w, n_vocab) + s->t_prior * logf(s->p.min_p);
    thr -= 1e-4f * (fabsf(thr) > 1 ? fabsf(thr) : 1);
    struct cand *c = s->cs.c;
    size_t n = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        c[n] = (struct cand){i, w[i], 0, 0};
        n += (size_t)((w[i] >= thr) & (w[i] > -INFINITY));
    }
    if (n < need) {
        sample_cset_collect_top(&s->cs, w, n_vocab, need);
        return;
    }
    s->cs.n = s->cs.n_virtual = n;
    s->cs.n_sorted = 0;
    s->cs.order = ORDER_LOGIT;
    s->cs.probs_valid = false;
}

/* top-n-sigma first: its threshold over the whole vocabulary (temperatures
 * before it scale the logits and their spread alike), then the tokens at
 * or above it. The virtual size stays the vocabulary's, as llama.cpp
 * leaves the masked tokens in. */
static void start_top_n_sigma(struct sampler *s)
{
    int32_t n_vocab = s->sv->n_vocab;
    const float *w = s->work;
    float thr = sample_top_n_sigma_threshold(w, (size_t)n_vocab, s->p.top_n_sigma);
    struct cand *c = s->cs.c;
    size_t n = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        c[n] = (struct cand){i, w[i], 0, 0};
        n += (size_t)((w[i] >= thr) & (w[i] > -INFINITY));
    }
    s->cs.n = n;
    s->cs.n_virtual = (size_t)n_vocab;
    s->cs.n_sorted = 0;
    s->cs.order = ORDER_LOGIT;
    s->cs.probs_valid = false;
}

/* Mirostat 2 after temperature: the tokens with surprise at most mu (a
 * little more: mirostat 2 itself then makes the exact cut). */
static void start_mirostat2(struct sampler *s)
{
    struct cset *cs = &s->cs;
    softmax_all(s, 1.0f / s->p.temperature);
    collect_above(s, exp2f(-s->mu) * (1 - 1e-5f));
    if (cs->n == 0) {
        sample_cset_collect_top(cs, s->work, s->sv->n_vocab, 1);
        sample_temperature(cs, s->p.temperature);
    } else {
        sample_temperature(cs, s->p.temperature);
        sample_cset_set_probs_valid(cs); /* p over the whole vocabulary */
    }
    sample_mirostat2(cs, s->mu);
}

/* Mirostat 1 after temperature: k from the best 100, then the k best. */
static void start_mirostat1(struct sampler *s)
{
    struct cset *cs = &s->cs;
    int32_t n_vocab = s->sv->n_vocab;
    sample_cset_collect_top(cs, s->work, n_vocab, 100);
    sample_temperature(cs, s->p.temperature);
    size_t k = sample_mirostat1_k(cs, s->mu, n_vocab);
    if (k == 0 || k > cs->n) { /* everything, or more than we have */
        if (k == 0)
            collect_full(s, 1);
        else
            sample_cset_collect_top(cs, s->work, n_vocab, k);
        sample_temperature(cs, s->p.temperature);
    }
    if (k > 0)
        sample_top_k(cs, (int32_t)(k < INT32_MAX ? k : INT32_MAX), 1);
    sample_cset_probs(cs);
}

/* Collect the candidates and run the chain (or mirostat) on them. Returns
 * the number of candidates left (0: every token is -inf). */
static size_t build_and_run(struct sampler *s)
{
    const struct sampler_params *p = &s->p;
    struct cset *cs = &s->cs;
    size_t need = s->min_keep > (size_t)p->n_probs ? s->min_keep : (size_t)p->n_probs;
    s->all_probs = false;
    if (p->mirostat == 1) {
        start_mirostat1(s);
        s->mirostat_pending = true;
        return cs->n;
    }
    if (p->mirostat == 2) {
        start_mirostat2(s);
        s->mirostat_pending = true;
        return cs->n;
    }
    int32_t from = 0;
    if (s->start == START_TOP_K) {
        size_t k = (size_t)p->top_k > s->min_keep ? (size_t)p->top_k : s->min_keep;
        sample_cset_collect_top(cs, s->work, s->sv->n_vocab, k);
    } else if (s->start == START_MIN_P) {
        start_min_p(s, need);
    } else if (s->start == START_TOP_N_SIGMA) {
        start_top_n_sigma(s);
        run_chain(s, 0, s->start_at); /* the temperatures before it */
        from = s->start_at + 1;
    } else if (s->start == START_TOP_P && start_top_p(s)) {
        from = s->start_at + 1;
    } else {
        collect_full(s, need);
        from = probs_from_all(s);
    }
    if (cs->n == 0)
        return 0;
    run_chain(s, from, s->n_chain);
    sample_cset_probs(cs);
    return cs->n;
}

/* Draw from the chain's set; with a grammar, redraw without the rejected
 * ones. Returns the token, or -1 when no candidate of the set is allowed. */
static int32_t draw(struct sampler *s)
{
    struct cset *cs = &s->cs;
    for (int tries = 0; tries <= GRAMMAR_MAX_REJECTS; tries++) {
        ptrdiff_t i = sample_cset_draw(cs, rng_uniform(&s->rng));
        if (i < 0)
            return -1;
        int32_t t = cs->c[i].id;
        if (s->grammar == NULL || token_allowed(s, t))
            return t;
        cs->c[i].p = 0; /* rejected: draw from the others */
    }
    return -1;
}

/* Nothing in the chain cuts: draw from the softmax of the whole vocabulary
 * (walked in token order). */
static int32_t draw_all(struct sampler *s)
{
    softmax_all(s, 1.0f / s->t_prior);
    const float *P = s->probs_all;
    double r = rng_uniform(&s->rng), acc = 0;
    int32_t last = -1;
    for (int32_t i = 0; i < s->sv->n_vocab; i++) {
        if (P[i] <= 0)
            continue;
        acc += P[i];
        last = i;
        if (r < acc)
            break;
    }
    s->all_probs = true;
    return last;
}

static int32_t sample_chain(struct sampler *s)
{
    if (s->start == START_TEMP_ONLY && s->p.mirostat == 0) {
        int32_t t = draw_all(s);
        if (t < 0 || s->grammar == NULL || token_allowed(s, t))
            return t;
    }
    if (build_and_run(s) == 0)
        return -1;
    int32_t t = draw(s);
    if (t >= 0 || s->grammar == NULL)
        return t;
    grammar_mask(s); /* no candidate of the chain fits: mask the vocabulary */
    if (build_and_run(s) == 0)
        return -1;
    return draw(s);
}

static int32_t sample_greedy(struct sampler *s)
{
    int32_t n_vocab = s->sv->n_vocab;
    int32_t t = sample_argmax_of(s->work, n_vocab);
    if (t < 0 || s->grammar == NULL || token_allowed(s, t))
        return t;
    struct cset *cs = &s->cs;
    sample_cset_collect_top(cs, s->work, n_vocab, GRAMMAR_GREEDY_TRIES);
    sample_cset_prefix(cs, cs->n, ORDER_LOGIT);
    for (size_t i = 0; i < cs->n; i++)
        if (token_allowed(s, cs->c[i].id))
            return cs->c[i].id;
    grammar_mask(s);
    return sample_argmax_of(s->work, n_vocab);
}

/* The best allowed candidate of the chain's set (-1: none allowed). */
static int32_t best_in_set(struct sampler *s)
{
    struct cset *cs = &s->cs;
    if (s->grammar == NULL) {
        size_t b = 0;
        for (size_t i = 1; i < cs->n; i++)
            if (cs->c[i].logit > cs->c[b].logit || (cs->c[i].logit == cs->c[b].logit && cs->c[i].id < cs->c[b].id))
                b = i;
        return cs->c[b].id;
    }
    sample_cset_prefix(cs, cs->n, ORDER_LOGIT);
    for (size_t i = 0; i < cs->n; i++)
        if (token_allowed(s, cs->c[i].id))
            return cs->c[i].id;
    return -1;
}

/* Temperature 0 with XTC on: as llama.cpp, the chain runs (XTC may remove
 * the best tokens) and the best token left is taken. */
static int32_t sample_greedy_chain(struct sampler *s)
{
    if (build_and_run(s) == 0)
        return -1;
    int32_t t = best_in_set(s);
    if (t >= 0 || s->grammar == NULL)
        return t;
    grammar_mask(s);
    if (build_and_run(s) == 0)
        return -1;
    return best_in_set(s);
}

static void write_probs(struct sampler *s, struct sampler_prob *probs, int32_t *n_written)
{
    struct cset *cs = &s->cs;
    size_t k = (size_t)s->p.n_probs;
    if (s->all_probs) { /* the best k of the whole vocabulary */
        sample_cset_collect_top(cs, s->work, s->sv->n_vocab, k);
        for (size_t i = 0; i < cs->n; i++)
            cs->c[i].p = s->probs_all[cs->c[i].id];
    }
    if (k > cs->n)
        k = cs->n;
    sample_cset_prefix(cs, k, ORDER_LOGIT);
    for (size_t i = 0; i < k; i++)
        probs[i] = (struct sampler_prob){cs->c[i].id, cs->c[i].p};
    if (n_written)
        *n_written = (int32_t)k;
}

int32_t sampler_sample(struct sampler *s, const float *logits, struct sampler_prob *probs,
                       int32_t *n_written)
{
    if (n_written)
        *n_written = 0;
    if (s == NULL || logits == NULL)
        return -1;
    s->mirostat_pending = false;
    s->all_probs = false;
    prepare_logits(s, logits);
    bool want_probs = probs != NULL && s->p.n_probs > 0;
    int32_t t;
    if (s->p.temperature <= 0) {
        t = s->greedy_chain ? sample_greedy_chain(s) : sample_greedy(s);
        if (want_probs && t >= 0) { /* a plain softmax over all the logits */
            softmax_all(s, 1.0f);
            s->all_probs = true;
        }
    } else {
        t = sample_chain(s);
    }
    if (want_probs && t >= 0)
        write_probs(s, probs, n_written);
    return t;
}
