/*
 * pretokenize_rules.c - hand-written matchers for the regular expressions of
 * llama.cpp's byte-level BPE pre-tokenizers, and each kind's sequence of them.
 *
 * Each matcher returns the length (code points) of the match a backtracking
 * engine (Python's `regex`, PCRE) finds at position i, the text ending at
 * `end`; the reasoning for the less obvious alternatives is next to them:
 *   \s+(?!\S)    a whitespace run of k followed by \S matches k-1 (needs k>1);
 *                at the end of the piece it matches all k.
 *   \s*[\r\n]+   matches up to and including the last \r or \n of the run.
 *   (?i:'s|...)  llama.cpp's form: '[sS]|'[tT]|'[rR][eE]|... (ASCII only).
 * Classes: L = \p{L}, N = \p{N}, WS = \s (White_Space), O = [^\s\p{L}\p{N}].
 *
 * Literal classes: llama.cpp runs the expressions without a \p{..} (the
 * deepseek classes, bloom's, \S+, ...) through std::wregex on a copy of the
 * text in which every non-ASCII White_Space code point (U+0085, U+00A0,
 * U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) is replaced
 * by U+000B, so that \s matches it. Such a code point therefore still matches
 * \s, but never a literal class or range that contains it: U+3000 is in
 * deepseek-llm's punctuation range U+3000-U+3002, and U+1680 to U+3000 are
 * in the deepseek CJK range U+0800-U+4E00. wregex_cp() gives the code point
 * those classes compare. (Expressions with a \p{..} run on a text collapsed
 * the same way, but none of their classes contains whitespace; llama.cpp's
 * hand-written splitters test White_Space directly: nothing changes there.)
 */
#include <stdbool.h>
#include <stdint.h>

#include "tokenizer/pretokenize_internal.h"
#include "base/unicode.h"

/* ---- classes ---- */

typedef bool (*pt_class)(const struct pt_text *t, size_t i);

static bool is_l(const struct pt_text *t, size_t i) { return t->fl[i] & UCAT_LETTER; }
static bool is_n(const struct pt_text *t, size_t i) { return t->fl[i] & UCAT_NUMBER; }
static bool is_ws(const struct pt_text *t, size_t i) { return t->fl[i] & UCAT_WHITESPACE; }
static bool is_p(const struct pt_text *t, size_t i) { return t->fl[i] & UCAT_PUNCT; }
static bool is_nonws(const struct pt_text *t, size_t i) { return !is_ws(t, i); }

static bool is_other(const struct pt_text *t, size_t i)
{
    return !(t->fl[i] & (UCAT_WHITESPACE | UCAT_LETTER | UCAT_NUMBER));
}

static bool is_crlf(const struct pt_text *t, size_t i) { return t->cp[i] == '\r' || t->cp[i] == '\n'; }

/* [^\r\n\p{L}\p{N}]: the optional lead of a word in llama3-style expressions. */
static bool is_word_lead(const struct pt_text *t, size_t i)
{
    return !is_crlf(t, i) && !(t->fl[i] & (UCAT_LETTER | UCAT_NUMBER));
}

static bool in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c > r[mid][1])
            lo = mid + 1;
        else if (c < r[mid][0])
            hi = mid;
        else
            return true;
    }
    return false;
}

#define N_RANGES(r) (sizeof(r) / sizeof((r)[0]))

/* The code point llama.cpp's std::wregex fallback sees at i: U+000B for
 * non-ASCII whitespace (see the top of this file), else cp[i]. */
static uint32_t wregex_cp(const struct pt_text *t, size_t i)
{
    return t->cp[i] > 0x7F && (t->fl[i] & UCAT_WHITESPACE) ? 0x0B : t->cp[i];
}

/* A literal class of an expression llama.cpp runs through std::wregex. */
static bool in_wregex_ranges(const struct pt_text *t, size_t i, const uint32_t (*r)[2], size_t n)
{
    return in_ranges(wregex_cp(t, i), r, n);
}

/* ---- building blocks ---- */

/* First j >= i (j <= end) where cls fails. */
static size_t run_end(const struct pt_text *t, size_t i, size_t end, pt_class cls)
{
    while (i < end && cls(t, i))
        i++;
    return i;
}

