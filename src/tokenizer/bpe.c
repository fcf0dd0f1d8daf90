/*
 * bpe.c - byte-level BPE ("gpt2" vocabularies): the pre-tokenizer named by
 * tokenizer.ggml.pre splits the text into words; each word's bytes are
 * mapped to printable code points (GPT-2's byte encoding) and the adjacent
 * pair with the lowest merge rank is merged until none applies.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tok_internal.h"
#include "base/unicode.h"

/* The text as the reference sees it: decoded leniently (a bad byte becomes
 * U+FFFD, overlong forms their code point) and encoded again. At most 3
 * bytes out per byte in. */
static size_t canonicalize(const char *text, size_t len, char *out)
{
    size_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t used;
        uint32_t cp = utf8_decode_lenient(text + off, len - off, &used);
        off += used;
        n += utf8_encode_lenient(cp, out + n);
    }
    return n;
}

/* GPT-2 byte encoding: every byte becomes its printable code point (1-2 bytes). */
static size_t byte_encode(const char *word, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += utf8_encode(unicode_byte_to_cp((uint8_t)word[i]), out + n);
    }
    return n;
}

static int add_bigram(const struct vocab *v, struct tok_work *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) {
        return 0;
    }
    const struct tok_symbol *l = &w->sym[left], *r = &w->sym[right];
    int32_t rank = vocab_merge_rank(v, l->text, l->n, r->text, r->n);
    if (rank < 0) {
        return 0;
    }
    struct tok_bigram b = {-(float)rank, left, right, l->n + r->n};
    return tok_heap_push(&w->heap, b);
}

/* A symbol that is no token: its single bytes that are tokens, the rest dropped. */
static int emit_symbol(const struct vocab *v, const struct tok_symbol *s, struct tok_list *out)
{
    int32_t id = vocab_find(v, s->text, s->n);
    if (id != TOKEN_NULL) {
        return tok_list_push(out, id);
    }
    for (uint32_t k = 0; k < s->n; k++) {
        id = vocab_find(v, s->text + k, 1);
        if (id != TOKEN_NULL && tok_list_push(out, id) != 0) {
            return -1;
        }
    }
    return 0;
}

static int tokenize_word(const struct vocab *v, struct tok_work *w, const char *word,
                         size_t len, struct tok_list *out)
{
    size_t enc_len = byte_encode(word, len, w->buf);
    if (enc_len == 0) {
        return 0;
    }
    if (v->ignore_merges) {
        int32_t id = vocab_find(v, w->buf, enc_len);
        if (id != TOKEN_NULL) {
            return tok_list_push(out, id);
        }
    }
    return tok_merge_text(v, w, w->buf, enc_len, add_bigram, emit_symbol, out);
}

int tok_bpe(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                 struct tok_list *out)
{
    struct pretok_list words = {0};
    int rc = -1;
    char *canon = malloc(3 * len + 1);
    if (!canon) {
        return -1;
    }
    size_t canon_len = canonicalize(text, len, canon);
    if (pretokenize(v->pre, canon, canon_len, &words) != 0) {
        goto done;
    }
    for (size_t i = 0; i < words.n; i++) {
        const struct pretok_piece *p = &words.v[i];
        if ((size_t)p->off + p->len > canon_len) {
            goto done; /* a pre-tokenizer bug; refuse rather than read outside */
        }
        size_t max = 2 * (size_t)p->len + 8; /* each byte becomes at most 2 */
        if (tok_work_reserve(w, max, max) != 0 ||
            tokenize_word(v, w, canon + p->off, p->len, out) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    pretok_list_free(&words);
    free(canon);
    return rc;
}
