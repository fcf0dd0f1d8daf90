/*
 * http.c - libmicrohttpd glue: request bodies read into memory, replies
 * queued at once or later through an http_stream, suspended connections
 * watched for hang-up.
 *
 * Pull protocol. A stream's produce callback runs on the connection's MHD
 * thread (never two at once for one stream): first when the handler
 * returns, then after each http_stream_wake. Each stream has its own lock,
 * a `pending` flag (a wake not yet answered by a produce call) and a
 * `suspended` flag. The MHD thread suspends a connection only while holding
 * the lock, after seeing nothing to send and no pending wake; a wake sets
 * `pending` under the same lock and resumes the connection if it was
 * suspended. So a wake-up is never lost and a connection is never resumed
 * twice.
 *
 * While suspended, MHD does not look at a connection, so a client that goes
 * away is not noticed; a watcher thread polls the sockets of suspended
 * connections for hang-up every few tens of milliseconds, cancels their
 * streams and resumes them; MHD then ends the connection, the last
 * reference goes, and the producer's release callback (which stops the work
 * behind the stream) runs exactly once.
 */
#define _GNU_SOURCE
#include "server/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/sbuf.h"

#define WATCH_INTERVAL_MS 40
#define FD_RESERVE 64  /* descriptors kept for the model, slot files, logs */
#define BUSY_EXTRA 32  /* connections over max_connections that still get a 503 */
#define MAX_LISTEN 16  /* addresses in --host */

struct http_stream {
    pthread_mutex_t lock;
    atomic_int refs;
    bool sse;
    struct sbuf buf; /* SSE bytes not yet sent: buf.s[off..buf.len) */
    size_t off;
    bool finished, pending;
    int status;
    char *ctype;
    char *body;
    size_t body_len;
    bool suspended;
    atomic_bool cancelled;
    void (*produce)(void *ud, struct http_stream *s);
    void (*release)(void *ud);
    void *ud;
    struct MHD_Connection *conn; /* while attached to a connection */
    int fd;
    struct http_server *srv;
    struct http_stream *prev, *next; /* srv's list of attached streams */
    double t_sent;                   /* SSE: when bytes were last queued (clock_ms), for the pings */
};

struct http_server {
    struct MHD_Daemon *d[MAX_LISTEN]; /* one daemon per listening address (--host a,b,x.sock) */
    int n_d;
    int port;                         /* the TCP port bound (-1: UNIX sockets only) */
    char *unix_paths[MAX_LISTEN];     /* socket files made, removed at stop */
    struct http_config cfg;
    char *too_large_body;
    char *busy_body;
    atomic_int n_conns;   /* open connections */
    int conn_limit;       /* served at once */
    pthread_mutex_t lock; /* the list of attached streams */
    struct http_stream *streams;
    atomic_bool stopping;
    pthread_t watcher;
    bool watcher_started;
    /* handler workers: requests wait in jhead..jtail (their connections
     * suspended) until a worker runs the handler and resumes them */
    pthread_t *workers;
    int n_workers;
    pthread_mutex_t jlock;
    pthread_cond_t jcond;
    struct conn_ctx *jhead, *jtail;
    bool jstop;
    struct conn_ctx *running; /* jobs queued or running (jlock): watched for hang-up */
};

/* What we keep per request. */
struct conn_ctx {
    struct sbuf body;
    bool too_large;
    struct http_stream *stream; /* the HTTP side's reference */
    /* a handler run on a worker: JOB_RUNNING while queued or running (the
     * connection is suspended), JOB_DONE once rep holds its answer */
    atomic_int job;
    struct http_reply rep;
    const char *url, *method;
    struct MHD_Connection *conn;
    struct conn_ctx *next_job;
    char *raw_url; /* the request target as sent (on_uri), for http_request.raw_url */
    /* http_request.cancel: set when the client hangs up (or the server
     * stops) while the handler is queued or running; the watcher polls fd
     * while cc is on the server's running list */
    atomic_int cancel;
    int fd;
    struct conn_ctx *prev_run, *next_run;
    bool begun;    /* on_request has seen this request */
};

/* ---- streams ---- */

struct http_stream *http_stream_new(bool sse, void (*produce)(void *ud, struct http_stream *s),
                                    void (*release)(void *ud), void *ud)
{
    struct http_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 1);
    atomic_init(&s->cancelled, false);
    s->sse = sse;
    s->fd = -1;
    s->produce = produce;
    s->release = release;
    s->ud = ud;
    s->pending = true; /* the first produce call */
    return s;
}

static void stream_ref(struct http_stream *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void http_stream_unref(struct http_stream *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->release)
        s->release(s->ud);
    pthread_mutex_destroy(&s->lock);
    sbuf_free(&s->buf);
    free(s->ctype);
    free(s->body);
    free(s);
}

