/*
 * cllm_tokenize.c - the cllm-tokenize tool: tokenize a prompt with a model's
 * (or a vocab-only GGUF's) vocabulary and print the ids and pieces.
 *
 *   cllm-tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-bos]
 *                 [--no-parse-special] [--bench]
 *
 * Test modes (used by tests/python): --hex-lines tokenizes hex-encoded texts
 * read one per line from stdin, printing one line of ids each;
 * --detok-lines detokenizes lines of ids and prints hex; --info prints the
 * vocabulary facts as JSON; --dump prints every token's attributes and pieces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/file.h"
#include "tokenizer/tokenizer.h"

struct options {
    const char *model, *prompt, *file;
    bool ids_only, add_special, parse_special, bench;
    bool hex_lines, detok_lines, remove_special, info, dump;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cllm-tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-bos]\n"
               "                     [--no-parse-special] [--bench]\n"
               "  --ids               print only the ids, as [1, 2, 3]\n"
               "  --no-bos            add no BOS/EOS tokens\n"
               "  --no-parse-special  treat special-token text as plain text\n"
               "  --bench             time tokenizing the text (repeated to >= 1 MB)\n"
               "test modes: --hex-lines, --detok-lines [--remove-special], --info, --dump\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){.add_special = true, .parse_special = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-m") && has_val) {
            o->model = argv[++i];
        } else if (!strcmp(a, "-p") && has_val) {
            o->prompt = argv[++i];
        } else if (!strcmp(a, "-f") && has_val) {
            o->file = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            o->ids_only = true;
        } else if (!strcmp(a, "--no-bos")) {
            o->add_special = false;
        } else if (!strcmp(a, "--no-parse-special")) {
            o->parse_special = false;
        } else if (!strcmp(a, "--bench")) {
            o->bench = true;
        } else if (!strcmp(a, "--hex-lines")) {
            o->hex_lines = true;
        } else if (!strcmp(a, "--detok-lines")) {
            o->detok_lines = true;
        } else if (!strcmp(a, "--remove-special")) {
            o->remove_special = true;
        } else if (!strcmp(a, "--info")) {
            o->info = true;
        } else if (!strcmp(a, "--dump")) {
            o->dump = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "cllm-tokenize: unknown or incomplete argument '%s'\n", a);
            return -1;
        }
    }
    bool batch = o->hex_lines || o->detok_lines || o->info || o->dump;
    if (!o->model || (!batch && !o->prompt == !o->file)) {
        fprintf(stderr, "cllm-tokenize: need -m MODEL and one of -p TEXT or -f FILE\n");
        return -1;
    }
    return 0;
}

static void print_piece(const struct vocab *v, int32_t id)
{
    char buf[256];
    int64_t n = token_to_piece(v, id, buf, sizeof(buf), 0, true);
    if (n < 0) {
        n = 0;
    }
    if ((size_t)n > sizeof(buf)) {
        n = sizeof(buf);
    }
    putchar('\'');
    for (int64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') {
            fputs("\\n", stdout);
        } else if (c == '\t') {
            fputs("\\t", stdout);
        } else if (c == '\'' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20 || c == 0x7f) {
            printf("\\x%02x", c);
        } else {
            putchar(c);
        }
    }
    putchar('\'');
}

static void print_tokens(const struct vocab *v, const struct tok_list *t, bool ids_only)
{
    if (ids_only) {
        putchar('[');
        for (size_t i = 0; i < t->n; i++) {
            printf("%s%d", i ? ", " : "", t->v[i]);
        }
        puts("]");
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        printf("%6d -> ", t->v[i]);
        print_piece(v, t->v[i]);
        putchar('\n');
    }
}

/* Tokenize the text repeated up to at least 1 MB and report the speed. */
static int bench(const struct vocab *v, const char *text, size_t len, const struct options *o)
{
    size_t reps = len ? (1u << 20) / len + 1 : 0, total = reps * len;
    char *big = malloc(total ? total : 1);
    if (!big) {
        fprintf(stderr, "cllm-tokenize: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < reps; i++) {
        memcpy(big + i * len, text, len);
    }
    struct tok_list t = {0};
    double t0 = clock_ms() / 1e3;
    int rc = tokenize_list(v, big, total, o->add_special, o->parse_special, &t);
    double dt = clock_ms() / 1e3 - t0;
    if (rc == 0) {
        printf("bench: %zu bytes -> %zu tokens in %.3f s (%.2f MB/s)\n", total, t.n, dt,
               total / dt / 1e6);
    }
    tok_list_free(&t);
    free(big);
    return rc;
}

static void print_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("%02x", (unsigned char)s[i]);
    }
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode hex in place; returns the byte count or -1. */
static long unhex(char *s, size_t n)
{
    if (n % 2) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_val(s[i]), lo = hex_val(s[i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        s[i / 2] = (char)(hi * 16 + lo);
    }
    return (long)(n / 2);
}

static size_t chomp(char *line, size_t n)
{
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    return n;
}

static int run_hex_lines(const struct vocab *v, const struct options *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        long n = unhex(line, chomp(line, (size_t)got));
        struct tok_list t = {0};
        if (n < 0 || tokenize_list(v, line, (size_t)n, o->add_special, o->parse_special, &t) != 0) {
            puts("ERR");
        } else {
            for (size_t i = 0; i < t.n; i++) {
                printf(i ? " %d" : "%d", t.v[i]);
            }
            putchar('\n');
        }
        tok_list_free(&t);
    }
    free(line);
    return 0;
}

