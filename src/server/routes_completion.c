/*
 * routes_completion.c - POST /completion and POST /infill: the body read
 * into a completion request and handed to the scheduler; the answer is one
 * JSON object, or Server-Sent Events (one `data: {json}` per piece of text,
 * then a last event with "stop": true and the full report); see
 * completion_reply.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/completion_params.h"
#include "server/completion_reply.h"
#include "server/server_internal.h"

static const struct reply_options NATIVE = {.fmt = FMT_NATIVE, .n_choices = 1};

/* The system_prompt request field: applies to all slots from now on. */
static int take_system_prompt(struct server *s, const json_t *body, struct http_reply *rep)
{
    const json_t *sp = json_object_get(body, "system_prompt");
    if (!sp || json_is_null(sp))
        return 0;
    char err[256];
    if (set_system_prompt(s, sp, err, sizeof err) != 0) {
        reply_error(rep, 400, "'system_prompt': %s", err);
        return -1;
    }
    return 0;
}

void route_completion(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = parse_body(req, rep);
    if (!body)
        return;
    struct completion_req r;
    char err[512];
    if (take_system_prompt(s, body, rep) == 0) {
        if (completion_req_parse(s, body, true, &r, err, sizeof err) != 0)
            reply_error(rep, 400, "%s", err);
        else if (r.prompt.n == 0)
            reply_error(rep, 400, "the prompt is empty");
        else
            completion_submit(s, &r, &NATIVE, rep);
        completion_req_free(&r);
    }
    json_decref(body);
}

/* Prefix/suffix/middle (or suffix/prefix/middle with --spm-infill). */
static int infill_prompt(struct server *s, const json_t *body, struct completion_req *r, char *err, size_t n)
{
    const struct vocab *v = s->vocab;
    if (v->fim_pre == TOKEN_NULL || v->fim_suf == TOKEN_NULL || v->fim_mid == TOKEN_NULL) {
        snprintf(err, n, "this model has no fill-in-the-middle tokens");
        return -1;
    }
    const json_t *pre = json_object_get(body, "input_prefix"), *suf = json_object_get(body, "input_suffix");
    if ((pre && !json_is_string(pre)) || (suf && !json_is_string(suf))) {
        snprintf(err, n, "'input_prefix' and 'input_suffix' must be strings");
        return -1;
    }
    struct tok_list tp = {0}, ts = {0};
    if (pre)
        tokenize_list(v, json_string_value(pre), json_string_length(pre), false, false, &tp);
    if (suf)
        tokenize_list(v, json_string_value(suf), json_string_length(suf), false, false, &ts);
    struct tok_list *out = &r->prompt, rest = *out; /* the `prompt` field goes after the middle token */
    memset(out, 0, sizeof *out);
    if (v->add_bos)
        tok_list_push(out, v->bos);
    struct tok_list *first = s->p->spm_infill ? &ts : &tp, *second = s->p->spm_infill ? &tp : &ts;
    tok_list_push(out, s->p->spm_infill ? v->fim_suf : v->fim_pre);
    for (size_t i = 0; i < first->n; i++)
        tok_list_push(out, first->v[i]);
    tok_list_push(out, s->p->spm_infill ? v->fim_pre : v->fim_suf);
    for (size_t i = 0; i < second->n; i++)
        tok_list_push(out, second->v[i]);
    tok_list_push(out, v->fim_mid);
    size_t skip = rest.n > 0 && v->add_bos && rest.v[0] == v->bos ? 1 : 0;
    for (size_t i = skip; i < rest.n; i++)
        tok_list_push(out, rest.v[i]);
    tok_list_free(&rest);
    tok_list_free(&tp);
    tok_list_free(&ts);
    return 0;
}

void route_infill(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = parse_body(req, rep);
    if (!body)
        return;
    struct completion_req r;
    char err[512];
    if (completion_req_parse(s, body, false, &r, err, sizeof err) != 0 ||
        infill_prompt(s, body, &r, err, sizeof err) != 0)
        reply_error(rep, 400, "%s", err);
    else
        completion_submit(s, &r, &NATIVE, rep);
    completion_req_free(&r);
    json_decref(body);
}
