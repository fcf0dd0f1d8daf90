/*
 * scheduler.h - the slots and the loop that drives the engine.
 *
 * Requests become tasks. A task waits in a queue until a slot is free (the
 * one it asks for, or the idle slot whose cached tokens share the longest
 * prefix with its prompt). Every loop iteration builds ONE engine batch from
 * every active slot: one token for each slot that is generating and the next
 * chunk of each prompt being evaluated, so a new request starts at the next
 * iteration without waiting for the others (continuous batching).
 *
 * Each slot keeps the tokens of its sequence in the KV cache after a task
 * ends; the next task reuses the longest common prefix (cache_prompt). When
 * a slot's context is full, the tokens after n_keep are halved (context
 * shift) and the result says `truncated`.
 *
 * The loop runs on its own thread and reports to each task through its
 * callbacks, from that thread. It knows nothing of HTTP or JSON.
 */
#ifndef CLLM_SERVE_SCHEDULER_H
#define CLLM_SERVE_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "sample/sampler.h"
#include "tokenizer/vocab.h"

enum sched_task_kind {
    SCHED_COMPLETION,
    SCHED_SLOT_SAVE,
    SCHED_SLOT_RESTORE,
    SCHED_SLOT_ERASE,
    SCHED_SYSTEM_PROMPT, /* replace the prompt prefix shared by all slots */
    SCHED_EMBED,         /* the prompt's embedding (pooled final hidden states) */
};

enum sched_pooling { POOL_NONE, POOL_MEAN, POOL_CLS, POOL_LAST };

struct sched_token_prob {
    int32_t token;
    float prob;
};

/* The outcome of a task, passed with SCHED_EV_DONE. */
struct sched_result {
    int32_t id_slot;
    /* completions */
    int32_t n_prompt;    /* prompt tokens (after truncation) */
    int32_t n_cached;    /* of which reused from the slot's cache */
    int32_t n_evaluated; /* of which evaluated now */
    int32_t n_decoded;   /* tokens generated */
    bool stopped_eos, stopped_limit, stopped_word, truncated;
    const char *stopping_word; /* "" unless stopped_word */
    double prompt_ms, predicted_ms;
    /* embeddings: n_rows x n_embd floats (n_rows = 1 unless pooling is none) */
    const float *embd;
    int32_t n_embd, n_rows;
    /* slot save / restore / erase */
    int32_t n_tokens;   /* saved, restored or erased */
    uint64_t n_bytes;   /* written or read */
    double op_ms;
};

enum sched_event_kind { SCHED_EV_TOKEN, SCHED_EV_DONE, SCHED_EV_ERROR };

struct sched_event {
    enum sched_event_kind kind;
    /* TOKEN: text that is now final (may be empty while held back for a
     * possible stop word or an unfinished UTF-8 character); DONE: the last
     * of the text (the held-back part that was not a stop word). */
    const char *text;
    size_t len;
    int32_t token; /* TOKEN */
    const struct sched_token_prob *probs; /* TOKEN with n_probs > 0 */
    int32_t n_probs;
    float token_prob;  /* TOKEN with n_probs > 0: the chosen token's probability (from
                          probs when it is there, else a softmax of the raw logits) */
    const struct sched_result *result; /* DONE */
    const char *error;                 /* ERROR */
    int error_code;                    /* ERROR: an HTTP-like status (400, 404, 500, 503) */
};

struct sched_task {
    enum sched_task_kind kind;
    int32_t id_slot;        /* -1: any */
    /* completions */
    int32_t *prompt;        /* owned; malloc'd */
    size_t n_prompt;
    int32_t n_predict;      /* -1: until end or context */
    int32_t n_keep;         /* -1: the whole prompt */
    bool cache_prompt;
    char **stop;            /* owned strings */
    size_t n_stop;
    int32_t n_probs;
    int64_t follow;         /* -1, or the id of a task with the same prompt to borrow it from
                               once evaluated (several choices of one request) */
    enum sched_pooling pooling; /* embeddings */
    struct sampler *sampler; /* owned */
    /* slot operations: the file (already checked to be inside the save dir) */
    char *path;
    /* Callbacks, from the scheduler thread. release is called exactly once,
     * after the last event; then the task is freed. */
    void (*on_event)(void *ud, const struct sched_event *ev);
    bool (*is_cancelled)(void *ud);
    void (*release)(void *ud);
    void *ud;
    /* Opaque to the scheduler: what /slots shows for the slot's task. */
    const void *info;
    /* set by the scheduler */
    int64_t id;
    double t_queued;
    struct sched_task *next;
};

/* A new task with everything zero and id_slot, n_predict, n_keep = -1. */
struct sched_task *sched_task_new(enum sched_task_kind kind);
/* Free a task that was never submitted. */
void sched_task_free(struct sched_task *t);

struct sched_params {
    int32_t n_slots;   /* -np */
    int32_t n_ctx;     /* -c: split evenly between the slots */
    int32_t n_predict; /* server limit (-1: none) */
    int32_t n_batch;   /* most tokens in one decode call (the engine's n_batch) */
};

struct sched;

/* Takes an engine made with n_seq_max >= n_slots + 1 (the extra sequence
 * holds the system prompt) and n_outputs_max >= n_slots; both stay the
 * caller's. Starts the loop thread. */
struct sched *sched_create(struct engine *e, const struct vocab *v, const struct sched_params *p,
                           char *err, size_t err_size);
/* Stop the loop: tasks still queued or running get SCHED_EV_ERROR (503). */
void sched_free(struct sched *s);

/* Queue a task (the scheduler owns it from now on). Returns its id. */
int64_t sched_submit(struct sched *s, struct sched_task *t);

int32_t sched_n_slots(const struct sched *s);
int32_t sched_slot_ctx(const struct sched *s);

/* A look at one slot, for /slots, /health and /props. */
struct sched_slot_info {
    int32_t id;
    bool processing;
    int64_t task_id;
    const void *info;     /* the task's info (NULL when idle) */
    int32_t n_ctx;
    int32_t n_past;       /* tokens in the slot's cache */
    int32_t n_decoded;
    int32_t n_remain;     /* -1: unlimited */
    bool has_next_token;
    bool stopped_eos, stopped_limit, stopped_word;
    const char *stopping_word;
};
/* Call fn for every slot, under the scheduler's lock (keep fn short; the
 * pointers are valid only during the call). */
void sched_visit_slots(struct sched *s, void (*fn)(void *ud, const struct sched_slot_info *si),
                       void *ud);

struct sched_stats {
    uint64_t n_prompt_tokens;    /* evaluated, since start */
    uint64_t n_predicted_tokens;
    double t_prompt_ms;          /* time spent evaluating prompts */
    double t_predicted_ms;       /* time spent generating */
    uint64_t n_decode_calls;
    uint64_t n_busy_slots;       /* summed over decode calls */
    int32_t kv_tokens;           /* positions in use */
    int32_t kv_size;             /* positions in all */
    int32_t n_processing;        /* slots busy */
    int32_t n_deferred;          /* tasks waiting for a slot */
    int32_t n_idle;
};
void sched_get_stats(struct sched *s, struct sched_stats *st);

#endif
