/*
 * chat.c - the server's chat template (see chat.h): picked once at start-up
 * from --chat-template, --jinja and the model's tokenizer.chat_template, then
 * applied to each request's messages (src/chat/ does the formatting).
 */
#include "server/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "base/sbuf.h"
#include "chat/chat_template.h"
#include "gguf/gguf.h"
#include "server/log.h"
#include "server/server_internal.h"

static const char *token_text(const struct vocab *v, int32_t id)
{
    return vocab_valid(v, id) ? v->tokens[id].text : "";
}

int srv_chat_init(struct server *s, char *err, size_t err_size)
{
    const char *src = NULL;
    size_t len = 0;
    char *copy = NULL;
    const char *name = s->p->chat_template;
    if (name && (strstr(name, "{%") || strstr(name, "{{"))) {
        /* --chat-template with Jinja text (llama-server takes either) */
        if (!(copy = strdup(name)))
            return err_set(err, err_size, "out of memory");
        name = NULL;
    } else if (s->p->chat_template_file) {
        char msg[512];
        if (!(copy = file_read(s->p->chat_template_file, 0, NULL, msg, sizeof msg)))
            return err_set(err, err_size, "--chat-template-file: %s", msg);
    } else if (gguf_get_str(s->model->gguf, "tokenizer.chat_template", &src, &len) == 0 && src) {
        copy = strndup(src, len);
    }
    if (s->p->jinja && !copy && !name) {
        /* llama-server: no template in the file -> ChatML */
        log_info("--jinja: the model has no chat template (tokenizer.chat_template); using chatml");
        name = "chatml";
    }
    char msg[512];
    struct chat_template *t = chat_template_load(copy, name, s->p->jinja,
                                                 token_text(s->vocab, s->vocab->bos),
                                                 token_text(s->vocab, s->vocab->eos), msg, sizeof msg);
    free(copy);
    if (!t) {
        return err_set(err, err_size, "chat template: %s", msg);
    }
    s->chat = t;
    log_info("chat template: %s", chat_template_name(t));
    return 0;
}

void srv_chat_free(struct server *s)
{
    chat_template_free(s->chat);
    s->chat = NULL;
}

const char *srv_chat_name(const struct server *s)
{
    return s->chat ? chat_template_name(s->chat) : "";
}

static const char *role_of(const json_t *msgs, size_t i)
{
    const char *r = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
    return r ? r : "";
}

/* A message's content as text: a string, or its text parts joined. */
static int append_content(char **out, const json_t *msg, char *err, size_t err_size)
{
    const json_t *c = json_object_get(msg, "content");
    struct sbuf b = SBUF_INIT;
    sbuf_puts(&b, *out);
    if (json_is_string(c)) {
        sbuf_append(&b, json_string_value(c), json_string_length(c));
    } else if (json_is_array(c)) {
        size_t i;
        const json_t *part;
        json_array_foreach(c, i, part) {
            const json_t *t = json_object_get(part, "text");
            if (json_is_string(t))
                sbuf_append(&b, json_string_value(t), json_string_length(t));
        }
    }
    char *s = sbuf_take(&b, NULL);
    if (!s)
        return err_set(err, err_size, "out of memory");
    free(*out);
    *out = s;
    return 0;
}

/* llama-server's add_generation_prompt, continue_final_message and
 * assistant prefill (oaicompat_chat_params_parse): *cont is set when the last
 * message is to be continued (rendered without it, with the generation
 * prompt, then its content appended). */
static int continuation(const struct server *s, const json_t *body, const json_t *msgs, bool *agp, bool *cont,
                        char *err, size_t err_size)
{
    const json_t *v = json_object_get(body, "add_generation_prompt");
    if (json_is_boolean(v))
        *agp = json_is_true(v);
    const json_t *cfm = json_object_get(body, "continue_final_message");
    const char *cs = json_string_value(cfm);
    *cont = json_is_true(cfm) || (cs && (strcmp(cs, "content") == 0 || strcmp(cs, "reasoning_content") == 0));
    size_t n = json_array_size(msgs);
    if (!*cont && !s->p->no_prefill_assistant && n > 0 && strcmp(role_of(msgs, n - 1), "assistant") == 0) {
        if (n >= 2 && strcmp(role_of(msgs, n - 2), "assistant") == 0)
            return err_set(err, err_size, "Cannot have 2 or more assistant messages at the end of the list.");
        *cont = true;
        *agp = false;
    }
    if (*cont && *agp)
        return err_set(err, err_size, "Cannot set both add_generation_prompt and continue_final_message to true.");
    *cont = *cont && n > 0;
    return 0;
}

char *srv_chat_format(struct server *s, const json_t *body, bool add_generation_prompt, char *err, size_t err_size)
{
    const json_t *msgs = json_object_get(body, "messages");
    bool cont = false;
    if (continuation(s, body, msgs, &add_generation_prompt, &cont, err, err_size) != 0)
        return NULL;
    json_t *head = NULL; /* the messages before the continued one */
    if (cont) {
        head = json_array();
        for (size_t i = 0; i + 1 < json_array_size(msgs); i++)
            json_array_append(head, json_array_get(msgs, i));
        msgs = head;
        add_generation_prompt = true;
    }
    const json_t *tools = json_object_get(body, "tools"), *kw = json_object_get(body, "chat_template_kwargs");
    json_t *merged = NULL;
    if (s->p->chat_template_kwargs) { /* --chat-template-kwargs: the defaults; the request's win */
        merged = json_deep_copy(s->p->chat_template_kwargs);
        if (json_is_object(kw))
            json_object_update(merged, (json_t *)kw);
        kw = merged;
    }
    struct chat_template_inputs in = {
        .messages = msgs,
        .tools = json_is_array(tools) ? tools : NULL,
        .extra = json_is_object(kw) ? kw : NULL,
        .add_generation_prompt = add_generation_prompt,
    };
    char *out = chat_template_apply_ex(s->chat, &in, err, err_size);
    json_decref(merged);
    const json_t *all = json_object_get(body, "messages");
    if (out && cont && append_content(&out, json_array_get(all, json_array_size(all) - 1), err, err_size) != 0) {
        free(out);
        out = NULL;
    }
    json_decref(head);
    return out;
}
