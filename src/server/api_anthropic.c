/*
 * api_anthropic.c - Anthropic Messages requests as OpenAI chat bodies, and
 * chat answers as Messages replies and events (see api_anthropic.h).
 */
#include "server/api_anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/sbuf.h"

/* ---- request ---- */

/* The text of a string or of an array of text blocks (joined by "\n"), as
 * a new JSON string; NULL with err when a block is not text. */
static json_t *blocks_text(const json_t *v, const char *what, char *err, size_t err_size)
{
    if (json_is_string(v))
        return json_copy((json_t *)v);
    if (!json_is_array(v)) {
        err_set(err, err_size, "%s must be a string or an array of content blocks", what);
        return NULL;
    }
    struct sbuf b = SBUF_INIT;
    size_t i;
    const json_t *blk;
    json_array_foreach(v, i, blk) {
        const char *type = json_string_value(json_object_get(blk, "type"));
        const json_t *text = json_object_get(blk, "text");
        if (!type || strcmp(type, "text") != 0 || !json_is_string(text)) {
            sbuf_free(&b);
            err_set(err, err_size, "%s[%zu]: only text blocks are supported here (got %s)", what, i,
                    type ? type : "a block without a type");
            return NULL;
        }
        if (i)
            sbuf_putc(&b, '\n');
        sbuf_append(&b, json_string_value(text), json_string_length(text));
    }
    size_t n;
    char *s = sbuf_take(&b, &n);
    json_t *r = s ? json_stringn(s, n) : json_string("");
    free(s);
    return r;
}

/* An assistant message's blocks: text, thinking and tool_use. */
static int assistant_message(json_t *msgs, const json_t *content, size_t idx, char *err, size_t err_size)
{
    json_t *m = json_pack("{s:s}", "role", "assistant");
    if (json_is_string(content)) {
        json_object_set(m, "content", (json_t *)content);
        json_array_append_new(msgs, m);
        return 0;
    }
    if (!json_is_array(content)) {
        json_decref(m);
        return err_set(err, err_size, "messages[%zu].content must be a string or an array of content blocks", idx);
    }
    struct sbuf text = SBUF_INIT, thought = SBUF_INIT;
    json_t *calls = json_array();
    size_t i;
    const json_t *blk;
    json_array_foreach(content, i, blk) {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(blk, "text"))) {
            sbuf_puts(&text, json_string_value(json_object_get(blk, "text")));
        } else if (type && strcmp(type, "thinking") == 0) {
            sbuf_puts(&thought, json_string_value(json_object_get(blk, "thinking")) ?: "");
        } else if (type && strcmp(type, "redacted_thinking") == 0) {
            continue;
        } else if (type && strcmp(type, "tool_use") == 0) {
            const char *id = json_string_value(json_object_get(blk, "id"));
            const char *name = json_string_value(json_object_get(blk, "name"));
            const json_t *input = json_object_get(blk, "input");
            if (!id || !name || !json_is_object(input)) {
                err_set(err, err_size, "messages[%zu].content[%zu]: tool_use needs id, name and an input object", idx, i);
                goto fail;
            }
            char *args = json_dumps(input, JSON_COMPACT);
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function",
                                                   "name", name, "arguments", args ? args : "{}"));
            free(args);
        } else {
            err_set(err, err_size, "messages[%zu].content[%zu]: an assistant message cannot hold a %s block", idx, i,
                    type ? type : "typeless");
            goto fail;
        }
    }
    json_object_set_new(m, "content", json_string(sbuf_str(&text)));
    if (thought.len)
        json_object_set_new(m, "reasoning_content", json_string(sbuf_str(&thought)));
    if (json_array_size(calls))
        json_object_set(m, "tool_calls", calls);
    json_decref(calls);
    sbuf_free(&text);
    sbuf_free(&thought);
    json_array_append_new(msgs, m);
    return 0;
fail:
    json_decref(calls);
    json_decref(m);
    sbuf_free(&text);
    sbuf_free(&thought);
    return -1;
}

/* A user message's blocks: text (joined into one user message) and
 * tool_result (each a role "tool" message, in order). */
