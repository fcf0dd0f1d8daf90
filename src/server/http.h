/*
 * http.h - the HTTP front end: libmicrohttpd in its internal epoll mode with
 * a small thread pool, suspend/resume for responses produced later, and a
 * watcher that notices clients who hang up while their connection is
 * suspended.
 *
 * A handler gets a whole request (body read into memory, up to a limit) and
 * answers at once (status + body) or with an http_stream: a buffer another
 * thread fills later. A plain stream delivers its status and body when
 * finished; an SSE stream (text/event-stream) sends each write as it comes.
 * While waiting, the connection is suspended and holds no thread.
 *
 * This layer knows nothing of JSON or of the model.
 */
#ifndef CLLM_SERVER_HTTP_H
#define CLLM_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;

struct http_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated (the NUL is not counted in body_len) */
    size_t body_len;
    struct MHD_Connection *conn;
};

/* A request header or query-string argument, or NULL (a query argument
 * given without a value, "?flag", is ""). */
const char *http_header(const struct http_request *r, const char *name);
const char *http_query(const struct http_request *r, const char *name);

/* A response filled by another thread; reference counted (the HTTP layer
 * holds one reference, the producer another). */
struct http_stream;

struct http_stream *http_stream_new(bool sse);
void http_stream_ref(struct http_stream *s);
void http_stream_unref(struct http_stream *s);
/* Append bytes (SSE: sent as soon as the connection can take them).
 * Returns false if the client has gone (nothing appended). */
bool http_stream_write(struct http_stream *s, const char *data, size_t len);
/* The end. Plain streams: the response's status, content type and body
 * (body is copied). SSE streams ignore them and just end the stream. */
void http_stream_finish(struct http_stream *s, int status, const char *content_type,
                        const char *body, size_t len);
/* The client hung up or the server is stopping: the producer should stop. */
bool http_stream_cancelled(const struct http_stream *s);

/* What a handler answers: either status + body (taken over, free()d by the
 * HTTP layer) or a stream (the handler's reference is taken over). */
struct http_reply {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    struct http_stream *stream;
};

typedef void (*http_handler)(void *ud, const struct http_request *req, struct http_reply *rep);

struct http_config {
    const char *host;       /* "127.0.0.1" */
    int port;               /* 8080; 0: any free port */
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
};

struct http_server;

/* Start listening. NULL with a message in err (address in use, TLS
 * unsupported, ...). */
struct http_server *http_start(const struct http_config *cfg, char *err, size_t err_size);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *h);
/* Cancel every stream, resume every suspended connection, stop. */
void http_stop(struct http_server *h);

#endif
