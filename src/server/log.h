/*
 * log.h - the server's log lines on stdout, as JSON objects or plain text
 * (--log-format, --log-jsonl), with full request and response bodies under
 * --verbose, or nothing at all (--log-disable). Each line has a level
 * (1 error, 2 warning, 3 info); lines above the -lv threshold are dropped.
 * --log-file copies every line to a file; the text format can show the
 * time (--log-timestamps), drop the level (--no-log-prefix) and color it
 * (--log-colors).
 *
 * Threads: log_init and log_configure at start-up, before other threads;
 * the rest from any thread (one lock per line).
 */
#ifndef CLLM_SERVER_LOG_H
#define CLLM_SERVER_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "server/server_params.h"

enum log_level { LOG_LEVEL_ERROR = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_INFO = 3 };

void log_init(enum log_format format, bool verbose, bool disable);
/* The rest of p's logging options (-lv, --log-file, --log-timestamps,
 * --no-log-prefix, --log-colors). Returns 0, or -1 with a message (the log
 * file cannot be opened). */
int log_configure(const struct server_params *p, char *err, size_t err_size);
/* Close the log file. */
void log_close(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_request_end(const char *method, const char *path, int status, const char *req_body, size_t req_len,
                     const char *rep_body, size_t rep_len);

#endif
