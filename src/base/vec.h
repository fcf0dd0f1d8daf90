/*
 * vec.h - growing an array: the one place where capacity doubling and its
 * overflow checks are written.
 *
 *   int32_t *v = NULL; size_t n = 0, cap = 0;
 *   if (vec_reserve((void **)&v, &cap, n + 1, sizeof *v) != 0) ... out of memory
 *   v[n++] = x;
 *
 * The caller owns the array (free() it).
 */
#ifndef CLLM_BASE_VEC_H
#define CLLM_BASE_VEC_H

#include <stddef.h>

/* Make *v hold at least need elements of elem_size bytes (doubling *cap).
 * Returns 0, or -1 when out of memory or on overflow (*v and *cap as
 * before). */
int vec_reserve(void **v, size_t *cap, size_t need, size_t elem_size);

#endif
