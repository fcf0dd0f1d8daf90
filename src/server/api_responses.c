/*
 * api_responses.c - OpenAI Responses requests as chat bodies, and chat
 * answers as response objects and events (see api_responses.h).
 */
#include "server/api_responses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- request ---- */

/* A message item's content: a string, or parts of type input_text /
 * output_text (joined). */
static json_t *item_text(const json_t *content, size_t idx, char *err, size_t err_size)
{
    if (json_is_string(content))
        return json_copy((json_t *)content);
    if (!json_is_array(content)) {
        err_set(err, err_size, "input[%zu].content must be a string or an array of content parts", idx);
        return NULL;
    }
    struct sbuf b = SBUF_INIT;
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        const json_t *text = json_object_get(part, "text");
        if (!type || (strcmp(type, "input_text") != 0 && strcmp(type, "output_text") != 0) || !json_is_string(text)) {
            sbuf_free(&b);
            err_set(err, err_size, "input[%zu].content[%zu]: only input_text and output_text parts are supported (got %s)",
                    idx, i, type ? type : "a part without a type");
            return NULL;
        }
        sbuf_append(&b, json_string_value(text), json_string_length(text));
    }
    json_t *r = json_string(sbuf_str(&b));
    sbuf_free(&b);
    return r;
}

/* The last message of msgs if it is an assistant message (to attach calls). */
static json_t *open_assistant(json_t *msgs)
{
    size_t n = json_array_size(msgs);
    json_t *last = n ? json_array_get(msgs, n - 1) : NULL;
    const char *role = json_string_value(json_object_get(last, "role"));
    if (role && strcmp(role, "assistant") == 0)
        return last;
    json_t *m = json_pack("{s:s,s:s}", "role", "assistant", "content", "");
    json_array_append_new(msgs, m);
    return m;
}

static int convert_item(json_t *msgs, const json_t *it, size_t i, char *err, size_t err_size)
{
    const char *type = json_string_value(json_object_get(it, "type"));
    const char *role = json_string_value(json_object_get(it, "role"));
    if (!type || strcmp(type, "message") == 0) {
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") &&
                      strcmp(role, "developer")))
            return err_set(err, err_size, "input[%zu].role must be user, assistant, system or developer", i);
        json_t *t = item_text(json_object_get(it, "content"), i, err, err_size);
        if (!t)
            return -1;
        json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", strcmp(role, "developer") ? role : "system",
                                              "content", t));
        return 0;
    }
    if (strcmp(type, "function_call") == 0) {
        const char *id = json_string_value(json_object_get(it, "call_id"));
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *args = json_string_value(json_object_get(it, "arguments"));
        if (!id || !name || !args)
            return err_set(err, err_size, "input[%zu]: function_call needs call_id, name and arguments", i);
        json_t *m = open_assistant(msgs), *calls = json_object_get(m, "tool_calls");
        if (!calls) {
            calls = json_array();
            json_object_set_new(m, "tool_calls", calls);
        }
        json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function",
                                               "name", name, "arguments", args));
        return 0;
    }
    if (strcmp(type, "function_call_output") == 0) {
        const char *id = json_string_value(json_object_get(it, "call_id"));
        const json_t *out = json_object_get(it, "output");
        if (!id || !json_is_string(out))
            return err_set(err, err_size, "input[%zu]: function_call_output needs call_id and an output string", i);
        json_array_append_new(msgs, json_pack("{s:s,s:s,s:O}", "role", "tool", "tool_call_id", id, "content", out));
        return 0;
    }
    if (strcmp(type, "reasoning") == 0)
        return 0; /* earlier thoughts: not sent back to the model */
    return err_set(err, err_size, "input[%zu]: items of type %s are not supported", i, type);
}

static int convert_tools(json_t *chat, const json_t *body, char *err, size_t err_size)
{
    const json_t *tools = json_object_get(body, "tools"), *tc = json_object_get(body, "tool_choice");
    if (tools) {
        if (!json_is_array(tools))
            return err_set(err, err_size, "tools must be an array");
        json_t *out = json_array();
        json_object_set_new(chat, "tools", out);
        size_t i;
        const json_t *t;
        json_array_foreach(tools, i, t) {
            const char *type = json_string_value(json_object_get(t, "type"));
            const char *name = json_string_value(json_object_get(t, "name"));
            if (!type || strcmp(type, "function") != 0)
                return err_set(err, err_size, "tools[%zu]: only function tools are supported (got %s)", i,
                               type ? type : "no type");
            if (!name)
                return err_set(err, err_size, "tools[%zu]: a function tool needs a name", i);
            json_t *fn = json_pack("{s:s}", "name", name);
            const json_t *p = json_object_get(t, "parameters"), *d = json_object_get(t, "description");
            if (json_is_object(p))
                json_object_set(fn, "parameters", (json_t *)p);
            if (json_is_string(d))
                json_object_set(fn, "description", (json_t *)d);
            json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", fn));
        }
    }
    if (json_is_string(tc)) {
        json_object_set(chat, "tool_choice", (json_t *)tc);
    } else if (tc) {
        const char *name = json_string_value(json_object_get(tc, "name"));
        if (!name)
            return err_set(err, err_size, "tool_choice must be auto, none, required or {\"type\": \"function\", \"name\": ...}");
        json_object_set_new(chat, "tool_choice",
                            json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name));
    }
    const json_t *par = json_object_get(body, "parallel_tool_calls");
    if (json_is_boolean(par))
        json_object_set(chat, "parallel_tool_calls", (json_t *)par);
    return 0;
}

