/*
 * gguf.c - the GGUF reader (see gguf.h).
 *
 * The file is parsed in one pass by a bounds-checked cursor. Every count is
 * checked against the bytes left before anything is allocated for it, every
 * size computation is overflow-checked, and every tensor's data must lie
 * inside the data section, aligned and without overlap. Errors are written
 * as "NAME: what is wrong" into the caller's buffer.
 */
#include "gguf/gguf.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct gguf_kv {
    char *key;
    enum gguf_type type;
    enum gguf_type arr_type; /* element type, for arrays */
    uint64_t n;              /* element count, for arrays */
    size_t off;              /* file offset of the value (of the first element for arrays) */
    size_t *str_offs;        /* string arrays: file offset of each element's length field */
};

struct gguf_ctx {
    char *name;
    const uint8_t *data;
    size_t size;
    void *map;      /* mmap'ed region, or NULL */
    void *owned;    /* malloc'ed copy (no-mmap), or NULL */
    bool locked;
    uint32_t version;
    uint32_t alignment;
    size_t data_offset;
    int64_t n_kv;
    struct gguf_kv *kv;
    int64_t n_tensors;
    struct gguf_tensor *tensors;
    int64_t *kv_index;     /* open-addressing hash of keys -> kv index, -1 empty */
    int64_t *tensor_index; /* same for tensor names */
    size_t kv_index_cap, tensor_index_cap;
};

/* ---------------------------------------------------------------- errors */

struct reader {
    const uint8_t *buf;
    size_t size;
    size_t pos;
    const char *name;
    char *err;
    size_t err_size;
};

static bool fail(struct reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset_at(r->err, r->err_size, r->name, fmt, ap);
    va_end(ap);
    return false;
}

/* ---------------------------------------------------------------- cursor */

static size_t remaining(const struct reader *r) { return r->size - r->pos; }

static bool read_raw(struct reader *r, void *out, size_t n, const char *what)
{
    if (n > remaining(r))
        return fail(r, "file truncated while reading %s (offset %zu, need %zu bytes, %zu left)",
                    what, r->pos, n, remaining(r));
    memcpy(out, r->buf + r->pos, n);
    r->pos += n;
    return true;
}

static bool read_u32(struct reader *r, uint32_t *v, const char *what) { return read_raw(r, v, 4, what); }
static bool read_u64(struct reader *r, uint64_t *v, const char *what) { return read_raw(r, v, 8, what); }

static bool skip(struct reader *r, uint64_t n, const char *what)
{
    if (n > remaining(r))
        return fail(r, "file truncated in %s (offset %zu, need %llu bytes, %zu left)",
                    what, r->pos, (unsigned long long)n, remaining(r));
    r->pos += (size_t)n;
    return true;
}

/* A string: u64 length then bytes. Sets *off to the bytes' offset. */
static bool read_str(struct reader *r, size_t *off, uint64_t *len, const char *what)
{
    if (!read_u64(r, len, what))
        return false;
    if (*len > remaining(r))
        return fail(r, "%s: string length %llu at offset %zu is longer than the rest of the file (%zu bytes)",
                    what, (unsigned long long)*len, r->pos - 8, remaining(r));
    *off = r->pos;
    r->pos += (size_t)*len;
    return true;
}

