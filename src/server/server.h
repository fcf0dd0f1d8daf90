/*
 * server.h - cllm-server as a whole: the model, engine and scheduler behind
 * the HTTP routes. The HTTP port opens first (so /health can say "loading
 * model"), then the model loads.
 */
#ifndef CLLM_SERVER_SERVER_H
#define CLLM_SERVER_SERVER_H

#include <stddef.h>

#include "server/server_params.h"

struct server;

/* Open the port. NULL with a message in err. p must outlive the server. */
struct server *server_start(const struct server_params *p, char *err, size_t err_size);
/* Load the model and start the slots. Returns 0, or -1 with a message
 * (the server then answers /health with "error"). */
int server_load(struct server *s, char *err, size_t err_size);
int server_port(const struct server *s);
void server_stop(struct server *s);

#endif