/* lead? cls+ : with the optional lead when cp[i] is one and cls follows. */
static size_t opt_lead_run(const struct pt_text *t, size_t i, size_t end, pt_class lead, pt_class cls)
{
    if (lead(t, i) && i + 1 < end && cls(t, i + 1))
        return run_end(t, i + 1, end, cls) - i;
    if (cls(t, i))
        return run_end(t, i, end, cls) - i;
    return 0;
}

static bool is_space(const struct pt_text *t, size_t i) { return t->cp[i] == ' '; }

/* " ?cls+" */
static size_t opt_space_run(const struct pt_text *t, size_t i, size_t end, pt_class cls)
{
    return opt_lead_run(t, i, end, is_space, cls);
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d, ASCII case-insensitive when icase. */
static size_t contraction(const struct pt_text *t, size_t i, size_t end, bool icase)
{
    if (t->cp[i] != '\'' || i + 1 >= end)
        return 0;
    uint32_t c1 = icase ? ascii_lower(t->cp[i + 1]) : t->cp[i + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (i + 2 >= end)
        return 0;
    uint32_t c2 = icase ? ascii_lower(t->cp[i + 2]) : t->cp[i + 2];
    if (((c1 == 'r' || c1 == 'v') && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return 3;
    return 0;
}

/* The end of the whitespace run at i (i itself if cp[i] is not whitespace)
 * and the last \r or \n in it (SIZE_MAX if none), through t->ws. */
static size_t ws_run_info(const struct pt_text *t, size_t i, size_t end, size_t *last_nl)
{
    struct pt_ws_cache *c = t->ws;
    if (!(c->piece_end == end && c->from <= i && i < c->to)) {
        size_t j = i, nl = SIZE_MAX;
        while (j < end && is_ws(t, j)) {
            if (is_crlf(t, j))
                nl = j;
            j++;
        }
        if (j == i) {
            *last_nl = SIZE_MAX;
            return i;
        }
        c->from = i;
        c->to = j;
        c->piece_end = end;
        c->last_nl = nl;
    }
    *last_nl = c->last_nl != SIZE_MAX && c->last_nl >= i ? c->last_nl : SIZE_MAX;
    return c->to;
}

/* \s+(?!\S) */
static size_t ws_not_before_nonws(const struct pt_text *t, size_t i, size_t end)
{
    size_t nl, k = ws_run_info(t, i, end, &nl) - i;
    if (i + k == end)
        return k;
    return k >= 2 ? k - 1 : 0;
}

/* \s*[\r\n]+ (and \s*[\r\n], which matches the same) */
static size_t ws_to_last_newline(const struct pt_text *t, size_t i, size_t end)
{
    size_t nl;
    ws_run_info(t, i, end, &nl);
    return nl == SIZE_MAX ? 0 : nl + 1 - i;
}

/* \s+ */
static size_t ws_run(const struct pt_text *t, size_t i, size_t end)
{
    size_t nl;
    return ws_run_info(t, i, end, &nl) - i;
}

/* \p{N}{1,max} */
static size_t digits_upto(const struct pt_text *t, size_t i, size_t end, size_t max)
{
    size_t n = 0;
    while (i + n < end && n < max && is_n(t, i + n))
        n++;
    return n;
}

/* " ?[^\s\p{L}\p{N}]+" followed by a greedy run of tail (may be NULL). */
static size_t punct_with_tail(const struct pt_text *t, size_t i, size_t end, pt_class tail)
{
    size_t n = opt_space_run(t, i, end, is_other);
    if (n && tail)
        n = run_end(t, i + n, end, tail) - i;
    return n;
}

/* ---- GPT-2 family ---- */

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 * llama.cpp's form leaves out the final |\s+: the lone whitespace it would
 * match becomes a gap piece, which is the same piece. */
static size_t m_gpt2(const struct pt_text *t, size_t i, size_t end)
{
    size_t n;
    if ((n = contraction(t, i, end, false)) || (n = opt_space_run(t, i, end, is_l)) ||
        (n = opt_space_run(t, i, end, is_n)) || (n = opt_space_run(t, i, end, is_other)))
        return n;
    return ws_not_before_nonws(t, i, end);
}

static size_t m_digit(const struct pt_text *t, size_t i, size_t end)
{
    (void)end;
    return is_n(t, i) ? 1 : 0;
}

static size_t m_digits(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_n) - i;
}

/* [0-9][0-9][0-9] */
static size_t m_ascii_digits3(const struct pt_text *t, size_t i, size_t end)
{
    if (i + 3 > end)
        return 0;
    for (size_t k = i; k < i + 3; k++)
        if (t->cp[k] < '0' || t->cp[k] > '9')
            return 0;
    return 3;
}

static bool is_default_punct(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return is_p(t, i) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
           c == '~' || c == '|';
}

static bool is_falcon_punct(const struct pt_text *t, size_t i)
{
    return is_default_punct(t, i) || t->cp[i] == '`';
}

/* [\p{P}\$\+<=>\^~\|]+ */
static size_t m_default_punct(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_default_punct) - i;
}

/* [\p{P}\$\+<=>\^~\|`]+ */
static size_t m_falcon_punct(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_falcon_punct) - i;
}

/* ---- llama3 family ---- */

static bool is_lm(const struct pt_text *t, size_t i) { return t->fl[i] & (UCAT_LETTER | UCAT_MARK); }

/* [^\s\p{L}\p{M}\p{N}] */
static bool is_other_no_mark(const struct pt_text *t, size_t i)
{
    return !(t->fl[i] & (UCAT_WHITESPACE | UCAT_LETTER | UCAT_MARK | UCAT_NUMBER));
}

/* What varies between the members of the family
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?WORD+|\p{N}{1,max}
 *   | ?OTHER+TAIL*|\s*[\r\n]+|\s+(?!\S)|\s+                                  */
struct l3_variant {
    bool contractions;   /* the leading contraction alternative */
    pt_class word;       /* \p{L}, or [\p{L}\p{M}] for qwen35 */
    size_t max_digits;   /* (size_t)-1 for \p{N}+ */
    pt_class other;      /* [^\s\p{L}\p{N}], or also not \p{M} for qwen35 */
    pt_class tail;       /* [\r\n]*, or NULL */
    bool ws_cascade;     /* jais-2: \s{512}(?!\S)|...|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1} */
};

/* jais-2's whitespace: the first m of 512, 256, ..., 4, 2, 1 with \s{m}
 * followed by whitespace or the piece's end; else one character. */
static size_t ws_cascade(const struct pt_text *t, size_t i, size_t end)
{
    if (!is_ws(t, i))
        return 0;
    size_t nl, k = ws_run_info(t, i, end, &nl) - i;
    bool at_end = i + k == end;
    for (size_t m = 512; m >= 1; m /= 2)
        if (m < k || (m == k && at_end))
            return m;
    return 1;
}

static size_t llama3_family(const struct l3_variant *v, const struct pt_text *t, size_t i, size_t end)
{
    size_t n;
    if (v->contractions && (n = contraction(t, i, end, true)))
        return n;
    if ((n = opt_lead_run(t, i, end, is_word_lead, v->word)) ||
        (n = digits_upto(t, i, end, v->max_digits)))
        return n;
    if ((n = opt_space_run(t, i, end, v->other)))
        return v->tail ? run_end(t, i + n, end, v->tail) - i : n;
    if ((n = ws_to_last_newline(t, i, end)))
        return n;
    if (v->ws_cascade)
        return ws_cascade(t, i, end);
    if ((n = ws_not_before_nonws(t, i, end)))
        return n;
    return ws_run(t, i, end);
}

#define L3_MATCHER(fn, ...)                                                   \
    static size_t fn(const struct pt_text *t, size_t i, size_t end)           \
    {                                                                         \
        static const struct l3_variant v = {__VA_ARGS__};                     \
        return llama3_family(&v, t, i, end);                                  \
    }

L3_MATCHER(m_llama3, true, is_l, 3, is_other, is_crlf, false)
L3_MATCHER(m_qwen2, true, is_l, 1, is_other, is_crlf, false)
/* seed-coder: " ?[^\s\p{L}\p{N}\r\n]+" without a newline tail */
L3_MATCHER(m_seed_coder, true, is_l, 1, is_other, NULL, false)
L3_MATCHER(m_qwen35, true, is_lm, 1, is_other_no_mark, is_crlf, false)
L3_MATCHER(m_ufakzeka, false, is_l, 1, is_other, is_crlf, false)
L3_MATCHER(m_minicpm5, true, is_l, (size_t)-1, is_other, is_crlf, false)
L3_MATCHER(m_jais2, true, is_l, 3, is_other, is_crlf, true)

/* exaone-moe:
 * (?i:'s|...)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}
 * | ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+
 * The word: letters and marks, a mark never first, single spaces between
 * letters (a space is taken only when a letter follows it). */
static size_t spaced_word_end(const struct pt_text *t, size_t s, size_t end)
{
    size_t j = s;
    while (j < end) {
        if (is_lm(t, j))
            j++;
        else if (t->cp[j] == ' ' && j + 1 < end && is_l(t, j + 1))
            j += 2;
        else
            break;
    }
    return j;
}

static bool is_crlf_slash(const struct pt_text *t, size_t i) { return is_crlf(t, i) || t->cp[i] == '/'; }

static size_t m_exaone_moe(const struct pt_text *t, size_t i, size_t end)
{
    size_t n;
    if ((n = contraction(t, i, end, true)))
        return n;
    if (is_word_lead(t, i) && i + 1 < end && is_l(t, i + 1))
        return spaced_word_end(t, i + 1, end) - i;
    if (is_l(t, i))
        return spaced_word_end(t, i, end) - i;
    if (is_n(t, i))
        return 1;
    if ((n = opt_space_run(t, i, end, is_other)))
        return n + (i + n < end && is_crlf_slash(t, i + n) ? 1 : 0);
    if ((n = ws_to_last_newline(t, i, end)) || (n = ws_not_before_nonws(t, i, end)))
        return n;
    return ws_run(t, i, end);
}

/* ---- gpt-4o / tekken ----
 * llama.cpp's forms: "upper" = (?=[\p{L}])[^a-z], "lower" = (?=[\p{L}])[^A-Z]:
 * letters other than a-z / other than A-Z (non-ASCII letters are both).
 * granite-embed-multi-97m: the same with [\p{L}\p{M}] as the letters. */

static bool is_upperish_mask(const struct pt_text *t, size_t i, unsigned letters)
{
    return (t->fl[i] & letters) && !(t->cp[i] >= 'a' && t->cp[i] <= 'z');
}

static bool is_lowerish_mask(const struct pt_text *t, size_t i, unsigned letters)
{
    return (t->fl[i] & letters) && !(t->cp[i] >= 'A' && t->cp[i] <= 'Z');
}

static size_t upper_run_end(const struct pt_text *t, size_t i, size_t end, unsigned letters)
{
    while (i < end && is_upperish_mask(t, i, letters))
        i++;
    return i;
}

static size_t lower_run_end(const struct pt_text *t, size_t i, size_t end, unsigned letters)
{
    while (i < end && is_lowerish_mask(t, i, letters))
        i++;
    return i;
}

/* U*L+ at s (U upperish, L lowerish): its end, or s if it does not match. */
static size_t upper_star_lower_plus(const struct pt_text *t, size_t s, size_t end, unsigned letters)
{
    size_t u = upper_run_end(t, s, end, letters);
    if (u < end && is_lowerish_mask(t, u, letters))
        return lower_run_end(t, u, end, letters);
    /* U* gives back until L+ can start: at the last lowerish of the U run,
     * where L+ ends at once (A-Z or the run's end follows). */
    for (size_t j = u; j > s; j--)
        if (is_lowerish_mask(t, j - 1, letters))
            return j;
    return s;
}

/* U+L* at s: its end, or s. */
static size_t upper_plus_lower_star(const struct pt_text *t, size_t s, size_t end, unsigned letters)
{
    size_t u = upper_run_end(t, s, end, letters);
    return u == s ? s : lower_run_end(t, u, end, letters);
}

struct cased_variant {
    unsigned letters;  /* UCAT_LETTER, or UCAT_LETTER | UCAT_MARK */
    bool contractions; /* (?i:'s|...)? after the word */
    size_t max_digits;
};

/* [^\r\n\p{L}\p{N}]?U*L+C?|[^\r\n\p{L}\p{N}]?U+L*C? : each alternative tries
 * with the lead first, then without (a mark can be both lead and letter). */
static size_t cased_word(const struct cased_variant *v, const struct pt_text *t, size_t i, size_t end)
{
    bool lead = is_word_lead(t, i) && i + 1 < end;
    size_t e = 0;
    if (lead && (e = upper_star_lower_plus(t, i + 1, end, v->letters)) == i + 1)
        e = 0;
    if (!e && (e = upper_star_lower_plus(t, i, end, v->letters)) == i)
        e = 0;
    if (!e && lead && (e = upper_plus_lower_star(t, i + 1, end, v->letters)) == i + 1)
        e = 0;
    if (!e && (e = upper_plus_lower_star(t, i, end, v->letters)) == i)
        e = 0;
    if (!e)
        return 0;
    if (v->contractions && e < end)
        e += contraction(t, e, end, true);
    return e - i;
}

static size_t cased_family(const struct cased_variant *v, const struct pt_text *t, size_t i, size_t end)
{
    size_t n;
    if ((n = cased_word(v, t, i, end)) || (n = digits_upto(t, i, end, v->max_digits)) ||
        (n = punct_with_tail(t, i, end, is_crlf_slash)) || (n = ws_to_last_newline(t, i, end)) ||
        (n = ws_not_before_nonws(t, i, end)))
        return n;
    return ws_run(t, i, end);
}

#define CASED_MATCHER(fn, ...)                                                \
    static size_t fn(const struct pt_text *t, size_t i, size_t end)           \
    {                                                                         \
        static const struct cased_variant v = {__VA_ARGS__};                  \
        return cased_family(&v, t, i, end);                                   \
    }

CASED_MATCHER(m_gpt4o, UCAT_LETTER, true, 3)
CASED_MATCHER(m_tekken, UCAT_LETTER, false, 1)
CASED_MATCHER(m_granite_multi, UCAT_LETTER | UCAT_MARK, true, 3)

/* ---- deepseek ---- */

/* [\r\n] */
static size_t m_newline(const struct pt_text *t, size_t i, size_t end)
{
    (void)end;
    return is_crlf(t, i) ? 1 : 0;
}

/* The letter class of deepseek-llm's \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ (its ranges as
 * written in llama.cpp, sorted). */
static const uint32_t ds_letter_ranges[][2] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
    {0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3},
    {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
    {0x1E900, 0x1E943},
};

/* [!-/:-~！-／：-～‘-‟　-。] (U+3000 never matches: see wregex_cp) */
static const uint32_t ds_punct_ranges[][2] = {
    {0x0021, 0x002F}, {0x003A, 0x007E}, {0x2018, 0x201F},
    {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};

/* [一-龥ࠀ-一가-퟿] (the whitespace in U+0800-U+4E00 never matches: see wregex_cp) */
static const uint32_t ds_cjk_ranges[][2] = {
    {0x0800, 0x9FA5}, {0xAC00, 0xD7FF},
};

static bool is_ds_letter(const struct pt_text *t, size_t i)
{
    return in_wregex_ranges(t, i, ds_letter_ranges, N_RANGES(ds_letter_ranges));
}

static bool is_ds_punct(const struct pt_text *t, size_t i)
{
    return in_wregex_ranges(t, i, ds_punct_ranges, N_RANGES(ds_punct_ranges));
}

static bool is_ds_cjk(const struct pt_text *t, size_t i)
{
    return in_wregex_ranges(t, i, ds_cjk_ranges, N_RANGES(ds_cjk_ranges));
}

static size_t m_ds_letters(const struct pt_text *t, size_t i, size_t end)
{
    return opt_lead_run(t, i, end, is_ws, is_ds_letter);
}

static size_t m_ds_punct(const struct pt_text *t, size_t i, size_t end)
{
    return opt_lead_run(t, i, end, is_ws, is_ds_punct);
}

static size_t m_ds_cjk(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_ds_cjk) - i;
}

/* \s?\p{L}+ */
static size_t m_ws_letters(const struct pt_text *t, size_t i, size_t end)
{
    return opt_lead_run(t, i, end, is_ws, is_l);
}

/* \s?\p{P}+ */
static size_t m_ws_punct(const struct pt_text *t, size_t i, size_t end)
{
    return opt_lead_run(t, i, end, is_ws, is_p);
}

/* \s+$ : the piece's trailing whitespace (split per piece: a search for it
 * position by position would be quadratic in long inner whitespace runs). */
static int split_trailing_ws(const struct pt_text *t, struct pt_span piece, struct pt_spans *out)
{
    size_t k = piece.b;
    while (k > piece.a && is_ws(t, k - 1))
        k--;
    if (k > piece.a && pretok_spans_push(out, piece.a, k) < 0)
        return -1;
    if (k < piece.b && pretok_spans_push(out, k, piece.b) < 0)
        return -1;
    return 0;
}

/* deepseek-v3: [一-龥぀-ゟ゠-ヿ]+ */
static const uint32_t ds3_cjk_ranges[][2] = {
    {0x3040, 0x309F}, {0x30A0, 0x30FF}, {0x4E00, 0x9FA5},
};

static bool is_ds3_cjk(const struct pt_text *t, size_t i)
{
    return in_wregex_ranges(t, i, ds3_cjk_ranges, N_RANGES(ds3_cjk_ranges));
}

static size_t m_ds3_cjk(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_ds3_cjk) - i;
}

