/*
 * sampler_ops.c - the candidate set and the math of each sampler: partial
 * selection (quickselect + sort of the selected prefix only), softmax, and
 * top-k, tail-free, typical, top-p, min-p, temperature, dynamic temperature,
 * top-n-sigma, XTC and mirostat 1 and 2 with llama.cpp's semantics.
 *
 * Candidates are ranked by a total order (logit, then token id), so every
 * partial selection gives the same result as a full sort would.
 */
#include "sample/sampler_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- order */

static inline bool before(const struct cand *a, const struct cand *b, enum cand_order o)
{
    if (o == ORDER_LOGIT) {
        if (a->logit != b->logit)
            return a->logit > b->logit;
    } else if (a->key != b->key) {
        return a->key < b->key;
    }
    return a->id < b->id;
}

static inline void swap(struct cand *a, struct cand *b)
{
    struct cand t = *a;
    *a = *b;
    *b = t;
}

/* Hoare partition of a[lo..hi] (inclusive) around the median of three.
 * Returns j: a[lo..j] rank before-or-at the pivot, a[j+1..hi] at-or-after. */
static ptrdiff_t partition(struct cand *a, ptrdiff_t lo, ptrdiff_t hi, enum cand_order o)
{
    ptrdiff_t mid = lo + (hi - lo) / 2;
    if (before(&a[mid], &a[lo], o))
        swap(&a[mid], &a[lo]);
    if (before(&a[hi], &a[lo], o))
        swap(&a[hi], &a[lo]);
    if (before(&a[hi], &a[mid], o))
        swap(&a[hi], &a[mid]);
    struct cand pivot = a[mid];
    ptrdiff_t i = lo - 1, j = hi + 1;
    for (;;) {
        do
            i++;
        while (before(&a[i], &pivot, o));
        do
            j--;
        while (before(&pivot, &a[j], o));
        if (i >= j)
            return j;
        swap(&a[i], &a[j]);
    }
}

static void insertion_sort(struct cand *a, size_t n, enum cand_order o)
{
    for (size_t i = 1; i < n; i++) {
        struct cand x = a[i];
        size_t j = i;
        while (j > 0 && before(&x, &a[j - 1], o)) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

/* Sort a[0..n) (quicksort on the larger side iteratively; no allocation). */
static void sort_range(struct cand *a, size_t n, enum cand_order o)
{
    while (n > 16) {
        ptrdiff_t j = partition(a, 0, (ptrdiff_t)n - 1, o);
        size_t left = (size_t)j + 1, right = n - left;
        if (left < right) {
            sort_range(a, left, o);
            a += left;
            n = right;
        } else {
            sort_range(a + left, right, o);
            n = left;
        }
    }
    insertion_sort(a, n, o);
}

/* Rearrange a[0..n) so that a[0..k) are its k best (in no order), 0 < k < n. */
static void select_k(struct cand *a, size_t n, size_t k, enum cand_order o)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, t = (ptrdiff_t)k - 1;
    while (hi - lo > 16) {
        ptrdiff_t j = partition(a, lo, hi, o);
        if (t <= j)
            hi = j;
        else
            lo = j + 1;
    }
    insertion_sort(a + lo, (size_t)(hi - lo + 1), o);
}

void sample_cset_prefix(struct cset *cs, size_t m, enum cand_order order)
{
    if (m > cs->n)
        m = cs->n;
    if (cs->order != order) {
        cs->order = order;
        cs->n_sorted = 0;
    }
    if (m <= cs->n_sorted)
        return;
    struct cand *base = cs->c + cs->n_sorted;
    size_t rest = cs->n - cs->n_sorted, want = m - cs->n_sorted;
    if (want < rest)
        select_k(base, rest, want, order);
    sort_range(base, want, order);
    cs->n_sorted = m;
}

void sample_cset_truncate(struct cset *cs, size_t m)
{
    if (m >= cs->n)
        return;
    cs->n = m;
    cs->n_virtual = m;
    if (cs->n_sorted > m)
        cs->n_sorted = m;
    cs->probs_valid = false;
}

/* ---------------------------------------------------------------- set-up */

float sample_max_of(const float *x, int32_t n)
{
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) /* eight independent chains */
        for (int j = 0; j < 8; j++)
            m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    for (; i < n; i++)
        m[0] = x[i] > m[0] ? x[i] : m[0];
    for (int j = 1; j < 8; j++)
        m[0] = m[j] > m[0] ? m[j] : m[0];
    return m[0];
}

