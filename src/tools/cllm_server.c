/*
 * cllm_server.c - `cllm-server`: the HTTP server (see --help). Opens the
 * port, loads the model, then serves until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server/log.h"
#include "server/server.h"

/* --prio, as llama-server's set_process_priority: nice 5 (low), 0, -5,
 * -10, -20 (realtime). Set before any thread starts, so all inherit it;
 * a priority the process may not take is a warning. */
static void set_priority(int prio)
{
    static const int NICE[] = {5, 0, -5, -10, -20};
    if (prio == 0 || prio < -1 || prio > 3)
        return;
    if (setpriority(PRIO_PROCESS, 0, NICE[prio + 1]) != 0)
        log_warn("--prio %d: cannot set the process priority (nice %d): %s", prio, NICE[prio + 1], strerror(errno));
}

/* One "listening on" line per --host entry. */
static void log_listening(const struct server_params *p, int port)
{
    for (const char *h = p->host; *h;) {
        size_t n = strcspn(h, ",");
        if (n > 5 && strncmp(h + n - 5, ".sock", 5) == 0)
            log_info("listening on unix://%.*s", (int)n, h);
        else if (n > 0)
            log_info("listening on %s://%.*s:%d", p->ssl_key_file ? "https" : "http", (int)n, h, port);
        h += n + (h[n] == ',');
    }
}

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
    if (log_configure(&p, err, sizeof err) != 0) {
        fprintf(stderr, "cllm-server: %s\n", err);
        server_params_free(&p);
        return 2;
    }
    set_priority(p.prio);

    struct server *s = server_start(&p, err, sizeof err);
    if (!s) {
        fprintf(stderr, "cllm-server: %s\n", err);
        server_params_free(&p);
        return 1;
    }
    log_listening(&p, server_port(s));
    if (server_load(s, err, sizeof err) != 0) {
        fprintf(stderr, "cllm-server: %s: %s\n", p.model, err);
        log_error("model failed to load: %s", err);
        server_stop(s);
        server_params_free(&p);
        log_close();
        return 1;
    }
    log_info("model loaded: %s; %d slots; ready", p.model, p.n_parallel);
    wait_for_signal();
    log_info("stopping");
    server_stop(s);
    server_params_free(&p);
    log_close();
    return 0;
}
