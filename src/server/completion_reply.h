/*
 * completion_reply.h - one generation request in flight: n parallel
 * choices (scheduler tasks) whose events are gathered into one answer, in
 * llama.cpp's native /completion shape or OpenAI's text/chat completion
 * shapes, as a single JSON body or as Server-Sent Events.
 */
#ifndef CLLM_SERVER_COMPLETION_REPLY_H
#define CLLM_SERVER_COMPLETION_REPLY_H

#include "server/completion_params.h"
#include "server/http.h"

enum reply_format { FMT_NATIVE, FMT_OAI_TEXT, FMT_OAI_CHAT };

struct reply_options {
    enum reply_format fmt;
    int n_choices;          /* OpenAI `n` (1 for native) */
    bool include_usage;     /* stream_options.include_usage */
    bool logprobs;          /* OpenAI logprobs wanted (n_probs >= 1 then) */
    const char *model;      /* OpenAI `model` echoed back (NULL: the server's) */
};

/* Make the sampler(s) and task(s) for r and submit them; rep becomes the
 * stream (or a 400 error when the sampler rejects the parameters). r's
 * prompt and stop strings are taken over. */
void completion_submit(struct server *s, struct completion_req *r, const struct reply_options *o,
                       struct http_reply *rep);

#endif
