/*
 * chat_template.c - loading a chat template (built-in by name, the model's
 * Jinja template, or the built-in its Jinja template looks like), checking
 * and normalizing OpenAI messages, and applying the template.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/chat_template.h"
#include "chat/jinja.h"

struct chat_template {
    const struct builtin_template *builtin; /* NULL: Jinja */
    struct jinja_template *jinja;
    char *bos, *eos;
};

static void set_err(char *err, size_t err_size, const char *fmt, const char *a, const char *b)
{
    if (err && err_size)
        snprintf(err, err_size, fmt, a ? a : "", b ? b : "");
}

const char *const *chat_template_builtin_names(size_t *n)
{
    return chat_builtin_names(n);
}

static bool has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

const char *chat_template_detect(const char *src)
{
    if (src == NULL || *src == 0)
        return "chatml";
    if (has(src, "<|im_start|>")) {
        if (has(src, "<|im_sep|>"))
            return NULL; /* phi-4: no built-in */
        return has(src, "You are Qwen, created by Alibaba Cloud") ? "qwen2.5" : "chatml";
    }
    if (has(src, "<start_of_turn>"))
        return "gemma";
    if (has(src, "<|start_header_id|>")) {
        if (has(src, "Today Date: "))
            return has(src, "strftime_now") ? "llama3.2" : "llama3.1";
        return "llama3";
    }
    if (has(src, "<|START_OF_TURN_TOKEN|>"))
        return "command-r";
    if (has(src, "[SYSTEM_PROMPT]"))
        return has(src, "[SYSTEM_PROMPT] ") ? "mistral-v7" : "mistral-v7-tekken";
    if (has(src, "[AVAILABLE_TOOLS]") || has(src, "[TOOL_CALLS]"))
        return has(src, "[INST] ") ? "mistral-v3" : "mistral-v3-tekken";
    if (has(src, "[INST]")) {
        if (has(src, "<<SYS>>"))
            return "llama2";
        return "mistral-v1";
    }
    if (has(src, "<|user|>") && has(src, "<|end|>"))
        return "phi3";
    if (has(src, "<|user|>") && has(src, "eos_token"))
        return "zephyr";
    if (has(src, "USER: ") && has(src, "ASSISTANT:"))
        return has(src, "SYSTEM: ") ? "vicuna-orca" : "vicuna";
    if (has(src, "### Instruction:") && has(src, "<|EOT|>"))
        return "deepseek";
    if (has(src, "'User: '") && has(src, "'Assistant: '"))
        return "deepseek2";
    if (has(src, "<\xEF\xBD\x9CUser\xEF\xBD\x9C>"))
        return has(src, "<think>") ? "deepseek-r1" : "deepseek3";
    if (has(src, "GPT4 Correct "))
        return "openchat";
    if (has(src, "<|start_of_role|>"))
        return "granite";
    return NULL;
}

struct chat_template *chat_template_load(const char *src, const char *name, bool use_jinja,
                                         const char *bos_text, const char *eos_text, char *err,
                                         size_t err_size)
{
    struct chat_template *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        set_err(err, err_size, "out of memory", NULL, NULL);
        return NULL;
    }
    t->bos = strdup(bos_text ? bos_text : "");
    t->eos = strdup(eos_text ? eos_text : "");
    if (t->bos == NULL || t->eos == NULL) {
        set_err(err, err_size, "out of memory", NULL, NULL);
        chat_template_free(t);
        return NULL;
    }
    if (name && *name) {
        t->builtin = chat_builtin_find(name);
        if (t->builtin == NULL) {
            char list[1024] = "";
            size_t n;
            const char *const *names = chat_builtin_names(&n);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    strncat(list, ", ", sizeof(list) - strlen(list) - 1);
                strncat(list, names[i], sizeof(list) - strlen(list) - 1);
            }
            set_err(err, err_size, "unknown chat template '%s' (built-in templates: %s)", name, list);
            chat_template_free(t);
            return NULL;
        }
        return t;
    }
    if (use_jinja && src && *src) {
        char msg[512];
        t->jinja = jinja_compile(src, strlen(src), msg, sizeof(msg));
        if (t->jinja == NULL) {
            set_err(err, err_size, "chat template: %s", msg, NULL);
            chat_template_free(t);
            return NULL;
        }
        return t;
    }
    const char *det = chat_template_detect(src);
    t->builtin = chat_builtin_find(det ? det : "chatml");
    return t;
}

void chat_template_free(struct chat_template *t)
{
    if (t == NULL)
        return;
    jinja_free(t->jinja);
    free(t->bos);
    free(t->eos);
    free(t);
}

const char *chat_template_name(const struct chat_template *t)
{
    return t->builtin ? t->builtin->name : "jinja";
}

