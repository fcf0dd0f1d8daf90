/*
 * log.c - log lines (see log.h). One line per event, written whole under a
 * lock so lines of different threads never interleave.
 */
#include "server/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_format g_format = LOG_FORMAT_JSON;
static bool g_verbose, g_disable;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(enum log_format format, bool verbose, bool disable)
{
    g_format = format;
    g_verbose = verbose;
    g_disable = disable;
}

static void emit(const char *level, const char *msg, json_t *extra)
{
    if (g_disable) {
        json_decref(extra);
        return;
    }
    time_t t = time(NULL);
    pthread_mutex_lock(&g_lock);
    if (g_format == LOG_FORMAT_JSON) {
        json_t *j = extra ? extra : json_object();
        json_object_set_new(j, "timestamp", json_integer((json_int_t)t));
        json_object_set_new(j, "level", json_string(level));
        json_object_set_new(j, "msg", json_string(msg));
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            fprintf(stdout, "%s\n", s);
        free(s);
        json_decref(j);
    } else {
        fprintf(stdout, "%s %s", level, msg);
        if (extra) {
            const char *k;
            json_t *v;
            json_object_foreach(extra, k, v) {
                char *vs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                fprintf(stdout, " %s=%s", k, vs ? vs : "?");
                free(vs);
            }
            json_decref(extra);
        }
        fputc('\n', stdout);
    }
    fflush(stdout);
    pthread_mutex_unlock(&g_lock);
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    emit(level, msg, NULL);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("INFO", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("ERR", fmt, ap);
    va_end(ap);
}

void log_request_end(const char *method, const char *path, int status, const char *req_body, size_t req_len,
                     const char *rep_body, size_t rep_len)
{
    if (g_disable)
        return;
    json_t *x = json_pack("{s:s,s:s,s:i}", "method", method, "path", path, "status", status);
    if (x && g_verbose) {
        json_object_set_new(x, "request", json_stringn_nocheck(req_body ? req_body : "", req_body ? req_len : 0));
        if (rep_body)
            json_object_set_new(x, "response", json_stringn_nocheck(rep_body, rep_len));
    }
    emit("INFO", "request", x);
}