/* text.format: text, json_object or json_schema -> response_format. */
static int convert_format(json_t *chat, const json_t *body, char *err, size_t err_size)
{
    const json_t *fmt = json_object_get(json_object_get(body, "text"), "format");
    if (!fmt)
        return 0;
    const char *type = json_string_value(json_object_get(fmt, "type"));
    if (!type)
        return err_set(err, err_size, "text.format needs a type");
    if (strcmp(type, "text") == 0)
        return 0;
    if (strcmp(type, "json_object") == 0) {
        json_object_set_new(chat, "response_format", json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    const json_t *schema = json_object_get(fmt, "schema");
    if (strcmp(type, "json_schema") != 0 || !json_is_object(schema))
        return err_set(err, err_size, "text.format.type must be text, json_object or json_schema (with a schema)");
    json_object_set_new(chat, "response_format",
                        json_pack("{s:s,s:{s:s,s:O}}", "type", "json_schema", "json_schema", "name",
                                  json_string_value(json_object_get(fmt, "name")) ?: "response", "schema", schema));
    return 0;
}

json_t *srv_responses_to_chat(const json_t *body, char *err, size_t err_size)
{
    if (!json_is_object(body)) {
        err_set(err, err_size, "the body must be a JSON object");
        return NULL;
    }
    if (json_object_get(body, "previous_response_id") && !json_is_null(json_object_get(body, "previous_response_id"))) {
        err_set(err, err_size, "previous_response_id: this server keeps no responses (send the whole conversation in input)");
        return NULL;
    }
    const json_t *input = json_object_get(body, "input"), *instr = json_object_get(body, "instructions");
    json_t *chat = json_object(), *msgs = json_array();
    json_object_set_new(chat, "messages", msgs);
    if (json_is_string(instr))
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", instr));
    if (json_is_string(input)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", input));
    } else if (json_is_array(input) && json_array_size(input) > 0) {
        size_t i;
        const json_t *it;
        json_array_foreach(input, i, it) {
            if (convert_item(msgs, it, i, err, err_size) != 0)
                goto fail;
        }
    } else {
        err_set(err, err_size, "input: a string or a non-empty array of items is required");
        goto fail;
    }
    const json_t *mo = json_object_get(body, "max_output_tokens");
    if (mo && !json_is_null(mo)) {
        if (!json_is_integer(mo) || json_integer_value(mo) < 1) {
            err_set(err, err_size, "max_output_tokens must be a positive integer");
            goto fail;
        }
        json_object_set(chat, "max_tokens", (json_t *)mo);
    }
    static const char *const SAME[] = {"temperature", "top_p", "stream", "seed"};
    for (size_t i = 0; i < sizeof SAME / sizeof SAME[0]; i++) {
        const json_t *v = json_object_get(body, SAME[i]);
        if (v && !json_is_null(v))
            json_object_set(chat, SAME[i], (json_t *)v);
    }
    if (convert_tools(chat, body, err, err_size) != 0 || convert_format(chat, body, err, err_size) != 0)
        goto fail;
    return chat;
fail:
    json_decref(chat);
    return NULL;
}

/* ---- the response object ---- */

static const char *suffix(const char *id)
{
    return strncmp(id, "resp_", 5) == 0 ? id + 5 : id;
}

static json_t *message_item(const struct srv_response_info *info, int index, const char *text, bool done)
{
    char id[96];
    snprintf(id, sizeof id, "msg_%s_%d", suffix(info->id), index);
    json_t *content = json_array();
    if (done)
        json_array_append_new(content, json_pack("{s:s,s:s,s:[],s:[]}", "type", "output_text", "text", text,
                                                 "annotations", "logprobs"));
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", "message", "id", id, "status", done ? "completed" : "in_progress",
                     "role", "assistant", "content", content);
}

static json_t *reasoning_item(const struct srv_response_info *info, int index, const char *text, bool done)
{
    char id[96];
    snprintf(id, sizeof id, "rs_%s_%d", suffix(info->id), index);
    json_t *content = json_array();
    if (done)
        json_array_append_new(content, json_pack("{s:s,s:s}", "type", "reasoning_text", "text", text));
    return json_pack("{s:s,s:s,s:s,s:[],s:o}", "type", "reasoning", "id", id, "status",
                     done ? "completed" : "in_progress", "summary", "content", content);
}

static json_t *call_item(const struct srv_response_info *info, int index, const struct chat_tool_call *c, size_t k,
                         bool done)
{
    char id[96], call_id[96];
    snprintf(id, sizeof id, "fc_%s_%d", suffix(info->id), index);
    if (c->id && *c->id)
        snprintf(call_id, sizeof call_id, "%s", c->id);
    else
        snprintf(call_id, sizeof call_id, "call_%s_%zu", suffix(info->id), k);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "function_call", "id", id, "call_id", call_id, "name", c->name,
                     "arguments", done ? c->arguments : "", "status", done ? "completed" : "in_progress");
}

