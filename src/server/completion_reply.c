/*
 * completion_reply.c - gathering the events of a request's choices into its
 * answer (see completion_reply.h).
 *
 * Every callback comes from the scheduler under its lock, so a group's
 * state needs no lock of its own. The group lives until its last task is
 * released.
 */
#include "server/completion_reply.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

struct choice {
    char *content;
    size_t len, cap;
    json_t *probs;   /* native: completion_probabilities; OpenAI: logprobs entries */
    struct sched_result r;
    char *stopping_word;
    bool done, started;
};

struct group;

struct member {
    struct group *g;
    int index;
};

struct group {
    struct server *srv;
    struct http_stream *out;
    struct reply_options o;
    bool stream;
    int32_t n_probs;
    int n_released, n_done;
    bool failed;
    json_t *settings, *prompt, *info;
    char *model;
    char id[48];
    long long created;
    struct member *members;
    struct choice *ch;
};

static void group_free(struct group *g)
{
    for (int i = 0; i < g->o.n_choices; i++) {
        free(g->ch[i].content);
        free(g->ch[i].stopping_word);
        json_decref(g->ch[i].probs);
    }
    if (g->out)
        http_stream_unref(g->out);
    json_decref(g->settings);
    json_decref(g->prompt);
    json_decref(g->info);
    free(g->model);
    free(g->members);
    free(g->ch);
    free(g);
}

static void append(struct choice *c, const char *s, size_t n)
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

/* ------------------------------------------------------------ pieces */

static int64_t piece(struct server *s, int32_t tok, char *buf, size_t size)
{
    int64_t n = token_to_piece(s->vocab, tok, buf, size, 0, true);
    return n < 0 || n > (int64_t)size ? 0 : n;
}

static json_t *piece_json(struct server *s, int32_t tok)
{
    char buf[256];
    return json_text(buf, (size_t)piece(s, tok, buf, sizeof buf));
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
        json_array_append_new(arr, json_pack("{s:o,s:f}", "tok_str", piece_json(s, ev->probs[i].token), "prob",
                                             (double)ev->probs[i].prob));
    return json_pack("{s:o,s:o}", "content", piece_json(s, ev->token), "probs", arr);
}

/* OpenAI chat: {"token", "logprob", "bytes", "top_logprobs": [...]}. */
static json_t *chat_logprob(struct server *s, const struct sched_event *ev, int32_t n_top)
{
    json_t *top = json_array();
    for (int32_t i = 0; i < ev->n_probs && i < n_top; i++)
        json_array_append_new(top, json_pack("{s:o,s:f,s:o}", "token", piece_json(s, ev->probs[i].token), "logprob",
                                             logp(ev->probs[i].prob), "bytes", bytes_json(s, ev->probs[i].token)));
    return json_pack("{s:o,s:f,s:o,s:o}", "token", piece_json(s, ev->token), "logprob", logp(ev->token_prob),
                     "bytes", bytes_json(s, ev->token), "top_logprobs", top);
}

/* ------------------------------------------------------------ SSE */

static void sse_data(struct group *g, json_t *obj)
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
        http_stream_write(g->out, line, len + 8);
        free(line);
    }
    free(s);
}

static const char *finish_reason(const struct sched_result *r)
{
    return r->stopped_limit ? "length" : "stop";
}

static json_t *oai_envelope(struct group *g, json_t *choices)
{
    const char *object = g->o.fmt == FMT_OAI_CHAT ? (g->stream ? "chat.completion.chunk" : "chat.completion")
                                                  : "text_completion";
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:s}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->model, "choices", choices, "system_fingerprint", "cllm");
}

/* One streamed OpenAI chunk for choice i: text (may be empty), logprobs
 * entry (or NULL), finish reason (or NULL). */
static void oai_chunk(struct group *g, int i, const char *text, size_t len, json_t *lp, const char *finish)
{
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(i));
    if (g->o.fmt == FMT_OAI_CHAT) {
        json_t *delta = json_object();
        if (!g->ch[i].started)
            json_object_set_new(delta, "role", json_string("assistant"));
        if (len > 0 || !finish)
            json_object_set_new(delta, "content", json_text(text, len));
        json_object_set_new(c, "delta", delta);
        json_object_set_new(c, "logprobs", lp ? json_pack("{s:[o]}", "content", lp) : json_null());
    } else {
        json_object_set_new(c, "text", json_text(text, len));
        json_object_set_new(c, "logprobs", lp ? json_pack("{s:[o]}", "content", lp) : json_null());
    }
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    g->ch[i].started = true;
    sse_data(g, oai_envelope(g, json_pack("[o]", c)));
}

