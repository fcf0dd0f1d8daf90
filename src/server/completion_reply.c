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

#include "base/clock.h"
#include "base/sbuf.h"
#include "chat/tool_call.h"
#include "grammar/grammar.h"
#include "server/api_anthropic.h"
#include "server/api_responses.h"
#include "server/server_internal.h"

struct choice {
    struct sbuf content; /* non-streaming: the text so far */
    json_t *probs;       /* non-streaming: native completion_probabilities, or OpenAI logprobs entries */
    json_t *tokens;      /* the token ids not yet shown (return_tokens; streams: since the last event) */
    struct sched_result r;
    char *stopping_word;
    bool done, started;
    bool new_line;       /* a newline has come out (llama-server's has_new_line) */
    int32_t n_tokens;    /* generated so far */
    /* from the prompt-progress events (llama-server's prompt_progress) */
    struct sched_progress pp;
    double t_gen_start;  /* clock_ms() when the prompt was done (timings_per_token) */
    struct chat_tool_stream cs; /* chat: the text split into content, reasoning and calls */
};

struct group {
    struct server *srv;
    struct sched_events *q;
    enum request_api api;
    bool stream, logprobs, include_usage;
    bool return_progress, return_tokens, timings_per_token, verbose;
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
    /* chat answers */
    enum request_reply reply;         /* OpenAI chat, Anthropic Messages or OpenAI Responses */
    struct srv_anthropic_stream ant;  /* Anthropic streams */
    struct srv_responses_stream resp; /* Responses streams */
    struct srv_response_info rinfo;   /* Responses: what the response object echoes */
    json_t *reply_body;               /* Responses: the request as given */
    int32_t n_prompt;                 /* the prompt's tokens (known at submission) */
};

static bool native(const struct group *g)
{
    return g->api == REQ_API_NATIVE || g->api == REQ_API_INFILL;
}

