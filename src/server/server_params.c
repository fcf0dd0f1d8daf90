/*
 * server_params.c - cllm-server's options (see server_params.h). One table
 * lists every option: its names, what kind of value it takes, where the
 * value goes, its default as shown by --help, and its help line.
 */
#include "server/server_params.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/vec.h"

enum opt_kind { OPT_INT, OPT_SIZE, OPT_STR, OPT_FLAG, OPT_CACHE_TYPE, OPT_LOG_FORMAT, OPT_API_KEY,
                OPT_API_KEY_FILE, OPT_IGNORED, OPT_UNSUPPORTED, OPT_IGNORED_FLAG, OPT_FLAG_OFF, OPT_POOLING,
                OPT_SPEC_TYPE, OPT_PROB };

struct opt {
    const char *s, *l;   /* short and long names ("" when none) */
    enum opt_kind kind;
    size_t off;          /* offset of the field in server_params */
    long lo, hi;         /* range for OPT_INT */
    const char *def;     /* default as shown by --help */
    const char *help;
};

#define F(field) offsetof(struct server_params, field)
static const struct opt OPTS[] = {
    {"-m", "--model", OPT_STR, F(model), 0, 0, "(required)", "GGUF model file"},
    {"-a", "--alias", OPT_STR, F(alias), 0, 0, "model path", "model name reported in responses"},
    {"-c", "--ctx-size", OPT_INT, F(n_ctx), 0, 1 << 24, "4096", "context size in tokens, shared by the slots (at most the model's; 0: the model's)"},
    {"-b", "--batch-size", OPT_INT, F(n_batch), 1, 1 << 20, "2048", "logical batch size for prompt processing"},
    {"-ub", "--ubatch-size", OPT_INT, F(n_ubatch), 1, 1 << 20, "512", "physical batch size: most tokens in one decode step"},
    {"-np", "--parallel", OPT_INT, F(n_parallel), 1, 256, "1", "number of slots (requests processed at once)"},
    {"-n", "--n-predict", OPT_INT, F(n_predict), -1, INT_MAX, "-1", "most tokens to predict per request (-1: no limit)"},
    {"-t", "--threads", OPT_INT, F(n_threads), 1, 1024, "CPU count", "threads for generation"},
    {"-tb", "--threads-batch", OPT_INT, F(n_threads_batch), 1, 1024, "--threads", "threads for prompt processing"},
    {"-ctk", "--cache-type-k", OPT_CACHE_TYPE, F(type_k), 0, 0, "f16", "KV cache type for K: f16, f32, q8_0"},
    {"-ctv", "--cache-type-v", OPT_CACHE_TYPE, F(type_v), 0, 0, "f16", "KV cache type for V: f16, f32, q8_0"},
    {"-cb", "--cont-batching", OPT_FLAG, F(cont_batching), 0, 0, "on", "continuous batching (always on)"},
    {"-nocb", "--no-cont-batching", OPT_FLAG_OFF, F(cont_batching), 0, 0, "", "accepted; cllm always batches continuously"},
    {"", "--mlock", OPT_FLAG, F(mlock), 0, 0, "off", "lock the model in memory"},
    {"", "--no-mmap", OPT_FLAG, F(no_mmap), 0, 0, "off", "read the model into memory instead of mapping it"},
    {"", "--host", OPT_STR, F(host), 0, 0, "127.0.0.1", "addresses to listen on, comma-separated (IPv4, IPv6, names), or UNIX socket paths ending in .sock"},
    {"", "--port", OPT_INT, F(port), 0, 65535, "8080", "port to listen on"},
    {"", "--path", OPT_STR, F(static_path), 0, 0, "(none)", "directory of static files to serve"},
    {"", "--webui", OPT_FLAG, F(webui), 0, 0, "on", "serve the built-in chat page at /"},
    {"", "--no-webui", OPT_FLAG_OFF, F(webui), 0, 0, "", "no chat page (/ answers 404; --path files still served)"},
    {"", "--api-key", OPT_API_KEY, 0, 0, 0, "(none)", "API key clients must send as a Bearer token (repeatable)"},
    {"", "--api-key-file", OPT_API_KEY_FILE, 0, 0, 0, "(none)", "file of API keys, one per line"},
    {"-to", "--timeout", OPT_INT, F(timeout_s), 0, 86400, "600", "idle connection timeout in seconds"},
    {"", "--header-timeout", OPT_INT, F(header_timeout_s), 0, 86400, "30", "seconds a new connection has to send its request headers (0: --timeout)"},
    {"", "--max-connections", OPT_INT, F(max_connections), 0, 1 << 20, "file limit", "most connections served at once; more get 503 + Retry-After (0: as many as `ulimit -n` allows)"},
    {"", "--max-queue", OPT_INT, F(max_queue), 0, 1 << 20, "0", "most requests waiting for a slot; more get 503 + Retry-After (0: no cap)"},
    {"", "--threads-http", OPT_INT, F(threads_http), 1, 1024, "max(CPUs-1, -np+2)", "threads handling HTTP connections"},
    {"", "--body-limit", OPT_SIZE, F(body_limit), 1, 0, "16777216", "largest request body in bytes (larger: 413)"},
    {"", "--ssl-key-file", OPT_STR, F(ssl_key_file), 0, 0, "(none)", "PEM private key for HTTPS"},
    {"", "--ssl-cert-file", OPT_STR, F(ssl_cert_file), 0, 0, "(none)", "PEM certificate for HTTPS"},
    {"", "--metrics", OPT_FLAG, F(metrics), 0, 0, "off", "enable the Prometheus /metrics endpoint"},
    {"", "--slots-endpoint-disable", OPT_FLAG_OFF, F(slots_endpoint), 0, 0, "off", "disable /slots"},
    {"", "--slot-save-path", OPT_STR, F(slot_save_path), 0, 0, "(none)", "directory for slot save/restore files (enables them)"},
    {"-spf", "--system-prompt-file", OPT_STR, F(system_prompt_file), 0, 0, "(none)", "JSON file with a system prompt for all slots"},
    {"", "--embeddings", OPT_FLAG, F(embeddings), 0, 0, "off", "enable the embedding endpoints"},
    {"", "--spm-infill", OPT_FLAG, F(spm_infill), 0, 0, "off", "infill as suffix/prefix/middle instead of prefix/suffix/middle"},
    {"", "--pooling", OPT_POOLING, F(pooling), 0, 0, "mean", "embedding pooling: none, mean, cls, last"},
    {"", "--chat-template", OPT_STR, F(chat_template), 0, 0, "model's", "built-in chat template by name, or Jinja template text"},
    {"", "--chat-template-file", OPT_STR, F(chat_template_file), 0, 0, "(none)", "Jinja chat template file, used instead of the model's"},
    {"", "--jinja", OPT_FLAG, F(jinja), 0, 0, "off", "run the model's own Jinja chat template"},
    {"-v", "--verbose", OPT_FLAG, F(verbose), 0, 0, "off", "log requests and responses in full"},
    {"", "--log-disable", OPT_FLAG, F(log_disable), 0, 0, "off", "no log output"},
    {"", "--log-format", OPT_LOG_FORMAT, F(log_format), 0, 0, "json", "log format: json or text"},
    {"", "--spec-type", OPT_SPEC_TYPE, F(spec_type), 0, 0, "none", "speculative decoding: none, or ngram-simple (drafts by n-gram lookup in the prompt and output, no draft model)"},
    {"--draft-max", "--spec-draft-n-max", OPT_INT, F(draft_max), 1, 256, "16", "most tokens drafted per slot and step"},
    {"--draft-min", "--spec-draft-n-min", OPT_INT, F(draft_min), 0, 256, "0", "shortest draft evaluated"},
    {"--draft-p-min", "--spec-draft-p-min", OPT_PROB, F(draft_p_min), 0, 0, "0", "accepted; cllm drafts by n-gram lookup, with no draft model and so no draft probability: P (llama-server: a draft model's draft stops at a token less likely than P) has no effect, a warning says so when above 0"},
    {"", "--spec-ngram-simple-size-n", OPT_INT, F(spec_ngram_n), 1, 1024, "12", "longest n-gram looked up (shorter ones down to 3 are tried)"},
    /* Options of llama-server that do not apply to a CPU build: accepted. */
    {"-ngl", "--n-gpu-layers", OPT_IGNORED, 0, 0, 0, "0", "accepted; no effect: cllm is a CPU build"},
    {"-dt", "--defrag-thold", OPT_IGNORED, 0, 0, 0, "-1", "accepted; the paged cache needs no defragmenting"},
    {"", "--numa", OPT_IGNORED, 0, 0, 0, "(none)", "accepted; no effect: cllm leaves memory placement to the OS (pages on the node that first touches them) and does not bind threads to nodes"},
    {"-mg", "--main-gpu", OPT_IGNORED, 0, 0, 0, "0", "accepted; no effect: cllm is a CPU build"},
    {"-ts", "--tensor-split", OPT_IGNORED, 0, 0, 0, "(none)", "accepted; no effect: cllm is a CPU build"},
    /* -fa and the options cllm refuses (with the reason): server_params_llama.c */
};
#undef F
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

