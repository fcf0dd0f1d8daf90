/*
 * chat_tools.c - tools and thoughts of a chat request (see chat_tools.h).
 */
#include "server/chat_tools.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "chat/tool_call.h"
#include "server/chat.h"
#include "server/server_internal.h"
#include "server/server_params.h"

static bool calls_wanted(const struct completion_req *r)
{
    return r->tools && r->tool_choice != REQ_TOOLS_NONE;
}

static bool calls_required(const struct completion_req *r)
{
    return r->tool_choice == REQ_TOOLS_REQUIRED || r->tool_choice == REQ_TOOLS_NAMED;
}

/* Whether the messages hold tool calls or tool results. */
static bool has_tool_history(const json_t *msgs)
{
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (json_array_size(json_object_get(m, "tool_calls")) > 0 || (role && strcmp(role, "tool") == 0))
            return true;
    }
    return false;
}

/* A template with its own tool format: the history's call arguments as
 * objects where it wants them; FireFunction's tools as the JSON text its
 * template reads (functions). */
static json_t *native_body(const struct server *s, const json_t *body, const struct completion_req *r)
{
    const json_t *msgs = json_object_get(body, "messages");
    bool fire = s->tool_format == CHAT_TOOL_FIREFUNCTION_V2 && r->tools;
    if (!fire && !(s->object_arguments && has_tool_history(msgs)))
        return json_incref((json_t *)body);
    json_t *copy = json_deep_copy(body);
    size_t i, k;
    json_t *m, *call;
    json_array_foreach(json_object_get(copy, "messages"), i, m) {
        json_array_foreach(json_object_get(m, "tool_calls"), k, call) {
            json_t *fn = json_object_get(call, "function");
            const char *a = json_string_value(json_object_get(fn, "arguments"));
            json_t *obj = s->object_arguments && a ? json_loads(a, 0, NULL) : NULL;
            if (json_is_object(obj))
                json_object_set(fn, "arguments", obj);
            json_decref(obj);
        }
    }
    if (fire) {
        json_t *kw = json_object_get(copy, "chat_template_kwargs");
        if (!json_is_object(kw)) {
            kw = json_object();
            json_object_set_new(copy, "chat_template_kwargs", kw);
        }
        char *fns = json_dumps(r->tools, JSON_INDENT(2));
        if (fns && !json_object_get(kw, "functions"))
            json_object_set_new(kw, "functions", json_string(fns));
        free(fns);
    }
    return copy;
}

json_t *srv_tools_body(const struct server *s, const json_t *body, const struct completion_req *r, char *err,
                       size_t err_size)
{
    if (calls_required(r) && !r->tools) {
        err_set(err, err_size, "'tool_choice' %s needs 'tools'",
                r->tool_choice == REQ_TOOLS_NAMED ? "naming a function" : "\"required\"");
        return NULL;
    }
    const json_t *msgs = json_object_get(body, "messages");
    if (s->tool_format != CHAT_TOOL_GENERIC)
        return native_body(s, body, r);
    if (!calls_wanted(r) && !has_tool_history(msgs))
        return json_incref((json_t *)body);
    /* a template without tools: the tools, the answer's JSON format and the
     * earlier calls and results go into the messages themselves */
    json_t *copy = json_copy((json_t *)body);
    json_object_del(copy, "tools");
    json_t *out = chat_tool_generic_messages(msgs, calls_wanted(r) ? r->tools : NULL, calls_required(r), err, err_size);
    if (!out) {
        json_decref(copy);
        return NULL;
    }
    json_object_set_new(copy, "messages", out);
    return copy;
}

/* The text of an assistant message the answer continues (a prefill), or NULL. */
static const char *prefill(const json_t *body)
{
    const json_t *msgs = json_object_get(body, "messages");
    const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    if (!role || strcmp(role, "assistant") != 0)
        return NULL;
    return json_string_value(json_object_get(last, "content"));
}

/* The prompt ends inside an open thought (the template's generation prompt
 * opened it, as DeepSeek R1's and Qwen 3's do). */
static bool thought_open(const char *prompt, size_t n)
{
    while (n > 0 && (prompt[n - 1] == '\n' || prompt[n - 1] == ' '))
        n--;
    return n >= 7 && memcmp(prompt + n - 7, "<think>", 7) == 0;
}

int srv_tools_setup(const struct server *s, const json_t *body, struct completion_req *r, char *err,
                    size_t err_size)
{
    const char *rf = json_string_value(json_object_get(body, "reasoning_format"));
    bool reasoning = s->template_thinks && !s->p->reasoning_none && !(rf && strcmp(rf, "none") == 0);
    r->tool_format = s->tool_format;
    r->parse_flags = 0;
    if (reasoning)
        r->parse_flags |= CHAT_TOOL_PARSE_REASONING;
    const char *pre = prefill(body);
    if (reasoning && r->chat_prompt) { /* the prompt before a prefill ends inside a thought? */
        size_t n = strlen(r->chat_prompt), np = pre ? strlen(pre) : 0;
        if (np <= n && np > 0 && memcmp(r->chat_prompt + n - np, pre, np) == 0)
            n -= np;
        if (thought_open(r->chat_prompt, n))
            r->parse_flags |= CHAT_TOOL_PARSE_THINK_OPEN;
    }
    if (r->parse_flags && pre && !(r->grammar_prefix = strdup(pre)))
        return err_set(err, err_size, "out of memory");
    if (!calls_wanted(r)) {
        if (s->p->skip_chat_parsing)
            r->parse_flags = 0;
        return 0;
    }
    r->parse_flags |= CHAT_TOOL_PARSE_CALLS;
    if (s->p->skip_chat_parsing) /* --skip-chat-parsing: constrained, but all of it is content */
        r->parse_flags = 0;
    struct chat_tool_grammar g;
    bool required = calls_required(r);
    if (chat_tool_grammar_build(s->tool_format, r->tools, r->tool_choice == REQ_TOOLS_NAMED ? r->tool_name : NULL,
                                required, r->parallel_tool_calls, &g, err, err_size) != 0)
        return -1;
    int rc = request_set_tool_grammar(r, g.gbnf, g.lazy ? g.triggers : NULL, g.lazy ? g.n_triggers : 0,
                                      prefill(body), err, err_size);
    chat_tool_grammar_free(&g);
    return rc;
}

int srv_chat_prompt(struct server *s, const json_t *b, struct completion_req *r, const struct request_ctx *c,
                    char *err, size_t n)
{
    if (srv_chat_check(s, b, err, n) != 0)
        return -1;
    json_t *rb = srv_tools_body(s, b, r, err, n);
    char *prompt = rb ? srv_chat_format(s, rb, true, err, n) : NULL;
    json_decref(rb);
    if (prompt && s->p->reasoning_off && thought_open(prompt, strlen(prompt))) {
        /* --reasoning-budget 0: a thought the generation prompt opened ends at once */
        size_t len = strlen(prompt);
        char *closed = realloc(prompt, len + sizeof "</think>\n\n");
        if (!closed) {
            free(prompt);
            return err_set(err, n, "out of memory");
        }
        prompt = closed;
        memcpy(prompt + len, "</think>\n\n", sizeof "</think>\n\n");
    }
    if (!prompt || request_set_chat_prompt(r, c, prompt, err, n) != 0)
        return -1;
    return srv_tools_setup(s, b, r, err, n);
}
