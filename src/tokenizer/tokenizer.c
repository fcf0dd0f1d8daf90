/*
 * tokenizer.c - the public tokenize entry points: partition on special
 * tokens, then the model's tokenizer over each raw fragment, with BOS/EOS as
 * the vocabulary asks; plus the shared helpers (id lists, merge heap,
 * scratch buffers, lenient UTF-8 decoding).
 */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "base/vec.h"

/* ---- id lists ---- */

int tok_list_push(struct tok_list *l, int32_t id)
{
    if (vec_reserve((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v) != 0) {
        return -1;
    }
    l->v[l->n++] = id;
    return 0;
}

void tok_list_free(struct tok_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* ---- merge heap: a binary max-heap on (prio, then smaller left) ---- */

static bool before(const struct tok_bigram *a, const struct tok_bigram *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

int tok_heap_push(struct tok_heap *h, struct tok_bigram b)
{
    if (vec_reserve((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v) != 0) {
        return -1;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &h->v[parent])) {
            break;
        }
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = b;
    return 0;
}

int32_t tok_split_chars(struct tok_work *w, const char *text, size_t len)
{
    int32_t n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t cl = utf8_lead_len((uint8_t)text[off]);
        if (cl > len - off)
            cl = len - off;
        w->sym[n] = (struct tok_symbol){ text + off, (uint32_t)cl, n - 1, -1 };
        off += cl;
        if (off < len)
            w->sym[n].next = n + 1;
    }
    return n;
}

int tok_merge_all(const struct vocab *v, struct tok_work *w, tok_bigram_fn add)
{
    while (w->heap.n > 0) {
        struct tok_bigram b = tok_heap_pop(&w->heap);
        struct tok_symbol *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = b.left;
        if (add(v, w, l->prev, b.left) != 0 || add(v, w, b.left, l->next) != 0)
            return -1;
    }
    return 0;
}

int tok_merge_text(const struct vocab *v, struct tok_work *w, const char *text, size_t len,
                   tok_bigram_fn add, tok_emit_fn emit, struct tok_list *out)
{
    int32_t n_sym = tok_split_chars(w, text, len);
    w->heap.n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if (add(v, w, i - 1, i) != 0)
            return -1;
    if (tok_merge_all(v, w, add) != 0)
        return -1;
    for (int32_t i = 0; i != -1; i = w->sym[i].next)
        if (emit(v, &w->sym[i], out) != 0)
            return -1;
    return 0;
}

struct tok_bigram tok_heap_pop(struct tok_heap *h)
{
    struct tok_bigram top = h->v[0];
    struct tok_bigram last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) {
            break;
        }
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) {
            c++;
        }
        if (!before(&h->v[c], &last)) {
            break;
        }
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0) {
        h->v[i] = last;
    }
    return top;
}

/* ---- scratch ---- */

int tok_work_reserve(struct tok_work *w, size_t n_sym, size_t n_buf)
{
    if (n_sym > w->sym_cap) {
        size_t cap = n_sym < 256 ? 256 : n_sym;
        struct tok_symbol *p = realloc(w->sym, cap * sizeof(*p));
        if (!p) {
            return -1;
        }
        w->sym = p;
        w->sym_cap = cap;
    }
    if (n_buf > w->buf_cap) {
        size_t cap = n_buf < 1024 ? 1024 : n_buf;
        char *p = realloc(w->buf, cap);
        if (!p) {
            return -1;
        }
        w->buf = p;
        w->buf_cap = cap;
    }
    return 0;
}

void tok_work_free(struct tok_work *w)
{
    free(w->sym);
    free(w->heap.v);
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

/* ---- tokenize ---- */

static int push_if(struct tok_list *out, bool cond, int32_t id)
{
    return (cond && id != TOKEN_NULL) ? tok_list_push(out, id) : 0;
}

static int run_fragments(const struct vocab *v, struct tok_work *w, const char *text,
                         const struct fragment_list *frags, struct tok_list *out)
{
    bool prev_special = true; /* SPM: a space prefix for the first raw fragment */
    for (size_t i = 0; i < frags->n; i++) {
        const struct fragment *f = &frags->v[i];
        int rc = 0;
        if (f->token != TOKEN_NULL) {
            rc = tok_list_push(out, f->token);
            prev_special = true;
        } else if (v->type == VOCAB_SPM) {
            rc = tok_spm(v, w, text + f->off, f->len, v->add_space_prefix && prev_special, out);
            prev_special = false;
        } else if (v->type == VOCAB_BPE) {
            rc = tok_bpe(v, w, text + f->off, f->len, out);
        } else {
            rc = tok_wpm(v, w, text + f->off, f->len, out);
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

int tokenize_list(const struct vocab *v, const char *text, size_t len, bool add_special,
                  bool parse_special, struct tok_list *out)
{
    if (!v || v->type == VOCAB_NONE || (!text && len) || len > UINT32_MAX) {
        return -1;
    }
    struct fragment_list frags = {0};
    struct tok_work w = {0};
    int rc = -1;
    if (len > 0 && tok_special_partition(v, text, len, parse_special, &frags) != 0) {
        goto done;
    }
    bool bos = add_special && (v->type == VOCAB_WPM || v->add_bos);
    if (push_if(out, bos, v->bos) != 0 || run_fragments(v, &w, text, &frags, out) != 0) {
        goto done;
    }
    if (v->type == VOCAB_WPM) {
        rc = push_if(out, add_special, v->sep);
    } else {
        rc = push_if(out, add_special && v->add_eos, v->eos);
    }
done:
    free(frags.v);
    tok_work_free(&w);
    return rc;
}

int64_t tokenize(const struct vocab *v, const char *text, size_t len, bool add_special,
                 bool parse_special, int32_t *out, size_t max_out)
{
    struct tok_list l = {0};
    if (tokenize_list(v, text, len, add_special, parse_special, &l) != 0) {
        tok_list_free(&l);
        return -1;
    }
    size_t n = l.n < max_out ? l.n : max_out;
    if (n) {
        memcpy(out, l.v, n * sizeof(*out));
    }
    int64_t total = (int64_t)l.n;
    tok_list_free(&l);
    return total;
}
