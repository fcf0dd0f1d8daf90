/*
 * vocab.c - loading a vocabulary from GGUF metadata (tokenizer.ggml.*), with
 * the defaults, flags and text-based special-token detection that llama.cpp
 * applies, so that ids, BOS/EOS handling and the end-of-generation set agree
 * with it.
 */
#include "tokenizer/vocab.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tok_internal.h"
#include "base/err.h"

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    TOKTYPE_UNDEFINED = 0,
    TOKTYPE_NORMAL = 1,
    TOKTYPE_UNKNOWN = 2,
    TOKTYPE_CONTROL = 3,
    TOKTYPE_USER_DEFINED = 4,
    TOKTYPE_UNUSED = 5,
    TOKTYPE_BYTE = 6
};

static void set_err(char *err, size_t err_size, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset_at(err, err_size, name ? name : "vocab", fmt, ap);
    va_end(ap);
}

const char *vocab_type_name(enum vocab_type type)
{
    switch (type) {
    case VOCAB_SPM: return "SPM";
    case VOCAB_BPE: return "BPE";
    case VOCAB_WPM: return "WPM";
    default: return "none";
    }
}

static bool str_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static bool text_in(const struct vocab_token *t, const char *const *list)
{
    for (size_t i = 0; list[i]; i++) {
        if (str_is(t->text, t->len, list[i])) {
            return true;
        }
    }
    return false;
}

/* ---- type, defaults and pre-tokenizer flags ---- */

static void set_defaults(struct vocab *v)
{
    v->bos = v->eos = v->eot = v->eom = v->unk = v->sep = v->pad = TOKEN_NULL;
    v->mask = v->cls = v->nl = TOKEN_NULL;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = TOKEN_NULL;
    switch (v->type) {
    case VOCAB_SPM:
        v->bos = 1, v->eos = 2, v->unk = 0;
        v->add_space_prefix = true, v->add_bos = true;
        break;
    case VOCAB_WPM:
        v->bos = 101, v->unk = 100, v->sep = 102, v->pad = 0, v->mask = 103;
        v->clean_spaces = true, v->add_bos = true, v->add_sep = true;
        break;
    case VOCAB_BPE:
        v->bos = 11, v->eos = 11;
        v->clean_spaces = true;
        break;
    default:
        break;
    }
}

struct pre_rule {
    const char *names; /* '|'-separated */
    bool keep_clean_spaces;
    bool ignore_merges;
    bool add_bos;
};

/* Flags llama.cpp sets per tokenizer.ggml.pre; the split itself comes from
 * pretokenize.h. */
static const struct pre_rule PRE_RULES[] = {
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", true, true, true},
    {"tekken", false, true, true},
    {"chameleon", false, false, true},
    {"deepseek-llm|deepseek-coder|deepseek-v3|command-r|qwen2|deepseek-r1-qwen|kormo|poro-chat|"
     "viking|smollm|gpt-4o|llama4|superbpe|trillion|granite-docling|bailingmoe|bailingmoe2|"
     "llada-moe|seed-coder|hunyuan|hunyuan-dense|kimi-k2|grok-2|afmoe|minimax-m2|qwen35",
     false, false, false},
};

static bool name_in_list(const char *name, size_t len, const char *list)
{
    while (*list) {
        const char *bar = strchr(list, '|');
        size_t n = bar ? (size_t)(bar - list) : strlen(list);
        if (n == len && memcmp(list, name, len) == 0) {
            return true;
        }
        list += n + (bar ? 1 : 0);
    }
    return false;
}

static void apply_pre(struct vocab *v, const char *pre, size_t len)
{
    size_t n = len < sizeof(v->pre_name) - 1 ? len : sizeof(v->pre_name) - 1;
    memcpy(v->pre_name, pre, n);
    v->pre_name[n] = '\0';
    if (v->type != VOCAB_BPE) {
        v->pre = PRETOK_DEFAULT;
        return;
    }
    for (size_t i = 0; i < sizeof(PRE_RULES) / sizeof(PRE_RULES[0]); i++) {
        if (name_in_list(pre, len, PRE_RULES[i].names)) {
            v->clean_spaces = PRE_RULES[i].keep_clean_spaces;
            v->ignore_merges = PRE_RULES[i].ignore_merges;
            v->add_bos = v->add_bos || PRE_RULES[i].add_bos;
        }
    }
    if (str_is(pre, len, "glm4") || str_is(pre, len, "chatglm-bpe")) {
        v->bos = TOKEN_NULL;
    }
    v->pre = len ? pretok_kind_from_name(pre, len) : PRETOK_DEFAULT;
    if (v->pre == PRETOK_UNKNOWN) {
        fprintf(stderr, "vocab: warning: unknown pre-tokenizer '%s', using 'default'\n",
                v->pre_name);
        v->pre = PRETOK_DEFAULT;
    }
}

