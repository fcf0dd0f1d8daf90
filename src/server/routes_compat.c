/*
 * routes_compat.c - the other vendors' chat APIs: POST /v1/messages and
 * /v1/messages/count_tokens (Anthropic) and POST /v1/responses (OpenAI
 * Responses, stateless). Each request is turned into an OpenAI chat body
 * (api_anthropic.c, api_responses.c) and runs the chat path: the same request
 * table, template, tools and scheduler; completion_reply.c shapes the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_anthropic.h"
#include "server/api_responses.h"
#include "server/chat_tools.h"
#include "server/completion_reply.h"
#include "server/request.h"
#include "server/server_internal.h"

/* An error in Anthropic's shape. */
static void anthropic_error(struct http_reply *rep, int status, const char *msg)
{
    srv_reply_json(rep, status, srv_anthropic_error(status, msg));
}

/* The chat request for a translated body; 0, or -1 with err (a 400). */
static int read_chat(struct server *s, const json_t *chat, struct completion_req *r, struct request_ctx *c,
                     char *err, size_t n)
{
    srv_request_ctx(s, c);
    request_init(r, REQ_API_OAI_CHAT);
    if (request_read(r, c, chat, err, n) != 0 || srv_chat_prompt(s, chat, r, c, err, n) != 0)
        return -1;
    if (r->prompt.n == 0) {
        snprintf(err, n, "the prompt is empty");
        return -1;
    }
    return 0;
}

/* The body as a JSON object, or NULL after an Anthropic-shaped 400. */
static json_t *anthropic_body(const struct http_request *req, struct http_reply *rep)
{
    json_error_t je;
    json_t *body = json_loadb(req->body, req->body_len, 0, &je);
    if (!json_is_object(body)) {
        json_decref(body);
        anthropic_error(rep, 400, "the request body must be a JSON object");
        return NULL;
    }
    return body;
}

void route_messages(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = anthropic_body(req, rep);
    char err[512];
    if (!body)
        return;
    json_t *chat = srv_anthropic_to_chat(body, err, sizeof err);
    struct completion_req r;
    struct request_ctx c;
    if (!chat) {
        anthropic_error(rep, 400, err);
    } else if (read_chat(s, chat, &r, &c, err, sizeof err) != 0) {
        anthropic_error(rep, 400, err);
        request_free(&r);
    } else {
        r.reply = REQ_REPLY_ANTHROPIC;
        completion_submit(s, &c, &r, rep);
        request_free(&r);
    }
    json_decref(chat);
    json_decref(body);
}

void route_messages_count_tokens(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = anthropic_body(req, rep);
    char err[512];
    if (!body)
        return;
    /* count_tokens takes no max_tokens: give the translation one */
    if (!json_object_get(body, "max_tokens"))
        json_object_set_new(body, "max_tokens", json_integer(1));
    json_t *chat = srv_anthropic_to_chat(body, err, sizeof err);
    struct completion_req r;
    struct request_ctx c;
    if (!chat)
        anthropic_error(rep, 400, err);
    else if (read_chat(s, chat, &r, &c, err, sizeof err) != 0)
        anthropic_error(rep, 400, err);
    else
        srv_reply_json(rep, 200, json_pack("{s:I}", "input_tokens", (json_int_t)r.prompt.n));
    if (chat)
        request_free(&r);
    json_decref(chat);
    json_decref(body);
}

void route_responses(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = srv_parse_body(req, rep);
    if (!body)
        return;
    char err[512];
    json_t *chat = srv_responses_to_chat(body, err, sizeof err);
    struct completion_req r;
    struct request_ctx c;
    if (!chat) {
        srv_reply_error(rep, 400, "%s", err);
    } else if (read_chat(s, chat, &r, &c, err, sizeof err) != 0) {
        srv_reply_error(rep, 400, "%s", err);
        request_free(&r);
    } else {
        r.reply = REQ_REPLY_RESPONSES;
        r.reply_body = json_incref(body);
        completion_submit(s, &c, &r, rep);
        request_free(&r);
    }
    json_decref(chat);
    json_decref(body);
}
