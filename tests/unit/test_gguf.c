/*
 * test_gguf.c - the GGUF reader and writer: round trips of every metadata
 * type and of tensors, and the failure paths: a file truncated at every byte,
 * bad magic and versions, unknown types, overflowing dimensions, offsets past
 * the end or misaligned, duplicates, strings longer than the file. Every bad
 * file must give an error naming the problem, never a crash (run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

/* ------------------------------------------------------------ byte builder */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void b_put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_u32(struct buf *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(struct buf *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(struct buf *b, const char *s)
{
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_header(struct buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b_put(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(struct buf *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, GGUF_TYPE_UINT32);
    b_u32(b, v);
}
/* A tensor info with n_dims dims. */
static void b_tensor(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                     uint32_t type, uint64_t offset)
{
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        b_u64(b, ne[i]);
    b_u32(b, type);
    b_u64(b, offset);
}
static void b_pad(struct buf *b, size_t a)
{
    while (b->n % a)
        b_put(b, "", 1);
}
static void b_zeros(struct buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b_put(b, "", 1);
}

static char last_err[512];

/* Parse an exact-size copy (so ASan sees any over-read); NULL if it parsed. */
static const char *parse_error(const uint8_t *data, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, data, n);
    last_err[0] = '\0';
    struct gguf_ctx *ctx = gguf_open_memory(copy, n, "test.gguf", last_err, sizeof(last_err));
    const char *res = NULL;
    if (ctx == NULL) {
        res = last_err;
        assert_true(strlen(last_err) > 0);
        assert_non_null(strstr(last_err, "test.gguf: "));
    }
    gguf_close(ctx);
    free(copy);
    return res;
}

static void expect_error(struct buf *b, const char *needle)
{
    const char *e = parse_error(b->p, b->n);
    if (e == NULL)
        fail_msg("expected an error containing '%s', file parsed", needle);
    if (strstr(e, needle) == NULL)
        fail_msg("error '%s' does not contain '%s'", e, needle);
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------ a valid file */

static const float tensor_f32[6] = { 1, 2, 3, 4, 5, 6 };
static uint8_t tensor_q8[2 * 34];

static struct gguf_writer *make_writer(void)
{
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    assert_int_equal(gguf_writer_add_u8(w, "t.u8", 200), 0);
    assert_int_equal(gguf_writer_add_i8(w, "t.i8", -100), 0);
    assert_int_equal(gguf_writer_add_u16(w, "t.u16", 60000), 0);
    assert_int_equal(gguf_writer_add_i16(w, "t.i16", -30000), 0);
    assert_int_equal(gguf_writer_add_u32(w, "t.u32", 4000000000u), 0);
    assert_int_equal(gguf_writer_add_i32(w, "t.i32", -5), 0);
    assert_int_equal(gguf_writer_add_u64(w, "t.u64", UINT64_MAX), 0);
    assert_int_equal(gguf_writer_add_i64(w, "t.i64", INT64_MIN), 0);
    assert_int_equal(gguf_writer_add_f32(w, "t.f32", 1.5f), 0);
    assert_int_equal(gguf_writer_add_f64(w, "t.f64", 0.1), 0);
    assert_int_equal(gguf_writer_add_bool(w, "t.bool", true), 0);
    const char *strs[] = { "<s>", "", "héllo", "\xe2\x96\x81the" };
    assert_int_equal(gguf_writer_add_arr_str(w, "t.strs", strs, 4), 0);
    const float fl[] = { -1.0f, 0.5f, 3.25f };
    assert_int_equal(gguf_writer_add_arr(w, "t.floats", GGUF_TYPE_FLOAT32, fl, 3), 0);
    const int32_t in[] = { 1, -2, 3 };
    assert_int_equal(gguf_writer_add_arr(w, "t.ints", GGUF_TYPE_INT32, in, 3), 0);
    assert_int_equal(gguf_writer_add_arr(w, "t.empty", GGUF_TYPE_UINT8, NULL, 0), 0);
    for (size_t i = 0; i < sizeof(tensor_q8); i++)
        tensor_q8[i] = (uint8_t)(i * 7);
    tensor_q8[0] = 0x00; tensor_q8[1] = 0x3c; /* d = 1.0 */
    tensor_q8[34] = 0x00; tensor_q8[35] = 0x3c;
    const int64_t ne_f32[2] = { 3, 2 }, ne_q8[1] = { 64 };
    assert_int_equal(gguf_writer_add_tensor(w, "a.weight", TYPE_F32, 2, ne_f32, tensor_f32), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "b.weight", TYPE_Q8_0, 1, ne_q8, tensor_q8), 0);
    return w;
}

static void make_valid(uint8_t **data, size_t *size)
{
    struct gguf_writer *w = make_writer();
    assert_int_equal(gguf_writer_to_memory(w, data, size), 0);
    gguf_writer_free(w);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t *data;
    size_t size;
    make_valid(&data, &size);
    char err[256];
    struct gguf_ctx *ctx = gguf_open_memory(data, size, "rt.gguf", err, sizeof(err));
    assert_non_null(ctx);
    assert_int_equal(gguf_version(ctx), 3);
    assert_int_equal(gguf_alignment(ctx), 32);
    assert_int_equal(gguf_n_kv(ctx), 16);

    const char *s;
    size_t len;
    assert_int_equal(gguf_get_str(ctx, "general.architecture", &s, &len), GGUF_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f;
    double d;
    bool b;
    assert_int_equal(gguf_get_u32(ctx, "t.u8", &u32), GGUF_OK);
    assert_int_equal(u32, 200);
    assert_int_equal(gguf_get_i32(ctx, "t.i8", &i32), GGUF_OK);
    assert_int_equal(i32, -100);
    assert_int_equal(gguf_get_u32(ctx, "t.u16", &u32), GGUF_OK);
    assert_int_equal(u32, 60000);
    assert_int_equal(gguf_get_i32(ctx, "t.i16", &i32), GGUF_OK);
    assert_int_equal(i32, -30000);
    assert_int_equal(gguf_get_u32(ctx, "t.u32", &u32), GGUF_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_u64(ctx, "t.u64", &u64), GGUF_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(gguf_get_i64(ctx, "t.i64", &i64), GGUF_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(gguf_get_f32(ctx, "t.f32", &f), GGUF_OK);
    assert_true(f == 1.5f);
    assert_int_equal(gguf_get_f64(ctx, "t.f64", &d), GGUF_OK);
    assert_true(d == 0.1);
    assert_int_equal(gguf_get_bool(ctx, "t.bool", &b), GGUF_OK);
    assert_true(b);

    /* wrong types and values that do not fit */
    assert_int_equal(gguf_get_u32(ctx, "t.i32", &u32), GGUF_WRONG_TYPE); /* -5 */
    assert_int_equal(gguf_get_i32(ctx, "t.u32", &i32), GGUF_WRONG_TYPE); /* 4e9 */
    assert_int_equal(gguf_get_i64(ctx, "t.u64", &i64), GGUF_WRONG_TYPE);
    assert_int_equal(gguf_get_u32(ctx, "general.architecture", &u32), GGUF_WRONG_TYPE);
    assert_int_equal(gguf_get_str(ctx, "t.u32", &s, &len), GGUF_WRONG_TYPE);
    assert_int_equal(gguf_get_bool(ctx, "t.u8", &b), GGUF_WRONG_TYPE);
    assert_int_equal(gguf_get_f32(ctx, "t.i32", &f), GGUF_WRONG_TYPE);
    assert_int_equal(gguf_get_u32(ctx, "t.strs", &u32), GGUF_WRONG_TYPE);
    assert_int_equal(gguf_get_u32(ctx, "missing", &u32), GGUF_NOT_FOUND);
    assert_int_equal(u32, 4000000000u); /* untouched on error */

    enum gguf_type et;
    uint64_t n;
    int64_t kv;
    assert_int_equal(gguf_get_arr(ctx, "t.strs", &et, &n, &kv), GGUF_OK);
    assert_int_equal(et, GGUF_TYPE_STRING);
    assert_int_equal(n, 4);
    assert_int_equal(gguf_arr_get_str(ctx, kv, 2, &s, &len), GGUF_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "héllo", 6);
    assert_int_equal(gguf_arr_get_str(ctx, kv, 1, &s, &len), GGUF_OK);
    assert_int_equal(len, 0);
    assert_int_equal(gguf_arr_get_str(ctx, kv, 4, &s, &len), GGUF_OUT_OF_RANGE);
    assert_int_equal(gguf_arr_get_f32(ctx, kv, 0, &f), GGUF_WRONG_TYPE);
    assert_null(gguf_arr_data(ctx, kv));
    assert_int_equal(gguf_get_arr(ctx, "t.floats", &et, &n, &kv), GGUF_OK);
    assert_int_equal(gguf_arr_get_f32(ctx, kv, 2, &f), GGUF_OK);
    assert_true(f == 3.25f);
    assert_int_equal(gguf_get_arr(ctx, "t.ints", &et, &n, &kv), GGUF_OK);
    assert_int_equal(gguf_arr_get_i64(ctx, kv, 1, &i64), GGUF_OK);
    assert_int_equal(i64, -2);
    assert_int_equal(gguf_get_arr(ctx, "t.empty", &et, &n, &kv), GGUF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(gguf_get_arr(ctx, "t.u8", &et, &n, &kv), GGUF_WRONG_TYPE);

    assert_int_equal(gguf_n_tensors(ctx), 2);
    const struct gguf_tensor *t = gguf_find_tensor(ctx, "a.weight");
    assert_non_null(t);
    assert_int_equal(t->type, TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 3);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->nbytes, 24);
    assert_memory_equal(t->data, tensor_f32, 24);
    assert_int_equal(((const uint8_t *)t->data - data) % 32, 0);
    t = gguf_find_tensor(ctx, "b.weight");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 68);
    assert_int_equal(gguf_tensor_nelements(t), 64);
    assert_memory_equal(t->data, tensor_q8, 68);
    assert_null(gguf_find_tensor(ctx, "c.weight"));
    assert_null(gguf_tensor(ctx, 2));
    gguf_close(ctx);
    free(data);
}

static void test_alignment(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_alignment(w, 3), -1);
    assert_int_equal(gguf_writer_set_alignment(w, 256), 0);
    const int64_t ne[1] = { 6 };
    assert_int_equal(gguf_writer_add_tensor(w, "x", TYPE_F32, 1, ne, tensor_f32), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "y", TYPE_F32, 1, ne, tensor_f32), 0);
    const int64_t bad[1] = { 33 };
    assert_int_equal(gguf_writer_add_tensor(w, "z", TYPE_Q4_0, 1, bad, tensor_q8), -1);
    uint8_t *data;
    size_t size;
    assert_int_equal(gguf_writer_to_memory(w, &data, &size), 0);
    char err[256];
    struct gguf_ctx *ctx = gguf_open_memory(data, size, "a.gguf", err, sizeof(err));
    assert_non_null(ctx);
    assert_int_equal(gguf_alignment(ctx), 256);
    assert_int_equal(gguf_data_offset(ctx) % 256, 0);
    assert_int_equal(gguf_find_tensor(ctx, "y")->offset, 256);
    gguf_close(ctx);
    free(data);
    gguf_writer_free(w);
}

/* Every prefix shorter than the end of the last tensor's data must fail cleanly. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    uint8_t *data;
    size_t size;
    make_valid(&data, &size);
    char err[256];
    struct gguf_ctx *ctx = gguf_open_memory(data, size, "t.gguf", err, sizeof(err));
    assert_non_null(ctx);
    const struct gguf_tensor *last = gguf_find_tensor(ctx, "b.weight");
    size_t end = (size_t)((const uint8_t *)last->data - data) + last->nbytes;
    gguf_close(ctx);
    for (size_t n = 0; n < end; n++) {
        if (parse_error(data, n) == NULL)
            fail_msg("prefix of %zu bytes (of %zu) parsed", n, size);
    }
    assert_null(parse_error(data, end));
    free(data);
}

static void test_bad_header(void **state)
{
    (void)state;
    struct buf b = { 0 };
    b_put(&b, "GGUX", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 0);
    expect_error(&b, "bad magic");
    b_header(&b, 1, 0, 0);
    expect_error(&b, "version 1 is not supported");
    b_header(&b, 4, 0, 0);
    expect_error(&b, "unknown GGUF version 4");
    b_header(&b, 0x03000000u, 0, 0);
    expect_error(&b, "big-endian");
    b_put(&b, "GGUF", 4);
    expect_error(&b, "too small");
    b_header(&b, 3, 0, UINT64_MAX);
    expect_error(&b, "metadata count");
    b_header(&b, 3, UINT64_MAX / 2, 0);
    expect_error(&b, "tensor count");
    /* version 2 with nothing in it is valid */
    b_header(&b, 2, 0, 0);
    assert_null(parse_error(b.p, b.n));
    free(b.p);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    struct buf b = { 0 };
    /* a string length larger than the file */
    b_header(&b, 3, 0, 1); b_u64(&b, 1u << 30); b_put(&b, "abc", 3); b_zeros(&b, 16);
    expect_error(&b, "longer than the rest of the file");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_STRING); b_u64(&b, UINT64_MAX);
    b_zeros(&b, 8);
    expect_error(&b, "longer than the rest of the file");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, 99); b_u32(&b, 0);
    expect_error(&b, "unknown value type 99");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_ARRAY); b_u64(&b, 1); b_zeros(&b, 16);
    expect_error(&b, "arrays of arrays");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, 77); b_u64(&b, 1); b_zeros(&b, 16);
    expect_error(&b, "unknown array element type 77");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_UINT64); b_u64(&b, UINT64_MAX / 4); b_zeros(&b, 16);
    expect_error(&b, "longer than the rest of the file");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_STRING); b_u64(&b, 3); b_str(&b, "a"); b_u64(&b, 1000); b_zeros(&b, 8);
    expect_error(&b, "longer than the rest of the file");
    b_header(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_BOOL); b_put(&b, "\x02", 1);
    expect_error(&b, "neither 0 nor 1");
    b_header(&b, 3, 0, 2); b_kv_u32(&b, "dup", 1); b_kv_u32(&b, "dup", 2);
    expect_error(&b, "duplicate metadata key 'dup'");
    b_header(&b, 3, 0, 1); b_kv_u32(&b, "", 1);
    expect_error(&b, "empty");
    b_header(&b, 3, 0, 1); b_u64(&b, 3); b_put(&b, "a\0b", 3); b_u32(&b, GGUF_TYPE_UINT32);
    b_u32(&b, 1);
    expect_error(&b, "NUL");
    b_header(&b, 3, 0, 1); b_kv_u32(&b, "general.alignment", 24);
    expect_error(&b, "not a power of two");
    b_header(&b, 3, 0, 1); b_kv_u32(&b, "general.alignment", 0);
    expect_error(&b, "not a power of two");
    b_header(&b, 3, 0, 1); b_str(&b, "general.alignment"); b_u32(&b, GGUF_TYPE_UINT64);
    b_u64(&b, 32);
    expect_error(&b, "expected u32");
}