static int read_type(struct vocab *v, const struct gguf_ctx *g, char *err, size_t err_size)
{
    const char *model = NULL, *pre = "";
    size_t model_len = 0, pre_len = 0;
    if (gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len) != GGUF_OK) {
        set_err(err, err_size, gguf_name(g), "no tokenizer.ggml.model string");
        return -1;
    }
    if (str_is(model, model_len, "llama")) {
        v->type = VOCAB_SPM;
    } else if (str_is(model, model_len, "gpt2")) {
        v->type = VOCAB_BPE;
    } else if (str_is(model, model_len, "bert")) {
        v->type = VOCAB_WPM;
    } else if (str_is(model, model_len, "none") || str_is(model, model_len, "no_vocab")) {
        v->type = VOCAB_NONE;
    } else {
        set_err(err, err_size, gguf_name(g), "unsupported tokenizer.ggml.model '%.*s'",
                (int)(model_len > 64 ? 64 : model_len), model);
        return -1;
    }
    set_defaults(v);
    if (gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len) != GGUF_OK) {
        pre = "", pre_len = 0;
    }
    apply_pre(v, pre, pre_len);
    bool b;
    if (gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) == GGUF_OK) {
        v->add_space_prefix = b;
    }
    if (gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", &b) == GGUF_OK) {
        v->remove_extra_ws = b;
    }
    return 0;
}

/* ---- tokens ---- */

static uint32_t attr_of_type(int64_t type)
{
    switch (type) {
    case TOKTYPE_UNKNOWN: return TOKEN_ATTR_UNKNOWN;
    case TOKTYPE_UNUSED: return TOKEN_ATTR_UNUSED;
    case TOKTYPE_NORMAL: return TOKEN_ATTR_NORMAL;
    case TOKTYPE_CONTROL: return TOKEN_ATTR_CONTROL;
    case TOKTYPE_USER_DEFINED: return TOKEN_ATTR_USER_DEFINED;
    case TOKTYPE_BYTE: return TOKEN_ATTR_BYTE;
    default: return TOKEN_ATTR_UNDEFINED;
    }
}

/* Optional per-token array (scores, types): its kv index if long enough, -1 if absent. */
static int64_t optional_array(const struct gguf_ctx *g, const char *key, uint64_t n_tokens,
                              int *status)
{
    enum gguf_type type;
    uint64_t n;
    int64_t kv;
    *status = 0;
    int rc = gguf_get_arr(g, key, &type, &n, &kv);
    if (rc == GGUF_NOT_FOUND) {
        return -1;
    }
    if (rc != GGUF_OK || n < n_tokens) {
        *status = -1;
        return -1;
    }
    return kv;
}

struct token_arrays {
    int64_t kv_tok, kv_scores, kv_types; /* -1: absent (scores, types) */
    uint64_t n;
};

static int find_token_arrays(const struct gguf_ctx *g, struct token_arrays *a, char *err,
                             size_t err_size)
{
    const char *name = gguf_name(g);
    enum gguf_type type;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &type, &a->n, &a->kv_tok) != GGUF_OK ||
        type != GGUF_TYPE_STRING) {
        set_err(err, err_size, name, "no tokenizer.ggml.tokens string array");
        return -1;
    }
    if (a->n == 0 || a->n > INT32_MAX / 2) {
        set_err(err, err_size, name, "tokenizer.ggml.tokens has %llu entries",
                (unsigned long long)a->n);
        return -1;
    }
    int st_scores, st_types;
    a->kv_scores = optional_array(g, "tokenizer.ggml.scores", a->n, &st_scores);
    a->kv_types = optional_array(g, "tokenizer.ggml.token_type", a->n, &st_types);
    if (st_scores || st_types) {
        set_err(err, err_size, name, "tokenizer.ggml.%s is not an array of %llu numbers",
                st_scores ? "scores" : "token_type", (unsigned long long)a->n);
        return -1;
    }
    return 0;
}

