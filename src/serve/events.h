/*
 * events.h - what the scheduler reports to a request: a thread-safe,
 * reference-counted FIFO of raw events (token ids, probabilities, final
 * text pieces, the result), one queue per request, shared by its tasks
 * (choices). The scheduler thread pushes; the consumer (the HTTP side)
 * pops and formats on its own thread. Nothing here knows JSON or HTTP.
 *
 * Ownership: sched_events_new returns a queue with one reference (the
 * consumer's); each task holding the queue owns another. An event popped
 * belongs to the caller (sched_event_free).
 *
 * Threads: every sched_events_* call may come from any thread. notify(ud)
 * is called after each push, from the pushing thread, WITH THE QUEUE'S
 * MUTEX HELD (so the consumer cannot take the last event and free ud while
 * notify runs): notify must be quick and must not call sched_events_* or
 * the scheduler. The consumer must not hold a lock that notify takes while
 * it calls sched_events_*.
 */
#ifndef CLLM_SERVE_EVENTS_H
#define CLLM_SERVE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PROGRESS: a completion's prompt evaluation so far, posted when the prompt
 * starts (processed = cache) and after each batch of it is decoded
 * (llama-server's prompt_progress; the consumer may drop them). */
enum sched_event_kind { SCHED_EV_TOKEN, SCHED_EV_DONE, SCHED_EV_ERROR, SCHED_EV_PROGRESS };

/* A PROGRESS event's numbers (llama-server's prompt_progress fields). */
struct sched_progress {
    int32_t id_slot;
    int32_t total;     /* prompt tokens (after truncation) */
    int32_t cache;     /* of which reused from the cache */
    int32_t processed; /* in the slot's sequence now (cache included) */
    double time_ms;    /* since the prompt's evaluation started */
};

struct sched_token_prob {
    int32_t token;
    float prob;
};

/* The outcome of a task, in its SCHED_EV_DONE event. */
struct sched_result {
    int32_t id_slot;
    /* completions */
    int32_t n_prompt;    /* prompt tokens (after truncation) */
    int32_t n_cached;    /* of which reused from the slot's cache */
    int32_t n_evaluated; /* of which evaluated now */
    int32_t n_decoded;   /* tokens generated */
    bool stopped_eos, stopped_limit, stopped_word, truncated;
    char *stopping_word; /* "" unless stopped_word; owned by the event */
    double prompt_ms, predicted_ms;
    /* embeddings: n_rows x n_embd floats (n_rows = 1 unless pooling is none);
     * owned by the event */
    float *embd;
    int32_t n_embd, n_rows;
    /* slot save / restore / erase; system prompt (n_tokens) */
    int32_t n_tokens;   /* saved, restored, erased or set */
    uint64_t n_bytes;   /* written or read */
    double op_ms;
};

struct sched_event {                 /* owned by whoever popped it: sched_event_free() */
    enum sched_event_kind kind;
    int32_t index;                   /* the task's index (choice number within its request) */
    /* TOKEN */
    int32_t token;
    float token_prob;                /* chosen token's probability when n_probs > 0, else -1 */
    int32_t n_probs;
    struct sched_token_prob *probs;  /* n_probs entries, owned */
    /* TOKEN and DONE: text that is now final (TOKEN: may be empty while held
     * back for a stop word / unfinished UTF-8; DONE: the held-back rest) */
    char *text;                      /* owned, NUL-terminated (never NULL) */
    size_t len;
    /* DONE */
    struct sched_result result;
    /* PROGRESS */
    struct sched_progress progress;
    /* ERROR */
    int error_code;                  /* HTTP-like: 400, 404, 500, 503 */
    char *error;                     /* owned message */
    struct sched_event *next;        /* the queue's link */
};
void sched_event_free(struct sched_event *ev);

struct sched_events;

/* A queue with one reference (the consumer's); NULL out of memory. notify
 * may be NULL. */
struct sched_events *sched_events_new(void (*notify)(void *ud), void *ud);
struct sched_events *sched_events_ref(struct sched_events *q);
/* Drop a reference: frees the queue (and any events left) at zero. */
void sched_events_unref(struct sched_events *q);
/* The oldest event (the caller's now), or NULL when empty. */
struct sched_event *sched_events_pop(struct sched_events *q);
/* The consumer no longer wants the events (client gone, or another choice
 * failed): the scheduler drops the request's tasks at its next step (queued
 * or running) and posts nothing more for them (a running slot keeps its
 * cache). Events pushed after this are freed at once, and once it returns
 * notify is never called again (so the consumer may free notify's ud). */
void sched_events_cancel(struct sched_events *q);
bool sched_events_cancelled(const struct sched_events *q);

/* For the scheduler: append ev (the queue takes it; freed at once if the
 * queue was cancelled), then call notify. */
void sched_events_push(struct sched_events *q, struct sched_event *ev);

#endif
