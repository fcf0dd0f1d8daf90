/*
 * chat_internal.h - what chat_template.c and chat_builtin.c share.
 */
#ifndef CLLM_CHAT_INTERNAL_H
#define CLLM_CHAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/sbuf.h"

/* One message with its content already a string. */
struct chat_msg {
    const char *role;
    const char *content;
    size_t content_len;
};

struct builtin_ctx {
    const char *bos, *eos;
    bool add_generation_prompt;
    int64_t now;
    char *err;
    size_t err_size;
};

/* Formats messages into out; false with ctx->err set when the template
 * refuses the conversation (as the model's Jinja template would raise). */
typedef bool (*builtin_fn)(struct sbuf *out, const struct chat_msg *m, size_t n,
                           const struct builtin_ctx *c);

struct builtin_template {
    const char *name;
    builtin_fn fn;
};

const struct builtin_template *chat_builtin_find(const char *name);
const char *const *chat_builtin_names(size_t *n);

#endif
