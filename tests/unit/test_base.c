/*
 * test_base.c - the shared helpers of src/base (unicode has its own test,
 * test_unicode.c):
 *   - sbuf: append/puts/putc/printf, content always NUL-terminated, growth
 *     across sizes (byte for byte), reserve, truncate, clear, take (hands
 *     over the bytes and leaves the buffer empty; "" for an empty buffer),
 *     and the sticky oom flag (later appends do nothing, take gives NULL);
 *   - vec_reserve: growth keeps the elements, capacity doubles, a zero need
 *     allocates nothing, sizes that overflow are refused with the array as
 *     it was;
 *   - err_set/err_vset: format into the buffer, return -1, truncate to the
 *     buffer, accept a NULL buffer;
 *   - file_read: a file's bytes and length, NUL-terminated; an empty file;
 *     a missing file (message names the path); max_bytes refusing a larger
 *     file (message names the path) and accepting one of exactly max_bytes;
 *   - clock_ms: never goes backwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "base/sbuf.h"
#include "base/vec.h"

/* ---- sbuf ---- */

static void test_sbuf_append(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    assert_string_equal(sbuf_str(&b), "");
    assert_int_equal(sbuf_append(&b, "ab", 2), 0);
    assert_int_equal(sbuf_puts(&b, "cd"), 0);
    assert_int_equal(sbuf_putc(&b, 'e'), 0);
    assert_int_equal(sbuf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 5);
    assert_string_equal(sbuf_str(&b), "abcde");
    assert_int_equal(sbuf_append(&b, "x\0y", 3), 0); /* embedded NUL kept */
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.s, "abcdex\0y", 9);
    sbuf_free(&b);
    assert_null(b.s);
    assert_int_equal(b.len, 0);
}

static void test_sbuf_printf(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(sbuf_str(&b), "42-x");
    assert_int_equal(sbuf_printf(&b, "%s", ""), 0);
    assert_string_equal(sbuf_str(&b), "42-x");
    /* longer than the first allocation */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sbuf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 4 + 1000 + 1);
    assert_int_equal(b.s[4], '[');
    assert_int_equal(b.s[b.len - 1], ']');
    assert_int_equal(b.s[b.len], '\0');
    sbuf_free(&b);
}

static void test_sbuf_growth(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    size_t total = 0;
    for (size_t step = 1; step <= 5000; step = step * 3 + 1) {
        for (size_t i = 0; i < step; i++)
            assert_int_equal(sbuf_putc(&b, (char)('a' + (total + i) % 26)), 0);
        total += step;
        assert_int_equal(b.len, total);
        assert_true(b.cap > b.len);
        assert_int_equal(b.s[b.len], '\0');
    }
    for (size_t i = 0; i < total; i++)
        assert_int_equal(b.s[i], (char)('a' + i % 26));
    size_t len = b.len;
    assert_int_equal(sbuf_reserve(&b, 100000), 0);
    assert_true(b.cap >= len + 100000 + 1);
    char *s = b.s;
    assert_int_equal(sbuf_append(&b, "q", 1), 0);
    assert_ptr_equal(b.s, s); /* reserved: no reallocation */
    sbuf_free(&b);
}

static void test_sbuf_truncate_clear(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    sbuf_truncate(&b, 0); /* empty: nothing to do */
    sbuf_puts(&b, "hello world");
    sbuf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal(sbuf_str(&b), "hello");
    sbuf_truncate(&b, 9); /* longer than the content: no change */
    assert_string_equal(sbuf_str(&b), "hello");
    sbuf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(sbuf_str(&b), "");
    assert_non_null(b.s); /* memory kept */
    sbuf_puts(&b, "again");
    assert_string_equal(sbuf_str(&b), "again");
    sbuf_free(&b);
}

static void test_sbuf_take(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    size_t len = 99;
    char *s = sbuf_take(&b, &len); /* empty: "" */
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    sbuf_printf(&b, "%s=%d", "k", 7);
    s = sbuf_take(&b, &len);
    assert_string_equal(s, "k=7");
    assert_int_equal(len, 3);
    assert_null(b.s);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);
    sbuf_puts(&b, "x");
    s = sbuf_take(&b, NULL);
    assert_string_equal(s, "x");
    free(s);
}

static void test_sbuf_oom_sticky(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    sbuf_puts(&b, "abc");
    /* a size that cannot be allocated sets the flag */
    assert_int_equal(sbuf_reserve(&b, (size_t)-1 / 2), -1);
    assert_true(b.oom);
    assert_int_equal(sbuf_puts(&b, "def"), -1);
    assert_int_equal(sbuf_putc(&b, 'g'), -1);
    assert_int_equal(sbuf_printf(&b, "%d", 1), -1);
    assert_int_equal(sbuf_append(&b, "h", 1), -1);
    assert_int_equal(b.len, 3); /* nothing appended after the failure */
    assert_string_equal(sbuf_str(&b), "abc");
    assert_null(sbuf_take(&b, NULL)); /* incomplete: no content, memory freed */
    assert_null(b.s);
    assert_false(b.oom);
    /* clear forgets the failure */
    sbuf_puts(&b, "x");
    assert_int_equal(sbuf_append(&b, "y", (size_t)-1 - 1), -1);
    assert_true(b.oom);
    sbuf_clear(&b);
    assert_false(b.oom);
    assert_int_equal(sbuf_puts(&b, "ok"), 0);
    assert_string_equal(sbuf_str(&b), "ok");
    sbuf_free(&b);
}

