/*
 * test_threadpool.c - the persistent thread pool: every thread index runs
 * exactly once per run, the caller is thread 0, results written by workers
 * are visible when a run returns, partial runs (run_n), many back-to-back
 * runs, runs after the workers fell asleep, nested runs (inline, no
 * deadlock), and clean create/free cycles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensor/threadpool.h"

#define MAX_T 8

struct seen {
    atomic_int calls[MAX_T];
    atomic_int bad_nth;
    int expect_nth;
    pthread_t caller;
    atomic_int caller_not_0;
};

static void record(void *arg, int ith, int nth)
{
    struct seen *s = arg;
    if (nth != s->expect_nth || ith < 0 || ith >= nth)
        atomic_fetch_add(&s->bad_nth, 1);
    else
        atomic_fetch_add(&s->calls[ith], 1);
    if (ith == 0 && !pthread_equal(pthread_self(), s->caller))
        atomic_fetch_add(&s->caller_not_0, 1);
}

static void check_one_run(struct thread_pool *pool, int nth)
{
    struct seen s;
    memset(&s, 0, sizeof(s));
    s.expect_nth = nth;
    s.caller = pthread_self();
    thread_pool_run_n(pool, nth, record, &s);
    assert_int_equal(atomic_load(&s.bad_nth), 0);
    assert_int_equal(atomic_load(&s.caller_not_0), 0);
    for (int i = 0; i < MAX_T; i++)
        assert_int_equal(atomic_load(&s.calls[i]), i < nth ? 1 : 0);
}

static void test_each_index_once(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        struct thread_pool *pool = thread_pool_create(n);
        assert_non_null(pool);
        assert_int_equal(thread_pool_size(pool), n);
        for (int rep = 0; rep < 20; rep++)
            check_one_run(pool, n);
        thread_pool_free(pool);
    }
}

static void test_partial_runs(void **state)
{
    (void)state;
    struct thread_pool *pool = thread_pool_create(4);
    assert_non_null(pool);
    int order[] = { 1, 4, 2, 3, 1, 2, 4, 4, 3, 2 };
    for (int rep = 0; rep < 50; rep++)
        check_one_run(pool, order[rep % 10]);
    thread_pool_free(pool);
}

static void inline_task(void *arg, int ith, int nth)
{
    int *v = arg;
    *v = 100 + ith * 10 + nth;
}

static void test_null_pool_inline(void **state)
{
    (void)state;
    int v = 0;
    thread_pool_run(NULL, inline_task, &v);
    assert_int_equal(v, 101);
    assert_int_equal(thread_pool_size(NULL), 1);
    thread_pool_free(NULL);
}

/* Plain (non-atomic) writes by workers must be visible after the run. */
struct sum_job {
    const int64_t *data;
    int64_t n;
    int64_t partial[MAX_T];
};

static void sum_task(void *arg, int ith, int nth)
{
    struct sum_job *j = arg;
    int64_t lo = j->n * ith / nth, hi = j->n * (ith + 1) / nth, s = 0;
    for (int64_t i = lo; i < hi; i++)
        s += j->data[i];
    j->partial[ith] = s;
}

static void test_results_visible_many_runs(void **state)
{
    (void)state;
    const int64_t n = 10000;
    int64_t *data = malloc((size_t)n * sizeof(*data));
    assert_non_null(data);
    struct thread_pool *pool = thread_pool_create(3);
    assert_non_null(pool);
    int reps = getenv("CLLM_TEST_QUICK") ? 500 : 5000;
    for (int rep = 0; rep < reps; rep++) {
        for (int64_t i = 0; i < n; i++)
            data[i] = (int64_t)rep * 7 + i;
        struct sum_job j = { .data = data, .n = n };
        int64_t want = n * (n - 1) / 2 + n * (int64_t)rep * 7;
        thread_pool_run(pool, sum_task, &j);
        assert_int_equal(j.partial[0] + j.partial[1] + j.partial[2], want);
    }
    thread_pool_free(pool);
    free(data);
}

static void count_task(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* Workers that have gone to sleep (spin 0, or a pause longer than the spin)
 * must wake for the next run. */
static void test_wake_after_sleep(void **state)
{
    (void)state;
    for (int spin = 0; spin <= 100; spin += 100) {
        struct thread_pool *pool = thread_pool_create(3);
        assert_non_null(pool);
        thread_pool_set_spin_us(pool, spin);
        atomic_int count = 0;
        for (int rep = 0; rep < 20; rep++) {
            thread_pool_run(pool, count_task, &count);
            struct timespec ts = { 0, 2 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        assert_int_equal(atomic_load(&count), 60);
        for (int rep = 0; rep < 200; rep++)
            thread_pool_run(pool, count_task, &count);
        assert_int_equal(atomic_load(&count), 60 + 600);
        thread_pool_free(pool);
    }
}

struct nested {
    struct thread_pool *pool;
    atomic_int outer, inner, inner_bad_nth;
};

static void inner_task(void *arg, int ith, int nth)
{
    struct nested *n = arg;
    if (ith != 0 || nth != 1)
        atomic_fetch_add(&n->inner_bad_nth, 1);
    atomic_fetch_add(&n->inner, 1);
}

static void outer_task(void *arg, int ith, int nth)
{
    struct nested *n = arg;
    (void)ith;
    (void)nth;
    atomic_fetch_add(&n->outer, 1);
    thread_pool_run(n->pool, inner_task, n); /* pool busy: runs inline */
}

/* A run from inside a task does not deadlock; it runs inline. */
static void test_nested_run_inline(void **state)
{
    (void)state;
    struct nested n = { .pool = thread_pool_create(3) };
    assert_non_null(n.pool);
    for (int rep = 0; rep < 10; rep++)
        thread_pool_run(n.pool, outer_task, &n);
    assert_int_equal(atomic_load(&n.outer), 30);
    assert_int_equal(atomic_load(&n.inner), 30);
    assert_int_equal(atomic_load(&n.inner_bad_nth), 0);
    check_one_run(n.pool, 3); /* and the pool still works */
    thread_pool_free(n.pool);
}

static void test_create_free_cycles(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        struct thread_pool *pool = thread_pool_create(1 + i % 4);
        assert_non_null(pool);
        if (i % 2) {
            atomic_int count = 0;
            thread_pool_run(pool, count_task, &count);
            assert_int_equal(atomic_load(&count), 1 + i % 4);
        }
        thread_pool_free(pool);
    }
    struct thread_pool *pool = thread_pool_create(0); /* one per CPU */
    assert_non_null(pool);
    assert_true(thread_pool_size(pool) >= 1);
    thread_pool_free(pool);
}

static void nop_task(void *arg, int ith, int nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Informational: the cost of an empty run (not asserted: shared machines). */
static void test_empty_run_cost(void **state)
{
    (void)state;
    struct thread_pool *pool = thread_pool_create(2);
    assert_non_null(pool);
    int reps = 2000;
    double t0 = now_s();
    for (int i = 0; i < reps; i++)
        thread_pool_run(pool, nop_task, NULL);
    double us = (now_s() - t0) / reps * 1e6;
    print_message("empty run on 2 threads: %.2f us\n", us);
    thread_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_index_once),
        cmocka_unit_test(test_partial_runs),
        cmocka_unit_test(test_null_pool_inline),
        cmocka_unit_test(test_results_visible_many_runs),
        cmocka_unit_test(test_wake_after_sleep),
        cmocka_unit_test(test_nested_run_inline),
        cmocka_unit_test(test_create_free_cycles),
        cmocka_unit_test(test_empty_run_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
