/*
 * test_kv_pages.c - the KV page pools on demand and sliding windows: a
 * large pool costs no resident memory until written and gives it back when
 * its pages are freed; windowed layers keep window + one batch, drop what
 * falls out of the window, stay correct through forks (copy on write),
 * truncation (kv_cache_seq_usable), context shift (discard) and restore
 * (kv_cache_seq_init); running out of pages is an error with nothing
 * changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/kv_cache.h"

enum { NL = 3, EMB = 4, WIN = 16, PS = 4, GROW = 8 };

/* Layers 0 and 1 windowed, layer 2 full context. */
static struct kv_cache *make_swa(int32_t n_ctx, int32_t n_seq, bool swa_full)
{
    static const bool swa[NL] = { true, true, false };
    struct kv_cache_params p = { .n_ctx = n_ctx, .page_size = PS, .n_seq_max = n_seq, .n_layer = NL,
                                 .n_embd_k = EMB, .n_embd_v = EMB, .type_k = TYPE_F32, .type_v = TYPE_F32,
                                 .layer_swa = swa, .swa_window = WIN, .swa_full = swa_full,
                                 .n_grow_max = GROW };
    char err[128];
    struct kv_cache *kv = kv_cache_create(&p, err, sizeof(err));
    if (kv == NULL)
        fail_msg("%s", err);
    return kv;
}

static void put(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos, float v)
{
    float *k = kv_cache_k(kv, il, seq, pos), *vv = kv_cache_v(kv, il, seq, pos);
    for (int i = 0; i < EMB; i++) {
        k[i] = v;
        vv[i] = -v;
    }
}

static float get(struct kv_cache *kv, int32_t il, int32_t seq, int32_t pos)
{
    float *k = kv_cache_k(kv, il, seq, pos), *v = kv_cache_v(kv, il, seq, pos);
    assert_true(k[0] == -v[0] && k[EMB - 1] == k[0]);
    return k[0];
}

/* Grow seq by n and write base + pos (+ 1000 * layer) in every layer. */
static void append(struct kv_cache *kv, int32_t seq, int32_t n, float base)
{
    int32_t len = kv_cache_seq_len(kv, seq);
    assert_int_equal(kv_cache_seq_grow(kv, seq, n), 0);
    for (int32_t il = 0; il < NL; il++)
        for (int32_t i = 0; i < n; i++)
            put(kv, il, seq, len + i, base + (float)(len + i) + 1000.0f * (float)il);
}

/* Every position a query at len sees holds base + pos. */
static void check_window(struct kv_cache *kv, int32_t seq, float base)
{
    int32_t len = kv_cache_seq_len(kv, seq);
    for (int32_t il = 0; il < NL; il++) {
        int32_t lo = il < 2 && len - WIN > 0 ? len - WIN : 0; /* the next query's keys, one more */
        assert_true(kv_cache_seq_start(kv, il, seq) <= lo);
        for (int32_t p = lo; p < len; p++)
            if (get(kv, il, seq, p) != base + (float)p + 1000.0f * (float)il)
                fail_msg("layer %d seq %d pos %d: %g", il, seq, p, (double)get(kv, il, seq, p));
    }
}

static struct kv_group_stats stats(struct kv_cache *kv, int32_t g)
{
    struct kv_group_stats st;
    kv_cache_group_stats(kv, g, &st);
    return st;
}

static void test_groups(void **state)
{
    (void)state;
    struct kv_cache *kv = make_swa(1024, 2, false);
    assert_int_equal(kv_cache_n_groups(kv), 2);
    struct kv_group_stats full = stats(kv, 0), swa = stats(kv, 1);
    assert_int_equal(full.n_layer, 1);
    assert_int_equal(full.window, 0);
    assert_int_equal(full.n_pages, 1024 / PS + 2);
    assert_int_equal(swa.n_layer, 2);
    assert_int_equal(swa.window, WIN);
    assert_true(swa.trimmed);
    /* window + one batch + margin per sequence, far below the full pool */
    assert_true(swa.n_pages <= 2 * ((WIN + GROW) / PS + 4));
    assert_int_equal(full.n_resident + swa.n_resident, 0);
    assert_int_equal(kv_cache_swa_window(kv), WIN);
    kv_cache_free(kv);
    /* --swa-full: the windowed group is as large as the full one */
    kv = make_swa(1024, 2, true);
    assert_int_equal(stats(kv, 1).n_pages, stats(kv, 0).n_pages);
    assert_false(stats(kv, 1).trimmed);
    kv_cache_free(kv);
}

