/*
 * fuzz_http.c - libFuzzer target: raw HTTP requests (request line, headers,
 * body) through the server's router and handlers, without sockets: each
 * input is split into method, target, headers and body here, made into an
 * in-memory request (server_seam.h) and handled by a server running a tiny
 * model (stories260K: completions, chat, infill, tokenize, embeddings, slot
 * save/restore, metrics, static files), its streamed answers run to their
 * end (http_stream_run).
 *
 * Checks: no crash or sanitizer report (ASan/UBSan, leaks); every status is
 * a real one and never 500 (an internal error: a bug); every JSON answer
 * parses. What libmicrohttpd itself does with the bytes (framing, chunked
 * bodies) is its own business and not fuzzed here.
 *
 * $CLLM_FUZZ_VERBOSE: each request's status and the start of its answer
 * on stderr (to see what the seeds reach).
 *
 * Model: $CLLM_FUZZ_MODEL, else stories260K.gguf from $CLLM_SHARED/models
 * or ../shared/models next to this source tree.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "server/http.h"
#include "server/log.h"
#include "server/server.h"
#include "server/server_params.h"
#include "server/server_seam.h"

#define MAX_FIELDS 64         /* headers, query arguments */
#define STREAM_TIMEOUT_MS 4000 /* a stream still running then is cancelled (not a finding) */

static struct server_params g_params;
static struct server *g_srv;
static char g_slots[] = "/tmp/cllm-fuzz-http-XXXXXX"; /* --slot-save-path, removed at exit */

static void remove_slots_dir(void)
{
    DIR *d = opendir(g_slots);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[sizeof g_slots + 300];
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", g_slots, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(g_slots);
}

static void model_path(char *out, size_t n)
{
    const char *env = getenv("CLLM_FUZZ_MODEL");
    const char *shared = getenv("CLLM_SHARED");
    if (env && *env) {
        snprintf(out, n, "%s", env);
    } else if (shared && *shared) {
        snprintf(out, n, "%s/models/stories260K.gguf", shared);
    } else { /* __FILE__ is .../fuzz/fuzz_http.c */
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        *(slash ? slash : dir) = '\0';
        snprintf(out, n, "%s/../../shared/models/stories260K.gguf", dir);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char model[1200];
    model_path(model, sizeof model);
    if (!mkdtemp(g_slots)) {
        perror("fuzz_http: mkdtemp");
        exit(1);
    }
    atexit(remove_slots_dir);
    char *args[] = {"cllm-server", "-m", model, "-c", "512", "-np", "2", "-n", "8", "-t", "1",
                    "--host", "127.0.0.1", "--port", "0", "--threads-http", "1", "--embeddings",
                    "--metrics", "--slot-save-path", g_slots, "--log-disable", "--body-limit", "1000000", NULL};
    char err[1024];
    if (server_params_parse((int)(sizeof args / sizeof args[0]) - 1, args, &g_params, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        exit(1);
    }
    log_init(g_params.log_format, false, true);
    if (!(g_srv = server_start(&g_params, err, sizeof err)) || server_load(g_srv, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_http: %s: %s\n", model, err);
        exit(1);
    }
    return 0;
}

/* ---- the request, parsed from the input ---- */

struct req {
    char *method, *target, *path, *body;
    size_t body_len;
    char *hdr[2 * MAX_FIELDS + 1], *qry[2 * MAX_FIELDS + 1];
    int n_hdr, n_qry;
};

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decoding in place ('+' is a space in query arguments), as
 * libmicrohttpd does before the handler sees them. */
static void unescape(char *s, bool plus)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = plus && *p == '+' ? ' ' : *p;
        }
    }
    *o = '\0';
}

/* One line of data[*pos..n) (without its CR LF), advancing *pos. */
static bool next_line(const uint8_t *data, size_t n, size_t *pos, const char **line, size_t *len)
{
    if (*pos >= n)
        return false;
    const uint8_t *nl = memchr(data + *pos, '\n', n - *pos);
    size_t end = nl ? (size_t)(nl - data) : n;
    *line = (const char *)data + *pos;
    *len = end - *pos;
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    *pos = nl ? end + 1 : n;
    return true;
}