/* Size every text, then allocate the token table, text arena and id map. */
static int alloc_tokens(struct vocab *v, const struct gguf_ctx *g, const struct token_arrays *a,
                        char *err, size_t err_size)
{
    size_t total = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        const char *s;
        size_t len;
        if (gguf_arr_get_str(g, a->kv_tok, i, &s, &len) != GGUF_OK || len > UINT32_MAX / 2) {
            set_err(err, err_size, gguf_name(g), "tokenizer.ggml.tokens[%llu] is unreadable",
                    (unsigned long long)i);
            return -1;
        }
        total += (len ? len : 32) + 1; /* room for the empty-token placeholder */
    }
    v->n_tokens = (int32_t)a->n;
    v->tokens = calloc(a->n, sizeof(*v->tokens));
    v->text_arena = malloc(total);
    if (!v->tokens || !v->text_arena || strmap_init(&v->token_ids, a->n) != 0) {
        set_err(err, err_size, gguf_name(g), "out of memory for %llu tokens",
                (unsigned long long)a->n);
        return -1;
    }
    return 0;
}

/* Copy token i's text to *arena (advanced) and read its score and type. */
static void fill_token(struct vocab *v, const struct gguf_ctx *g, const struct token_arrays *a,
                       uint64_t i, char **arena)
{
    struct vocab_token *t = &v->tokens[i];
    char *p = *arena;
    const char *s;
    size_t len;
    gguf_arr_get_str(g, a->kv_tok, i, &s, &len);
    if (len == 0) { /* as llama.cpp: an empty token gets a placeholder text */
        len = (size_t)snprintf(p, 32, "[EMPTY_%llu]", (unsigned long long)i);
    } else {
        memcpy(p, s, len);
    }
    p[len] = '\0';
    t->text = p;
    t->len = (uint32_t)len;
    *arena = p + len + 1;
    float score = 0.0f;
    int64_t tt = TOKTYPE_NORMAL;
    if (a->kv_scores >= 0 && gguf_arr_get_f32(g, a->kv_scores, i, &score) != GGUF_OK) {
        score = 0.0f;
    }
    if (a->kv_types >= 0 && gguf_arr_get_i64(g, a->kv_types, i, &tt) != GGUF_OK) {
        tt = TOKTYPE_UNDEFINED;
    }
    t->score = score;
    t->attr = attr_of_type(tt);
    if (t->len > v->max_token_len) {
        v->max_token_len = t->len;
    }
}

