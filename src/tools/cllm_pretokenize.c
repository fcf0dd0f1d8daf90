/*
 * cllm_pretokenize.c - cllm-pretokenize: run a byte-level BPE pre-tokenizer on
 * stdin and print the pieces as a JSON array of strings (used by
 * tests/python/test_pretokenize.py).
 *
 *   cllm-pretokenize --pre NAME [--nul] [--time N] < text
 *   cllm-pretokenize --flags < text      # unicode_flags of each code point
 *   cllm-pretokenize --list              # known tokenizer.ggml.pre kinds
 *
 * --nul: stdin holds several texts separated by NUL bytes (n NULs: n + 1
 * texts); one JSON array per text is printed, one per line. --time N: pre-tokenize the input N times and
 * report the mean time on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/file.h"
#include "tokenizer/pretokenize.h"
#include "base/unicode.h"

static void print_json_string(const char *s, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int print_pieces(enum pretok_kind kind, const char *text, size_t len)
{
    struct pretok_list list = {0};
    if (pretokenize(kind, text, len, &list) < 0) {
        pretok_list_free(&list);
        return -1;
    }
    putchar('[');
    for (size_t i = 0; i < list.n; i++) {
        if (i)
            putchar(',');
        print_json_string(text + list.v[i].off, list.v[i].len);
    }
    puts("]");
    pretok_list_free(&list);
    return 0;
}

static int print_each_nul_separated(enum pretok_kind kind, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\0')
            continue;
        if (print_pieces(kind, text + start, i - start) < 0)
            return -1;
        start = i + 1;
    }
    return 0;
}

static void print_flags(const char *text, size_t len)
{
    putchar('[');
    for (size_t pos = 0; pos < len;) {
        size_t n;
        uint32_t cp = utf8_decode(text + pos, len - pos, &n);
        printf(pos ? ",%u" : "%u", unicode_flags(cp));
        pos += n;
    }
    puts("]");
}

static int time_runs(enum pretok_kind kind, const char *text, size_t len, int runs)
{
    size_t pieces = 0;
    double t0 = clock_ms();
    for (int r = 0; r < runs; r++) {
        struct pretok_list list = {0};
        if (pretokenize(kind, text, len, &list) < 0)
            return -1;
        pieces = list.n;
        pretok_list_free(&list);
    }
    double ms = (clock_ms() - t0) / runs;
    fprintf(stderr, "%s: %zu bytes, %zu pieces, %.2f ms per run (%.1f MB/s)\n",
            pretok_kind_name(kind), len, pieces, ms, len / 1e3 / ms);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: cllm-pretokenize --pre NAME [--nul] [--time N] < text\n"
                    "       cllm-pretokenize --flags < text\n"
                    "       cllm-pretokenize --list\n");
}

int main(int argc, char **argv)
{
    const char *pre = NULL;
    int nul = 0, flags = 0, runs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pre") && i + 1 < argc) {
            pre = argv[++i];
        } else if (!strcmp(argv[i], "--nul")) {
            nul = 1;
        } else if (!strcmp(argv[i], "--flags")) {
            flags = 1;
        } else if (!strcmp(argv[i], "--time") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--list")) {
            for (int k = 0; k < PRETOK_KIND_COUNT; k++)
                puts(pretok_kind_name((enum pretok_kind)k));
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    enum pretok_kind kind = pre ? pretok_kind_from_name(pre, strlen(pre)) : PRETOK_UNKNOWN;
    if (!flags && kind == PRETOK_UNKNOWN) {
        fprintf(stderr, "cllm-pretokenize: unknown or missing --pre '%s'\n", pre ? pre : "");
        usage();
        return 2;
    }
    size_t len;
    char *text = file_read("/dev/stdin", 0, &len, NULL, 0);
    if (!text) {
        fprintf(stderr, "cllm-pretokenize: out of memory\n");
        return 1;
    }
    int rc = 0;
    if (flags)
        print_flags(text, len);
    else if (runs > 0)
        rc = time_runs(kind, text, len, runs);
    else if (nul)
        rc = print_each_nul_separated(kind, text, len);
    else
        rc = print_pieces(kind, text, len);
    free(text);
    if (rc < 0)
        fprintf(stderr, "cllm-pretokenize: out of memory\n");
    return rc < 0 ? 1 : 0;
}
