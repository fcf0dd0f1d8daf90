/*
 * pretokenize.c - the byte-level BPE pre-tokenizers (see pretokenize.h): the
 * public API, the names of tokenizer.ggml.pre, and the driver that applies a
 * kind's sequence of regular expressions. The expressions themselves are
 * hand-written matchers in pretokenize_rules.c.
 *
 * Semantics, as llama.cpp applies its regex lists: the text starts as one
 * piece; each expression of the sequence is searched (leftmost match, ordered
 * alternation, greedy with backtracking, as a Perl/PCRE-style engine would)
 * inside each piece of the previous step only (so lookaheads and `$` see the
 * piece's end as the end of text), and splits it into its matches plus the
 * unmatched text between them, which is kept as pieces of its own.
 *
 * The reference is llama.cpp's behaviour: the expressions' meaning (Python's
 * `regex`, as HF tokenizers applies them; tests/python/test_pretokenize.py)
 * on the text as llama.cpp's std::regex fallback sees it, where every
 * non-ASCII whitespace code point (U+00A0, U+2003, U+3000, ...) is U+000B:
 * it matches \s but no literal class, even one written to contain it. So
 * U+3000 never matches deepseek-llm's punctuation class
 * [!-/:-~！-／：-～‘-‟　-。], and no whitespace matches the CJK range
 * U+0800-U+4E00 of deepseek-llm and deepseek-coder (U+1680, U+2000-U+200A,
 * U+2028, U+2029, U+202F, U+205F and U+3000 lie in it). For deepseek-llm,
 * "a  \u3000<" splits "a", "  ", "\u3000<" (on the unchanged text, `regex`
 * gives "a", " ", " ", "\u3000", "<"). See wregex_cp() in pretokenize_rules.c.
 * Invalid UTF-8 bytes count as U+FFFD (a symbol), one byte each.
 *
 * tokenizer.ggml.pre names -> kind (names with the same regex sequence as a
 * kind in llama.cpp's llama-vocab.cpp share it):
 *   PRETOK_DEFAULT         default
 *   PRETOK_GPT2            gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es
 *                          jina-v2-de a.x-4.0 mellum modern-bert jina-v1-en
 *                          jina-v2-code roberta-bpe exaone4 olmo jais trillion
 *                          granite-docling
 *   PRETOK_MPT             mpt (the GPT-2 expression)
 *   PRETOK_LLAMA3          llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral
 *                          midm-2.0 lfm2 jina-v5-nano dbrx smaug-bpe glm4
 *                          chatglm-bpe
 *   PRETOK_QWEN2           qwen2 deepseek-r1-qwen kormo f2llmv2 megrez
 *                          stablelm2 hunyuan grok-2 solar-open
 *   PRETOK_SMOLLM          smollm (the starcoder sequence)
 *   PRETOK_STARCODER       starcoder refact command-r codeshell exaone
 *                          minerva-7b mellum2
 *   PRETOK_DEEPSEEK_LLM    deepseek-llm
 *   PRETOK_DEEPSEEK_CODER  deepseek-coder
 *   PRETOK_FALCON          falcon
 *   PRETOK_GPT4O           gpt-4o llama4 kanana2 talkie minimax-m2
 *   PRETOK_TEKKEN          tekken
 *   PRETOK_BLOOM           bloom poro-chat gpt3-finnish
 *   PRETOK_VIKING          viking
 *   PRETOK_DEEPSEEK3       deepseek-v3 hunyuan-dense joyai-llm hy_v4
 *   PRETOK_SEED_CODER      seed-coder
 *   PRETOK_BAILINGMOE      bailingmoe bailingmoe2 llada-moe
 *   PRETOK_WHITESPACE      whitespace
 *   PRETOK_QWEN35          qwen35
 *   PRETOK_UFAKZEKA        ufakzeka
 *   PRETOK_MINICPM5        minicpm5
 *   PRETOK_JAIS2           jais-2
 *   PRETOK_EXAONE_MOE      exaone-moe
 *   PRETOK_GRANITE_MULTI   granite-embed-multi-97m
 *   PRETOK_LAGUNA          laguna
 *   PRETOK_GEMMA4          gemma4 granite-embed-multi-311m sarvam-moe
 * Not known (llama.cpp has custom code or expressions cllm does not carry
 * yet): chameleon, kimi-k2, afmoe, superbpe, tiny_aya, cohere2moe, youtu,
 * spark2_5; these give PRETOK_UNKNOWN.
 * The expression sequence of each kind is listed in pretokenize_rules.c.
 */