void server_params_usage(FILE *f)
{
    fprintf(f, "usage: cllm-server -m MODEL [options]\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &OPTS[i];
        if (o->kind == OPT_UNSUPPORTED)
            continue;
        char names[64];
        bool arg = o->kind != OPT_FLAG && o->kind != OPT_FLAG_OFF && o->kind != OPT_IGNORED_FLAG;
        snprintf(names, sizeof names, "%s%s%s%s", o->s, *o->s ? ", " : "", o->l, arg ? " X" : "");
        fprintf(f, "  %-32s %s (default: %s)\n", names, o->help, o->def);
    }
    fprintf(f, "  %-32s %s\n", "-h, --help", "print this help and exit");
    server_params_llama_usage(f);
}

static int add_key(struct server_params *p, const char *key, size_t len)
{
    size_t cap = p->n_api_keys; /* the array is always exactly full */
    if (vec_reserve((void **)&p->api_keys, &cap, p->n_api_keys + 1, sizeof *p->api_keys) != 0 ||
        !(p->api_keys[p->n_api_keys] = strndup(key, len)))
        return -1;
    p->n_api_keys++;
    return 0;
}

static int read_key_file(struct server_params *p, const char *path, char *err, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, n, "--api-key-file: cannot open '%s': %s", path, strerror(errno));
    char line[4096];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        if (len > 0 && add_key(p, line, len) != 0)
            rc = err_set(err, n, "out of memory");
    }
    fclose(f);
    return rc;
}

