/*
 * api_anthropic.h - Anthropic's Messages API (POST /v1/messages) in terms of
 * the chat completion the server already runs: a Messages request becomes an
 * OpenAI chat body (system, text, tool_use and tool_result blocks, tools,
 * tool_choice, thinking, stop_sequences...), and the finished or streaming
 * answer becomes Anthropic's message object or its event sequence
 * (message_start, content_block_start/delta/stop, message_delta,
 * message_stop).
 *
 * Pure JSON transforms: no server state, safe from any thread. A stream
 * encoder (struct srv_anthropic_stream) belongs to one request.
 */
#ifndef CLLM_SERVER_API_ANTHROPIC_H
#define CLLM_SERVER_API_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "chat/tool_call.h"

struct sbuf;

/* The OpenAI chat body for a Messages request (new reference), or NULL with
 * the reason in err (Anthropic answers those with invalid_request_error). */
json_t *srv_anthropic_to_chat(const json_t *body, char *err, size_t err_size);

/* "end_turn", "max_tokens", "stop_sequence" or "tool_use" for the chat
 * finish reason (stop, length, tool_calls) and whether a stop string hit. */
const char *srv_anthropic_stop_reason(const char *finish_reason, bool stopped_by_word);

/* The message object of a finished answer (new reference). stop_sequence:
 * the stop string that ended it, or NULL. */
json_t *srv_anthropic_message(const char *id, const char *model, const struct chat_tool_message *m,
                              const char *stop_reason, const char *stop_sequence, long in_tokens,
                              long out_tokens);

/* Anthropic's error object for an HTTP status and message (new reference). */
json_t *srv_anthropic_error(int status, const char *message);

/* Streaming: one per request. Each call appends complete SSE events to out
 * and returns 0, or -1 when out of memory. */
struct srv_anthropic_stream {
    int block;      /* index of the open content block, -1 when none */
    int block_kind; /* 0 none, 1 text, 2 thinking, 3 tool_use */
    int n_blocks;
};
void srv_anthropic_stream_init(struct srv_anthropic_stream *st);
int srv_anthropic_stream_start(struct srv_anthropic_stream *st, struct sbuf *out, const char *id,
                               const char *model, long in_tokens);
int srv_anthropic_stream_text(struct srv_anthropic_stream *st, struct sbuf *out, const char *text,
                              bool thinking);
int srv_anthropic_stream_tool(struct srv_anthropic_stream *st, struct sbuf *out,
                              const struct chat_tool_call *call, const char *id);
int srv_anthropic_stream_ping(struct sbuf *out);
int srv_anthropic_stream_finish(struct srv_anthropic_stream *st, struct sbuf *out, const char *stop_reason,
                                const char *stop_sequence, long out_tokens);

#endif
