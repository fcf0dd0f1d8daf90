/*
 * server.c - start-up, routing and access control of cllm-server.
 *
 * The HTTP port opens before the model loads; until it is ready every route
 * but /health answers 503. Routing is a plain table of method and path; API
 * keys are compared in constant time; static files (--path) are served only
 * from inside their directory.
 */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "server/chat.h"
#include "server/log.h"
#include "server/server_internal.h"
#include "server/web.h"

/* ------------------------------------------------------------ access */

/* a[0..la) against the key b: every byte of b is looked at whatever a is
 * (a's length is the header's length as received, NULs included). */
static bool key_equal(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)((i < la ? (unsigned char)a[i] : 0u) ^ (unsigned char)b[i]);
    return diff == 0 && la == lb;
}

static bool authorized(const struct server *s, const struct http_request *req)
{
    if (s->p->n_api_keys == 0)
        return true;
    /* Authorization: Bearer KEY (the seed), else X-Api-Key: KEY as
     * llama-server also reads (Anthropic clients) */
    size_t len = 0;
    const char *key = http_header_n(req, "Authorization", &len);
    if (key && len > 0) {
        if (len < 7 || strncmp(key, "Bearer ", 7) != 0)
            return false;
        key += 7;
        len -= 7;
    } else if (!(key = http_header_n(req, "X-Api-Key", &len))) {
        return false;
    }
    bool ok = false;
    for (size_t i = 0; i < s->p->n_api_keys; i++)
        ok |= key_equal(key, len, s->p->api_keys[i]);
    return ok;
}

/* Static files (the embedded web page, --path): routes_web.c (web.h). */

/* ------------------------------------------------------------ limits */

/* Is this a request that queues work for a slot (generation, embedding)? */
static bool queues_work(const struct http_request *req)
{
    static const char *const paths[] = {"/completion", "/completions", "/infill", "/v1/completions",
                                        "/v1/chat/completions", "/chat/completions", "/embedding",
                                        "/embeddings", "/v1/embeddings"};
    if (strcmp(req->method, "POST") != 0)
        return false;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (strcmp(req->path, paths[i]) == 0)
            return true;
    return false;
}

/* --max-queue: refuse (503 + Retry-After, as a loaded llama-server or nginx
 * would) when that many requests already wait for a slot. The count is the
 * scheduler's (tasks submitted and not yet in a slot, less the idle slots
 * that will take them); requests checked at the same moment on other HTTP
 * threads may pass it together (at most --threads-http over). */
static bool queue_full(struct server *s)
{
    if (s->p->max_queue <= 0)
        return false;
    struct sched_stats st;
    sched_get_stats(s->sched, &st);
    int32_t waiting = st.n_deferred - st.n_idle;
    return waiting >= s->p->max_queue;
}

/* ------------------------------------------------------------ routing */

typedef void (*route_fn)(struct server *s, const struct http_request *req, struct http_reply *rep);

struct route {
    const char *method, *path;
    route_fn fn;
};

static const struct route ROUTES[] = {
    {"GET", "/health", route_health},
    {"GET", "/props", route_props},
    {"POST", "/props", route_props_post},
    {"GET", "/slots", route_slots},
    {"GET", "/metrics", route_metrics},
    {"POST", "/tokenize", route_tokenize},
    {"POST", "/detokenize", route_detokenize},
    {"POST", "/completion", route_completion},
    {"POST", "/completions", route_completion},
    {"POST", "/infill", route_infill},
    {"GET", "/v1/models", route_models},
    {"GET", "/models", route_models},
    {"POST", "/v1/completions", route_oai_completions},
    {"POST", "/v1/chat/completions", route_chat_completions},
    {"POST", "/chat/completions", route_chat_completions},
    {"POST", "/apply-template", route_apply_template},
    {"POST", "/embedding", route_embedding},
    {"POST", "/embeddings", route_embedding},
    {"POST", "/v1/embeddings", route_oai_embeddings},
};

