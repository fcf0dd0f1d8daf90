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
 * The KV cache and each sequence's tokens belong to the engine (engine_seq_*):
 * slot i is engine sequence i, the system prompt sequence n_slots.
 *
 * After each decode the slots with logits are sampled in parallel, by the
 * loop thread and helper threads made at sched_create (one fewer than the
 * engine's threads); each slot's sampler is its own, so the tokens are
 * those of sampling one slot after another, and each task's events keep
 * their order.
 *
 * Speculative decoding (sched_params.spec_type): a generating slot looks
 * up the n-gram its history ends with earlier in that history (its prompt
 * and what it generated: prompt lookup), and the tokens that followed it
 * there go into the batch after its next token as a draft, each with
 * logits. The task's own sampler then chooses token after token from those
 * logits while it keeps choosing the drafted token; the rest of the draft
 * is dropped from the sequence (engine_seq_keep). For a draft of single
 * tokens this is exactly rejection sampling (see scheduler.c), so the
 * output has the distribution of plain decoding, at any temperature; more,
 * it is the same tokens, greedy or seeded (the engine is batch invariant).
 * Drafts need room in the engine's outputs: make the engine with
 * n_outputs_max >= n_slots * (1 + draft_max) (it is capped by n_batch);
 * fewer outputs make shorter drafts.
 *
 * The loop runs on its own thread and posts each task's events (token ids,
 * probabilities, final text pieces, the result) to the task's queue
 * (events.h); the consumer formats them on its own thread. It knows nothing
 * of HTTP or JSON.
 *
 * Threads: sched_submit, sched_visit_slots and sched_get_stats may be called
 * from any thread; one lock guards the task queue and the slots' published
 * view, held only for short copies. The sampling helpers touch only the
 * slots handed to them in a step, and the loop waits for them before it
 * reads those slots again.
 */
#ifndef CLLM_SERVE_SCHEDULER_H
#define CLLM_SERVE_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "sample/sampler.h"
#include "serve/events.h"
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

struct sched_task {
    enum sched_task_kind kind;
    int32_t id_slot;        /* -1: any */
    /* completions */
    int32_t *prompt;        /* owned; malloc'd */
    size_t n_prompt;
    int32_t n_predict;      /* -1: until end or context */
    int32_t t_max_predict_ms; /* > 0: once a newline has come out, stop when generating took longer */
    int32_t n_keep;         /* -1: the whole prompt */
    bool cache_prompt;
    bool prompt_must_fit;   /* a prompt longer than the slot is an error (400), not truncated */
    char **stop;            /* owned strings */
    size_t n_stop;
    int32_t n_probs;
    bool progress;          /* post SCHED_EV_PROGRESS events while the prompt is evaluated */
    int64_t follow;         /* -1, or the id of a task with the same prompt to borrow it from
                               once evaluated (several choices of one request) */
    enum sched_pooling pooling; /* embeddings */
    struct sampler *sampler; /* owned */
    /* slot operations: the file (already checked to be inside the save dir) */
    char *path;
    /* where this task's events go: the task holds a reference (taken by
     * sched_task_set_events or by the submitter), dropped after its final
     * event (or when the task is freed) */
    struct sched_events *events;
    int32_t index;          /* copied into each event */
    /* opaque text /slots shows for the running task; owned, may be NULL */
    char *info;
    /* set by the scheduler */
    int64_t id;
    double t_queued;
    struct sched_task *next;
};

/* A new task with everything zero and id_slot, n_predict, follow = -1. */
struct sched_task *sched_task_new(enum sched_task_kind kind);
/* Send the task's events to q (takes a reference; drops the one held before). */
void sched_task_set_events(struct sched_task *t, struct sched_events *q);
/* Free a task that was never submitted (and drop its queue reference). */
void sched_task_free(struct sched_task *t);

enum sched_spec_type {
    SCHED_SPEC_NONE,  /* plain decoding */
    SCHED_SPEC_NGRAM, /* prompt lookup (llama-server's --spec-type ngram-simple) */
};

