/*
 * gguf_writer.h - building GGUF files (version 3): metadata of every type and
 * tensors, laid out with the chosen alignment. Used by tests to make synthetic
 * models and by tools that write models.
 *
 * Tensor data is referenced, not copied: it must stay valid until the file is
 * written. Every function returns 0 on success, -1 on a bad argument or
 * allocation failure (nothing is half-added).
 */
#ifndef CLLM_GGUF_WRITER_H
#define CLLM_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

/* Also stores general.alignment (u32). Must be a power of two. */
int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment);

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v);
/* A numeric (or bool) array of n elements of elem_type, read from data. */
int gguf_writer_add_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type,
                        const void *data, uint64_t n);
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);

/* A tensor of n_dims (1..4) dimensions ne[] (ne[0] fastest) holding data of
 * tensor_type_row_size(type, ne[0]) * ne[1] * ... bytes. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum tensor_type type,
                           uint32_t n_dims, const int64_t *ne, const void *data);

/* The whole file in a malloc'ed buffer (caller frees). */
int gguf_writer_to_memory(const struct gguf_writer *w, uint8_t **out, size_t *size);
/* Write the file; on failure fills err with "PATH: what". */
int gguf_writer_write_file(const struct gguf_writer *w, const char *path, char *err, size_t err_size);

#endif
