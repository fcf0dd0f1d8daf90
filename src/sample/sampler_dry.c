/*
 * sampler_dry.c - the DRY ("don't repeat yourself") sampler's math, with
 * llama.cpp's semantics (see sampler_internal.h): the sequence breakers
 * turned into token sequences once per sampler, and for each step the
 * penalty of every token that would extend a repeat of the context's end:
 * the longest earlier occurrence of the context's suffix (found with a Z
 * array over the reversed history, capped where the last sequence breaker
 * stands), then multiplier * base^(length - allowed_length).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sampler_internal.h"
#include "tokenizer/tokenizer.h"

/* ------------------------------------------------------------ breakers */

struct brk_list {
    struct dry_breaker *v;
    size_t n, cap;
};

static int brk_add(struct brk_list *l, int32_t head, const int32_t *tail, size_t len)
{
    /* the same sequence for this head already there: nothing to add */
    for (size_t i = l->n; i-- > 0 && l->v[i].head == head;)
        if ((size_t)l->v[i].len == len && (len == 0 || memcmp(l->v[i].tail, tail, len * sizeof *tail) == 0))
            return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct dry_breaker *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    struct dry_breaker *b = &l->v[l->n++];
    memset(b, 0, sizeof *b);
    b->head = head;
    b->len = (int32_t)len;
    if (len)
        memcpy(b->tail, tail, len * sizeof *tail);
    return 0;
}

/* The tail tokens of breaker str after its first `from` bytes (cached per
 * from: str is at most SAMPLER_DRY_BREAKER_MAX bytes). */
struct tail_cache {
    bool have[SAMPLER_DRY_BREAKER_MAX + 1];
    int32_t tok[SAMPLER_DRY_BREAKER_MAX + 1][DRY_MAX_TAIL];
    size_t len[SAMPLER_DRY_BREAKER_MAX + 1];
};

static int tail_of(const struct vocab *v, const char *str, size_t from, struct tail_cache *tc)
{
    if (tc->have[from])
        return 0;
    size_t n = strlen(str + from);
    int32_t *buf = malloc((n + 8) * sizeof *buf);
    if (!buf)
        return -1;
    int64_t got = tokenize(v, str + from, n, false, false, buf, n + 8);
    if (got < 0) {
        free(buf);
        return -1;
    }
    size_t k = (size_t)got; /* llama.cpp keeps the first DRY_MAX_TAIL */
    if (k > DRY_MAX_TAIL)
        k = DRY_MAX_TAIL;
    if (k > n + 8)
        k = n + 8;
    memcpy(tc->tok[from], buf, k * sizeof *buf);
    tc->len[from] = k;
    tc->have[from] = true;
    free(buf);
    return 0;
}

