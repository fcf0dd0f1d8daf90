/*
 * threadpool.c - the persistent worker pool (see threadpool.h).
 *
 * Hand-off protocol, all through C11 atomics (so it is visible to TSan; the
 * futex calls are only for sleeping and never carry ordering):
 *   - `ticket` packs a run counter and the run's thread count (low bits). The
 *     caller writes the job (fn, arg), sets `pending` to the number of
 *     participating workers, then bumps `ticket`; workers waiting for a new
 *     ticket see it, run fn if their index is below nth, and decrement
 *     `pending`. A worker outside nth never reads the job fields, so the
 *     caller need not wait for it.
 *   - Sleeping uses the Dekker pattern with seq_cst atomics: a sleeper
 *     announces itself (n_sleepers / caller_waiting) and re-checks the word
 *     before FUTEX_WAIT; the waker changes the word and then checks for
 *     sleepers. One of the two always sees the other.
 */
#include "tensor/threadpool.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#define NTH_BITS 10
#define NTH_MASK ((1u << NTH_BITS) - 1)
#define MAX_THREADS ((int)NTH_MASK)
#define DEFAULT_SPIN_US 100

struct worker {
    struct thread_pool *pool;
    int ith;
};

struct thread_pool {
    int n_threads;
    pthread_t *threads;     /* n_threads - 1 workers */
    struct worker *workers;
    int n_started;

    /* The job of the current run; written by the caller before `ticket`. */
    thread_task_fn fn;
    void *arg;

    alignas(64) atomic_uint ticket;    /* run counter << NTH_BITS | nth */
    alignas(64) atomic_int n_sleepers; /* workers in (or entering) FUTEX_WAIT */
    alignas(64) atomic_uint pending;   /* workers of this run not yet done */
    atomic_int caller_waiting;
    atomic_int busy;                   /* a run is in progress */
    atomic_int stop;
    atomic_int spin_us;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Called now and then while spinning: lets a thread that shares our CPU
 * (a busy machine, more threads than cores) run, and says whether the spin
 * time is up. */
static bool spin_check(double deadline)
{
    sched_yield();
    return clock_ms() > deadline;
}

/* Sleep while *word == expected (may return early or spuriously). */
static void word_wait(atomic_uint *word, unsigned expected)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
    (void)word;
    (void)expected;
    struct timespec ts = { 0, 50000 };
    nanosleep(&ts, NULL);
#endif
}

static void word_wake(atomic_uint *word, int n)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
#else
    (void)word;
    (void)n;
#endif
}

/* Spin up to spin_us for *word to differ from `old`; returns the new value or
 * `old` if it did not change in time. */
static unsigned spin_until_changed(atomic_uint *word, unsigned old, int spin_us)
{
    if (spin_us <= 0)
        return old;
    double deadline = clock_ms() + spin_us / 1e3;
    for (unsigned i = 1;; i++) {
        unsigned v = atomic_load_explicit(word, memory_order_acquire);
        if (v != old)
            return v;
        cpu_relax();
        if ((i & 63) == 0 && spin_check(deadline))
            return old;
    }
}

static unsigned wait_new_ticket(struct thread_pool *pool, unsigned seen)
{
    int spin = atomic_load_explicit(&pool->spin_us, memory_order_relaxed);
    unsigned t = spin_until_changed(&pool->ticket, seen, spin);
    while (t == seen) {
        atomic_fetch_add(&pool->n_sleepers, 1);
        if (atomic_load(&pool->ticket) == seen)
            word_wait(&pool->ticket, seen);
        atomic_fetch_sub(&pool->n_sleepers, 1);
        t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
    }
    return t;
}

static void worker_done(struct thread_pool *pool)
{
    if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_waiting))
        word_wake(&pool->pending, 1);
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct thread_pool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_new_ticket(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        int nth = (int)(seen & NTH_MASK);
        if (w->ith >= nth)
            continue;
        pool->fn(pool->arg, w->ith, nth);
        worker_done(pool);
    }
    return NULL;
}