/* A long sequence: the windowed layers hold at most window + batch, the
 * full layer everything; pages out of the window go back to the pool. */
static void test_window_release(void **state)
{
    (void)state;
    struct kv_cache *kv = make_swa(1024, 2, false);
    int32_t swa_total = stats(kv, 1).n_pages;
    for (int step = 0; step < 100; step++) {
        append(kv, 0, 1 + step % GROW, 0.0f);
        check_window(kv, 0, 0.0f);
        int32_t held = swa_total - stats(kv, 1).n_free;
        assert_true(held * PS <= WIN + GROW + 3 * PS);
    }
    int32_t len = kv_cache_seq_len(kv, 0);
    assert_true(len > 300);
    /* the full layer keeps every position */
    for (int32_t p = 0; p < len; p++)
        assert_true(get(kv, 2, 0, p) == (float)p + 2000.0f);
    assert_int_equal(kv_cache_seq_start(kv, 2, 0), 0);
    assert_true(kv_cache_seq_swa_start(kv, 0) > 0);
    /* what can be kept: the whole, or a prefix whose window is still held */
    assert_true(kv_cache_seq_usable(kv, 0, len));
    assert_true(kv_cache_seq_usable(kv, 0, len - 1));
    assert_false(kv_cache_seq_usable(kv, 0, len / 2));
    assert_true(kv_cache_seq_usable(kv, 0, 0));
    /* clearing gives every page back */
    kv_cache_seq_rm(kv, 0, 0);
    assert_int_equal(stats(kv, 1).n_free, swa_total);
    assert_int_equal(stats(kv, 0).n_free, stats(kv, 0).n_pages);
    assert_int_equal(kv_cache_seq_swa_start(kv, 0), 0);
    /* and the sequence starts again from nothing */
    append(kv, 0, 5, 7.0f);
    check_window(kv, 0, 7.0f);
    kv_cache_free(kv);
}

/* With --swa-full nothing is dropped. */
static void test_swa_full_keeps_all(void **state)
{
    (void)state;
    struct kv_cache *kv = make_swa(1024, 1, true);
    for (int step = 0; step < 40; step++)
        append(kv, 0, GROW, 0.0f);
    for (int32_t il = 0; il < NL; il++) {
        assert_int_equal(kv_cache_seq_start(kv, il, 0), 0);
        for (int32_t p = 0; p < 40 * GROW; p++)
            assert_true(get(kv, il, 0, p) == (float)p + 1000.0f * (float)il);
    }
    assert_true(kv_cache_seq_usable(kv, 0, 3));
    kv_cache_free(kv);
}

/* A fork shares the windowed pages too; each side appends into its own
 * copy of a shared last page and drops its own window. */
static void test_fork_windowed(void **state)
{
    (void)state;
    struct kv_cache *kv = make_swa(1024, 3, false);
    for (int step = 0; step < 10; step++)
        append(kv, 0, 7, 0.0f);
    int32_t len = kv_cache_seq_len(kv, 0);
    assert_int_equal(kv_cache_seq_cp(kv, 0, 1), 0);
    assert_true(stats(kv, 1).n_shared > 0);
    assert_true(stats(kv, 0).n_shared > 0);
    assert_int_equal(kv_cache_seq_swa_start(kv, 1), kv_cache_seq_swa_start(kv, 0));
    for (int step = 0; step < 12; step++) {
        append(kv, 0, 3, 0.0f);
        append(kv, 1, 5, 0.0f);
        /* seq 1 rewrites its new positions with another base */
        int32_t l1 = kv_cache_seq_len(kv, 1);
        for (int32_t il = 0; il < NL; il++)
            for (int32_t p = l1 - 5; p < l1; p++)
                put(kv, il, 1, p, 50000.0f + (float)p + 1000.0f * (float)il);
    }
    check_window(kv, 0, 0.0f);
    /* seq 1: the shared prefix then its own */
    for (int32_t p = kv_cache_seq_len(kv, 1) - WIN; p < kv_cache_seq_len(kv, 1); p++)
        assert_true(get(kv, 0 + 1, 1, p) == (p < len ? 0.0f : 50000.0f) + (float)p + 1000.0f);
    for (int32_t p = 0; p < len; p++) /* the full layer still shares the old prefix */
        assert_true(get(kv, 2, 1, p) == (float)p + 2000.0f);
    /* ending both gives every page back */
    kv_cache_seq_rm(kv, 0, 0);
    kv_cache_seq_rm(kv, 1, 0);
    assert_int_equal(stats(kv, 1).n_free, stats(kv, 1).n_pages);
    assert_int_equal(stats(kv, 1).n_shared, 0);
    assert_int_equal(stats(kv, 0).n_free, stats(kv, 0).n_pages);
    kv_cache_free(kv);
}

