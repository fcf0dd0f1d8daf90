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
/* The same after "WHERE: " (the file, model or vocabulary the message is
 * about; where NULL: no prefix). */
int err_set_at(char *err, size_t err_size, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int err_vset_at(char *err, size_t err_size, const char *where, const char *fmt, va_list ap);

#endif