static int user_message(json_t *msgs, const json_t *content, size_t idx, char *err, size_t err_size)
{
    if (json_is_string(content)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", content));
        return 0;
    }
    if (!json_is_array(content))
        return err_set(err, err_size, "messages[%zu].content must be a string or an array of content blocks", idx);
    struct sbuf text = SBUF_INIT;
    bool any_text = false;
    size_t i;
    const json_t *blk;
    json_array_foreach(content, i, blk) {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(blk, "text"))) {
            if (any_text)
                sbuf_putc(&text, '\n');
            sbuf_puts(&text, json_string_value(json_object_get(blk, "text")));
            any_text = true;
        } else if (type && strcmp(type, "tool_result") == 0) {
            const char *id = json_string_value(json_object_get(blk, "tool_use_id"));
            const json_t *c = json_object_get(blk, "content");
            char what[96];
            snprintf(what, sizeof what, "messages[%zu].content[%zu].content", idx, i);
            json_t *t = c ? blocks_text(c, what, err, err_size) : json_string("");
            if (!id || !t) {
                json_decref(t);
                sbuf_free(&text);
                return id ? -1 : err_set(err, err_size, "messages[%zu].content[%zu]: tool_result needs tool_use_id", idx, i);
            }
            json_array_append_new(msgs, json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id", id, "content", t));
        } else {
            sbuf_free(&text);
            return err_set(err, err_size, "messages[%zu].content[%zu]: %s blocks are not supported", idx, i,
                           type ? type : "typeless");
        }
    }
    if (any_text)
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", sbuf_str(&text)));
    sbuf_free(&text);
    return 0;
}

static int convert_tools(json_t *chat, const json_t *tools, char *err, size_t err_size)
{
    if (!json_is_array(tools))
        return err_set(err, err_size, "tools must be an array");
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        const json_t *schema = json_object_get(t, "input_schema");
        if (!name || !json_is_object(schema)) {
            json_decref(out);
            return err_set(err, err_size, "tools[%zu]: a tool needs a name and an input_schema object", i);
        }
        json_t *fn = json_pack("{s:s,s:O}", "name", name, "parameters", schema);
        const json_t *desc = json_object_get(t, "description");
        if (json_is_string(desc))
            json_object_set(fn, "description", (json_t *)desc);
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    json_object_set_new(chat, "tools", out);
    return 0;
}

static int convert_tool_choice(json_t *chat, const json_t *tc, char *err, size_t err_size)
{
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!type)
        return err_set(err, err_size, "tool_choice must be an object with a type");
    if (strcmp(type, "auto") == 0 || strcmp(type, "none") == 0)
        json_object_set_new(chat, "tool_choice", json_string(type));
    else if (strcmp(type, "any") == 0)
        json_object_set_new(chat, "tool_choice", json_string("required"));
    else if (strcmp(type, "tool") == 0 && json_is_string(json_object_get(tc, "name")))
        json_object_set_new(chat, "tool_choice", json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name",
                                                           json_object_get(tc, "name")));
    else
        return err_set(err, err_size, "tool_choice.type must be auto, any, tool (with a name) or none");
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")))
        json_object_set_new(chat, "parallel_tool_calls", json_false());
    return 0;
}

/* Sampling and limits: the fields whose meaning is the same. */
static int convert_scalars(json_t *chat, const json_t *body, char *err, size_t err_size)
{
    const json_t *mt = json_object_get(body, "max_tokens");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1)
        return err_set(err, err_size, "max_tokens: a positive integer is required");
    json_object_set(chat, "max_tokens", (json_t *)mt);
    static const char *const SAME[] = {"temperature", "top_p", "top_k", "stream"};
    for (size_t i = 0; i < sizeof SAME / sizeof SAME[0]; i++) {
        const json_t *v = json_object_get(body, SAME[i]);
        if (v)
            json_object_set(chat, SAME[i], (json_t *)v);
    }
    const json_t *stop = json_object_get(body, "stop_sequences");
    if (stop) {
        if (!json_is_array(stop))
            return err_set(err, err_size, "stop_sequences must be an array of strings");
        json_object_set(chat, "stop", (json_t *)stop);
    }
    const json_t *th = json_object_get(body, "thinking");
    if (th) {
        const char *type = json_string_value(json_object_get(th, "type"));
        if (!type || (strcmp(type, "enabled") != 0 && strcmp(type, "disabled") != 0))
            return err_set(err, err_size, "thinking.type must be enabled or disabled");
        json_object_set_new(chat, "chat_template_kwargs",
                            json_pack("{s:b}", "enable_thinking", strcmp(type, "enabled") == 0));
    }
    return 0;
}