/* Context shift: remove [p0, p0 + n) and move the rest down, with the
 * windowed layers holding only their window. Checked against a cache that
 * keeps everything (--swa-full) for every position the next query sees. */
static void shift_case(int32_t len, int32_t p0, int32_t n)
{
    struct kv_cache *kw = make_swa(1024, 1, false), *kf = make_swa(1024, 1, true);
    while (kv_cache_seq_len(kw, 0) < len) {
        int32_t g = len - kv_cache_seq_len(kw, 0) < GROW ? len - kv_cache_seq_len(kw, 0) : GROW;
        append(kw, 0, g, 0.0f);
        append(kf, 0, g, 0.0f);
    }
    assert_int_equal(kv_cache_seq_discard(kw, 0, p0, n), 0);
    assert_int_equal(kv_cache_seq_discard(kf, 0, p0, n), 0);
    int32_t nl = len - n;
    assert_int_equal(kv_cache_seq_len(kw, 0), nl);
    for (int32_t il = 0; il < NL; il++) {
        int32_t start = kv_cache_seq_start(kw, il, 0);
        int32_t lo = il < 2 ? (nl - WIN + 1 > 0 ? nl - WIN + 1 : 0) : 0;
        if (il < 2 && p0 < lo) /* the usual shift: the window is whole */
            assert_true(start <= lo);
        for (int32_t p = start > lo ? start : lo; p < nl; p++)
            if (get(kw, il, 0, p) != get(kf, il, 0, p))
                fail_msg("shift len %d p0 %d n %d: layer %d pos %d: %g, want %g", len, p0, n, il, p,
                         (double)get(kw, il, 0, p), (double)get(kf, il, 0, p));
    }
    /* both go on */
    append(kw, 0, GROW, 90000.0f);
    append(kf, 0, GROW, 90000.0f);
    for (int32_t il = 0; il < NL; il++) {
        int32_t len2 = nl + GROW;
        for (int32_t p = len2 - GROW; p < len2; p++)
            assert_true(get(kw, il, 0, p) == get(kf, il, 0, p));
    }
    kv_cache_free(kw);
    kv_cache_free(kf);
}

static void test_shift_windowed(void **state)
{
    (void)state;
    shift_case(200, 4, 98);  /* server-like: keep 4, drop half */
    shift_case(200, 0, 100);
    shift_case(200, 190, 5); /* inside the window */
    shift_case(203, 3, 17);  /* not page-aligned */
    shift_case(203, 150, 53); /* to the end */
    shift_case(40, 1, 2);
    shift_case(12, 2, 3);    /* shorter than the window */
}

/* Restoring: a sequence made of n fresh positions, windowed layers from
 * swa_from on; refused (nothing changed) without room. */