/* ---- vec ---- */

static void test_vec_growth(void **state)
{
    (void)state;
    int32_t *v = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(vec_reserve((void **)&v, &cap, 0, sizeof *v), 0);
    assert_null(v); /* nothing needed, nothing allocated */
    for (int32_t i = 0; i < 10000; i++) {
        size_t old = cap;
        assert_int_equal(vec_reserve((void **)&v, &cap, n + 1, sizeof *v), 0);
        assert_true(cap >= n + 1);
        if (old && cap != old)
            assert_int_equal(cap, old * 2);
        v[n++] = i;
    }
    for (int32_t i = 0; i < 10000; i++)
        assert_int_equal(v[i], i);
    size_t c = cap;
    assert_int_equal(vec_reserve((void **)&v, &cap, 5, sizeof *v), 0); /* already room */
    assert_int_equal(cap, c);
    assert_int_equal(vec_reserve((void **)&v, &cap, 100000, sizeof *v), 0); /* a jump */
    assert_true(cap >= 100000);
    assert_int_equal(v[9999], 9999);
    free(v);
}

static void test_vec_overflow(void **state)
{
    (void)state;
    double *v = NULL;
    size_t cap = 0;
    assert_int_equal(vec_reserve((void **)&v, &cap, 3, sizeof *v), 0);
    v[0] = 1.5;
    double *keep = v;
    /* count * size overflows size_t */
    assert_int_equal(vec_reserve((void **)&v, &cap, SIZE_MAX / 4, sizeof *v), -1);
    assert_ptr_equal(v, keep);
    assert_int_equal(cap, 8);
    /* the doubling itself overflows */
    assert_int_equal(vec_reserve((void **)&v, &cap, SIZE_MAX, 1), -1);
    assert_ptr_equal(v, keep);
    assert_int_equal(cap, 8);
    assert_true(v[0] == 1.5);
    free(v);
}

/* ---- err ---- */

static int fail_with(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = err_vset(err, err_size, fmt, ap);
    va_end(ap);
    return rc;
}

static void test_err_set(void **state)
{
    (void)state;
    char err[64] = "";
    assert_int_equal(err_set(err, sizeof err, "bad %s at %d", "token", 7), -1);
    assert_string_equal(err, "bad token at 7");
    char small[6];
    assert_int_equal(err_set(small, sizeof small, "%s", "truncated message"), -1);
    assert_string_equal(small, "trunc");
    assert_int_equal(err_set(NULL, 0, "ignored %d", 1), -1);
    char untouched[4] = "abc";
    assert_int_equal(err_set(untouched, 0, "no room"), -1);
    assert_string_equal(untouched, "abc");
    assert_int_equal(fail_with(err, sizeof err, "v%s", "set"), -1);
    assert_string_equal(err, "vset");
}

/* ---- file ---- */

static char *temp_file(const void *data, size_t n)
{
    char *path = strdup("/tmp/cllm_test_base_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (n)
        assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_file_read_good(void **state)
{
    (void)state;
    char data[70000]; /* more than one read chunk */
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7 + 1);
    char *path = temp_file(data, sizeof data);
    char err[256] = "";
    size_t len = 0;
    char *s = file_read(path, 0, &len, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(len, sizeof data);
    assert_memory_equal(s, data, sizeof data);
    assert_int_equal(s[len], '\0');
    free(s);
    /* exactly max_bytes is allowed; len may be NULL */
    s = file_read(path, sizeof data, NULL, err, sizeof err);
    assert_non_null(s);
    free(s);
    unlink(path);
    free(path);
}

static void test_file_read_empty(void **state)
{
    (void)state;
    char *path = temp_file(NULL, 0);
    char err[256] = "";
    size_t len = 99;
    char *s = file_read(path, 10, &len, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_string_equal(s, "");
    free(s);
    unlink(path);
    free(path);
}

static void test_file_read_missing(void **state)
{
    (void)state;
    char err[256] = "";
    size_t len = 5;
    const char *path = "/tmp/cllm_test_base_does/not/exist.txt";
    assert_null(file_read(path, 0, &len, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
    assert_null(file_read(path, 0, NULL, NULL, 0)); /* no message buffer */
}

static void test_file_read_too_large(void **state)
{
    (void)state;
    char *path = temp_file("0123456789", 10);
    char err[256] = "";
    assert_null(file_read(path, 9, NULL, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "larger than 9 bytes"));
    unlink(path);
    free(path);
}

/* ---- clock ---- */

static void test_clock_monotonic(void **state)
{
    (void)state;
    double prev = clock_ms();
    assert_true(prev >= 0.0);
    for (int i = 0; i < 100000; i++) {
        double now = clock_ms();
        assert_true(now >= prev);
        prev = now;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sbuf_append),
        cmocka_unit_test(test_sbuf_printf),
        cmocka_unit_test(test_sbuf_growth),
        cmocka_unit_test(test_sbuf_truncate_clear),
        cmocka_unit_test(test_sbuf_take),
        cmocka_unit_test(test_sbuf_oom_sticky),
        cmocka_unit_test(test_vec_growth),
        cmocka_unit_test(test_vec_overflow),
        cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_file_read_good),
        cmocka_unit_test(test_file_read_empty),
        cmocka_unit_test(test_file_read_missing),
        cmocka_unit_test(test_file_read_too_large),
        cmocka_unit_test(test_clock_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
