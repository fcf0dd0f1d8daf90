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
};

/* Parse argv into p (defaults first). Returns 0, 1 when --help was printed
 * (exit 0), or -1 with a message naming the option in err. */
int server_params_parse(int argc, char **argv, struct server_params *p, char *err, size_t err_size);
void server_params_free(struct server_params *p);
void server_params_usage(FILE *f);

#endif
