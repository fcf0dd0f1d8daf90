/*
 * routes_completion.c - POST /completion and POST /infill: the body read
 * into a typed request (request.h) and handed to the scheduler; the answer
 * is one JSON object, or Server-Sent Events (one `data: {json}` per piece of
 * text, then a last event with "stop": true and the full report); see
 * completion_reply.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/completion_reply.h"
#include "server/request.h"
#include "server/server_internal.h"

/* The system_prompt request field: applies to all slots from now on. */
static int take_system_prompt(struct server *s, const json_t *body, struct http_reply *rep)
{
    const json_t *sp = json_object_get(body, "system_prompt");
    if (!sp || json_is_null(sp))
        return 0;
    char err[256];
    if (srv_set_system_prompt(s, sp, err, sizeof err) != 0) {
        srv_reply_error(rep, 400, "'system_prompt': %s", err);
        return -1;
    }
    return 0;
}

void route_completion(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = srv_parse_body(req, rep);
    if (!body)
        return;
    if (take_system_prompt(s, body, rep) != 0) {
        json_decref(body);
        return;
    }
    struct request_ctx c;
    struct completion_req r;
    char err[512];
    srv_request_ctx(s, &c);
    request_init(&r, REQ_API_NATIVE);
    if (request_read(&r, &c, body, err, sizeof err) != 0)
        srv_reply_error(rep, 400, "%s", err);
    else if (r.prompt.n == 0)
        srv_reply_error(rep, 400, "the prompt is empty");
    else
        completion_submit(s, &c, &r, rep);
    request_free(&r);
    json_decref(body);
}

void route_infill(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = srv_parse_body(req, rep);
    if (!body)
        return;
    struct request_ctx c;
    struct completion_req r;
    char err[512];
    srv_request_ctx(s, &c);
    request_init(&r, REQ_API_INFILL);
    if (request_read(&r, &c, body, err, sizeof err) != 0 || request_build_infill(&r, &c, err, sizeof err) != 0)
        srv_reply_error(rep, 400, "%s", err);
    else
        completion_submit(s, &c, &r, rep);
    request_free(&r);
    json_decref(body);
}