/* A file with one tensor info and 64 bytes of data. */
static void one_tensor(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset)
{
    b_header(b, 3, 1, 0);
    b_tensor(b, name, n_dims, ne, type, offset);
    b_pad(b, 32);
    b_zeros(b, 64);
}

static void test_bad_tensors(void **state)
{
    (void)state;
    struct buf b = { 0 };
    const uint64_t ne16[1] = { 16 };
    one_tensor(&b, "ok", 1, ne16, TYPE_F32, 0);
    assert_null(parse_error(b.p, b.n));
    free(b.p);
    memset(&b, 0, sizeof(b));

    one_tensor(&b, "t", 1, ne16, 99, 0);
    expect_error(&b, "unknown tensor type 99");
    one_tensor(&b, "t", 1, ne16, 31, 0); /* a retired id */
    expect_error(&b, "unknown tensor type 31");
    const uint64_t ne5[5] = { 1, 1, 1, 1, 1 };
    one_tensor(&b, "t", 5, ne5, TYPE_F32, 0);
    expect_error(&b, "5 dimensions");
    const uint64_t neg[2] = { 16, (uint64_t)-1 };
    one_tensor(&b, "t", 2, neg, TYPE_F32, 0);
    expect_error(&b, "negative");
    const uint64_t big[4] = { 1ull << 32, 1ull << 32, 1ull << 32, 2 };
    one_tensor(&b, "t", 4, big, TYPE_F32, 0);
    expect_error(&b, "element count overflows");
    const uint64_t bytes_ovf[2] = { 1ull << 31, 1ull << 31 };
    one_tensor(&b, "t", 2, bytes_ovf, TYPE_F64, 0);
    expect_error(&b, "byte size overflows");
    const uint64_t ne33[1] = { 33 };
    one_tensor(&b, "t", 1, ne33, TYPE_Q4_0, 0);
    expect_error(&b, "not a multiple of the Q4_0 block size");
    one_tensor(&b, "t", 1, ne16, TYPE_F32, 8);
    expect_error(&b, "not a multiple of the alignment");
    one_tensor(&b, "t", 1, ne16, TYPE_F32, 64);
    expect_error(&b, "past the end of the file");
    const uint64_t ne17[1] = { 17 };
    one_tensor(&b, "t", 1, ne17, TYPE_F32, 0);
    expect_error(&b, "past the end of the file");
    one_tensor(&b, "t", 1, ne16, TYPE_F32, UINT64_MAX - 31);
    expect_error(&b, "past the end of the file");

    b_header(&b, 3, 2, 0);
    b_tensor(&b, "same", 1, ne16, TYPE_F32, 0);
    b_tensor(&b, "same", 1, ne16, TYPE_F32, 64);
    b_pad(&b, 32); b_zeros(&b, 128);
    expect_error(&b, "duplicate tensor name 'same'");

    const uint64_t ne8[1] = { 8 };
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "a", 1, ne16, TYPE_F32, 0);
    b_tensor(&b, "b", 1, ne8, TYPE_F32, 32);
    b_pad(&b, 32); b_zeros(&b, 128);
    expect_error(&b, "overlap");

    /* tensor infos promise data but the file ends before the data section */
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne16, TYPE_F32, 0);
    expect_error(&b, "truncated");
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[512];
    assert_null(gguf_open("/nonexistent/model.gguf", 0, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/model.gguf: cannot open"));
    assert_null(gguf_open("/tmp", 0, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));
    assert_null(gguf_open("/nonexistent", 0, NULL, 0)); /* no error buffer: no crash */

    char path[] = "/tmp/cllm-test-gguf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GGUF", 4), 4);
    close(fd);
    assert_null(gguf_open(path, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "too small"));

    /* a valid file, through both loading paths */
    uint8_t *data;
    size_t size;
    make_valid(&data, &size);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(write(fd, data, size) == (ssize_t)size);
    close(fd);
    for (int flags = 0; flags <= GGUF_OPEN_NO_MMAP; flags += GGUF_OPEN_NO_MMAP) {
        struct gguf_ctx *ctx = gguf_open(path, (unsigned)flags, err, sizeof(err));
        assert_non_null(ctx);
        assert_memory_equal(gguf_find_tensor(ctx, "a.weight")->data, tensor_f32, 24);
        assert_string_equal(gguf_name(ctx), path);
        gguf_close(ctx);
    }
    /* and truncated on disk */
    assert_int_equal(truncate(path, (off_t)size - 70), 0);
    assert_null(gguf_open(path, 0, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "past the end of the file"));
    unlink(path);
    free(data);
}

/* Every .gguf under DIR opens, and every tensor's data lies inside the file. */
static int open_dir(const char *dir, bool need_tensors)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
            continue;
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct gguf_ctx *ctx = gguf_open(path, 0, err, sizeof(err));
        if (ctx == NULL)
            fail_msg("%s", err);
        const char *s;
        size_t n;
        assert_int_equal(gguf_get_str(ctx, "tokenizer.ggml.model", &s, &n), GGUF_OK);
        if (need_tensors)
            assert_true(gguf_n_tensors(ctx) > 0);
        gguf_close(ctx);
        count++;
    }
    closedir(d);
    return count;
}

static void test_real_files(void **state)
{
    (void)state;
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/models", src);
    int models = open_dir(dir, true);
    snprintf(dir, sizeof(dir), "%s/../shared/vocab", src);
    int vocabs = open_dir(dir, false);
    print_message("opened %d models and %d vocab files\n", models, vocabs);
    if (models + vocabs == 0)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_real_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
