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

/* A growable byte buffer for building pieces. */
struct bytes {
    char *p;
    size_t n, cap;
};

static int bytes_add(struct bytes *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) {
        memcpy(b->p + b->n, s, n);
    }
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int spm_piece(const struct vocab_token *t, struct bytes *out)
{
    const char *s = t->text, *end = t->text + t->len;
    while (s < end) {
        if (end - s >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) {
            if (bytes_add(out, " ", 1) != 0) {
                return -1;
            }
            s += 3;
        } else if (bytes_add(out, s++, 1) != 0) {
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
static int byte_piece(const struct vocab_token *t, struct bytes *out)
{
    int hi = t->len >= 5 ? hex_digit(t->text[3]) : -1;
    int lo = t->len >= 5 ? hex_digit(t->text[4]) : -1;
    char c = 0;
    if (hi >= 0) {
        c = (char)(lo >= 0 ? hi * 16 + lo : hi);
    }
    return bytes_add(out, &c, 1);
}

/* GPT-2 byte decoding; a code point outside the 256 is shown as llama.cpp shows it. */
static int bpe_piece(const struct vocab_token *t, struct bytes *out)
{
    for (size_t off = 0; off < t->len;) {
        size_t used;
        uint32_t cp = tok_utf8_decode_lenient(t->text + off, t->len - off, &used);
        off += used;
        int b = unicode_cp_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            if (bytes_add(out, &c, 1) != 0) {
                return -1;
            }
            continue;
        }
        char u8[4], hex[16];
        size_t k = utf8_encode(cp, u8);
        if (bytes_add(out, "[UNK_BYTE_0x", 12) != 0) {
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            snprintf(hex, sizeof(hex), "%02x", (uint8_t)u8[i]);
            if (bytes_add(out, hex, 2) != 0) {
                return -1;
            }
        }
        if (bytes_add(out, t->text, t->len) != 0 || bytes_add(out, "]", 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Append the piece of id to out. Returns 0, or -1 on allocation failure. */
static int piece_of(const struct vocab *v, int32_t id, bool special, struct bytes *out)
{
    const struct vocab_token *t = &v->tokens[id];
    const uint32_t attr_special = TOKEN_ATTR_UNKNOWN | TOKEN_ATTR_CONTROL;
    if (!special && (t->attr & attr_special)) {
        return 0;
    }
    if (t->attr & (attr_special | TOKEN_ATTR_USER_DEFINED)) {
        return bytes_add(out, t->text, t->len);
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
                          struct bytes *out)
{
    size_t start = out->n;
    if (piece_of(v, id, special, out) != 0) {
        return -1;
    }
    size_t skip = 0;
    while ((int)skip < lstrip && start + skip < out->n && out->p[start + skip] == ' ') {
        skip++;
    }
    if (skip) {
        memmove(out->p + start, out->p + start + skip, out->n - start - skip);
        out->n -= skip;
    }
    return 0;
}

int64_t token_to_piece(const struct vocab *v, int32_t id, char *buf, size_t size, int lstrip,
                       bool special)
{
    if (!v || !vocab_valid(v, id)) {
        return -1;
    }
    struct bytes b = {0};
    if (piece_stripped(v, id, special, lstrip, &b) != 0) {
        free(b.p);
        return -1;
    }
    if (b.n <= size && b.n) {
        memcpy(buf, b.p, b.n);
    }
    int64_t n = (int64_t)b.n;
    free(b.p);
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
    struct bytes b = {0};
    int64_t rc = -1;
    for (size_t i = 0; i < n; i++) {
        if (!vocab_valid(v, ids[i]) || piece_stripped(v, ids[i], unparse_special, lstrip, &b) != 0) {
            goto done;
        }
        lstrip = 0;
    }
    if (v->clean_spaces) {
        b.n = clean_spaces(b.p, b.n);
    }
    if (b.n <= size && b.n) {
        memcpy(buf, b.p, b.n);
    }
    rc = (int64_t)b.n;
done:
    free(b.p);
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
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
        if (c > 0xF4) {
            need = 1;
        }
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
    struct bytes b = {s->out, 0, s->out_cap};
    if (bytes_add(&b, s->held, s->n_held) != 0) {
        goto fail;
    }
    if (piece_stripped(s->v, id, s->special, s->strip_space ? 1 : 0, &b) != 0) {
        goto fail;
    }
    s->strip_space = false; /* only the first token, as detokenize does */
    s->out = b.p;
    s->out_cap = b.cap;
    s->n_held = incomplete_tail(b.p, b.n);
    memcpy(s->held, b.p + b.n - s->n_held, s->n_held);
    *len = b.n - s->n_held;
    b.p[*len] = '\0';
    return b.p;
fail:
    s->out = b.p;
    s->out_cap = b.cap;
    return NULL;
}

const char *detok_stream_flush(struct detok_stream *s, size_t *len)
{
    struct bytes b = {s->out, 0, s->out_cap};
    *len = 0;
    if (bytes_add(&b, s->held, s->n_held) != 0) {
        return NULL;
    }
    s->out = b.p;
    s->out_cap = b.cap;
    *len = s->n_held;
    s->n_held = 0;
    return b.p;
}

void detok_stream_free(struct detok_stream *s)
{
    free(s->out);
    memset(s, 0, sizeof(*s));
}