static int parse_long(const struct opt *o, const char *name, const char *v, long lo, long hi, long *out,
                      char *err, size_t n)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end)
        return err_set(err, n, "%s: '%s' is not a whole number", name, v);
    if (x < lo || (hi > lo && x > hi))
        return err_set(err, n, "%s: %ld is out of range [%ld, %ld]", name, x, lo, hi);
    *out = x;
    return 0;
}

static int set_value(struct server_params *p, const struct opt *o, const char *name, const char *v,
                     char *err, size_t n)
{
    char *field = (char *)p + o->off;
    long x;
    switch (o->kind) {
    case OPT_INT:
        if (parse_long(o, name, v, o->lo, o->hi, &x, err, n) != 0)
            return -1;
        if (o->off == offsetof(struct server_params, port))
            *(int *)field = (int)x;
        else if (o->off == offsetof(struct server_params, n_threads) ||
                 o->off == offsetof(struct server_params, n_threads_batch) ||
                 o->off == offsetof(struct server_params, timeout_s) ||
                 o->off == offsetof(struct server_params, threads_http))
            *(int *)field = (int)x;
        else
            *(int32_t *)field = (int32_t)x;
        return 0;
    case OPT_SIZE:
        if (parse_long(o, name, v, 1, LONG_MAX, &x, err, n) != 0)
            return -1;
        *(size_t *)field = (size_t)x;
        return 0;
    case OPT_STR:
        if (!*v)
            return err_set(err, n, "%s: empty value", name);
        *(const char **)field = v;
        return 0;
    case OPT_CACHE_TYPE:
        if (strcmp(v, "f16") == 0)
            *(enum tensor_type *)field = TYPE_F16;
        else if (strcmp(v, "f32") == 0)
            *(enum tensor_type *)field = TYPE_F32;
        else if (strcmp(v, "q8_0") == 0)
            *(enum tensor_type *)field = TYPE_Q8_0;
        else
            return err_set(err, n, "%s: '%s' is not a supported cache type (f16, f32, q8_0)", name, v);
        return 0;
    case OPT_LOG_FORMAT:
        if (strcmp(v, "json") == 0)
            p->log_format = LOG_FORMAT_JSON;
        else if (strcmp(v, "text") == 0)
            p->log_format = LOG_FORMAT_TEXT;
        else
            return err_set(err, n, "%s: '%s' is not json or text", name, v);
        return 0;
    case OPT_POOLING:
        if (strcmp(v, "none") && strcmp(v, "mean") && strcmp(v, "cls") && strcmp(v, "last"))
            return err_set(err, n, "%s: '%s' is not none, mean, cls or last", name, v);
        *(const char **)field = v;
        return 0;
    case OPT_SPEC_TYPE:
        if (strcmp(v, "none") && strcmp(v, "ngram-simple") && strcmp(v, "ngram"))
            return err_set(err, n, "%s: '%s' is not supported (cllm drafts by n-gram lookup: none or ngram-simple)",
                           name, v);
        *(const char **)field = v;
        return 0;
    case OPT_PROB: {
        char *end;
        errno = 0;
        float f = strtof(v, &end);
        if (errno || end == v || *end || !(f >= 0 && f <= 1))
            return err_set(err, n, "%s: '%s' is not a probability (0 to 1)", name, v);
        *(float *)field = f;
        if (f > 0) /* --draft-p-min: never silently */
            fprintf(stderr, "warning: %s %s: no effect without a draft model (cllm drafts by n-gram lookup, "
                    "which has no draft probability)\n", name, v);
        return 0;
    }
    case OPT_API_KEY:
        return add_key(p, v, strlen(v)) == 0 ? 0 : err_set(err, n, "out of memory");
    case OPT_API_KEY_FILE:
        return read_key_file(p, v, err, n);
    default:
        return 0;
    }
}

