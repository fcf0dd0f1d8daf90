/*
 * strmap.c - open-addressing (linear probing) hash map from byte strings to
 * int32 values. See strmap.h.
 */
#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, then a final mix so that low bits are well spread. */
uint32_t strmap_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

int strmap_init(struct strmap *m, size_t n_expected)
{
    size_t cap = 16;
    while (cap < n_expected * 2 + 1) {
        cap *= 2;
    }
    m->slots = calloc(cap, sizeof(*m->slots));
    m->cap = m->slots ? cap : 0;
    m->n = 0;
    return m->slots ? 0 : -1;
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static struct strmap_slot *find_slot(struct strmap_slot *slots, size_t cap, const char *key,
                                     size_t len, uint32_t hash)
{
    size_t i = hash & (cap - 1);
    for (;;) {
        struct strmap_slot *s = &slots[i];
        if (!s->key || (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)) {
            return s;
        }
        i = (i + 1) & (cap - 1);
    }
}

static int grow(struct strmap *m)
{
    size_t cap = m->cap * 2;
    struct strmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots) {
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        const struct strmap_slot *old = &m->slots[i];
        if (old->key) {
            *find_slot(slots, cap, old->key, old->len, old->hash) = *old;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, int32_t value, bool overwrite)
{
    if (!m->slots || len > UINT32_MAX) {
        return -1;
    }
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0) {
        return -1;
    }
    uint32_t hash = strmap_hash(key, len);
    struct strmap_slot *s = find_slot(m->slots, m->cap, key, len, hash);
    if (!s->key) {
        s->key = key ? key : "";
        s->len = (uint32_t)len;
        s->hash = hash;
        s->value = value;
        m->n++;
    } else if (overwrite) {
        s->value = value;
    }
    return 0;
}

int32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
    if (!m->slots || len > UINT32_MAX) {
        return -1;
    }
    const struct strmap_slot *s =
        find_slot(m->slots, m->cap, key, len, strmap_hash(key, len));
    return s->key ? s->value : -1;
}
