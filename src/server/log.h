/*
 * log.h - the server's log lines on stdout, as JSON objects or plain text
 * (--log-format), with full request and response bodies under --verbose,
 * or nothing at all (--log-disable).
 */
#ifndef CLLM_SERVER_LOG_H
#define CLLM_SERVER_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "server/server_params.h"

void log_init(enum log_format format, bool verbose, bool disable);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_request_end(const char *method, const char *path, int status, const char *req_body, size_t req_len,
                     const char *rep_body, size_t rep_len);

#endif