/* The output items of a finished message, in the order a stream opens them. */
static json_t *output_items(const struct srv_response_info *info, const struct chat_tool_message *m)
{
    json_t *out = json_array();
    int n = 0;
    if (m->reasoning && *m->reasoning)
        json_array_append_new(out, reasoning_item(info, n++, m->reasoning, true));
    if (m->content && (*m->content || m->n_calls == 0))
        json_array_append_new(out, message_item(info, n++, m->content, true));
    for (size_t k = 0; k < m->n_calls; k++)
        json_array_append_new(out, call_item(info, n++, &m->calls[k], k, true));
    return out;
}

json_t *srv_responses_object(const struct srv_response_info *info, const struct chat_tool_message *m)
{
    const json_t *req = info->request;
    const char *status = !m ? "in_progress" : info->incomplete ? "incomplete" : "completed";
    json_t *r = json_pack("{s:s,s:s,s:I,s:s,s:n,s:s,s:o}", "id", info->id, "object", "response", "created_at",
                          (json_int_t)info->created_at, "status", status, "error", "model", info->model, "output",
                          m ? output_items(info, m) : json_array());
    json_object_set_new(r, "incomplete_details",
                        info->incomplete && m ? json_pack("{s:s}", "reason", "max_output_tokens") : json_null());
    static const char *const ECHO[] = {"instructions", "max_output_tokens", "temperature", "top_p", "metadata"};
    for (size_t i = 0; i < sizeof ECHO / sizeof ECHO[0]; i++) {
        const json_t *v = json_object_get(req, ECHO[i]);
        json_object_set_new(r, ECHO[i], v ? json_copy((json_t *)v) : json_null());
    }
    const json_t *tools = json_object_get(req, "tools"), *tc = json_object_get(req, "tool_choice");
    const json_t *par = json_object_get(req, "parallel_tool_calls"), *text = json_object_get(req, "text");
    json_object_set_new(r, "tools", tools ? json_deep_copy(tools) : json_array());
    json_object_set_new(r, "tool_choice", tc ? json_deep_copy(tc) : json_string("auto"));
    json_object_set_new(r, "parallel_tool_calls", json_is_boolean(par) ? json_copy((json_t *)par) : json_true());
    json_object_set_new(r, "text", text ? json_deep_copy(text) : json_pack("{s:{s:s}}", "format", "type", "text"));
    if (m)
        json_object_set_new(r, "usage",
                            json_pack("{s:I,s:{s:I},s:I,s:{s:i},s:I}", "input_tokens", (json_int_t)info->in_tokens,
                                      "input_tokens_details", "cached_tokens", (json_int_t)info->cached_tokens,
                                      "output_tokens", (json_int_t)info->out_tokens, "output_tokens_details",
                                      "reasoning_tokens", 0, "total_tokens",
                                      (json_int_t)(info->in_tokens + info->out_tokens)));
    else
        json_object_set_new(r, "usage", json_null());
    return r;
}

/* ---- streaming ---- */

/* "event: TYPE\ndata: {...,"type","sequence_number"}\n\n"; steals ev. */
static int event(struct srv_responses_stream *st, struct sbuf *out, const char *type, json_t *ev)
{
    if (!ev)
        return -1;
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "sequence_number", json_integer(st->seq++));
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (!s)
        return -1;
    int rc = sbuf_printf(out, "event: %s\ndata: %s\n\n", type, s);
    free(s);
    return rc;
}

void srv_responses_stream_init(struct srv_responses_stream *st)
{
    memset(st, 0, sizeof *st);
}

void srv_responses_stream_free(struct srv_responses_stream *st)
{
    sbuf_free(&st->text);
}

