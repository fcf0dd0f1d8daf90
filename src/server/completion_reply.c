/*
 * completion_reply.c - a request's choices in flight and their answer (see
 * completion_reply.h).
 *
 * Threads and lifetime. The scheduler thread only pushes raw events into the
 * request's queue; the queue's notify wakes the HTTP stream (a pull stream,
 * http.h). Everything else here - popping the events, the token pieces,
 * logprobs, the JSON and SSE text - runs in the stream's produce callback on
 * a libmicrohttpd thread, one call at a time, so the group needs no lock.
 * The group lives as long as the stream: the stream's release callback
 * (exactly once, when the connection is over) cancels the queue, so that the
 * scheduler drops the tasks still running, and frees the group.
 */
#include "server/completion_reply.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sbuf.h"
#include "grammar/grammar.h"
#include "server/server_internal.h"

struct choice {
    struct sbuf content; /* non-streaming: the text so far */
    json_t *probs;       /* non-streaming: native completion_probabilities, or OpenAI logprobs entries */
    struct sched_result r;
    char *stopping_word;
    bool done, started;
};

struct group {
    struct server *srv;
    struct sched_events *q;
    enum request_api api;
    bool stream, logprobs, include_usage;
    int n_choices, n_done;
    int32_t n_probs;
    json_t *settings, *prompt;
    json_t *response_fields; /* native: the members to keep (NULL: all) */
    char *model;
    char id[48];
    long long created;
    struct choice *ch;
    /* what one produce call has made */
    struct sbuf sse;
    int end_status;   /* 0 until the answer is complete or failed */
    char *end_body;   /* plain answers: the body */
    size_t end_len;
};

static bool native(const struct group *g)
{
    return g->api == REQ_API_NATIVE || g->api == REQ_API_INFILL;
}

static void group_free(struct group *g)
{
    for (int i = 0; g->ch && i < g->n_choices; i++) {
        sbuf_free(&g->ch[i].content);
        free(g->ch[i].stopping_word);
        json_decref(g->ch[i].probs);
    }
    json_decref(g->settings);
    json_decref(g->prompt);
    json_decref(g->response_fields);
    sbuf_free(&g->sse);
    free(g->end_body);
    free(g->model);
    free(g->ch);
    free(g);
}

/* ------------------------------------------------------------ pieces */

static int64_t piece(struct server *s, int32_t tok, char *buf, size_t size)
{
    int64_t n = token_to_piece(s->vocab, tok, buf, size, 0, true);
    return n < 0 || n > (int64_t)size ? 0 : n;
}

static json_t *piece_json(struct server *s, int32_t tok)
{
    char buf[256];
    return srv_json_text(buf, (size_t)piece(s, tok, buf, sizeof buf));
}

static json_t *bytes_json(struct server *s, int32_t tok)
{
    char buf[256];
    int64_t n = piece(s, tok, buf, sizeof buf);
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((unsigned char)buf[i]));
    return a;
}

static double logp(float p)
{
    return p > 0 ? log((double)p) : -1e30;
}

/* Native: {"content": piece, "probs": [{"tok_str", "prob"}]}. */
static json_t *native_probs(struct server *s, const struct sched_event *ev)
{
    json_t *arr = json_array();
    for (int32_t i = 0; i < ev->n_probs; i++)
        json_array_append_new(arr, json_pack("{s:i,s:o,s:f}", "id", ev->probs[i].token, "tok_str",
                                             piece_json(s, ev->probs[i].token), "prob", (double)ev->probs[i].prob));
    /* the seed's {content, probs: [{tok_str, prob}]}, with llama-server's ids */
    return json_pack("{s:i,s:o,s:o}", "id", ev->token, "content", piece_json(s, ev->token), "probs", arr);
}