int32_t sample_argmax_of(const float *x, int32_t n)
{
    float mx = sample_max_of(x, n);
    if (!(mx > -INFINITY))
        return -1;
    for (int32_t i = 0; i < n; i++)
        if (x[i] == mx)
            return i;
    return -1;
}

static void sample_cset_reset(struct cset *cs, size_t n, size_t n_virtual)
{
    cs->n = n;
    cs->n_virtual = n_virtual;
    cs->n_sorted = 0;
    cs->order = ORDER_LOGIT;
    cs->probs_valid = false;
}

/* Bins of width 1 (nat, before temperature) below the best logit. */
#define NEAR_BINS 96

/* The distance below the best logit past which the tokens' total relative
 * probability is at most eps, from a histogram of distances: a token in bin
 * b has at most e^(-b / t_eff) of the best one's probability. */
static float near_cut(const float *logits, int32_t n_vocab, float mx, float t_eff, double eps)
{
    uint32_t hist[NEAR_BINS] = {0};
    for (int32_t i = 0; i < n_vocab; i++) {
        float d = mx - logits[i]; /* >= 0; NaN and inf go to the last bin */
        int b = d < (float)(NEAR_BINS - 1) ? (int)d : NEAR_BINS - 1;
        hist[b]++;
    }
    double tail = 0;
    int b = NEAR_BINS;
    while (b > 1) {
        double add = hist[b - 1] * exp(-(double)(b - 1) / t_eff);
        if (tail + add > eps)
            break;
        tail += add;
        b--;
    }
    return b >= NEAR_BINS ? INFINITY : (float)b;
}

size_t sample_cset_collect_near(struct cset *cs, const float *logits, int32_t n_vocab, float t_eff,
                         double eps)
{
    struct cand *c = cs->c;
    float mx = sample_max_of(logits, n_vocab);
    size_t n = 0;
    if (mx > -INFINITY) {
        float thr = mx - near_cut(logits, n_vocab, mx, t_eff, eps);
        /* Branch-free: the slot c[n] is written every time, kept when it passes. */
        for (int32_t i = 0; i < n_vocab; i++) {
            float x = logits[i];
            c[n].id = i;
            c[n].logit = x;
            n += (size_t)((x >= thr) & (x > -INFINITY));
        }
    }
    sample_cset_reset(cs, n, (size_t)n_vocab);
    return n;
}

size_t sample_cset_collect_top(struct cset *cs, const float *logits, int32_t n_vocab, size_t k)
{
    struct cand *c = cs->c;
    if (k == 0)
        k = 1;
    size_t cap = 2 * k, n = 0;
    if (cap > (size_t)n_vocab)
        cap = (size_t)n_vocab;
    float thr = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++) {
        float x = logits[i];
        if (!(x > thr))
            continue;
        c[n].id = i;
        c[n].logit = x;
        if (++n == cap && cap > k) {
            select_k(c, n, k, ORDER_LOGIT);
            n = k;
            thr = c[0].logit;
            for (size_t j = 1; j < k; j++)
                thr = c[j].logit < thr ? c[j].logit : thr;
        }
    }
    if (n > k) {
        select_k(c, n, k, ORDER_LOGIT);
        n = k;
    }
    sample_cset_reset(cs, n, (size_t)n_vocab);
    return n;
}

/* ---------------------------------------------------------------- probabilities */

static float sample_cset_max_logit(const struct cset *cs)
{
    if (cs->n_sorted > 0 && cs->order == ORDER_LOGIT)
        return cs->c[0].logit;
    float mx = -INFINITY;
    for (size_t i = 0; i < cs->n; i++)
        mx = cs->c[i].logit > mx ? cs->c[i].logit : mx;
    return mx;
}

void sample_cset_probs(struct cset *cs)
{
    if (cs->probs_valid)
        return;
    float mx = sample_cset_max_logit(cs);
    double sum = 0;
    for (size_t i = 0; i < cs->n; i++) {
        float e = expf(cs->c[i].logit - mx);
        cs->c[i].p = e;
        sum += e;
    }
    float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
    for (size_t i = 0; i < cs->n; i++)
        cs->c[i].p *= inv;
    cs->log_z = mx + (float)log(sum);
    cs->probs_valid = true;
}

/* -sum p log p, with log p = logit - log Z (no logarithm per token). */
static float entropy(const struct cset *cs)
{
    float h = 0;
    for (size_t i = 0; i < cs->n; i++)
        if (cs->c[i].p > 0)
            h -= cs->c[i].p * (cs->c[i].logit - cs->log_z);
    return h;
}