size_t gguf_type_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(enum gguf_type t)
{
    static const char *names[GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"
    };
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

const char *gguf_status_str(int status)
{
    switch (status) {
    case GGUF_OK: return "ok";
    case GGUF_NOT_FOUND: return "key not found";
    case GGUF_WRONG_TYPE: return "wrong type";
    case GGUF_OUT_OF_RANGE: return "index out of range";
    default: return "unknown status";
    }
}

/* ---------------------------------------------------------------- hashing */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t index_cap_for(int64_t n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    return cap;
}

/* Insert name->i; returns false if the name is already there. */
static bool index_insert(int64_t *tab, size_t cap, const char *name, int64_t i,
                         const char *(*name_of)(const struct gguf_ctx *, int64_t),
                         const struct gguf_ctx *ctx)
{
    size_t h = (size_t)hash_str(name) & (cap - 1);
    while (tab[h] >= 0) {
        if (strcmp(name_of(ctx, tab[h]), name) == 0)
            return false;
        h = (h + 1) & (cap - 1);
    }
    tab[h] = i;
    return true;
}

static int64_t index_find(const int64_t *tab, size_t cap, const char *name,
                          const char *(*name_of)(const struct gguf_ctx *, int64_t),
                          const struct gguf_ctx *ctx)
{
    if (tab == NULL)
        return -1;
    size_t h = (size_t)hash_str(name) & (cap - 1);
    while (tab[h] >= 0) {
        if (strcmp(name_of(ctx, tab[h]), name) == 0)
            return tab[h];
        h = (h + 1) & (cap - 1);
    }
    return -1;
}

static const char *kv_name(const struct gguf_ctx *ctx, int64_t i) { return ctx->kv[i].key; }
static const char *tensor_name(const struct gguf_ctx *ctx, int64_t i) { return ctx->tensors[i].name; }

static int64_t *index_new(size_t cap)
{
    int64_t *tab = malloc(cap * sizeof(*tab));
    if (tab)
        memset(tab, 0xff, cap * sizeof(*tab)); /* all -1 */
    return tab;
}

/* Copy a name from the file into a NUL-terminated string; names may not hold NUL. */
static char *copy_name(struct reader *r, size_t off, uint64_t len, const char *what)
{
    if (len == 0) {
        fail(r, "%s at offset %zu is empty", what, off);
        return NULL;
    }
    if (memchr(r->buf + off, 0, (size_t)len) != NULL) {
        fail(r, "%s at offset %zu contains a NUL byte", what, off);
        return NULL;
    }
    char *s = malloc((size_t)len + 1);
    if (s == NULL) {
        fail(r, "out of memory reading %s", what);
        return NULL;
    }
    memcpy(s, r->buf + off, (size_t)len);
    s[len] = '\0';
    return s;
}

/* ---------------------------------------------------------------- metadata */

static bool parse_array(struct reader *r, struct gguf_kv *kv)
{
    uint32_t at = 0;
    uint64_t n = 0;
    if (!read_u32(r, &at, "array element type") || !read_u64(r, &n, "array length"))
        return false;
    if (at == GGUF_TYPE_ARRAY)
        return fail(r, "key '%s': arrays of arrays are not supported", kv->key);
    if (at >= GGUF_TYPE_COUNT)
        return fail(r, "key '%s': unknown array element type %u", kv->key, at);
    kv->arr_type = (enum gguf_type)at;
    kv->n = n;
    kv->off = r->pos;
    if (at != GGUF_TYPE_STRING) {
        size_t es = gguf_type_size(kv->arr_type);
        if (n > remaining(r) / es)
            return fail(r, "key '%s': array of %llu %s elements is longer than the rest of the file",
                        kv->key, (unsigned long long)n, gguf_type_name(kv->arr_type));
        r->pos += (size_t)n * es;
        return true;
    }
    if (n > remaining(r) / 8)
        return fail(r, "key '%s': array of %llu strings is longer than the rest of the file",
                    kv->key, (unsigned long long)n);
    kv->str_offs = malloc((n ? (size_t)n : 1) * sizeof(size_t));
    if (kv->str_offs == NULL)
        return fail(r, "key '%s': out of memory for %llu strings", kv->key, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        size_t off;
        uint64_t len = 0;
        kv->str_offs[i] = r->pos;
        if (!read_str(r, &off, &len, kv->key))
            return false;
    }
    return true;
}

static bool parse_value(struct reader *r, struct gguf_kv *kv, uint32_t type)
{
    if (type >= GGUF_TYPE_COUNT)
        return fail(r, "key '%s': unknown value type %u", kv->key, type);
    kv->type = (enum gguf_type)type;
    if (type == GGUF_TYPE_ARRAY)
        return parse_array(r, kv);
    kv->off = r->pos;
    if (type == GGUF_TYPE_STRING) {
        size_t off;
        uint64_t len = 0;
        return read_str(r, &off, &len, kv->key);
    }
    if (!skip(r, gguf_type_size(kv->type), kv->key))
        return false;
    if (type == GGUF_TYPE_BOOL && r->buf[kv->off] > 1)
        return fail(r, "key '%s': bool value %u is neither 0 nor 1", kv->key, r->buf[kv->off]);
    return true;
}

static bool parse_kvs(struct reader *r, struct gguf_ctx *ctx, uint64_t n_kv)
{
    /* each key-value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes */
    if (n_kv > remaining(r) / 14)
        return fail(r, "metadata count %llu is larger than the file could hold",
                    (unsigned long long)n_kv);
    ctx->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof(*ctx->kv));
    ctx->kv_index_cap = index_cap_for((int64_t)n_kv);
    ctx->kv_index = index_new(ctx->kv_index_cap);
    if (ctx->kv == NULL || ctx->kv_index == NULL)
        return fail(r, "out of memory for %llu metadata entries", (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        struct gguf_kv *kv = &ctx->kv[i];
        size_t off;
        uint64_t len = 0;
        uint32_t type = 0;
        if (!read_str(r, &off, &len, "metadata key"))
            return false;
        kv->key = copy_name(r, off, len, "metadata key");
        if (kv->key == NULL)
            return false;
        ctx->n_kv = (int64_t)i + 1; /* so that gguf_close frees it */
        if (!index_insert(ctx->kv_index, ctx->kv_index_cap, kv->key, (int64_t)i, kv_name, ctx))
            return fail(r, "duplicate metadata key '%s'", kv->key);
        if (!read_u32(r, &type, kv->key) || !parse_value(r, kv, type))
            return false;
    }
    return true;
}

static bool read_alignment(struct reader *r, struct gguf_ctx *ctx)
{
    ctx->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_find_key(ctx, "general.alignment");
    if (i < 0)
        return true;
    if (ctx->kv[i].type != GGUF_TYPE_UINT32)
        return fail(r, "general.alignment has type %s, expected u32", gguf_type_name(ctx->kv[i].type));
    uint32_t a;
    memcpy(&a, ctx->data + ctx->kv[i].off, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(r, "general.alignment %u is not a power of two", a);
    ctx->alignment = a;
    return true;
}

/* ---------------------------------------------------------------- tensors */

static bool tensor_size(struct reader *r, struct gguf_tensor *t)
{
    const struct type_traits *tt = tensor_type_traits(t->type);
    int64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        if (__builtin_mul_overflow(n, t->ne[d], &n))
            return fail(r, "tensor '%s': element count overflows", t->name);
    if (t->ne[0] % tt->block_size != 0)
        return fail(r, "tensor '%s': row length %lld is not a multiple of the %s block size %lld",
                    t->name, (long long)t->ne[0], tt->name, (long long)tt->block_size);
    uint64_t bytes = (uint64_t)(n / tt->block_size);
    if (__builtin_mul_overflow(bytes, (uint64_t)tt->type_size, &bytes) || bytes > SIZE_MAX)
        return fail(r, "tensor '%s': byte size overflows", t->name);
    t->nbytes = (size_t)bytes;
    return true;
}

static bool parse_tensor_info(struct reader *r, struct gguf_ctx *ctx, struct gguf_tensor *t)
{
    size_t off;
    uint64_t len = 0;
    uint32_t type = 0;
    if (!read_str(r, &off, &len, "tensor name"))
        return false;
    t->name = copy_name(r, off, len, "tensor name");
    if (t->name == NULL)
        return false;
    if (!read_u32(r, &t->n_dims, t->name))
        return false;
    if (t->n_dims > GGUF_MAX_DIMS)
        return fail(r, "tensor '%s': %u dimensions, at most %d are supported", t->name, t->n_dims,
                    GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v = 0;
        if (!read_u64(r, &v, t->name))
            return false;
        if (v > (uint64_t)INT64_MAX)
            return fail(r, "tensor '%s': dimension %u is negative", t->name, d);
        t->ne[d] = (int64_t)v;
    }
    if (!read_u32(r, &type, t->name) || !read_u64(r, &t->offset, t->name))
        return false;
    if (tensor_type_traits(type) == NULL)
        return fail(r, "tensor '%s': unknown tensor type %u", t->name, type);
    t->type = (enum tensor_type)type;
    if (t->offset % ctx->alignment != 0)
        return fail(r, "tensor '%s': data offset %llu is not a multiple of the alignment %u",
                    t->name, (unsigned long long)t->offset, ctx->alignment);
    return tensor_size(r, t);
}

static int cmp_by_offset(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Each tensor's bytes lie inside the data section and no two overlap. */
static bool check_tensor_data(struct reader *r, struct gguf_ctx *ctx)
{
    size_t data_size = ctx->size - ctx->data_offset;
    for (int64_t i = 0; i < ctx->n_tensors; i++) {
        struct gguf_tensor *t = &ctx->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return fail(r, "tensor '%s': data at offset %llu + %zu bytes is past the end of the file "
                        "(data section holds %zu bytes)", t->name,
                        (unsigned long long)t->offset, t->nbytes, data_size);
        t->data = ctx->data + ctx->data_offset + t->offset;
    }
    if (ctx->n_tensors < 2)
        return true;
    struct gguf_tensor **order = malloc((size_t)ctx->n_tensors * sizeof(*order));
    if (order == NULL)
        return fail(r, "out of memory checking tensor offsets");
    for (int64_t i = 0; i < ctx->n_tensors; i++)
        order[i] = &ctx->tensors[i];
    qsort(order, (size_t)ctx->n_tensors, sizeof(*order), cmp_by_offset);
    bool ok = true;
    for (int64_t i = 0; ok && i + 1 < ctx->n_tensors; i++) {
        if (order[i]->offset + order[i]->nbytes > order[i + 1]->offset && order[i + 1]->nbytes > 0)
            ok = fail(r, "tensors '%s' and '%s' overlap", order[i]->name, order[i + 1]->name);
    }
    free(order);
    return ok;
}

static bool parse_tensors(struct reader *r, struct gguf_ctx *ctx, uint64_t n_tensors)
{
    /* each tensor info takes at least 8 + 1 + 4 + 4 + 8 bytes */
    if (n_tensors > remaining(r) / 25)
        return fail(r, "tensor count %llu is larger than the file could hold",
                    (unsigned long long)n_tensors);
    ctx->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(*ctx->tensors));
    ctx->tensor_index_cap = index_cap_for((int64_t)n_tensors);
    ctx->tensor_index = index_new(ctx->tensor_index_cap);
    if (ctx->tensors == NULL || ctx->tensor_index == NULL)
        return fail(r, "out of memory for %llu tensors", (unsigned long long)n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        ctx->n_tensors = (int64_t)i + 1;
        if (!parse_tensor_info(r, ctx, &ctx->tensors[i]))
            return false;
        if (!index_insert(ctx->tensor_index, ctx->tensor_index_cap, ctx->tensors[i].name,
                          (int64_t)i, tensor_name, ctx))
            return fail(r, "duplicate tensor name '%s'", ctx->tensors[i].name);
    }
    size_t a = ctx->alignment;
    size_t start = (r->pos + a - 1) / a * a; /* pos <= size, no overflow for sane a */
    if (start < r->pos)
        return fail(r, "data section offset overflows");
    if (n_tensors > 0 && start > r->size)
        return fail(r, "file truncated: tensor data should start at offset %zu, file has %zu bytes",
                    start, r->size);
    ctx->data_offset = start > r->size ? r->size : start;
    return check_tensor_data(r, ctx);
}

/* ---------------------------------------------------------------- header */

static bool parse_header(struct reader *r, struct gguf_ctx *ctx, uint64_t *n_tensors, uint64_t *n_kv)
{
    char magic[4];
    if (r->size < 4 + 4 + 8 + 8)
        return fail(r, "file is too small to be a GGUF file (%zu bytes)", r->size);
    if (!read_raw(r, magic, 4, "magic"))
        return false;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return fail(r, "not a GGUF file (bad magic %02x %02x %02x %02x, expected \"GGUF\")",
                    (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    if (!read_u32(r, &ctx->version, "version"))
        return false;
    if (ctx->version == 1)
        return fail(r, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (ctx->version == 0x02000000u || ctx->version == 0x03000000u)
        return fail(r, "file is a big-endian GGUF; only little-endian files are supported");
    if (ctx->version != 2 && ctx->version != 3)
        return fail(r, "unknown GGUF version %u (only versions 2 and 3)", ctx->version);
    return read_u64(r, n_tensors, "tensor count") && read_u64(r, n_kv, "metadata count");
}

static struct gguf_ctx *parse(struct gguf_ctx *ctx, char *err, size_t err_size)
{
    struct reader r = { ctx->data, ctx->size, 0, ctx->name, err, err_size };
    uint64_t n_tensors = 0, n_kv = 0;
    if (parse_header(&r, ctx, &n_tensors, &n_kv) && parse_kvs(&r, ctx, n_kv) &&
        read_alignment(&r, ctx) && parse_tensors(&r, ctx, n_tensors))
        return ctx;
    gguf_close(ctx);
    return NULL;
}

static struct gguf_ctx *ctx_new(const char *name, char *err, size_t err_size)
{
    struct gguf_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx)
        ctx->name = strdup(name ? name : "(memory)");
    if (ctx == NULL || ctx->name == NULL) {
        free(ctx);
        if (err && err_size)
            snprintf(err, err_size, "%s: out of memory", name ? name : "(memory)");
        return NULL;
    }
    return ctx;
}

struct gguf_ctx *gguf_open_memory(const void *data, size_t size, const char *name,
                                  char *err, size_t err_size)
{
    struct gguf_ctx *ctx = ctx_new(name, err, err_size);
    if (ctx == NULL)
        return NULL;
    ctx->data = data;
    ctx->size = size;
    return parse(ctx, err, err_size);
}

static void *read_whole_file(int fd, size_t size)
{
    size_t cap = (size + 63) / 64 * 64;
    uint8_t *buf = aligned_alloc(64, cap ? cap : 64);
    if (buf == NULL)
        return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)n;
    }
    return buf;
}

static bool load_bytes(struct gguf_ctx *ctx, int fd, size_t size, unsigned flags, char *err, size_t es)
{
    if (flags & GGUF_OPEN_NO_MMAP) {
        ctx->owned = read_whole_file(fd, size);
        if (ctx->owned == NULL) {
            snprintf(err, es, "%s: cannot read %zu bytes: %s", ctx->name, size, strerror(errno));
            return false;
        }
        ctx->data = ctx->owned;
    } else {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, es, "%s: cannot map the file: %s", ctx->name, strerror(errno));
            return false;
        }
        ctx->map = m;
        ctx->data = m;
    }
    ctx->size = size;
    if (flags & GGUF_OPEN_MLOCK) {
        if (mlock(ctx->data, size) != 0) {
            snprintf(err, es, "%s: cannot lock %zu bytes in memory: %s (raise 'ulimit -l')",
                     ctx->name, size, strerror(errno));
            return false;
        }
        ctx->locked = true;
    }
    return true;
}

