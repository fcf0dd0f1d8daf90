/*
 * spm.c - SentencePiece BPE ("llama" vocabularies): spaces become U+2581,
 * the text is split into UTF-8 characters, and the adjacent pair whose
 * concatenation is the highest-scoring token is merged until none is left
 * (ties: leftmost first). A final symbol that is not a token is emitted as
 * its bytes' <0xNN> tokens (byte fallback). Where no token can span a word
 * start (see vocab.joins_space) words are merged one at a time, which gives
 * the same tokens with small heaps.
 */
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char SPACE_MARK[3] = {'\xe2', '\x96', '\x81'}; /* U+2581 */

/* Copy text with ' ' -> U+2581, after an optional leading one. Returns the length. */
static size_t escape_spaces(const char *text, size_t len, bool space_prefix, char *out)
{
    size_t n = 0;
    if (space_prefix) {
        memcpy(out, SPACE_MARK, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(out + n, SPACE_MARK, 3);
            n += 3;
        } else {
            out[n++] = text[i];
        }
    }
    return n;
}

static int try_bigram(const struct vocab *v, struct tok_work *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) {
        return 0;
    }
    const struct tok_symbol *l = &w->sym[left], *r = &w->sym[right];
    uint32_t size = l->n + r->n;
    int32_t id = vocab_find(v, l->text, size);
    if (id == TOKEN_NULL) {
        return 0;
    }
    struct tok_bigram b = {v->tokens[id].score, left, right, size};
    return tok_heap_push(&w->heap, b);
}

static int emit_symbol(const struct vocab *v, const struct tok_symbol *s, struct tok_list *out)
{
    int32_t id = vocab_find(v, s->text, s->n);
    if (id != TOKEN_NULL) {
        return tok_list_push(out, id);
    }
    for (uint32_t k = 0; k < s->n; k++) {
        int32_t b = v->byte_token[(uint8_t)s->text[k]];
        /* No byte token and no single-byte token: the unknown token stands in. */
        if (tok_list_push(out, b != TOKEN_NULL ? b : v->unk) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Merge one run of characters and emit its tokens. */
static int merge_run(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                     struct tok_list *out)
{
    return tok_merge_text(v, w, text, len, try_bigram, emit_symbol, out);
}

static bool space_mark_at(const char *s, size_t i, size_t n)
{
    return i + 3 <= n && memcmp(s + i, SPACE_MARK, 3) == 0;
}

/* End of the word starting at start: the next character (split as the
 * merger splits them) that is U+2581 and follows another character whose
 * last byte no token joins to U+2581. */
static size_t word_end(const struct vocab *v, const char *s, size_t start, size_t n)
{
    bool prev_mark = space_mark_at(s, start, n);
    size_t i = start + utf8_lead_len((uint8_t)s[start]);
    while (i < n) {
        bool mark = space_mark_at(s, i, n);
        if (mark && !prev_mark && !v->joins_space[(uint8_t)s[i - 1]]) {
            return i;
        }
        prev_mark = mark;
        i += utf8_lead_len((uint8_t)s[i]);
    }
    return n;
}

int tok_spm(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                 bool space_prefix, struct tok_list *out)
{
    size_t max = 3 * (len + 1);
    if (tok_work_reserve(w, max, max) != 0) {
        return -1;
    }
    size_t n_bytes = escape_spaces(text, len, space_prefix, w->buf);
    for (size_t start = 0; start < n_bytes;) {
        size_t end = word_end(v, w->buf, start, n_bytes);
        if (merge_run(v, w, w->buf + start, end - start, out) != 0) {
            return -1;
        }
        start = end;
    }
    return 0;
}