ptrdiff_t sample_cset_draw(const struct cset *cs, double u)
{
    double total = 0;
    for (size_t i = 0; i < cs->n; i++)
        total += cs->c[i].p;
    if (!(total > 0))
        return -1;
    double r = u * total, acc = 0;
    ptrdiff_t last = -1;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->c[i].p <= 0)
            continue;
        acc += cs->c[i].p;
        last = (ptrdiff_t)i;
        if (r < acc)
            return last;
    }
    return last;
}

static inline bool reached(double cum, double target, bool strict)
{
    return strict ? cum > target : cum >= target;
}

size_t sample_cset_mass_prefix(struct cset *cs, double target, bool strict, enum cand_order order)
{
    struct cand *a = cs->c;
    ptrdiff_t lo = 0, hi = (ptrdiff_t)cs->n - 1;
    double base = 0; /* mass of a[0..lo), all ranked before a[lo..] */
    cs->order = order;
    cs->n_sorted = 0;
    if (cs->n == 0)
        return 0;
    while (hi - lo > 16) {
        ptrdiff_t j = partition(a, lo, hi, order);
        double left = 0;
        for (ptrdiff_t i = lo; i <= j; i++)
            left += a[i].p;
        if (reached(base + left, target, strict)) {
            hi = j;
        } else {
            base += left;
            lo = j + 1;
        }
    }
    sort_range(a + lo, (size_t)(hi - lo + 1), order);
    for (ptrdiff_t i = lo; i <= hi; i++) {
        base += a[i].p;
        if (reached(base, target, strict))
            return (size_t)i + 1;
    }
    return cs->n;
}

/* Keep the m best in `order` (unsorted) -- at least min_keep. */
static void keep_best(struct cset *cs, size_t m, size_t min_keep, enum cand_order order)
{
    if (m < min_keep) {
        m = min_keep < cs->n ? min_keep : cs->n;
        cs->n_sorted = 0;
        if (m < cs->n)
            select_k(cs->c, cs->n, m, order);
    }
    sample_cset_truncate(cs, m);
}

void sample_cset_set_probs_valid(struct cset *cs)
{
    cs->probs_valid = true;
    cs->log_z = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->c[i].p > 0) {
            cs->log_z = cs->c[i].logit - logf(cs->c[i].p);
            return;
        }
    }
}

/* ---------------------------------------------------------------- samplers */

void sample_top_k(struct cset *cs, int32_t k, size_t min_keep)
{
    if (k <= 0)
        return;
    size_t kk = (size_t)k > min_keep ? (size_t)k : min_keep;
    if (kk >= cs->n) {
        if (kk < cs->n_virtual)
            cs->n_virtual = kk;
        return;
    }
    sample_cset_prefix(cs, kk, ORDER_LOGIT);
    sample_cset_truncate(cs, kk);
}

void sample_top_p(struct cset *cs, float p, size_t min_keep)
{
    if (p >= 1.0f || cs->n == 0)
        return;
    sample_cset_probs(cs);
    size_t m = sample_cset_mass_prefix(cs, p, false, ORDER_LOGIT);
    keep_best(cs, m, min_keep, ORDER_LOGIT);
}

void sample_min_p(struct cset *cs, float p, size_t min_keep)
{
    if (p <= 0.0f || cs->n == 0)
        return;
    float thr = sample_cset_max_logit(cs) + logf(p);
    size_t count = 0;
    for (size_t i = 0; i < cs->n; i++)
        count += cs->c[i].logit >= thr;
    if (count < min_keep) {
        sample_cset_prefix(cs, min_keep, ORDER_LOGIT);
        sample_cset_truncate(cs, min_keep);
        return;
    }
    if (count == cs->n)
        return;
    size_t m = 0, sorted = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->c[i].logit >= thr) {
            sorted += i < cs->n_sorted;
            cs->c[m++] = cs->c[i];
        }
    }
    cs->n_sorted = sorted;
    sample_cset_truncate(cs, m);
}

/* |second derivative| of the sorted probabilities at i, zero past the set. */
static float tfs_d2(const struct cset *cs, size_t i)
{
    float p0 = i < cs->n ? cs->c[i].p : 0;
    float p1 = i + 1 < cs->n ? cs->c[i + 1].p : 0;
    float p2 = i + 2 < cs->n ? cs->c[i + 2].p : 0;
    return fabsf((p0 - p1) - (p1 - p2));
}

/* The cut when the derivatives are too small: equal weights 1 / nd. */
static size_t tfs_cut_uniform(size_t nd, float z, size_t min_keep, size_t none)
{
    float cum = 0;
    for (size_t i = 0; i < nd; i++) {
        cum += 1.0f / (float)nd;
        if (cum > z && i >= min_keep)
            return i;
    }
    return none;
}

