/*
 * server.c - start-up, routing and access control of cllm-server.
 *
 * The HTTP port opens before the model loads; until it is ready every route
 * but /health answers 503. Routing is a plain table of method and path; API
 * keys are compared in constant time; static files (--path) are served only
 * from inside their directory. Loading can check the weights
 * (--check-tensors) and warm the model up (--warmup); an idle server may
 * sleep (--sleep-idle-seconds: its weights' pages released).
 */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "grammar/grammar.h"
#include "tensor/quant.h"
#include "server/chat.h"
#include "server/log.h"
#include "server/memory_info.h"
#include "server/server_internal.h"
#include "server/server_seam.h"
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
                                        "/embeddings", "/v1/embeddings", "/v1/messages", "/v1/responses",
                                        "/responses"};
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

/* --log-prompts-dir: a completion request's prompt (or chat messages) in
 * DIR/<ms>.txt, as llama-server writes them (for debugging). */
static void log_prompt(const struct server *s, const struct http_request *req)
{
    if (!s->p->log_prompts_dir || !queues_work(req) || strstr(req->path, "embedding"))
        return;
    json_t *b = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    const json_t *pr = json_object_get(b, "prompt");
    if (!pr)
        pr = json_object_get(b, "messages");
    char *text = !pr ? NULL : json_is_string(pr) ? strdup(json_string_value(pr)) : json_dumps(pr, JSON_INDENT(2));
    json_decref(b);
    if (!text)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%012lld.txt", s->p->log_prompts_dir, (long long)clock_ms());
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    } else {
        log_error("--log-prompts-dir: cannot create %s: %s", path, strerror(errno));
    }
    free(text);
}

/* ------------------------------------------------------------ sleeping */

/* --sleep-idle-seconds. llama-server unloads the model after that many
 * idle seconds and loads it again for the next task; /health, /props,
 * /metrics and /v1/models are answered meanwhile without waking it. cllm
 * keeps every structure and releases the weights' memory instead: the
 * model file is mapped read-only, so madvise(MADV_DONTNEED) drops its pages
 * and the next request's decode reads them back from the file. Nothing
 * changes for a request that races with it (the pages are read again).
 * With --no-mmap or --mlock the weights cannot be dropped: sleeping then
 * only shows in /props. */
static bool wakes_server(const struct http_request *req)
{
    static const char *const quiet[] = {"/health", "/metrics", "/v1/models", "/models"};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        if (strcmp(req->path, quiet[i]) == 0)
            return false;
    return !(strcmp(req->path, "/props") == 0 && strcmp(req->method, "GET") == 0);
}

static void server_touch(struct server *s)
{
    atomic_store(&s->t_active_ms, (long long)clock_ms());
    if (atomic_exchange(&s->sleeping, false))
        log_info("server is exiting sleeping state");
}

static void release_weights(struct server *s)
{
    const struct gguf_ctx *g = s->model->gguf;
    const struct gguf_tensor *t = gguf_n_tensors(g) > 0 ? gguf_tensor(g, 0) : NULL;
    if (!t || s->p->no_mmap || s->p->mlock)
        return;
    /* the mapping starts at the file's first byte (gguf.c maps the whole file) */
    const char *base = (const char *)t->data - t->offset - gguf_data_offset(g);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || (uintptr_t)base % (uintptr_t)page != 0)
        return;
    if (madvise((void *)base, gguf_file_size(g), MADV_DONTNEED) != 0)
        log_warn("--sleep-idle-seconds: cannot release the weights: %s", strerror(errno));
}