/* A copy of messages with each content a string (or null); NULL on error. */
static json_t *normalize_messages(const json_t *messages, char *err, size_t err_size)
{
    if (!json_is_array(messages)) {
        set_err(err, err_size, "messages must be an array", NULL, NULL);
        return NULL;
    }
    json_t *out = json_array();
    if (out == NULL) {
        set_err(err, err_size, "out of memory", NULL, NULL);
        return NULL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        char idx[32];
        snprintf(idx, sizeof(idx), "%zu", i);
        if (!json_is_object(m)) {
            set_err(err, err_size, "messages[%s] must be an object", idx, NULL);
            goto fail;
        }
        json_t *role = json_object_get(m, "role");
        if (!json_is_string(role)) {
            set_err(err, err_size, "messages[%s] has no string 'role'", idx, NULL);
            goto fail;
        }
        json_t *copy = json_copy(m);
        if (copy == NULL || json_array_append_new(out, copy) != 0) {
            set_err(err, err_size, "out of memory", NULL, NULL);
            goto fail;
        }
        json_t *content = json_object_get(m, "content");
        if (content == NULL || json_is_null(content) || json_is_string(content))
            continue;
        if (!json_is_array(content)) {
            set_err(err, err_size, "messages[%s].content must be a string or an array of parts",
                    idx, NULL);
            goto fail;
        }
        /* content parts: the texts joined with "\n" */
        size_t total = 0, j;
        json_t *part;
        json_array_foreach(content, j, part) {
            json_t *type = json_object_get(part, "type");
            if (!json_is_object(part) || !json_is_string(type)) {
                set_err(err, err_size, "messages[%s].content has a part without a 'type'", idx, NULL);
                goto fail;
            }
            if (strcmp(json_string_value(type), "text") != 0) {
                set_err(err, err_size, "messages[%s].content: unsupported content part type '%s'",
                        idx, json_string_value(type));
                goto fail;
            }
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text)) {
                set_err(err, err_size, "messages[%s].content: a text part has no string 'text'",
                        idx, NULL);
                goto fail;
            }
            total += json_string_length(text) + 1;
        }
        char *joined = malloc(total + 1);
        if (joined == NULL) {
            set_err(err, err_size, "out of memory", NULL, NULL);
            goto fail;
        }
        size_t o = 0;
        json_array_foreach(content, j, part) {
            json_t *text = json_object_get(part, "text");
            if (o)
                joined[o++] = '\n';
            memcpy(joined + o, json_string_value(text), json_string_length(text));
            o += json_string_length(text);
        }
        json_t *s = json_stringn_nocheck(joined, o);
        free(joined);
        if (s == NULL || json_object_set_new(copy, "content", s) != 0) {
            set_err(err, err_size, "out of memory", NULL, NULL);
            goto fail;
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static char *apply_builtin(const struct chat_template *t, const json_t *msgs,
                           const struct chat_template_inputs *in, char *err, size_t err_size)
{
    size_t n = json_array_size(msgs);
    struct chat_msg *m = calloc(n ? n : 1, sizeof(*m));
    if (m == NULL) {
        set_err(err, err_size, "out of memory", NULL, NULL);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(msgs, i);
        json_t *content = json_object_get(msg, "content");
        m[i].role = json_string_value(json_object_get(msg, "role"));
        m[i].content = json_is_string(content) ? json_string_value(content) : "";
        m[i].content_len = json_is_string(content) ? json_string_length(content) : 0;
    }
    char dummy[8];
    struct builtin_ctx c = {.bos = t->bos, .eos = t->eos,
                            .add_generation_prompt = in->add_generation_prompt, .now = in->now,
                            .err = err && err_size ? err : dummy,
                            .err_size = err && err_size ? err_size : sizeof(dummy)};
    struct sbuf b = SBUF_INIT;
    bool ok = t->builtin->fn(&b, m, n, &c);
    free(m);
    if (!ok) {
        sbuf_free(&b);
        return NULL;
    }
    char *out = sbuf_take(&b, NULL);
    if (out == NULL)
        set_err(err, err_size, "out of memory", NULL, NULL);
    return out;
}

static char *apply_jinja(const struct chat_template *t, json_t *msgs,
                         const struct chat_template_inputs *in, char *err, size_t err_size)
{
    json_t *vars = json_object();
    if (vars == NULL) {
        set_err(err, err_size, "out of memory", NULL, NULL);
        return NULL;
    }
    /* what transformers' apply_chat_template passes */
    json_object_set(vars, "messages", msgs);
    json_object_set_new(vars, "tools", in->tools ? json_deep_copy(in->tools) : json_null());
    json_object_set_new(vars, "documents", json_null());
    json_object_set_new(vars, "add_generation_prompt", json_boolean(in->add_generation_prompt));
    json_object_set_new(vars, "bos_token", json_string(t->bos));
    json_object_set_new(vars, "eos_token", json_string(t->eos));
    if (in->extra && json_is_object(in->extra)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)in->extra, k, v) {
            if (strcmp(k, "messages") != 0)
                json_object_set(vars, k, v);
        }
    }
    struct jinja_limits lim;
    jinja_default_limits(&lim);
    lim.max_steps += 10000 * (uint64_t)json_array_size(msgs);
    char msg[1024];
    char *out = jinja_render(t->jinja, vars, in->now, &lim, NULL, msg, sizeof(msg));
    json_decref(vars);
    if (out == NULL)
        set_err(err, err_size, "%s", msg, NULL);
    return out;
}

char *chat_template_apply_ex(const struct chat_template *t, const struct chat_template_inputs *in,
                             char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = 0;
    json_t *msgs = normalize_messages(in->messages, err, err_size);
    if (msgs == NULL)
        return NULL;
    char *out = t->builtin ? apply_builtin(t, msgs, in, err, err_size)
                           : apply_jinja(t, msgs, in, err, err_size);
    json_decref(msgs);
    return out;
}

char *chat_template_apply(const struct chat_template *t, const json_t *messages,
                          bool add_generation_prompt, char *err, size_t err_size)
{
    struct chat_template_inputs in = {.messages = messages,
                                      .add_generation_prompt = add_generation_prompt};
    return chat_template_apply_ex(t, &in, err, err_size);
}
