/*
 * sampler.c - the sampler of sampler.h, set-up and bookkeeping: parameters
 * and sampler type names, the per-model sampler_vocab (token pieces, end of
 * generation flags, tokens grouped by first byte for the grammar), checking
 * parameters, the chain as run (DRY, top-n-sigma and XTC placed) and
 * planning where it can start (sampler_create), the penalty and DRY
 * histories, and sampler_accept (histories, mirostat's mu, grammar state).
 * Choosing a token is in sampler_sample.c.
 */
#define _GNU_SOURCE /* memmem */
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
    [SAMPLER_DRY] = "dry",             [SAMPLER_TOP_N_SIGMA] = "top_n_sigma",
    [SAMPLER_XTC] = "xtc",
};

/* llama.cpp's spellings (common_sampler_types_from_names: the canonical
 * names, with '-' for '_' or without it, and a few aliases). */
static const struct {
    const char *name;
    enum sampler_type t;
} OTHER_NAMES[] = {
    {"typ_p", SAMPLER_TYPICAL_P}, {"typ-p", SAMPLER_TYPICAL_P}, {"typp", SAMPLER_TYPICAL_P},
    {"typ", SAMPLER_TYPICAL_P},   {"typical-p", SAMPLER_TYPICAL_P}, {"typical", SAMPLER_TYPICAL_P},
    {"top-k", SAMPLER_TOP_K},     {"topk", SAMPLER_TOP_K},       {"top-p", SAMPLER_TOP_P},
    {"topp", SAMPLER_TOP_P},      {"nucleus", SAMPLER_TOP_P},    {"min-p", SAMPLER_MIN_P},
    {"minp", SAMPLER_MIN_P},      {"temp", SAMPLER_TEMPERATURE}, {"top-n-sigma", SAMPLER_TOP_N_SIGMA},
    {"topnsigma", SAMPLER_TOP_N_SIGMA}, {"tfs-z", SAMPLER_TFS_Z},
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
    p->dry_multiplier = 0.0f;
    p->dry_base = 1.75f;
    p->dry_allowed_length = 2;
    p->dry_penalty_last_n = 64;
    static const char *const breakers[] = {"\n", ":", "\"", "*"};
    p->n_dry_breakers = 4;
    for (int i = 0; i < 4; i++)
        strcpy(p->dry_breakers[i], breakers[i]);
    p->xtc_probability = 0.0f;
    p->xtc_threshold = 0.1f;
    p->top_n_sigma = -1.0f;
    static const enum sampler_type chain[] = {SAMPLER_TOP_K, SAMPLER_TFS_Z, SAMPLER_TYPICAL_P,
                                              SAMPLER_TOP_P, SAMPLER_MIN_P, SAMPLER_TEMPERATURE};
    p->n_samplers = (int32_t)(sizeof(chain) / sizeof(chain[0]));
    memcpy(p->samplers, chain, sizeof(chain));
}

