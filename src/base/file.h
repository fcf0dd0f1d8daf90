/*
 * file.h - reading a whole file into memory, with a message that names the
 * file and the problem when it cannot be read.
 */
#ifndef CLLM_BASE_FILE_H
#define CLLM_BASE_FILE_H

#include <stddef.h>

/* The whole of path, malloc'd and NUL-terminated (the NUL not counted in
 * *len; len may be NULL). max_bytes > 0 refuses larger files. NULL with a
 * message in err ("PATH: No such file or directory", "PATH: larger than N
 * bytes", ...). The caller frees the result. */
char *file_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t err_size);

#endif
