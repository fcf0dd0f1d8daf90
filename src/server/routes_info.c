/*
 * routes_info.c - the routes that report and convert: /health, /props,
 * /slots, /metrics (Prometheus text), /tokenize, /detokenize, and the
 * system prompt shared by all slots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/sbuf.h"
#include "server/chat.h"
#include "server/completion_reply.h"
#include "server/log.h"
#include "server/memory_info.h"
#include "server/request.h"
#include "server/server_internal.h"

void srv_request_ctx(struct server *s, struct request_ctx *c)
{
    pthread_mutex_lock(&s->sys_lock);
    bool has_sys = s->sys_prompt && *s->sys_prompt;
    pthread_mutex_unlock(&s->sys_lock);
    *c = (struct request_ctx){.vocab = s->vocab, .n_slots = sched_n_slots(s->sched), .n_ctx_slot = s->n_ctx_slot,
                              .model_name = s->model_name, .bos = !has_sys, .spm_infill = s->p->spm_infill,
                              .defaults = s->p->sampling};
}

json_t *srv_default_settings(struct server *s)
{
    struct request_ctx c;
    struct completion_req r;
    srv_request_ctx(s, &c);
    request_init(&r, REQ_API_NATIVE);
    char msg[256];
    if (request_apply_defaults(&r, &c, msg, sizeof msg) != 0) /* checked at start-up (srv_check_defaults) */
        log_error("request defaults: %s", msg);
    json_t *j = request_settings_json(&r, &c);
    request_free(&r);
    return j;
}

int srv_check_defaults(struct server *s, char *err, size_t err_size)
{
    struct request_ctx c;
    struct completion_req r;
    srv_request_ctx(s, &c);
    if (!c.defaults)
        return 0;
    request_init(&r, REQ_API_INFILL); /* the door that needs no prompt */
    char msg[512];
    int rc = request_read(&r, &c, c.defaults, msg, sizeof msg);
    request_free(&r);
    return rc == 0 ? 0 : err_set(err, err_size, "the sampling options: %s", msg);
}

/* ------------------------------------------------------------ slots */

static json_t *props_params(const json_t *g, const char *spec_type);

/* A copy of the slots taken under the scheduler's lock (plain copies only:
 * the JSON is made after the lock is released). */
struct slot_copy {
    struct sched_slot_info si;
    char *info, *stopping_word;
};

struct slots_visit {
    struct slot_copy *v;
    int n, cap;
};

static void slot_visit(void *ud, const struct sched_slot_info *si)
{
    struct slots_visit *sv = ud;
    if (sv->n == sv->cap)
        return;
    struct slot_copy *c = &sv->v[sv->n++];
    c->si = *si;
    c->info = si->info ? strdup(si->info) : NULL;
    c->stopping_word = strdup(si->stopping_word ? si->stopping_word : "");
}

static json_t *slot_json(const struct slot_copy *c, const json_t *defaults, const char *spec_type)
{
    const struct sched_slot_info *si = &c->si;
    json_error_t je;
    json_t *info = c->info ? json_loads(c->info, 0, &je) : NULL;
    const json_t *settings = info ? json_object_get(info, "settings") : defaults;
    json_t *j = json_deep_copy(settings);
    if (!j)
        j = json_object();
    json_object_set_new(j, "id", json_integer(si->id));
    json_object_set_new(j, "id_task", json_integer(si->task_id));
    json_object_set_new(j, "task_id", json_integer(si->task_id));
    json_object_set_new(j, "state", json_integer(si->processing ? 1 : 0));
    json_object_set_new(j, "is_processing", json_boolean(si->processing));
    json_object_set_new(j, "n_ctx", json_integer(si->n_ctx));
    json_object_set_new(j, "n_past", json_integer(si->n_past));
    json_object_set_new(j, "kv_pages", json_integer(si->kv_pages)); /* cllm: KV pages its sequence holds */
    /* llama-server's slot fields besides the seed's */
    json_object_set_new(j, "speculative", json_false());
    json_object_set_new(j, "params", props_params(settings ? settings : j, spec_type));
    json_t *prompt = info ? json_object_get(info, "prompt") : NULL;
    json_object_set_new(j, "prompt", prompt ? json_incref(prompt) : json_string(""));
    const char *sw = c->stopping_word ? c->stopping_word : "";
    json_object_set_new(j, "next_token",
                        json_pack("{s:b,s:i,s:i,s:b,s:b,s:b,s:o}", "has_next_token", si->has_next_token, "n_remain",
                                  si->n_remain, "n_decoded", si->n_decoded, "stopped_eos", si->stopped_eos,
                                  "stopped_limit", si->stopped_limit, "stopped_word", si->stopped_word,
                                  "stopping_word", srv_json_text(sw, strlen(sw))));
    json_decref(info);
    return j;
}

