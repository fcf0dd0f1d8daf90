/*
 * special.c - splitting raw text on the texts of special tokens before the
 * model's tokenizer runs, with llama.cpp's semantics: tokens are taken
 * longest first, each claiming its leftmost non-overlapping occurrences in
 * the text not yet claimed; LSTRIP/RSTRIP tokens swallow adjacent
 * whitespace. A trie finds the matches at each position instead of one
 * search of the whole text per special token.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "base/vec.h"

/* ---- trie ---- */

static int32_t child_of(const struct vocab *v, int32_t node, uint8_t byte)
{
    if (node < 0) {
        return v->trie_root[byte];
    }
    for (int32_t c = v->trie[node].first_child; c >= 0; c = v->trie[c].next_sibling) {
        if (v->trie[c].byte == byte) {
            return c;
        }
    }
    return -1;
}

static int32_t add_child(struct vocab *v, int32_t node, uint8_t byte)
{
    int32_t id = (int32_t)v->n_trie++;
    struct special_node *n = &v->trie[id];
    n->byte = byte;
    n->first_child = -1;
    n->rank = -1;
    if (node < 0) {
        n->next_sibling = -1;
        v->trie_root[byte] = id;
    } else {
        n->next_sibling = v->trie[node].first_child;
        v->trie[node].first_child = id;
    }
    return id;
}

int tok_special_index_build(struct vocab *v)
{
    size_t total = 0;
    for (int b = 0; b < 256; b++) {
        v->trie_root[b] = -1;
    }
    for (size_t i = 0; i < v->n_special; i++) {
        total += v->tokens[v->special[i]].len;
    }
    v->trie = malloc((total ? total : 1) * sizeof(*v->trie));
    if (!v->trie) {
        return -1;
    }
    v->n_trie = 0;
    for (size_t i = 0; i < v->n_special; i++) {
        const struct vocab_token *t = &v->tokens[v->special[i]];
        int32_t node = -1;
        for (uint32_t k = 0; k < t->len; k++) {
            uint8_t byte = (uint8_t)t->text[k];
            int32_t c = child_of(v, node, byte);
            node = c >= 0 ? c : add_child(v, node, byte);
        }
        if (node >= 0 && v->trie[node].rank < 0) {
            v->trie[node].rank = (int32_t)i; /* the first in order wins a duplicate text */
        }
    }
    return 0;
}

/* ---- partition ----
 *
 * llama.cpp's order is: for each special token, longest first, its
 * occurrences left to right, each taken if none of its bytes is taken yet.
 * That is the order of all (rank, position) occurrences. Here a heap holds,
 * for each position, only its longest untried match; when a match fails,
 * the next shorter one at the same position goes back in (a k-way merge of
 * the per-position lists), and a position whose first byte is taken is
 * dropped with all its matches. Runs of repeated characters (gemma has
 * tokens for 2..31 spaces) stay linear instead of one entry per match.
 */

struct cand {
    uint32_t rank;
    uint32_t pos;
    uint32_t len;
};

struct cand_heap {
    struct cand *v;
    size_t n, cap;
};