static size_t m_digits3(const struct pt_text *t, size_t i, size_t end) { return digits_upto(t, i, end, 3); }

static bool is_ascii_punct(uint32_t c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

static bool is_ascii_letter_cls(const struct pt_text *t, size_t i)
{
    return ascii_lower(t->cp[i]) >= 'a' && ascii_lower(t->cp[i]) <= 'z';
}

static bool is_letter_or_mark(const struct pt_text *t, size_t i) { return t->fl[i] & (UCAT_LETTER | UCAT_MARK); }
static bool is_punct_or_symbol(const struct pt_text *t, size_t i) { return t->fl[i] & (UCAT_PUNCT | UCAT_SYMBOL); }

/* [^\r\n\p{L}\p{P}\p{S}] */
static bool is_ds3_lead(const struct pt_text *t, size_t i)
{
    return !is_crlf(t, i) && !(t->fl[i] & (UCAT_LETTER | UCAT_PUNCT | UCAT_SYMBOL));
}

/* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
 * | ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_ds3_main(const struct pt_text *t, size_t i, size_t end)
{
    size_t n;
    if (is_ascii_punct(t->cp[i]) && i + 1 < end && is_ascii_letter_cls(t, i + 1))
        return run_end(t, i + 1, end, is_ascii_letter_cls) - i;
    if ((n = opt_lead_run(t, i, end, is_ds3_lead, is_letter_or_mark)))
        return n;
    if ((n = opt_space_run(t, i, end, is_punct_or_symbol)))
        return run_end(t, i + n, end, is_crlf) - i;
    if ((n = ws_to_last_newline(t, i, end)) || (n = ws_not_before_nonws(t, i, end)))
        return n;
    return ws_run(t, i, end);
}

/* ---- bloom / viking / whitespace ---- */

/* [^(\s|.,!?…。，、।۔،)] */
static bool is_bloom_word(const struct pt_text *t, size_t i)
{
    switch (t->cp[i]) {
    case '(': case ')': case '|': case '.': case ',': case '!': case '?':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
        return false;
    default:
        return !is_ws(t, i);
    }
}

/*  ?[^(\s|.,!?…。，、।۔،)]+ */
static size_t m_bloom(const struct pt_text *t, size_t i, size_t end)
{
    return opt_space_run(t, i, end, is_bloom_word);
}

static bool is_not_lf(const struct pt_text *t, size_t i) { return t->cp[i] != '\n'; }
static bool is_lf(const struct pt_text *t, size_t i) { return t->cp[i] == '\n'; }

/* [^\n]+|[\n]+ */
static size_t m_lines(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_lf(t, i) ? is_lf : is_not_lf) - i;
}