bool http_stream_cancelled(const struct http_stream *s)
{
    return atomic_load(&s->cancelled);
}

/* Resume the connection if we suspended it. Called with s->lock held. */
static void stream_wake(struct http_stream *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

void http_stream_wake(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->pending = true;
    stream_wake(s);
    pthread_mutex_unlock(&s->lock);
}

bool http_stream_write(struct http_stream *s, const char *data, size_t len)
{
    pthread_mutex_lock(&s->lock);
    if (atomic_load(&s->cancelled) || s->finished) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    if (s->off > 0 && s->off == s->buf.len) {
        sbuf_clear(&s->buf);
        s->off = 0;
    }
    bool ok = sbuf_append(&s->buf, data, len) == 0;
    if (ok) {
        s->t_sent = clock_ms();
        stream_wake(s);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void http_stream_finish(struct http_stream *s, int status, const char *content_type,
                        const char *body, size_t len)
{
    pthread_mutex_lock(&s->lock);
    if (!s->finished) {
        s->finished = true;
        s->status = status;
        if (!s->sse) {
            s->ctype = strdup(content_type ? content_type : "application/json");
            s->body = malloc(len + 1);
            if (s->ctype && s->body) {
                memcpy(s->body, body, len);
                s->body_len = len;
            } else {
                s->status = 500;
                s->body_len = 0;
            }
        }
        stream_wake(s);
    }
    pthread_mutex_unlock(&s->lock);
}

static void stream_attach(struct http_server *h, struct http_stream *s, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&s->lock);
    s->conn = c;
    s->fd = ci ? ci->connect_fd : -1;
    s->t_sent = clock_ms();
    pthread_mutex_unlock(&s->lock);
    s->srv = h;
    s->prev = NULL;
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    pthread_mutex_unlock(&h->lock);
}

static void stream_detach(struct http_server *h, struct http_stream *s)
{
    pthread_mutex_lock(&h->lock);
    if (s->srv == h) {
        if (s->prev)
            s->prev->next = s->next;
        else
            h->streams = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->srv = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->cancelled, true); /* the client is gone, or was answered */
    s->conn = NULL;
    s->suspended = false;
    pthread_mutex_unlock(&s->lock);
}

/* ---- in memory (http_stream_run) ---- */

static bool stream_produce(struct http_stream *s);

int http_stream_run(struct http_stream *s, int timeout_ms, int *status, struct sbuf *out)
{
    struct timespec nap = {0, 200 * 1000L}, t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->buf.len > s->off) { /* SSE bytes */
            sbuf_append(out, s->buf.s + s->off, s->buf.len - s->off);
            s->off = s->buf.len;
        }
        if (s->finished || atomic_load(&s->cancelled))
            break;
        if (stream_produce(s))
            continue;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
            atomic_store(&s->cancelled, true); /* as a client hanging up */
            rc = -1;
            break;
        }
        pthread_mutex_unlock(&s->lock);
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&s->lock);
    }
    *status = s->sse ? 200 : s->finished ? s->status : 503;
    if (!s->sse && s->finished && s->body)
        sbuf_append(out, s->body, s->body_len);
    atomic_store(&s->cancelled, true); /* answered: whatever feeds it stops */
    pthread_mutex_unlock(&s->lock);
    http_stream_unref(s);
    return rc;
}

/* ---- hang-up watcher ---- */

/* --sse-ping-interval: an SSE stream that has sent nothing for that long
 * gets llama-server's keep-alive comment ":\n\n" (clients such as undici
 * time out a silent stream, e.g. while a long prompt is evaluated). Whole
 * events are appended under the stream's lock, so a ping never splits one. */
