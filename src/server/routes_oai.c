/*
 * routes_oai.c - the OpenAI-compatible routes: GET /v1/models (and
 * /models), POST /v1/completions and POST /v1/chat/completions. OpenAI's
 * fields are mapped onto a /completion request (max_tokens -> n_predict,
 * logprobs/top_logprobs -> n_probs, response_format -> json_schema, n ->
 * parallel choices), so every llama.cpp extension field (mirostat, grammar,
 * ...) works here too; the answer is shaped by completion_reply.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/chat.h"
#include "server/completion_params.h"
#include "server/completion_reply.h"
#include "server/server_internal.h"

#define MAX_CHOICES 16

void route_models(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    const struct model_hparams *hp = &s->model->hp;
    json_t *meta = json_pack("{s:i,s:i,s:i,s:i}", "n_vocab", hp->n_vocab, "n_ctx_train", hp->n_ctx_train, "n_embd",
                             hp->n_embd, "n_layer", hp->n_layer);
    json_t *m = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", s->model_name, "object", "model", "created",
                          (json_int_t)time(NULL), "owned_by", "cllm", "meta", meta);
    reply_json(rep, 200, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

/* OpenAI fields that have a /completion counterpart, rewritten in place. */
static int map_common(json_t *b, struct reply_options *o, bool chat, char *err, size_t n)
{
    const json_t *nc = json_object_get(b, "n");
    if (nc && !json_is_null(nc)) {
        if (!json_is_integer(nc) || json_integer_value(nc) < 1 || json_integer_value(nc) > MAX_CHOICES) {
            snprintf(err, n, "'n' must be an integer from 1 to %d", MAX_CHOICES);
            return -1;
        }
        o->n_choices = (int)json_integer_value(nc);
    }
    const json_t *mct = json_object_get(b, "max_completion_tokens");
    if (mct && !json_is_null(mct) && !json_object_get(b, "max_tokens"))
        json_object_set(b, "max_tokens", (json_t *)mct);
    const json_t *so = json_object_get(b, "stream_options");
    if (so && json_is_object(so))
        o->include_usage = json_is_true(json_object_get(so, "include_usage"));
    const json_t *lp = json_object_get(b, "logprobs");
    const json_t *top = json_object_get(b, "top_logprobs");
    if (chat && lp && !json_is_null(lp)) {
        if (!json_is_boolean(lp)) {
            snprintf(err, n, "'logprobs' must be true or false");
            return -1;
        }
        if (top && !json_is_null(top) && (!json_is_integer(top) || json_integer_value(top) < 0 ||
                                          json_integer_value(top) > 20)) {
            snprintf(err, n, "'top_logprobs' must be an integer from 0 to 20");
            return -1;
        }
        o->logprobs = json_is_true(lp);
        json_int_t k = top && json_is_integer(top) ? json_integer_value(top) : 0;
        if (o->logprobs)
            json_object_set_new(b, "n_probs", json_integer(k > 0 ? k : 1));
    } else if (!chat && lp && !json_is_null(lp)) {
        if (!json_is_integer(lp) || json_integer_value(lp) < 0 || json_integer_value(lp) > 20) {
            snprintf(err, n, "'logprobs' must be an integer from 0 to 20");
            return -1;
        }
        o->logprobs = true;
        json_object_set_new(b, "n_probs", json_integer(json_integer_value(lp) > 0 ? json_integer_value(lp) : 1));
    }
    const json_t *echo = json_object_get(b, "echo");
    if (echo && json_is_true(echo)) {
        snprintf(err, n, "'echo' is not supported");
        return -1;
    }
    return 0;
}

/* response_format: json_object (optionally with a schema) or json_schema. */
static int map_response_format(json_t *b, char *err, size_t n)
{
    const json_t *rf = json_object_get(b, "response_format");
    if (!rf || json_is_null(rf))
        return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type) {
        snprintf(err, n, "'response_format' must be an object with a 'type'");
        return -1;
    }
    json_t *schema = NULL;
    if (strcmp(type, "json_object") == 0) {
        json_t *sc = json_object_get(rf, "schema");
        schema = sc ? json_incref(sc) : json_pack("{s:s}", "type", "object"); /* OpenAI: an object */
    } else if (strcmp(type, "json_schema") == 0) {
        json_t *js = json_object_get(rf, "json_schema");
        json_t *sc = js ? json_object_get(js, "schema") : NULL;
        if (!sc) {
            snprintf(err, n, "'response_format': json_schema needs {\"json_schema\": {\"schema\": ...}}");
            return -1;
        }
        schema = json_incref(sc);
    } else if (strcmp(type, "text") != 0) {
        snprintf(err, n, "'response_format': unknown type '%s' (text, json_object or json_schema)", type);
        return -1;
    }
    if (schema)
        json_object_set_new(b, "json_schema", schema);
    return 0;
}

static void run_oai(struct server *s, json_t *b, struct reply_options *o, struct http_reply *rep)
{
    struct completion_req r;
    char err[512];
    if (completion_req_parse(s, b, true, &r, err, sizeof err) != 0)
        reply_error(rep, 400, "%s", err);
    else if (r.prompt.n == 0)
        reply_error(rep, 400, "the prompt is empty");
    else
        completion_submit(s, &r, o, rep);
    completion_req_free(&r);
}

void route_oai_completions(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *b = parse_body(req, rep);
    if (!b)
        return;
    struct reply_options o = {.fmt = FMT_OAI_TEXT, .n_choices = 1};
    char err[512];
    const json_t *p = json_object_get(b, "prompt");
    if (json_is_array(p) && json_array_size(p) > 1 && json_is_string(json_array_get(p, 0)) &&
        json_is_string(json_array_get(p, 1))) {
        reply_error(rep, 400, "'prompt': several prompts in one request are not supported; send one per request");
    } else if (map_common(b, &o, false, err, sizeof err) != 0) {
        reply_error(rep, 400, "%s", err);
    } else {
        run_oai(s, b, &o, rep);
    }
    json_decref(b);
}

void route_chat_completions(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *b = parse_body(req, rep);
    if (!b)
        return;
    struct reply_options o = {.fmt = FMT_OAI_CHAT, .n_choices = 1};
    char err[512];
    const json_t *msgs = json_object_get(b, "messages");
    char *prompt = NULL;
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        reply_error(rep, 400, "'messages' must be a non-empty array");
    } else if (map_common(b, &o, true, err, sizeof err) != 0 || map_response_format(b, err, sizeof err) != 0) {
        reply_error(rep, 400, "%s", err);
    } else if (!(prompt = chat_format(s, b, true, err, sizeof err))) {
        reply_error(rep, 400, "%s", err);
    } else {
        json_object_set_new(b, "prompt", json_string(prompt));
        run_oai(s, b, &o, rep);
    }
    free(prompt);
    json_decref(b);
}

void route_apply_template(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *b = parse_body(req, rep);
    if (!b)
        return;
    const json_t *msgs = json_object_get(b, "messages");
    char err[512], *prompt = NULL;
    if (!json_is_array(msgs))
        reply_error(rep, 400, "'messages' must be an array");
    else if (!(prompt = chat_format(s, b, true, err, sizeof err)))
        reply_error(rep, 400, "%s", err);
    else
        reply_json(rep, 200, json_pack("{s:o}", "prompt", json_text(prompt, strlen(prompt))));
    free(prompt);
    json_decref(b);
}
