/*
 * memory_info.h - the server's memory report: weights, scratch and KV pool
 * logged at start, and the live KV page counts for /metrics.
 *
 * Threads: srv_log_memory on the thread that made the engine, before the
 * scheduler runs; srv_metrics_memory on any thread (it reads a published
 * copy of the counters).
 */
#ifndef CLLM_SERVER_MEMORY_INFO_H
#define CLLM_SERVER_MEMORY_INFO_H

#include "base/sbuf.h"
#include "engine/engine.h"
#include "serve/scheduler.h"

/* One log line (stderr): weights, KV pool bound per layer kind, scratch. */
void srv_log_memory(const struct engine *e);
/* The cllm:* memory and KV page metrics of st (Prometheus text). */
void srv_metrics_memory(struct sbuf *b, const struct sched_stats *st);

#endif