/* OpenAI chat: {"token", "logprob", "bytes", "top_logprobs": [...]}. */
static json_t *chat_logprob(struct server *s, const struct sched_event *ev, int32_t n_top)
{
    json_t *top = json_array();
    for (int32_t i = 0; i < ev->n_probs && i < n_top; i++)
        json_array_append_new(top, json_pack("{s:i,s:o,s:f,s:o}", "id", ev->probs[i].token, "token",
                                             piece_json(s, ev->probs[i].token), "logprob", logp(ev->probs[i].prob),
                                             "bytes", bytes_json(s, ev->probs[i].token)));
    return json_pack("{s:i,s:o,s:f,s:o,s:o}", "id", ev->token, "token", piece_json(s, ev->token), "logprob",
                     logp(ev->token_prob), "bytes", bytes_json(s, ev->token), "top_logprobs", top);
}

/* ------------------------------------------------------------ SSE */

/* "data: {json}\n\n" into this call's output (obj's reference taken). */
static void sse_data(struct group *g, json_t *obj)
{
    if (!obj)
        return;
    sbuf_puts(&g->sse, "data: ");
    srv_json_append(&g->sse, obj);
    sbuf_puts(&g->sse, "\n\n");
    json_decref(obj);
}

static const char *finish_reason(const struct sched_result *r)
{
    return r->stopped_limit ? "length" : "stop";
}

static json_t *oai_envelope(struct group *g, json_t *choices)
{
    const char *object = g->api == REQ_API_OAI_CHAT ? (g->stream ? "chat.completion.chunk" : "chat.completion")
                                                    : "text_completion";
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:s}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->model, "choices", choices, "system_fingerprint", "cllm");
}

/* One streamed OpenAI chunk for choice i: text (may be empty), logprobs
 * entry (or NULL), finish reason (or NULL). */
static void oai_chunk(struct group *g, int i, const char *text, size_t len, json_t *lp, const char *finish)
{
    if (g->api == REQ_API_OAI_CHAT && !g->ch[i].started) {
        /* llama-server (and OpenAI): a first chunk with the role alone */
        sse_data(g, oai_envelope(g, json_pack("[{s:i,s:{s:s,s:n},s:n,s:n}]", "index", i, "delta", "role",
                                              "assistant", "content", "logprobs", "finish_reason")));
        g->ch[i].started = true;
        if (len == 0 && !lp && !finish)
            return;
    }
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(i));
    if (g->api == REQ_API_OAI_CHAT) {
        json_t *delta = json_object();
        if (len > 0 || !finish)
            json_object_set_new(delta, "content", srv_json_text(text, len));
        json_object_set_new(c, "delta", delta);
    } else {
        json_object_set_new(c, "text", srv_json_text(text, len));
    }
    json_object_set_new(c, "logprobs", lp ? json_pack("{s:[o]}", "content", lp) : json_null());
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    g->ch[i].started = true;
    sse_data(g, oai_envelope(g, json_pack("[o]", c)));
}

/* ------------------------------------------------------------ final answers */

static json_t *timings_json(const struct sched_result *r)
{
    return json_pack("{s:i,s:i,s:f,s:f,s:f,s:i,s:f,s:f,s:f}", "cache_n", r->n_cached, "prompt_n", r->n_evaluated,
                     "prompt_ms", r->prompt_ms,
                     "prompt_per_token_ms", r->n_evaluated > 0 ? r->prompt_ms / r->n_evaluated : 0.0,
                     "prompt_per_second", r->prompt_ms > 0 ? r->n_evaluated * 1e3 / r->prompt_ms : 0.0,
                     "predicted_n", r->n_decoded, "predicted_ms", r->predicted_ms, "predicted_per_token_ms",
                     r->n_decoded > 0 ? r->predicted_ms / r->n_decoded : 0.0, "predicted_per_second",
                     r->predicted_ms > 0 ? r->n_decoded * 1e3 / r->predicted_ms : 0.0);
}

/* llama-server's response_fields: only the members at the given paths
 * ("a/b"), each under its path as the key; paths not found are left out.
 * Takes j. */
