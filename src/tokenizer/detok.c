/*
 * detok.c - token ids back to text: the piece of each token (U+2581 ->
 * space and <0xNN> bytes for SPM, GPT-2 byte decoding for BPE), llama.cpp's
 * leading-space and space-cleaning rules for whole texts, and a streaming
 * decoder that holds back incomplete UTF-8 characters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "base/unicode.h"
#include "base/sbuf.h"

/* A growable byte buffer for building pieces. */
static int spm_piece(const struct vocab_token *t, struct sbuf *out)
{
    const char *s = t->text, *end = t->text + t->len;
    while (s < end) {
        if (end - s >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) {
            if (sbuf_append(out, " ", 1) != 0) {
                return -1;
            }
            s += 3;
        } else if (sbuf_append(out, s++, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* <0xNN>: the byte; anything else that is marked BYTE gives byte 0 (strtol of junk). */
static int byte_piece(const struct vocab_token *t, struct sbuf *out)
{
    int hi = t->len >= 5 ? hex_digit(t->text[3]) : -1;
    int lo = t->len >= 5 ? hex_digit(t->text[4]) : -1;
    char c = 0;
    if (hi >= 0) {
        c = (char)(lo >= 0 ? hi * 16 + lo : hi);
    }
    return sbuf_append(out, &c, 1);
}

/* GPT-2 byte decoding; a code point outside the 256 is shown as llama.cpp shows it. */
static int bpe_piece(const struct vocab_token *t, struct sbuf *out)
{
    for (size_t off = 0; off < t->len;) {
        size_t used;
        uint32_t cp = utf8_decode_lenient(t->text + off, t->len - off, &used);
        off += used;
        int b = unicode_cp_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            if (sbuf_append(out, &c, 1) != 0) {
                return -1;
            }
            continue;
        }
        char u8[4], hex[16];
        size_t k = utf8_encode(cp, u8);
        if (sbuf_append(out, "[UNK_BYTE_0x", 12) != 0) {
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            snprintf(hex, sizeof(hex), "%02x", (uint8_t)u8[i]);
            if (sbuf_append(out, hex, 2) != 0) {
                return -1;
            }
        }
        if (sbuf_append(out, t->text, t->len) != 0 || sbuf_append(out, "]", 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Append the piece of id to out. Returns 0, or -1 on allocation failure. */
static int piece_of(const struct vocab *v, int32_t id, bool special, struct sbuf *out)
{
    const struct vocab_token *t = &v->tokens[id];
    const uint32_t attr_special = TOKEN_ATTR_UNKNOWN | TOKEN_ATTR_CONTROL;
    if (!special && (t->attr & attr_special)) {
        return 0;
    }
    if (t->attr & (attr_special | TOKEN_ATTR_USER_DEFINED)) {
        return sbuf_append(out, t->text, t->len);
    }
    if (v->type == VOCAB_BPE) {
        return (t->attr & TOKEN_ATTR_NORMAL) ? bpe_piece(t, out) : 0;
    }
    if (t->attr & TOKEN_ATTR_NORMAL) {
        return spm_piece(t, out);
    }
    if ((t->attr & TOKEN_ATTR_BYTE) && v->type == VOCAB_SPM) {
        return byte_piece(t, out);
    }
    return 0;
}

/* Append the piece, dropping up to lstrip leading spaces. */
static int piece_stripped(const struct vocab *v, int32_t id, bool special, int lstrip,
                          struct sbuf *out)
{
    size_t start = out->len;
    if (piece_of(v, id, special, out) != 0) {
        return -1;
    }
    size_t skip = 0;
    while ((int)skip < lstrip && start + skip < out->len && out->s[start + skip] == ' ') {
        skip++;
    }
    if (skip) {
        memmove(out->s + start, out->s + start + skip, out->len - start - skip);
        out->len -= skip;
    }
    return 0;
}

int64_t token_to_piece(const struct vocab *v, int32_t id, char *buf, size_t size, int lstrip,
                       bool special)
{
    if (!v || !vocab_valid(v, id)) {
        return -1;
    }
    struct sbuf b = {0};
    if (piece_stripped(v, id, special, lstrip, &b) != 0) {
        sbuf_free(&b);
        return -1;
    }
    if (b.len <= size && b.len) {
        memcpy(buf, b.s, b.len);
    }
    int64_t n = (int64_t)b.len;
    sbuf_free(&b);
    return n;
}

/* llama.cpp's clean-up of tokenization spaces, three passes: " ?" " !" " ."
 * " ," lose the space; " ' " becomes "'"; " 's" " 'm" " 're" " 've" lose the
 * space. Works in place; returns the new length. */
static size_t clean_punct(char *t, size_t n)
{
    size_t m = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
            m--;
        }
        t[m++] = x;
    }
    return m;
}

static size_t clean_lone_apostrophe(char *t, size_t n)
{
    size_t m = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            m--;
            t[m++] = x;
            t[++i] = '\0'; /* drop the space after it (the NUL is seen by the next step) */
            continue;
        }
        t[m++] = x;
    }
    return m;
}

static size_t clean_contractions(char *t, size_t n)
{
    size_t m = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            char x2 = i + 2 < n ? t[i + 2] : 0;
            if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
                m--;
            }
        }
        t[m++] = x;
    }
    return m;
}