json_t *srv_anthropic_to_chat(const json_t *body, char *err, size_t err_size)
{
    if (!json_is_object(body)) {
        err_set(err, err_size, "the body must be a JSON object");
        return NULL;
    }
    const json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        err_set(err, err_size, "messages: a non-empty array is required");
        return NULL;
    }
    json_t *chat = json_object(), *out = json_array();
    json_object_set_new(chat, "messages", out);
    const json_t *sys = json_object_get(body, "system");
    if (sys) {
        json_t *t = blocks_text(sys, "system", err, err_size);
        if (!t)
            goto fail;
        json_array_append_new(out, json_pack("{s:s,s:o}", "role", "system", "content", t));
    }
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        int rc;
        if (role && strcmp(role, "user") == 0)
            rc = user_message(out, content, i, err, err_size);
        else if (role && strcmp(role, "assistant") == 0)
            rc = assistant_message(out, content, i, err, err_size);
        else
            rc = err_set(err, err_size, "messages[%zu].role must be user or assistant", i);
        if (rc != 0)
            goto fail;
    }
    if (convert_scalars(chat, body, err, err_size) != 0)
        goto fail;
    const json_t *tools = json_object_get(body, "tools"), *tc = json_object_get(body, "tool_choice");
    if (tools && convert_tools(chat, tools, err, err_size) != 0)
        goto fail;
    if (tc && convert_tool_choice(chat, tc, err, err_size) != 0)
        goto fail;
    return chat;
fail:
    json_decref(chat);
    return NULL;
}

/* ---- replies ---- */

const char *srv_anthropic_stop_reason(const char *finish_reason, bool stopped_by_word)
{
    if (finish_reason && strcmp(finish_reason, "tool_calls") == 0)
        return "tool_use";
    if (finish_reason && strcmp(finish_reason, "length") == 0)
        return "max_tokens";
    return stopped_by_word ? "stop_sequence" : "end_turn";
}

static json_t *tool_use_block(const struct chat_tool_call *c, const char *id)
{
    json_t *input = json_loads(c->arguments, 0, NULL);
    if (!json_is_object(input)) {
        json_decref(input);
        input = json_object();
    }
    return json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id, "name", c->name, "input", input);
}

/* The id of call i: the model's own or one derived from the message id. */
static void call_id(char *buf, size_t size, const char *msg_id, const struct chat_tool_call *c, size_t i)
{
    if (c->id && *c->id)
        snprintf(buf, size, "%s", c->id);
    else
        snprintf(buf, size, "toolu_%s_%zu", msg_id + (strncmp(msg_id, "msg_", 4) == 0 ? 4 : 0), i);
}

json_t *srv_anthropic_message(const char *id, const char *model, const struct chat_tool_message *m,
                              const char *stop_reason, const char *stop_sequence, long in_tokens,
                              long out_tokens)
{
    json_t *content = json_array();
    if (m->reasoning && *m->reasoning)
        json_array_append_new(content, json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", m->reasoning,
                                                 "signature", ""));
    if (m->content && (*m->content || m->n_calls == 0))
        json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", m->content));
    for (size_t i = 0; i < m->n_calls; i++) {
        char cid[96];
        call_id(cid, sizeof cid, id, &m->calls[i], i);
        json_array_append_new(content, tool_use_block(&m->calls[i], cid));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s?,s:{s:I,s:I}}", "id", id, "type", "message", "role", "assistant",
                     "model", model, "content", content, "stop_reason", stop_reason, "stop_sequence", stop_sequence,
                     "usage", "input_tokens", (json_int_t)in_tokens, "output_tokens", (json_int_t)out_tokens);
}

json_t *srv_anthropic_error(int status, const char *message)
{
    const char *type = status == 401   ? "authentication_error"
                       : status == 403 ? "permission_error"
                       : status == 404 ? "not_found_error"
                       : status == 413 ? "request_too_large"
                       : status == 429 ? "rate_limit_error"
                       : status == 503 ? "overloaded_error"
                       : status >= 500 ? "api_error"
                                       : "invalid_request_error";
    return json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type", type, "message", message);
}

