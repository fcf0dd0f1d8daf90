/*
 * file.c - reading a whole file (see file.h).
 */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/sbuf.h"

char *file_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct sbuf b = SBUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (max_bytes && b.len + n > max_bytes) {
            err_set(err, err_size, "%s: larger than %zu bytes", path, max_bytes);
            goto fail;
        }
        if (sbuf_append(&b, chunk, n) != 0) {
            err_set(err, err_size, "%s: out of memory", path);
            goto fail;
        }
    }
    if (ferror(f)) {
        err_set(err, err_size, "%s: %s", path, strerror(errno ? errno : EIO));
        goto fail;
    }
    fclose(f);
    char *s = sbuf_take(&b, len);
    if (!s)
        err_set(err, err_size, "%s: out of memory", path);
    return s;
fail:
    fclose(f);
    sbuf_free(&b);
    return NULL;
}
