/*
 * gguf.h - reading GGUF files (versions 2 and 3).
 *
 * gguf_open() maps the file (or reads it, with GGUF_OPEN_NO_MMAP), checks
 * every count, length, dimension and offset against the file size before it
 * is used, and builds an index of the metadata and tensors. Nothing in the
 * file is trusted: a bad file gives NULL and a message naming the file, the
 * field and what is wrong.
 *
 * Keys and tensor names are NUL-terminated copies owned by the context.
 * String values point into the file's bytes (ptr + length, no NUL).
 * Everything returned lives until gguf_close().
 */
#ifndef CLLM_GGUF_H
#define CLLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

/* Results of the typed getters. */
enum gguf_status {
    GGUF_OK = 0,
    GGUF_NOT_FOUND = -1,  /* no such key */
    GGUF_WRONG_TYPE = -2, /* the key holds another type, or a value that does not fit */
    GGUF_OUT_OF_RANGE = -3 /* array index past the end */
};

enum gguf_open_flags {
    GGUF_OPEN_NO_MMAP = 1 << 0, /* read the file into memory instead of mapping it */
    GGUF_OPEN_MLOCK = 1 << 1    /* lock the model's pages in RAM */
};

struct gguf_tensor {
    const char *name;          /* NUL-terminated */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, ne[0] fastest; unused dims are 1 */
    enum tensor_type type;
    uint64_t offset;           /* from the start of the data section */
    size_t nbytes;
    const void *data;          /* into the mapped file */
};

struct gguf_ctx;

/* Open a file. On failure returns NULL and writes "PATH: what is wrong" into err. */
struct gguf_ctx *gguf_open(const char *path, unsigned flags, char *err, size_t err_size);
/* Parse a GGUF image held in memory (not copied: it must outlive the context). */
struct gguf_ctx *gguf_open_memory(const void *data, size_t size, const char *name,
                                  char *err, size_t err_size);
void gguf_close(struct gguf_ctx *ctx);

uint32_t gguf_version(const struct gguf_ctx *ctx);
uint32_t gguf_alignment(const struct gguf_ctx *ctx);
size_t gguf_data_offset(const struct gguf_ctx *ctx); /* start of the tensor data in the file */
size_t gguf_file_size(const struct gguf_ctx *ctx);
const char *gguf_name(const struct gguf_ctx *ctx);   /* the path or name it was opened with */

/* ---- metadata, by index ---- */
int64_t gguf_n_kv(const struct gguf_ctx *ctx);
int64_t gguf_find_key(const struct gguf_ctx *ctx, const char *key); /* -1 if absent */
const char *gguf_kv_key(const struct gguf_ctx *ctx, int64_t kv);
enum gguf_type gguf_kv_type(const struct gguf_ctx *ctx, int64_t kv);
enum gguf_type gguf_arr_type(const struct gguf_ctx *ctx, int64_t kv); /* element type of an array */
uint64_t gguf_arr_n(const struct gguf_ctx *ctx, int64_t kv);          /* 0 for non-arrays */
/* Raw element bytes of a numeric array (little-endian, possibly unaligned). */
const void *gguf_arr_data(const struct gguf_ctx *ctx, int64_t kv);
/* Element i of an array, converted like the typed getters below. */
int gguf_arr_get_str(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, const char **s, size_t *len);
int gguf_arr_get_i64(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, int64_t *v);
int gguf_arr_get_f32(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, float *v);

/* ---- metadata, by key ----
 * Integer getters accept any integer type whose value fits the target;
 * float getters accept FLOAT32 and FLOAT64; bool only BOOL; str only STRING.
 * On anything else they return GGUF_WRONG_TYPE and leave *v untouched. */
int gguf_get_u32(const struct gguf_ctx *ctx, const char *key, uint32_t *v);
int gguf_get_i32(const struct gguf_ctx *ctx, const char *key, int32_t *v);
int gguf_get_u64(const struct gguf_ctx *ctx, const char *key, uint64_t *v);
int gguf_get_i64(const struct gguf_ctx *ctx, const char *key, int64_t *v);
int gguf_get_f32(const struct gguf_ctx *ctx, const char *key, float *v);
int gguf_get_f64(const struct gguf_ctx *ctx, const char *key, double *v);
int gguf_get_bool(const struct gguf_ctx *ctx, const char *key, bool *v);
int gguf_get_str(const struct gguf_ctx *ctx, const char *key, const char **s, size_t *len);
/* An array under key: its element type and count (GGUF_WRONG_TYPE if not an array). */
int gguf_get_arr(const struct gguf_ctx *ctx, const char *key, enum gguf_type *elem_type,
                 uint64_t *n, int64_t *kv);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const struct gguf_ctx *ctx);
const struct gguf_tensor *gguf_tensor(const struct gguf_ctx *ctx, int64_t i);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_ctx *ctx, const char *name);
int64_t gguf_tensor_nelements(const struct gguf_tensor *t);

const char *gguf_type_name(enum gguf_type type);
/* Bytes of one value of a scalar type (0 for STRING, ARRAY or a bad id). */
size_t gguf_type_size(enum gguf_type type);
const char *gguf_status_str(int status);

#endif
