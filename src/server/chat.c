/*
 * chat.c - the server's chat template (see chat.h): picked once at start-up
 * from --chat-template, --jinja and the model's tokenizer.chat_template, then
 * applied to each request's messages (src/chat/ does the formatting), after
 * llama-server's checks of the messages (oaicompat_chat_params_parse) and
 * with its extra template variables (datetime, date_string).
 */
#include "server/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/file.h"
#include "base/sbuf.h"
#include "chat/chat_template.h"
#include "chat/tool_call.h"
#include "gguf/gguf.h"
#include "server/log.h"
#include "server/server_internal.h"

/* What s->chat points to (chat.c's own). */
struct srv_chat {
    struct chat_template *t;
    char *src; /* the Jinja text the template came from (NULL: a built-in by name) */
};

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
    /* the tool-call format: from the Jinja text the server runs (a built-in
     * template teaches none: the generic format) */
    const char *jsrc = t && copy && strcmp(chat_template_name(t), "jinja") == 0 ? copy : NULL;
    s->tool_format = chat_tool_format_detect(jsrc);
    s->object_arguments = jsrc && chat_tool_object_arguments(jsrc);
    s->template_thinks = (jsrc && strstr(jsrc, "<think>")) || s->tool_format == CHAT_TOOL_DEEPSEEK_R1 ||
                         s->tool_format == CHAT_TOOL_COMMAND_R7B || s->tool_format == CHAT_TOOL_GPT_OSS;
    struct srv_chat *c = t ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        free(copy);
        chat_template_free(t);
        return t ? err_set(err, err_size, "out of memory") : err_set(err, err_size, "chat template: %s", msg);
    }
    c->t = t;
    c->src = copy;
    s->chat = c;
    log_info("chat template: %s", chat_template_name(t));
    return 0;
}

void srv_chat_free(struct server *s)
{
    struct srv_chat *c = s->chat;
    if (c) {
        chat_template_free(c->t);
        free(c->src);
        free(c);
    }
    s->chat = NULL;
}

static const struct chat_template *tmpl(const struct server *s)
{
    return s->chat ? ((const struct srv_chat *)s->chat)->t : NULL;
}

const char *srv_chat_name(const struct server *s)
{
    return tmpl(s) ? chat_template_name(tmpl(s)) : "";
}

json_t *srv_chat_caps(const struct server *s)
{
    const struct srv_chat *c = s->chat;
    const char *src = c && c->src && strcmp(chat_template_name(c->t), "jinja") == 0 ? c->src : "";
    bool tools = strstr(src, "tools") != NULL, calls = strstr(src, "tool_calls") != NULL;
    /* llama-server renders probe conversations to find these; here: what the
     * Jinja text refers to (a built-in: system role, string content only) */
    return json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "supports_object_arguments",
                     calls && strstr(src, "arguments") && strstr(src, "items()") != NULL,
                     "supports_parallel_tool_calls", calls && strstr(src, "for tool_call in") != NULL,
                     "supports_preserve_reasoning", strstr(src, "reasoning_content") != NULL,
                     "supports_reasoning_effort", strstr(src, "reasoning_effort") != NULL,
                     "supports_string_content", 1, "supports_system_role", 1, "supports_tool_calls", calls,
                     "supports_tools", tools, "supports_typed_content",
                     strstr(src, "content[") != NULL || strstr(src, "['type']") != NULL ||
                         strstr(src, ".type ==") != NULL);
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
    const json_t *calls = json_object_get(json_array_get(msgs, n - 1), "tool_calls");
    if (*cont && n > 0 && strcmp(role_of(msgs, n - 1), "assistant") == 0 && json_array_size(calls) > 0)
        return err_set(err, err_size, "Cannot continue an assistant message that contains tool calls.");
    *cont = *cont && n > 0;
    return 0;
}

/* llama-server's checks of each message before the template sees them
 * (oaicompat_chat_params_parse): content is required but for an assistant
 * message with tool calls. */
static int check_messages(const json_t *msgs, char *err, size_t err_size)
{
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        bool assistant = strcmp(role_of(msgs, i), "assistant") == 0;
        bool has_content = json_object_get(m, "content") != NULL;
        if (!assistant && !has_content)
            return err_set(err, err_size, "All non-assistant messages must contain 'content'");
        if (assistant && !has_content && !json_object_get(m, "tool_calls"))
            return err_set(err, err_size, "Assistant message must contain either 'content' or 'tool_calls'!");
    }
    return 0;
}

/* The template variables llama-server adds to every render
 * (common_chat_extra_context): today's date as "%b %d %Y" (datetime) and
 * "%d %b %Y" (date_string, which Llama 3.1's template reads), local time;
 * then --chat-template-kwargs, then the request's chat_template_kwargs. */
static json_t *template_vars(const struct server *s, const json_t *kw)
{
    char datetime[64], date[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    if (strftime(datetime, sizeof datetime, "%b %d %Y", &tm) == 0)
        datetime[0] = 0;
    if (strftime(date, sizeof date, "%d %b %Y", &tm) == 0)
        date[0] = 0;
    json_t *v = json_pack("{s:s,s:s}", "datetime", datetime, "date_string", date);
    if (v && json_is_object(s->p->chat_template_kwargs))
        json_object_update(v, s->p->chat_template_kwargs);
    if (v && json_is_object(kw))
        json_object_update(v, (json_t *)kw);
    return v;
}

int srv_chat_check(const struct server *s, const json_t *body, char *err, size_t err_size)
{
    const json_t *msgs = json_object_get(body, "messages");
    bool agp = true, cont = false;
    if (check_messages(msgs, err, err_size) != 0 || continuation(s, body, msgs, &agp, &cont, err, err_size) != 0)
        return -1;
    return 0;
}

char *srv_chat_format(struct server *s, const json_t *body, bool add_generation_prompt, char *err, size_t err_size)
{
    const json_t *msgs = json_object_get(body, "messages");
    bool cont = false;
    if (check_messages(msgs, err, err_size) != 0 ||
        continuation(s, body, msgs, &add_generation_prompt, &cont, err, err_size) != 0)
        return NULL;
    json_t *head = NULL; /* the messages before the continued one */
    if (cont) {
        head = json_array();
        for (size_t i = 0; i + 1 < json_array_size(msgs); i++)
            json_array_append(head, json_array_get(msgs, i));
        msgs = head;
        add_generation_prompt = true;
    }
    const json_t *tools = json_object_get(body, "tools");
    json_t *vars = template_vars(s, json_object_get(body, "chat_template_kwargs"));
    struct chat_template_inputs in = {
        .messages = msgs,
        .tools = json_is_array(tools) ? tools : NULL,
        .extra = vars,
        .add_generation_prompt = add_generation_prompt,
    };
    char *out = vars ? chat_template_apply_ex(tmpl(s), &in, err, err_size) : NULL;
    if (!vars)
        err_set(err, err_size, "out of memory");
    json_decref(vars);
    const json_t *all = json_object_get(body, "messages");
    if (out && cont && append_content(&out, json_array_get(all, json_array_size(all) - 1), err, err_size) != 0) {
        free(out);
        out = NULL;
    }
    json_decref(head);
    return out;
}
