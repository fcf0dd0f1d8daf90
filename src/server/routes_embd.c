/*
 * routes_embd.c - POST /embedding (llama.cpp's) and POST /v1/embeddings
 * (OpenAI's): each input becomes a SCHED_EMBED task; the pooled vectors are
 * L2-normalized and returned as floats or, with encoding_format "base64",
 * as the base64 of their little-endian float32 bytes. Needs --embeddings.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

struct embd_group {
    struct server *srv;
    struct http_stream *out;
    bool oai, base64;
    int n, n_done, n_released;
    bool failed;
    json_t **vec;      /* per input: the embedding (array, or array of arrays) */
    int64_t n_tokens;
};

struct embd_member {
    struct embd_group *g;
    int index;
};

static void group_free(struct embd_group *g)
{
    for (int i = 0; i < g->n; i++)
        json_decref(g->vec[i]);
    free(g->vec);
    if (g->out)
        http_stream_unref(g->out);
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

/* One normalized vector as a JSON array or base64 string. */
static json_t *vector_json(const float *x, int32_t n, bool b64)
{
    double ss = 0;
    for (int32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
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

static void finish(struct embd_group *g)
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
    char *s = body ? json_dump(body, &len) : NULL;
    json_decref(body);
    http_stream_finish(g->out, s ? 200 : 500, "application/json; charset=utf-8", s ? s : "{}", s ? len : 2);
    free(s);
}

static void on_event(void *ud, const struct sched_event *ev)
{
    struct embd_member *m = ud;
    struct embd_group *g = m->g;
    if (g->failed)
        return;
    if (ev->kind == SCHED_EV_ERROR) {
        g->failed = true;
        size_t len;
        char *b = error_body(ev->error_code, ev->error, &len);
        http_stream_finish(g->out, ev->error_code, NULL, b ? b : "{}", b ? len : 2);
        free(b);
        return;
    }
    if (ev->kind != SCHED_EV_DONE)
        return;
    const struct sched_result *r = ev->result;
    if (r->n_rows == 1) {
        g->vec[m->index] = vector_json(r->embd, r->n_embd, g->base64);
    } else {
        g->vec[m->index] = json_array();
        for (int32_t k = 0; k < r->n_rows; k++)
            json_array_append_new(g->vec[m->index],
                                  vector_json(r->embd + (size_t)k * r->n_embd, r->n_embd, g->base64));
    }
    g->n_tokens += r->n_prompt;
    if (++g->n_done == g->n)
        finish(g);
}

static bool is_cancelled(void *ud)
{
    struct embd_member *m = ud;
    return m->g->failed || http_stream_cancelled(m->g->out);
}

static void release(void *ud)
{
    struct embd_member *m = ud;
    struct embd_group *g = m->g;
    free(m);
    if (++g->n_released == g->n)
        group_free(g);
}

/* Inputs: a string, token ids, or an array of strings / token-id arrays. */
static int collect_inputs(struct server *s, const json_t *in, struct tok_list **lists, int *n, char *err, size_t en)
{
    bool many = json_is_array(in) && json_array_size(in) > 0 &&
                (json_is_string(json_array_get(in, 0)) || json_is_array(json_array_get(in, 0)));
    size_t count = many ? json_array_size(in) : 1;
    if (!json_is_string(in) && !json_is_array(in)) {
        snprintf(err, en, "the input must be a string, an array of strings, or token ids");
        return -1;
    }
    if (count > 256) {
        snprintf(err, en, "at most 256 inputs per request");
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
            snprintf(err, en, "input %zu must be a string or an array of token ids", i);
            return -1;
        }
        json_array_foreach(x, k, t) {
            if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= s->vocab->n_tokens) {
                snprintf(err, en, "input %zu: element %zu is not a valid token id", i, k);
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

static void embed(struct server *s, const struct http_request *req, struct http_reply *rep, bool oai)
{
    if (!s->p->embeddings) {
        reply_error(rep, 501, "This server does not support embeddings. Start it with `--embeddings`");
        return;
    }
    json_t *b = parse_body(req, rep);
    if (!b)
        return;
    const json_t *in = json_object_get(b, oai ? "input" : "content");
    if (!in && !oai)
        in = json_object_get(b, "input");
    const char *fmt = json_string_value(json_object_get(b, "encoding_format"));
    struct tok_list *lists = NULL;
    int n = 0;
    char err[256];
    struct embd_group *g = NULL;
    if (!in) {
        reply_error(rep, 400, "'%s' is required", oai ? "input" : "content");
    } else if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0) {
        reply_error(rep, 400, "'encoding_format' must be float or base64");
    } else if (collect_inputs(s, in, &lists, &n, err, sizeof err) != 0) {
        reply_error(rep, 400, "%s", err);
    } else if (!(g = calloc(1, sizeof *g)) || !(g->vec = calloc((size_t)n, sizeof *g->vec)) ||
               !(g->out = http_stream_new(false))) {
        reply_error(rep, 500, "out of memory");
    } else {
        g->srv = s;
        g->oai = oai;
        g->base64 = fmt && strcmp(fmt, "base64") == 0;
        g->n = n;
        http_stream_ref(g->out);
        rep->stream = g->out;
        for (int i = 0; i < n; i++) {
            struct sched_task *t = sched_task_new(SCHED_EMBED);
            struct embd_member *m = malloc(sizeof *m);
            *m = (struct embd_member){g, i};
            t->prompt = lists[i].v;
            t->n_prompt = lists[i].n;
            lists[i].v = NULL;
            t->pooling = pooling_of(s);
            t->on_event = on_event;
            t->is_cancelled = is_cancelled;
            t->release = release;
            t->ud = m;
            sched_submit(s->sched, t);
        }
        g = NULL;
    }
    if (g)
        group_free(g);
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