static void handle(void *ud, const struct http_request *req, struct http_reply *rep)
{
    struct server *s = ud;
    bool is_health = strcmp(req->path, "/health") == 0;
    if (!is_health && web_route(s->p, req, rep)) /* static files: no key needed */
        goto done;
    /* /health is open, but its slot details (other users' prompts) are not */
    if ((!is_health || http_query(req, "include_slots")) && !authorized(s, req)) {
        srv_reply_error(rep, 401, "Invalid API Key");
        goto done;
    }
    if (!is_health && atomic_load(&s->state) != SERVER_READY) {
        srv_reply_error(rep, 503, atomic_load(&s->state) == SERVER_LOADING ? "Loading model" : "The model failed to load");
        goto done;
    }
    if (queues_work(req) && queue_full(s)) {
        srv_reply_error(rep, 503, "the server is busy: %d requests are waiting for a slot, retry later",
                        s->p->max_queue);
        rep->headers = strdup("Retry-After: 1\r\n");
        goto done;
    }
    if (strncmp(req->path, "/slots/", 7) == 0) {
        if (strcmp(req->method, "POST") == 0)
            route_slot_action(s, req, rep, req->path + 7);
        else
            srv_reply_error(rep, 405, "use POST for %s", req->path);
        goto done;
    }
    bool path_known = false;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (strcmp(req->path, ROUTES[i].path) != 0)
            continue;
        path_known = true;
        if (strcmp(req->method, ROUTES[i].method) == 0) {
            ROUTES[i].fn(s, req, rep);
            goto done;
        }
    }
    if (path_known)
        srv_reply_error(rep, 405, "method %s is not allowed for %s", req->method, req->path);
    else
        srv_reply_error(rep, 404, "File Not Found: %s", req->path);
done:
    log_request_end(req->method, req->path, rep->stream ? 200 : rep->status, req->body, req->body_len,
                    rep->stream ? NULL : rep->body, rep->len);
}

/* ------------------------------------------------------------ life cycle */

/* A whole file, with the option's name in front of file_read's message. */
static char *read_option_file(const char *path, const char *what, char *err, size_t err_size)
{
    char msg[512];
    char *buf = file_read(path, 0, NULL, msg, sizeof msg);
    if (!buf)
        err_set(err, err_size, "%s: %s", what, msg);
    return buf;
}

struct server *server_start(const struct server_params *p, char *err, size_t err_size)
{
    struct server *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, err_size, "out of memory");
        return NULL;
    }
    s->p = p;
    atomic_init(&s->state, SERVER_LOADING);
    pthread_mutex_init(&s->sys_lock, NULL);
    s->model_name = p->alias ? p->alias : p->model;
    char *key = NULL, *cert = NULL;
    if (p->ssl_key_file && (!(key = read_option_file(p->ssl_key_file, "--ssl-key-file", err, err_size)) ||
                            !(cert = read_option_file(p->ssl_cert_file, "--ssl-cert-file", err, err_size)))) {
        free(key);
        free(s);
        return NULL;
    }
    size_t tl_len;
    char *too_large = srv_error_body(413, "the request body is too large", &tl_len);
    char *busy = srv_error_body(503, "the server is busy: too many connections, retry later", &tl_len);
    struct http_config hc = {
        .host = p->host, .port = p->port, .n_threads = p->threads_http, .timeout_s = p->timeout_s,
        .max_body = p->body_limit, .tls_key_pem = key, .tls_cert_pem = cert,
        .handler = handle, .handler_ud = s, .too_large_body = too_large, .log_errors = p->verbose,
        .max_connections = p->max_connections, .header_timeout_s = p->header_timeout_s, .busy_body = busy,
        .n_workers = p->threads_http,
        .cors_origins = p->cors_origins, .cors_methods = p->cors_methods, .cors_headers = p->cors_headers,
        .cors_no_credentials = p->cors_no_credentials,
    };
    s->http = http_start(&hc, err, err_size);
    free(too_large);
    free(busy);
    free(key);
    free(cert);
    if (!s->http) {
        free(s);
        return NULL;
    }
    return s;
}

int server_port(const struct server *s)
{
    return http_port(s->http);
}

