/*
 * log.c - log lines (see log.h). One line per event, written whole under a
 * lock so lines of different threads never interleave.
 */
#define _GNU_SOURCE /* open_memstream */
#include "server/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"

static enum log_format g_format = LOG_FORMAT_JSON;
static bool g_verbose, g_disable;
static int g_threshold = LOG_LEVEL_INFO; /* -lv */
static FILE *g_file;                     /* --log-file */
static bool g_timestamps, g_no_prefix, g_colors;
static double g_t0;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(enum log_format format, bool verbose, bool disable)
{
    g_format = format;
    g_verbose = verbose;
    g_disable = disable;
    g_t0 = clock_ms();
}

int log_configure(const struct server_params *p, char *err, size_t err_size)
{
    g_threshold = p->verbosity;
    g_timestamps = p->log_timestamps;
    g_no_prefix = p->log_no_prefix;
    g_colors = p->log_colors > 0 || (p->log_colors < 0 && isatty(STDOUT_FILENO));
    if (p->log_file && !(g_file = fopen(p->log_file, "w")))
        return err_set(err, err_size, "--log-file: cannot open '%s': %s", p->log_file, strerror(errno));
    return 0;
}

void log_close(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_file)
        fclose(g_file);
    g_file = NULL;
    pthread_mutex_unlock(&g_lock);
}

static const char *level_name(int level)
{
    return level <= LOG_LEVEL_ERROR ? "ERR" : level == LOG_LEVEL_WARN ? "WARN" : "INFO";
}

/* The line's text (without the newline); malloc'd, NULL out of memory. */
static char *format_line(int level, const char *msg, json_t *extra, bool color)
{
    if (g_format == LOG_FORMAT_JSON) {
        json_t *j = extra ? json_incref(extra) : json_object();
        json_object_set_new(j, "timestamp", json_integer((json_int_t)time(NULL)));
        json_object_set_new(j, "level", json_string(level_name(level)));
        json_object_set_new(j, "msg", json_string(msg));
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        return s;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    if (!m)
        return NULL;
    if (g_timestamps) { /* llama-server's: minutes.seconds.milliseconds.microseconds since start */
        long long us = (long long)((clock_ms() - g_t0) * 1000.0);
        fprintf(m, "%lld.%02lld.%03lld.%03lld ", us / 60000000, us / 1000000 % 60, us / 1000 % 1000, us % 1000);
    }
    if (!g_no_prefix) {
        const char *c = !color ? "" : level <= LOG_LEVEL_ERROR ? "\033[31m" : level == LOG_LEVEL_WARN ? "\033[35m" : "";
        fprintf(m, "%s%s%s ", c, level_name(level), *c ? "\033[0m" : "");
    }
    fputs(msg, m);
    if (extra) {
        const char *k;
        json_t *v;
        json_object_foreach(extra, k, v) {
            char *vs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            fprintf(m, " %s=%s", k, vs ? vs : "?");
            free(vs);
        }
    }
    fclose(m);
    return out;
}

static void emit(int level, const char *msg, json_t *extra)
{
    if (g_disable || level > g_threshold) {
        json_decref(extra);
        return;
    }
    char *line = format_line(level, msg, extra, g_colors);
    char *plain = g_file && g_colors && g_format != LOG_FORMAT_JSON ? format_line(level, msg, extra, false) : NULL;
    json_decref(extra);
    if (!line) {
        free(plain);
        return;
    }
    pthread_mutex_lock(&g_lock);
    fprintf(stdout, "%s\n", line);
    fflush(stdout);
    if (g_file) {
        fprintf(g_file, "%s\n", plain ? plain : line);
        fflush(g_file);
    }
    pthread_mutex_unlock(&g_lock);
    free(line);
    free(plain);
}

static void vlog(int level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    emit(level, msg, NULL);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_INFO, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
}

void log_request_end(const char *method, const char *path, int status, const char *req_body, size_t req_len,
                     const char *rep_body, size_t rep_len)
{
    if (g_disable || LOG_LEVEL_INFO > g_threshold)
        return;
    json_t *x = json_pack("{s:s,s:s,s:i}", "method", method, "path", path, "status", status);
    if (x && g_verbose) {
        json_object_set_new(x, "request", json_stringn_nocheck(req_body ? req_body : "", req_body ? req_len : 0));
        if (rep_body)
            json_object_set_new(x, "response", json_stringn_nocheck(rep_body, rep_len));
    }
    emit(LOG_LEVEL_INFO, "request", x);
}