struct gguf_ctx *gguf_open(const char *path, unsigned flags, char *err, size_t err_size)
{
    char dummy[1];
    if (err == NULL || err_size == 0) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    struct gguf_ctx *ctx = ctx_new(path, err, err_size);
    if (ctx == NULL)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size < 24) {
        snprintf(err, err_size, "%s: file is too small to be a GGUF file (%lld bytes)", path,
                 (long long)st.st_size);
        goto fail;
    }
    if (!load_bytes(ctx, fd, (size_t)st.st_size, flags, err, err_size))
        goto fail;
    close(fd);
    return parse(ctx, err, err_size);
fail:
    if (fd >= 0)
        close(fd);
    gguf_close(ctx);
    return NULL;
}

void gguf_close(struct gguf_ctx *ctx)
{
    if (ctx == NULL)
        return;
    for (int64_t i = 0; i < ctx->n_kv; i++) {
        free(ctx->kv[i].key);
        free(ctx->kv[i].str_offs);
    }
    for (int64_t i = 0; i < ctx->n_tensors; i++)
        free((char *)ctx->tensors[i].name);
    free(ctx->kv);
    free(ctx->tensors);
    free(ctx->kv_index);
    free(ctx->tensor_index);
    if (ctx->locked)
        munlock(ctx->data, ctx->size);
    if (ctx->map)
        munmap(ctx->map, ctx->size);
    free(ctx->owned);
    free(ctx->name);
    free(ctx);
}