/* \S+ */
static size_t m_nonws(const struct pt_text *t, size_t i, size_t end)
{
    return run_end(t, i, end, is_nonws) - i;
}

/* ---- the sequences ---- */

#define M(f) {f, NULL}
#define END {NULL, NULL}

static const struct pt_step steps_default[] = {
    M(m_default_punct), M(m_gpt2), M(m_digits), M(m_ascii_digits3), END};
static const struct pt_step steps_gpt2[] = {M(m_gpt2), END};
static const struct pt_step steps_llama3[] = {M(m_llama3), END};
static const struct pt_step steps_qwen2[] = {M(m_qwen2), END};
static const struct pt_step steps_starcoder[] = {M(m_digit), M(m_gpt2), END};
static const struct pt_step steps_falcon[] = {M(m_falcon_punct), M(m_gpt2), M(m_ascii_digits3), END};
static const struct pt_step steps_deepseek_llm[] = {
    M(m_newline), M(m_ds_letters), M(m_ds_punct), {NULL, split_trailing_ws}, M(m_ds_cjk),
    M(m_digits), END};
static const struct pt_step steps_deepseek_coder[] = {
    M(m_newline), M(m_ws_letters), M(m_ws_punct), M(m_ds_cjk), M(m_digit), END};
static const struct pt_step steps_gpt4o[] = {M(m_gpt4o), END};
static const struct pt_step steps_tekken[] = {M(m_tekken), END};
static const struct pt_step steps_bloom[] = {M(m_bloom), END};
static const struct pt_step steps_viking[] = {M(m_bloom), M(m_digit), END};
static const struct pt_step steps_deepseek3[] = {M(m_digits3), M(m_ds3_cjk), M(m_ds3_main), END};
static const struct pt_step steps_seed_coder[] = {M(m_seed_coder), END};
static const struct pt_step steps_whitespace[] = {M(m_nonws), END};
static const struct pt_step steps_qwen35[] = {M(m_qwen35), END};
static const struct pt_step steps_ufakzeka[] = {M(m_ufakzeka), END};
static const struct pt_step steps_minicpm5[] = {M(m_digits3), M(m_minicpm5), END};
static const struct pt_step steps_jais2[] = {M(m_jais2), END};
static const struct pt_step steps_exaone_moe[] = {M(m_exaone_moe), END};
static const struct pt_step steps_granite_multi[] = {M(m_granite_multi), END};
static const struct pt_step steps_laguna[] = {M(m_lines), M(m_qwen2), END};
static const struct pt_step steps_gemma4[] = {M(m_lines), END};

