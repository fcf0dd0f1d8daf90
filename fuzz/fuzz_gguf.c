/*
 * fuzz_gguf.c - libFuzzer target: arbitrary bytes through the GGUF reader and
 * every accessor over what it accepts. Must never crash, leak or over-read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static void touch_metadata(const struct gguf_ctx *ctx)
{
    for (int64_t i = 0; i < gguf_n_kv(ctx); i++) {
        const char *key = gguf_kv_key(ctx, i);
        uint32_t u;
        float f;
        bool b;
        const char *s;
        size_t len;
        gguf_get_u32(ctx, key, &u);
        gguf_get_f32(ctx, key, &f);
        gguf_get_bool(ctx, key, &b);
        gguf_get_str(ctx, key, &s, &len);
        uint64_t n = gguf_arr_n(ctx, i);
        for (uint64_t j = 0; j < n && j < 64; j++) {
            int64_t v;
            gguf_arr_get_str(ctx, i, j, &s, &len);
            gguf_arr_get_i64(ctx, i, j, &v);
            gguf_arr_get_f32(ctx, i, j, &f);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy so that ASan catches any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    char err[256];
    struct gguf_ctx *ctx = gguf_open_memory(copy, size, "fuzz", err, sizeof(err));
    if (ctx != NULL) {
        touch_metadata(ctx);
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < gguf_n_tensors(ctx); i++) {
            const struct gguf_tensor *t = gguf_tensor(ctx, i);
            if (t->nbytes)
                sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
            gguf_find_tensor(ctx, t->name);
        }
        (void)sink;
        gguf_close(ctx);
    }
    free(copy);
    return 0;
}