#include "tokenizer/pretokenize.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/pretokenize_internal.h"
#include "base/unicode.h"
#include "base/vec.h"

struct name_entry {
    const char *name;
    enum pretok_kind kind;
};

static const struct name_entry pretok_names[] = {
    {"default", PRETOK_DEFAULT},
    {"gpt-2", PRETOK_GPT2}, {"phi-2", PRETOK_GPT2}, {"jina-es", PRETOK_GPT2},
    {"jina-de", PRETOK_GPT2}, {"gigachat", PRETOK_GPT2}, {"jina-v2-es", PRETOK_GPT2},
    {"jina-v2-de", PRETOK_GPT2}, {"a.x-4.0", PRETOK_GPT2}, {"mellum", PRETOK_GPT2},
    {"modern-bert", PRETOK_GPT2}, {"jina-v1-en", PRETOK_GPT2}, {"jina-v2-code", PRETOK_GPT2},
    {"roberta-bpe", PRETOK_GPT2}, {"exaone4", PRETOK_GPT2}, {"olmo", PRETOK_GPT2},
    {"jais", PRETOK_GPT2}, {"trillion", PRETOK_GPT2}, {"granite-docling", PRETOK_GPT2},
    {"mpt", PRETOK_MPT},
    {"llama3", PRETOK_LLAMA3}, {"llama-v3", PRETOK_LLAMA3}, {"llama-bpe", PRETOK_LLAMA3},
    {"falcon3", PRETOK_LLAMA3}, {"falcon-h1", PRETOK_LLAMA3}, {"pixtral", PRETOK_LLAMA3},
    {"midm-2.0", PRETOK_LLAMA3}, {"lfm2", PRETOK_LLAMA3}, {"jina-v5-nano", PRETOK_LLAMA3},
    {"dbrx", PRETOK_LLAMA3}, {"smaug-bpe", PRETOK_LLAMA3}, {"glm4", PRETOK_LLAMA3},
    {"chatglm-bpe", PRETOK_LLAMA3},
    {"qwen2", PRETOK_QWEN2}, {"deepseek-r1-qwen", PRETOK_QWEN2}, {"kormo", PRETOK_QWEN2},
    {"f2llmv2", PRETOK_QWEN2}, {"megrez", PRETOK_QWEN2}, {"stablelm2", PRETOK_QWEN2},
    {"hunyuan", PRETOK_QWEN2}, {"grok-2", PRETOK_QWEN2}, {"solar-open", PRETOK_QWEN2},
    {"smollm", PRETOK_SMOLLM},
    {"starcoder", PRETOK_STARCODER}, {"refact", PRETOK_STARCODER},
    {"command-r", PRETOK_STARCODER}, {"codeshell", PRETOK_STARCODER},
    {"exaone", PRETOK_STARCODER}, {"minerva-7b", PRETOK_STARCODER},
    {"mellum2", PRETOK_STARCODER},
    {"deepseek-llm", PRETOK_DEEPSEEK_LLM},
    {"deepseek-coder", PRETOK_DEEPSEEK_CODER},
    {"falcon", PRETOK_FALCON},
    {"gpt-4o", PRETOK_GPT4O}, {"llama4", PRETOK_GPT4O}, {"kanana2", PRETOK_GPT4O},
    {"talkie", PRETOK_GPT4O}, {"minimax-m2", PRETOK_GPT4O},
    {"tekken", PRETOK_TEKKEN},
    {"bloom", PRETOK_BLOOM}, {"poro-chat", PRETOK_BLOOM}, {"gpt3-finnish", PRETOK_BLOOM},
    {"viking", PRETOK_VIKING},
    {"deepseek-v3", PRETOK_DEEPSEEK3}, {"hunyuan-dense", PRETOK_DEEPSEEK3},
    {"joyai-llm", PRETOK_DEEPSEEK3}, {"hy_v4", PRETOK_DEEPSEEK3},
    {"seed-coder", PRETOK_SEED_CODER},
    {"bailingmoe", PRETOK_BAILINGMOE}, {"bailingmoe2", PRETOK_BAILINGMOE},
    {"llada-moe", PRETOK_BAILINGMOE},
    {"whitespace", PRETOK_WHITESPACE},
    {"qwen35", PRETOK_QWEN35},
    {"ufakzeka", PRETOK_UFAKZEKA},
    {"minicpm5", PRETOK_MINICPM5},
    {"jais-2", PRETOK_JAIS2},
    {"exaone-moe", PRETOK_EXAONE_MOE},
    {"granite-embed-multi-97m", PRETOK_GRANITE_MULTI},
    {"laguna", PRETOK_LAGUNA},
    {"gemma4", PRETOK_GEMMA4}, {"granite-embed-multi-311m", PRETOK_GEMMA4},
    {"sarvam-moe", PRETOK_GEMMA4},
};