/* ------------------------------------------------------------ final answers */

static json_t *timings_json(const struct sched_result *r)
{
    return json_pack("{s:i,s:f,s:f,s:f,s:i,s:f,s:f,s:f}", "prompt_n", r->n_evaluated, "prompt_ms", r->prompt_ms,
                     "prompt_per_token_ms", r->n_evaluated > 0 ? r->prompt_ms / r->n_evaluated : 0.0,
                     "prompt_per_second", r->prompt_ms > 0 ? r->n_evaluated * 1e3 / r->prompt_ms : 0.0,
                     "predicted_n", r->n_decoded, "predicted_ms", r->predicted_ms, "predicted_per_token_ms",
                     r->n_decoded > 0 ? r->predicted_ms / r->n_decoded : 0.0, "predicted_per_second",
                     r->predicted_ms > 0 ? r->n_decoded * 1e3 / r->predicted_ms : 0.0);
}

static json_t *native_final(struct group *g, const struct choice *c, const char *content, size_t len)
{
    const struct sched_result *r = &c->r;
    json_t *j = json_object();
    json_object_set_new(j, "content", json_text(content, len));
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
    json_object_set_new(j, "stopping_word", json_text(sw, strlen(sw)));
    json_object_set_new(j, "tokens_cached", json_integer(r->n_cached));
    json_object_set_new(j, "timings", timings_json(r));
    if (g->n_probs > 0 && !g->stream)
        json_object_set_new(j, "completion_probabilities", json_incref(c->probs));
    return j;
}

static json_t *usage_json(struct group *g)
{
    json_int_t completion = 0;
    for (int i = 0; i < g->o.n_choices; i++)
        completion += g->ch[i].r.n_decoded;
    json_int_t prompt = g->ch[0].r.n_prompt;
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", prompt, "completion_tokens", completion, "total_tokens",
                     prompt + completion);
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
    for (int i = 0; i < g->o.n_choices; i++) {
        struct choice *c = &g->ch[i];
        json_t *text = json_text(c->content ? c->content : "", c->len);
        json_t *lp = !g->o.logprobs ? json_null()
                     : g->o.fmt == FMT_OAI_CHAT ? json_pack("{s:O}", "content", c->probs)
                                                : legacy_logprobs(c->probs);
        json_t *o = g->o.fmt == FMT_OAI_CHAT
                        ? json_pack("{s:i,s:{s:s,s:o},s:o,s:s}", "index", i, "message", "role", "assistant",
                                    "content", text, "logprobs", lp, "finish_reason", finish_reason(&c->r))
                        : json_pack("{s:i,s:o,s:o,s:s}", "index", i, "text", text, "logprobs", lp,
                                    "finish_reason", finish_reason(&c->r));
        json_array_append_new(choices, o);
    }
    json_t *j = oai_envelope(g, choices);
    json_object_set_new(j, "usage", usage_json(g));
    json_object_set_new(j, "timings", timings_json(&g->ch[0].r));
    return j;
}

/* Everything is done: the answer (non-streaming) or the stream's end. */
static void group_complete(struct group *g)
{
    if (g->stream) {
        if (g->o.fmt != FMT_NATIVE) {
            if (g->o.include_usage) {
                json_t *j = oai_envelope(g, json_array());
                json_object_set_new(j, "usage", usage_json(g));
                sse_data(g, j);
            }
            static const char done[] = "data: [DONE]\n\n";
            http_stream_write(g->out, done, sizeof done - 1);
        }
        http_stream_finish(g->out, 200, NULL, NULL, 0);
        return;
    }
    json_t *j = g->o.fmt == FMT_NATIVE ? native_final(g, &g->ch[0], g->ch[0].content ? g->ch[0].content : "",
                                                      g->ch[0].len)
                                       : oai_final(g);
    size_t len;
    char *body = json_dump(j, &len);
    json_decref(j);
    if (body)
        http_stream_finish(g->out, 200, "application/json; charset=utf-8", body, len);
    else
        http_stream_finish(g->out, 500, NULL, "{}", 2);
    free(body);
}