static void group_free(struct group *g)
{
    for (int i = 0; g->ch && i < g->n_choices; i++) {
        chat_tool_stream_free(&g->ch[i].cs);
        sbuf_free(&g->ch[i].content);
        free(g->ch[i].stopping_word);
        json_decref(g->ch[i].probs);
        json_decref(g->ch[i].tokens);
    }
    json_decref(g->settings);
    json_decref(g->prompt);
    json_decref(g->response_fields);
    sbuf_free(&g->sse);
    srv_responses_stream_free(&g->resp);
    json_decref(g->reply_body);
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

/* Native: the seed's {"content": piece, "probs": [{"tok_str", "prob"}]}
 * with llama-server's ids, and beside them llama-server's own members
 * (completion_token_output::probs_vector_to_json: token, bytes, logprob,
 * top_logprobs [{id, token, bytes, logprob}]), so that clients of either
 * find theirs. */
static json_t *native_probs(struct server *s, const struct sched_event *ev)
{
    json_t *arr = json_array(), *top = json_array();
    for (int32_t i = 0; i < ev->n_probs; i++) {
        int32_t t = ev->probs[i].token;
        json_array_append_new(arr, json_pack("{s:i,s:o,s:f}", "id", t, "tok_str", piece_json(s, t), "prob",
                                             (double)ev->probs[i].prob));
        json_array_append_new(top, json_pack("{s:i,s:o,s:o,s:f}", "id", t, "token", piece_json(s, t), "bytes",
                                             bytes_json(s, t), "logprob", logp(ev->probs[i].prob)));
    }
    return json_pack("{s:i,s:o,s:o,s:o,s:o,s:f,s:o}", "id", ev->token, "content", piece_json(s, ev->token), "probs",
                     arr, "token", piece_json(s, ev->token), "bytes", bytes_json(s, ev->token), "logprob",
                     logp(ev->token_prob), "top_logprobs", top);
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

/* system_fingerprint: llama-server's is its build (llama_build_info()). */
#define FINGERPRINT "cllm"
/* A chat choice's: "tool_calls" when the answer holds calls. */
static const char *chat_finish(const struct choice *c)
{
    return c->cs.msg.n_calls > 0 ? "tool_calls" : finish_reason(&c->r);
}

/* A call's id: the model's own, or made from the answer's id and position. */
static void call_id(const struct group *g, int choice, size_t k, const struct chat_tool_call *call, char *buf,
                    size_t size)
{
    if (call->id && *call->id) {
        snprintf(buf, size, "%s", call->id);
        return;
    }
    unsigned long long h = 1469598103934665603ull;
    for (const char *p = g->id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    chat_tool_call_id(g->ch[0].cs.format, buf, size, h + (unsigned long long)choice * 1000003u + k);
}

static json_t *oai_envelope(struct group *g, json_t *choices)
{
    const char *object = g->api == REQ_API_OAI_CHAT ? (g->stream ? "chat.completion.chunk" : "chat.completion")
                                                    : "text_completion";
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:s}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->model, "choices", choices, "system_fingerprint",
                     FINGERPRINT);
}

/* Add extra's members to j (extra's reference taken; NULL: nothing). */
static json_t *with_extra(json_t *j, json_t *extra)
{
    if (j && extra)
        json_object_update(j, extra);
    json_decref(extra);
    return j;
}

/* One streamed chat chunk for choice i with delta (taken; NULL: {}),
 * logprobs entry (or NULL), finish reason (or NULL) and members beside the
 * choices (taken; NULL: none), after the role-only first chunk. */
static void chat_chunk(struct group *g, int i, json_t *delta, json_t *lp, const char *finish, json_t *extra)
{
    if (!g->ch[i].started) {
        sse_data(g, oai_envelope(g, json_pack("[{s:i,s:{s:s,s:n},s:n,s:n}]", "index", i, "delta", "role",
                                              "assistant", "content", "logprobs", "finish_reason")));
        g->ch[i].started = true;
    }
    json_t *c = json_pack("{s:i,s:o,s:o,s:o}", "index", i, "delta", delta ? delta : json_object(), "logprobs",
                          lp ? json_pack("{s:[o]}", "content", lp) : json_null(), "finish_reason",
                          finish ? json_string(finish) : json_null());
    sse_data(g, with_extra(oai_envelope(g, json_pack("[o]", c)), extra));
}

/* One streamed OpenAI chunk for choice i: text (may be empty), logprobs
 * entry (or NULL), finish reason (or NULL), and members for the envelope
 * (timings, usage, __verbose...; NULL: none; the reference is taken). */
static void oai_chunk(struct group *g, int i, const char *text, size_t len, json_t *lp, const char *finish,
                      json_t *extra)
{
    if (g->api == REQ_API_OAI_CHAT && !g->ch[i].started) {
        /* llama-server (and OpenAI): a first chunk with the role alone */
        sse_data(g, oai_envelope(g, json_pack("[{s:i,s:{s:s,s:n},s:n,s:n}]", "index", i, "delta", "role",
                                              "assistant", "content", "logprobs", "finish_reason")));
        g->ch[i].started = true;
        if (len == 0 && !lp && !finish) {
            json_decref(extra);
            return;
        }
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
    sse_data(g, with_extra(oai_envelope(g, json_pack("[o]", c)), extra));
}

/* ------------------------------------------------------------ chat answers */

static json_t *oai_partial_extra(struct group *g, struct choice *c, const char *text, size_t len);
static json_t *oai_final_extra(struct group *g, struct choice *c, const struct sched_event *ev);

/* A choice's answer: parsed when the request asked for calls or thoughts,
 * else the text itself; a prefill's part left out. */
static struct chat_tool_message answer_of(const struct choice *c)
{
    return chat_tool_stream_answer(&c->cs);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static void emit_anthropic(struct group *g, int i, const struct chat_tool_delta *d)
{
    char *r = d->reasoning_len ? dup_n(d->reasoning, d->reasoning_len) : NULL;
    char *t = d->content_len ? dup_n(d->content, d->content_len) : NULL;
    srv_anthropic_stream_text(&g->ant, &g->sse, r, true);
    srv_anthropic_stream_text(&g->ant, &g->sse, t, false);
    for (size_t k = 0; k < d->n_calls; k++) {
        char id[64];
        call_id(g, i, d->first_call + k, &d->calls[k], id, sizeof id);
        srv_anthropic_stream_tool(&g->ant, &g->sse, &d->calls[k], id);
    }
    free(r);
    free(t);
}

static void emit_responses(struct group *g, const struct chat_tool_delta *d)
{
    char *r = d->reasoning_len ? dup_n(d->reasoning, d->reasoning_len) : NULL;
    char *t = d->content_len ? dup_n(d->content, d->content_len) : NULL;
    srv_responses_stream_text(&g->resp, &g->sse, &g->rinfo, r, true);
    srv_responses_stream_text(&g->resp, &g->sse, &g->rinfo, t, false);
    for (size_t k = 0; k < d->n_calls; k++)
        srv_responses_stream_call(&g->resp, &g->sse, &g->rinfo, &d->calls[k], d->first_call + k);
    free(r);
    free(t);
}

/* OpenAI chat: reasoning_content, content (with the token's logprobs lp)
 * and tool_calls deltas (id, type and name first, then the arguments). */
static void emit_openai(struct group *g, int i, const struct chat_tool_delta *d, json_t *lp)
{
    struct choice *c = &g->ch[i];
    if (d->reasoning_len)
        chat_chunk(g, i, json_pack("{s:o}", "reasoning_content", srv_json_text(d->reasoning, d->reasoning_len)),
                   NULL, NULL, oai_partial_extra(g, c, "", 0));
    if (d->content_len || lp)
        chat_chunk(g, i, json_pack("{s:o}", "content", srv_json_text(d->content, d->content_len)), lp, NULL,
                   oai_partial_extra(g, c, d->content, d->content_len));
    for (size_t k = 0; k < d->n_calls; k++) {
        const struct chat_tool_call *call = &d->calls[k];
        json_int_t idx = (json_int_t)(d->first_call + k);
        char id[64];
        call_id(g, i, d->first_call + k, call, id, sizeof id);
        chat_chunk(g, i,
                   json_pack("{s:[{s:I,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index", idx, "id", id, "type",
                             "function", "function", "name", call->name, "arguments", ""),
                   NULL, NULL, NULL);
        chat_chunk(g, i, json_pack("{s:[{s:I,s:{s:s}}]}", "tool_calls", "index", idx, "function", "arguments",
                                   call->arguments),
                   NULL, NULL, NULL);
    }
}

/* A streamed chat token (or the last text, final): parsed, then sent in
 * the request's shape. lp: its logprobs entry (taken) or NULL. */
static void chat_stream(struct group *g, int i, const char *text, size_t len, bool final, json_t *lp)
{
    struct choice *c = &g->ch[i];
    struct chat_tool_delta d;
    char err[64];
    if (chat_tool_stream_feed(&c->cs, text, len, final, &d, err, sizeof err) != 0) {
        json_decref(lp);
        return;
    }
    if (g->reply == REQ_REPLY_ANTHROPIC) {
        json_decref(lp);
        emit_anthropic(g, i, &d);
    } else if (g->reply == REQ_REPLY_RESPONSES) {
        json_decref(lp);
        emit_responses(g, &d);
    } else if (c->started || d.content_len || d.reasoning_len || d.n_calls || lp) {
        emit_openai(g, i, &d, lp);
    } else { /* the role-only chunk: the stream has begun */
        sse_data(g, oai_envelope(g, json_pack("[{s:i,s:{s:s,s:n},s:n,s:n}]", "index", i, "delta", "role",
                                              "assistant", "content", "logprobs", "finish_reason")));
        g->ch[i].started = true;
    }
}

/* A chat stream's end for choice i (its last text already sent; ev: the
 * final event). */
static void chat_stream_end(struct group *g, int i, const struct sched_event *ev)
{
    struct choice *c = &g->ch[i];
    const char *finish = chat_finish(c);
    if (g->reply == REQ_REPLY_ANTHROPIC) {
        const char *sw = c->r.stopped_word ? c->stopping_word : NULL;
        srv_anthropic_stream_finish(&g->ant, &g->sse, srv_anthropic_stop_reason(finish, sw != NULL), sw,
                                    c->r.n_decoded);
    } else if (g->reply == REQ_REPLY_RESPONSES) {
        struct chat_tool_message m = answer_of(c);
        g->rinfo.incomplete = c->r.stopped_limit;
        g->rinfo.in_tokens = c->r.n_prompt;
        g->rinfo.out_tokens = c->r.n_decoded;
        g->rinfo.cached_tokens = c->r.n_cached;
        srv_responses_stream_finish(&g->resp, &g->sse, &g->rinfo, &m);
    } else {
        chat_chunk(g, i, NULL, NULL, finish, oai_final_extra(g, c, ev));
    }
}

/* The chat message object of a finished choice (OpenAI). */
static json_t *chat_message(const struct group *g, int i)
{
    const struct choice *c = &g->ch[i];
    struct chat_tool_message m = answer_of(c);
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(msg, "content", m.n_calls && !*m.content ? json_null() : srv_json_text(m.content, strlen(m.content)));
    if (*m.reasoning)
        json_object_set_new(msg, "reasoning_content", srv_json_text(m.reasoning, strlen(m.reasoning)));
    if (m.n_calls) {
        json_t *calls = json_array();
        for (size_t k = 0; k < m.n_calls; k++) {
            char id[64];
            call_id(g, i, k, &m.calls[k], id, sizeof id);
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function",
                                                   "name", m.calls[k].name, "arguments", m.calls[k].arguments));
        }
        json_object_set_new(msg, "tool_calls", calls);
    }
    return msg;
}

/* The whole answer in Anthropic's or the Responses shape (not streamed). */
static json_t *chat_other_final(struct group *g)
{
    struct choice *c = &g->ch[0];
    struct chat_tool_message m = answer_of(c);
    if (g->reply == REQ_REPLY_ANTHROPIC) {
        const char *sw = c->r.stopped_word ? c->stopping_word : NULL;
        /* tool_use ids as the stream would make them */
        struct chat_tool_call *calls = m.n_calls ? calloc(m.n_calls, sizeof *calls) : NULL;
        char (*ids)[64] = m.n_calls ? calloc(m.n_calls, sizeof *ids) : NULL;
        for (size_t k = 0; calls && ids && k < m.n_calls; k++) {
            calls[k] = m.calls[k];
            call_id(g, 0, k, &m.calls[k], ids[k], sizeof ids[k]);
            calls[k].id = ids[k];
        }
        struct chat_tool_message mm = m;
        if (calls && ids)
            mm.calls = calls;
        json_t *j = srv_anthropic_message(g->id, g->model, &mm, srv_anthropic_stop_reason(chat_finish(c), sw != NULL),
                                          sw, c->r.n_prompt, c->r.n_decoded);
        free(calls);
        free(ids);
        return j;
    }
    g->rinfo.incomplete = c->r.stopped_limit;
    g->rinfo.in_tokens = c->r.n_prompt;
    g->rinfo.out_tokens = c->r.n_decoded;
    g->rinfo.cached_tokens = c->r.n_cached;
    return srv_responses_object(&g->rinfo, &m);
}

/* ------------------------------------------------------------ final answers */

/* llama-server's timings (server_slot_stats::to_json). */
static json_t *timings_of(int32_t cache_n, int32_t prompt_n, double prompt_ms, int32_t predicted_n,
                          double predicted_ms)
{
    return json_pack("{s:i,s:i,s:f,s:f,s:f,s:i,s:f,s:f,s:f}", "cache_n", cache_n, "prompt_n", prompt_n, "prompt_ms",
                     prompt_ms, "prompt_per_token_ms", prompt_n > 0 ? prompt_ms / prompt_n : 0.0,
                     "prompt_per_second", prompt_ms > 0 ? prompt_n * 1e3 / prompt_ms : 0.0, "predicted_n",
                     predicted_n, "predicted_ms", predicted_ms, "predicted_per_token_ms",
                     predicted_n > 0 ? predicted_ms / predicted_n : 0.0, "predicted_per_second",
                     predicted_ms > 0 ? predicted_n * 1e3 / predicted_ms : 0.0);
}

static json_t *timings_json(const struct sched_result *r)
{
    return timings_of(r->n_cached, r->n_evaluated, r->prompt_ms, r->n_decoded, r->predicted_ms);
}

/* timings_per_token: the timings so far of a choice still generating (the
 * prompt's from its last progress event, the generation's measured here). */
static json_t *timings_so_far(const struct choice *c)
{
    const struct sched_progress *p = &c->pp;
    double gen = c->t_gen_start > 0 ? clock_ms() - c->t_gen_start : 0.0;
    return timings_of(p->cache, p->processed - p->cache, p->time_ms, c->n_tokens, gen);
}

/* llama-server's prompt_progress object. */
static json_t *progress_json(const struct sched_progress *p)
{
    return json_pack("{s:i,s:i,s:i,s:I}", "total", p->total, "cache", p->cache, "processed", p->processed,
                     "time_ms", (json_int_t)p->time_ms);
}

/* The token ids shown now (and forgotten): return_tokens, or a stream's
 * ids since its last event. */
static json_t *take_tokens(struct choice *c)
{
    json_t *t = c->tokens;
    c->tokens = json_array();
    return t ? t : json_array();
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

static json_t *native_final(struct group *g, struct choice *c, const char *content, size_t len)
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
    json_object_set_new(j, "tokens", take_tokens(c)); /* return_tokens; streams: any not yet shown */
    json_object_set_new(j, "has_new_line", json_boolean(c->new_line || memchr(content, '\n', len) != NULL));
    json_object_set_new(j, "stop_type", json_string(r->stopped_eos ? "eos" : r->stopped_word ? "word"
                                                    : r->stopped_limit ? "limit" : "none"));
    if (g->n_probs > 0 && !g->stream)
        json_object_set_new(j, "completion_probabilities", json_incref(c->probs));
    return g->response_fields ? pick_fields(j, g->response_fields) : j;
}

static json_t *usage_of(json_int_t prompt, json_int_t completion, int32_t cached)
{
    return json_pack("{s:I,s:I,s:I,s:{s:i}}", "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion, "prompt_tokens_details", "cached_tokens", cached);
}

static json_t *usage_json(struct group *g)
{
    json_int_t completion = 0;
    for (int i = 0; i < g->n_choices; i++)
        completion += g->ch[i].r.n_decoded;
    return usage_of(g->ch[0].r.n_prompt, completion, g->ch[0].r.n_cached);
}

/* Legacy completions' logprobs: OpenAI's tokens, token_logprobs,
 * top_logprobs, text_offset, from the chat-style entries. */
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
    /* and llama-server's own: the chat-style entries under content */
    return json_pack("{s:o,s:o,s:o,s:o,s:O}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs, "content", entries);
}

static json_t *oai_final(struct group *g)
{
    json_t *choices = json_array();
    for (int i = 0; i < g->n_choices; i++) {
        struct choice *c = &g->ch[i];
        json_t *text = g->api == REQ_API_OAI_CHAT ? NULL : srv_json_text(sbuf_str(&c->content), c->content.len);
        json_t *lp = !g->logprobs ? json_null()
                     : g->api == REQ_API_OAI_CHAT ? json_pack("{s:O}", "content", c->probs)
                                                  : legacy_logprobs(c->probs);
        json_t *o = g->api == REQ_API_OAI_CHAT
                        ? json_pack("{s:i,s:o,s:o,s:s}", "index", i, "message", chat_message(g, i), "logprobs", lp,
                                    "finish_reason", chat_finish(c))
                        : json_pack("{s:i,s:o,s:o,s:s}", "index", i, "text", text, "logprobs", lp,
                                    "finish_reason", finish_reason(&c->r));
        json_array_append_new(choices, o);
    }
    json_t *j = oai_envelope(g, choices);
    json_object_set_new(j, "usage", usage_json(g));
    json_object_set_new(j, "timings", timings_json(&g->ch[0].r));
    if (g->verbose) /* llama-server under -v (or verbose: true): the native answer too */
        json_object_set_new(j, "__verbose", native_final(g, &g->ch[0], sbuf_str(&g->ch[0].content),
                                                         g->ch[0].content.len));
    return j;
}

/* Every choice is done: the answer (non-streaming) or the stream's end. */
static void group_complete(struct group *g)
{
    g->end_status = 200;
    if (g->stream && g->reply != REQ_REPLY_OPENAI)
        return; /* Anthropic and Responses streams end with their own events */
    if (!g->stream && g->reply != REQ_REPLY_OPENAI) {
        json_t *j = chat_other_final(g);
        g->end_body = srv_json_dump(j, &g->end_len);
        json_decref(j);
        if (!g->end_body)
            g->end_status = 500;
        return;
    }
    if (g->stream) {
        if (!native(g)) {
            if (g->include_usage) {
                json_t *j = oai_envelope(g, json_array());
                json_object_set_new(j, "usage", usage_json(g));
                if (g->api == REQ_API_OAI_CHAT) /* llama-server: the timings go on the last chunk */
                    json_object_set_new(j, "timings", timings_json(&g->ch[0].r));
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

/* A native stream's event before the last (llama-server's
 * server_task_result_cmpl_partial::to_json_non_oaicompat, with the seed's
 * "multimodal"): the text, the token ids since the last event, the counts;
 * progress (or NULL) for a prompt-progress event. */
static json_t *native_partial(struct group *g, struct choice *c, const char *text, size_t len,
                              const struct sched_progress *progress)
{
    json_t *j = json_pack("{s:i,s:o,s:o,s:b,s:i,s:i,s:i,s:b}", "index", (int)(c - g->ch), "content",
                          srv_json_text(text, len), "tokens", progress ? json_array() : take_tokens(c), "stop", 0,
                          "id_slot", c->pp.id_slot, "tokens_predicted", c->n_tokens, "tokens_evaluated",
                          c->pp.total, "multimodal", 0);
    if (g->timings_per_token)
        json_object_set_new(j, "timings", timings_so_far(c));
    if (progress)
        json_object_set_new(j, "prompt_progress", progress_json(progress));
    return j;
}

/* Members an OpenAI stream chunk of a running choice carries besides the
 * choice: timings (timings_per_token), __verbose (text completions under
 * verbose, as llama-server). NULL when none. */
static json_t *oai_partial_extra(struct group *g, struct choice *c, const char *text, size_t len)
{
    json_t *x = NULL;
    if (g->timings_per_token)
        x = json_pack("{s:o}", "timings", timings_so_far(c));
    if (g->verbose && g->api == REQ_API_OAI_TEXT) {
        if (!x)
            x = json_object();
        json_object_set_new(x, "__verbose", native_partial(g, c, text, len, NULL));
    }
    return x;
}

static void on_token(struct group *g, const struct sched_event *ev)
{
    struct choice *c = &g->ch[ev->index];
    json_t *pj = NULL;
    c->n_tokens++;
    c->new_line = c->new_line || memchr(ev->text, '\n', ev->len) != NULL;
    if (g->return_tokens || (g->stream && (native(g) || g->verbose))) /* shown by the next (native) event */
        json_array_append_new(c->tokens, json_integer(ev->token));
    if (ev->n_probs > 0)
        pj = native(g) ? native_probs(g->srv, ev) : chat_logprob(g->srv, ev, g->n_probs);
    if (!g->stream) {
        sbuf_append(&c->content, ev->text, ev->len);
        if (g->api == REQ_API_OAI_CHAT)
            sbuf_append(&c->cs.raw, ev->text, ev->len); /* parsed once, at the end */
        if (pj)
            json_array_append_new(c->probs, pj);
        return;
    }
    if (g->api == REQ_API_OAI_CHAT) {
        if (!g->logprobs) {
            json_decref(pj);
            pj = NULL;
        }
        chat_stream(g, ev->index, ev->text, ev->len, false, pj);
        return;
    }
    if (!native(g)) {
        if (!g->logprobs) {
            json_decref(pj);
            pj = NULL;
        }
        if (ev->len > 0 || pj || !c->started)
            oai_chunk(g, ev->index, ev->text, ev->len, pj, NULL, oai_partial_extra(g, c, ev->text, ev->len));
        else
            json_decref(pj);
        return;
    }
    if (ev->len == 0 && !pj)
        return; /* text held back (a stop word may begin): its token id goes with the next event */
    json_t *j = native_partial(g, c, ev->text, ev->len, NULL);
    if (pj)
        json_object_set_new(j, "completion_probabilities", json_pack("[o]", pj));
    sse_data(g, j);
}

/* Prompt progress (the scheduler posts it when asked, see make_task): kept
 * for the counts and timings; shown as llama-server's prompt_progress event
 * in streams with return_progress. */
static void on_progress(struct group *g, const struct sched_event *ev)
{
    struct choice *c = &g->ch[ev->index];
    c->pp = ev->progress;
    if (c->pp.processed >= c->pp.total)
        c->t_gen_start = clock_ms();
    if (!g->stream || !g->return_progress)
        return;
    if (native(g)) {
        sse_data(g, native_partial(g, c, "", 0, &ev->progress));
        return;
    }
    /* llama-server: each progress chunk is a role delta (chat) or an empty
     * text (completions) with prompt_progress beside the choices */
    json_t *choice = g->api == REQ_API_OAI_CHAT
                         ? json_pack("{s:n,s:i,s:{s:s,s:n}}", "finish_reason", "index", ev->index, "delta", "role",
                                     "assistant", "content")
                         : json_pack("{s:s,s:i,s:n,s:n}", "text", "", "index", ev->index, "logprobs",
                                     "finish_reason");
    json_t *j = oai_envelope(g, json_pack("[o]", choice));
    if (g->timings_per_token)
        json_object_set_new(j, "timings", timings_so_far(c));
    json_object_set_new(j, "prompt_progress", progress_json(&ev->progress));
    sse_data(g, j);
}

/* What llama-server puts beside the choices of a choice's last OpenAI
 * stream chunk (server_task_result_cmpl_final): text completions always
 * carry usage and timings; chat carries the timings unless a usage chunk
 * comes after (then they go there); __verbose under verbose. */
static json_t *oai_final_extra(struct group *g, struct choice *c, const struct sched_event *ev)
{
    json_t *x = json_object();
    if (g->api == REQ_API_OAI_TEXT)
        json_object_set_new(x, "usage", usage_of(c->r.n_prompt, c->r.n_decoded, c->r.n_cached));
    if (g->api == REQ_API_OAI_TEXT || !g->include_usage)
        json_object_set_new(x, "timings", timings_json(&c->r));
    if (g->verbose)
        json_object_set_new(x, "__verbose", native_final(g, c, ev->text, ev->len));
    return x;
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
    if (g->api == REQ_API_OAI_CHAT) {
        if (!g->stream) {
            struct chat_tool_delta d;
            char err[64];
            sbuf_append(&c->content, ev->text, ev->len);
            sbuf_append(&c->cs.raw, ev->text, ev->len);
            chat_tool_stream_feed(&c->cs, "", 0, true, &d, err, sizeof err);
        } else {
            chat_stream(g, ev->index, ev->text, ev->len, true, NULL);
            chat_stream_end(g, ev->index, ev);
        }
    } else if (!g->stream)
        sbuf_append(&c->content, ev->text, ev->len);
    else if (native(g))
        sse_data(g, native_final(g, c, ev->text, ev->len));
    else
        oai_chunk(g, ev->index, ev->text, ev->len, NULL, finish_reason(&c->r), oai_final_extra(g, c, ev));
    if (g->n_done == g->n_choices)
        group_complete(g);
}

/* llama-server's error for a prompt that does not fit the slot
 * (ERROR_TYPE_EXCEED_CONTEXT_SIZE): 400, type exceed_context_size_error,
 * with n_prompt_tokens and n_ctx beside code, message and type. */
static char *exceed_context_body(int32_t n_prompt, int32_t n_ctx, size_t *len)
{
    char msg[160];
    snprintf(msg, sizeof msg,
             "request (%d tokens) exceeds the available context size (%d tokens), try increasing it", n_prompt,
             n_ctx);
    json_t *e = json_pack("{s:{s:i,s:s,s:s,s:i,s:i}}", "error", "code", 400, "message", msg, "type",
                          "exceed_context_size_error", "n_prompt_tokens", n_prompt, "n_ctx", n_ctx);
    char *body = e ? srv_json_dump(e, len) : NULL;
    json_decref(e);
    return body;
}

/* The body of an error event: the scheduler's "prompt does not fit" (its
 * message is llama-server's, with the two counts) in llama-server's shape,
 * anything else in the common one. */
static char *error_body(const struct sched_event *ev, size_t *len)
{
    const char *msg = ev->error ? ev->error : "error";
    int n_prompt, n_ctx;
    if (ev->error_code == 400 &&
        sscanf(msg, "request (%d tokens) exceeds the available context size (%d tokens)", &n_prompt, &n_ctx) == 2)
        return exceed_context_body(n_prompt, n_ctx, len);
    return srv_error_body(ev->error_code, msg, len);
}

/* One choice failed: the whole answer is that error; the others stop. */
static void on_error(struct group *g, const struct sched_event *ev)
{
    sched_events_cancel(g->q);
    size_t len = 0;
    char *body = NULL;
    if (g->reply == REQ_REPLY_ANTHROPIC) {
        json_t *e = srv_anthropic_error(ev->error_code, ev->error ? ev->error : "error");
        body = e ? srv_json_dump(e, &len) : NULL;
        json_decref(e);
    } else {
        body = error_body(ev, &len);
    }
    g->end_status = ev->error_code;
    if (g->stream) {
        if (body) {
            sbuf_puts(&g->sse, g->reply == REQ_REPLY_OPENAI ? "data: " : "event: error\ndata: ");
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
        else if (ev->kind == SCHED_EV_PROGRESS)
            on_progress(g, ev);
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
    g->return_progress = r->return_progress;
    g->return_tokens = r->return_tokens;
    g->timings_per_token = r->timings_per_token;
    g->verbose = r->verbose || s->p->verbose;
    g->n_choices = r->n_choices;
    g->n_probs = r->sp.n_probs;
    g->ch = calloc((size_t)g->n_choices, sizeof *g->ch);
    g->model = strdup(s->model_name);
    if (!g->ch || !g->model) {
        group_free(g);
        return NULL;
    }
    for (int i = 0; i < g->n_choices; i++) {
        g->ch[i].probs = json_array();
        g->ch[i].tokens = json_array();
        g->ch[i].pp.id_slot = -1;
        chat_tool_stream_init(&g->ch[i].cs, r->tool_format, r->parse_flags);
        char err[64];
        if (r->grammar_prefix) /* a prefill: parsed with the answer, not part of it */
            chat_tool_stream_prefix(&g->ch[i].cs, r->grammar_prefix, err, sizeof err);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g->created = (long long)ts.tv_sec;
    g->reply = r->reply;
    g->n_prompt = (int32_t)r->prompt.n;
    static const char *const ID_PREFIX[] = {[REQ_REPLY_OPENAI] = "chatcmpl-", [REQ_REPLY_ANTHROPIC] = "msg_",
                                            [REQ_REPLY_RESPONSES] = "resp_"};
    snprintf(g->id, sizeof g->id, "%s%lld%09ld", g->api == REQ_API_OAI_CHAT ? ID_PREFIX[g->reply] : "cmpl-",
             (long long)ts.tv_sec, ts.tv_nsec);
    srv_anthropic_stream_init(&g->ant);
    srv_responses_stream_init(&g->resp);
    if (g->reply == REQ_REPLY_RESPONSES) {
        g->reply_body = r->reply_body ? json_incref(r->reply_body) : json_object();
        g->rinfo = (struct srv_response_info){.id = g->id, .model = g->model, .created_at = g->created,
                                              .request = g->reply_body};
    }
    if (g->stream && g->reply == REQ_REPLY_ANTHROPIC && /* Anthropic: a ping follows message_start */
        srv_anthropic_stream_start(&g->ant, &g->sse, g->id, g->model, g->n_prompt) == 0)
        srv_anthropic_stream_ping(&g->sse);
    if (g->stream && g->reply == REQ_REPLY_RESPONSES)
        srv_responses_stream_start(&g->resp, &g->sse, &g->rinfo);
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
    t->progress = g->stream; /* the counts of stream events; return_progress shows them */
    t->index = i;
    sched_task_set_events(t, g->q);
    return t;
}

void completion_llama_settings(json_t *settings, int32_t n_predict, const char *spec_type)
{
    json_t *x = json_pack("{s:i,s:i,s:f,s:f,s:b,s:s,s:s,s:b,s:[],s:[],s:[],s:b,s:s,s:b,s:s}", "max_tokens",
                          n_predict, "n_discard", 0, "adaptive_target", -1.0, "adaptive_decay", 0.9,
                          "backend_sampling", 0, "chat_format", "Content-only", "generation_prompt", "",
                          "grammar_lazy", 0, "grammar_triggers", "preserved_tokens", "lora", "post_sampling_probs", 0,
                          "reasoning_format", "none", "reasoning_in_content", 0, "speculative.types",
                          spec_type && *spec_type ? spec_type : "none");
    if (settings && x)
        json_object_update_missing(settings, x);
    json_decref(x);
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
    completion_llama_settings(g->settings, r->n_predict, s->p->spec_type);
    json_t *j = json_pack("{s:O,s:o}", "settings", g->settings, "prompt",
                          g->prompt ? json_incref(g->prompt) : json_string(""));
    *info = j ? srv_json_dump(j, NULL) : NULL;
    json_decref(j);
    return 0;
}

/* A prompt that cannot fit the slot: llama-server answers before any
 * stream begins (a plain 400 for stream requests too). Unless the seed's
 * truncation applies (n_keep given, context shift on). With a system prompt
 * set the scheduler decides (the prefix counts; its error has the same
 * shape, see error_body). True when rep holds the answer. */
static bool refuse_too_long(struct server *s, const struct request_ctx *c, const struct completion_req *r,
                            struct http_reply *rep)
{
    if ((r->truncate && s->p->context_shift) || !c->bos || (int64_t)r->prompt.n < (int64_t)s->n_ctx_slot)
        return false;
    size_t len = 0;
    char *body = exceed_context_body((int32_t)r->prompt.n, s->n_ctx_slot, &len);
    if (!body) {
        srv_reply_error(rep, 500, "out of memory");
        return true;
    }
    rep->status = 400;
    rep->content_type = "application/json; charset=utf-8";
    rep->body = body;
    rep->len = len;
    return true;
}

void completion_submit(struct server *s, const struct request_ctx *c, struct completion_req *r,
                       struct http_reply *rep)
{
    char err[512], *info = NULL;
    int n = r->n_choices;
    if (refuse_too_long(s, c, r, rep))
        return;
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