/* ---- streaming ---- */

/* "event: NAME\ndata: JSON\n\n"; steals ev. */
static int event(struct sbuf *out, const char *name, json_t *ev)
{
    char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!s)
        return -1;
    int rc = sbuf_printf(out, "event: %s\ndata: %s\n\n", name, s);
    free(s);
    return rc;
}

void srv_anthropic_stream_init(struct srv_anthropic_stream *st)
{
    st->block = -1;
    st->block_kind = 0;
    st->n_blocks = 0;
}

int srv_anthropic_stream_start(struct srv_anthropic_stream *st, struct sbuf *out, const char *id,
                               const char *model, long in_tokens)
{
    (void)st;
    json_t *msg = json_pack("{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:{s:I,s:i}}", "id", id, "type", "message", "role",
                            "assistant", "model", model, "content", "stop_reason", "stop_sequence", "usage",
                            "input_tokens", (json_int_t)in_tokens, "output_tokens", 0);
    return event(out, "message_start", json_pack("{s:s,s:o}", "type", "message_start", "message", msg));
}

static int close_block(struct srv_anthropic_stream *st, struct sbuf *out)
{
    if (st->block < 0)
        return 0;
    int rc = event(out, "content_block_stop", json_pack("{s:s,s:i}", "type", "content_block_stop", "index", st->block));
    st->block = -1;
    st->block_kind = 0;
    return rc;
}

/* Open a block of kind with its start object (stolen). */
static int open_block(struct srv_anthropic_stream *st, struct sbuf *out, int kind, json_t *start)
{
    if (close_block(st, out) != 0) {
        json_decref(start);
        return -1;
    }
    st->block = st->n_blocks++;
    st->block_kind = kind;
    return event(out, "content_block_start",
                 json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", st->block, "content_block", start));
}

int srv_anthropic_stream_text(struct srv_anthropic_stream *st, struct sbuf *out, const char *text, bool thinking)
{
    if (!text || !*text)
        return 0;
    int kind = thinking ? 2 : 1;
    if (st->block_kind != kind) {
        json_t *start = thinking ? json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", "", "signature", "")
                                 : json_pack("{s:s,s:s}", "type", "text", "text", "");
        if (open_block(st, out, kind, start) != 0)
            return -1;
    }
    json_t *delta = thinking ? json_pack("{s:s,s:s}", "type", "thinking_delta", "thinking", text)
                             : json_pack("{s:s,s:s}", "type", "text_delta", "text", text);
    return event(out, "content_block_delta",
                 json_pack("{s:s,s:i,s:o}", "type", "content_block_delta", "index", st->block, "delta", delta));
}

int srv_anthropic_stream_tool(struct srv_anthropic_stream *st, struct sbuf *out, const struct chat_tool_call *call,
                              const char *id)
{
    json_t *start = json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_use", "id", id, "name", call->name, "input");
    if (open_block(st, out, 3, start) != 0)
        return -1;
    json_t *delta = json_pack("{s:s,s:s}", "type", "input_json_delta", "partial_json", call->arguments);
    if (event(out, "content_block_delta",
              json_pack("{s:s,s:i,s:o}", "type", "content_block_delta", "index", st->block, "delta", delta)) != 0)
        return -1;
    return close_block(st, out);
}

int srv_anthropic_stream_ping(struct sbuf *out)
{
    return event(out, "ping", json_pack("{s:s}", "type", "ping"));
}

int srv_anthropic_stream_finish(struct srv_anthropic_stream *st, struct sbuf *out, const char *stop_reason,
                                const char *stop_sequence, long out_tokens)
{
    if (close_block(st, out) != 0)
        return -1;
    json_t *d = json_pack("{s:s,s:{s:s,s:s?},s:{s:I}}", "type", "message_delta", "delta", "stop_reason", stop_reason,
                          "stop_sequence", stop_sequence, "usage", "output_tokens", (json_int_t)out_tokens);
    if (event(out, "message_delta", d) != 0)
        return -1;
    return event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}
