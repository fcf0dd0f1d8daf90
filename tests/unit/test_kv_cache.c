/*
 * test_kv_cache.c - the paged KV cache: growing and truncating sequences,
 * forks that share pages and copy on write, discarding a middle range,
 * running out of pages (an error, nothing changed), and bad parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "engine/kv_cache.h"

static struct kv_cache *make(int32_t n_ctx, int32_t page, int32_t n_seq)
{
    struct kv_cache_params p = { .n_ctx = n_ctx, .page_size = page, .n_seq_max = n_seq,
                                 .n_layer = 2, .n_embd_k = 4, .n_embd_v = 4,
                                 .type_k = TYPE_F32, .type_v = TYPE_F32 };
    char err[128];
    struct kv_cache *kv = kv_cache_create(&p, err, sizeof(err));
    assert_non_null(kv);
    return kv;
}

/* Write a recognizable value into position pos of seq, layer 1. */
static void put(struct kv_cache *kv, int32_t seq, int32_t pos, float v)
{
    float *k = kv_cache_k(kv, 1, seq, pos), *vv = kv_cache_v(kv, 1, seq, pos);
    for (int i = 0; i < 4; i++) {
        k[i] = v;
        vv[i] = -v;
    }
}

static float get(struct kv_cache *kv, int32_t seq, int32_t pos)
{
    float *k = kv_cache_k(kv, 1, seq, pos), *v = kv_cache_v(kv, 1, seq, pos);
    assert_true(k[3] == -v[3]);
    return k[3];
}

static void append(struct kv_cache *kv, int32_t seq, int32_t n, float base)
{
    int32_t len = kv_cache_seq_len(kv, seq);
    assert_int_equal(kv_cache_seq_grow(kv, seq, n), 0);
    for (int32_t i = 0; i < n; i++)
        put(kv, seq, len + i, base + (float)(len + i));
}

static void test_grow_and_truncate(void **state)
{
    (void)state;
    struct kv_cache *kv = make(64, 8, 2);
    int32_t total = kv_cache_n_pages(kv);
    assert_int_equal(total, 8 + 2);
    append(kv, 0, 13, 100);
    assert_int_equal(kv_cache_seq_len(kv, 0), 13);
    assert_int_equal(kv_cache_free_pages(kv), total - 2);
    for (int32_t p = 0; p < 13; p++)
        assert_true(get(kv, 0, p) == 100 + p);
    kv_cache_seq_rm(kv, 0, 8);
    assert_int_equal(kv_cache_seq_len(kv, 0), 8);
    assert_int_equal(kv_cache_free_pages(kv), total - 1);
    kv_cache_seq_rm(kv, 0, 100); /* beyond the end: nothing */
    assert_int_equal(kv_cache_seq_len(kv, 0), 8);
    kv_cache_seq_rm(kv, 0, -1);
    assert_int_equal(kv_cache_seq_len(kv, 0), 0);
    assert_int_equal(kv_cache_free_pages(kv), total);
    kv_cache_free(kv);
}

static void test_fork_copy_on_write(void **state)
{
    (void)state;
    struct kv_cache *kv = make(64, 8, 3);
    int32_t total = kv_cache_n_pages(kv);
    append(kv, 0, 12, 0); /* pages: one full, one with 4 rows */
    assert_int_equal(kv_cache_seq_cp(kv, 0, 1), 0);
    assert_int_equal(kv_cache_free_pages(kv), total - 2); /* shared, not copied */
    assert_int_equal(kv_cache_page_of(kv, 0, 11), kv_cache_page_of(kv, 1, 11));
    assert_int_equal(kv_cache_page_refs(kv, kv_cache_page_of(kv, 0, 0)), 2);
    /* seq 1 appends into the shared partial page: it gets its own copy */
    append(kv, 1, 2, 1000);
    assert_int_not_equal(kv_cache_page_of(kv, 0, 11), kv_cache_page_of(kv, 1, 11));
    assert_int_equal(kv_cache_page_of(kv, 0, 3), kv_cache_page_of(kv, 1, 3));
    assert_int_equal(kv_cache_free_pages(kv), total - 3);
    for (int32_t p = 0; p < 12; p++) {
        assert_true(get(kv, 0, p) == p);
        assert_true(get(kv, 1, p) == p);
    }
    assert_true(get(kv, 1, 12) == 1012);
    assert_int_equal(kv_cache_seq_len(kv, 0), 12);
    /* seq 0 appends too: its page is no longer shared, no copy needed */
    append(kv, 0, 1, 500);
    assert_true(get(kv, 0, 12) == 512);
    assert_true(get(kv, 1, 12) == 1012);
    /* dropping seq 0 keeps the shared first page alive for seq 1 */
    kv_cache_seq_rm(kv, 0, 0);
    assert_int_equal(kv_cache_page_refs(kv, kv_cache_page_of(kv, 1, 0)), 1);
    assert_true(get(kv, 1, 5) == 5);
    kv_cache_seq_rm(kv, 1, 0);
    assert_int_equal(kv_cache_free_pages(kv), total);
    assert_int_equal(kv_cache_seq_cp(kv, 0, 7), -1);
    kv_cache_free(kv);
}

