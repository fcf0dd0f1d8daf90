/*
 * err.h - the one error convention: a function that can fail takes
 * (char *err, size_t err_size) last and, on failure, writes a message that
 * names what was wrong and returns -1 (or NULL). err_set writes it.
 */
#ifndef CLLM_BASE_ERR_H
#define CLLM_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* printf into err (when err and err_size are non-zero); returns -1 so that
 * `return err_set(err, err_size, "...", ...);` ends a failing function. */
int err_set(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int err_vset(char *err, size_t err_size, const char *fmt, va_list ap);

#endif