static void parse_query(struct req *r, const char *q)
{
    while (*q && r->n_qry < MAX_FIELDS) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        char *name = dup_n(q, eq ? (size_t)(eq - q) : n);
        char *value = eq ? dup_n(eq + 1, n - (size_t)(eq - q) - 1) : NULL;
        if (name) {
            unescape(name, true);
            if (value)
                unescape(value, true);
            r->qry[2 * r->n_qry] = name;
            r->qry[2 * r->n_qry + 1] = value;
            r->n_qry++;
        } else {
            free(value);
        }
        q += n + (q[n] == '&');
    }
}

static bool parse(struct req *r, const uint8_t *data, size_t n)
{
    memset(r, 0, sizeof *r);
    size_t pos = 0, len;
    const char *line;
    if (!next_line(data, n, &pos, &line, &len))
        return false;
    /* METHOD SP TARGET [SP VERSION] */
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line)
        return false;
    r->method = dup_n(line, (size_t)(sp - line));
    const char *t = sp + 1, *end = line + len;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    r->target = dup_n(t, (size_t)((sp2 ? sp2 : end) - t));
    if (!r->method || !r->target)
        return false;
    size_t plen = strcspn(r->target, "?");
    r->path = dup_n(r->target, plen);
    if (!r->path)
        return false;
    unescape(r->path, false);
    if (r->target[plen] == '?')
        parse_query(r, r->target + plen + 1);
    while (next_line(data, n, &pos, &line, &len) && len > 0) {
        const char *colon = memchr(line, ':', len);
        if (!colon || r->n_hdr >= MAX_FIELDS)
            continue;
        const char *v = colon + 1, *ve = line + len;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        r->hdr[2 * r->n_hdr] = dup_n(line, (size_t)(colon - line));
        r->hdr[2 * r->n_hdr + 1] = dup_n(v, (size_t)(ve - v));
        r->n_hdr++;
    }
    r->body_len = n - pos;
    r->body = dup_n((const char *)data + pos, r->body_len);
    return r->body != NULL;
}

static void req_free(struct req *r)
{
    free(r->method);
    free(r->target);
    free(r->path);
    free(r->body);
    for (int i = 0; i < 2 * r->n_hdr; i++)
        free(r->hdr[i]);
    for (int i = 0; i < 2 * r->n_qry; i++)
        free(r->qry[i]);
}

/* ---- the checks ---- */

static void check_answer(const struct req *r, int status, const char *ctype, const char *body, size_t len,
                         bool sse)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("CLLM_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "fuzz_http: %s %s -> %d %.*s\n", r->method, r->target, status,
                (int)(len < 160 ? len : 160), body ? body : "");
    if (status < 100 || status > 599 || status == 500) {
        fprintf(stderr, "fuzz_http: %s %s answered %d: %.*s\n", r->method, r->target, status,
                (int)(len < 2000 ? len : 2000), body ? body : "");
        __builtin_trap();
    }
    if (sse || !body || !ctype || strncmp(ctype, "application/json", 16) != 0)
        return;
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je); /* "\u0000" is JSON */
    if (!j) {
        fprintf(stderr, "fuzz_http: %s %s: the JSON answer does not parse (%s): %.*s\n", r->method, r->target,
                je.text, (int)(len < 2000 ? len : 2000), body);
        __builtin_trap();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct req r;
    if (!parse(&r, data, size)) {
        req_free(&r);
        return 0;
    }
    struct http_request req = {.method = r.method, .path = r.path, .body = r.body, .body_len = r.body_len,
                               .raw_url = r.target, .mem_headers = (const char *const *)r.hdr,
                               .mem_query = (const char *const *)r.qry};
    struct http_reply rep = {0};
    server_dispatch(g_srv, &req, &rep);
    if (rep.stream) {
        struct sbuf out = SBUF_INIT;
        int status = 0;
        /* SSE streams: 200 and events; plain ones: their final answer (JSON) */
        if (http_stream_run(rep.stream, STREAM_TIMEOUT_MS, &status, &out) == 0) {
            bool json = out.len > 0 && (out.s[0] == '{' || out.s[0] == '[');
            check_answer(&r, status, json ? "application/json" : NULL, out.s, out.len, !json);
        }
        sbuf_free(&out);
    } else {
        check_answer(&r, rep.status ? rep.status : 200, rep.content_type, rep.body, rep.len, false);
        free(rep.body);
        free(rep.headers);
    }
    req_free(&r);
    return 0;
}