json_t *srv_slots_json(struct server *s)
{
    int n = sched_n_slots(s->sched);
    struct slots_visit sv = {calloc((size_t)n, sizeof *sv.v), 0, n};
    json_t *arr = json_array();
    if (!sv.v)
        return arr;
    sched_visit_slots(s->sched, slot_visit, &sv);
    json_t *defaults = srv_default_settings(s);
    for (int i = 0; i < sv.n; i++) {
        json_array_append_new(arr, slot_json(&sv.v[i], defaults, s->p->spec_type));
        free(sv.v[i].info);
        free(sv.v[i].stopping_word);
    }
    json_decref(defaults);
    free(sv.v);
    return arr;
}

void route_slots(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    if (!s->p->slots_endpoint) {
        srv_reply_error(rep, 501, "This server does not support slots endpoint.");
        return;
    }
    srv_reply_json(rep, 200, srv_slots_json(s));
}

/* ------------------------------------------------------------ health */

static bool query_flag(const struct http_request *req, const char *name)
{
    const char *v = http_query(req, name);
    return v && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

void route_health(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    int state = atomic_load(&s->state);
    if (state == SERVER_LOADING) {
        srv_reply_json(rep, 503, json_pack("{s:s}", "status", "loading model"));
        return;
    }
    if (state == SERVER_FAILED) {
        srv_reply_json(rep, 500, json_pack("{s:s}", "status", "error"));
        return;
    }
    struct sched_stats st;
    sched_get_stats(s->sched, &st);
    bool full = st.n_idle == 0;
    json_t *j = json_pack("{s:s,s:i,s:i}", "status", full ? "no slot available" : "ok", "slots_idle", st.n_idle,
                          "slots_processing", st.n_processing);
    if (query_flag(req, "include_slots") && s->p->slots_endpoint)
        json_object_set_new(j, "slots", srv_slots_json(s));
    srv_reply_json(rep, full && query_flag(req, "fail_on_no_slot") ? 503 : 200, j);
}

/* ------------------------------------------------------------ props */

/* default_generation_settings.params as llama-server shows it: the settings
 * (without n_ctx and model) and the samplers' fields cllm has at their off
 * values (cllm has no DRY, XTC, top-n-sigma or adaptive-p sampler). */
/* llama-server's `params` object: the settings g plus the fields cllm has
 * no counterpart for, at their "off" values, and the speculative type. */
static json_t *props_params(const json_t *g, const char *spec_type)
{
    json_t *p = json_deep_copy(g);
    json_object_del(p, "n_ctx");
    json_object_del(p, "model");
    json_object_set(p, "max_tokens", json_object_get(p, "n_predict"));
    json_t *extra = json_pack("{s:f,s:f,s:f,s:f,s:f,s:i,s:i,s:f,s:f,s:i,s:s,s:s,s:b,s:s,s:b,s:b,s:b,s:[]}",
                              "top_n_sigma", -1.0, "xtc_probability", 0.0, "xtc_threshold", 0.1, "dry_multiplier",
                              0.0, "dry_base", 1.75, "dry_allowed_length", 2, "dry_penalty_last_n", -1,
                              "adaptive_target", -1.0, "adaptive_decay", 0.9, "n_discard", 0, "chat_format",
                              "Content-only", "reasoning_format", "none", "reasoning_in_content", 0,
                              "generation_prompt", "", "timings_per_token", 0, "post_sampling_probs", 0,
                              "backend_sampling", 0, "lora");
    json_object_update_missing(p, extra);
    json_decref(extra);
    json_object_set_new(p, "speculative.types", json_string(spec_type && *spec_type ? spec_type : "none"));
    return p;
}

/* llama_ftype_name(): the model's general.file_type in llama.cpp's words. */
static const char *ftype_name(const struct server *s)
{
    static const char *const names[] = {
        [0] = "all F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0", [9] = "Q5_1",
        [10] = "Q2_K - Medium", [11] = "Q3_K - Small", [12] = "Q3_K - Medium", [13] = "Q3_K - Large",
        [14] = "Q4_K - Small", [15] = "Q4_K - Medium", [16] = "Q5_K - Small", [17] = "Q5_K - Medium",
        [18] = "Q6_K", [19] = "IQ2_XXS - 2.0625 bpw", [20] = "IQ2_XS - 2.3125 bpw", [21] = "Q2_K - Small",
        [22] = "IQ3_XS - 3.3 bpw", [23] = "IQ3_XXS - 3.0625 bpw", [24] = "IQ1_S - 1.5625 bpw",
        [25] = "IQ4_NL - 4.5 bpw", [26] = "IQ3_S - 3.4375 bpw", [27] = "IQ3_S mix - 3.66 bpw",
        [28] = "IQ2_S - 2.5 bpw", [29] = "IQ2_M - 2.7 bpw", [30] = "IQ4_XS - 4.25 bpw", [31] = "IQ1_M - 1.75 bpw",
        [32] = "BF16", [36] = "TQ1_0 - 1.69 bpw ternary", [37] = "TQ2_0 - 2.06 bpw ternary", [38] = "MXFP4 MoE",
        [39] = "NVFP4", [40] = "Q1_0", [41] = "Q2_0",
    };
    uint32_t ft;
    if (gguf_get_u32(s->model->gguf, "general.file_type", &ft) != 0)
        return "(guessed) unknown, may not work"; /* llama.cpp guesses from the tensors */
    return ft < sizeof names / sizeof names[0] && names[ft] ? names[ft] : "unknown, may not work";
}

/* llama-server's media_marker: LLAMA_MEDIA_MARKER, or "<__media_" + 32
 * random letters + "__>", fixed for the process (cllm takes no media: it
 * only shows it). */
static char g_media_marker[128];

static void make_media_marker(void)
{
    const char *env = getenv("LLAMA_MEDIA_MARKER");
    if (env && *env) {
        snprintf(g_media_marker, sizeof g_media_marker, "%s", env);
        return;
    }
    static const char abc[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32);
    char r[33];
    for (int i = 0; i < 32; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        r[i] = abc[x % (sizeof abc - 1)];
    }
    r[32] = 0;
    snprintf(g_media_marker, sizeof g_media_marker, "<__media_%s__>", r);
}

void route_props(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    static pthread_once_t marker_once = PTHREAD_ONCE_INIT;
    pthread_once(&marker_once, make_media_marker);
    pthread_mutex_lock(&s->sys_lock);
    json_t *j = json_pack("{s:s,s:s,s:s}", "system_prompt", s->sys_prompt ? s->sys_prompt : "", "assistant_name",
                          s->sys_assistant_name ? s->sys_assistant_name : "", "user_name",
                          s->sys_anti_prompt ? s->sys_anti_prompt : "");
    pthread_mutex_unlock(&s->sys_lock);
    json_t *g = srv_default_settings(s);
    /* the members an answer's generation_settings has (completion_reply.c) */
    completion_llama_settings(g, (int32_t)json_integer_value(json_object_get(g, "n_predict")), s->p->spec_type);
    json_object_set_new(g, "params", props_params(g, s->p->spec_type)); /* llama-server's shape */
    json_object_set_new(j, "default_generation_settings", g);
    json_object_set_new(j, "total_slots", json_integer(sched_n_slots(s->sched)));
    json_object_set_new(j, "model_path", json_string(s->p->model));
    json_object_set_new(j, "chat_template", json_string(srv_chat_name(s)));
    json_object_set_new(j, "n_ctx", json_integer(s->n_ctx_slot * sched_n_slots(s->sched)));
    /* the rest of llama-server's /props */
    const struct vocab *v = s->vocab;
    json_object_set_new(j, "model_alias", json_string(s->model_name));
    json_object_set_new(j, "modalities", json_pack("{s:b,s:b,s:b}", "vision", 0, "video", 0, "audio", 0));
    json_object_set_new(j, "endpoint_slots", json_boolean(s->p->slots_endpoint));
    json_object_set_new(j, "endpoint_props", json_boolean(s->p->endpoint_props));
    json_object_set_new(j, "endpoint_metrics", json_boolean(s->p->metrics));
    json_object_set_new(j, "ui", json_boolean(s->p->webui));
    json_object_set_new(j, "webui", json_boolean(s->p->webui));
    json_object_set_new(j, "bos_token", json_string(vocab_valid(v, v->bos) ? v->tokens[v->bos].text : ""));
    json_object_set_new(j, "eos_token", json_string(vocab_valid(v, v->eos) ? v->tokens[v->eos].text : ""));
    json_object_set_new(j, "build_info", json_string("cllm"));
    json_object_set_new(j, "is_sleeping", json_boolean(atomic_load(&s->sleeping))); /* --sleep-idle-seconds */
    json_object_set_new(j, "model_ftype", json_string(ftype_name(s)));
    json_object_set_new(j, "media_marker", json_string(g_media_marker));
    json_object_set_new(j, "chat_template_caps", srv_chat_caps(s));
    /* cllm's own: the tool-call format the template teaches (docs/tools.md) */
    json_object_set_new(j, "tool_call_format", json_string(chat_tool_format_name(s->tool_format)));
    json_object_set_new(j, "cors_proxy_enabled", json_false()); /* cllm has no MCP CORS proxy */
    /* --ui-config: the web UI's default settings (server_params.c) */
    json_object_set_new(j, "ui_settings", s->p->ui_config ? json_deep_copy(s->p->ui_config) : json_object());
    srv_reply_json(rep, 200, j);
}

/* POST /props: llama-server answers 501 unless started with --props; it
 * changes nothing there either ({"success": true}). */
void route_props_post(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    if (!s->p->endpoint_props) {
        srv_reply_error(rep, 501,
                        "This server does not support changing global properties. Start it with `--props`");
        return;
    }
    srv_reply_json(rep, 200, json_pack("{s:b}", "success", 1));
}

/* ------------------------------------------------------------ metrics */

static void metric(struct sbuf *b, const char *name, const char *type, const char *help, double value)
{
    sbuf_printf(b, "# HELP llamacpp:%s %s\n# TYPE llamacpp:%s %s\nllamacpp:%s %.17g\n", name, help, name, type, name,
                value);
}

void route_metrics(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    if (!s->p->metrics) {
        srv_reply_error(rep, 501, "This server does not support metrics endpoint.");
        return;
    }
    struct sched_stats st;
    sched_get_stats(s->sched, &st);
    struct sbuf b = SBUF_INIT;
    metric(&b, "prompt_tokens_total", "counter", "Number of prompt tokens processed.", (double)st.n_prompt_tokens);
    metric(&b, "prompt_seconds_total", "counter", "Prompt process time", st.t_prompt_ms / 1e3);
    metric(&b, "tokens_predicted_total", "counter", "Number of generation tokens processed.",
           (double)st.n_predicted_tokens);
    metric(&b, "tokens_predicted_seconds_total", "counter", "Predict process time", st.t_predicted_ms / 1e3);
    metric(&b, "n_decode_total", "counter", "Total number of engine decode calls.", (double)st.n_decode_calls);
    metric(&b, "n_busy_slots_per_decode", "counter", "Average number of busy slots per decode call.",
           st.n_decode_calls ? (double)st.n_busy_slots / (double)st.n_decode_calls : 0.0);
    metric(&b, "prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
           st.t_prompt_ms > 0 ? (double)st.n_prompt_tokens * 1e3 / st.t_prompt_ms : 0.0);
    metric(&b, "predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
           st.t_predicted_ms > 0 ? (double)st.n_predicted_tokens * 1e3 / st.t_predicted_ms : 0.0);
    metric(&b, "kv_cache_usage_ratio", "gauge", "KV-cache usage. 1 means 100 percent usage.",
           st.kv_size > 0 ? (double)st.kv_tokens / st.kv_size : 0.0);
    metric(&b, "kv_cache_tokens", "gauge", "KV-cache tokens.", (double)st.kv_tokens);
    metric(&b, "requests_processing", "gauge", "Number of requests processing.", (double)st.n_processing);
    metric(&b, "requests_deferred", "gauge", "Number of requests deferred.", (double)st.n_deferred);
    srv_metrics_memory(&b, &st);
    size_t len;
    char *text = sbuf_take(&b, &len);
    if (!text) {
        srv_reply_error(rep, 500, "out of memory");
        return;
    }
    rep->status = 200;
    rep->content_type = "text/plain; version=0.0.4";
    rep->body = text;
    rep->len = len;
}

/* ------------------------------------------------------------ tokenize */

void route_tokenize(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = srv_parse_body(req, rep);
    if (!body)
        return;
    const json_t *content = json_object_get(body, "content");
    const json_t *add = json_object_get(body, "add_special");
    const json_t *pieces = json_object_get(body, "with_pieces");
    if (!json_is_string(content)) {
        srv_reply_error(rep, 400, "'content' must be a string");
    } else if (add && !json_is_boolean(add) && !json_is_null(add)) {
        srv_reply_error(rep, 400, "'add_special' must be true or false");
    } else if (pieces && !json_is_boolean(pieces) && !json_is_null(pieces)) {
        srv_reply_error(rep, 400, "'with_pieces' must be true or false");
    } else {
        struct tok_list toks = {0};
        if (tokenize_list(s->vocab, json_string_value(content), json_string_length(content), json_is_true(add), true,
                          &toks) != 0) {
            srv_reply_error(rep, 500, "cannot tokenize");
        } else {
            /* written straight out, not built as JSON objects: memory in
             * proportion to the answer (a 4 MB body made 1.4 GB of objects) */
            struct sbuf b = SBUF_INIT;
            bool ok = sbuf_puts(&b, "{\"tokens\":[") == 0;
            for (size_t i = 0; ok && i < toks.n; i++) {
                if (i)
                    sbuf_putc(&b, ',');
                if (!json_is_true(pieces)) {
                    sbuf_printf(&b, "%d", (int)toks.v[i]);
                    continue;
                }
                char buf[256];
                int64_t n = token_to_piece(s->vocab, toks.v[i], buf, sizeof buf, 0, true);
                json_t *piece = srv_json_text(buf, n > 0 && n <= 256 ? (size_t)n : 0);
                sbuf_printf(&b, "{\"id\":%d,\"piece\":", (int)toks.v[i]);
                ok = piece && srv_json_append(&b, piece) == 0 && sbuf_putc(&b, '}') == 0;
                json_decref(piece);
            }
            ok = ok && sbuf_puts(&b, "]}") == 0 && !b.oom;
            if (ok) {
                rep->status = 200;
                rep->content_type = "application/json; charset=utf-8";
                rep->body = sbuf_take(&b, &rep->len);
            } else {
                srv_reply_error(rep, 500, "out of memory");
            }
            sbuf_free(&b);
        }
        tok_list_free(&toks);
    }
    json_decref(body);
}

void route_detokenize(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    json_t *body = srv_parse_body(req, rep);
    if (!body)
        return;
    const json_t *tokens = json_object_get(body, "tokens");
    size_t n = json_array_size(tokens), i;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    const json_t *e;
    bool ok = json_is_array(tokens) && ids;
    json_array_foreach(tokens, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= s->vocab->n_tokens) {
            ok = false;
            break;
        }
        ids[i] = (int32_t)json_integer_value(e);
    }
    if (!ok) {
        srv_reply_error(rep, 400, "'tokens' must be an array of valid token ids");
    } else {
        int64_t len = detokenize(s->vocab, ids, n, NULL, 0, false, true);
        char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
        if (text && detokenize(s->vocab, ids, n, text, (size_t)len + 1, false, true) == len)
            srv_reply_json(rep, 200, json_pack("{s:o}", "content", srv_json_text(text, (size_t)len)));
        else
            srv_reply_error(rep, 500, "cannot detokenize");
        free(text);
    }
    free(ids);
    json_decref(body);
}

