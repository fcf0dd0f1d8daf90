/*
 * vocab.h - a model's vocabulary as read from GGUF (tokenizer.ggml.* keys):
 * token texts, scores and attributes, merges, special token ids, the
 * add-BOS/EOS flags and the end-of-generation set, decided the way
 * llama.cpp decides them so that token ids match it exactly.
 */
#ifndef CLLM_TOKENIZER_VOCAB_H
#define CLLM_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/strmap.h"

struct gguf_ctx;
struct special_node;

#define TOKEN_NULL (-1)

enum vocab_type {
    VOCAB_NONE = 0, /* no tokenizer ("none" / "no_vocab") */
    VOCAB_SPM,      /* "llama": SentencePiece BPE over scores with byte fallback */
    VOCAB_BPE,      /* "gpt2": byte-level BPE over merge ranks */
    VOCAB_WPM       /* "bert": WordPiece */
};

/* Token attributes (bit flags; same meaning as llama.cpp's). */
enum token_attr {
    TOKEN_ATTR_UNDEFINED = 0,
    TOKEN_ATTR_UNKNOWN = 1 << 0,
    TOKEN_ATTR_UNUSED = 1 << 1,
    TOKEN_ATTR_NORMAL = 1 << 2,
    TOKEN_ATTR_CONTROL = 1 << 3,
    TOKEN_ATTR_USER_DEFINED = 1 << 4,
    TOKEN_ATTR_BYTE = 1 << 5,
    TOKEN_ATTR_NORMALIZED = 1 << 6,
    TOKEN_ATTR_LSTRIP = 1 << 7,
    TOKEN_ATTR_RSTRIP = 1 << 8,
    TOKEN_ATTR_SINGLE_WORD = 1 << 9
};

struct vocab_token {
    const char *text; /* NUL-terminated, owned by the vocab */
    uint32_t len;
    float score;
    uint32_t attr;
};

struct vocab {
    enum vocab_type type;
    enum pretok_kind pre;      /* BPE only */
    char pre_name[64];         /* tokenizer.ggml.pre as found ("" if absent) */

    int32_t n_tokens;
    struct vocab_token *tokens;
    char *text_arena;          /* all token texts */
    struct strmap token_ids;   /* text -> id (the last of duplicates wins) */
    uint32_t max_token_len;    /* longest token text in bytes */

    /* BPE merges: "left right" -> rank; merge_split[rank] = length of left. */
    int32_t n_merges;
    char *merge_arena;
    uint32_t *merge_split;
    struct strmap merge_ranks;

    /* Special tokens (TOKEN_NULL when absent). */
    int32_t bos, eos, eot, eom, unk, sep, pad, mask, cls, nl;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;

    bool add_bos, add_eos, add_sep;
    bool add_space_prefix;     /* SPM: prefix raw text with a space */
    bool remove_extra_ws;
    bool clean_spaces;         /* detokenize: " ," -> "," etc. */
    bool ignore_merges;        /* BPE: a word that is a token is taken whole */
    /* SPM: joins_space[b] when some token has U+2581 right after byte b (other
     * than U+2581's own). Merges never cross a U+2581 that follows another
     * byte, so words are merged one by one there (same result, much faster). */
    bool joins_space[256];

    /* End-of-generation tokens, ascending. */
    int32_t *eog;
    size_t n_eog;

    /* Tokens split out of raw text before tokenizing (control, user-defined,
     * unknown), longest text first. */
    int32_t *special;
    size_t n_special;
    /* A trie over the texts of special[] for finding them in text (special.c). */
    struct special_node *trie;
    size_t n_trie;
    int32_t trie_root[256];

    int32_t byte_token[256];   /* SPM byte fallback id of each byte, TOKEN_NULL if none */
};

/* Load the vocabulary of an open GGUF file. On failure returns NULL and writes
 * "NAME: what is wrong" into err. */
struct vocab *vocab_load(const struct gguf_ctx *gguf, char *err, size_t err_size);
/* Open a GGUF file (model or vocab-only) and load its vocabulary. */
struct vocab *vocab_load_file(const char *path, char *err, size_t err_size);
void vocab_free(struct vocab *v);

/* Id of a token's exact text, or TOKEN_NULL. */
int32_t vocab_find(const struct vocab *v, const char *text, size_t len);
/* Merge rank of (left, right), or -1. */
int32_t vocab_merge_rank(const struct vocab *v, const char *left, size_t left_len,
                         const char *right, size_t right_len);

bool vocab_is_eog(const struct vocab *v, int32_t id);
bool vocab_valid(const struct vocab *v, int32_t id);
uint32_t vocab_attr(const struct vocab *v, int32_t id); /* 0 for an invalid id */
const char *vocab_type_name(enum vocab_type type);

#endif
