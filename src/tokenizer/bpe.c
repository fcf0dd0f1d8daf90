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

/* UTF-8 of any code point up to U+10FFFF, surrogates included (as the
 * reference writes them back); above that, U+FFFD. */
static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp > 0x10FFFF) {
        cp = 0xFFFD;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The text as the reference sees it: decoded leniently (a bad byte becomes
 * U+FFFD, overlong forms their code point) and encoded again. At most 3
 * bytes out per byte in. */
static size_t canonicalize(const char *text, size_t len, char *out)
{
    size_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t used;
        uint32_t cp = tok_utf8_decode_lenient(text + off, len - off, &used);
        off += used;
        n += put_utf8(cp, out + n);
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
    int32_t n_sym = tok_split_chars(w, w->buf, enc_len);
    w->heap.n = 0;
    for (int32_t i = 1; i < n_sym; i++) {
        if (add_bigram(v, w, i - 1, i) != 0) {
            return -1;
        }
    }
    if (tok_merge_all(v, w, add_bigram) != 0) {
        return -1;
    }
    for (int32_t i = 0; i != -1; i = w->sym[i].next) {
        if (emit_symbol(v, &w->sym[i], out) != 0) {
            return -1;
        }
    }
    return 0;
}

int bpe_tokenize(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
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