struct sched_params {
    int32_t n_slots;   /* -np */
    int32_t n_ctx;     /* -c: split evenly between the slots */
    int32_t n_predict; /* server limit (-1: none) */
    int32_t n_batch;   /* most tokens in one decode call (the engine's n_batch) */
    bool no_context_shift; /* --no-context-shift: a full slot ends its generation (stopped_limit,
                              truncated) and a prompt longer than the slot is an error */
    /* Speculative decoding (all zero: off). Each slot's draft length
     * adapts, within draft_min..draft_max, to how much of its drafts was
     * taken (see scheduler.c). */
    enum sched_spec_type spec_type;
    int32_t draft_max;   /* most tokens drafted per slot and step (0: 16) */
    int32_t draft_min;   /* a shorter draft is not evaluated (0: any) */
    float draft_p_min;   /* 0..1; for a draft model: n-gram drafts carry no probability,
                            so prompt lookup ignores it */
    int32_t ngram_n;     /* the longest n-gram looked up (0: 12) */
    int32_t ngram_n_min; /* the shortest (0: 3; at most ngram_n) */
    /* Helper threads that sample slots beside the loop thread after each
     * decode: 0 (auto) takes only cores the engine's threads leave free
     * (on a 2-core machine with 2 engine threads, none: measured, a helper
     * there costs throughput), at most engine threads - 1; N > 0: N. */
    int32_t n_sample_threads;
    /* llama-server's slot and cache options (0/false: off) */
    float slot_prompt_similarity; /* -sps: an idle slot is chosen for its cached tokens only when the
                                     common prefix is more than this part of the prompt, else the least
                                     recently used (0: any common prefix; < 0: always the least
                                     recently used) */
    int32_t cache_reuse;  /* --cache-reuse: after the common prefix, cached chunks of at least this many
                             tokens that the prompt repeats are kept, moved down (engine_seq_discard) */
    bool special;         /* -sp: control tokens' text is part of the generated text */
};

struct sched;

/* Takes an engine made with n_seq_max >= n_slots + 1 (the extra sequence
 * holds the system prompt) and n_outputs_max >= n_slots; both stay the
 * caller's. Starts the loop thread. */
struct sched *sched_create(struct engine *e, const struct vocab *v, const struct sched_params *p,
                           char *err, size_t err_size);
/* Stop the loop: tasks still queued or running get SCHED_EV_ERROR (503). */
void sched_free(struct sched *s);

/* Queue a task (the scheduler owns it from now on). Returns its id, or -1
 * when it was refused at once (shutting down: 503; id_slot out of range:
 * 400; the error event is already in its queue). */
int64_t sched_submit(struct sched *s, struct sched_task *t);

int32_t sched_n_slots(const struct sched *s);
int32_t sched_slot_ctx(const struct sched *s);

/* A look at one slot, for /slots, /health and /props. */
struct sched_slot_info {
    int32_t id;
    bool processing;
    int64_t task_id;
    const char *info;     /* the task's info (NULL when idle) */
    int32_t n_ctx;
    int32_t n_past;       /* tokens in the slot's cache */
    int32_t kv_pages;     /* KV pages its sequence holds (all layer groups; shared ones too) */
    int32_t n_decoded;
    int32_t n_remain;     /* -1: unlimited */
    bool has_next_token;
    bool stopped_eos, stopped_limit, stopped_word;
    const char *stopping_word;
};
/* Call fn for every slot, under the scheduler's lock (keep fn short; the
 * pointers are valid only during the call). What fn sees is the slots as
 * the loop last published them (once per step, before each decode). */
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
    double t_sched_ms;           /* loop time outside engine_decode in steps that decoded
                                    (divide by n_decode_calls: overhead per step) */
    uint64_t n_drafted;          /* speculative decoding: tokens drafted and evaluated */
    uint64_t n_draft_accepted;   /* of which the target's sampler chose too */
    uint64_t n_decode_failed;    /* decode calls refused (e.g. the KV cache full): their slots got an error */
    struct engine_memory mem;    /* weights, scratch and KV pages, as last published */
};
void sched_get_stats(struct sched *s, struct sched_stats *st);

#endif