static void ping_idle_streams(struct http_server *h)
{
    if (h->cfg.sse_ping_s <= 0)
        return;
    double now = clock_ms(), idle = (double)h->cfg.sse_ping_s * 1000.0;
    pthread_mutex_lock(&h->lock);
    for (struct http_stream *s = h->streams; s; s = s->next) {
        if (!s->sse)
            continue;
        pthread_mutex_lock(&s->lock);
        if (s->suspended && !s->finished && !atomic_load(&s->cancelled) && now - s->t_sent >= idle) {
            if (s->off > 0 && s->off == s->buf.len) {
                sbuf_clear(&s->buf);
                s->off = 0;
            }
            if (sbuf_append(&s->buf, ":\n\n", 3) == 0) {
                s->t_sent = now;
                stream_wake(s);
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&h->lock);
}

static void watch_once(struct http_server *h)
{
    enum { MAX_WATCH = 1024 };
    struct pollfd pfd[MAX_WATCH];
    struct http_stream *who[MAX_WATCH];
    int n = 0;
    pthread_mutex_lock(&h->lock);
    for (struct http_stream *s = h->streams; s && n < MAX_WATCH; s = s->next) {
        if (s->fd < 0 || atomic_load(&s->cancelled))
            continue;
        pfd[n].fd = s->fd;
        pfd[n].events = POLLRDHUP;
        pfd[n].revents = 0;
        who[n++] = s;
    }
    if (n > 0 && poll(pfd, (nfds_t)n, 0) > 0) {
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                continue;
            pthread_mutex_lock(&who[i]->lock); /* MHD ends the connection once resumed */
            atomic_store(&who[i]->cancelled, true);
            stream_wake(who[i]);
            pthread_mutex_unlock(&who[i]->lock);
        }
    }
    pthread_mutex_unlock(&h->lock);
}

/* Jobs queued or running whose client has gone: set their cancel flags
 * (the handler stops what it can; the worker resumes the connection when
 * it is done, as ever). */
static void watch_jobs(struct http_server *h)
{
    enum { MAX_WATCH = 1024 };
    struct pollfd pfd[MAX_WATCH];
    struct conn_ctx *who[MAX_WATCH];
    int n = 0;
    pthread_mutex_lock(&h->jlock);
    for (struct conn_ctx *cc = h->running; cc && n < MAX_WATCH; cc = cc->next_run) {
        if (cc->fd < 0 || atomic_load(&cc->cancel))
            continue;
        pfd[n] = (struct pollfd){.fd = cc->fd, .events = POLLRDHUP};
        who[n++] = cc;
    }
    if (n > 0 && poll(pfd, (nfds_t)n, 0) > 0)
        for (int i = 0; i < n; i++)
            if (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
                atomic_store(&who[i]->cancel, 1);
    pthread_mutex_unlock(&h->jlock);
}

static void *watcher_main(void *arg)
{
    struct http_server *h = arg;
    struct timespec ts = {0, WATCH_INTERVAL_MS * 1000000L};
    while (!atomic_load(&h->stopping)) {
        watch_once(h);
        watch_jobs(h);
        ping_idle_streams(h);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- requests ---- */

/* A request made in memory: name's value in pairs (headers: any case), or
 * NULL; *found says whether it was there (a value may be NULL). */
static const char *mem_lookup(const char *const *pairs, const char *name, bool any_case, bool *found)
{
    *found = false;
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        if (any_case ? strcasecmp(pairs[i], name) == 0 : strcmp(pairs[i], name) == 0) {
            *found = true;
            return pairs[i + 1];
        }
    }
    return NULL;
}

const char *http_header(const struct http_request *r, const char *name)
{
    bool found;
    if (!r->conn)
        return mem_lookup(r->mem_headers, name, true, &found);
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_header_n(const struct http_request *r, const char *name, size_t *len)
{
    const char *v = NULL;
    size_t n = 0;
    bool found;
    if (!r->conn) {
        v = mem_lookup(r->mem_headers, name, true, &found);
        if (v)
            *len = strlen(v);
        return v;
    }
    if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, name, strlen(name), &v, &n) != MHD_YES || !v)
        return NULL;
    *len = n;
    return v;
}

const char *http_query(const struct http_request *r, const char *name)
{
    /* "?flag" (no '=') is present with no value: give "" rather than NULL. */
    const char *v = NULL;
    size_t len = 0;
    if (!r->conn) {
        bool found;
        v = mem_lookup(r->mem_query, name, false, &found);
        return found ? (v ? v : "") : NULL;
    }
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &len) != MHD_YES)
        return NULL;
    return v ? v : "";
}

/* ------------------------------------------------------------ CORS */

/* Set once by http_start (one CORS setting per process, see http.h). */
static struct {
    const char *origins, *methods, *headers;
    bool credentials;
} g_cors = {"*", "GET, POST, DELETE, OPTIONS", NULL, true};

static bool origin_is_localhost(const char *o)
{
    const char *h = strstr(o, "://");
    h = h ? h + 3 : o;
    size_t n = strcspn(h, ":/");
    return (n == 9 && strncmp(h, "localhost", 9) == 0) || (n == 9 && strncmp(h, "127.0.0.1", 9) == 0) ||
           (n == 5 && strncmp(h, "[::1]", 5) == 0);
}

/* The process's start (Unix seconds), set once by http_start: llama-server's
 * Process-Start-Time-Unix header (its metrics' t_start). */
static char g_start_time[24];

/* llama-server's Access-Control-Allow-Origin for this request (and the
 * Process-Start-Time-Unix header every response carries). */