/* The canonical name of each kind (the one cllm-pretokenize --pre accepts first). */
static const char *const kind_names[PRETOK_KIND_COUNT] = {
    [PRETOK_DEFAULT] = "default",
    [PRETOK_GPT2] = "gpt-2",
    [PRETOK_LLAMA3] = "llama3",
    [PRETOK_QWEN2] = "qwen2",
    [PRETOK_SMOLLM] = "smollm",
    [PRETOK_DEEPSEEK_LLM] = "deepseek-llm",
    [PRETOK_DEEPSEEK_CODER] = "deepseek-coder",
    [PRETOK_FALCON] = "falcon",
    [PRETOK_MPT] = "mpt",
    [PRETOK_STARCODER] = "starcoder",
    [PRETOK_GPT4O] = "gpt-4o",
    [PRETOK_TEKKEN] = "tekken",
    [PRETOK_BLOOM] = "bloom",
    [PRETOK_VIKING] = "viking",
    [PRETOK_DEEPSEEK3] = "deepseek-v3",
    [PRETOK_SEED_CODER] = "seed-coder",
    [PRETOK_BAILINGMOE] = "bailingmoe",
    [PRETOK_WHITESPACE] = "whitespace",
    [PRETOK_QWEN35] = "qwen35",
    [PRETOK_UFAKZEKA] = "ufakzeka",
    [PRETOK_MINICPM5] = "minicpm5",
    [PRETOK_JAIS2] = "jais-2",
    [PRETOK_EXAONE_MOE] = "exaone-moe",
    [PRETOK_GRANITE_MULTI] = "granite-embed-multi-97m",
    [PRETOK_LAGUNA] = "laguna",
    [PRETOK_GEMMA4] = "gemma4",
};

bool pretok_kind_byte_level(enum pretok_kind kind)
{
    return kind != PRETOK_GEMMA4 && kind != PRETOK_WHITESPACE;
}

enum pretok_kind pretok_kind_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof pretok_names / sizeof pretok_names[0]; i++) {
        const char *n = pretok_names[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return pretok_names[i].kind;
    }
    return PRETOK_UNKNOWN;
}

const char *pretok_kind_name(enum pretok_kind kind)
{
    if ((int)kind < 0 || kind >= PRETOK_KIND_COUNT || !kind_names[kind])
        return "unknown";
    return kind_names[kind];
}

/* ---- span lists ---- */

