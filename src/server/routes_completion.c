/*
 * routes_completion.c - POST /completion and POST /infill: the request
 * becomes a scheduler task; its events become one JSON answer, or
 * Server-Sent Events (one `data: {json}` per piece of text, then a last
 * event with "stop": true and the full report).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/completion_params.h"
#include "server/server_internal.h"

/* One request in flight: owned by its task (released by the scheduler). */
struct completion_ctx {
    struct server *srv;
    struct http_stream *out;
    bool stream;
    int32_t n_probs;
    json_t *settings; /* generation_settings */
    json_t *prompt;   /* as given */
    json_t *info;     /* what /slots shows */
    char *content;
    size_t len, cap;
    json_t *probs;    /* completion_probabilities */
};

static void ctx_free(struct completion_ctx *c)
{
    if (!c)
        return;
    if (c->out)
        http_stream_unref(c->out);
    json_decref(c->settings);
    json_decref(c->prompt);
    json_decref(c->info);
    json_decref(c->probs);
    free(c->content);
    free(c);
}

static void append_content(struct completion_ctx *c, const char *s, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *nb = realloc(c->content, cap);
        if (!nb)
            return;
        c->content = nb;
        c->cap = cap;
    }
    memcpy(c->content + c->len, s, n);
    c->len += n;
}

static json_t *piece_json(struct server *s, int32_t tok)
{
    char buf[256];
    int64_t n = token_to_piece(s->vocab, tok, buf, sizeof buf, 0, true);
    if (n < 0 || n > (int64_t)sizeof buf)
        n = 0;
    return json_text(buf, (size_t)n);
}

static json_t *probs_json(struct completion_ctx *c, const struct sched_event *ev)
{
    json_t *arr = json_array();
    for (int32_t i = 0; i < ev->n_probs; i++)
        json_array_append_new(arr, json_pack("{s:o,s:f}", "tok_str", piece_json(c->srv, ev->probs[i].token), "prob",
                                             (double)ev->probs[i].prob));
    return json_pack("{s:o,s:o}", "content", piece_json(c->srv, ev->token), "probs", arr);
}

static void sse_send(struct completion_ctx *c, json_t *obj)
{
    size_t len;
    char *s = json_dump(obj, &len);
    json_decref(obj);
    if (!s)
        return;
    char *line = malloc(len + 9);
    if (line) {
        memcpy(line, "data: ", 6);
        memcpy(line + 6, s, len);
        memcpy(line + 6 + len, "\n\n", 2);
        http_stream_write(c->out, line, len + 8);
        free(line);
    }
    free(s);
}

static json_t *timings_json(const struct sched_result *r)
{
    double pn = r->n_evaluated, gn = r->n_decoded;
    return json_pack("{s:i,s:f,s:f,s:f,s:i,s:f,s:f,s:f}", "prompt_n", r->n_evaluated, "prompt_ms", r->prompt_ms,
                     "prompt_per_token_ms", pn > 0 ? r->prompt_ms / pn : 0.0, "prompt_per_second",
                     r->prompt_ms > 0 ? pn * 1e3 / r->prompt_ms : 0.0, "predicted_n", r->n_decoded, "predicted_ms",
                     r->predicted_ms, "predicted_per_token_ms", gn > 0 ? r->predicted_ms / gn : 0.0,
                     "predicted_per_second", r->predicted_ms > 0 ? gn * 1e3 / r->predicted_ms : 0.0);
}

static json_t *final_json(struct completion_ctx *c, const struct sched_result *r, const char *content, size_t len)
{
    json_t *j = json_object();
    json_object_set_new(j, "content", json_text(content, len));
    json_object_set_new(j, "id_slot", json_integer(r->id_slot));
    json_object_set_new(j, "stop", json_true());
    json_object_set_new(j, "model", json_string(c->srv->model_name));
    json_object_set_new(j, "tokens_predicted", json_integer(r->n_decoded));
    json_object_set_new(j, "tokens_evaluated", json_integer(r->n_prompt));
    json_object_set_new(j, "generation_settings", json_incref(c->settings));
    json_object_set_new(j, "prompt", c->prompt ? json_incref(c->prompt) : json_string(""));
    json_object_set_new(j, "truncated", json_boolean(r->truncated));
    json_object_set_new(j, "stopped_eos", json_boolean(r->stopped_eos));
    json_object_set_new(j, "stopped_word", json_boolean(r->stopped_word));
    json_object_set_new(j, "stopped_limit", json_boolean(r->stopped_limit));
    json_object_set_new(j, "stopping_word", json_text(r->stopping_word, strlen(r->stopping_word)));
    json_object_set_new(j, "tokens_cached", json_integer(r->n_cached));
    json_object_set_new(j, "timings", timings_json(r));
    if (c->n_probs > 0 && !c->stream)
        json_object_set_new(j, "completion_probabilities", json_incref(c->probs));
    return j;
}

