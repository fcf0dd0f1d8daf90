/*
 * pretokenize.h - the pre-tokenizers of byte-level BPE vocabularies: the split
 * of text into words before merges, chosen by the GGUF key
 * tokenizer.ggml.pre. Each kind reproduces the regular expressions the model
 * was trained with, hand-written over unicode.h (no regex engine).
 */
#ifndef CLLM_TOKENIZER_PRETOKENIZE_H
#define CLLM_TOKENIZER_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pretok_kind {
    PRETOK_DEFAULT = 0,   /* "default": llama.cpp's fallback set of regexes */
    PRETOK_GPT2,          /* gpt-2, phi-2, jina-es, ... */
    PRETOK_LLAMA3,        /* llama3, llama-bpe, llama-v3, falcon3, ... */
    PRETOK_QWEN2,
    PRETOK_SMOLLM,
    PRETOK_DEEPSEEK_LLM,
    PRETOK_DEEPSEEK_CODER,
    PRETOK_FALCON,
    PRETOK_MPT,
    PRETOK_STARCODER,     /* starcoder, refact, command-r, smollm? see pretokenize.c */
    PRETOK_GPT4O,
    PRETOK_TEKKEN,
    PRETOK_BLOOM,         /* bloom, poro-chat, gpt3-finnish */
    PRETOK_VIKING,
    PRETOK_DEEPSEEK3,     /* deepseek-v3, hunyuan-dense, ... */
    PRETOK_SEED_CODER,
    PRETOK_BAILINGMOE,
    PRETOK_WHITESPACE,    /* \S+ (jina-embeddings-v2-base-zh); not byte-level */
    PRETOK_QWEN35,
    PRETOK_UFAKZEKA,
    PRETOK_MINICPM5,
    PRETOK_JAIS2,
    PRETOK_EXAONE_MOE,
    PRETOK_GRANITE_MULTI, /* granite-embed-multi-97m */
    PRETOK_LAGUNA,
    PRETOK_GEMMA4,        /* gemma4, sarvam-moe, ...: lines only; not byte-level */
    PRETOK_KIND_COUNT,
    PRETOK_UNKNOWN = -1
};

/* One piece: bytes [off, off + len) of the input. */
struct pretok_piece {
    uint32_t off;
    uint32_t len;
};

/* A growable list of pieces, owned by the caller (free with pretok_list_free). */
struct pretok_list {
    struct pretok_piece *v;
    size_t n, cap;
};

/* The kind for a tokenizer.ggml.pre value (not NUL-terminated); PRETOK_UNKNOWN
 * if cllm does not know it. */
enum pretok_kind pretok_kind_from_name(const char *name, size_t len);
const char *pretok_kind_name(enum pretok_kind kind);
/* Whether the pieces go through the GPT-2 byte mapping before BPE merges
 * (llama.cpp's byte_encode): false for PRETOK_GEMMA4 and PRETOK_WHITESPACE,
 * whose vocabularies hold raw UTF-8. */
bool pretok_kind_byte_level(enum pretok_kind kind);

/* Split text[0..len) into pieces, appended to out in order; together they
 * cover the text exactly (invalid UTF-8 bytes count as U+FFFD, one byte each).
 * An unknown kind splits as PRETOK_DEFAULT. Returns 0, or -1 on allocation
 * failure. */
int pretokenize(enum pretok_kind kind, const char *text, size_t len, struct pretok_list *out);
void pretok_list_free(struct pretok_list *list);

#endif
