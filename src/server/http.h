/*
 * http.h - the HTTP front end: libmicrohttpd in its internal epoll mode with
 * a small thread pool, suspend/resume for responses produced later, and a
 * watcher that notices clients who hang up while their connection is
 * suspended.
 *
 * A handler gets a whole request (body read into memory, up to a limit) and
 * answers at once (status + body) or with an http_stream whose producer is
 * called back on the connection's thread whenever it is woken. A plain
 * stream delivers its status and body when finished; an SSE stream
 * (text/event-stream) sends each write as it comes. While waiting, the
 * connection is suspended and holds no thread.
 *
 * Threads: producers run on libmicrohttpd's pool threads; handlers on the
 * worker threads (http_config.n_workers; on the pool threads when 0);
 * http_stream_wake may come from any thread.
 *
 * This layer knows nothing of JSON or of the model.
 */
#ifndef CLLM_SERVER_HTTP_H
#define CLLM_SERVER_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct sbuf;

struct http_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated (the NUL is not counted in body_len) */
    size_t body_len;
    struct MHD_Connection *conn;
    const char *raw_url; /* the target as sent, before percent-decoding (NULL: unknown) */
    /* Non-zero once the client has hung up or the server is stopping while
     * the handler is queued or runs (set by the hang-up watcher; NULL:
     * never): long work stops when it sees it (grammar_cancel_watch). */
    const atomic_int *cancel;
    /* A request made in memory (conn NULL; fuzz/fuzz_http.c): its headers
     * and query arguments as NULL-terminated arrays of name, value pairs
     * (a query argument without a value: NULL value). */
    const char *const *mem_headers;
    const char *const *mem_query;
};

/* A request header or query-string argument, or NULL (a query argument
 * given without a value, "?flag", is ""). */
const char *http_header(const struct http_request *r, const char *name);
const char *http_query(const struct http_request *r, const char *name);
/* A request header with its length as received (a value with a NUL inside is
 * longer than its strlen), or NULL. */
const char *http_header_n(const struct http_request *r, const char *name, size_t *len);

/* A response produced later, on the HTTP side's own threads (pull style).
 * produce(ud, s) is called on the connection's libmicrohttpd thread, never
 * two at once for one stream: once when the handler has returned, and again
 * after each http_stream_wake. It adds to the response with
 * http_stream_write (SSE) or ends it with http_stream_finish, and must not
 * block. release(ud) is called exactly once, when the stream is freed (the
 * connection is over: answered, hung up, or the server stopping), after the
 * last produce call; it stops whatever feeds the stream and frees ud.
 * Reference counted: the handler's reference passes to the HTTP layer with
 * http_reply.stream; a handler that fails after making one unrefs it. */
struct http_stream;

struct http_stream *http_stream_new(bool sse, void (*produce)(void *ud, struct http_stream *s),
                                    void (*release)(void *ud), void *ud);
void http_stream_unref(struct http_stream *s);
/* Ask for another produce call. Any thread; quick; takes only the stream's
 * own lock (so it may be called under the producer's other locks). */
void http_stream_wake(struct http_stream *s);
/* From produce: append bytes (SSE: sent as soon as the connection can take
 * them). Returns false if the client has gone (nothing appended). */
bool http_stream_write(struct http_stream *s, const char *data, size_t len);
/* From produce: the end. Plain streams: the response's status, content type
 * and body (body is copied). SSE streams ignore them and just end. */
void http_stream_finish(struct http_stream *s, int status, const char *content_type,
                        const char *body, size_t len);
/* The client hung up or the server is stopping. */
bool http_stream_cancelled(const struct http_stream *s);
/* A stream run in memory, with no connection (for fuzz/fuzz_http.c): its
 * produce calls made on this thread until it finishes or timeout_ms pass
 * (then it is cancelled, as when a client hangs up). *status: the plain
 * stream's status (SSE: 200); out gets the body or the events. Drops the
 * caller's reference. Returns 0, or -1 when it timed out. */
int http_stream_run(struct http_stream *s, int timeout_ms, int *status, struct sbuf *out);

/* What a handler answers: either status + body (taken over, free()d by the
 * HTTP layer) or a stream (the handler's reference is taken over). */
struct http_reply {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    struct http_stream *stream;
    char *headers; /* extra "Name: value\r\n" lines for status + body (taken over, free()d), or NULL */
};

typedef void (*http_handler)(void *ud, const struct http_request *req, struct http_reply *rep);

struct http_config {
    const char *host;       /* "127.0.0.1"; comma-separated addresses (IPv4, IPv6, names) and UNIX
                               socket paths ending in .sock, each served (as llama-server's --host) */
    int port;               /* 8080; 0: any free port (one TCP address only) */
    bool reuse_port;        /* SO_REUSEPORT on the TCP sockets (--reuse-port) */
    int sse_ping_s;         /* > 0: an SSE stream silent that many seconds gets ":\n\n" (--sse-ping-interval) */
    int n_threads;          /* connection threads */
    int timeout_s;          /* idle connection timeout */
    size_t max_body;        /* larger bodies get 413 without being handed to the handler */
    const char *tls_key_pem;  /* both set: HTTPS */
    const char *tls_cert_pem;
    http_handler handler;
    void *handler_ud;
    bool log_errors;        /* libmicrohttpd's own error messages on stderr */
    /* Answer for a body over max_body (a JSON error, made by the caller). */
    const char *too_large_body;
    /* Connections: at most max_connections at once are served (0: as many
     * as the file limit allows, which is raised to its hard limit); beyond
     * that, up to a few dozen more get busy_body (503, Retry-After) and the
     * rest are refused at accept. A connection must send its request
     * headers within header_timeout_s (0: timeout_s); then timeout_s. */
    int max_connections;
    int header_timeout_s;
    const char *busy_body; /* the 503's JSON body (made by the caller) */
    /* Threads that run the handlers (0: the connection threads do): a
     * request's connection is suspended while a worker runs its handler, so
     * an expensive request never holds up the streams served by the
     * connection threads. */
    int n_workers;
    /* CORS as llama-server does it (--cors-origins, --cors-methods,
     * --cors-headers, --no-cors-credentials). origins: NULL or "*" (any:
     * with credentials the request's Origin is echoed), "localhost" (only
     * localhost origins echoed), or the one origin sent. methods: NULL: "GET,
     * POST, DELETE, OPTIONS"; headers: NULL: the preflight's
     * Access-Control-Request-Headers, else "*". One CORS setting per process. */
    const char *cors_origins, *cors_methods, *cors_headers;
    bool cors_no_credentials;
};

struct http_server;

/* Start listening. NULL with a message in err (address in use, TLS
 * unsupported, ...). */
struct http_server *http_start(const struct http_config *cfg, char *err, size_t err_size);
/* The TCP port actually bound (useful with port 0); -1 with UNIX sockets only. */
int http_port(const struct http_server *h);
/* Open connections now, and the most served at once (the limit in force). */
int http_connections(const struct http_server *h);
int http_connection_limit(const struct http_server *h);
/* Cancel every stream, resume every suspended connection, stop. */
void http_stop(struct http_server *h);

#endif