int pretok_spans_push(struct pt_spans *s, size_t a, size_t b)
{
    if (vec_reserve((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v) != 0)
        return -1;
    s->v[s->n].a = a;
    s->v[s->n].b = b;
    s->n++;
    return 0;
}

/* Split one piece with a matcher: matches and the gaps between them. */
int pretok_split_matcher(const struct pt_text *t, pt_matcher match, struct pt_span piece,
                     struct pt_spans *out)
{
    size_t gap = piece.a, i = piece.a;
    while (i < piece.b) {
        size_t n = match(t, i, piece.b);
        if (n == 0) {
            i++;
            continue;
        }
        if (gap < i && pretok_spans_push(out, gap, i) < 0)
            return -1;
        if (pretok_spans_push(out, i, i + n) < 0)
            return -1;
        i += n;
        gap = i;
    }
    if (gap < piece.b && pretok_spans_push(out, gap, piece.b) < 0)
        return -1;
    return 0;
}

/* ---- decoding ---- */

static void pt_text_free(struct pt_text *t)
{
    free(t->cp);
    free(t->off);
    free(t->fl);
}

static int pt_text_decode(struct pt_text *t, const char *text, size_t len)
{
    memset(t, 0, sizeof *t);
    t->cp = malloc((len + 1) * sizeof *t->cp);
    t->off = malloc((len + 1) * sizeof *t->off);
    t->fl = malloc((len + 1) * sizeof *t->fl);
    if (!t->cp || !t->off || !t->fl) {
        pt_text_free(t);
        return -1;
    }
    size_t n = 0, pos = 0;
    while (pos < len) {
        size_t used;
        uint32_t c = (uint8_t)text[pos] < 0x80 ? (uint8_t)text[pos] : 0;
        if (c || text[pos] == 0)
            used = 1;
        else
            c = utf8_decode(text + pos, len - pos, &used);
        t->cp[n] = c;
        t->off[n] = (uint32_t)pos;
        t->fl[n] = (uint16_t)unicode_flags(c);
        n++;
        pos += used;
    }
    t->off[n] = (uint32_t)len;
    t->n = n;
    return 0;
}

/* ---- the public entry ---- */

static int run_steps(const struct pt_text *t, const struct pt_step *steps, struct pt_spans *cur)
{
    struct pt_spans next = {0};
    for (const struct pt_step *st = steps; st->match || st->split; st++) {
        next.n = 0;
        for (size_t k = 0; k < cur->n; k++) {
            int rc = st->split ? st->split(t, cur->v[k], &next)
                               : pretok_split_matcher(t, st->match, cur->v[k], &next);
            if (rc < 0) {
                free(next.v);
                return -1;
            }
        }
        struct pt_spans tmp = *cur;
        *cur = next;
        next = tmp;
    }
    free(next.v);
    return 0;
}

static int append_pieces(const struct pt_text *t, const struct pt_spans *s, struct pretok_list *out)
{
    if (out->n + s->n > out->cap) {
        size_t cap = out->cap ? out->cap : 64;
        while (cap < out->n + s->n)
            cap *= 2;
        struct pretok_piece *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    for (size_t k = 0; k < s->n; k++) {
        uint32_t a = t->off[s->v[k].a], b = t->off[s->v[k].b];
        out->v[out->n].off = a;
        out->v[out->n].len = b - a;
        out->n++;
    }
    return 0;
}

int pretokenize(enum pretok_kind kind, const char *text, size_t len, struct pretok_list *out)
{
    const struct pt_step *steps = pretok_kind_steps(kind);
    if (!steps)
        steps = pretok_kind_steps(PRETOK_DEFAULT);
    if (len == 0)
        return 0;
    if (len > UINT32_MAX - 1)
        return -1;
    struct pt_text t;
    if (pt_text_decode(&t, text, len) < 0)
        return -1;
    struct pt_ws_cache ws = {0, 0, 0, SIZE_MAX};
    t.ws = &ws;
    struct pt_spans cur = {0};
    int rc = pretok_spans_push(&cur, 0, t.n);
    if (rc == 0)
        rc = run_steps(&t, steps, &cur);
    if (rc == 0)
        rc = append_pieces(&t, &cur, out);
    free(cur.v);
    pt_text_free(&t);
    return rc;
}

void pretok_list_free(struct pretok_list *list)
{
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}
