/*
 * chat.h - the server's chat template: chosen at start-up (--chat-template
 * NAME, the model's own template with --jinja, or the built-in template the
 * model's one is recognised as; ChatML when the model has none), then used to
 * turn an OpenAI messages array into a prompt.
 */
#ifndef CLLM_SERVER_CHAT_H
#define CLLM_SERVER_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct server;

int srv_chat_init(struct server *s, char *err, size_t err_size);
void srv_chat_free(struct server *s);
/* The prompt for a request body's messages (with its tools and
 * chat_template_kwargs; malloc'd), or NULL with a message in err. */
char *srv_chat_format(struct server *s, const json_t *body, bool add_generation_prompt, char *err,
                  size_t err_size);
/* llama-server's checks of a body's message list (a 400 with its message
 * when they fail): run on the messages as sent, before tools rewrite them. */
int srv_chat_check(const struct server *s, const json_t *body, char *err, size_t err_size);
/* The template's name ("jinja" for the model's own). */
const char *srv_chat_name(const struct server *s);
/* /props chat_template_caps (llama-server's names; what the template's
 * text refers to). A new object. */
json_t *srv_chat_caps(const struct server *s);

#endif
