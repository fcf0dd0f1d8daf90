/*
 * cllm_server.c - `cllm-server`: the HTTP server (see --help). Opens the
 * port, loads the model, then serves until SIGINT or SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/server.h"

static void wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    sigwait(&set, &sig);
}

int main(int argc, char **argv)
{
    struct server_params p;
    char err[1024];
    int rc = server_params_parse(argc, argv, &p, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "cllm-server: %s\n", err);
        server_params_free(&p);
        return rc < 0 ? 2 : 0;
    }
    /* Block the stop signals in every thread; main waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_init(p.log_format, p.verbose, p.log_disable);

    struct server *s = server_start(&p, err, sizeof err);
    if (!s) {
        fprintf(stderr, "cllm-server: %s\n", err);
        server_params_free(&p);
        return 1;
    }
    log_info("listening on %s://%s:%d", p.ssl_key_file ? "https" : "http", p.host, server_port(s));
    if (server_load(s, err, sizeof err) != 0) {
        fprintf(stderr, "cllm-server: %s: %s\n", p.model, err);
        log_error("model failed to load: %s", err);
        server_stop(s);
        server_params_free(&p);
        return 1;
    }
    log_info("model loaded: %s; %d slots; ready", p.model, p.n_parallel);
    wait_for_signal();
    log_info("stopping");
    server_stop(s);
    server_params_free(&p);
    return 0;
}
