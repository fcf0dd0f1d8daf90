/*
 * threadpool.h - a persistent pool of worker threads for the compute ops.
 *
 * The threads are made once (thread_pool_create) and reused for every run.
 * thread_pool_run(pool, fn, arg) calls fn(arg, ith, nth) on nth threads, the
 * caller being thread 0, and returns once every call has returned. Between
 * runs the workers spin for a short while and then sleep on a futex, so a
 * run that follows closely after another costs a few microseconds.
 *
 * A pool is driven by one thread at a time. A run issued while another is
 * in progress (from inside fn, or from a second thread) does not deadlock:
 * it runs fn(arg, 0, 1) inline on the calling thread.
 */
#ifndef CLLM_TENSOR_THREADPOOL_H
#define CLLM_TENSOR_THREADPOOL_H

typedef void (*thread_task_fn)(void *arg, int ith, int nth);

struct thread_pool;

/* A pool of n_threads threads in all (the caller counts as one, so n_threads-1
 * workers are started). n_threads <= 0 means one per online CPU. NULL on
 * failure. */
struct thread_pool *thread_pool_create(int n_threads);
/* Stops and joins the workers. NULL is allowed. */
void thread_pool_free(struct thread_pool *pool);

/* Number of threads a run uses (caller included). */
int thread_pool_size(const struct thread_pool *pool);

/* fn(arg, ith, nth) for ith = 0..nth-1 with nth = thread_pool_size(pool);
 * returns when all have returned. A NULL pool runs fn(arg, 0, 1) inline. */
void thread_pool_run(struct thread_pool *pool, thread_task_fn fn, void *arg);
/* The same on the first nth threads only (1 <= nth <= size; clamped). */
void thread_pool_run_n(struct thread_pool *pool, int nth, thread_task_fn fn, void *arg);

/* How long idle threads spin before sleeping, in microseconds (default 100,
 * or CLLM_SPIN_US from the environment when the pool is made; 0 sleeps at
 * once, which suits a machine with fewer cores than threads). Spinning
 * yields the CPU now and then, so it does not starve a thread sharing it. */
void thread_pool_set_spin_us(struct thread_pool *pool, int spin_us);

#endif