static void add_cors(struct MHD_Response *r, struct MHD_Connection *c)
{
    if (g_start_time[0])
        MHD_add_response_header(r, "Process-Start-Time-Unix", g_start_time);
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (strcmp(g_cors.origins, "*") == 0 && g_cors.credentials) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin && *origin ? origin : "*");
        if (origin && *origin)
            MHD_add_response_header(r, "Vary", "Origin");
    } else if (strcmp(g_cors.origins, "localhost") == 0) {
        if (origin && *origin && origin_is_localhost(origin)) {
            MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
            MHD_add_response_header(r, "Vary", "Origin");
        }
    } else {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", g_cors.origins);
    }
}

static enum MHD_Result queue_buffer(struct MHD_Connection *c, int status, const char *ctype,
                                    const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype ? ctype : "application/json");
    add_cors(r, c);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Called with s->lock held: if a wake is pending, run produce without the
 * lock and return true (the caller looks again). */
static bool stream_produce(struct http_stream *s)
{
    if (!s->pending || !s->produce || s->finished || atomic_load(&s->cancelled))
        return false;
    s->pending = false;
    pthread_mutex_unlock(&s->lock);
    s->produce(s->ud, s);
    pthread_mutex_lock(&s->lock);
    return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->buf.len > s->off) {
            size_t n = s->buf.len - s->off < max ? s->buf.len - s->off : max;
            memcpy(buf, s->buf.s + s->off, n);
            s->off += n;
            pthread_mutex_unlock(&s->lock);
            return (ssize_t)n;
        }
        struct http_server *h = s->srv;
        if (s->finished || atomic_load(&s->cancelled) || !s->conn || (h && atomic_load(&h->stopping))) {
            pthread_mutex_unlock(&s->lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (!stream_produce(s))
            break;
    }
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void sse_free(void *cls)
{
    http_stream_unref(cls);
}

static enum MHD_Result queue_sse(struct MHD_Connection *c, struct http_stream *s)
{
    stream_ref(s); /* held by the response until sse_free */
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s,
                                                               sse_free);
    if (!r) {
        http_stream_unref(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    add_cors(r, c);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* A plain stream: answer if finished, otherwise (re)suspend. */
static enum MHD_Result serve_plain_stream(struct http_server *h, struct MHD_Connection *c,
                                          struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    while (stream_produce(s))
        ;
    if (!s->finished && atomic_load(&s->cancelled) && !atomic_load(&h->stopping)) {
        pthread_mutex_unlock(&s->lock);
        return MHD_NO; /* the client hung up: close */
    }
    if (!s->finished && atomic_load(&h->stopping)) {
        pthread_mutex_unlock(&s->lock);
        static const char msg[] =
            "{\"error\":{\"code\":503,\"message\":\"Server is shutting down\",\"type\":\"unavailable_error\"}}";
        return queue_buffer(c, 503, NULL, msg, sizeof msg - 1, MHD_RESPMEM_PERSISTENT);
    }
    if (!s->finished) {
        s->suspended = true;
        MHD_suspend_connection(c);
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    }
    pthread_mutex_unlock(&s->lock);
    return queue_buffer(c, s->status, s->ctype, s->body, s->body_len, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result take_upload(struct http_server *h, struct conn_ctx *cc, const char *data,
                                   size_t size)
{
    if (cc->too_large || cc->body.len + size > h->cfg.max_body) {
        cc->too_large = true;
        return MHD_YES;
    }
    return sbuf_append(&cc->body, data, size) == 0 ? MHD_YES : MHD_NO;
}

/* A handler's status + body, with its extra "Name: value\r\n" lines. */
static enum MHD_Result queue_reply(struct MHD_Connection *c, const struct http_reply *rep)
{
    int status = rep->status ? rep->status : 200;
    const char *body = rep->body ? rep->body : "";
    size_t len = rep->body ? rep->len : 0;
    if (!rep->headers)
        return queue_buffer(c, status, rep->content_type, body, len, MHD_RESPMEM_MUST_COPY);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", rep->content_type ? rep->content_type : "application/json");
    add_cors(r, c);
    for (const char *line = rep->headers; *line;) {
        size_t n = strcspn(line, "\r\n");
        const char *colon = memchr(line, ':', n);
        if (colon) {
            char name[128], value[1024];
            size_t vo = (size_t)(colon - line) + 1 + strspn(colon + 1, " ");
            if ((size_t)(colon - line) < sizeof name && n >= vo && n - vo < sizeof value) {
                snprintf(name, sizeof name, "%.*s", (int)(colon - line), line);
                snprintf(value, sizeof value, "%.*s", (int)(n - vo), line + vo);
                MHD_add_response_header(r, name, value);
            }
        }
        line += n;
        line += strspn(line, "\r\n");
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

enum { JOB_NONE, JOB_RUNNING, JOB_DONE };

/* The list of jobs queued or running (called with h->jlock held). */
static void running_add(struct http_server *h, struct conn_ctx *cc)
{
    cc->prev_run = NULL;
    cc->next_run = h->running;
    if (h->running)
        h->running->prev_run = cc;
    h->running = cc;
}

static void running_remove(struct http_server *h, struct conn_ctx *cc)
{
    if (cc->prev_run)
        cc->prev_run->next_run = cc->next_run;
    else if (h->running == cc)
        h->running = cc->next_run;
    if (cc->next_run)
        cc->next_run->prev_run = cc->prev_run;
    cc->prev_run = cc->next_run = NULL;
}

static enum MHD_Result send_reply(struct http_server *h, struct MHD_Connection *c, struct conn_ctx *cc,
                                  struct http_reply rep);

/* A worker: runs queued handlers, at a lower CPU priority than the
 * generation threads (nice +10: about a tenth of a core's time when they
 * compete for it), so that an expensive request (a large schema, a 4 MB
 * tokenize) slows the streams of others little. Not lower: a worker
 * preempted while it holds a lock others need (the scheduler's queue,
 * malloc's) must still get the CPU back soon. */
static void *worker_main(void *arg)
{
    struct http_server *h = arg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    for (;;) {
        pthread_mutex_lock(&h->jlock);
        while (!h->jhead && !h->jstop)
            pthread_cond_wait(&h->jcond, &h->jlock);
        struct conn_ctx *cc = h->jhead;
        if (!cc) { /* stopping, and nothing left */
            pthread_mutex_unlock(&h->jlock);
            return NULL;
        }
        h->jhead = cc->next_job;
        if (!h->jhead)
            h->jtail = NULL;
        pthread_mutex_unlock(&h->jlock);
        struct http_request req = {.method = cc->method, .path = cc->url, .body = sbuf_str(&cc->body),
                                   .body_len = cc->body.len, .conn = cc->conn, .raw_url = cc->raw_url,
                                   .cancel = &cc->cancel};
        memset(&cc->rep, 0, sizeof cc->rep);
        if (!atomic_load(&cc->cancel)) {
            h->cfg.handler(h->cfg.handler_ud, &req, &cc->rep);
        } else { /* gone while queued: the handler is not run */
            static const char msg[] = "{\"error\":{\"code\":503,\"message\":\"the request was cancelled (the client "
                                      "left or the server is stopping)\",\"type\":\"unavailable_error\"}}";
            cc->rep.status = 503;
            cc->rep.body = strdup(msg);
            cc->rep.len = cc->rep.body ? sizeof msg - 1 : 0;
        }
        pthread_mutex_lock(&h->jlock);
        running_remove(h, cc);
        pthread_mutex_unlock(&h->jlock);
        atomic_store(&cc->job, JOB_DONE);
        MHD_resume_connection(cc->conn);
    }
}

static enum MHD_Result dispatch(struct http_server *h, struct MHD_Connection *c, struct conn_ctx *cc,
                                const char *url, const char *method)
{
    if (cc->too_large)
        return queue_buffer(c, 413, NULL, h->too_large_body, strlen(h->too_large_body),
                            MHD_RESPMEM_PERSISTENT);
    if (strcmp(method, "OPTIONS") == 0) { /* CORS preflight */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        add_cors(r, c);
        const char *asked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        MHD_add_response_header(r, "Access-Control-Allow-Credentials", g_cors.credentials ? "true" : "false");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", g_cors.methods);
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                g_cors.headers ? g_cors.headers : asked && *asked ? asked : "*");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (h->n_workers > 0) { /* run the handler on a worker: this thread keeps serving the others */
        pthread_mutex_lock(&h->jlock);
        if (!h->jstop) {
            cc->url = url;
            cc->method = method;
            cc->conn = c;
            cc->next_job = NULL;
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
            cc->fd = ci ? ci->connect_fd : -1;
            running_add(h, cc);
            atomic_store(&cc->job, JOB_RUNNING);
            MHD_suspend_connection(c);
            if (h->jtail)
                h->jtail->next_job = cc;
            else
                h->jhead = cc;
            h->jtail = cc;
            pthread_cond_signal(&h->jcond);
            pthread_mutex_unlock(&h->jlock);
            return MHD_YES;
        }
        pthread_mutex_unlock(&h->jlock);
    }
    struct http_request req = {.method = method, .path = url, .body = sbuf_str(&cc->body), .body_len = cc->body.len,
                               .conn = c, .raw_url = cc->raw_url, .cancel = &cc->cancel};
    struct http_reply rep = {0};
    h->cfg.handler(h->cfg.handler_ud, &req, &rep);
    return send_reply(h, c, cc, rep);
}

/* A handler's answer: queued now (status + body) or the stream attached. */
static enum MHD_Result send_reply(struct http_server *h, struct MHD_Connection *c, struct conn_ctx *cc,
                                  struct http_reply rep)
{
    if (!rep.stream) {
        enum MHD_Result ret = queue_reply(c, &rep);
        free(rep.body);
        free(rep.headers);
        return ret;
    }
    cc->stream = rep.stream;
    stream_attach(h, rep.stream, c);
    if (rep.stream->sse)
        return queue_sse(c, rep.stream);
    return serve_plain_stream(h, c, rep.stream);
}

/* An answer before the body is read (MHD then reads no more of it and
 * closes the connection after answering). */
static enum MHD_Result queue_early(struct MHD_Connection *c, int status, const char *body,
                                   const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    add_cors(r, c);
    MHD_add_response_header(r, "Connection", "close");
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Is a header's comma-separated value exactly one token (ignoring case and
 * blanks)? */
static bool header_is(const char *v, const char *token)
{
    v += strspn(v, " \t");
    size_t n = strlen(token);
    if (strncasecmp(v, token, n) != 0)
        return false;
    v += n;
    return v[strspn(v, " \t")] == '\0';
}

/* Checks made as soon as the headers are in: a status to answer at once
 * (with *msg), or 0. */
static int early_check(struct http_server *h, struct MHD_Connection *c, const char **msg)
{
    if (h->cfg.max_connections > 0 && atomic_load(&h->n_conns) > h->cfg.max_connections) {
        *msg = h->busy_body;
        return 503;
    }
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    if (te && !header_is(te, "chunked")) {
        *msg = "{\"error\":{\"code\":501,\"message\":\"Transfer-Encoding other than chunked is not implemented\","
               "\"type\":\"not_supported_error\"}}";
        return 501;
    }
    const char *ce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
    if (ce && !header_is(ce, "identity")) {
        *msg = "{\"error\":{\"code\":415,\"message\":\"Content-Encoding is not supported: send the body "
               "uncompressed\",\"type\":\"invalid_request_error\"}}";
        return 415;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > h->cfg.max_body) {
        *msg = h->too_large_body;
        return 413;
    }
    return 0;
}

/* The request target before percent-decoding, kept in a new connection
 * context (libmicrohttpd makes the return value the request's *con_cls). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn_ctx *cc = calloc(1, sizeof *cc);
    if (cc)
        cc->raw_url = strdup(uri);
    return cc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *h = cls;
    struct conn_ctx *cc = *con_cls;
    if (!cc || !cc->begun) { /* the first call; cc may come from on_uri */
        if (!cc && !(cc = calloc(1, sizeof *cc)))
            return MHD_NO;
        cc->begun = true;
        *con_cls = cc;
        /* the headers are in: from now on the idle timeout, not the header one */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)(h->cfg.timeout_s > 0 ? h->cfg.timeout_s : 0));
        const char *msg = NULL;
        int status = early_check(h, c, &msg);
        if (status)
            return queue_early(c, status, msg, status == 503 ? "1" : NULL);
        return MHD_YES;
    }
    if (*upload_data_size) {
        enum MHD_Result r = take_upload(h, cc, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return r;
    }
    int job = atomic_load(&cc->job);
    if (job == JOB_DONE) { /* resumed by the worker that ran the handler */
        atomic_store(&cc->job, JOB_NONE);
        return send_reply(h, c, cc, cc->rep);
    }
    if (job == JOB_RUNNING)
        return MHD_YES;
    if (cc->stream) /* resumed */
        return cc->stream->sse ? MHD_YES : serve_plain_stream(h, c, cc->stream);
    return dispatch(h, c, cc, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *h = cls;
    struct conn_ctx *cc = *con_cls;
    if (!cc)
        return;
    if (cc->stream) {
        stream_detach(h, cc->stream);
        http_stream_unref(cc->stream);
    }
    sbuf_free(&cc->body);
    free(cc->raw_url);
    free(cc);
    *con_cls = NULL;
}

/* ---- the daemon ---- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&h->n_conns, 1);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub(&h->n_conns, 1);
}

/* How many connections the file limit allows (the soft limit raised to the
 * hard one first), less a reserve for everything else. */
static int fd_connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    rlim_t n = rl.rlim_cur;
    if (n == RLIM_INFINITY || n > 1u << 20)
        n = 1u << 20;
    return n > FD_RESERVE + 16 ? (int)(n - FD_RESERVE) : 16;
}

/* ---- listening sockets ---- */

static void remove_unix_paths(struct http_server *h)
{
    for (int i = 0; i < MAX_LISTEN; i++) {
        if (h->unix_paths[i])
            unlink(h->unix_paths[i]);
        free(h->unix_paths[i]);
        h->unix_paths[i] = NULL;
    }
}

/* Stop every daemon (each closes its listening socket) and remove the UNIX
 * socket files. */
static void stop_daemons(struct http_server *h)
{
    for (int i = 0; i < h->n_d; i++)
        MHD_stop_daemon(h->d[i]);
    h->n_d = 0;
    remove_unix_paths(h);
}


/* A path ending in .sock is a UNIX socket (llama-server's rule). */
static bool is_unix_path(const char *a, size_t n)
{
    return n > 5 && strncmp(a + n - 5, ".sock", 5) == 0;
}

static int listen_unix(struct http_server *h, const char *path, char *err, size_t err_size)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof un.sun_path)
        return err_set(err, err_size, "--host: the socket path '%s' is too long", path);
    strcpy(un.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* left by an earlier run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) != 0 || listen(fd, 128) != 0) {
        err_set(err, err_size, "--host: cannot listen on UNIX socket '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    for (int i = 0; i < MAX_LISTEN; i++)
        if (!h->unix_paths[i]) {
            h->unix_paths[i] = strdup(path);
            break;
        }
    return fd;
}

/* host: an IPv4/IPv6 address or a name; port 0: any free port. */
static int listen_tcp(const char *host, int port, bool reuse_port, bool v6only, int *bound, char *err,
                      size_t err_size)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const char *name = host;
    char buf[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) { /* [::1] */
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        name = buf;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(name, ps, &hints, &ai);
    if (rc != 0)
        return err_set(err, err_size, "--host: '%s' is not an address: %s", host, gai_strerror(rc));
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1, v6 = v6only ? 1 : 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuse_port) /* --reuse-port: several servers may share the port */
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (a->ai_family == AF_INET6) /* several TCP addresses: '::' is IPv6 only (llama-server) */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return err_set(err, err_size, "cannot listen on %s:%d: %s", host, port, strerror(e));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A listening socket for each comma-separated entry of cfg->host (as
 * llama-server: addresses, and UNIX socket paths ending in .sock). Returns
 * how many (fds[]), or -1 with a message (none left open). */
static int open_listeners(struct http_server *h, const struct http_config *cfg, int *fds, char *err,
                          size_t err_size)
{
    const char *hosts = cfg->host && *cfg->host ? cfg->host : "127.0.0.1";
    int n = 0, n_tcp = 0;
    for (const char *p = hosts; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        size_t len = strcspn(p, ",");
        n_tcp += len > 0 && !is_unix_path(p, len);
    }
    if (cfg->port == 0 && n_tcp > 1)
        return err_set(err, err_size, "--port 0 is not supported with several TCP addresses in --host");
    h->port = -1;
    for (const char *p = hosts; *p;) {
        size_t len = strcspn(p, ",");
        char one[512];
        if (len >= sizeof one || n == MAX_LISTEN) {
            err_set(err, err_size, "--host: too many addresses or one too long (at most %d)", MAX_LISTEN);
            goto fail;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        p += len + (p[len] == ',');
        if (len == 0)
            continue;
        int bound = -1;
        int fd = is_unix_path(one, len) ? listen_unix(h, one, err, err_size)
                                        : listen_tcp(one, cfg->port, cfg->reuse_port, n_tcp > 1, &bound, err,
                                                     err_size);
        if (fd < 0)
            goto fail;
        if (h->port < 0 && bound >= 0)
            h->port = bound;
        fds[n++] = fd;
    }
    if (n == 0)
        return err_set(err, err_size, "--host: no address given");
    return n;
fail:
    for (int i = 0; i < n; i++)
        close(fds[i]);
    remove_unix_paths(h);
    return -1;
}

struct http_server *http_start(const struct http_config *cfg, char *err, size_t err_size)
{
    g_cors.origins = cfg->cors_origins && *cfg->cors_origins ? cfg->cors_origins : "*";
    g_cors.methods = cfg->cors_methods && *cfg->cors_methods ? cfg->cors_methods : "GET, POST, DELETE, OPTIONS";
    g_cors.headers = cfg->cors_headers && *cfg->cors_headers ? cfg->cors_headers : NULL;
    g_cors.credentials = !cfg->cors_no_credentials;
    if (!g_start_time[0])
        snprintf(g_start_time, sizeof g_start_time, "%lld", (long long)time(NULL));
    struct http_server *h = calloc(1, sizeof *h);
    if (!h) {
        err_set(err, err_size, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    h->too_large_body = strdup(cfg->too_large_body ? cfg->too_large_body : "{}");
    h->busy_body = strdup(cfg->busy_body ? cfg->busy_body : "{}");
    atomic_init(&h->n_conns, 0);
    int fd_limit = fd_connection_limit();
    h->conn_limit = cfg->max_connections > 0 && cfg->max_connections < fd_limit ? cfg->max_connections : fd_limit;
    int mhd_limit = h->conn_limit + (cfg->max_connections > 0 ? BUSY_EXTRA : 0);
    if (mhd_limit > fd_limit)
        mhd_limit = fd_limit;
    int header_timeout = cfg->header_timeout_s > 0 ? cfg->header_timeout_s : cfg->timeout_s;
    if (cfg->timeout_s > 0 && header_timeout > cfg->timeout_s)
        header_timeout = cfg->timeout_s;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->jlock, NULL);
    pthread_cond_init(&h->jcond, NULL);
    atomic_init(&h->stopping, false);

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | (cfg->log_errors ? MHD_USE_ERROR_LOG : 0);
    bool tls = cfg->tls_key_pem && cfg->tls_cert_pem;
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            err_set(err, err_size, "this libmicrohttpd was built without TLS");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    int fds[MAX_LISTEN];
    int n_fds = open_listeners(h, cfg, fds, err, err_size);
    if (n_fds < 0)
        goto fail;
    int per = cfg->n_threads / n_fds > 1 ? cfg->n_threads / n_fds : 1; /* the connection threads, shared */
    for (int i = 0; i < n_fds; i++) {
        struct MHD_OptionItem opts[] = {
            {MHD_OPTION_LISTEN_SOCKET, fds[i], NULL},
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
            {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h},
            {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h},
            {MHD_OPTION_CONNECTION_TIMEOUT, header_timeout > 0 ? header_timeout : 0, NULL},
            {MHD_OPTION_CONNECTION_LIMIT, mhd_limit, NULL},
            {MHD_OPTION_THREAD_POOL_SIZE, per, NULL},
            {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 256 * 1024, NULL},
            {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)cfg->tls_key_pem},
            {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cfg->tls_cert_pem},
            {MHD_OPTION_END, 0, NULL},
        };
        h->d[i] = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!h->d[i]) {
            err_set(err, err_size, "cannot serve on --host '%s' (bad TLS key/certificate?)", cfg->host);
            for (int k = i; k < n_fds; k++)
                close(fds[k]);
            stop_daemons(h);
            goto fail;
        }
        h->n_d++;
    }
    if (pthread_create(&h->watcher, NULL, watcher_main, h) != 0) {
        err_set(err, err_size, "cannot start the hang-up watcher thread");
        stop_daemons(h);
        goto fail;
    }
    h->watcher_started = true;
    int nw = cfg->n_workers > 0 ? cfg->n_workers : 0;
    h->workers = nw ? calloc((size_t)nw, sizeof *h->workers) : NULL;
    for (int i = 0; h->workers && i < nw; i++) {
        if (pthread_create(&h->workers[i], NULL, worker_main, h) != 0)
            break;
        h->n_workers++;
    }
    return h;
fail:
    free(h->too_large_body);
    free(h->busy_body);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->jlock);
    pthread_cond_destroy(&h->jcond);
    free(h);
    return NULL;
}

int http_connections(const struct http_server *h)
{
    return atomic_load(&h->n_conns);
}

int http_connection_limit(const struct http_server *h)
{
    return h->conn_limit;
}

int http_port(const struct http_server *h)
{
    return h->port;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    if (h->watcher_started)
        pthread_join(h->watcher, NULL);
    pthread_mutex_lock(&h->lock);
    for (struct http_stream *s = h->streams; s; s = s->next) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->cancelled, true);
        stream_wake(s);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&h->lock);
    /* the workers finish what is queued (the handlers answer 503 by now) and
     * resume those connections; later requests run their handlers inline */
    pthread_mutex_lock(&h->jlock);
    for (struct conn_ctx *cc = h->running; cc; cc = cc->next_run) /* a compile in progress stops */
        atomic_store(&cc->cancel, 1);
    h->jstop = true;
    pthread_cond_broadcast(&h->jcond);
    pthread_mutex_unlock(&h->jlock);
    for (int i = 0; i < h->n_workers; i++)
        pthread_join(h->workers[i], NULL);
    free(h->workers);
    stop_daemons(h);
    pthread_mutex_destroy(&h->jlock);
    pthread_cond_destroy(&h->jcond);
    free(h->too_large_body);
    free(h->busy_body);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