/* ------------------------------------------------------------ system prompt */

int srv_set_system_prompt(struct server *s, const json_t *sp, char *err, size_t err_size)
{
    const json_t *prompt = json_is_string(sp) ? sp : json_object_get(sp, "prompt");
    const json_t *anti = json_object_get(sp, "anti_prompt"), *name = json_object_get(sp, "assistant_name");
    if (!json_is_string(prompt) || (anti && !json_is_string(anti)) || (name && !json_is_string(name)))
        return err_set(err, err_size,
                       "expected {\"prompt\": string, \"anti_prompt\": string, \"assistant_name\": string}");
    struct tok_list toks = {0};
    if (tokenize_list(s->vocab, json_string_value(prompt), json_string_length(prompt), s->vocab->add_bos, true,
                      &toks) != 0)
        return err_set(err, err_size, "cannot tokenize the system prompt");
    if (json_string_length(prompt) == 0)
        toks.n = 0;
    /* Nobody waits for its result: the task posts into a queue no one reads
     * (freed with the task's reference). */
    struct sched_task *t = sched_task_new(SCHED_SYSTEM_PROMPT);
    struct sched_events *q = sched_events_new(NULL, NULL);
    if (!t || !q) {
        tok_list_free(&toks);
        sched_task_free(t);
        sched_events_unref(q);
        return err_set(err, err_size, "out of memory");
    }
    pthread_mutex_lock(&s->sys_lock);
    free(s->sys_prompt);
    free(s->sys_anti_prompt);
    free(s->sys_assistant_name);
    s->sys_prompt = strdup(json_string_value(prompt));
    s->sys_anti_prompt = strdup(anti ? json_string_value(anti) : "");
    s->sys_assistant_name = strdup(name ? json_string_value(name) : "");
    pthread_mutex_unlock(&s->sys_lock);
    t->prompt = toks.v;
    t->n_prompt = toks.n;
    sched_task_set_events(t, q);
    sched_events_unref(q);
    sched_submit(s->sched, t);
    return 0;
}

/* ------------------------------------------------------------ /openapi.json */

/* docs/openapi.yaml as JSON (openapi_json.c, generated at build time by
 * scripts/embed-openapi.py). */
extern const char srv_openapi_json[];
extern const size_t srv_openapi_json_len;

void route_openapi(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    char *body = malloc(srv_openapi_json_len + 1);
    if (!body) {
        srv_reply_error(rep, 500, "out of memory");
        return;
    }
    memcpy(body, srv_openapi_json, srv_openapi_json_len + 1);
    rep->status = 200;
    rep->content_type = "application/json";
    rep->body = body;
    rep->len = srv_openapi_json_len;
}
