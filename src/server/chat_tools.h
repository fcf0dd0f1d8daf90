/*
 * chat_tools.h - a chat request's tools and thoughts: the messages the
 * template renders (for a template that knows no tools, the generic format's
 * instructions and history), then the grammar that keeps calls well-formed
 * and how the answer is to be split into content, reasoning and calls
 * (chat/tool_call.h does the formats). Runs on the HTTP thread that reads
 * the request.
 */
#ifndef CLLM_SERVER_CHAT_TOOLS_H
#define CLLM_SERVER_CHAT_TOOLS_H

#include <jansson.h>
#include <stddef.h>

#include "server/request.h"

struct server;

/* The body the template renders for r (new reference: body itself, or a
 * copy with the messages rewritten), or NULL with err (a tool_choice
 * without tools, out of memory). */
json_t *srv_tools_body(const struct server *s, const json_t *body, const struct completion_req *r, char *err,
                       size_t err_size);
/* After the prompt is made: r's parse flags, tool format, grammar and
 * triggers. -1 with err (a tool the grammar cannot express, tools beside a
 * grammar). */
int srv_tools_setup(const struct server *s, const json_t *body, struct completion_req *r, char *err,
                    size_t err_size);

/* The whole of it for a chat body: the messages rendered (tools applied),
 * the prompt set into r, then srv_tools_setup. -1 with err (a 400). */
struct request_ctx;
int srv_chat_prompt(struct server *s, const json_t *body, struct completion_req *r, const struct request_ctx *c,
                    char *err, size_t err_size);

#endif
