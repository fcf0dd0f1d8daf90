/*
 * server_params.h - cllm-server's command line: every option with its
 * default, parsed and checked at start-up (an unknown option or a bad value
 * is an error naming it), and the --help text.
 */
#ifndef CLLM_SERVER_SERVER_PARAMS_H
#define CLLM_SERVER_SERVER_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/types.h"

enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

struct server_params {
    /* model and engine */
    const char *model;
    const char *alias;
    int32_t n_ctx, n_batch, n_ubatch, n_parallel, n_predict;
    int n_threads, n_threads_batch;
    enum tensor_type type_k, type_v;
    bool mlock, no_mmap, cont_batching;
    /* HTTP */
    const char *host;
    int port;
    const char *static_path;
    bool webui; /* the embedded chat page at / (--no-webui: off) */
    char **api_keys; /* owned strings (from --api-key and --api-key-file) */
    size_t n_api_keys;
    int timeout_s;
    int header_timeout_s;  /* --header-timeout: seconds to send the request headers */
    int max_connections;   /* --max-connections (0: from the file limit) */
    int max_queue;         /* --max-queue: requests waiting for a slot (0: no cap) */
    int threads_http;
    size_t body_limit;
    const char *ssl_key_file, *ssl_cert_file;
    /* features */
    bool metrics, slots_endpoint, embeddings, spm_infill;
    const char *slot_save_path;
    const char *system_prompt_file;
    const char *chat_template;
    const char *chat_template_file;
    bool jinja;
    const char *pooling; /* none, mean, cls, last (NULL: mean) */
    /* logging */
    bool verbose, log_disable;
    enum log_format log_format;
    /* llama-server compatibility (see docs/options.md) */
    struct json_t *sampling;  /* request defaults from --temp, --top-k, --seed, --grammar...: a request
                                 body every request starts from (owned; NULL: none given) */
    bool context_shift;       /* --context-shift (on: the seed's n_keep rule) / --no-context-shift */
    bool endpoint_props;      /* --props: POST /props may change the server's settings */
    bool kv_unified;          /* -kvu: moot (the paged cache is always one pool shared by the slots) */
    bool swa_full;            /* --swa-full: sliding-window layers keep every position (default: their
                                 window + one batch per slot, as llama-server) */
    int32_t cache_reuse;      /* --cache-reuse N: chunks of at least N cached tokens after the common prefix
                                 are reused by shifting them (0: off) */
    const char *cors_origins, *cors_methods, *cors_headers; /* --cors-*: NULL: llama-server's defaults */
    bool cors_no_credentials; /* --no-cors-credentials */
    struct json_t *chat_template_kwargs; /* --chat-template-kwargs: a JSON object (owned), the
                                            default of a request's chat_template_kwargs */
    bool no_prefill_assistant; /* --no-prefill-assistant: a final assistant message is not continued */
    bool reasoning_none;      /* --reasoning-format none: thoughts stay in content */
    bool reasoning_off;       /* --reasoning-budget 0: no thoughts (an opened one is closed at once) */
    bool reasoning_preserve_set; /* --(no-)reasoning-preserve given (else preserve_reasoning defaults to true) */
    bool skip_chat_parsing;   /* --skip-chat-parsing: the answer is all content */
    /* llama-server options that work in cllm (server_params_llama.c, docs/options.md) */
    bool reuse_port;          /* --reuse-port: SO_REUSEPORT on the listening sockets */
    int sse_ping_s;           /* --sse-ping-interval: ":\n\n" on an SSE stream silent that long (30; <= 0: off) */
    float slot_prompt_similarity; /* -sps: a slot is chosen for its cached prompt only when the common
                                     prefix is more than this part of the new prompt (0.1; 0: always) */
    bool warmup;              /* --warmup (default) / --no-warmup: one decode before serving */
    int verbosity;            /* -lv: lines above this level are not logged (1 error, 2 warning, 3 info) */
    const char *log_file;     /* --log-file: every log line also goes to this file */
    bool log_timestamps, log_no_prefix; /* --log-timestamps / --no-log-prefix (text log format) */
    int log_colors;           /* --log-colors: 1 on, 0 off, -1 auto (a terminal) */
    const char *log_prompts_dir; /* --log-prompts-dir: each completion's prompt written to DIR/<ms>.txt */
    int embd_normalize;       /* --embd-normalize: -1 none, 0 max-abs int16, 1 taxicab, 2 euclidean, >2 p-norm */
    bool check_tensors;       /* --check-tensors: the weights are scanned for NaN/Inf at load */
    bool special;             /* -sp: special (control) tokens' text in the output */
    bool no_escape;           /* --no-escape: -r strings taken as they are (default: \n, \t... processed) */
    struct json_t *ui_config; /* --ui-config(-file): /props ui_settings (owned; NULL: {}) */
    const char *tags;         /* --tags: /v1/models' tags (comma-separated) */
    int kv_unified_per_slot;  /* --kv-unified-per-slot: most tokens per slot (0: -c/-np); without -c, -c = -np x N */
    int prio;                 /* --prio: -1 low .. 3 realtime (process nice 5, 0, -5, -10, -20) */
    bool n_ctx_set;           /* -c was given */
    int sleep_idle_s;         /* --sleep-idle-seconds: idle that long, the model's weights are released
                                 from memory until the next request (-1: never) */
    /* speculative decoding by n-gram lookup (src/serve/scheduler.h) */
    const char *spec_type;    /* --spec-type: "none" or "ngram-simple" ("ngram") */
    int32_t draft_max;        /* --spec-draft-n-max / --draft-max */
    int32_t draft_min;        /* --spec-draft-n-min / --draft-min */
    float draft_p_min;        /* --spec-draft-p-min / --draft-p-min (a draft model's; unused by n-gram) */
    int32_t spec_ngram_n;     /* --spec-ngram-simple-size-n: the longest n-gram looked up */
};

/* Parse argv into p (defaults first). Returns 0, 1 when --help was printed
 * (exit 0), or -1 with a message naming the option in err. */
int server_params_parse(int argc, char **argv, struct server_params *p, char *err, size_t err_size);
void server_params_free(struct server_params *p);
void server_params_usage(FILE *f);

/* server_params_llama.c (used by server_params_parse only): llama-server's
 * other spellings of an option (a itself when none); the options outside
 * server_params.c's table (1: done, 2: done and exit 0, 0: not one of them,
 * -1: error; the value from env_value when not NULL, else argv[++*i]); the
 * k-th LLAMA_ARG_* variable and its option (NULL past the last); a variable's
 * boolean value (1/true/on/enabled). */
const char *server_params_llama_alias(const char *a);
int server_params_llama_option(struct server_params *p, const char *a, int argc, char **argv, int *i,
                               const char *env_value, char *err, size_t err_size);
const char *server_params_llama_env(size_t k, const char **option);
bool server_params_env_bool(const char *v);
void server_params_llama_usage(FILE *f);
/* After the whole command line: what depends on several options (-r
 * strings' escapes, -e/--no-escape). */
void server_params_llama_finish(struct server_params *p);

#endif
