/*
 * err.c - writing an error message (see err.h).
 */
#include "base/err.h"

#include <stdio.h>

int err_vset(char *err, size_t err_size, const char *fmt, va_list ap)
{
    if (err && err_size)
        vsnprintf(err, err_size, fmt, ap);
    return -1;
}

int err_vset_at(char *err, size_t err_size, const char *where, const char *fmt, va_list ap)
{
    if (!err || !err_size)
        return -1;
    int n = where ? snprintf(err, err_size, "%s: ", where) : 0;
    if (n >= 0 && (size_t)n < err_size)
        vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
    return -1;
}

int err_set_at(char *err, size_t err_size, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset_at(err, err_size, where, fmt, ap);
    va_end(ap);
    return -1;
}

int err_set(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}