static bool cand_before(const struct cand *a, const struct cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int cand_push(struct cand_heap *h, struct cand c)
{
    if (vec_reserve((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v) != 0) {
        return -1;
    }
    size_t i = h->n++;
    while (i > 0 && cand_before(&c, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
    return 0;
}

static struct cand cand_pop(struct cand_heap *h)
{
    struct cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (size_t c; (c = 2 * i + 1) < h->n; i = c) {
        if (c + 1 < h->n && cand_before(&h->v[c + 1], &h->v[c])) {
            c++;
        }
        if (!cand_before(&h->v[c], &last)) {
            break;
        }
        h->v[i] = h->v[c];
    }
    if (h->n > 0) {
        h->v[i] = last;
    }
    return top;
}

static bool enabled(const struct vocab *v, int32_t rank, bool parse_special)
{
    uint32_t attr = v->tokens[v->special[rank]].attr;
    return parse_special || !(attr & (TOKEN_ATTR_CONTROL | TOKEN_ATTR_UNKNOWN));
}

/* The longest enabled special token at text[p] not longer than max_len. */
static bool longest_match(const struct vocab *v, const char *text, size_t len, size_t p,
                          size_t max_len, bool parse_special, struct cand *out)
{
    bool found = false;
    int32_t node = v->trie_root[(uint8_t)text[p]];
    for (size_t depth = 1; node >= 0 && depth <= max_len; depth++) {
        int32_t rank = v->trie[node].rank;
        if (rank >= 0 && enabled(v, rank, parse_special)) {
            *out = (struct cand){(uint32_t)rank, (uint32_t)p, (uint32_t)depth};
            found = true;
        }
        if (p + depth >= len) {
            break;
        }
        node = child_of(v, node, (uint8_t)text[p + depth]);
    }
    return found;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

enum { RAW = 0, TAKEN = 1, START = 2 };

/* Mark a claimed token (START, then TAKEN) and the whitespace it strips. */
static void claim(const struct vocab *v, const char *text, size_t len, const struct cand *c,
                  uint8_t *marks, int32_t *token_at)
{
    int32_t id = v->special[c->rank];
    size_t p = c->pos, end = p + c->len;
    memset(marks + p, TAKEN, c->len);
    marks[p] = START;
    token_at[p] = id;
    if (v->tokens[id].attr & TOKEN_ATTR_LSTRIP) {
        for (size_t k = p; k > 0 && marks[k - 1] == RAW && is_space(text[k - 1]); k--) {
            marks[k - 1] = TAKEN;
        }
    }
    if (v->tokens[id].attr & TOKEN_ATTR_RSTRIP) {
        for (size_t k = end; k < len && marks[k] == RAW && is_space(text[k]); k++) {
            marks[k] = TAKEN;
        }
    }
}

static bool span_free(const uint8_t *marks, const struct cand *c)
{
    for (size_t k = c->pos; k < (size_t)c->pos + c->len; k++) {
        if (marks[k] != RAW) {
            return false;
        }
    }
    return true;
}

/* Seed the heap with each position's longest match; returns -1 on allocation failure. */
static int seed(const struct vocab *v, const char *text, size_t len, bool parse_special,
                struct cand_heap *h)
{
    for (size_t p = 0; p < len; p++) {
        struct cand c;
        if (v->trie_root[(uint8_t)text[p]] >= 0 &&
            longest_match(v, text, len, p, v->max_token_len, parse_special, &c) &&
            cand_push(h, c) != 0) {
            return -1;
        }
    }
    return 0;
}

static int claim_all(const struct vocab *v, const char *text, size_t len, bool parse_special,
                     struct cand_heap *h, uint8_t *marks, int32_t *token_at)
{
    while (h->n > 0) {
        struct cand c = cand_pop(h);
        if (marks[c.pos] != RAW) {
            continue; /* every match here starts on a taken byte */
        }
        if (span_free(marks, &c)) {
            claim(v, text, len, &c, marks, token_at);
        } else if (longest_match(v, text, len, c.pos, c.len - 1, parse_special, &c) &&
                   cand_push(h, c) != 0) {
            return -1;
        }
    }
    return 0;
}

static int frag_push(struct fragment_list *l, uint32_t off, uint32_t len, int32_t token)
{
    if (vec_reserve((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v) != 0) {
        return -1;
    }
    l->v[l->n++] = (struct fragment){off, len, token};
    return 0;
}

static int collect(const uint8_t *marks, const int32_t *token_at, size_t len,
                   struct fragment_list *out)
{
    size_t p = 0;
    while (p < len) {
        if (marks[p] == START) {
            if (frag_push(out, (uint32_t)p, 0, token_at[p]) != 0) {
                return -1;
            }
            p++;
        } else if (marks[p] == TAKEN) {
            p++;
        } else {
            size_t q = p;
            while (q < len && marks[q] == RAW) {
                q++;
            }
            if (frag_push(out, (uint32_t)p, (uint32_t)(q - p), TOKEN_NULL) != 0) {
                return -1;
            }
            p = q;
        }
    }
    return 0;
}

int tok_special_partition(const struct vocab *v, const char *text, size_t len, bool parse_special,
                      struct fragment_list *out)
{
    struct cand_heap h = {0};
    if (len > UINT32_MAX || seed(v, text, len, parse_special, &h) != 0) {
        free(h.v);
        return -1;
    }
    if (h.n == 0) {
        free(h.v);
        return frag_push(out, 0, (uint32_t)len, TOKEN_NULL);
    }
    uint8_t *marks = calloc(len, 1);
    int32_t *token_at = malloc(len * sizeof(*token_at));
    int rc = -1;
    if (marks && token_at && claim_all(v, text, len, parse_special, &h, marks, token_at) == 0) {
        rc = collect(marks, token_at, len, out);
    }
    free(marks);
    free(token_at);
    free(h.v);
    return rc;
}