static int run_detok_lines(const struct vocab *v, const struct options *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        struct tok_list t = {0};
        char *p = line, *end;
        for (long x; (x = strtol(p, &end, 10)), end != p; p = end) {
            tok_list_push(&t, (int32_t)x);
        }
        int64_t n = detokenize(v, t.v, t.n, NULL, 0, o->remove_special, o->parse_special);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (!buf || detokenize(v, t.v, t.n, buf, (size_t)n, o->remove_special, o->parse_special) != n) {
            puts("ERR");
        } else {
            print_hex(buf, (size_t)n);
            putchar('\n');
        }
        free(buf);
        tok_list_free(&t);
    }
    free(line);
    return 0;
}

static void print_info(const struct vocab *v)
{
    printf("{\"type\": \"%s\", \"pre\": \"%s\", \"n_tokens\": %d, \"bos\": %d, \"eos\": %d, "
           "\"eot\": %d, \"sep\": %d, \"pad\": %d, \"nl\": %d, \"add_bos\": %s, "
           "\"add_eos\": %s, \"eog\": [",
           vocab_type_name(v->type), pretok_kind_name(v->pre), v->n_tokens, v->bos, v->eos,
           v->eot, v->sep, v->pad, v->nl, v->add_bos ? "true" : "false",
           v->add_eos ? "true" : "false");
    for (size_t i = 0; i < v->n_eog; i++) {
        printf(i ? ", %d" : "%d", v->eog[i]);
    }
    puts("]}");
}

/* One line per token: attributes, piece with specials, piece without (hex). */
static int dump_tokens(const struct vocab *v)
{
    size_t cap = 1024;
    char *buf = malloc(cap);
    for (int32_t id = 0; buf && id < v->n_tokens; id++) {
        printf("%u", vocab_attr(v, id));
        for (int special = 1; special >= 0; special--) {
            int64_t n = token_to_piece(v, id, buf, cap, 0, special);
            while (n > (int64_t)cap) {
                char *p = realloc(buf, cap *= 2);
                if (!p) {
                    free(buf);
                    return -1;
                }
                buf = p;
                n = token_to_piece(v, id, buf, cap, 0, special);
            }
            putchar(' ');
            print_hex(buf, n > 0 ? (size_t)n : 0);
        }
        putchar('\n');
    }
    int rc = buf ? 0 : -1;
    free(buf);
    return rc;
}

static int run_batch(const struct vocab *v, const struct options *o)
{
    if (o->info) {
        print_info(v);
        return 0;
    }
    if (o->dump) {
        return dump_tokens(v);
    }
    return o->hex_lines ? run_hex_lines(v, o) : run_detok_lines(v, o);
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 1;
    }
    char err[512];
    struct vocab *v = vocab_load_file(o.model, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "cllm-tokenize: %s\n", err);
        return 1;
    }
    if (v->type == VOCAB_NONE) {
        fprintf(stderr, "cllm-tokenize: %s: the model has no vocabulary\n", o.model);
        vocab_free(v);
        return 1;
    }
    if (o.hex_lines || o.detok_lines || o.info || o.dump) {
        int rc = run_batch(v, &o);
        vocab_free(v);
        return rc == 0 ? 0 : 1;
    }
    size_t len = 0;
    char *owned = NULL;
    const char *text = o.prompt;
    if (o.file) {
        char err[512];
        owned = file_read(o.file, 0, &len, err, sizeof err);
        if (!owned)
            fprintf(stderr, "%s\n", err);
        text = owned;
    } else {
        len = strlen(o.prompt);
    }
    int rc = 1;
    if (text) {
        struct tok_list t = {0};
        if (o.bench) {
            rc = bench(v, text, len, &o) == 0 ? 0 : 1;
        } else if (tokenize_list(v, text, len, o.add_special, o.parse_special, &t) == 0) {
            print_tokens(v, &t, o.ids_only);
            rc = 0;
        } else {
            fprintf(stderr, "cllm-tokenize: %s: tokenizing failed (out of memory)\n", o.model);
        }
        tok_list_free(&t);
    }
    free(owned);
    vocab_free(v);
    return rc;
}
