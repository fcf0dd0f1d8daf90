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
#include "chat/chat_template.h"
#include "gguf/gguf.h"
#include "server/log.h"
#include "server/server_internal.h"

static const char *token_text(const struct vocab *v, int32_t id)
{
    return vocab_valid(v, id) ? v->tokens[id].text : "";
}

int chat_init(struct server *s, char *err, size_t err_size)
{
    const char *src = NULL;
    size_t len = 0;
    char *copy = NULL;
    if (s->p->chat_template_file) {
        char msg[512];
        if (!(copy = file_read(s->p->chat_template_file, 0, NULL, msg, sizeof msg)))
            return err_set(err, err_size, "--chat-template-file: %s", msg);
    } else if (gguf_get_str(s->model->gguf, "tokenizer.chat_template", &src, &len) == 0 && src) {
        copy = strndup(src, len);
    }
    if (s->p->jinja && !copy && !s->p->chat_template) {
        return err_set(err, err_size, "--jinja: the model has no chat template (tokenizer.chat_template)");
    }
    char msg[512];
    struct chat_template *t = chat_template_load(copy, s->p->chat_template, s->p->jinja,
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

void chat_free(struct server *s)
{
    chat_template_free(s->chat);
    s->chat = NULL;
}

const char *chat_name(const struct server *s)
{
    return s->chat ? chat_template_name(s->chat) : "";
}

char *chat_format(struct server *s, const json_t *body, bool add_generation_prompt, char *err, size_t err_size)
{
    const json_t *tools = json_object_get(body, "tools"), *kw = json_object_get(body, "chat_template_kwargs");
    struct chat_template_inputs in = {
        .messages = json_object_get(body, "messages"),
        .tools = json_is_array(tools) ? tools : NULL,
        .extra = json_is_object(kw) ? kw : NULL,
        .add_generation_prompt = add_generation_prompt,
    };
    return chat_template_apply_ex(s->chat, &in, err, err_size);
}
