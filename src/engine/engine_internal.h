/*
 * engine_internal.h - what the engine's own files (seq_state.c) and its
 * unit tests reach inside an engine for: the KV cache and a sequence's
 * token record. Not for callers above the engine: they use engine_seq_*.
 *
 * Threads: as engine.h (one thread at a time).
 */
#ifndef CLLM_ENGINE_ENGINE_INTERNAL_H
#define CLLM_ENGINE_ENGINE_INTERNAL_H

#include <stdint.h>

#include "engine/engine.h"
#include "engine/kv_cache.h"

struct kv_cache *engine_cache(struct engine *e);
/* Room for n tokens in seq's record (the cache's length is the record's).
 * Returns the record (n entries writable), or NULL out of memory / bad id. */
int32_t *engine_seq_reserve(struct engine *e, int32_t seq, int32_t n);

#endif