static json_t *pick_fields(json_t *j, const json_t *paths)
{
    json_t *out = json_object();
    size_t i;
    const json_t *p;
    json_array_foreach(paths, i, p) {
        const char *path = json_string_value(p);
        const json_t *cur = j;
        char key[256];
        for (const char *s = path; cur && *s;) {
            size_t len = strcspn(s, "/");
            snprintf(key, sizeof key, "%.*s", (int)len, s);
            cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
            s += len + (s[len] == '/');
        }
        if (cur)
            json_object_set(out, path, (json_t *)cur);
    }
    json_decref(j);
    return out;
}

static json_t *native_final(struct group *g, const struct choice *c, const char *content, size_t len)
{
    const struct sched_result *r = &c->r;
    json_t *j = json_object();
    json_object_set_new(j, "content", srv_json_text(content, len));
    json_object_set_new(j, "id_slot", json_integer(r->id_slot));
    json_object_set_new(j, "stop", json_true());
    json_object_set_new(j, "model", json_string(g->srv->model_name));
    json_object_set_new(j, "tokens_predicted", json_integer(r->n_decoded));
    json_object_set_new(j, "tokens_evaluated", json_integer(r->n_prompt));
    json_object_set_new(j, "generation_settings", json_incref(g->settings));
    json_object_set_new(j, "prompt", g->prompt ? json_incref(g->prompt) : json_string(""));
    json_object_set_new(j, "truncated", json_boolean(r->truncated));
    json_object_set_new(j, "stopped_eos", json_boolean(r->stopped_eos));
    json_object_set_new(j, "stopped_word", json_boolean(r->stopped_word));
    json_object_set_new(j, "stopped_limit", json_boolean(r->stopped_limit));
    const char *sw = c->stopping_word ? c->stopping_word : "";
    json_object_set_new(j, "stopping_word", srv_json_text(sw, strlen(sw)));
    json_object_set_new(j, "tokens_cached", json_integer(r->n_cached));
    json_object_set_new(j, "timings", timings_json(r));
    /* llama-server's other members */
    json_object_set_new(j, "index", json_integer(c - g->ch));
    json_object_set_new(j, "tokens", json_array());
    json_object_set_new(j, "has_new_line", json_boolean(memchr(content, '\n', len) != NULL));
    json_object_set_new(j, "stop_type", json_string(r->stopped_eos ? "eos" : r->stopped_word ? "word"
                                                    : r->stopped_limit ? "limit" : "none"));
    if (g->n_probs > 0 && !g->stream)
        json_object_set_new(j, "completion_probabilities", json_incref(c->probs));
    return g->response_fields ? pick_fields(j, g->response_fields) : j;
}

static json_t *usage_json(struct group *g)
{
    json_int_t completion = 0;
    for (int i = 0; i < g->n_choices; i++)
        completion += g->ch[i].r.n_decoded;
    json_int_t prompt = g->ch[0].r.n_prompt;
    return json_pack("{s:I,s:I,s:I,s:{s:i}}", "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion, "prompt_tokens_details", "cached_tokens",
                     g->ch[0].r.n_cached);
}

/* Legacy completions' logprobs: tokens, token_logprobs, top_logprobs,
 * text_offset, from the chat-style entries. */