/* The cut with the whole set sorted: llama.cpp's computation. */
static size_t tfs_cut_exact(const struct cset *cs, float z, size_t min_keep)
{
    size_t nd = cs->n_virtual - 2;        /* second derivatives over the whole set */
    size_t lim = cs->n < nd ? cs->n : nd; /* past lim they are all zero */
    float sum = 0;
    for (size_t i = 0; i < lim; i++)
        sum += tfs_d2(cs, i);
    if (!(sum > 1e-6f))
        return tfs_cut_uniform(nd, z, min_keep, cs->n_virtual);
    float cum = 0;
    for (size_t i = 0; i < lim; i++) {
        cum += tfs_d2(cs, i) / sum;
        if (cum > z && i >= min_keep)
            return i;
    }
    size_t j = lim > min_keep ? lim : min_keep; /* the zeros past lim */
    return cum > z && j < nd ? j : cs->n_virtual;
}

/* The cut from the sorted prefix c[0..L) only, L < n. The derivatives past
 * L - 3 sum to at most 2 p[L-2] (the sorted tail falls monotonically), so
 * the total lies in [s_lo, s_lo + 2 p[L-2]]: when the cut is the same at
 * both ends it is the exact one. Returns SIZE_MAX when undecided. */
static size_t tfs_cut_prefix(const struct cset *cs, size_t L, float z, size_t min_keep)
{
    size_t nd = cs->n_virtual - 2, m = L - 2; /* d2[0..m) are exact */
    float s_lo = 0;
    for (size_t i = 0; i < m; i++)
        s_lo += tfs_d2(cs, i);
    float s_hi = s_lo + 2 * cs->c[L - 2].p;
    if (!(s_hi > 1e-6f))
        return tfs_cut_uniform(nd, z, min_keep, cs->n_virtual);
    if (!(s_lo > 1e-6f))
        return SIZE_MAX;
    size_t cut[2] = {SIZE_MAX, SIZE_MAX};
    const float total[2] = {s_lo, s_hi};
    for (int k = 0; k < 2; k++) {
        float cum = 0;
        for (size_t i = 0; i < m; i++) {
            cum += tfs_d2(cs, i) / total[k];
            if (cum > z && i >= min_keep) {
                cut[k] = i;
                break;
            }
        }
    }
    return cut[0] == cut[1] ? cut[0] : SIZE_MAX;
}

void sample_tail_free(struct cset *cs, float z, size_t min_keep)
{
    if (z >= 1.0f || cs->n_virtual <= 2)
        return;
    sample_cset_probs(cs);
    size_t last = SIZE_MAX;
    for (size_t L = 1024; last == SIZE_MAX; L *= 8) {
        if (L >= cs->n) {
            sample_cset_prefix(cs, cs->n, ORDER_LOGIT);
            last = tfs_cut_exact(cs, z, min_keep);
        } else {
            sample_cset_prefix(cs, L, ORDER_LOGIT);
            last = tfs_cut_prefix(cs, L, z, min_keep);
        }
    }
    if (last < cs->n_virtual) {
        cs->n_virtual = last;
        if (last < cs->n) {
            sample_cset_prefix(cs, last, ORDER_LOGIT);
            sample_cset_truncate(cs, last);
        }
    }
}

void sample_typical(struct cset *cs, float p, size_t min_keep)
{
    if (p >= 1.0f || cs->n == 0)
        return;
    sample_cset_probs(cs);
    float h = entropy(cs), lz = cs->log_z;
    for (size_t i = 0; i < cs->n; i++) {
        const struct cand *c = &cs->c[i];
        cs->c[i].key = c->p > 0 ? fabsf(lz - c->logit - h) : INFINITY;
    }
    size_t m = sample_cset_mass_prefix(cs, p, true, ORDER_KEY);
    keep_best(cs, m, min_keep, ORDER_KEY);
}

void sample_temperature(struct cset *cs, float t)
{
    if (!(t > 0.0f))
        return;
    for (size_t i = 0; i < cs->n; i++)
        cs->c[i].logit /= t;
    cs->probs_valid = false;
}

void sample_dynatemp(struct cset *cs, float t_min, float t_max, float exponent)
{
    if (cs->n_virtual <= 1)
        return;
    float max_h = -logf(1.0f / (float)cs->n_virtual);
    sample_cset_probs(cs);
    float norm = entropy(cs) / max_h;
    float t = t_min + (t_max - t_min) * powf(norm, exponent);
    if (!(t >= 1e-6f))
        t = 1e-6f; /* zero: as good as greedy, without dividing by zero */
    for (size_t i = 0; i < cs->n; i++)
        cs->c[i].logit /= t;
    cs->probs_valid = false;
    sample_cset_probs(cs);
}

