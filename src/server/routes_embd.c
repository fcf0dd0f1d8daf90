/*
 * routes_embd.c - POST /embedding (llama.cpp's) and POST /v1/embeddings
 * (OpenAI's): each input becomes a SCHED_EMBED task; the pooled vectors are
 * normalized (L2 unless --embd-normalize or the request's embd_normalize
 * says otherwise, as llama-server's common_embd_normalize) and returned as
 * floats or, with encoding_format "base64", as the base64 of their
 * little-endian float32 bytes. Needs --embeddings.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "server/server_internal.h"

/* One request: its n inputs' tasks post to one queue; the stream's producer
 * (on an HTTP thread) turns each result into its vector, and answers when
 * all are in. */
struct embd_group {
    struct server *srv;
    struct sched_events *q;
    bool oai, base64;
    int norm; /* -1 none, 0 max-abs to int16, 1 taxicab, 2 euclidean, > 2 p-norm */
    int n, n_done;
    json_t **vec;      /* per input: the embedding (array, or array of arrays) */
    int64_t n_tokens;
};

static void group_free(struct embd_group *g)
{
    for (int i = 0; g->vec && i < g->n; i++)
        json_decref(g->vec[i]);
    free(g->vec);
    free(g);
}

static char *base64(const unsigned char *p, size_t n)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = T[v >> 18 & 63];
        *o++ = T[v >> 12 & 63];
        *o++ = i + 1 < n ? T[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? T[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* llama-server's common_embd_normalize: the divisor of a vector. */
static double norm_of(const float *x, int32_t n, int norm)
{
    double sum = 0;
    if (norm < 0)
        return 1.0;
    if (norm == 0) { /* max absolute value, scaled to the int16 range */
        for (int32_t i = 0; i < n; i++)
            sum = fabs(x[i]) > sum ? fabs(x[i]) : sum;
        return sum / 32760.0;
    }
    if (norm == 2) {
        for (int32_t i = 0; i < n; i++)
            sum += (double)x[i] * x[i];
        return sqrt(sum);
    }
    for (int32_t i = 0; i < n; i++) /* p-norm (1: taxicab) */
        sum += pow(fabs(x[i]), norm);
    return pow(sum, 1.0 / norm);
}

/* One normalized vector as a JSON array or base64 string. */
static json_t *vector_json(const float *x, int32_t n, bool b64, int norm)
{
    double d = norm_of(x, n, norm);
    float inv = d > 0 ? (float)(1.0 / d) : 0.0f;
    float *y = malloc((size_t)n * sizeof *y);
    if (!y)
        return NULL;
    for (int32_t i = 0; i < n; i++)
        y[i] = x[i] * inv;
    json_t *j;
    if (b64) {
        char *s = base64((const unsigned char *)y, (size_t)n * sizeof *y); /* x86: little-endian */
        j = s ? json_string(s) : NULL;
        free(s);
    } else {
        j = json_array();
        for (int32_t i = 0; i < n; i++)
            json_array_append_new(j, json_real(y[i]));
    }
    free(y);
    return j;
}

static void finish(struct embd_group *g, struct http_stream *out)
{
    json_t *body;
    if (g->oai) {
        json_t *data = json_array();
        for (int i = 0; i < g->n; i++)
            json_array_append_new(data, json_pack("{s:s,s:i,s:O}", "object", "embedding", "index", i, "embedding",
                                                  g->vec[i]));
        body = json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", g->srv->model_name,
                         "usage", "prompt_tokens", (json_int_t)g->n_tokens, "total_tokens", (json_int_t)g->n_tokens);
    } else if (g->n == 1) {
        body = json_pack("{s:O}", "embedding", g->vec[0]);
    } else {
        body = json_array();
        for (int i = 0; i < g->n; i++)
            json_array_append_new(body, json_pack("{s:i,s:O}", "index", i, "embedding", g->vec[i]));
    }
    size_t len;
    char *s = body ? srv_json_dump(body, &len) : NULL;
    json_decref(body);
    http_stream_finish(out, s ? 200 : 500, "application/json; charset=utf-8", s ? s : "{}", s ? len : 2);
    free(s);
}

/* Store one input's result; 0, or -1 out of memory. */
static int take_result(struct embd_group *g, const struct sched_event *ev)
{
    const struct sched_result *r = &ev->result;
    json_t **slot = &g->vec[ev->index];
    if (*slot)
        return 0;
    if (r->n_rows == 1) {
        *slot = vector_json(r->embd, r->n_embd, g->base64, g->norm);
    } else if ((*slot = json_array())) {
        for (int32_t k = 0; k < r->n_rows; k++)
            json_array_append_new(*slot, vector_json(r->embd + (size_t)k * r->n_embd, r->n_embd, g->base64, g->norm));
    }
    g->n_tokens += r->n_prompt;
    g->n_done++;
    return *slot ? 0 : -1;
}

static void produce(void *ud, struct http_stream *out)
{
    struct embd_group *g = ud;
    struct sched_event *ev;
    while (g->n_done < g->n && (ev = sched_events_pop(g->q))) {
        int code = 0;
        const char *msg = NULL;
        if (ev->kind == SCHED_EV_ERROR)
            code = ev->error_code, msg = ev->error ? ev->error : "error";
        else if (ev->kind == SCHED_EV_DONE && ev->index >= 0 && ev->index < g->n && take_result(g, ev) != 0)
            code = 500, msg = "out of memory";
        if (code) {
            size_t len;
            char *b = srv_error_body(code, msg, &len);
            http_stream_finish(out, code, NULL, b ? b : "{}", b ? len : 2);
            free(b);
            sched_event_free(ev);
            sched_events_cancel(g->q);
            return;
        }
        sched_event_free(ev);
    }
    if (g->n_done == g->n)
        finish(g, out);
}

static void release(void *ud)
{
    struct embd_group *g = ud;
    if (g->q) {
        sched_events_cancel(g->q);
        sched_events_unref(g->q);
    }
    group_free(g);
}

static void notify(void *ud)
{
    http_stream_wake(ud);
}

/* Inputs: a string, token ids, or an array of strings / token-id arrays. */
static int collect_inputs(struct server *s, const json_t *in, struct tok_list **lists, int *n, char *err, size_t en)
{
    bool many = json_is_array(in) && json_array_size(in) > 0 &&
                (json_is_string(json_array_get(in, 0)) || json_is_array(json_array_get(in, 0)));
    size_t count = many ? json_array_size(in) : 1;
    if (!json_is_string(in) && !json_is_array(in)) {
        err_set(err, en, "the input must be a string, an array of strings, or token ids");
        return -1;
    }
    if (count > 256) {
        err_set(err, en, "at most 256 inputs per request");
        return -1;
    }
    *lists = calloc(count ? count : 1, sizeof **lists);
    *n = (int)count;
    for (size_t i = 0; i < count; i++) {
        const json_t *x = many ? json_array_get(in, i) : in;
        if (json_is_string(x)) {
            tokenize_list(s->vocab, json_string_value(x), json_string_length(x), true, true, &(*lists)[i]);
            continue;
        }
        size_t k;
        const json_t *t;
        if (!json_is_array(x)) {
            err_set(err, en, "input %zu must be a string or an array of token ids", i);
            return -1;
        }
        json_array_foreach(x, k, t) {
            if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= s->vocab->n_tokens) {
                err_set(err, en, "input %zu: element %zu is not a valid token id", i, k);
                return -1;
            }
            tok_list_push(&(*lists)[i], (int32_t)json_integer_value(t));
        }
    }
    return 0;
}