const struct pt_step *pretok_kind_steps(enum pretok_kind kind)
{
    switch (kind) {
    case PRETOK_DEFAULT: return steps_default;
    case PRETOK_GPT2: case PRETOK_MPT: return steps_gpt2;
    case PRETOK_LLAMA3: return steps_llama3;
    /* bailingmoe's \s*[\r\n] matches what \s*[\r\n]+ does: qwen2's sequence */
    case PRETOK_QWEN2: case PRETOK_BAILINGMOE: return steps_qwen2;
    case PRETOK_SMOLLM: case PRETOK_STARCODER: return steps_starcoder;
    case PRETOK_DEEPSEEK_LLM: return steps_deepseek_llm;
    case PRETOK_DEEPSEEK_CODER: return steps_deepseek_coder;
    case PRETOK_FALCON: return steps_falcon;
    case PRETOK_GPT4O: return steps_gpt4o;
    case PRETOK_TEKKEN: return steps_tekken;
    case PRETOK_BLOOM: return steps_bloom;
    case PRETOK_VIKING: return steps_viking;
    case PRETOK_DEEPSEEK3: return steps_deepseek3;
    case PRETOK_SEED_CODER: return steps_seed_coder;
    case PRETOK_WHITESPACE: return steps_whitespace;
    case PRETOK_QWEN35: return steps_qwen35;
    case PRETOK_UFAKZEKA: return steps_ufakzeka;
    case PRETOK_MINICPM5: return steps_minicpm5;
    case PRETOK_JAIS2: return steps_jais2;
    case PRETOK_EXAONE_MOE: return steps_exaone_moe;
    case PRETOK_GRANITE_MULTI: return steps_granite_multi;
    case PRETOK_LAGUNA: return steps_laguna;
    case PRETOK_GEMMA4: return steps_gemma4;
    default: return NULL;
    }
}
