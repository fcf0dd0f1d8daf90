/*
 * gguf_writer.c - building GGUF version 3 files (see gguf_writer.h).
 *
 * Metadata is serialized as it is added into a growable byte buffer; tensors
 * are recorded (name, shape, type, data pointer) and laid out when the file is
 * produced: header, metadata, tensor infos, padding to the alignment, then
 * each tensor's data padded to the alignment.
 */
#include "gguf/gguf_writer.h"
#include "base/vec.h"
#include "base/err.h"
#include "base/sbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pending_tensor {
    char *name;
    enum tensor_type type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t nbytes;
    const void *data;
};

struct gguf_writer {
    struct sbuf kv;
    uint64_t n_kv;
    uint32_t alignment;
    struct pending_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

static int put_u32(struct sbuf *b, uint32_t v) { return sbuf_append(b, &v, 4); }
static int put_u64(struct sbuf *b, uint64_t v) { return sbuf_append(b, &v, 8); }

static int put_str(struct sbuf *b, const char *s)
{
    size_t len = strlen(s);
    return put_u64(b, len) != 0 || sbuf_append(b, s, len) != 0 ? -1 : 0;
}

struct gguf_writer *gguf_writer_new(void)
{
    struct gguf_writer *w = calloc(1, sizeof(*w));
    if (w)
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    sbuf_free(&w->kv);
    free(w);
}

/* Append key + type + value bytes; on failure the buffer is rolled back. */
static int add_scalar(struct gguf_writer *w, const char *key, enum gguf_type t, const void *v)
{
    size_t mark = w->kv.len;
    if (key == NULL || *key == '\0' || put_str(&w->kv, key) != 0 || put_u32(&w->kv, t) != 0 ||
        sbuf_append(&w->kv, v, gguf_type_size(t)) != 0) {
        sbuf_truncate(&w->kv, mark);
        return -1;
    }
    w->n_kv++;
    return 0;
}

#define ADD_SCALAR(fn, ctype, gt) \
    int fn(struct gguf_writer *w, const char *key, ctype v) { return add_scalar(w, key, gt, &v); }
ADD_SCALAR(gguf_writer_add_u8, uint8_t, GGUF_TYPE_UINT8)
ADD_SCALAR(gguf_writer_add_i8, int8_t, GGUF_TYPE_INT8)
ADD_SCALAR(gguf_writer_add_u16, uint16_t, GGUF_TYPE_UINT16)
ADD_SCALAR(gguf_writer_add_i16, int16_t, GGUF_TYPE_INT16)
ADD_SCALAR(gguf_writer_add_u32, uint32_t, GGUF_TYPE_UINT32)
ADD_SCALAR(gguf_writer_add_i32, int32_t, GGUF_TYPE_INT32)
ADD_SCALAR(gguf_writer_add_u64, uint64_t, GGUF_TYPE_UINT64)
ADD_SCALAR(gguf_writer_add_i64, int64_t, GGUF_TYPE_INT64)
ADD_SCALAR(gguf_writer_add_f32, float, GGUF_TYPE_FLOAT32)
ADD_SCALAR(gguf_writer_add_f64, double, GGUF_TYPE_FLOAT64)

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    return add_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment)
{
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return -1;
    if (gguf_writer_add_u32(w, "general.alignment", alignment) != 0)
        return -1;
    w->alignment = alignment;
    return 0;
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v)
{
    size_t mark = w->kv.len;
    if (key == NULL || *key == '\0' || v == NULL || put_str(&w->kv, key) != 0 ||
        put_u32(&w->kv, GGUF_TYPE_STRING) != 0 || put_str(&w->kv, v) != 0) {
        sbuf_truncate(&w->kv, mark);
        return -1;
    }
    w->n_kv++;
    return 0;
}

