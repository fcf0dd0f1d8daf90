/*
 * cllm_dequant.c - the cllm-dequant tool: dequantizes one tensor of a GGUF
 * file to raw little-endian f32, and exposes the scalar reference quantizer
 * and dequantizer on raw files. Used by tests/python/test_dequant.py to check
 * src/tensor/quant.c bit for bit against gguf-py.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/file.h"
#include "gguf/gguf.h"
#include "tensor/quant.h"
#include "tensor/types.h"

static const char *usage =
    "usage:\n"
    "  cllm-dequant FILE.gguf TENSOR OUT.f32\n"
    "      dequantize tensor TENSOR of FILE.gguf to OUT.f32 (raw little-endian f32,\n"
    "      rows in file order)\n"
    "  cllm-dequant --quantize TYPE IN.f32 OUT.bin\n"
    "      quantize the raw f32 values of IN.f32 with the reference quantizer\n"
    "      (quantize_row_ref) into blocks of TYPE (a name such as Q4_0, F16)\n"
    "  cllm-dequant --dequantize-raw TYPE IN.bin OUT.f32\n"
    "      dequantize raw blocks of TYPE from IN.bin to raw f32\n"
    "  cllm-dequant --help\n"
    "Errors name the file and the problem and exit with status 1.\n";

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "cllm-dequant: %s: %s\n", what, msg);
    return 1;
}

/* Type id for a name like "Q4_K" (case-insensitive); -1 if none. */
static int type_from_name(const char *name)
{
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        const struct type_traits *tt = tensor_type_traits(t);
        if (tt && strcasecmp(tt->name, name) == 0)
            return (int)t;
    }
    return -1;
}

/* Reads a whole file into a malloc'ed buffer; NULL (message printed) on error. */
static void *read_file(const char *path, size_t *size)
{
    char err[512];
    void *buf = file_read(path, 0, size, err, sizeof err);
    if (!buf)
        fprintf(stderr, "cllm-dequant: %s\n", err);
    return buf;
}

static int write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(path, strerror(errno));
    size_t wrote = fwrite(data, 1, size, f);
    if (fclose(f) != 0 || wrote != size)
        return fail(path, "write error");
    return 0;
}

static int parse_type(const char *name, int *type)
{
    *type = type_from_name(name);
    if (*type < 0)
        return fail(name, "unknown tensor type");
    return 0;
}

/* --quantize TYPE IN.f32 OUT.bin */
static int cmd_quantize(const char *tname, const char *in, const char *out)
{
    int type;
    if (parse_type(tname, &type))
        return 1;
    size_t size;
    float *x = read_file(in, &size);
    if (!x)
        return 1;
    int rc = 1;
    int64_t n = (int64_t)(size / sizeof(float));
    size_t out_size = tensor_type_row_size((enum tensor_type)type, n);
    void *y = NULL;
    if (size % sizeof(float) != 0 || (n > 0 && out_size == 0)) {
        fail(in, "size is not a whole number of blocks of f32 values");
    } else if ((y = malloc(out_size ? out_size : 1)) == NULL) {
        fail(in, "out of memory");
    } else if (quantize_row_ref((enum tensor_type)type, x, y, n) != 0) {
        fail(tname, "no reference quantizer for this type");
    } else {
        rc = write_file(out, y, out_size);
    }
    free(y);
    free(x);
    return rc;
}

/* --dequantize-raw TYPE IN.bin OUT.f32 */
static int cmd_dequantize_raw(const char *tname, const char *in, const char *out)
{
    int type;
    if (parse_type(tname, &type))
        return 1;
    const struct type_traits *tt = tensor_type_traits((uint32_t)type);
    size_t size;
    void *x = read_file(in, &size);
    if (!x)
        return 1;
    int rc = 1;
    int64_t n = (int64_t)(size / tt->type_size) * tt->block_size;
    float *y = NULL;
    if (size % tt->type_size != 0) {
        fail(in, "size is not a whole number of blocks");
    } else if ((y = malloc(n > 0 ? (size_t)n * sizeof(float) : 1)) == NULL) {
        fail(in, "out of memory");
    } else if (dequantize_row((enum tensor_type)type, x, y, n) != 0) {
        fail(tname, "cllm cannot dequantize this type");
    } else {
        rc = write_file(out, y, (size_t)n * sizeof(float));
    }
    free(y);
    free(x);
    return rc;
}

/* Dequantizes t row by row into f. Returns 0 or 1 (message printed). */
static int write_rows(const char *file, const struct gguf_tensor *t, FILE *f, const char *out)
{
    const int64_t ne0 = t->ne[0];
    const size_t row_bytes = tensor_type_row_size(t->type, ne0);
    const int64_t nrows = ne0 > 0 ? gguf_tensor_nelements(t) / ne0 : 0;
    if (ne0 > 0 && (row_bytes == 0 || (size_t)nrows * row_bytes != t->nbytes))
        return fail(file, "tensor rows do not fit its type's block size");
    float *row = malloc(ne0 > 0 ? (size_t)ne0 * sizeof(float) : 1);
    if (!row)
        return fail(file, "out of memory");
    int rc = 0;
    const uint8_t *src = t->data;
    for (int64_t r = 0; r < nrows && rc == 0; r++) {
        if (dequantize_row(t->type, src + (size_t)r * row_bytes, row, ne0) != 0)
            rc = fail(file, "cllm cannot dequantize this tensor's type");
        else if (fwrite(row, sizeof(float), (size_t)ne0, f) != (size_t)ne0)
            rc = fail(out, "write error");
    }
    free(row);
    return rc;
}

/* FILE.gguf TENSOR OUT.f32 */
static int cmd_dequantize_tensor(const char *file, const char *name, const char *out)
{
    char err[512];
    struct gguf_ctx *ctx = gguf_open(file, 0, err, sizeof(err));
    if (!ctx) {
        fprintf(stderr, "cllm-dequant: %s\n", err);
        return 1;
    }
    int rc = 1;
    const struct gguf_tensor *t = gguf_find_tensor(ctx, name);
    if (!t) {
        fprintf(stderr, "cllm-dequant: %s: no tensor named '%s'\n", file, name);
    } else if (!tensor_type_traits(t->type) || !tensor_type_traits(t->type)->supported) {
        fprintf(stderr, "cllm-dequant: %s: tensor '%s' has type %s, which cllm cannot dequantize\n",
                file, name, tensor_type_name(t->type));
    } else {
        FILE *f = fopen(out, "wb");
        if (!f) {
            fail(out, strerror(errno));
        } else {
            rc = write_rows(file, t, f, out);
            if (fclose(f) != 0 && rc == 0)
                rc = fail(out, "write error");
        }
    }
    gguf_close(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "--quantize"))
        return cmd_quantize(argv[2], argv[3], argv[4]);
    if (argc == 5 && !strcmp(argv[1], "--dequantize-raw"))
        return cmd_dequantize_raw(argv[2], argv[3], argv[4]);
    if (argc == 4 && argv[1][0] != '-')
        return cmd_dequantize_tensor(argv[1], argv[2], argv[3]);
    fputs(usage, stderr);
    return 1;
}