static int read_tokens(struct vocab *v, const struct gguf_ctx *g, char *err, size_t err_size)
{
    struct token_arrays a;
    if (find_token_arrays(g, &a, err, err_size) != 0 || alloc_tokens(v, g, &a, err, err_size) != 0) {
        return -1;
    }
    char *arena = v->text_arena;
    for (uint64_t i = 0; i < a.n; i++) {
        fill_token(v, g, &a, i, &arena);
        const struct vocab_token *t = &v->tokens[i];
        if (strmap_put(&v->token_ids, t->text, t->len, (int32_t)i, true) != 0) {
            set_err(err, err_size, gguf_name(g), "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- merges ---- */

/* Total bytes of the merges array, or -1 if an entry is unreadable. */
static int64_t merges_size(const struct gguf_ctx *g, int64_t kv, uint64_t n)
{
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (gguf_arr_get_str(g, kv, i, &s, &len) != GGUF_OK || len > UINT32_MAX / 2) {
            return -1;
        }
        total += len + 1;
    }
    return (int64_t)total;
}

static int read_merges(struct vocab *v, const struct gguf_ctx *g, char *err, size_t err_size)
{
    const char *name = gguf_name(g);
    enum gguf_type type;
    uint64_t n;
    int64_t kv;
    if (gguf_get_arr(g, "tokenizer.ggml.merges", &type, &n, &kv) != GGUF_OK ||
        type != GGUF_TYPE_STRING) {
        set_err(err, err_size, name, "BPE vocabulary without a tokenizer.ggml.merges string array");
        return -1;
    }
    int64_t total = n > INT32_MAX / 2 ? -1 : merges_size(g, kv, n);
    if (total < 0) {
        set_err(err, err_size, name, "tokenizer.ggml.merges is unreadable or too large");
        return -1;
    }
    v->n_merges = (int32_t)n;
    v->merge_arena = malloc((size_t)total + 1);
    v->merge_split = calloc(n + 1, sizeof(*v->merge_split));
    if (!v->merge_arena || !v->merge_split || strmap_init(&v->merge_ranks, n) != 0) {
        set_err(err, err_size, name, "out of memory for %llu merges", (unsigned long long)n);
        return -1;
    }
    char *p = v->merge_arena;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        gguf_arr_get_str(g, kv, i, &s, &len);
        /* "first second", split at the first space after the first byte; a
         * line without one is the pair ("", "") as in llama.cpp. */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        len = sp ? len : 0;
        memcpy(p, s, len);
        v->merge_split[i] = sp ? (uint32_t)(sp - s) : 0;
        if (strmap_put(&v->merge_ranks, p, len, (int32_t)i, false) != 0) {
            set_err(err, err_size, name, "out of memory");
            return -1;
        }
        p += len;
    }
    return 0;
}

int32_t vocab_merge_rank(const struct vocab *v, const char *left, size_t left_len,
                         const char *right, size_t right_len)
{
    char stack[256];
    size_t n = left_len + 1 + right_len;
    char *key = n <= sizeof(stack) ? stack : malloc(n);
    if (!key || v->n_merges == 0) {
        if (key && key != stack) {
            free(key);
        }
        return -1;
    }
    memcpy(key, left, left_len);
    key[left_len] = ' ';
    memcpy(key + left_len + 1, right, right_len);
    int32_t rank = strmap_get(&v->merge_ranks, key, n);
    if (key != stack) {
        free(key);
    }
    if (rank >= 0 && v->merge_split[rank] != left_len) {
        rank = -1; /* same bytes, split elsewhere: another pair */
    }
    return rank;
}

/* ---- special ids and flags ---- */

static void read_special_id(struct vocab *v, const struct gguf_ctx *g, const char *key,
                            int32_t *id)
{
    uint32_t x;
    if (gguf_get_u32(g, key, &x) != GGUF_OK) {
        return;
    }
    if (x == UINT32_MAX) {
        return; /* -1 written as unsigned: no such token */
    }
    if (x >= (uint32_t)v->n_tokens) {
        fprintf(stderr, "vocab: warning: %s: bad special token %s = %u, using %d\n",
                gguf_name(g), key, x, *id);
        return;
    }
    *id = (int32_t)x;
}

static void read_special_ids(struct vocab *v, const struct gguf_ctx *g)
{
    static const struct {
        const char *key;
        size_t off;
    } KEYS[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(struct vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(struct vocab, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(struct vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(struct vocab, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(struct vocab, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(struct vocab, sep)},
        {"tokenizer.ggml.padding_token_id", offsetof(struct vocab, pad)},
        {"tokenizer.ggml.mask_token_id", offsetof(struct vocab, mask)},
        {"tokenizer.ggml.cls_token_id", offsetof(struct vocab, cls)},
        {"tokenizer.ggml.fim_pre_token_id", offsetof(struct vocab, fim_pre)},
        {"tokenizer.ggml.fim_suf_token_id", offsetof(struct vocab, fim_suf)},
        {"tokenizer.ggml.fim_mid_token_id", offsetof(struct vocab, fim_mid)},
        {"tokenizer.ggml.fim_pad_token_id", offsetof(struct vocab, fim_pad)},
        {"tokenizer.ggml.fim_rep_token_id", offsetof(struct vocab, fim_rep)},
        {"tokenizer.ggml.fim_sep_token_id", offsetof(struct vocab, fim_sep)},
        {"tokenizer.ggml.prefix_token_id", offsetof(struct vocab, fim_pre)},
        {"tokenizer.ggml.suffix_token_id", offsetof(struct vocab, fim_suf)},
        {"tokenizer.ggml.middle_token_id", offsetof(struct vocab, fim_mid)},
    };
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
        read_special_id(v, g, KEYS[i].key, (int32_t *)((char *)v + KEYS[i].off));
    }
    bool b;
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == GGUF_OK) {
        v->add_bos = b;
    }
    if (gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) == GGUF_OK) {
        v->add_eos = b;
    }
    if (gguf_get_bool(g, "tokenizer.ggml.add_sep_token", &b) == GGUF_OK) {
        v->add_sep = b;
    }
}

/* Token texts that mark special roles when the metadata does not. */
static const char *const EOT_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<end_of_utterance>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const FIM_PRE_TEXTS[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const FIM_SUF_TEXTS[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const FIM_MID_TEXTS[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const FIM_PAD_TEXTS[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>", NULL};
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", NULL};

/* The first text of the list that is a token takes the role (when the
 * metadata gave none) and becomes a control token. llama.cpp takes whichever
 * its hash map yields first; the list order is a stable stand-in. */
static void detect_role(struct vocab *v, int32_t *role, const char *const *texts)
{
    for (size_t i = 0; *role == TOKEN_NULL && texts[i]; i++) {
        int32_t id = vocab_find(v, texts[i], strlen(texts[i]));
        if (id != TOKEN_NULL) {
            *role = id;
            v->tokens[id].attr |= TOKEN_ATTR_CONTROL;
        }
    }
}

static int eog_add(struct vocab *v, int32_t id)
{
    if (id == TOKEN_NULL || vocab_is_eog(v, id)) {
        return 0;
    }
    int32_t *e = realloc(v->eog, (v->n_eog + 1) * sizeof(*e));
    if (!e) {
        return -1;
    }
    size_t i = v->n_eog;
    while (i > 0 && e[i - 1] > id) { /* keep ascending */
        e[i] = e[i - 1];
        i--;
    }
    e[i] = id;
    v->eog = e;
    v->n_eog++;
    return 0;
}

static void eog_remove(struct vocab *v, int32_t id)
{
    for (size_t i = 0; i < v->n_eog; i++) {
        if (v->eog[i] == id) {
            memmove(&v->eog[i], &v->eog[i + 1], (v->n_eog - i - 1) * sizeof(*v->eog));
            v->n_eog--;
            return;
        }
    }
}

/* Tokens whose texts the chat formats of some families use with other roles. */
static void eog_fixups(struct vocab *v)
{
    int32_t ret = vocab_find(v, "<|return|>", 10), call = vocab_find(v, "<|call|>", 8);
    int32_t calls = vocab_find(v, "<|calls|>", 9), flush = vocab_find(v, "<|flush|>", 9);
    int32_t end = vocab_find(v, "<|end|>", 7), tool = vocab_find(v, "<|tool_response>", 16);
    int32_t s = vocab_find(v, "</s>", 4);
    bool has_call = vocab_is_eog(v, call) || vocab_is_eog(v, calls);
    if (vocab_is_eog(v, end) && has_call && (vocab_is_eog(v, ret) || vocab_is_eog(v, flush))) {
        eog_remove(v, end);
        v->tokens[end].attr = TOKEN_ATTR_USER_DEFINED;
    }
    if (vocab_is_eog(v, tool) && vocab_is_eog(v, s)) {
        eog_remove(v, s);
        v->tokens[s].attr = TOKEN_ATTR_NORMAL;
    }
}

static int detect_specials(struct vocab *v)
{
    detect_role(v, &v->eot, EOT_TEXTS);
    detect_role(v, &v->eom, EOM_TEXTS);
    detect_role(v, &v->fim_pre, FIM_PRE_TEXTS);
    detect_role(v, &v->fim_suf, FIM_SUF_TEXTS);
    detect_role(v, &v->fim_mid, FIM_MID_TEXTS);
    detect_role(v, &v->fim_pad, FIM_PAD_TEXTS);
    detect_role(v, &v->fim_rep, FIM_REP_TEXTS);
    detect_role(v, &v->fim_sep, FIM_SEP_TEXTS);
    for (int32_t id = 0; id < v->n_tokens; id++) {
        struct vocab_token *t = &v->tokens[id];
        if ((t->attr & TOKEN_ATTR_CONTROL) && strstr(t->text, "unused")) {
            t->attr |= TOKEN_ATTR_UNUSED;
        }
    }
    if (eog_add(v, v->fim_pad) || eog_add(v, v->fim_rep) || eog_add(v, v->fim_sep)) {
        return -1;
    }
    for (int32_t id = 0; id < v->n_tokens; id++) {
        struct vocab_token *t = &v->tokens[id];
        if (vocab_find(v, t->text, t->len) == id && text_in(t, EOG_TEXTS)) {
            if (eog_add(v, id) != 0) {
                return -1;
            }
            t->attr |= TOKEN_ATTR_CONTROL;
        }
    }
    static const char *const GPT_OSS[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (text_in(&v->tokens[id], GPT_OSS) && vocab_find(v, v->tokens[id].text, v->tokens[id].len) == id) {
            v->tokens[id].attr = TOKEN_ATTR_USER_DEFINED;
        }
    }
    if (eog_add(v, v->eos) || eog_add(v, v->eot) || eog_add(v, v->eom)) {
        return -1;
    }
    eog_fixups(v);
    return 0;
}

/* ---- caches ---- */

struct len_id {
    uint32_t len;
    int32_t id;
};

static int cmp_len_id(const void *a, const void *b)
{
    const struct len_id *x = a, *y = b;
    if (x->len != y->len) {
        return x->len > y->len ? -1 : 1;
    }
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Control, user-defined and unknown tokens, longest text first (ids break ties). */
static int build_special_cache(struct vocab *v)
{
    const uint32_t mask = TOKEN_ATTR_CONTROL | TOKEN_ATTR_USER_DEFINED | TOKEN_ATTR_UNKNOWN;
    size_t n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        n += (v->tokens[id].attr & mask) != 0;
    }
    struct len_id *tmp = malloc((n ? n : 1) * sizeof(*tmp));
    v->special = malloc((n ? n : 1) * sizeof(*v->special));
    if (!tmp || !v->special) {
        free(tmp);
        return -1;
    }
    n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (v->tokens[id].attr & mask) {
            tmp[n].len = v->tokens[id].len;
            tmp[n++].id = id;
        }
    }
    qsort(tmp, n, sizeof(*tmp), cmp_len_id);
    for (size_t i = 0; i < n; i++) {
        v->special[i] = tmp[i].id;
    }
    v->n_special = n;
    free(tmp);
    return 0;
}

static bool contains_any(const char *s, const char *const *subs)
{
    for (size_t i = 0; subs[i]; i++) {
        if (strstr(s, subs[i])) {
            return true;
        }
    }
    return false;
}

static void set_attr(struct vocab *v, const char *text, uint32_t attr, bool on)
{
    int32_t id = vocab_find(v, text, strlen(text));
    if (id >= 0) {
        v->tokens[id].attr = on ? (v->tokens[id].attr | attr) : (v->tokens[id].attr & ~attr);
    }
}

/* Per-family strip attributes of special tokens, chosen by name as llama.cpp does. */
static void family_attrs(struct vocab *v, const struct gguf_ctx *g)
{
    char name[256] = "", arch[128] = "";
    const char *s;
    size_t len;
    if (gguf_get_str(g, "general.name", &s, &len) == GGUF_OK) {
        snprintf(name, sizeof(name), "%.*s", (int)(len < 255 ? len : 255), s);
    }
    if (gguf_get_str(g, "general.architecture", &s, &len) == GGUF_OK) {
        snprintf(arch, sizeof(arch), "%.*s", (int)(len < 127 ? len : 127), s);
    }
    for (char *c = name; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    static const char *const JINA[] = {"jina-v2-de", "jina-v2-es", "jina-v2-code", NULL};
    static const char *const JINA_ARCH[] = {"nomic-bert-moe", "jina-bert-v3", NULL};
    static const char *const PHI3[] = {"phi-3", "phi3", NULL};
    static const char *const MODERN_BERT[] = {"modern-bert", NULL};
    if (contains_any(v->pre_name, JINA) || contains_any(arch, JINA_ARCH)) {
        set_attr(v, "<mask>", TOKEN_ATTR_LSTRIP, true);
    } else if (contains_any(name, PHI3)) {
        for (size_t i = 0; i < v->n_special; i++) {
            v->tokens[v->special[i]].attr |= TOKEN_ATTR_RSTRIP;
        }
        set_attr(v, "</s>", TOKEN_ATTR_RSTRIP, true);
        set_attr(v, "<unk>", TOKEN_ATTR_RSTRIP, false);
        set_attr(v, "<s>", TOKEN_ATTR_RSTRIP, false);
        set_attr(v, "<|endoftext|>", TOKEN_ATTR_RSTRIP, false);
    } else if (contains_any(name, MODERN_BERT)) {
        set_attr(v, "[MASK]", TOKEN_ATTR_LSTRIP, true);
    }
}

static void build_byte_tokens(struct vocab *v)
{
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof(buf), "<0x%02X>", b);
        v->byte_token[b] = vocab_find(v, buf, 6);
        if (v->byte_token[b] == TOKEN_NULL) { /* fall back to the byte as text */
            char c = (char)b;
            v->byte_token[b] = vocab_find(v, &c, 1);
        }
    }
}

/* The newline token: SPM's byte token, WPM's padding, else the first token
 * of "\n". */
static void set_newline(struct vocab *v)
{
    if (v->type == VOCAB_SPM) {
        v->nl = v->byte_token['\n'] != TOKEN_NULL ? v->byte_token['\n'] : v->pad;
    } else if (v->type == VOCAB_WPM) {
        v->nl = v->pad;
    } else {
        struct tok_list t = {0};
        v->nl = tokenize_list(v, "\n", 1, false, false, &t) == 0 && t.n ? t.v[0] : v->pad;
        tok_list_free(&t);
    }
}

/* Which bytes some token has right before a U+2581 that does not follow another U+2581. */
static void find_space_joins(struct vocab *v)
{
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const char *t = v->tokens[id].text;
        uint32_t len = v->tokens[id].len;
        for (uint32_t k = 1; k + 3 <= len; k++) {
            if (memcmp(t + k, "\xe2\x96\x81", 3) == 0 &&
                !(k >= 3 && memcmp(t + k - 3, "\xe2\x96\x81", 3) == 0)) {
                v->joins_space[(uint8_t)t[k - 1]] = true;
            }
        }
    }
}

/* ---- public ---- */

struct vocab *vocab_load(const struct gguf_ctx *g, char *err, size_t err_size)
{
    struct vocab *v = calloc(1, sizeof(*v));
    if (!v) {
        set_err(err, err_size, gguf_name(g), "out of memory");
        return NULL;
    }
    for (int b = 0; b < 256; b++) {
        v->byte_token[b] = TOKEN_NULL;
    }
    if (read_type(v, g, err, err_size) != 0) {
        goto fail;
    }
    if (v->type == VOCAB_NONE) {
        return v;
    }
    if ((v->type == VOCAB_BPE && read_merges(v, g, err, err_size) != 0) ||
        read_tokens(v, g, err, err_size) != 0) {
        goto fail;
    }
    read_special_ids(v, g);
    if (v->type == VOCAB_SPM) {
        build_byte_tokens(v);
        find_space_joins(v);
    }
    if (detect_specials(v) != 0 || build_special_cache(v) != 0 || tok_special_index_build(v) != 0) {
        set_err(err, err_size, gguf_name(g), "out of memory");
        goto fail;
    }
    family_attrs(v, g);
    set_newline(v);
    return v;
fail:
    vocab_free(v);
    return NULL;
}

struct vocab *vocab_load_file(const char *path, char *err, size_t err_size)
{
    struct gguf_ctx *g = gguf_open(path, 0, err, err_size);
    if (!g) {
        return NULL;
    }
    struct vocab *v = vocab_load(g, err, err_size);
    gguf_close(g);
    return v;
}

void vocab_free(struct vocab *v)
{
    if (!v) {
        return;
    }
    free(v->tokens);
    free(v->text_arena);
    strmap_free(&v->token_ids);
    free(v->merge_arena);
    free(v->merge_split);
    strmap_free(&v->merge_ranks);
    free(v->eog);
    free(v->special);
    free(v->trie);
    free(v);
}

int32_t vocab_find(const struct vocab *v, const char *text, size_t len)
{
    return v->n_tokens ? strmap_get(&v->token_ids, text, len) : TOKEN_NULL;
}

bool vocab_valid(const struct vocab *v, int32_t id)
{
    return id >= 0 && id < v->n_tokens;
}

bool vocab_is_eog(const struct vocab *v, int32_t id)
{
    size_t lo = 0, hi = v->n_eog;
    if (id == TOKEN_NULL) {
        return false;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->eog[mid] == id) {
            return true;
        }
        if (v->eog[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

uint32_t vocab_attr(const struct vocab *v, int32_t id)
{
    return vocab_valid(v, id) ? v->tokens[id].attr : 0;
}
