/*
 * vec.c - growing an array (see vec.h).
 */
#include "base/vec.h"

#include <stdint.h>
#include <stdlib.h>

int vec_reserve(void **v, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap && (*v || need == 0))
        return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (elem_size && c > SIZE_MAX / elem_size)
        return -1;
    void *nv = realloc(*v, c * elem_size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = c;
    return 0;
}