static void *sleeper_main(void *arg)
{
    struct server *s = arg;
    struct timespec ts = {0, 100 * 1000000L};
    while (!atomic_load(&s->sleeper_stop)) {
        nanosleep(&ts, NULL);
        if (atomic_load(&s->state) != SERVER_READY || atomic_load(&s->sleeping))
            continue;
        struct sched_stats st;
        sched_get_stats(s->sched, &st);
        long long now = (long long)clock_ms();
        if (st.n_processing > 0 || st.n_deferred > 0) {
            atomic_store(&s->t_active_ms, now);
        } else if (now - atomic_load(&s->t_active_ms) >= (long long)s->p->sleep_idle_s * 1000) {
            atomic_store(&s->sleeping, true);
            log_info("server is entering sleeping state");
            release_weights(s);
        }
    }
    return NULL;
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
    {"POST", "/v1/messages", route_messages},
    {"POST", "/v1/messages/count_tokens", route_messages_count_tokens},
    {"POST", "/v1/responses", route_responses},
    {"POST", "/responses", route_responses},
    {"POST", "/embedding", route_embedding},
    {"POST", "/embeddings", route_embedding},
    {"POST", "/v1/embeddings", route_oai_embeddings},
    {"GET", "/openapi.json", route_openapi},
};

static void handle_request(struct server *s, const struct http_request *req, struct http_reply *rep);

/* A request: routed with its cancel flag watched by the grammar compiles
 * (json_schema, grammar) on this thread, so that a compile stops when its
 * client leaves or the server stops. */
static void handle(void *ud, const struct http_request *req, struct http_reply *rep)
{
    const atomic_int *prev = grammar_cancel_watch(req->cancel);
    handle_request(ud, req, rep);
    grammar_cancel_watch(prev);
}

void server_dispatch(struct server *s, const struct http_request *req, struct http_reply *rep)
{
    handle(s, req, rep);
}