static void defaults(struct server_params *p)
{
    memset(p, 0, sizeof *p);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->n_ctx = 4096;
    p->n_batch = 2048;
    p->n_ubatch = 512;
    p->n_parallel = 1;
    p->n_predict = -1;
    p->type_k = p->type_v = TYPE_F16;
    p->cont_batching = true;
    p->host = "127.0.0.1";
    p->port = 8080;
    p->timeout_s = 600;
    p->header_timeout_s = 30;
    p->body_limit = 16u << 20;
    p->slots_endpoint = true;
    p->webui = true;
    p->context_shift = true; /* the seed: n_keep tokens kept when the context fills */
    p->log_format = LOG_FORMAT_JSON;
    p->n_threads = cpus > 0 ? (int)cpus : 1;
    p->sse_ping_s = 30;            /* llama-server's defaults */
    p->slot_prompt_similarity = 0.1f;
    p->warmup = true;
    p->verbosity = 3;
    p->log_colors = -1;
    p->embd_normalize = 2;
    p->sleep_idle_s = -1;
    p->spec_type = "none";
    p->draft_max = 16;
    p->spec_ngram_n = 12;
}

static const struct opt *find_opt(const char *a)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if ((*OPTS[i].s && strcmp(a, OPTS[i].s) == 0) || strcmp(a, OPTS[i].l) == 0)
            return &OPTS[i];
    return NULL;
}

/* One option a (argv[*i]), its value from argv or, when env_value is not
 * NULL, from an environment variable. Returns 0, 1 when the program should
 * exit 0 (--help, --version), or -1 with a message. */