static void test_seq_init(void **state)
{
    (void)state;
    struct kv_cache *kv = make_swa(256, 2, false);
    append(kv, 0, 8, 0.0f);
    assert_int_equal(kv_cache_seq_init(kv, 0, 100, 80), 0);
    assert_int_equal(kv_cache_seq_len(kv, 0), 100);
    assert_int_equal(kv_cache_seq_swa_start(kv, 0), 80);
    assert_int_equal(kv_cache_seq_start(kv, 2, 0), 0);
    for (int32_t il = 0; il < NL; il++)
        for (int32_t p = il < 2 ? 80 : 0; p < 100; p++)
            put(kv, il, 0, p, (float)p + 1000.0f * (float)il);
    check_window(kv, 0, 0.0f);
    append(kv, 0, GROW, 0.0f);
    check_window(kv, 0, 0.0f);
    /* every window position but not the whole full layer: too long */
    int32_t before = kv_cache_seq_len(kv, 0);
    assert_int_equal(kv_cache_seq_init(kv, 0, 10000, 9990), -1);
    assert_int_equal(kv_cache_seq_len(kv, 0), before);
    check_window(kv, 0, 0.0f);
    /* a whole sequence for the windowed layers does not fit their pool */
    assert_int_equal(kv_cache_seq_init(kv, 1, 200, 0), -1);
    assert_int_equal(kv_cache_seq_len(kv, 1), 0);
    kv_cache_free(kv);
}

/* Running out of full-context pages: -1, nothing changed; the windowed
 * pool never runs out for a sequence that grows by batches. */
static void test_exhaustion(void **state)
{
    (void)state;
    struct kv_cache *kv = make_swa(64, 2, false);
    int32_t total = stats(kv, 0).n_pages;
    while (kv_cache_room(kv, 0) >= GROW)
        append(kv, 0, GROW, 0.0f);
    int32_t len = kv_cache_seq_len(kv, 0), free_swa = stats(kv, 1).n_free;
    assert_int_equal(kv_cache_seq_grow(kv, 0, GROW), -1);
    assert_int_equal(kv_cache_seq_len(kv, 0), len);
    assert_int_equal(stats(kv, 1).n_free, free_swa);
    assert_true(stats(kv, 0).n_free * PS < GROW);
    check_window(kv, 0, 0.0f);
    kv_cache_seq_rm(kv, 0, 0);
    assert_int_equal(stats(kv, 0).n_free, total);
    kv_cache_free(kv);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* A pool of 1 GiB costs nothing until written; written pages are resident,
 * and freed ones beyond the reserve go back to the system. */
static void test_resident_on_demand(void **state)
{
    (void)state;
    enum { BIG_EMB = 1024 }; /* 4 KiB rows */
    struct kv_cache_params p = { .n_ctx = 32768, .page_size = 16, .n_seq_max = 2, .n_layer = 4,
                                 .n_embd_k = BIG_EMB, .n_embd_v = BIG_EMB, .type_k = TYPE_F32,
                                 .type_v = TYPE_F32 };
    long r0 = rss_kb();
    char err[128];
    struct kv_cache *kv = kv_cache_create(&p, err, sizeof err);
    assert_non_null(kv);
    struct kv_group_stats st = stats(kv, 0);
    assert_true((double)st.n_pages * (double)st.page_bytes >= 1024.0 * 1024 * 1024);
    long r1 = rss_kb();
    assert_true(r1 - r0 < 16 * 1024); /* < 16 MiB for a 1 GiB pool */
    /* write 4096 positions: 4096 * 4 layers * 8 KiB = 128 MiB */
    assert_int_equal(kv_cache_seq_grow(kv, 0, 4096), 0);
    for (int32_t il = 0; il < 4; il++)
        for (int32_t pos = 0; pos < 4096; pos++) {
            memset(kv_cache_k(kv, il, 0, pos), 1, (size_t)BIG_EMB * 4);
            memset(kv_cache_v(kv, il, 0, pos), 1, (size_t)BIG_EMB * 4);
        }
    long r2 = rss_kb();
    assert_true(r2 - r1 > 100 * 1024);
    assert_int_equal(stats(kv, 0).n_resident, 4096 / 16);
    /* the sequence ends: its pages go back to the system but a few */
    kv_cache_seq_rm(kv, 0, 0);
    long r3 = rss_kb();
    assert_true(stats(kv, 0).n_resident <= KV_RESIDENT_SLACK_MIN);
    assert_true(r2 - r3 > 100 * 1024);
    kv_cache_free(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_window_release),
        cmocka_unit_test(test_swa_full_keeps_all),
        cmocka_unit_test(test_fork_windowed),
        cmocka_unit_test(test_shift_windowed),
        cmocka_unit_test(test_seq_init),
        cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_resident_on_demand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