static void on_token(struct completion_ctx *c, const struct sched_event *ev)
{
    json_t *pj = ev->n_probs > 0 ? probs_json(c, ev) : NULL;
    if (!c->stream) {
        append_content(c, ev->text, ev->len);
        if (pj)
            json_array_append_new(c->probs, pj);
        return;
    }
    if (ev->len == 0 && !pj)
        return;
    json_t *j = json_pack("{s:o,s:b,s:b}", "content", json_text(ev->text, ev->len), "stop", 0, "multimodal", 0);
    if (pj)
        json_object_set_new(j, "completion_probabilities", json_pack("[o]", pj));
    sse_send(c, j);
}

static void on_event(void *ud, const struct sched_event *ev)
{
    struct completion_ctx *c = ud;
    if (ev->kind == SCHED_EV_TOKEN) {
        on_token(c, ev);
    } else if (ev->kind == SCHED_EV_DONE) {
        if (c->stream) {
            sse_send(c, final_json(c, ev->result, ev->text, ev->len));
            http_stream_finish(c->out, 200, NULL, NULL, 0);
            return;
        }
        append_content(c, ev->text, ev->len);
        size_t len;
        json_t *j = final_json(c, ev->result, c->content ? c->content : "", c->len);
        char *body = json_dump(j, &len);
        json_decref(j);
        if (body)
            http_stream_finish(c->out, 200, "application/json; charset=utf-8", body, len);
        else
            http_stream_finish(c->out, 500, NULL, "{}", 2);
        free(body);
    } else {
        size_t len;
        char *body = error_body(ev->error_code, ev->error, &len);
        if (c->stream) {
            json_error_t je;
            json_t *e = body ? json_loads(body, 0, &je) : NULL;
            if (e)
                sse_send(c, e);
            http_stream_finish(c->out, ev->error_code, NULL, NULL, 0);
        } else {
            http_stream_finish(c->out, ev->error_code, NULL, body ? body : "{}", body ? len : 2);
        }
        free(body);
    }
}

static bool is_cancelled(void *ud)
{
    struct completion_ctx *c = ud;
    return http_stream_cancelled(c->out);
}

static void release(void *ud)
{
    ctx_free(ud);
}

/* Hand a parsed request to the scheduler; the reply becomes a stream. */
static void submit(struct server *s, struct completion_req *r, struct http_reply *rep)
{
    char err[512];
    struct sampler *smp = sampler_create(s->sv, &r->sp, s->n_ctx_slot, err, sizeof err);
    if (!smp) {
        reply_error(rep, 400, "%s", err);
        return;
    }
    struct completion_ctx *c = calloc(1, sizeof *c);
    struct sched_task *t = sched_task_new(SCHED_COMPLETION);
    struct http_stream *out = http_stream_new(r->stream);
    if (!c || !t || !out) {
        sampler_free(smp);
        free(c);
        sched_task_free(t);
        if (out)
            http_stream_unref(out);
        reply_error(rep, 500, "out of memory");
        return;
    }
    c->srv = s;
    c->out = out;
    http_stream_ref(out); /* one for the reply, one for the task */
    c->stream = r->stream;
    c->n_probs = r->n_probs;
    c->settings = generation_settings(s, r, sampler_seed(smp));
    c->prompt = r->prompt_json ? json_incref(r->prompt_json) : NULL;
    c->probs = json_array();
    c->info = json_pack("{s:O,s:o}", "settings", c->settings, "prompt",
                        c->prompt ? json_incref(c->prompt) : json_string(""));
    t->id_slot = r->id_slot;
    t->prompt = r->prompt.v;
    t->n_prompt = r->prompt.n;
    r->prompt.v = NULL;
    r->prompt.n = r->prompt.cap = 0;
    t->n_predict = r->n_predict;
    t->n_keep = r->n_keep;
    t->cache_prompt = r->cache_prompt;
    t->stop = r->stop;
    t->n_stop = r->n_stop;
    r->stop = NULL;
    r->n_stop = 0;
    t->n_probs = r->n_probs;
    t->sampler = smp;
    t->on_event = on_event;
    t->is_cancelled = is_cancelled;
    t->release = release;
    t->ud = c;
    t->info = c->info;
    rep->stream = out;
    sched_submit(s->sched, t);
}

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
            submit(s, &r, rep);
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
        submit(s, &r, rep);
    completion_req_free(&r);
    json_decref(body);
}
