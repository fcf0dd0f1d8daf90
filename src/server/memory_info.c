/*
 * memory_info.c - the memory report (see memory_info.h): what the server
 * reserved at start and what its KV cache holds now.
 */
#include "server/memory_info.h"

#include <stdio.h>

#include "server/log.h"

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

void srv_log_memory(const struct engine *e)
{
    struct engine_memory m;
    engine_memory(e, &m);
    char kinds[256] = "";
    size_t at = 0;
    for (int32_t g = 0; g < m.n_groups && at < sizeof kinds; g++) {
        const struct engine_kv_group *k = &m.kv[g];
        int w = snprintf(kinds + at, sizeof kinds - at, "%s%d %s layers: %d pages of %.2f MiB (%zu bytes per "
                         "token and layer)", g ? "; " : "", k->n_layer,
                         k->window == 0 ? "full-context" : k->windowed ? "sliding-window" : "sliding-window (--swa-full)",
                         k->pages_total, mib(k->page_bytes), k->token_layer_bytes);
        at += w > 0 ? (size_t)w : 0;
    }
    log_info("memory: weights %.1f MiB, scratch %.1f MiB reserved, KV cache at most %.1f MiB (touched as tokens "
             "are cached, %d positions per page): %s",
             mib(m.weights_bytes), mib(m.scratch_bytes), mib(m.kv_bytes_max), m.page_size, kinds);
}

static void gauge(struct sbuf *b, const char *name, const char *help, double v)
{
    sbuf_printf(b, "# HELP cllm:%s %s\n# TYPE cllm:%s gauge\ncllm:%s %.17g\n", name, help, name, name, v);
}

void srv_metrics_memory(struct sbuf *b, const struct sched_stats *st)
{
    const struct engine_memory *m = &st->mem;
    gauge(b, "weights_bytes", "Bytes of the model's weights.", (double)m->weights_bytes);
    gauge(b, "scratch_bytes", "Bytes reserved for activations, logits and attention scratch.",
          (double)m->scratch_bytes);
    gauge(b, "kv_bytes_max", "Bytes the KV cache may take at most (its pools' bound).", (double)m->kv_bytes_max);
    gauge(b, "kv_bytes_used", "Bytes of KV pages held by sequences.", (double)m->kv_bytes_used);
    gauge(b, "kv_bytes_resident", "Bytes of KV pages in memory (held, or free and kept for reuse).",
          (double)m->kv_bytes_resident);
    gauge(b, "kv_pages_used", "KV pages held by sequences (all layer kinds).", (double)m->pages_used);
    gauge(b, "kv_pages_shared", "KV pages held by more than one sequence.", (double)m->pages_shared);
    gauge(b, "kv_pages_free", "KV pages free.", (double)m->pages_free);
    gauge(b, "kv_page_tokens", "Positions per KV page.", (double)m->page_size);
    for (int32_t g = 0; g < m->n_groups && g < 2; g++) {
        const struct engine_kv_group *k = &m->kv[g];
        const char *kind = k->window == 0 ? "full" : "swa";
        char name[64], help[160];
        snprintf(name, sizeof name, "kv_%s_pages_used", kind);
        snprintf(help, sizeof help, "KV pages held, %s layers.", kind);
        gauge(b, name, help, (double)k->pages_used);
        snprintf(name, sizeof name, "kv_%s_pages_total", kind);
        snprintf(help, sizeof help, "KV pages at most, %s layers.", kind);
        gauge(b, name, help, (double)k->pages_total);
        snprintf(name, sizeof name, "kv_%s_bytes_per_token", kind);
        snprintf(help, sizeof help, "KV bytes per token and layer, %s layers (%d layers).", kind, k->n_layer);
        gauge(b, name, help, (double)k->token_layer_bytes);
    }
    sbuf_printf(b, "# HELP cllm:decode_failed_total Decode calls refused (e.g. the KV cache full); their requests "
                "got an error.\n# TYPE cllm:decode_failed_total counter\ncllm:decode_failed_total %llu\n",
                (unsigned long long)st->n_decode_failed);
}
