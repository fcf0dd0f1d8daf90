/*
 * completion_reply.h - one generation request in flight: its n parallel
 * choices (scheduler tasks) post raw token events to one queue; the HTTP
 * side drains it on its own threads (a pull stream, http.h) and formats
 * them as llama.cpp's native /completion answer or OpenAI's text/chat
 * completion shapes, as one JSON body or as Server-Sent Events, with the
 * members the current llama-server adds (prompt_progress events, tokens,
 * timings, usage, __verbose; docs/server.md). Nothing here runs on the
 * scheduler thread but the queue's wake-up.
 */
#ifndef CLLM_SERVER_COMPLETION_REPLY_H
#define CLLM_SERVER_COMPLETION_REPLY_H

#include "server/http.h"
#include "server/request.h"

struct server;

/* Make the sampler(s) and task(s) for r and submit them; rep becomes the
 * stream (or a 400 error when the sampler rejects the parameters, or
 * llama-server's exceed_context_size_error when the prompt cannot fit the
 * slot). r's prompt and stop strings are taken over; r itself stays the
 * caller's. */
void completion_submit(struct server *s, const struct request_ctx *c, struct completion_req *r,
                       struct http_reply *rep);

/* Add to a generation_settings object the members of llama-server's
 * (task_params::to_json) that cllm has no counterpart for, at their "off"
 * values, where missing (max_tokens: n_predict). */
void completion_llama_settings(json_t *settings, int32_t n_predict, const char *spec_type);

#endif