size_t sample_mirostat1_k(struct cset *cs, float mu, int32_t n_vocab)
{
    const size_t m = 100;
    sample_cset_prefix(cs, m, ORDER_LOGIT);
    sample_cset_probs(cs);
    float sum_tb = 0, sum_tt = 0;
    for (size_t i = 0; i + 1 < m && i + 1 < cs->n; i++) {
        float t = logf((float)(i + 2) / (float)(i + 1));
        float b = logf(cs->c[i].p / cs->c[i + 1].p);
        sum_tb += t * b;
        sum_tt += t * t;
    }
    float s_hat = sum_tb / sum_tt;
    float eps = s_hat - 1;
    float k = powf((eps * powf(2, mu)) / (1 - powf((float)n_vocab, -eps)), 1 / s_hat);
    /* llama.cpp's top_k(int(k)): k < 1 (and NaN) means keep everything */
    if (!(k >= 1.0f) || k >= (float)n_vocab)
        return 0;
    return (size_t)k;
}

void sample_mirostat2(struct cset *cs, float mu)
{
    if (cs->n == 0)
        return;
    sample_cset_probs(cs);
    size_t m = 0, sorted = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (!(-log2f(cs->c[i].p) > mu)) {
            sorted += i < cs->n_sorted;
            cs->c[m++] = cs->c[i];
        }
    }
    if (m == 0) {
        sample_cset_prefix(cs, 1, ORDER_LOGIT);
        m = 1;
    } else {
        cs->n_sorted = sorted;
    }
    cs->n = cs->n_virtual = m;
    cs->probs_valid = false; /* renormalize over what is left */
    sample_cset_probs(cs);
}

float sample_top_n_sigma_threshold(const float *x, size_t n, float n_sigma)
{
    if (!(n_sigma > 0.0f))
        return -INFINITY;
    double sum = 0;
    float mx = -INFINITY;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] > -INFINITY && x[i] < INFINITY) {
            sum += x[i];
            mx = x[i] > mx ? x[i] : mx;
            cnt++;
        }
    }
    if (cnt < 2)
        return -INFINITY;
    double mean = sum / (double)cnt, acc = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > -INFINITY && x[i] < INFINITY)
            acc += ((double)x[i] - mean) * ((double)x[i] - mean);
    float sd = (float)sqrt(acc / (double)cnt);
    return mx - n_sigma * sd;
}

void sample_top_n_sigma(struct cset *cs, float n_sigma)
{
    if (!(n_sigma > 0.0f) || cs->n <= 1)
        return;
    double sum = 0;
    float mx = -INFINITY;
    for (size_t i = 0; i < cs->n; i++) {
        sum += cs->c[i].logit;
        mx = cs->c[i].logit > mx ? cs->c[i].logit : mx;
    }
    double mean = sum / (double)cs->n, acc = 0;
    for (size_t i = 0; i < cs->n; i++)
        acc += ((double)cs->c[i].logit - mean) * ((double)cs->c[i].logit - mean);
    float thr = mx - n_sigma * (float)sqrt(acc / (double)cs->n);
    size_t m = 0, sorted = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (!(cs->c[i].logit < thr)) {
            sorted += i < cs->n_sorted;
            cs->c[m++] = cs->c[i];
        }
    }
    if (m == cs->n)
        return;
    /* llama.cpp masks them (-inf) and leaves them in: the virtual size stays */
    cs->n_sorted = sorted;
    cs->n = m;
    cs->probs_valid = false;
}

void sample_xtc(struct cset *cs, float threshold, size_t min_keep)
{
    if (cs->n < 2)
        return;
    sample_cset_probs(cs);
    size_t cnt = 0;
    for (size_t i = 0; i < cs->n; i++)
        cnt += cs->c[i].p >= threshold;
    if (cnt < 2)
        return;
    size_t drop = cnt - 1; /* all but the least likely of them */
    if (cs->n_virtual - drop < min_keep)
        return;
    sample_cset_prefix(cs, drop, ORDER_LOGIT);
    memmove(cs->c, cs->c + drop, (cs->n - drop) * sizeof *cs->c);
    cs->n -= drop;
    cs->n_virtual -= drop;
    cs->n_sorted = cs->n_sorted > drop ? cs->n_sorted - drop : 0;
    cs->probs_valid = false;
}
