/*
 * api_responses.h - OpenAI's Responses API (POST /v1/responses, stateless) in
 * terms of the chat completion the server already runs: a request's input
 * (a string, or message, function_call and function_call_output items),
 * instructions, tools, tool_choice, max_output_tokens and text.format become
 * an OpenAI chat body; the answer becomes a response object with message,
 * function_call and reasoning output items, or the event sequence
 * (response.created ... response.completed) with sequence numbers.
 *
 * Pure JSON transforms: no server state, safe from any thread. A stream
 * encoder belongs to one request.
 */
#ifndef CLLM_SERVER_API_RESPONSES_H
#define CLLM_SERVER_API_RESPONSES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "chat/tool_call.h"

/* The chat body for a Responses request (new reference), or NULL with the
 * reason in err. */
json_t *srv_responses_to_chat(const json_t *body, char *err, size_t err_size);

/* What a response object echoes of its request and the finished answer. */
struct srv_response_info {
    const char *id;          /* "resp_..." */
    const char *model;
    long long created_at;    /* unix seconds */
    const json_t *request;   /* the original body (instructions, tools, ... echoed) */
    bool incomplete;         /* cut by max_output_tokens */
    long in_tokens, out_tokens, cached_tokens;
};

/* The response object (new reference); m NULL: in progress, no output yet. */
json_t *srv_responses_object(const struct srv_response_info *info, const struct chat_tool_message *m);

/* Streaming: text and reasoning arrive in pieces; calls whole; then the end. */
struct srv_responses_stream {
    int seq;              /* sequence_number of the next event */
    int n_items;          /* output items opened so far */
    int item_kind;        /* the open item: 0 none, 1 message, 2 reasoning */
    char item_id[64];
    struct sbuf text;     /* the open item's text so far */
};
void srv_responses_stream_init(struct srv_responses_stream *st);
void srv_responses_stream_free(struct srv_responses_stream *st);
int srv_responses_stream_start(struct srv_responses_stream *st, struct sbuf *out,
                               const struct srv_response_info *info);
int srv_responses_stream_text(struct srv_responses_stream *st, struct sbuf *out, const struct srv_response_info *info,
                              const char *text, bool reasoning);
int srv_responses_stream_call(struct srv_responses_stream *st, struct sbuf *out, const struct srv_response_info *info,
                              const struct chat_tool_call *call, size_t index);
int srv_responses_stream_finish(struct srv_responses_stream *st, struct sbuf *out,
                                const struct srv_response_info *info, const struct chat_tool_message *m);

#endif
