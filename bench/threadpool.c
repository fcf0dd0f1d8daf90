/*
 * threadpool.c - bench-threadpool: the cost of one thread_pool_run of an
 * empty task, back to back (workers still spinning) and after a pause long
 * enough for them to have gone to sleep, for several thread counts.
 * Prints median, 90th and 99th percentile in microseconds.
 *
 * Usage: bench-threadpool [-t MAX_THREADS] [--runs N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensor/threadpool.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void nop_task(void *arg, int ith, int nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

static void pause_us(int us)
{
    struct timespec ts = { 0, (long)us * 1000 };
    nanosleep(&ts, NULL);
}

/* Times `runs` empty runs, each after `gap_us` of sleep (0: back to back). */
static void measure(struct thread_pool *pool, int nth, int runs, int gap_us, double *t)
{
    for (int i = 0; i < runs; i++) {
        if (gap_us)
            pause_us(gap_us);
        double t0 = now_us();
        thread_pool_run_n(pool, nth, nop_task, NULL);
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_double);
}

int main(int argc, char **argv)
{
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    int max_threads = n_cpu > 0 ? (int)n_cpu : 1, runs = 20000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t"))
            max_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
    }
    if (max_threads < 1 || runs < 10) {
        fprintf(stderr, "usage: bench-threadpool [-t MAX_THREADS] [--runs N]\n");
        return 2;
    }
    struct thread_pool *pool = thread_pool_create(max_threads);
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (pool == NULL || t == NULL) {
        free(t);
        thread_pool_free(pool);
        return 1;
    }
    int sleep_runs = runs / 20 > 10 ? runs / 20 : 10;
    printf("empty thread_pool_run, microseconds (median / p90 / p99)\n");
    printf("%7s | %-26s | %-26s\n", "threads", "back to back", "after 2 ms asleep");
    for (int nth = 1;; nth = nth * 2 < max_threads ? nth * 2 : max_threads) {
        measure(pool, nth, runs, 0, t);
        double a50 = t[runs / 2], a90 = t[runs * 9 / 10], a99 = t[runs * 99 / 100];
        measure(pool, nth, sleep_runs, 2000, t);
        printf("%7d | %7.2f %7.2f %8.2f   | %7.2f %7.2f %8.2f\n", nth, a50, a90, a99,
               t[sleep_runs / 2], t[sleep_runs * 9 / 10], t[sleep_runs * 99 / 100]);
        if (nth == max_threads)
            break;
    }
    free(t);
    thread_pool_free(pool);
    return 0;
}