static void handle_request(struct server *s, const struct http_request *req, struct http_reply *rep)
{
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
    log_prompt(s, req);
    if (s->p->sleep_idle_s > 0 && wakes_server(req))
        server_touch(s);
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
    atomic_init(&s->sleeping, false);
    atomic_init(&s->t_active_ms, 0);
    atomic_init(&s->sleeper_stop, false);
    if (p->log_prompts_dir && mkdir(p->log_prompts_dir, 0755) != 0 && errno != EEXIST)
        log_warn("--log-prompts-dir: cannot create '%s': %s", p->log_prompts_dir, strerror(errno));
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
        .reuse_port = p->reuse_port, .sse_ping_s = p->sse_ping_s,
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

/* --check-tensors: every weight dequantized row by row and looked at for
 * NaN and Inf (llama-server's check refuses such a model too). */
static int check_tensors(const struct model *m, char *err, size_t err_size)
{
    int64_t nt = gguf_n_tensors(m->gguf);
    float *row = NULL;
    size_t cap = 0;
    int rc = 0;
    log_info("--check-tensors: checking %lld tensors", (long long)nt);
    for (int64_t i = 0; i < nt && rc == 0; i++) {
        const struct gguf_tensor *t = gguf_tensor(m->gguf, i);
        int64_t ne0 = t->ne[0], rows = ne0 > 0 ? gguf_tensor_nelements(t) / ne0 : 0;
        size_t row_bytes = rows > 0 ? t->nbytes / (size_t)rows : 0;
        if ((size_t)ne0 > cap) {
            free(row);
            cap = (size_t)ne0;
            if (!(row = malloc(cap * sizeof *row))) {
                cap = 0;
                rc = err_set(err, err_size, "out of memory");
                break;
            }
        }
        for (int64_t r = 0; r < rows; r++) {
            if (dequantize_row(t->type, (const char *)t->data + (size_t)r * row_bytes, row, ne0) != 0)
                break; /* a type cllm does not dequantize (it would not load either) */
            for (int64_t k = 0; k < ne0; k++)
                if (!isfinite(row[k])) {
                    rc = err_set(err, err_size, "--check-tensors: tensor '%s' has %s at row %lld, column %lld",
                                 t->name, isnan(row[k]) ? "NaN" : "Inf", (long long)r, (long long)k);
                    r = rows;
                    break;
                }
        }
    }
    free(row);
    return rc;
}

/* --warmup (llama-server's default): one token through the whole model, so
 * the weights are paged in before the first request; then forgotten. */
static void warmup(struct server *s)
{
    struct batch b;
    char err[256];
    if (batch_init(&b, 1) != 0)
        return;
    const struct vocab *v = s->vocab;
    int32_t tok = vocab_valid(v, v->bos) ? v->bos : 0;
    batch_add(&b, tok, 0, 0, true);
    log_info("warming up the model with an empty run");
    double t0 = clock_ms();
    int rc = engine_decode(s->engine, &b, err, sizeof err);
    if (rc != 0) { /* an encoder (embeddings only): its hidden states */
        float *h = malloc((size_t)engine_n_embd(s->engine) * sizeof *h);
        rc = h ? engine_decode_embd(s->engine, &b, h, err, sizeof err) : -1;
        free(h);
    }
    engine_seq_clear(s->engine, -1);
    batch_free(&b);
    if (rc != 0)
        log_warn("warm-up decode failed: %s", err);
    else
        log_info("warm-up done in %.0f ms", clock_ms() - t0);
}

static int load_engine(struct server *s, char *err, size_t err_size)
{
    const struct server_params *p = s->p;
    unsigned flags = (p->no_mmap ? GGUF_OPEN_NO_MMAP : 0) | (p->mlock ? GGUF_OPEN_MLOCK : 0);
    s->model = model_load(p->model, flags, err, err_size);
    if (!s->model)
        return -1;
    if (p->check_tensors && check_tensors(s->model, err, err_size) != 0)
        return -1;
    if (!(s->vocab = vocab_load(s->model->gguf, err, err_size)))
        return -1;
    int32_t n_ctx = p->n_ctx;
    if (n_ctx <= 0 || n_ctx > s->model->hp.n_ctx_train)
        n_ctx = s->model->hp.n_ctx_train;
    int32_t slot_ctx = n_ctx / p->n_parallel;
    if (p->kv_unified_per_slot > 0 && slot_ctx > p->kv_unified_per_slot) /* --kv-unified-per-slot */
        slot_ctx = p->kv_unified_per_slot;
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
    ep.swa_full = p->swa_full;
    if (!(s->engine = engine_create(s->model, &ep, err, err_size)))
        return -1;
    srv_log_memory(s->engine);
    if (p->warmup)
        warmup(s);
    if (!(s->sv = sampler_vocab_create(s->vocab, err, err_size)))
        return -1;
    struct sched_params sp = {.n_slots = p->n_parallel, .n_ctx = slot_ctx * p->n_parallel,
                              .n_predict = p->n_predict, .n_batch = p->n_ubatch,
                              .no_context_shift = !p->context_shift,
                              .spec_type = spec ? SCHED_SPEC_NGRAM : SCHED_SPEC_NONE,
                              .draft_max = p->draft_max, .draft_min = p->draft_min,
                              .draft_p_min = p->draft_p_min, .ngram_n = p->spec_ngram_n,
                              /* -sps 0: llama-server then always takes the least recently used slot */
                              .slot_prompt_similarity = p->slot_prompt_similarity > 0 ? p->slot_prompt_similarity
                                                                                      : -1.0f,
                              .cache_reuse = p->cache_reuse, .special = p->special};
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
    atomic_store(&s->t_active_ms, (long long)clock_ms());
    atomic_store(&s->state, SERVER_READY);
    if (s->p->sleep_idle_s > 0) {
        if (s->p->no_mmap || s->p->mlock)
            log_warn("--sleep-idle-seconds: with --no-mmap or --mlock the weights stay in memory while sleeping");
        s->sleeper_started = pthread_create(&s->sleeper, NULL, sleeper_main, s) == 0;
    }
    return 0;
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    atomic_store(&s->state, SERVER_FAILED); /* new requests get 503 */
    if (s->sleeper_started) {
        atomic_store(&s->sleeper_stop, true);
        pthread_join(s->sleeper, NULL);
    }
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