static int apply_option(struct server_params *p, const char *a, int argc, char **argv, int *i,
                        const char *env_value, bool *tb_set, bool *http_set, char *err, size_t err_size)
{
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "--usage") == 0) {
        server_params_usage(stdout);
        return 1;
    }
    a = server_params_llama_alias(a);
    const struct opt *o = find_opt(a);
    if (!o) { /* llama-server's other options */
        int rc = server_params_llama_option(p, a, argc, argv, i, env_value, err, err_size);
        if (rc != 0)
            return rc < 0 ? -1 : rc == 2 ? 1 : 0;
        return err_set(err, err_size, "unknown option '%s' (see --help and docs/options.md)", a);
    }
    if (o->kind == OPT_UNSUPPORTED)
        return err_set(err, err_size, "%s is not supported by cllm-server", a);
    if (o->kind == OPT_FLAG || o->kind == OPT_FLAG_OFF) {
        bool on = env_value ? server_params_env_bool(env_value) : true;
        *(bool *)((char *)p + o->off) = (o->kind == OPT_FLAG) == on;
        return 0;
    }
    if (o->kind == OPT_IGNORED_FLAG)
        return 0;
    const char *v = env_value;
    if (!v) {
        if (*i + 1 >= argc)
            return err_set(err, err_size, "%s needs a value", a);
        v = argv[++*i];
    }
    if (o->kind == OPT_IGNORED) { /* as llama-server warns on a CPU build */
        fprintf(stderr, "warning: %s %s: %s\n", a, v, o->help);
        return 0;
    }
    if (set_value(p, o, a, v, err, err_size) != 0)
        return -1;
    p->n_ctx_set |= o->off == offsetof(struct server_params, n_ctx) && o->kind == OPT_INT;
    *tb_set |= o->off == offsetof(struct server_params, n_threads_batch) && o->kind == OPT_INT;
    *http_set |= o->off == offsetof(struct server_params, threads_http) && o->kind == OPT_INT;
    return 0;
}

int server_params_parse(int argc, char **argv, struct server_params *p, char *err, size_t err_size)
{
    defaults(p);
    bool tb_set = false, http_set = false;
    /* LLAMA_ARG_* first: the command line wins */
    const char *opt_name, *env;
    for (size_t k = 0; (env = server_params_llama_env(k, &opt_name)); k++) {
        const char *v = getenv(env);
        if (!v)
            continue;
        int i = 0;
        char msg[256];
        int rc = apply_option(p, opt_name, 0, NULL, &i, v, &tb_set, &http_set, msg, sizeof msg);
        if (rc < 0)
            return err_set(err, err_size, "%s: %s", env, msg);
    }
    for (int i = 1; i < argc; i++) {
        int rc = apply_option(p, argv[i], argc, argv, &i, NULL, &tb_set, &http_set, err, err_size);
        if (rc != 0)
            return rc;
    }
    if (p->n_predict != -1) { /* -n is also every request's default n_predict (llama-server) */
        if (!p->sampling)
            p->sampling = json_object();
        json_object_set_new(p->sampling, "n_predict", json_integer(p->n_predict));
    }
    if (!p->model)
        return err_set(err, err_size, "no model: give one with -m FILE (see --help)");
    if (!tb_set)
        p->n_threads_batch = p->n_threads;
    if (!http_set) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        p->threads_http = (int)(cpus - 1 > p->n_parallel + 2 ? cpus - 1 : p->n_parallel + 2);
    }
    server_params_llama_finish(p);
    if (p->kv_unified_per_slot > 0 && !p->n_ctx_set) /* llama-server sizes the pool so */
        p->n_ctx = p->n_parallel * p->kv_unified_per_slot;
    if ((p->ssl_key_file == NULL) != (p->ssl_cert_file == NULL))
        return err_set(err, err_size, "--ssl-key-file and --ssl-cert-file go together");
    if (p->n_ubatch > p->n_batch)
        p->n_ubatch = p->n_batch;
    return 0;
}

void server_params_free(struct server_params *p)
{
    json_decref(p->sampling);
    p->sampling = NULL;
    json_decref(p->chat_template_kwargs);
    p->chat_template_kwargs = NULL;
    json_decref(p->ui_config);
    p->ui_config = NULL;
    for (size_t i = 0; i < p->n_api_keys; i++)
        free(p->api_keys[i]);
    free(p->api_keys);
    p->api_keys = NULL;
    p->n_api_keys = 0;
}