/* ---------------------------------------------------------------- accessors */

uint32_t gguf_version(const struct gguf_ctx *ctx) { return ctx->version; }
uint32_t gguf_alignment(const struct gguf_ctx *ctx) { return ctx->alignment; }
size_t gguf_data_offset(const struct gguf_ctx *ctx) { return ctx->data_offset; }
size_t gguf_file_size(const struct gguf_ctx *ctx) { return ctx->size; }
const char *gguf_name(const struct gguf_ctx *ctx) { return ctx->name; }
int64_t gguf_n_kv(const struct gguf_ctx *ctx) { return ctx->n_kv; }
int64_t gguf_n_tensors(const struct gguf_ctx *ctx) { return ctx->n_tensors; }

int64_t gguf_find_key(const struct gguf_ctx *ctx, const char *key)
{
    return index_find(ctx->kv_index, ctx->kv_index_cap, key, kv_name, ctx);
}

static bool kv_ok(const struct gguf_ctx *ctx, int64_t kv) { return kv >= 0 && kv < ctx->n_kv; }

const char *gguf_kv_key(const struct gguf_ctx *ctx, int64_t kv)
{
    return kv_ok(ctx, kv) ? ctx->kv[kv].key : NULL;
}

enum gguf_type gguf_kv_type(const struct gguf_ctx *ctx, int64_t kv)
{
    return kv_ok(ctx, kv) ? ctx->kv[kv].type : GGUF_TYPE_COUNT;
}