/* ------------------------------------------------------------ events */

static void on_token(struct group *g, int i, const struct sched_event *ev)
{
    struct choice *c = &g->ch[i];
    json_t *pj = NULL;
    if (ev->n_probs > 0)
        pj = g->o.fmt == FMT_NATIVE ? native_probs(g->srv, ev) : chat_logprob(g->srv, ev, g->n_probs);
    if (!g->stream) {
        append(c, ev->text, ev->len);
        if (pj)
            json_array_append_new(c->probs, pj);
        return;
    }
    if (g->o.fmt != FMT_NATIVE) {
        if (ev->len > 0 || pj || !c->started)
            oai_chunk(g, i, ev->text, ev->len, g->o.logprobs ? pj : (json_decref(pj), NULL), NULL);
        return;
    }
    if (ev->len == 0 && !pj)
        return;
    json_t *j = json_pack("{s:o,s:b,s:b}", "content", json_text(ev->text, ev->len), "stop", 0, "multimodal", 0);
    if (pj)
        json_object_set_new(j, "completion_probabilities", json_pack("[o]", pj));
    sse_data(g, j);
}

static void on_done(struct group *g, int i, const struct sched_event *ev)
{
    struct choice *c = &g->ch[i];
    c->r = *ev->result;
    c->stopping_word = strdup(ev->result->stopping_word);
    c->r.stopping_word = NULL;
    c->done = true;
    g->n_done++;
    if (!g->stream)
        append(c, ev->text, ev->len);
    else if (g->o.fmt == FMT_NATIVE)
        sse_data(g, native_final(g, c, ev->text, ev->len));
    else
        oai_chunk(g, i, ev->text, ev->len, NULL, finish_reason(&c->r));
    if (g->n_done == g->o.n_choices && !g->failed)
        group_complete(g);
}

static void on_error(struct group *g, const struct sched_event *ev)
{
    if (g->failed)
        return;
    g->failed = true;
    size_t len;
    char *body = error_body(ev->error_code, ev->error, &len);
    if (g->stream) {
        json_error_t je;
        json_t *e = body ? json_loads(body, 0, &je) : NULL;
        if (e)
            sse_data(g, e);
        http_stream_finish(g->out, ev->error_code, NULL, NULL, 0);
    } else {
        http_stream_finish(g->out, ev->error_code, NULL, body ? body : "{}", body ? len : 2);
    }
    free(body);
}

static void on_event(void *ud, const struct sched_event *ev)
{
    struct member *m = ud;
    if (ev->kind == SCHED_EV_TOKEN)
        on_token(m->g, m->index, ev);
    else if (ev->kind == SCHED_EV_DONE)
        on_done(m->g, m->index, ev);
    else
        on_error(m->g, ev);
}

static bool is_cancelled(void *ud)
{
    struct member *m = ud;
    return m->g->failed || http_stream_cancelled(m->g->out);
}

static void release(void *ud)
{
    struct member *m = ud;
    struct group *g = m->g;
    if (++g->n_released == g->o.n_choices)
        group_free(g);
}

/* ------------------------------------------------------------ submission */