static enum sched_pooling pooling_of(const struct server *s)
{
    const char *p = s->p->pooling;
    if (!p || strcmp(p, "mean") == 0)
        return POOL_MEAN;
    if (strcmp(p, "cls") == 0)
        return POOL_CLS;
    if (strcmp(p, "last") == 0)
        return POOL_LAST;
    return POOL_NONE;
}

/* One task per input, all posting to one queue that the stream drains. */
static void submit(struct server *s, struct tok_list *lists, int n, bool oai, bool b64, int norm,
                   struct http_reply *rep)
{
    struct embd_group *g = calloc(1, sizeof *g);
    struct sched_task **tasks = calloc((size_t)n, sizeof *tasks);
    struct http_stream *out = NULL;
    if (!g || !tasks || !(g->vec = calloc((size_t)n, sizeof *g->vec))) {
        if (g)
            group_free(g);
        free(tasks);
        srv_reply_error(rep, 500, "out of memory");
        return;
    }
    *g = (struct embd_group){.srv = s, .oai = oai, .base64 = b64, .norm = norm, .n = n, .vec = g->vec};
    bool ok = (out = http_stream_new(false, produce, release, g)) != NULL; /* owns g from here */
    if (!out)
        group_free(g);
    ok = ok && (g->q = sched_events_new(notify, out)) != NULL;
    for (int i = 0; ok && i < n; i++) {
        if (!(tasks[i] = sched_task_new(SCHED_EMBED))) {
            ok = false;
            break;
        }
        tasks[i]->prompt = lists[i].v;
        tasks[i]->n_prompt = lists[i].n;
        lists[i].v = NULL;
        tasks[i]->pooling = pooling_of(s);
        tasks[i]->index = i;
        sched_task_set_events(tasks[i], g->q);
    }
    for (int i = 0; i < n; i++) {
        if (ok)
            sched_submit(s->sched, tasks[i]);
        else if (tasks[i])
            sched_task_free(tasks[i]);
    }
    if (ok) {
        rep->stream = out;
    } else {
        if (out)
            http_stream_unref(out);
        srv_reply_error(rep, 500, "out of memory");
    }
    free(tasks);
}

