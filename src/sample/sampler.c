/*
 * sampler.c - the sampler of sampler.h, set-up and bookkeeping: parameters
 * and sampler type names, the per-model sampler_vocab (token pieces, end of
 * generation flags, tokens grouped by first byte for the grammar), checking
 * parameters and planning where the chain can start (sampler_create), the
 * penalty history, and sampler_accept (history, mirostat's mu, grammar
 * state). Choosing a token is in sampler_sample.c.
 */
#include "sample/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "grammar/grammar.h"
#include "sample/sampler_internal.h"
#include "tokenizer/tokenizer.h"

/* ------------------------------------------------------------ parameters */

static const char *const TYPE_NAMES[SAMPLER_TYPE_COUNT] = {
    [SAMPLER_TOP_K] = "top_k",         [SAMPLER_TFS_Z] = "tfs_z",
    [SAMPLER_TYPICAL_P] = "typical_p", [SAMPLER_TOP_P] = "top_p",
    [SAMPLER_MIN_P] = "min_p",         [SAMPLER_TEMPERATURE] = "temperature",
};

void sampler_default_params(struct sampler_params *p)
{
    memset(p, 0, sizeof(*p));
    p->temperature = 0.8f;
    p->dynatemp_range = 0.0f;
    p->dynatemp_exponent = 1.0f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->tfs_z = 1.0f;
    p->typical_p = 1.0f;
    p->repeat_penalty = 1.1f;
    p->repeat_last_n = 64;
    p->penalize_nl = true;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->mirostat = 0;
    p->mirostat_tau = 5.0f;
    p->mirostat_eta = 0.1f;
    p->seed = SAMPLER_SEED_RANDOM;
    p->ignore_eos = false;
    p->n_probs = 0;
    p->min_keep = 0;
    static const enum sampler_type chain[] = {SAMPLER_TOP_K, SAMPLER_TFS_Z, SAMPLER_TYPICAL_P,
                                              SAMPLER_TOP_P, SAMPLER_MIN_P, SAMPLER_TEMPERATURE};
    p->n_samplers = (int32_t)(sizeof(chain) / sizeof(chain[0]));
    memcpy(p->samplers, chain, sizeof(chain));
}

int sampler_type_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < SAMPLER_TYPE_COUNT; i++)
        if (strcmp(name, TYPE_NAMES[i]) == 0)
            return i;
    return -1;
}

const char *sampler_type_name(enum sampler_type t)
{
    return (unsigned)t < SAMPLER_TYPE_COUNT ? TYPE_NAMES[t] : "unknown";
}

/* ------------------------------------------------------------ vocabulary */

void sampler_vocab_free(struct sampler_vocab *sv)
{
    if (sv == NULL)
        return;
    free(sv->is_eog);
    free(sv->by_first);
    free(sv->piece_off);
    free(sv->pieces);
    free(sv);
}

/* Append token id's piece to sv->pieces (grown as needed). */
static int add_piece(struct sampler_vocab *sv, int32_t id, size_t *used, size_t *cap)
{
    char buf[256];
    int64_t n = token_to_piece(sv->v, id, buf, sizeof(buf), 0, false);
    if (n < 0)
        n = 0;
    if (*used + (size_t)n > *cap) {
        size_t nc = (*cap + (size_t)n) * 2;
        char *np = realloc(sv->pieces, nc);
        if (np == NULL)
            return -1;
        sv->pieces = np;
        *cap = nc;
    }
    if ((size_t)n > sizeof(buf)) {
        if (token_to_piece(sv->v, id, sv->pieces + *used, (size_t)n, 0, false) != n)
            return -1;
    } else if (n > 0) {
        memcpy(sv->pieces + *used, buf, (size_t)n);
    }
    *used += (size_t)n;
    return 0;
}

