/*
 * cllm_gguf.c - `cllm-gguf`: inspect GGUF model files.
 *
 *   cllm-gguf info [--full] FILE   metadata, tensors (name, type, shape, bytes), totals
 *
 * Exit status 0 on success, 1 when the file cannot be read (the message names
 * the file and the problem), 2 on bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

#define ARRAY_PREVIEW 8

static void usage(FILE *f)
{
    fprintf(f, "usage: cllm-gguf info [--full] FILE\n"
               "  info     print the metadata, the tensors and totals of a GGUF file\n"
               "  --full   print every element of metadata arrays (default: the first %d)\n",
            ARRAY_PREVIEW);
}

/* Print a string value, escaping control characters and quotes. */
static void print_str(const char *s, size_t len, size_t max)
{
    putchar('"');
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (len > max)
        printf("...(%zu bytes)", len);
}

static void print_scalar(enum gguf_type t, const uint8_t *p)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; float f32; double f64; } v;
    memset(&v, 0, sizeof(v));
    switch (t) {
    case GGUF_TYPE_UINT8: memcpy(&v, p, 1); printf("%u", v.u8); break;
    case GGUF_TYPE_INT8: memcpy(&v, p, 1); printf("%d", v.i8); break;
    case GGUF_TYPE_UINT16: memcpy(&v, p, 2); printf("%u", v.u16); break;
    case GGUF_TYPE_INT16: memcpy(&v, p, 2); printf("%d", v.i16); break;
    case GGUF_TYPE_UINT32: memcpy(&v, p, 4); printf("%" PRIu32, v.u32); break;
    case GGUF_TYPE_INT32: memcpy(&v, p, 4); printf("%" PRId32, v.i32); break;
    case GGUF_TYPE_UINT64: memcpy(&v, p, 8); printf("%" PRIu64, v.u64); break;
    case GGUF_TYPE_INT64: memcpy(&v, p, 8); printf("%" PRId64, v.i64); break;
    case GGUF_TYPE_FLOAT32: memcpy(&v, p, 4); printf("%g", v.f32); break;
    case GGUF_TYPE_FLOAT64: memcpy(&v, p, 8); printf("%g", v.f64); break;
    case GGUF_TYPE_BOOL: printf("%s", *p ? "true" : "false"); break;
    default: printf("?"); break;
    }
}

static void print_array(const struct gguf_ctx *ctx, int64_t kv, bool full)
{
    enum gguf_type at = gguf_arr_type(ctx, kv);
    uint64_t n = gguf_arr_n(ctx, kv);
    uint64_t shown = full || n <= ARRAY_PREVIEW ? n : ARRAY_PREVIEW;
    printf("[%s x %" PRIu64 "] [", gguf_type_name(at), n);
    const uint8_t *data = gguf_arr_data(ctx, kv);
    for (uint64_t i = 0; i < shown; i++) {
        if (i)
            fputs(", ", stdout);
        if (at == GGUF_TYPE_STRING) {
            const char *s;
            size_t len;
            if (gguf_arr_get_str(ctx, kv, i, &s, &len) == GGUF_OK)
                print_str(s, len, 64);
        } else {
            print_scalar(at, data + i * gguf_type_size(at));
        }
    }
    if (shown < n)
        fputs(", ...", stdout);
    putchar(']');
}

static void print_metadata(const struct gguf_ctx *ctx, bool full)
{
    int64_t n = gguf_n_kv(ctx);
    printf("metadata: %" PRId64 " keys\n", n);
    for (int64_t i = 0; i < n; i++) {
        enum gguf_type t = gguf_kv_type(ctx, i);
        printf("  %-44s %-4s ", gguf_kv_key(ctx, i), gguf_type_name(t));
        if (t == GGUF_TYPE_ARRAY) {
            print_array(ctx, i, full);
        } else if (t == GGUF_TYPE_STRING) {
            const char *s;
            size_t len;
            gguf_get_str(ctx, gguf_kv_key(ctx, i), &s, &len);
            print_str(s, len, full ? SIZE_MAX : 120);
        } else {
            /* scalars: reuse the typed getters through a float/int view */
            double d;
            int64_t iv;
            uint64_t uv;
            bool b;
            const char *key = gguf_kv_key(ctx, i);
            if (t == GGUF_TYPE_BOOL && gguf_get_bool(ctx, key, &b) == GGUF_OK)
                printf("%s", b ? "true" : "false");
            else if (gguf_get_f64(ctx, key, &d) == GGUF_OK)
                printf("%g", d);
            else if (t == GGUF_TYPE_UINT64 && gguf_get_u64(ctx, key, &uv) == GGUF_OK)
                printf("%" PRIu64, uv);
            else if (gguf_get_i64(ctx, key, &iv) == GGUF_OK)
                printf("%" PRId64, iv);
        }
        putchar('\n');
    }
}

static void format_bytes(double b, char *out, size_t n)
{
    const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.2f %s" : "%.0f %s", b, unit[u]);
}

static void print_tensors(const struct gguf_ctx *ctx)
{
    int64_t n = gguf_n_tensors(ctx);
    int64_t count_by_type[TYPE_COUNT] = { 0 };
    double params = 0, bytes = 0;
    printf("tensors: %" PRId64 "\n", n);
    printf("  %-40s %-7s %-26s %12s %12s\n", "name", "type", "shape", "bytes", "offset");
    for (int64_t i = 0; i < n; i++) {
        const struct gguf_tensor *t = gguf_tensor(ctx, i);
        char shape[64];
        int len = 0;
        for (uint32_t d = 0; d < t->n_dims && len < (int)sizeof(shape); d++)
            len += snprintf(shape + len, sizeof(shape) - (size_t)len, "%s%" PRId64,
                            d ? " x " : "", t->ne[d]);
        if (t->n_dims == 0)
            snprintf(shape, sizeof(shape), "scalar");
        printf("  %-40s %-7s %-26s %12zu %12" PRIu64 "\n", t->name, tensor_type_name(t->type), shape,
               t->nbytes, t->offset);
        count_by_type[t->type]++;
        params += (double)gguf_tensor_nelements(t);
        bytes += (double)t->nbytes;
    }
    char sz[32];
    format_bytes(bytes, sz, sizeof(sz));
    printf("total: %.2fM parameters, %s of tensor data, %.2f bits per weight\n", params / 1e6, sz,
           params > 0 ? bytes * 8 / params : 0.0);
    printf("types:");
    for (int t = 0; t < TYPE_COUNT; t++)
        if (count_by_type[t])
            printf(" %s %" PRId64, tensor_type_name((uint32_t)t), count_by_type[t]);
    printf("\n");
}

static int cmd_info(const char *path, bool full)
{
    char err[512];
    struct gguf_ctx *ctx = gguf_open(path, 0, err, sizeof(err));
    if (ctx == NULL) {
        fprintf(stderr, "cllm-gguf: %s\n", err);
        return 1;
    }
    char sz[32];
    format_bytes((double)gguf_file_size(ctx), sz, sizeof(sz));
    printf("file: %s (%s)\n", path, sz);
    printf("version: %u, alignment: %u, data offset: %zu\n", gguf_version(ctx),
           gguf_alignment(ctx), gguf_data_offset(ctx));
    print_metadata(ctx, full);
    print_tensors(ctx);
    gguf_close(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "info") != 0) {
        usage(stderr);
        return 2;
    }
    bool full = false;
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) {
            full = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "cllm-gguf: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "cllm-gguf: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (path == NULL) {
        usage(stderr);
        return 2;
    }
    return cmd_info(path, full);
}