static size_t clean_spaces(char *t, size_t n)
{
    return clean_contractions(t, clean_lone_apostrophe(t, clean_punct(t, n)));
}

int64_t detokenize(const struct vocab *v, const int32_t *ids, size_t n, char *buf, size_t size,
                   bool remove_special, bool unparse_special)
{
    if (!v || v->type == VOCAB_NONE) {
        return v ? 0 : -1;
    }
    int lstrip = v->add_space_prefix ? 1 : 0;
    if (remove_special && v->add_bos && n > 0 && ids[0] == v->bos) {
        lstrip = 0;
        ids++, n--;
    }
    if (remove_special && v->add_eos && n > 0 && ids[n - 1] == v->eos) {
        n--;
    }
    struct sbuf b = {0};
    int64_t rc = -1;
    for (size_t i = 0; i < n; i++) {
        if (!vocab_valid(v, ids[i]) || piece_stripped(v, ids[i], unparse_special, lstrip, &b) != 0) {
            goto done;
        }
        lstrip = 0;
    }
    if (v->clean_spaces) {
        sbuf_truncate(&b, clean_spaces(b.s, b.len));
    }
    if (b.len <= size && b.len) {
        memcpy(buf, b.s, b.len);
    }
    rc = (int64_t)b.len;
done:
    sbuf_free(&b);
    return rc;
}

/* ---- streaming ---- */

void detok_stream_init(struct detok_stream *s, const struct vocab *v, bool special,
                       bool lstrip_first)
{
    memset(s, 0, sizeof(*s));
    s->v = v;
    s->special = special;
    s->strip_space = lstrip_first;
}

/* Bytes at the end of t[0..n) that start a UTF-8 character not yet complete. */
static size_t incomplete_tail(const char *t, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = (uint8_t)t[n - k];
        if ((c & 0xC0) == 0x80) {
            continue; /* a continuation byte: look further back */
        }
        size_t need = utf8_seq_len(c);
        return need > k ? k : 0;
    }
    return 0;
}

const char *detok_stream_push(struct detok_stream *s, int32_t id, size_t *len)
{
    *len = 0;
    if (!s->v || !vocab_valid(s->v, id)) {
        return NULL;
    }
    struct sbuf b = {.s = s->out, .cap = s->out_cap};
    if (sbuf_append(&b, s->held, s->n_held) != 0) {
        goto fail;
    }
    if (piece_stripped(s->v, id, s->special, s->strip_space ? 1 : 0, &b) != 0) {
        goto fail;
    }
    s->strip_space = false; /* only the first token, as detokenize does */
    s->out = b.s;
    s->out_cap = b.cap;
    s->n_held = incomplete_tail(b.s, b.len);
    memcpy(s->held, b.s + b.len - s->n_held, s->n_held);
    *len = b.len - s->n_held;
    b.s[*len] = '\0';
    return b.s;
fail:
    s->out = b.s;
    s->out_cap = b.cap;
    return NULL;
}

const char *detok_stream_flush(struct detok_stream *s, size_t *len)
{
    struct sbuf b = {.s = s->out, .cap = s->out_cap};
    *len = 0;
    if (sbuf_append(&b, s->held, s->n_held) != 0) {
        return NULL;
    }
    s->out = b.s;
    s->out_cap = b.cap;
    *len = s->n_held;
    s->n_held = 0;
    return b.s;
}

void detok_stream_free(struct detok_stream *s)
{
    free(s->out);
    memset(s, 0, sizeof(*s));
}