enum gguf_type gguf_arr_type(const struct gguf_ctx *ctx, int64_t kv)
{
    return kv_ok(ctx, kv) && ctx->kv[kv].type == GGUF_TYPE_ARRAY ? ctx->kv[kv].arr_type
                                                                   : GGUF_TYPE_COUNT;
}

uint64_t gguf_arr_n(const struct gguf_ctx *ctx, int64_t kv)
{
    return kv_ok(ctx, kv) && ctx->kv[kv].type == GGUF_TYPE_ARRAY ? ctx->kv[kv].n : 0;
}

const void *gguf_arr_data(const struct gguf_ctx *ctx, int64_t kv)
{
    if (!kv_ok(ctx, kv) || ctx->kv[kv].type != GGUF_TYPE_ARRAY ||
        ctx->kv[kv].arr_type == GGUF_TYPE_STRING)
        return NULL;
    return ctx->data + ctx->kv[kv].off;
}

/* Read a scalar of type t at p as a signed/unsigned 64-bit integer. */
static int read_int(enum gguf_type t, const uint8_t *p, int64_t *sv, uint64_t *uv, bool *is_signed)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; } v;
    size_t sz = gguf_type_size(t);
    if (sz == 0 || t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64 || t == GGUF_TYPE_BOOL)
        return GGUF_WRONG_TYPE;
    memcpy(&v, p, sz);
    *is_signed = true;
    switch (t) {
    case GGUF_TYPE_UINT8: *sv = v.u8; break;
    case GGUF_TYPE_INT8: *sv = v.i8; break;
    case GGUF_TYPE_UINT16: *sv = v.u16; break;
    case GGUF_TYPE_INT16: *sv = v.i16; break;
    case GGUF_TYPE_UINT32: *sv = v.u32; break;
    case GGUF_TYPE_INT32: *sv = v.i32; break;
    case GGUF_TYPE_INT64: *sv = v.i64; break;
    case GGUF_TYPE_UINT64: *uv = v.u64; *is_signed = false; break;
    default: return GGUF_WRONG_TYPE;
    }
    return GGUF_OK;
}

