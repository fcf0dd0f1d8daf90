/*
 * server_seam.h - a way into the server without sockets, for
 * fuzz/fuzz_http.c: one request, already parsed and made in memory
 * (struct http_request with conn NULL and mem_headers / mem_query), routed
 * and handled exactly as the HTTP layer's worker would (API key, routes,
 * handlers). A streamed answer comes back in rep->stream: run it with
 * http_stream_run.
 *
 * Threads: like a worker, any thread; several at once.
 */
#ifndef CLLM_SERVER_SERVER_SEAM_H
#define CLLM_SERVER_SERVER_SEAM_H

#include "server/http.h"

struct server;

void server_dispatch(struct server *s, const struct http_request *req, struct http_reply *rep);

#endif