static struct group *group_new(struct server *s, const struct completion_req *r, const struct reply_options *o)
{
    struct group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->srv = s;
    g->o = *o;
    g->stream = r->stream;
    g->n_probs = r->n_probs;
    g->members = calloc((size_t)o->n_choices, sizeof *g->members);
    g->ch = calloc((size_t)o->n_choices, sizeof *g->ch);
    g->out = http_stream_new(r->stream);
    g->model = strdup(o->model ? o->model : s->model_name);
    if (!g->members || !g->ch || !g->out || !g->model) {
        group_free(g);
        return NULL;
    }
    for (int i = 0; i < o->n_choices; i++) {
        g->members[i] = (struct member){g, i};
        g->ch[i].probs = json_array();
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g->created = (long long)ts.tv_sec;
    snprintf(g->id, sizeof g->id, "%s-%lld%09ld", o->fmt == FMT_OAI_CHAT ? "chatcmpl" : "cmpl", (long long)ts.tv_sec,
             ts.tv_nsec);
    g->prompt = r->prompt_json ? json_incref(r->prompt_json) : NULL;
    return g;
}

/* The task of choice i (a copy of the prompt and stop strings for all but
 * the last, which takes r's). */
static struct sched_task *make_task(struct group *g, struct completion_req *r, struct sampler *smp, int i)
{
    struct sched_task *t = sched_task_new(SCHED_COMPLETION);
    if (!t)
        return NULL;
    bool last = i == g->o.n_choices - 1;
    t->id_slot = g->o.n_choices == 1 ? r->id_slot : -1;
    t->n_prompt = r->prompt.n;
    t->prompt = last ? r->prompt.v : malloc(r->prompt.n * sizeof *t->prompt);
    t->stop = last ? r->stop : calloc(r->n_stop ? r->n_stop : 1, sizeof *t->stop);
    t->n_stop = r->n_stop;
    if (!last && (!t->prompt || !t->stop)) {
        t->n_stop = 0;
        sched_task_free(t);
        return NULL;
    }
    if (last) {
        r->prompt.v = NULL;
        r->prompt.n = r->prompt.cap = 0;
        r->stop = NULL;
        r->n_stop = 0;
    } else {
        memcpy(t->prompt, r->prompt.v, r->prompt.n * sizeof *t->prompt);
        for (size_t k = 0; k < r->n_stop; k++)
            t->stop[k] = strdup(r->stop[k]);
    }
    t->sampler = smp;
    t->n_predict = r->n_predict;
    t->n_keep = r->n_keep;
    t->cache_prompt = r->cache_prompt;
    t->n_probs = r->n_probs;
    t->on_event = on_event;
    t->is_cancelled = is_cancelled;
    t->release = release;
    t->ud = &g->members[i];
    t->info = g->info;
    return t;
}

void completion_submit(struct server *s, struct completion_req *r, const struct reply_options *o,
                       struct http_reply *rep)
{
    char err[512];
    int n = o->n_choices;
    struct sampler **smp = calloc((size_t)n, sizeof *smp);
    struct sched_task **tasks = calloc((size_t)n, sizeof *tasks);
    struct group *g = smp && tasks ? group_new(s, r, o) : NULL;
    bool ok = g != NULL;
    uint32_t seed0 = 0;
    for (int i = 0; ok && i < n; i++) {
        struct sampler_params sp = r->sp;
        if (i > 0 && sp.seed != SAMPLER_SEED_RANDOM)
            sp.seed = seed0 + (uint32_t)i; /* distinct but reproducible choices */
        if (!(smp[i] = sampler_create(s->sv, &sp, s->n_ctx_slot, err, sizeof err))) {
            reply_error(rep, 400, "%s", err);
            ok = false;
            break;
        }
        if (i == 0) {
            seed0 = sampler_seed(smp[0]);
            g->settings = generation_settings(s, r, seed0);
            g->info = json_pack("{s:O,s:o}", "settings", g->settings, "prompt",
                                g->prompt ? json_incref(g->prompt) : json_string(""));
        }
    }
    for (int i = 0; ok && i < n; i++) /* the last takes r's buffers, so it comes last */
        if (!(tasks[i] = make_task(g, r, smp[i], i))) {
            reply_error(rep, 500, "out of memory");
            ok = false;
        }
    if (!ok) {
        for (int i = 0; i < n; i++) {
            if (tasks[i])
                tasks[i]->sampler = NULL, sched_task_free(tasks[i]);
            sampler_free(smp[i]);
        }
        if (g)
            group_free(g);
        else if (!rep->body)
            reply_error(rep, 500, "out of memory");
        free(smp);
        free(tasks);
        return;
    }
    http_stream_ref(g->out); /* the reply's reference */
    rep->stream = g->out;
    int64_t leader = -1;
    for (int i = 0; i < n; i++) {
        tasks[i]->follow = leader;
        int64_t id = sched_submit(s->sched, tasks[i]);
        if (i == 0)
            leader = id;
    }
    free(smp);
    free(tasks);
}