/* Integer value of key as [lo, hi]-checked int64 or uint64. */
static int get_int(const struct gguf_ctx *ctx, const char *key, int64_t lo, uint64_t hi,
                   int64_t *sout, uint64_t *uout)
{
    int64_t i = gguf_find_key(ctx, key);
    if (i < 0)
        return GGUF_NOT_FOUND;
    int64_t sv = 0;
    uint64_t uv = 0;
    bool is_signed;
    if (read_int(ctx->kv[i].type, ctx->data + ctx->kv[i].off, &sv, &uv, &is_signed) != GGUF_OK)
        return GGUF_WRONG_TYPE;
    if (is_signed) {
        if (sv < lo || (sv > 0 && (uint64_t)sv > hi))
            return GGUF_WRONG_TYPE;
        *sout = sv;
        *uout = (uint64_t)sv;
    } else {
        if (uv > hi)
            return GGUF_WRONG_TYPE;
        *sout = (int64_t)uv;
        *uout = uv;
    }
    return GGUF_OK;
}

int gguf_get_u32(const struct gguf_ctx *ctx, const char *key, uint32_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(ctx, key, 0, UINT32_MAX, &s, &u);
    if (rc == GGUF_OK)
        *v = (uint32_t)u;
    return rc;
}

int gguf_get_i32(const struct gguf_ctx *ctx, const char *key, int32_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(ctx, key, INT32_MIN, INT32_MAX, &s, &u);
    if (rc == GGUF_OK)
        *v = (int32_t)s;
    return rc;
}

