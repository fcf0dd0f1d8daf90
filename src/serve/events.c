/*
 * events.c - the per-request event queue (see events.h): a linked FIFO
 * under one mutex, a reference count, and a cancelled flag read without
 * the mutex.
 */
#include "serve/events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct sched_events {
    pthread_mutex_t mu;
    atomic_int refs;
    atomic_bool cancelled;
    struct sched_event *head, *tail;
    void (*notify)(void *ud);
    void *ud;
};

void sched_event_free(struct sched_event *ev)
{
    if (!ev)
        return;
    free(ev->probs);
    free(ev->text);
    free(ev->result.stopping_word);
    free(ev->result.embd);
    free(ev->error);
    free(ev);
}

struct sched_events *sched_events_new(void (*notify)(void *ud), void *ud)
{
    struct sched_events *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    atomic_init(&q->refs, 1);
    atomic_init(&q->cancelled, false);
    q->notify = notify;
    q->ud = ud;
    return q;
}

struct sched_events *sched_events_ref(struct sched_events *q)
{
    if (q)
        atomic_fetch_add(&q->refs, 1);
    return q;
}

void sched_events_unref(struct sched_events *q)
{
    if (!q || atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    while (q->head) {
        struct sched_event *ev = q->head;
        q->head = ev->next;
        sched_event_free(ev);
    }
    pthread_mutex_destroy(&q->mu);
    free(q);
}

struct sched_event *sched_events_pop(struct sched_events *q)
{
    pthread_mutex_lock(&q->mu);
    struct sched_event *ev = q->head;
    if (ev) {
        q->head = ev->next;
        if (!q->head)
            q->tail = NULL;
        ev->next = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return ev;
}

/* Under the mutex: once this returns, no push calls notify again (the
 * consumer may free notify's ud right after). */
void sched_events_cancel(struct sched_events *q)
{
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->cancelled, true);
    pthread_mutex_unlock(&q->mu);
}

bool sched_events_cancelled(const struct sched_events *q)
{
    return atomic_load(&((struct sched_events *)q)->cancelled);
}

void sched_events_push(struct sched_events *q, struct sched_event *ev)
{
    ev->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (atomic_load(&q->cancelled)) { /* checked under the mutex: see sched_events_cancel */
        pthread_mutex_unlock(&q->mu);
        sched_event_free(ev);
        return;
    }
    if (q->tail)
        q->tail->next = ev;
    else
        q->head = ev;
    q->tail = ev;
    if (q->notify)
        q->notify(q->ud);
    pthread_mutex_unlock(&q->mu);
}