/* The grammar's full check walks only the groups whose first byte it accepts. */
static int group_by_first_byte(struct sampler_vocab *sv)
{
    uint32_t count[256] = {0};
    sv->by_first = malloc((size_t)sv->n_vocab * sizeof(*sv->by_first));
    if (sv->by_first == NULL)
        return -1;
    for (int32_t t = 0; t < sv->n_vocab; t++)
        if (!sv->is_eog[t] && sv->piece_off[t + 1] > sv->piece_off[t])
            count[(unsigned char)sv->pieces[sv->piece_off[t]]]++;
    sv->first_start[0] = 0;
    for (int b = 0; b < 256; b++)
        sv->first_start[b + 1] = sv->first_start[b] + count[b];
    uint32_t fill[256];
    memcpy(fill, sv->first_start, sizeof(fill));
    for (int32_t t = 0; t < sv->n_vocab; t++)
        if (!sv->is_eog[t] && sv->piece_off[t + 1] > sv->piece_off[t])
            sv->by_first[fill[(unsigned char)sv->pieces[sv->piece_off[t]]]++] = t;
    return 0;
}

struct sampler_vocab *sampler_vocab_create(const struct vocab *v, char *err, size_t err_size)
{
    if (v == NULL || v->n_tokens <= 0) {
        snprintf(err, err_size, "sampler: the model has no vocabulary");
        return NULL;
    }
    struct sampler_vocab *sv = calloc(1, sizeof(*sv));
    size_t n = (size_t)v->n_tokens, used = 0, cap = n * 4 + 16;
    if (sv == NULL)
        goto oom;
    sv->v = v;
    sv->n_vocab = v->n_tokens;
    sv->nl = vocab_valid(v, v->nl) ? v->nl : -1;
    sv->is_eog = calloc(n, 1);
    sv->piece_off = malloc((n + 1) * sizeof(*sv->piece_off));
    sv->pieces = malloc(cap);
    if (sv->is_eog == NULL || sv->piece_off == NULL || sv->pieces == NULL)
        goto oom;
    for (size_t i = 0; i < v->n_eog; i++)
        if (vocab_valid(v, v->eog[i]))
            sv->is_eog[v->eog[i]] = 1;
    for (int32_t id = 0; id < sv->n_vocab; id++) {
        sv->piece_off[id] = (uint32_t)used;
        if (add_piece(sv, id, &used, &cap) != 0 || used > UINT32_MAX)
            goto oom;
    }
    sv->piece_off[n] = (uint32_t)used;
    if (group_by_first_byte(sv) != 0)
        goto oom;
    return sv;
oom:
    sampler_vocab_free(sv);
    snprintf(err, err_size, "sampler: out of memory");
    return NULL;
}

/* ------------------------------------------------------------ create */

static bool bad_float(float x)
{
    return isnan(x);
}

static int check_params(const struct sampler_params *p, int32_t n_ctx, char *err, size_t err_size)
{
    if (p->n_samplers < 0 || p->n_samplers > SAMPLER_MAX_CHAIN) {
        snprintf(err, err_size, "samplers: at most %d samplers", SAMPLER_MAX_CHAIN);
        return -1;
    }
    for (int32_t i = 0; i < p->n_samplers; i++) {
        if ((unsigned)p->samplers[i] >= SAMPLER_TYPE_COUNT) {
            snprintf(err, err_size, "samplers: unknown sampler type %d", (int)p->samplers[i]);
            return -1;
        }
    }
    if (p->mirostat < 0 || p->mirostat > 2) {
        snprintf(err, err_size, "mirostat must be 0, 1 or 2 (got %d)", (int)p->mirostat);
        return -1;
    }
    if (p->repeat_last_n < -1) {
        snprintf(err, err_size, "repeat_last_n must be -1 or more (got %d)", (int)p->repeat_last_n);
        return -1;
    }
    if (p->repeat_last_n == -1 && n_ctx <= 0) {
        snprintf(err, err_size, "repeat_last_n = -1 needs the context size");
        return -1;
    }
    const float f[] = {p->temperature, p->dynatemp_range, p->dynatemp_exponent, p->top_p,
                       p->min_p, p->tfs_z, p->typical_p, p->repeat_penalty,
                       p->presence_penalty, p->frequency_penalty, p->mirostat_tau,
                       p->mirostat_eta};
    static const char *const names[] = {"temperature", "dynatemp_range", "dynatemp_exponent",
                                        "top_p", "min_p", "tfs_z", "typical_p",
                                        "repeat_penalty", "presence_penalty",
                                        "frequency_penalty", "mirostat_tau", "mirostat_eta"};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (bad_float(f[i])) {
            snprintf(err, err_size, "%s is not a number", names[i]);
            return -1;
        }
    }
    return 0;
}