int gguf_get_u64(const struct gguf_ctx *ctx, const char *key, uint64_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(ctx, key, 0, UINT64_MAX, &s, &u);
    if (rc == GGUF_OK)
        *v = u;
    return rc;
}

int gguf_get_i64(const struct gguf_ctx *ctx, const char *key, int64_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(ctx, key, INT64_MIN, INT64_MAX, &s, &u);
    if (rc == GGUF_OK)
        *v = s;
    return rc;
}

int gguf_get_f64(const struct gguf_ctx *ctx, const char *key, double *v)
{
    int64_t i = gguf_find_key(ctx, key);
    if (i < 0)
        return GGUF_NOT_FOUND;
    const uint8_t *p = ctx->data + ctx->kv[i].off;
    if (ctx->kv[i].type == GGUF_TYPE_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        *v = f;
    } else if (ctx->kv[i].type == GGUF_TYPE_FLOAT64) {
        memcpy(v, p, 8);
    } else {
        return GGUF_WRONG_TYPE;
    }
    return GGUF_OK;
}

int gguf_get_f32(const struct gguf_ctx *ctx, const char *key, float *v)
{
    double d;
    int rc = gguf_get_f64(ctx, key, &d);
    if (rc == GGUF_OK)
        *v = (float)d;
    return rc;
}

int gguf_get_bool(const struct gguf_ctx *ctx, const char *key, bool *v)
{
    int64_t i = gguf_find_key(ctx, key);
    if (i < 0)
        return GGUF_NOT_FOUND;
    if (ctx->kv[i].type != GGUF_TYPE_BOOL)
        return GGUF_WRONG_TYPE;
    *v = ctx->data[ctx->kv[i].off] != 0;
    return GGUF_OK;
}