int gguf_writer_add_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type,
                        const void *data, uint64_t n)
{
    size_t es = gguf_type_size(elem_type);
    size_t mark = w->kv.len;
    if (key == NULL || *key == '\0' || es == 0 || (n > 0 && data == NULL) || n > SIZE_MAX / es)
        return -1;
    if (put_str(&w->kv, key) != 0 || put_u32(&w->kv, GGUF_TYPE_ARRAY) != 0 ||
        put_u32(&w->kv, elem_type) != 0 || put_u64(&w->kv, n) != 0 ||
        sbuf_append(&w->kv, data, (size_t)n * es) != 0) {
        sbuf_truncate(&w->kv, mark);
        return -1;
    }
    w->n_kv++;
    return 0;
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    size_t mark = w->kv.len;
    if (key == NULL || *key == '\0' || (n > 0 && v == NULL))
        return -1;
    int rc = put_str(&w->kv, key) | put_u32(&w->kv, GGUF_TYPE_ARRAY) |
             put_u32(&w->kv, GGUF_TYPE_STRING) | put_u64(&w->kv, n);
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        rc = v[i] ? put_str(&w->kv, v[i]) : -1;
    if (rc != 0) {
        sbuf_truncate(&w->kv, mark);
        return -1;
    }
    w->n_kv++;
    return 0;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum tensor_type type,
                           uint32_t n_dims, const int64_t *ne, const void *data)
{
    if (name == NULL || *name == '\0' || n_dims < 1 || n_dims > GGUF_MAX_DIMS || ne == NULL)
        return -1;
    struct pending_tensor t = { .type = type, .n_dims = n_dims, .data = data };
    size_t rows = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0 || (d > 0 && __builtin_mul_overflow(rows, (size_t)t.ne[d], &rows)))
            return -1;
    }
    size_t row = tensor_type_row_size(type, t.ne[0]);
    if ((row == 0 && t.ne[0] != 0) || __builtin_mul_overflow(row, rows, &t.nbytes))
        return -1;
    if (t.nbytes > 0 && data == NULL)
        return -1;
    if (vec_reserve((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1, sizeof *w->tensors) != 0)
        return -1;
    t.name = strdup(name);
    if (t.name == NULL)
        return -1;
    w->tensors[w->n_tensors++] = t;
    return 0;
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

static int pad_to(struct sbuf *b, size_t a)
{
    static const uint8_t zeros[64];
    size_t target = align_up(b->len, a);
    while (b->len < target) {
        size_t k = target - b->len < sizeof(zeros) ? target - b->len : sizeof(zeros);
        if (sbuf_append(b, zeros, k) != 0)
            return -1;
    }
    return 0;
}

int gguf_writer_to_memory(const struct gguf_writer *w, uint8_t **out, size_t *size)
{
    struct sbuf b = SBUF_INIT;
    int rc = sbuf_append(&b, GGUF_MAGIC, 4) | put_u32(&b, 3) | put_u64(&b, w->n_tensors) |
             put_u64(&b, w->n_kv) | sbuf_append(&b, w->kv.s, w->kv.len);
    size_t offset = 0;
    for (size_t i = 0; rc == 0 && i < w->n_tensors; i++) {
        const struct pending_tensor *t = &w->tensors[i];
        rc = put_str(&b, t->name) | put_u32(&b, t->n_dims);
        for (uint32_t d = 0; rc == 0 && d < t->n_dims; d++)
            rc = put_u64(&b, (uint64_t)t->ne[d]);
        rc |= put_u32(&b, t->type) | put_u64(&b, offset);
        offset = align_up(offset + t->nbytes, w->alignment);
    }
    if (rc == 0 && w->n_tensors > 0)
        rc = pad_to(&b, w->alignment);
    for (size_t i = 0; rc == 0 && i < w->n_tensors; i++)
        rc = sbuf_append(&b, w->tensors[i].data, w->tensors[i].nbytes) | pad_to(&b, w->alignment);
    if (rc != 0) {
        sbuf_free(&b);
        return -1;
    }
    *out = (uint8_t *)sbuf_take(&b, size);
    return *out ? 0 : -1;
}

int gguf_writer_write_file(const struct gguf_writer *w, const char *path, char *err, size_t err_size)
{
    uint8_t *buf;
    size_t size;
    if (gguf_writer_to_memory(w, &buf, &size) != 0) {
        return err_set(err, err_size, "%s: out of memory building the file", path);
    }
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (f == NULL || fwrite(buf, 1, size, f) != size)
        rc = -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        err_set(err, err_size, "%s: cannot write: %s", path, strerror(errno));
    free(buf);
    return rc;
}