int sampler_type_from_name(const char *name)
{
    char low[32];
    size_t n = name ? strlen(name) : sizeof low;
    if (n >= sizeof low)
        return -1;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    for (int i = 0; i < SAMPLER_TYPE_COUNT; i++)
        if (strcmp(low, TYPE_NAMES[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof OTHER_NAMES / sizeof OTHER_NAMES[0]; i++)
        if (strcmp(low, OTHER_NAMES[i].name) == 0)
            return OTHER_NAMES[i].t;
    return -1;
}

int sampler_type_from_char(char c)
{
    switch (c) {
    case 'k': return SAMPLER_TOP_K;
    case 'y': return SAMPLER_TYPICAL_P;
    case 'p': return SAMPLER_TOP_P;
    case 'm': return SAMPLER_MIN_P;
    case 't': return SAMPLER_TEMPERATURE;
    case 'd': return SAMPLER_DRY;
    case 's': return SAMPLER_TOP_N_SIGMA;
    case 'x': return SAMPLER_XTC;
    default: return -1;
    }
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
    pthread_mutex_destroy(&sv->dry_lock);
    free(sv->dry_cache);
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
    pthread_mutex_init(&sv->dry_lock, NULL);
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
    if (p->dry_penalty_last_n < -1 || (p->dry_penalty_last_n == -1 && n_ctx <= 0)) {
        snprintf(err, err_size, "dry_penalty_last_n must be -1 (the context size) or more (got %d)",
                 (int)p->dry_penalty_last_n);
        return -1;
    }
    if (p->n_dry_breakers < 0 || p->n_dry_breakers > SAMPLER_MAX_DRY_BREAKERS) {
        snprintf(err, err_size, "dry_sequence_breakers: at most %d", SAMPLER_MAX_DRY_BREAKERS);
        return -1;
    }
    const float f[] = {p->temperature, p->dynatemp_range, p->dynatemp_exponent, p->top_p,
                       p->min_p, p->tfs_z, p->typical_p, p->repeat_penalty,
                       p->presence_penalty, p->frequency_penalty, p->mirostat_tau,
                       p->mirostat_eta, p->dry_multiplier, p->dry_base, p->xtc_probability,
                       p->xtc_threshold, p->top_n_sigma};
    static const char *const names[] = {"temperature", "dynatemp_range", "dynatemp_exponent",
                                        "top_p", "min_p", "tfs_z", "typical_p",
                                        "repeat_penalty", "presence_penalty",
                                        "frequency_penalty", "mirostat_tau", "mirostat_eta",
                                        "dry_multiplier", "dry_base", "xtc_probability",
                                        "xtc_threshold", "top_n_sigma"};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (bad_float(f[i])) {
            snprintf(err, err_size, "%s is not a number", names[i]);
            return -1;
        }
    }
    return 0;
}

/* Does this chain entry leave the set and its order unchanged? */
static bool inert(const struct sampler *s, enum sampler_type t)
{
    const struct sampler_params *p = &s->p;
    switch (t) {
    case SAMPLER_TOP_K: return p->top_k <= 0;
    case SAMPLER_TFS_Z: return p->tfs_z >= 1.0f;
    case SAMPLER_TYPICAL_P: return p->typical_p >= 1.0f;
    case SAMPLER_TOP_P: return p->top_p >= 1.0f;
    case SAMPLER_MIN_P: return p->min_p <= 0.0f;
    case SAMPLER_TEMPERATURE: return p->dynatemp_range <= 0.0f; /* keeps the order */
    case SAMPLER_DRY: return !s->dry_on;
    case SAMPLER_TOP_N_SIGMA: return !s->nsigma_on;
    case SAMPLER_XTC: return !s->xtc_on;
    default: return false;
    }
}

/* The chain as run: DRY, top-n-sigma and XTC, when on but not named in
 * the chain, where llama.cpp's default chain puts them (penalties, dry,
 * top_n_sigma, top_k, typ_p, top_p, min_p, xtc, temperature). */
static void build_chain(struct sampler *s, const struct sampler_params *p)
{
    bool named[SAMPLER_TYPE_COUNT] = {false};
    for (int32_t i = 0; i < p->n_samplers; i++)
        named[p->samplers[i]] = true;
    int32_t n = 0;
    if (s->dry_on && !named[SAMPLER_DRY])
        s->chain[n++] = SAMPLER_DRY;
    if (s->nsigma_on && !named[SAMPLER_TOP_N_SIGMA])
        s->chain[n++] = SAMPLER_TOP_N_SIGMA;
    bool xtc = s->xtc_on && !named[SAMPLER_XTC];
    for (int32_t i = 0; i < p->n_samplers; i++) {
        if (xtc && p->samplers[i] == SAMPLER_TEMPERATURE) {
            s->chain[n++] = SAMPLER_XTC;
            xtc = false;
        }
        s->chain[n++] = p->samplers[i];
    }
    if (xtc)
        s->chain[n++] = SAMPLER_XTC;
    s->n_chain = n;
}

/* Find the chain's first sampler that cuts the set (or reshapes it from
 * its entropy), and the plain temperatures before it (none count when the
 * temperature is 0: greedy, the chain then only cuts). DRY steps before
 * it are applied to the logits, scaled back by those temperatures. */
static void analyze_chain(struct sampler *s, const struct sampler_params *p)
{
    s->start = START_TEMP_ONLY;
    s->start_at = s->n_chain;
    s->t_prior = 1.0f;
    if (p->mirostat != 0) {
        s->start = START_FULL;
        return;
    }
    for (int32_t i = 0; i < s->n_chain; i++) {
        enum sampler_type t = s->chain[i];
        s->chain_tscale[i] = s->t_prior;
        if (t == SAMPLER_TEMPERATURE && p->dynatemp_range <= 0) {
            if (p->temperature > 0)
                s->t_prior *= p->temperature;
            continue;
        }
        if (t == SAMPLER_DRY || inert(s, t))
            continue;
        s->start_at = i;
        s->start = t == SAMPLER_TOP_K ? START_TOP_K
                   : t == SAMPLER_TOP_P ? START_TOP_P
                   : t == SAMPLER_MIN_P ? START_MIN_P
                   : t == SAMPLER_TOP_N_SIGMA ? START_TOP_N_SIGMA : START_FULL;
        break;
    }
    s->collect_all = s->start == START_FULL && (s->xtc_on || s->nsigma_on);
    /* temperature 0: plain argmax unless a step after the start can change
     * which token is best (XTC, DRY on the set) */
    s->greedy_chain = s->xtc_on;
    for (int32_t i = s->start_at; i < s->n_chain; i++)
        s->greedy_chain |= s->chain[i] == SAMPLER_DRY && s->dry_on;
}

/* How much the chain's temperatures can flatten the distribution before a
 * sampler looks at it: temperatures above 1, once per temperature step. */
static float chain_t_eff(const struct sampler *s, const struct sampler_params *p)
{
    float t = p->temperature + (p->dynatemp_range > 0 ? p->dynatemp_range : 0);
    int n_temp = p->mirostat != 0 ? 1 : 0;
    for (int32_t i = 0; p->mirostat == 0 && i < s->n_chain; i++)
        n_temp += s->chain[i] == SAMPLER_TEMPERATURE;
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

static void dry_push(struct sampler *s, int32_t token)
{
    if (s->dry_cap == 0)
        return;
    if (s->dry_len < s->dry_cap) {
        s->dry_hist[(s->dry_head + s->dry_len++) % s->dry_cap] = token;
    } else {
        s->dry_hist[s->dry_head] = token;
        s->dry_head = (s->dry_head + 1) % s->dry_cap;
    }
}

static void dry_set(struct sampler *s, const int32_t *tokens, size_t n)
{
    s->dry_len = s->dry_head = 0;
    for (size_t i = n > s->dry_cap ? n - s->dry_cap : 0; i < n; i++)
        dry_push(s, tokens[i]);
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

/* A lazy grammar's trigger words seen in the output: once one appears, the
 * grammar starts at the earliest one and has read the text from there. A
 * text the grammar refuses leaves the output unconstrained. */
static void lazy_feed(struct sampler *s, const char *text, size_t len)
{
    struct sbuf *b = &s->lazy_text;
    if (sbuf_append(b, text, len) < 0)
        return;
    const char *hit = NULL;
    for (size_t i = 0; i < s->n_triggers; i++) {
        const char *h = memmem(b->s, b->len, s->triggers[i], strlen(s->triggers[i]));
        if (h && (!hit || h < hit))
            hit = h;
    }
    if (!hit) {
        size_t keep = s->max_trigger > 0 ? s->max_trigger - 1 : 0;
        if (b->len > keep) {
            memmove(b->s, b->s + b->len - keep, keep);
            sbuf_truncate(b, keep);
        }
        return;
    }
    struct grammar *g = s->lazy;
    s->lazy = NULL;
    s->gstate = grammar_state_create(g);
    if (s->gstate && grammar_state_advance(s->gstate, hit, (size_t)(b->s + b->len - hit)) == 0) {
        s->grammar = g;
    } else {
        grammar_state_free(s->gstate);
        s->gstate = NULL;
        grammar_free(g);
    }
    sbuf_free(b);
}

static int init_lazy(struct sampler *s, const struct sampler_params *p, char *err, size_t err_size)
{
    s->triggers = calloc(p->n_grammar_triggers, sizeof *s->triggers);
    if (!s->triggers)
        return err_set(err, err_size, "sampler: out of memory");
    for (size_t i = 0; i < p->n_grammar_triggers; i++) {
        const char *t = p->grammar_triggers[i];
        if (!t || !*t)
            return err_set(err, err_size, "sampler: an empty grammar trigger");
        if (!(s->triggers[s->n_triggers++] = strdup(t)))
            return err_set(err, err_size, "sampler: out of memory");
        if (strlen(t) > s->max_trigger)
            s->max_trigger = strlen(t);
    }
    s->lazy = grammar_ref(p->grammar);
    if (p->grammar_prefix)
        lazy_feed(s, p->grammar_prefix, strlen(p->grammar_prefix));
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

/* The breakers' token sequences (a copy of the vocabulary's cache when
 * the same breakers were asked last time). */
static int dry_breakers_cached(struct sampler_vocab *sv, const struct sampler_params *p,
                               struct dry_breaker **out, size_t *n_out)
{
    size_t nb = (size_t)p->n_dry_breakers, key = nb * sizeof p->dry_breakers[0];
    int rc = 0;
    pthread_mutex_lock(&sv->dry_lock);
    if (!sv->dry_cached || sv->dry_key_n != p->n_dry_breakers || memcmp(sv->dry_key, p->dry_breakers, key) != 0) {
        free(sv->dry_cache);
        sv->dry_cache = NULL;
        sv->dry_cached = false;
        rc = sample_dry_breakers(sv->v, (const char (*)[SAMPLER_DRY_BREAKER_MAX + 1])p->dry_breakers, nb,
                                 &sv->dry_cache, &sv->n_dry_cache);
        if (rc == 0) {
            memcpy(sv->dry_key, p->dry_breakers, key);
            sv->dry_key_n = p->n_dry_breakers;
            sv->dry_cached = true;
        }
    }
    *out = NULL;
    *n_out = 0;
    if (rc == 0 && sv->n_dry_cache > 0) {
        *out = malloc(sv->n_dry_cache * sizeof **out);
        if (*out == NULL)
            rc = -1;
        else {
            memcpy(*out, sv->dry_cache, sv->n_dry_cache * sizeof **out);
            *n_out = sv->n_dry_cache;
        }
    }
    pthread_mutex_unlock(&sv->dry_lock);
    return rc;
}

/* DRY: on (llama.cpp: multiplier not 0, base at least 1, some tokens to
 * scan; never with mirostat, which runs no chain), its history and its
 * breakers as token sequences. */
static int init_dry(struct sampler *s, const struct sampler_params *p, int32_t n_ctx)
{
    int32_t last_n = p->dry_penalty_last_n == -1 ? n_ctx : p->dry_penalty_last_n;
    s->dry_on = p->mirostat == 0 && p->dry_multiplier != 0.0f && p->dry_base >= 1.0f && last_n > 0;
    if (!s->dry_on)
        return 0;
    s->dry_cap = (size_t)last_n;
    s->dry_hist = malloc(s->dry_cap * sizeof *s->dry_hist);
    s->dry_lin = malloc(s->dry_cap * sizeof *s->dry_lin);
    s->dry_z = malloc(s->dry_cap * sizeof *s->dry_z);
    s->dry_pen = malloc(s->dry_cap * sizeof *s->dry_pen);
    if (!s->dry_hist || !s->dry_lin || !s->dry_z || !s->dry_pen)
        return -1;
    return dry_breakers_cached((struct sampler_vocab *)s->sv, p, &s->dry_brk, &s->n_dry_brk);
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
    if (s == NULL || (s->sv = sv, alloc_buffers(s, p, n_ctx)) != 0 || init_dry(s, p, n_ctx) != 0) {
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
    s->xtc_on = p->mirostat == 0 && p->xtc_probability > 0.0f && p->xtc_threshold <= 0.5f;
    s->nsigma_on = p->mirostat == 0 && p->top_n_sigma > 0.0f;
    build_chain(s, p);
    s->t_eff = chain_t_eff(s, p);
    analyze_chain(s, p);
    s->seed = p->seed == SAMPLER_SEED_RANDOM ? random_seed() : p->seed;
    s->rng = s->seed;
    s->mu = 2.0f * p->mirostat_tau;
    if (p->use_penalty_prompt && p->penalty_prompt != NULL)
        hist_set(s, p->penalty_prompt, p->n_penalty_prompt);
    s->p.grammar_triggers = NULL;
    s->p.grammar_prefix = NULL;
    int grc = 0;
    if (p->grammar != NULL && p->n_grammar_triggers > 0)
        grc = init_lazy(s, p, err, err_size);
    else if (p->grammar != NULL)
        grc = init_grammar(s, p->grammar, err, err_size);
    if (grc != 0) {
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
    grammar_free(s->lazy);
    for (size_t i = 0; i < s->n_triggers; i++)
        free(s->triggers[i]);
    free(s->triggers);
    sbuf_free(&s->lazy_text);
    free(s->work);
    free(s->probs_all);
    free(s->cs.c);
    free(s->bias);
    free(s->hist);
    free(s->counts);
    free(s->dry_brk);
    free(s->dry_hist);
    free(s->dry_lin);
    free(s->dry_z);
    free(s->dry_pen);
    free(s);
}

void sampler_set_history(struct sampler *s, const int32_t *tokens, size_t n)
{
    if (s == NULL)
        return;
    dry_set(s, tokens, n);
    if (!s->p.use_penalty_prompt)
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
    } else if (s->lazy != NULL && !s->sv->is_eog[token]) {
        uint32_t off = s->sv->piece_off[token];
        lazy_feed(s, s->sv->pieces + off, s->sv->piece_off[token + 1] - off);
    }
    sampler_hist_push(s, token);
    dry_push(s, token);
    mirostat_update(s, token);
    return 0;
}

bool sampler_grammar_done(const struct sampler *s)
{
    return s != NULL && s->grammar != NULL && grammar_state_done(s->gstate);
}
