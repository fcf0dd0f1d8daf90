/*
 * slot_text.c - generated text with stop strings and hold-back (see
 * slot_text.h).
 */
#define _GNU_SOURCE
#include "serve/slot_text.h"

#include <stdlib.h>
#include <string.h>

int slot_text_start(struct slot_text *t, const struct vocab *v, const char *const *stop, size_t n_stop)
{
    if (t->ds_live)
        detok_stream_free(&t->ds);
    detok_stream_init(&t->ds, v, false, false);
    t->ds_live = true;
    t->v = v;
    t->len = t->n_sent = 0;
    t->stop = stop;
    t->n_stop = n_stop;
    t->stopped_eos = t->stopped_limit = t->stopped_word = false;
    t->stopping_word = NULL;
    if (!t->buf) {
        t->cap = 256;
        t->buf = malloc(t->cap);
        if (!t->buf)
            return -1;
    }
    t->buf[0] = '\0';
    return 0;
}

static int append(struct slot_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap * 2;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (!nb)
            return -1;
        t->buf = nb;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return 0;
}

size_t stop_partial_len(const char *text, size_t len, const char *const *stop, size_t n_stop)
{
    size_t best = 0;
    for (size_t i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        for (size_t k = sl > 0 ? sl - 1 : 0; k > best; k--) {
            if (k <= len && memcmp(text + len - k, stop[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

/* Find the earliest stop string that ends in the text added since `from`;
 * cut the text there. */
static void find_stop(struct slot_text *t, size_t from)
{
    size_t cut = t->len + 1;
    for (size_t i = 0; i < t->n_stop; i++) {
        size_t sl = strlen(t->stop[i]);
        if (sl == 0 || sl > t->len)
            continue;
        size_t start = from >= sl - 1 ? from - (sl - 1) : 0;
        const char *p = memmem(t->buf + start, t->len - start, t->stop[i], sl);
        if (p && (size_t)(p - t->buf) < cut) {
            cut = (size_t)(p - t->buf);
            t->stopping_word = t->stop[i];
        }
    }
    if (cut <= t->len) {
        t->len = cut < t->n_sent ? t->n_sent : cut;
        t->buf[t->len] = '\0';
        t->stopped_word = true;
    }
}

const char *slot_text_push(struct slot_text *t, int32_t token, size_t *len)
{
    size_t sent = t->n_sent;
    *len = 0;
    if (vocab_is_eog(t->v, token)) {
        t->stopped_eos = true;
        return t->buf + sent;
    }
    size_t n;
    const char *piece = detok_stream_push(&t->ds, token, &n);
    if (!piece || append(t, piece, n) != 0)
        return NULL;
    find_stop(t, t->len - n);
    size_t hold = t->stopped_word ? 0 : stop_partial_len(t->buf, t->len, t->stop, t->n_stop);
    size_t end = t->len - hold;
    if (end > sent) {
        t->n_sent = end;
        *len = end - sent;
    }
    return t->buf + sent;
}

const char *slot_text_finish(struct slot_text *t, size_t *len)
{
    size_t sent = t->n_sent;
    if (!t->stopped_word && t->ds_live) {
        size_t n;
        const char *rest = detok_stream_flush(&t->ds, &n);
        if (rest && n)
            append(t, rest, n);
    }
    t->n_sent = t->len;
    *len = t->len - sent;
    return t->buf ? t->buf + sent : "";
}

void slot_text_free(struct slot_text *t)
{
    if (t->ds_live)
        detok_stream_free(&t->ds);
    t->ds_live = false;
    free(t->buf);
    t->buf = NULL;
    t->cap = t->len = t->n_sent = 0;
}
