/*
 * server_internal.h - what the route files share: the server's state, the
 * JSON reply helpers and the route entry points.
 */
#ifndef CLLM_SERVER_SERVER_INTERNAL_H
#define CLLM_SERVER_SERVER_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "chat/tool_call.h"
#include "engine/engine.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "server/http.h"
#include "serve/scheduler.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

enum server_state { SERVER_LOADING, SERVER_READY, SERVER_FAILED };

struct server {
    const struct server_params *p;
    struct http_server *http;
    atomic_int state;
    struct model *model;
    struct vocab *vocab;
    struct engine *engine;
    struct sampler_vocab *sv;
    struct sched *sched;
    const char *model_name;  /* alias, or the model path */
    int32_t n_ctx_slot;
    /* from --system-prompt-file or the system_prompt field */
    char *sys_prompt, *sys_anti_prompt, *sys_assistant_name;
    pthread_mutex_t sys_lock;
    void *chat; /* chat.c's template */
    /* --sleep-idle-seconds (server.c): idle that long, the weights are released */
    atomic_bool sleeping;
    atomic_llong t_active_ms; /* clock_ms() of the last work */
    atomic_bool sleeper_stop;
    pthread_t sleeper;
    bool sleeper_started;
    enum chat_tool_format tool_format; /* the tool-call format the template teaches (chat.c) */
    bool template_thinks;              /* the template writes thoughts (<think> or its format's own) */
    bool object_arguments;             /* the template wants the history's call arguments as objects */
};

/* ---- replies (json_util.c) ---- */

/* Send obj (reference taken) with status. */
void srv_reply_json(struct http_reply *rep, int status, json_t *obj);
/* The OpenAI error shape {"error":{"code","message","type"}}; the type
 * follows from the status. */
void srv_reply_error(struct http_reply *rep, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *srv_error_body(int status, const char *message, size_t *len);
const char *srv_error_type(int status);
/* A JSON string of bytes that may not be valid UTF-8 (bad bytes become
 * U+FFFD). Never NULL unless out of memory. */
json_t *srv_json_text(const char *s, size_t n);
/* Dump compactly (length in *len when not NULL); NULL when out of memory. */
char *srv_json_dump(const json_t *obj, size_t *len);
/* Dump compactly at the end of b; -1 when out of memory. */
struct sbuf;
int srv_json_append(struct sbuf *b, const json_t *obj);

/* ---- routes ---- */
void route_health(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_props(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_props_post(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_slots(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_metrics(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_tokenize(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_detokenize(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_completion(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_infill(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_slot_action(struct server *s, const struct http_request *req, struct http_reply *rep,
                       const char *id);
void route_models(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_oai_completions(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_chat_completions(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_embedding(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_oai_embeddings(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_apply_template(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_openapi(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_messages(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_messages_count_tokens(struct server *s, const struct http_request *req, struct http_reply *rep);
void route_responses(struct server *s, const struct http_request *req, struct http_reply *rep);

/* ---- shared by routes ---- */
/* Parse the body as a JSON object; on failure fills rep with a 400 and
 * returns NULL. */
json_t *srv_parse_body(const struct http_request *req, struct http_reply *rep);
struct request_ctx;
/* What reading a request needs from the server (request.h), now. */
void srv_request_ctx(struct server *s, struct request_ctx *c);
/* The default /completion settings, as generation_settings shows them. */
json_t *srv_default_settings(struct server *s);
/* The request defaults from the command line (--temp, --grammar...) read
 * once at start-up; -1 with a message naming the option's field. */
int srv_check_defaults(struct server *s, char *err, size_t err_size);
/* Slot list for /slots and /health?include_slots. */
json_t *srv_slots_json(struct server *s);
/* Set the system prompt for all slots (from a JSON object with prompt,
 * anti_prompt, assistant_name). Returns 0, or -1 with a message. */
int srv_set_system_prompt(struct server *s, const json_t *sp, char *err, size_t err_size);

#endif
