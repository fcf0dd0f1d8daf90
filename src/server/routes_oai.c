/*
 * routes_oai.c - the OpenAI-compatible routes: GET /v1/models (and
 * /models), POST /v1/completions and POST /v1/chat/completions. OpenAI's
 * fields are rows of the request table for these doors (max_tokens ->
 * n_predict, logprobs/top_logprobs -> n_probs, response_format -> the
 * grammar, n -> parallel choices), so every llama.cpp extension field
 * (mirostat, grammar, ...) works here too; the chat prompt (the template's
 * output) is a field of the request. The answer is shaped by
 * completion_reply.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/chat.h"
#include "server/chat_tools.h"
#include "server/completion_reply.h"
#include "server/request.h"
#include "server/server_internal.h"

void route_models(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    const struct model_hparams *hp = &s->model->hp;
    json_t *meta = json_pack("{s:i,s:i,s:i,s:i}", "n_vocab", hp->n_vocab, "n_ctx_train", hp->n_ctx_train, "n_embd",
                             hp->n_embd, "n_layer", hp->n_layer);
    json_t *m = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", s->model_name, "object", "model", "created",
                          (json_int_t)time(NULL), "owned_by", "cllm", "meta", meta);
    json_t *tags = json_array(); /* --tags, as llama-server lists them */
    for (const char *t = s->p->tags ? s->p->tags : ""; *t;) {
        size_t n = strcspn(t, ","), a = strspn(t, " \t"), e = n;
        while (e > a && (t[e - 1] == ' ' || t[e - 1] == '\t'))
            e--;
        if (e > a)
            json_array_append_new(tags, json_stringn(t + a, e - a));
        t += n + (t[n] == ',');
    }
    json_object_set_new(m, "tags", tags);
    srv_reply_json(rep, 200, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

/* Read an OpenAI body into r (its door set by request_init) and submit it. */
static void run_oai(struct server *s, const json_t *b, struct completion_req *r, struct http_reply *rep)
{
    struct request_ctx c;
    char err[512];
    srv_request_ctx(s, &c);
    if (request_read(r, &c, b, err, sizeof err) != 0) {
        srv_reply_error(rep, 400, "%s", err);
        return;
    }
    if (r->api == REQ_API_OAI_CHAT && srv_chat_prompt(s, b, r, &c, err, sizeof err) != 0) {
        srv_reply_error(rep, 400, "%s", err);
        return;
    }
    if (r->prompt.n == 0)
        srv_reply_error(rep, 400, "the prompt is empty");
    else
        completion_submit(s, &c, r, rep);
}

void route_oai_completions(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *b = srv_parse_body(req, rep);
    if (!b)
        return;
    struct completion_req r;
    request_init(&r, REQ_API_OAI_TEXT);
    run_oai(s, b, &r, rep);
    request_free(&r);
    json_decref(b);
}

void route_chat_completions(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *b = srv_parse_body(req, rep);
    if (!b)
        return;
    const json_t *msgs = json_object_get(b, "messages");
    struct completion_req r;
    request_init(&r, REQ_API_OAI_CHAT);
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        srv_reply_error(rep, 400, "'messages' must be a non-empty array");
    else
        run_oai(s, b, &r, rep);
    request_free(&r);
    json_decref(b);
}

void route_apply_template(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *b = srv_parse_body(req, rep);
    if (!b)
        return;
    const json_t *msgs = json_object_get(b, "messages");
    char err[512], *prompt = NULL;
    struct completion_req r;
    struct request_ctx c;
    json_t *rb = NULL;
    srv_request_ctx(s, &c);
    request_init(&r, REQ_API_OAI_CHAT);
    if (!json_is_array(msgs))
        srv_reply_error(rep, 400, "'messages' must be an array");
    else if (request_read(&r, &c, b, err, sizeof err) != 0 || srv_chat_check(s, b, err, sizeof err) != 0 ||
             !(rb = srv_tools_body(s, b, &r, err, sizeof err)) ||
             !(prompt = srv_chat_format(s, rb, true, err, sizeof err)))
        srv_reply_error(rep, 400, "%s", err);
    else
        srv_reply_json(rep, 200, json_pack("{s:o}", "prompt", srv_json_text(prompt, strlen(prompt))));
    free(prompt);
    json_decref(rb);
    request_free(&r);
    json_decref(b);
}