static void embed(struct server *s, const struct http_request *req, struct http_reply *rep, bool oai)
{
    if (!s->p->embeddings) {
        srv_reply_error(rep, 501, "This server does not support embeddings. Start it with `--embeddings`");
        return;
    }
    json_t *b = srv_parse_body(req, rep);
    if (!b)
        return;
    const json_t *in = json_object_get(b, oai ? "input" : "content");
    if (!in && !oai)
        in = json_object_get(b, "input");
    const char *fmt = json_string_value(json_object_get(b, "encoding_format"));
    struct tok_list *lists = NULL;
    int n = 0;
    char err[256];
    const json_t *jn = json_object_get(b, "embd_normalize"); /* the request's own, as llama-server */
    int norm = s->p->embd_normalize;
    if (jn && !json_is_null(jn) && json_is_integer(jn))
        norm = (int)json_integer_value(jn);
    if (jn && !json_is_null(jn) && (!json_is_integer(jn) || norm < -1 || norm > 64)) {
        srv_reply_error(rep, 400, "'embd_normalize' must be an integer from -1 to 64");
    } else if (!in) {
        srv_reply_error(rep, 400, "'%s' is required", oai ? "input" : "content");
    } else if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0) {
        srv_reply_error(rep, 400, "'encoding_format' must be float or base64");
    } else if (collect_inputs(s, in, &lists, &n, err, sizeof err) != 0) {
        srv_reply_error(rep, 400, "%s", err);
    } else {
        submit(s, lists, n, oai, fmt && strcmp(fmt, "base64") == 0, norm, rep);
    }
    for (int i = 0; i < n; i++)
        tok_list_free(&lists[i]);
    free(lists);
    json_decref(b);
}

void route_embedding(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    embed(s, req, rep, false);
}

void route_oai_embeddings(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    embed(s, req, rep, true);
}