static bool contains(const char *hay, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* One token's text against one breaker. */
static int match_token(const struct vocab *v, int32_t id, const char *word, size_t wlen, const char *str,
                       struct tail_cache *tc, struct brk_list *l)
{
    size_t slen = strlen(str);
    if (contains(word, wlen, str, slen))
        return brk_add(l, id, NULL, 0);
    /* the word ends with the breaker's beginning: the rest is the tail */
    for (size_t pos = 0; pos < wlen; pos++) {
        if (word[pos] != str[0])
            continue;
        size_t i = 1;
        while (i < slen && pos + i < wlen && word[pos + i] == str[i])
            i++;
        if (pos + i < wlen && i < slen)
            continue; /* a mismatch inside the word */
        if (tail_of(v, str, i, tc) != 0 || brk_add(l, id, tc->tok[i], tc->len[i]) != 0)
            return -1;
    }
    return 0;
}

static int cmp_brk(const void *a, const void *b)
{
    const struct dry_breaker *x = a, *y = b;
    return x->head < y->head ? -1 : x->head > y->head;
}

int sample_dry_breakers(const struct vocab *v, const char (*breakers)[SAMPLER_DRY_BREAKER_MAX + 1],
                        size_t n_breakers, struct dry_breaker **out, size_t *n_out)
{
    struct brk_list l = {0};
    struct tail_cache *tc = calloc(n_breakers ? n_breakers : 1, sizeof *tc);
    size_t cap = 256;
    char *word = malloc(cap);
    int rc = tc && word ? 0 : -1;
    for (int32_t id = 0; rc == 0 && n_breakers > 0 && id < v->n_tokens; id++) {
        /* the token's text as llama.cpp's detokenize({id}, special = true) */
        int64_t len = detokenize(v, &id, 1, word, cap, false, true);
        if (len > (int64_t)cap) {
            char *nw = realloc(word, (size_t)len);
            if (!nw) {
                rc = -1;
                break;
            }
            word = nw;
            cap = (size_t)len;
            len = detokenize(v, &id, 1, word, cap, false, true);
        }
        if (len <= 0)
            continue;
        for (size_t b = 0; rc == 0 && b < n_breakers; b++)
            if (breakers[b][0] != '\0')
                rc = match_token(v, id, word, (size_t)len, breakers[b], &tc[b], &l);
    }
    free(word);
    free(tc);
    if (rc != 0) {
        free(l.v);
        *out = NULL;
        *n_out = 0;
        return -1;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_brk);
    *out = l.v;
    *n_out = l.n;
    return 0;
}

/* ------------------------------------------------------------ penalties */

/* The first breaker entry with this head (n when none). */
static size_t brk_first(const struct dry_breaker *brk, size_t n, int32_t head)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (brk[mid].head < head)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* How long a repeat may be: the distance from the end to the last breaker
 * (its tail included) -- n when there is none. hist is oldest first; "i
 * back" is hist[n - 1 - i]. */
static size_t rep_limit(const int32_t *hist, size_t n, const struct dry_breaker *brk, size_t n_brk)
{
    for (size_t i = 0; i < n; i++) {
        int32_t tok = hist[n - 1 - i];
        size_t j = brk_first(brk, n_brk, tok);
        long longest = -1;
        for (; j < n_brk && brk[j].head == tok; j++) {
            long len = brk[j].len;
            if (len <= longest || (size_t)len > i)
                continue;
            bool match = true;
            for (long k = 0; k < len && match; k++)
                match = brk[j].tail[k] == hist[n - 1 - (i - (size_t)k - 1)];
            if (match)
                longest = len;
        }
        if (longest >= 0)
            return i - (size_t)longest;
    }
    return n;
}

/* z[k] = the longest common prefix of r and r[k..], r the history reversed
 * (r[i] = hist[n - 1 - i]): how far the suffix ending k tokens before the
 * end matches the context's suffix. z[0] is left 0. */
static void z_reversed(const int32_t *hist, size_t n, int32_t *z)
{
#define R(i) hist[n - 1 - (i)]
    size_t l = 0, r = 0; /* [l, r): the rightmost match window found */
    if (n)
        z[0] = 0;
    for (size_t k = 1; k < n; k++) {
        size_t len = 0;
        if (k < r) {
            len = (size_t)z[k - l];
            if (len > r - k)
                len = r - k;
        }
        if (k + len >= r) {
            while (k + len < n && R(len) == R(k + len))
                len++;
            if (k + len > r) {
                l = k;
                r = k + len;
            }
        }
        z[k] = (int32_t)len;
    }
#undef R
}

static int cmp_pen(const void *a, const void *b)
{
    const struct dry_pen *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool single_breaker(const struct dry_breaker *brk, size_t n_brk, int32_t id)
{
    for (size_t j = brk_first(brk, n_brk, id); j < n_brk && brk[j].head == id; j++)
        if (brk[j].len == 0)
            return true;
    return false;
}

size_t sample_dry_penalties(const int32_t *hist, size_t n, const struct dry_breaker *brk, size_t n_brk,
                            float multiplier, float base, int32_t allowed_length, int32_t *z,
                            struct dry_pen *out)
{
    if (multiplier == 0.0f || !(base >= 1.0f) || (long)n <= (long)allowed_length)
        return 0;
    size_t limit = rep_limit(hist, n, brk, n_brk);
    if ((long)limit < (long)allowed_length)
        return 0;
    z_reversed(hist, n, z);
    /* the token after each earlier occurrence of the suffix, with the
     * longest such occurrence's length */
    size_t m = 0;
    for (size_t k = 1; k < n; k++) {
        size_t len = (size_t)z[k] < limit ? (size_t)z[k] : limit;
        if ((long)len < (long)allowed_length)
            continue;
        int32_t tok = hist[n - k];
        out[m++] = (struct dry_pen){tok, (float)len};
    }
    if (m == 0)
        return 0;
    qsort(out, m, sizeof *out, cmp_pen);
    /* per token the longest, as penalties (breakers themselves are not penalized) */
    const float FLOAT_MAX_LOG = 88.7228391f;
    int max_exp = base > 1.000001f ? (int)(FLOAT_MAX_LOG / logf(base)) : 0;
    size_t w = 0;
    for (size_t i = 0; i < m;) {
        int32_t id = out[i].id;
        float best = out[i].pen;
        for (; i < m && out[i].id == id; i++)
            best = out[i].pen > best ? out[i].pen : best;
        if (single_breaker(brk, n_brk, id))
            continue;
        int e = (int)best - allowed_length;
        if (max_exp > 0 && e > max_exp)
            e = max_exp;
        out[w++] = (struct dry_pen){id, (float)((double)multiplier * pow((double)base, e))};
    }
    return w;
}

float sample_dry_lookup(const struct dry_pen *pen, size_t n, int32_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pen[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && pen[lo].id == id ? pen[lo].pen : 0.0f;
}