static bool spin_until_zero(atomic_uint *word, int spin_us)
{
    double deadline = spin_us > 0 ? clock_ms() + spin_us / 1e3 : 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) == 0)
            return true;
        if (spin_us <= 0)
            return false;
        cpu_relax();
        if ((i & 63) == 0 && spin_check(deadline))
            return false;
    }
}

static void wait_workers(struct thread_pool *pool)
{
    if (spin_until_zero(&pool->pending, atomic_load_explicit(&pool->spin_us, memory_order_relaxed)))
        return;
    atomic_store(&pool->caller_waiting, 1);
    unsigned p;
    while ((p = atomic_load(&pool->pending)) != 0)
        word_wait(&pool->pending, p);
    atomic_store(&pool->caller_waiting, 0);
}

static void stop_workers(struct thread_pool *pool)
{
    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    atomic_fetch_add(&pool->ticket, 1u << NTH_BITS);
    word_wake(&pool->ticket, INT_MAX);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->threads[i], NULL);
}

/* DEFAULT_SPIN_US, or CLLM_SPIN_US from the environment. */
static int default_spin_us(void)
{
    const char *env = getenv("CLLM_SPIN_US");
    if (env == NULL || *env == '\0')
        return DEFAULT_SPIN_US;
    long v = strtol(env, NULL, 10);
    return v < 0 ? 0 : v > 1000000 ? 1000000 : (int)v;
}

struct thread_pool *thread_pool_create(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > MAX_THREADS)
        n_threads = MAX_THREADS;
    struct thread_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->n_threads = n_threads;
    atomic_init(&pool->spin_us, default_spin_us());
    int n_workers = n_threads - 1;
    if (n_workers > 0) {
        pool->threads = calloc((size_t)n_workers, sizeof(*pool->threads));
        pool->workers = calloc((size_t)n_workers, sizeof(*pool->workers));
        if (pool->threads == NULL || pool->workers == NULL)
            goto fail;
    }
    for (int i = 0; i < n_workers; i++) {
        pool->workers[i] = (struct worker){ pool, i + 1 };
        if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->workers[i]) != 0)
            goto fail;
        pool->n_started++;
    }
    return pool;
fail:
    thread_pool_free(pool);
    return NULL;
}

void thread_pool_free(struct thread_pool *pool)
{
    if (pool == NULL)
        return;
    stop_workers(pool);
    free(pool->threads);
    free(pool->workers);
    free(pool);
}

int thread_pool_size(const struct thread_pool *pool)
{
    return pool ? pool->n_threads : 1;
}

void thread_pool_set_spin_us(struct thread_pool *pool, int spin_us)
{
    if (pool)
        atomic_store(&pool->spin_us, spin_us < 0 ? 0 : spin_us);
}

void thread_pool_run_n(struct thread_pool *pool, int nth, thread_task_fn fn, void *arg)
{
    /* One thread alone, or the pool already busy (a run from inside a task,
     * or from a second thread): run inline rather than deadlock. */
    if (pool == NULL || nth <= 1 || pool->n_threads <= 1 ||
        atomic_exchange_explicit(&pool->busy, 1, memory_order_acquire)) {
        fn(arg, 0, 1);
        return;
    }
    if (nth > pool->n_threads)
        nth = pool->n_threads;
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, (unsigned)(nth - 1), memory_order_relaxed);
    unsigned t = atomic_load_explicit(&pool->ticket, memory_order_relaxed);
    unsigned next = ((t >> NTH_BITS) + 1) << NTH_BITS | (unsigned)nth;
    atomic_store(&pool->ticket, next); /* seq_cst: publishes job and pending */
    if (atomic_load(&pool->n_sleepers) > 0)
        word_wake(&pool->ticket, INT_MAX);
    fn(arg, 0, nth);
    wait_workers(pool);
    atomic_store_explicit(&pool->busy, 0, memory_order_release);
}

void thread_pool_run(struct thread_pool *pool, thread_task_fn fn, void *arg)
{
    thread_pool_run_n(pool, thread_pool_size(pool), fn, arg);
}
