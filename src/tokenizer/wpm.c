/*
 * wpm.c - WordPiece ("bert" vocabularies): code points are mapped to the
 * first code point of their canonical decomposition, lowercased; controls
 * and combining marks are dropped (together: accents are stripped); words split on whitespace, and punctuation,
 * ASCII symbols and CJK ideographs stand alone. Each word, with a U+2581
 * prefix, is covered greedily by the longest matching tokens (continuation
 * pieces are stored without "##" in GGUF); a word that cannot be covered
 * becomes the unknown token.
 */
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "base/unicode.h"

static bool is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Greedy longest-match of "\u2581" + word; appends the unknown token if any
 * position cannot be matched. */
static int wordpiece(const struct vocab *v, const char *word, size_t len, struct tok_list *out)
{
    if (len == 0) {
        return 0;
    }
    size_t start = out->n;
    size_t max_len = v->max_token_len;
    for (size_t i = 0; i < len;) {
        size_t hi = i + max_len + 1 < len ? i + max_len + 1 : len;
        int32_t id = TOKEN_NULL;
        size_t j;
        for (j = hi; j > i; j--) {
            id = vocab_find(v, word + i, j - i);
            if (id != TOKEN_NULL) {
                break;
            }
        }
        if (id == TOKEN_NULL) {
            out->n = start;
            break;
        }
        if (tok_list_push(out, id) != 0) {
            return -1;
        }
        i = j;
    }
    return out->n == start ? tok_list_push(out, v->unk) : 0;
}

static size_t append_cp(char *buf, size_t n, uint32_t cp)
{
    return n + utf8_encode(cp, buf + n);
}

int tok_wpm(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                 struct tok_list *out)
{
    /* a word holds at most 4 bytes per input byte plus the prefix */
    if (tok_work_reserve(w, 0, 4 * len + 8) != 0) {
        return -1;
    }
    char *word = w->buf;
    size_t n = 3;
    memcpy(word, "\xe2\x96\x81", 3);
    for (size_t off = 0; off < len;) {
        size_t used;
        uint32_t nfd[8];
        uint32_t cp = utf8_decode_lenient(text + off, len - off, &used);
        off += used;
        unicode_nfd(cp, nfd);
        cp = nfd[0];
        unsigned flags = unicode_flags(cp);
        if (flags & UCAT_WHITESPACE) {
            if (wordpiece(v, word, n == 3 ? 0 : n, out) != 0) {
                return -1;
            }
            n = 3;
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (flags & (UCAT_OTHER | UCAT_MARK))) {
            continue;
        }
        uint32_t lower = unicode_tolower(cp);
        if ((flags & UCAT_PUNCT) || (cp < 0x7F && (flags & UCAT_SYMBOL)) || is_cjk(cp)) {
            if (wordpiece(v, word, n == 3 ? 0 : n, out) != 0) {
                return -1;
            }
            n = append_cp(word, 3, lower);
            if (wordpiece(v, word, n, out) != 0) {
                return -1;
            }
            n = 3;
        } else {
            n = append_cp(word, n, lower);
        }
    }
    return wordpiece(v, word, n == 3 ? 0 : n, out);
}