static json_t *legacy_logprobs(const json_t *entries)
{
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t i, off = 0;
    const json_t *e;
    json_array_foreach(entries, i, e) {
        json_t *tok = json_object_get(e, "token");
        json_array_append(tokens, tok);
        json_array_append(lps, json_object_get(e, "logprob"));
        json_t *top = json_object();
        size_t k;
        const json_t *t;
        json_array_foreach(json_object_get(e, "top_logprobs"), k, t)
            json_object_set(top, json_string_value(json_object_get(t, "token")), json_object_get(t, "logprob"));
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += json_string_length(tok);
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

static json_t *oai_final(struct group *g)
{
    json_t *choices = json_array();
    for (int i = 0; i < g->n_choices; i++) {
        struct choice *c = &g->ch[i];
        json_t *text = srv_json_text(sbuf_str(&c->content), c->content.len);
        json_t *lp = !g->logprobs ? json_null()
                     : g->api == REQ_API_OAI_CHAT ? json_pack("{s:O}", "content", c->probs)
                                                  : legacy_logprobs(c->probs);
        json_t *o = g->api == REQ_API_OAI_CHAT
                        ? json_pack("{s:i,s:{s:s,s:o},s:o,s:s}", "index", i, "message", "role", "assistant",
                                    "content", text, "logprobs", lp, "finish_reason", finish_reason(&c->r))
                        : json_pack("{s:i,s:o,s:o,s:s}", "index", i, "text", text, "logprobs", lp,
                                    "finish_reason", finish_reason(&c->r));
        json_array_append_new(choices, o);
    }
    json_t *j = oai_envelope(g, choices);
    json_object_set_new(j, "usage", usage_json(g));
    json_object_set_new(j, "timings", timings_json(&g->ch[0].r));
    if (g->srv->p->verbose) /* llama-server under -v: the native answer too */
        json_object_set_new(j, "__verbose", native_final(g, &g->ch[0], sbuf_str(&g->ch[0].content),
                                                         g->ch[0].content.len));
    return j;
}

/* Every choice is done: the answer (non-streaming) or the stream's end. */
static void group_complete(struct group *g)
{
    g->end_status = 200;
    if (g->stream) {
        if (!native(g)) {
            if (g->include_usage) {
                json_t *j = oai_envelope(g, json_array());
                json_object_set_new(j, "usage", usage_json(g));
                sse_data(g, j);
            }
            sbuf_puts(&g->sse, "data: [DONE]\n\n");
        }
        return;
    }
    json_t *j = native(g) ? native_final(g, &g->ch[0], sbuf_str(&g->ch[0].content), g->ch[0].content.len)
                          : oai_final(g);
    g->end_body = srv_json_dump(j, &g->end_len);
    json_decref(j);
    if (!g->end_body)
        g->end_status = 500;
}

/* ------------------------------------------------------------ events */

static void on_token(struct group *g, const struct sched_event *ev)
{
    struct choice *c = &g->ch[ev->index];
    json_t *pj = NULL;
    if (ev->n_probs > 0)
        pj = native(g) ? native_probs(g->srv, ev) : chat_logprob(g->srv, ev, g->n_probs);
    if (!g->stream) {
        sbuf_append(&c->content, ev->text, ev->len);
        if (pj)
            json_array_append_new(c->probs, pj);
        return;
    }
    if (!native(g)) {
        if (!g->logprobs) {
            json_decref(pj);
            pj = NULL;
        }
        if (ev->len > 0 || pj || !c->started)
            oai_chunk(g, ev->index, ev->text, ev->len, pj, NULL);
        else
            json_decref(pj);
        return;
    }
    if (ev->len == 0 && !pj)
        return;
    json_t *j = json_pack("{s:o,s:b,s:b}", "content", srv_json_text(ev->text, ev->len), "stop", 0, "multimodal", 0);
    if (pj)
        json_object_set_new(j, "completion_probabilities", json_pack("[o]", pj));
    sse_data(g, j);
}

static void on_done(struct group *g, struct sched_event *ev)
{
    struct choice *c = &g->ch[ev->index];
    if (c->done)
        return;
    c->r = ev->result;
    c->stopping_word = ev->result.stopping_word; /* taken from the event */
    ev->result.stopping_word = NULL;
    c->r.stopping_word = NULL;
    c->r.embd = NULL;
    c->done = true;
    g->n_done++;
    if (!g->stream)
        sbuf_append(&c->content, ev->text, ev->len);
    else if (native(g))
        sse_data(g, native_final(g, c, ev->text, ev->len));
    else
        oai_chunk(g, ev->index, ev->text, ev->len, NULL, finish_reason(&c->r));
    if (g->n_done == g->n_choices)
        group_complete(g);
}

/* One choice failed: the whole answer is that error; the others stop. */
static void on_error(struct group *g, const struct sched_event *ev)
{
    sched_events_cancel(g->q);
    const char *msg = ev->error ? ev->error : "error";
    size_t len = 0;
    char *body = srv_error_body(ev->error_code, msg, &len);
    g->end_status = ev->error_code;
    if (g->stream) {
        if (body) {
            sbuf_puts(&g->sse, "data: ");
            sbuf_append(&g->sse, body, len);
            sbuf_puts(&g->sse, "\n\n");
        }
        free(body);
    } else {
        g->end_body = body;
        g->end_len = len;
    }
}

/* The stream's producer: drain the queue, format, hand over. */
static void produce(void *ud, struct http_stream *out)
{
    struct group *g = ud;
    struct sched_event *ev;
    while (!g->end_status && (ev = sched_events_pop(g->q))) {
        if (ev->index < 0 || ev->index >= g->n_choices)
            ; /* not ours */
        else if (ev->kind == SCHED_EV_TOKEN)
            on_token(g, ev);
        else if (ev->kind == SCHED_EV_DONE)
            on_done(g, ev);
        else
            on_error(g, ev);
        sched_event_free(ev);
    }
    if (g->sse.len > 0) {
        http_stream_write(out, sbuf_str(&g->sse), g->sse.len);
        sbuf_clear(&g->sse);
    }
    if (g->end_status) {
        if (g->end_body)
            http_stream_finish(out, g->end_status, "application/json; charset=utf-8", g->end_body, g->end_len);
        else
            http_stream_finish(out, g->end_status, NULL, "{}", 2);
    }
}

/* The connection is over (exactly once): stop what still runs, free all. */
static void release(void *ud)
{
    struct group *g = ud;
    if (g->q) {
        sched_events_cancel(g->q); /* no notify after this: the stream can go */
        sched_events_unref(g->q);
    }
    group_free(g);
}

/* The queue's notify: from the scheduler thread, under the queue's mutex. */
static void notify(void *ud)
{
    http_stream_wake(ud);
}

/* ------------------------------------------------------------ submission */

static struct group *group_new(struct server *s, const struct completion_req *r)
{
    struct group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->srv = s;
    g->api = r->api;
    g->stream = r->stream;
    g->logprobs = r->logprobs;
    g->include_usage = r->include_usage;
    g->n_choices = r->n_choices;
    g->n_probs = r->sp.n_probs;
    g->ch = calloc((size_t)g->n_choices, sizeof *g->ch);
    g->model = strdup(s->model_name);
    if (!g->ch || !g->model) {
        group_free(g);
        return NULL;
    }
    for (int i = 0; i < g->n_choices; i++)
        g->ch[i].probs = json_array();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g->created = (long long)ts.tv_sec;
    snprintf(g->id, sizeof g->id, "%s-%lld%09ld", g->api == REQ_API_OAI_CHAT ? "chatcmpl" : "cmpl",
             (long long)ts.tv_sec, ts.tv_nsec);
    g->prompt = r->prompt_json ? json_incref(r->prompt_json) : NULL;
    g->response_fields = r->response_fields ? json_incref(r->response_fields) : NULL;
    return g;
}

/* The task of choice i (a copy of the prompt and stop strings for all but
 * the last, which takes r's). */
static struct sched_task *make_task(struct group *g, struct completion_req *r, struct sampler *smp, int i,
                                    const char *info)
{
    struct sched_task *t = sched_task_new(SCHED_COMPLETION);
    if (!t)
        return NULL;
    bool last = i == g->n_choices - 1;
    t->id_slot = g->n_choices == 1 ? r->id_slot : -1;
    t->n_prompt = r->prompt.n;
    t->prompt = last ? r->prompt.v : malloc(r->prompt.n * sizeof *t->prompt);
    t->stop = last ? r->stop : calloc(r->n_stop ? r->n_stop : 1, sizeof *t->stop);
    t->n_stop = r->n_stop;
    t->info = info ? strdup(info) : NULL;
    if (!last && (!t->prompt || !t->stop)) {
        t->n_stop = 0;
        sched_task_free(t);
        return NULL;
    }
    if (last) {
        r->prompt.v = NULL;
        r->prompt.n = r->prompt.cap = 0;
        r->stop = NULL;
        r->n_stop = r->stop_cap = 0;
    } else {
        memcpy(t->prompt, r->prompt.v, r->prompt.n * sizeof *t->prompt);
        for (size_t k = 0; k < r->n_stop; k++)
            t->stop[k] = strdup(r->stop[k]);
    }
    t->sampler = smp;
    t->n_predict = r->n_predict;
    t->t_max_predict_ms = r->t_max_predict_ms;
    t->n_keep = r->n_keep;
    t->cache_prompt = r->cache_prompt;
    t->prompt_must_fit = !r->truncate;
    t->n_probs = r->sp.n_probs;
    t->index = i;
    sched_task_set_events(t, g->q);
    return t;
}

/* The samplers of the n choices (all sharing r's compiled grammar), the
 * settings echo and the /slots text. */
static int make_samplers(struct server *s, const struct request_ctx *c, struct completion_req *r,
                         struct sampler **smp, struct group *g, char **info, char *err, size_t n)
{
    for (int i = 0; i < r->n_choices; i++) {
        struct sampler_params sp = r->sp;
        if (i > 0 && sp.seed != SAMPLER_SEED_RANDOM)
            sp.seed = r->seed_used + (uint32_t)i; /* distinct but reproducible choices */
        if (!(smp[i] = sampler_create(s->sv, &sp, s->n_ctx_slot, err, n)))
            return -1;
        if (i == 0)
            r->seed_used = sampler_seed(smp[0]);
    }
    g->settings = request_settings_json(r, c);
    json_t *j = json_pack("{s:O,s:o}", "settings", g->settings, "prompt",
                          g->prompt ? json_incref(g->prompt) : json_string(""));
    *info = j ? srv_json_dump(j, NULL) : NULL;
    json_decref(j);
    return 0;
}

void completion_submit(struct server *s, const struct request_ctx *c, struct completion_req *r,
                       struct http_reply *rep)
{
    char err[512], *info = NULL;
    int n = r->n_choices;
    struct sampler **smp = calloc((size_t)n, sizeof *smp);
    struct sched_task **tasks = calloc((size_t)n, sizeof *tasks);
    struct group *g = smp && tasks ? group_new(s, r) : NULL;
    struct http_stream *out = g ? http_stream_new(r->stream, produce, release, g) : NULL;
    if (!out) {
        if (g)
            group_free(g);
        srv_reply_error(rep, 500, "out of memory");
        goto done;
    }
    /* from here the stream owns g (release frees it) */
    if (!(g->q = sched_events_new(notify, out))) {
        srv_reply_error(rep, 500, "out of memory");
    } else if (make_samplers(s, c, r, smp, g, &info, err, sizeof err) != 0) {
        srv_reply_error(rep, 400, "%s", err);
    } else {
        bool ok = true;
        for (int i = 0; ok && i < n; i++) /* the last takes r's buffers, so it comes last */
            if (!(tasks[i] = make_task(g, r, smp[i], i, info)))
                ok = false;
        if (ok) {
            rep->stream = out;
            int64_t leader = -1;
            for (int i = 0; i < n; i++) {
                tasks[i]->follow = leader;
                int64_t id = sched_submit(s->sched, tasks[i]);
                if (i == 0)
                    leader = id;
            }
            out = NULL;
        } else {
            srv_reply_error(rep, 500, "out of memory");
        }
    }
    if (out) { /* failed: nothing was submitted */
        for (int i = 0; i < n; i++) {
            if (tasks[i])
                tasks[i]->sampler = NULL, sched_task_free(tasks[i]);
            sampler_free(smp[i]);
        }
        http_stream_unref(out);
    }
done:
    free(info);
    free(smp);
    free(tasks);
}