/* Does this chain entry leave the set and its order unchanged? */
static bool inert(const struct sampler_params *p, enum sampler_type t)
{
    switch (t) {
    case SAMPLER_TOP_K: return p->top_k <= 0;
    case SAMPLER_TFS_Z: return p->tfs_z >= 1.0f;
    case SAMPLER_TYPICAL_P: return p->typical_p >= 1.0f;
    case SAMPLER_TOP_P: return p->top_p >= 1.0f;
    case SAMPLER_MIN_P: return p->min_p <= 0.0f;
    case SAMPLER_TEMPERATURE: return p->dynatemp_range <= 0.0f; /* keeps the order */
    default: return false;
    }
}

/* Find the chain's first sampler that cuts the set (or reshapes it from
 * its entropy), and the plain temperatures before it. */
static void analyze_chain(struct sampler *s, const struct sampler_params *p)
{
    s->start = START_TEMP_ONLY;
    s->start_at = p->n_samplers;
    s->t_prior = 1.0f;
    if (p->mirostat != 0) {
        s->start = START_FULL;
        return;
    }
    for (int32_t i = 0; i < p->n_samplers; i++) {
        enum sampler_type t = p->samplers[i];
        if (t == SAMPLER_TEMPERATURE && p->dynatemp_range <= 0) {
            s->t_prior *= p->temperature;
            continue;
        }
        if (inert(p, t))
            continue;
        s->start_at = i;
        s->start = t == SAMPLER_TOP_K ? START_TOP_K
                   : t == SAMPLER_TOP_P ? START_TOP_P
                   : t == SAMPLER_MIN_P ? START_MIN_P : START_FULL;
        return;
    }
}

/* How much the chain's temperatures can flatten the distribution before a
 * sampler looks at it: temperatures above 1, once per temperature step. */
static float chain_t_eff(const struct sampler_params *p)
{
    float t = p->temperature + (p->dynatemp_range > 0 ? p->dynatemp_range : 0);
    int n_temp = p->mirostat != 0 ? 1 : 0;
    for (int32_t i = 0; p->mirostat == 0 && i < p->n_samplers; i++)
        n_temp += p->samplers[i] == SAMPLER_TEMPERATURE;
    double m = 1;
    for (int i = 0; i < n_temp && t > 1.0f; i++)
        m *= t;
    return m > 1e30 ? 1e30f : (float)m;
}

static uint32_t random_seed(void)
{
    uint32_t s = SAMPLER_SEED_RANDOM;
    while (s == SAMPLER_SEED_RANDOM) {
        if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            s = (uint32_t)(ts.tv_nsec ^ ts.tv_sec ^ ((uint64_t)getpid() << 16));
        }
    }
    return s;
}

void sampler_hist_push(struct sampler *s, int32_t token)
{
    if (s->hist_cap == 0 || token < 0 || token >= s->sv->n_vocab)
        return;
    if (s->hist_len < s->hist_cap) {
        s->hist[(s->hist_head + s->hist_len++) % s->hist_cap] = token;
    } else {
        s->hist[s->hist_head] = token;
        s->hist_head = (s->hist_head + 1) % s->hist_cap;
    }
}

static void hist_set(struct sampler *s, const int32_t *tokens, size_t n)
{
    s->hist_len = s->hist_head = 0;
    size_t start = n > s->hist_cap ? n - s->hist_cap : 0;
    for (size_t i = start; i < n; i++)
        sampler_hist_push(s, tokens[i]);
}

static int init_grammar(struct sampler *s, struct grammar *g, char *err, size_t err_size)
{
    s->grammar = grammar_ref(g);
    s->gstate = grammar_state_create(s->grammar);
    if (s->gstate == NULL)
        return err_set(err, err_size, "sampler: out of memory");
    return 0;
}