static int load_system_prompt_file(struct server *s, char *err, size_t err_size)
{
    json_error_t je;
    json_t *j = json_load_file(s->p->system_prompt_file, 0, &je);
    if (!j)
        return err_set(err, err_size, "--system-prompt-file: '%s': %s (line %d)", s->p->system_prompt_file, je.text,
                       je.line);
    char msg[256];
    int rc = srv_set_system_prompt(s, j, msg, sizeof msg);
    json_decref(j);
    if (rc != 0)
        err_set(err, err_size, "--system-prompt-file: '%s': %s", s->p->system_prompt_file, msg);
    return rc;
}

static int load_engine(struct server *s, char *err, size_t err_size)
{
    const struct server_params *p = s->p;
    unsigned flags = (p->no_mmap ? GGUF_OPEN_NO_MMAP : 0) | (p->mlock ? GGUF_OPEN_MLOCK : 0);
    s->model = model_load(p->model, flags, err, err_size);
    if (!s->model)
        return -1;
    if (!(s->vocab = vocab_load(s->model->gguf, err, err_size)))
        return -1;
    int32_t n_ctx = p->n_ctx;
    if (n_ctx <= 0 || n_ctx > s->model->hp.n_ctx_train)
        n_ctx = s->model->hp.n_ctx_train;
    int32_t slot_ctx = n_ctx / p->n_parallel;
    if (slot_ctx < 8) {
        snprintf(err, err_size, "-c %d is too small for %d slots", n_ctx, p->n_parallel);
        return -1;
    }
    struct engine_params ep = engine_default_params();
    ep.n_ctx = engine_ctx_for_seqs(p->n_parallel + 1, slot_ctx); /* the slots and the system prompt */
    ep.n_batch = p->n_ubatch;
    ep.n_seq_max = p->n_parallel + 1;
    /* speculative decoding: room for drafts in the outputs (each slot's
     * token, plus up to draft_max drafted tokens for one slot or 64 shared) */
    bool spec = strcmp(p->spec_type, "none") != 0;
    int32_t n_draft_out = p->n_parallel * p->draft_max < 64 ? p->n_parallel * p->draft_max : 64;
    ep.n_outputs_max = p->n_parallel + (!spec ? 0 : n_draft_out > p->draft_max ? n_draft_out : p->draft_max);
    ep.n_threads = p->n_threads;
    ep.n_threads_batch = p->n_threads_batch;
    ep.type_k = p->type_k;
    ep.type_v = p->type_v;
    if (!(s->engine = engine_create(s->model, &ep, err, err_size)))
        return -1;
    if (!(s->sv = sampler_vocab_create(s->vocab, err, err_size)))
        return -1;
    struct sched_params sp = {.n_slots = p->n_parallel, .n_ctx = slot_ctx * p->n_parallel,
                              .n_predict = p->n_predict, .n_batch = p->n_ubatch,
                              .no_context_shift = !p->context_shift,
                              .spec_type = spec ? SCHED_SPEC_NGRAM : SCHED_SPEC_NONE,
                              .draft_max = p->draft_max, .draft_min = p->draft_min,
                              .draft_p_min = p->draft_p_min, .ngram_n = p->spec_ngram_n};
    if (!(s->sched = sched_create(s->engine, s->vocab, &sp, err, err_size)))
        return -1;
    s->n_ctx_slot = slot_ctx;
    return srv_chat_init(s, err, err_size);
}

int server_load(struct server *s, char *err, size_t err_size)
{
    if (load_engine(s, err, err_size) != 0 || srv_check_defaults(s, err, err_size) != 0 ||
        (s->p->system_prompt_file && load_system_prompt_file(s, err, err_size) != 0)) {
        atomic_store(&s->state, SERVER_FAILED);
        return -1;
    }
    atomic_store(&s->state, SERVER_READY);
    return 0;
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    atomic_store(&s->state, SERVER_FAILED); /* new requests get 503 */
    http_stop(s->http);   /* waits for handlers; cancels every stream */
    sched_free(s->sched); /* fails what is left */
    srv_chat_free(s);
    sampler_vocab_free(s->sv);
    engine_free(s->engine);
    vocab_free(s->vocab);
    model_free(s->model);
    free(s->sys_prompt);
    free(s->sys_anti_prompt);
    free(s->sys_assistant_name);
    pthread_mutex_destroy(&s->sys_lock);
    free(s);
}