static void str_at(const struct gguf_ctx *ctx, size_t off, const char **s, size_t *len)
{
    uint64_t n = 0;
    memcpy(&n, ctx->data + off, 8);
    *s = (const char *)ctx->data + off + 8;
    *len = (size_t)n;
}

int gguf_get_str(const struct gguf_ctx *ctx, const char *key, const char **s, size_t *len)
{
    int64_t i = gguf_find_key(ctx, key);
    if (i < 0)
        return GGUF_NOT_FOUND;
    if (ctx->kv[i].type != GGUF_TYPE_STRING)
        return GGUF_WRONG_TYPE;
    str_at(ctx, ctx->kv[i].off, s, len);
    return GGUF_OK;
}

int gguf_get_arr(const struct gguf_ctx *ctx, const char *key, enum gguf_type *elem_type,
                 uint64_t *n, int64_t *kv)
{
    int64_t i = gguf_find_key(ctx, key);
    if (i < 0)
        return GGUF_NOT_FOUND;
    if (ctx->kv[i].type != GGUF_TYPE_ARRAY)
        return GGUF_WRONG_TYPE;
    if (elem_type)
        *elem_type = ctx->kv[i].arr_type;
    if (n)
        *n = ctx->kv[i].n;
    if (kv)
        *kv = i;
    return GGUF_OK;
}

static int arr_elem(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, const uint8_t **p)
{
    if (!kv_ok(ctx, kv) || ctx->kv[kv].type != GGUF_TYPE_ARRAY)
        return GGUF_WRONG_TYPE;
    if (i >= ctx->kv[kv].n)
        return GGUF_OUT_OF_RANGE;
    if (ctx->kv[kv].arr_type != GGUF_TYPE_STRING)
        *p = ctx->data + ctx->kv[kv].off + i * gguf_type_size(ctx->kv[kv].arr_type);
    return GGUF_OK;
}

int gguf_arr_get_str(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, const char **s, size_t *len)
{
    const uint8_t *p = NULL;
    int rc = arr_elem(ctx, kv, i, &p);
    if (rc != GGUF_OK)
        return rc;
    if (ctx->kv[kv].arr_type != GGUF_TYPE_STRING)
        return GGUF_WRONG_TYPE;
    str_at(ctx, ctx->kv[kv].str_offs[i], s, len);
    return GGUF_OK;
}

int gguf_arr_get_i64(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, int64_t *v)
{
    const uint8_t *p = NULL;
    int rc = arr_elem(ctx, kv, i, &p);
    if (rc != GGUF_OK)
        return rc;
    int64_t sv = 0;
    uint64_t uv = 0;
    bool is_signed;
    if (read_int(ctx->kv[kv].arr_type, p, &sv, &uv, &is_signed) != GGUF_OK)
        return GGUF_WRONG_TYPE;
    if (!is_signed && uv > (uint64_t)INT64_MAX)
        return GGUF_WRONG_TYPE;
    *v = is_signed ? sv : (int64_t)uv;
    return GGUF_OK;
}

int gguf_arr_get_f32(const struct gguf_ctx *ctx, int64_t kv, uint64_t i, float *v)
{
    const uint8_t *p = NULL;
    int rc = arr_elem(ctx, kv, i, &p);
    if (rc != GGUF_OK)
        return rc;
    if (ctx->kv[kv].arr_type == GGUF_TYPE_FLOAT32) {
        memcpy(v, p, 4);
    } else if (ctx->kv[kv].arr_type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, p, 8);
        *v = (float)d;
    } else {
        return GGUF_WRONG_TYPE;
    }
    return GGUF_OK;
}

const struct gguf_tensor *gguf_tensor(const struct gguf_ctx *ctx, int64_t i)
{
    return i >= 0 && i < ctx->n_tensors ? &ctx->tensors[i] : NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_ctx *ctx, const char *name)
{
    int64_t i = index_find(ctx->tensor_index, ctx->tensor_index_cap, name, tensor_name, ctx);
    return i >= 0 ? &ctx->tensors[i] : NULL;
}

int64_t gguf_tensor_nelements(const struct gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