static int alloc_buffers(struct sampler *s, const struct sampler_params *p, int32_t n_ctx)
{
    size_t n = (size_t)s->sv->n_vocab;
    s->work = malloc(n * sizeof(*s->work));
    s->probs_all = malloc(n * sizeof(*s->probs_all));
    s->cs.c = malloc(n * sizeof(*s->cs.c));
    if (s->work == NULL || s->probs_all == NULL || s->cs.c == NULL)
        return -1;
    if (p->n_logit_bias > 0 && p->logit_bias != NULL) {
        s->bias = malloc(p->n_logit_bias * sizeof(*s->bias));
        if (s->bias == NULL)
            return -1;
        memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof(*s->bias));
        s->n_bias = p->n_logit_bias;
    }
    int32_t last_n = p->repeat_last_n == -1 ? n_ctx : p->repeat_last_n;
    s->penalties = last_n > 0 && (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f ||
                                  p->presence_penalty != 0.0f);
    if (s->penalties) {
        s->hist_cap = (size_t)last_n;
        s->hist = malloc(s->hist_cap * sizeof(*s->hist));
        s->counts = calloc(n, sizeof(*s->counts));
        if (s->hist == NULL || s->counts == NULL)
            return -1;
    }
    return 0;
}

struct sampler *sampler_create(const struct sampler_vocab *sv, const struct sampler_params *p,
                               int32_t n_ctx, char *err, size_t err_size)
{
    if (sv == NULL || p == NULL) {
        snprintf(err, err_size, "sampler: no vocabulary or parameters");
        return NULL;
    }
    if (check_params(p, n_ctx, err, err_size) != 0)
        return NULL;
    struct sampler *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->sv = sv, alloc_buffers(s, p, n_ctx)) != 0) {
        sampler_free(s);
        snprintf(err, err_size, "sampler: out of memory");
        return NULL;
    }
    s->p = *p;
    s->p.logit_bias = NULL;
    s->p.penalty_prompt = NULL;
    s->p.grammar = NULL;
    if (s->p.n_probs < 0)
        s->p.n_probs = 0;
    s->min_keep = p->min_keep > 1 ? (size_t)p->min_keep : 1;
    s->t_eff = chain_t_eff(p);
    analyze_chain(s, p);
    s->seed = p->seed == SAMPLER_SEED_RANDOM ? random_seed() : p->seed;
    s->rng = s->seed;
    s->mu = 2.0f * p->mirostat_tau;
    if (p->use_penalty_prompt && p->penalty_prompt != NULL)
        hist_set(s, p->penalty_prompt, p->n_penalty_prompt);
    if (p->grammar != NULL && init_grammar(s, p->grammar, err, err_size) != 0) {
        sampler_free(s);
        return NULL;
    }
    return s;
}

void sampler_free(struct sampler *s)
{
    if (s == NULL)
        return;
    grammar_state_free(s->gstate);
    grammar_free(s->grammar);
    free(s->work);
    free(s->probs_all);
    free(s->cs.c);
    free(s->bias);
    free(s->hist);
    free(s->counts);
    free(s);
}

void sampler_set_history(struct sampler *s, const int32_t *tokens, size_t n)
{
    if (s == NULL || s->p.use_penalty_prompt)
        return;
    hist_set(s, tokens, n);
}

uint32_t sampler_seed(const struct sampler *s)
{
    return s ? s->seed : 0;
}

/* ------------------------------------------------------------ accept */

static void mirostat_update(struct sampler *s, int32_t token)
{
    if (!s->mirostat_pending)
        return;
    s->mirostat_pending = false;
    const struct cset *cs = &s->cs;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->c[i].id == token) {
            float surprise = -log2f(cs->c[i].p);
            s->mu -= s->p.mirostat_eta * (surprise - s->p.mirostat_tau);
            return;
        }
    }
}

int sampler_accept(struct sampler *s, int32_t token)
{
    if (s == NULL || token < 0 || token >= s->sv->n_vocab)
        return -1;
    if (s->grammar != NULL) {
        const struct sampler_vocab *sv = s->sv;
        if (sv->is_eog[token]) {
            if (!grammar_state_can_end(s->gstate))
                return -1;
        } else {
            uint32_t off = sv->piece_off[token], len = sv->piece_off[token + 1] - off;
            if (len == 0 || grammar_state_advance(s->gstate, sv->pieces + off, len) != 0)
                return -1;
        }
    }
    sampler_hist_push(s, token);
    mirostat_update(s, token);
    return 0;
}

bool sampler_grammar_done(const struct sampler *s)
{
    return s != NULL && s->grammar != NULL && grammar_state_done(s->gstate);
}