int srv_responses_stream_start(struct srv_responses_stream *st, struct sbuf *out, const struct srv_response_info *info)
{
    if (event(st, out, "response.created", json_pack("{s:o}", "response", srv_responses_object(info, NULL))) != 0)
        return -1;
    return event(st, out, "response.in_progress", json_pack("{s:o}", "response", srv_responses_object(info, NULL)));
}

/* Close the open message or reasoning item: its done events. */
static int close_item(struct srv_responses_stream *st, struct sbuf *out, const struct srv_response_info *info)
{
    if (st->item_kind == 0)
        return 0;
    int idx = st->n_items - 1;
    const char *text = sbuf_str(&st->text);
    bool msg = st->item_kind == 1;
    const char *done = msg ? "response.output_text.done" : "response.reasoning_text.done";
    json_t *part = msg ? json_pack("{s:s,s:s,s:[]}", "type", "output_text", "text", text, "annotations")
                       : json_pack("{s:s,s:s}", "type", "reasoning_text", "text", text);
    int rc = event(st, out, done,
                   json_pack("{s:s,s:i,s:i,s:s}", "item_id", st->item_id, "output_index", idx, "content_index", 0,
                             "text", text));
    if (rc == 0 && msg)
        rc = event(st, out, "response.content_part.done",
                   json_pack("{s:s,s:i,s:i,s:O}", "item_id", st->item_id, "output_index", idx, "content_index", 0,
                             "part", part));
    json_t *item = msg ? message_item(info, idx, text, true) : reasoning_item(info, idx, text, true);
    if (rc == 0)
        rc = event(st, out, "response.output_item.done", json_pack("{s:i,s:o}", "output_index", idx, "item", item));
    else
        json_decref(item);
    json_decref(part);
    st->item_kind = 0;
    sbuf_clear(&st->text);
    return rc;
}

int srv_responses_stream_text(struct srv_responses_stream *st, struct sbuf *out, const struct srv_response_info *info,
                              const char *text, bool reasoning)
{
    if (!text || !*text)
        return 0;
    int kind = reasoning ? 2 : 1;
    if (st->item_kind != kind) {
        if (close_item(st, out, info) != 0)
            return -1;
        int idx = st->n_items++;
        json_t *item = reasoning ? reasoning_item(info, idx, "", false) : message_item(info, idx, "", false);
        snprintf(st->item_id, sizeof st->item_id, "%s", json_string_value(json_object_get(item, "id")));
        st->item_kind = kind;
        if (event(st, out, "response.output_item.added", json_pack("{s:i,s:o}", "output_index", idx, "item", item)) != 0)
            return -1;
        if (!reasoning &&
            event(st, out, "response.content_part.added",
                  json_pack("{s:s,s:i,s:i,s:{s:s,s:s,s:[]}}", "item_id", st->item_id, "output_index", idx,
                            "content_index", 0, "part", "type", "output_text", "text", "", "annotations")) != 0)
            return -1;
    }
    sbuf_puts(&st->text, text);
    const char *type = reasoning ? "response.reasoning_text.delta" : "response.output_text.delta";
    json_t *ev = json_pack("{s:s,s:i,s:i,s:s}", "item_id", st->item_id, "output_index", st->n_items - 1,
                           "content_index", 0, "delta", text);
    if (!reasoning)
        json_object_set_new(ev, "logprobs", json_array());
    return event(st, out, type, ev);
}

int srv_responses_stream_call(struct srv_responses_stream *st, struct sbuf *out, const struct srv_response_info *info,
                              const struct chat_tool_call *call, size_t index)
{
    if (close_item(st, out, info) != 0)
        return -1;
    int idx = st->n_items++;
    json_t *added = call_item(info, idx, call, index, false);
    char id[96];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(added, "id")));
    if (event(st, out, "response.output_item.added", json_pack("{s:i,s:o}", "output_index", idx, "item", added)) != 0 ||
        event(st, out, "response.function_call_arguments.delta",
              json_pack("{s:s,s:i,s:s}", "item_id", id, "output_index", idx, "delta", call->arguments)) != 0 ||
        event(st, out, "response.function_call_arguments.done",
              json_pack("{s:s,s:i,s:s}", "item_id", id, "output_index", idx, "arguments", call->arguments)) != 0)
        return -1;
    return event(st, out, "response.output_item.done",
                 json_pack("{s:i,s:o}", "output_index", idx, "item", call_item(info, idx, call, index, true)));
}

int srv_responses_stream_finish(struct srv_responses_stream *st, struct sbuf *out,
                                const struct srv_response_info *info, const struct chat_tool_message *m)
{
    if (close_item(st, out, info) != 0)
        return -1;
    const char *type = info->incomplete ? "response.incomplete" : "response.completed";
    return event(st, out, type, json_pack("{s:o}", "response", srv_responses_object(info, m)));
}
