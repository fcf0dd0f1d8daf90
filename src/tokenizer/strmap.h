/*
 * strmap.h - an open-addressing hash map from byte strings to int32 values,
 * used for the tokenizer's piece -> id and merge -> rank look-ups. Keys are
 * not copied: they must outlive the map.
 */
#ifndef CLLM_TOKENIZER_STRMAP_H
#define CLLM_TOKENIZER_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    const char *key; /* NULL: empty slot */
    uint32_t len;
    uint32_t hash;
    int32_t value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap; /* a power of two */
    size_t n;
};

uint32_t strmap_hash(const char *s, size_t len);

/* Prepare a map for about n_expected keys. Returns 0, or -1 on allocation failure. */
int strmap_init(struct strmap *m, size_t n_expected);
void strmap_free(struct strmap *m);

/* Insert key -> value. When the key is present its value is replaced if
 * overwrite, kept otherwise. Returns 0, or -1 on allocation failure. */
int strmap_put(struct strmap *m, const char *key, size_t len, int32_t value, bool overwrite);

/* The value of key, or -1 when absent. */
int32_t strmap_get(const struct strmap *m, const char *key, size_t len);

#endif