static void test_discard(void **state)
{
    (void)state;
    struct kv_cache *kv = make(64, 8, 2);
    append(kv, 0, 20, 0);
    assert_int_equal(kv_cache_seq_cp(kv, 0, 1), 0);
    /* remove [4, 10) from seq 0: later positions move down by 6 */
    assert_int_equal(kv_cache_seq_discard(kv, 0, 4, 6), 0);
    assert_int_equal(kv_cache_seq_len(kv, 0), 14);
    for (int32_t p = 0; p < 4; p++)
        assert_true(get(kv, 0, p) == p);
    for (int32_t p = 4; p < 14; p++)
        assert_true(get(kv, 0, p) == p + 6);
    /* the fork is untouched */
    for (int32_t p = 0; p < 20; p++)
        assert_true(get(kv, 1, p) == p);
    assert_int_equal(kv_cache_seq_discard(kv, 0, 10, 5), -1); /* past the end */
    assert_int_equal(kv_cache_seq_discard(kv, 0, -1, 1), -1);
    assert_int_equal(kv_cache_seq_discard(kv, 0, 14, 0), 0);
    kv_cache_free(kv);
}

static void test_out_of_pages(void **state)
{
    (void)state;
    struct kv_cache *kv = make(32, 8, 2); /* 4 + 2 pages = 48 positions at most */
    assert_int_equal(kv_cache_room(kv, 0), 48);
    append(kv, 0, 40, 0);
    assert_int_equal(kv_cache_room(kv, 1), 8);
    assert_int_equal(kv_cache_seq_grow(kv, 1, 9), -1);
    assert_int_equal(kv_cache_seq_len(kv, 1), 0); /* nothing changed */
    assert_int_equal(kv_cache_seq_grow(kv, 1, 8), 0);
    assert_int_equal(kv_cache_seq_grow(kv, 0, 1), -1);
    assert_int_equal(kv_cache_seq_grow(kv, 5, 1), -1);
    assert_int_equal(kv_cache_seq_grow(kv, 0, -1), -1);
    kv_cache_clear(kv);
    assert_int_equal(kv_cache_free_pages(kv), kv_cache_n_pages(kv));
    assert_int_equal(kv_cache_seq_len(kv, 0), 0);
    kv_cache_free(kv);
}

static void test_bad_params(void **state)
{
    (void)state;
    char err[128];
    struct kv_cache_params p = { .n_ctx = 64, .n_seq_max = 1, .n_layer = 1, .n_embd_k = 48,
                                 .n_embd_v = 48, .type_k = TYPE_Q8_0, .type_v = TYPE_F16 };
    assert_null(kv_cache_create(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "multiple of 32"));
    p.type_k = TYPE_Q4_K;
    assert_null(kv_cache_create(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "f16, f32 or q8_0"));
    p.type_k = TYPE_F16;
    p.n_ctx = 0;
    assert_null(kv_cache_create(&p, err, sizeof(err)));
    p.n_ctx = 64;
    struct kv_cache *kv = kv_cache_create(&p, err, sizeof(err));
    assert_non_null(kv);
    assert_int_equal(kv_cache_page_size(kv), KV_DEFAULT_PAGE_SIZE);
    assert_int_equal(kv_cache_k_row_size(kv), 96);
    kv_cache_free(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_and_truncate),
        cmocka_unit_test(test_fork_copy_on_write),
        cmocka_unit_test(test_discard),
        cmocka_unit_test(test_out_of_pages),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
