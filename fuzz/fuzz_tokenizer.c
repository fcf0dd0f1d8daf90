/*
 * fuzz_tokenizer.c - libFuzzer target: arbitrary bytes through tokenize,
 * token_to_piece, detokenize and the streaming decoder on real vocabularies
 * (SPM, BPE, WPM, and SPM with strip attributes). Checks that every id is in
 * range, that detokenize agrees with itself on sizes, and that the stream
 * decoder never cuts a UTF-8 character and adds up to detokenize (SPM).
 *
 * Vocabularies: $CLLM_FUZZ_VOCAB (paths separated by ':'), else
 * ggml-vocab-*.gguf from $CLLM_SHARED/vocab or ../shared/vocab next to this
 * source tree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

#define MAX_VOCABS 8

static struct vocab *vocabs[MAX_VOCABS];
static int n_vocabs;

static void load(const char *path)
{
    char err[512];
    struct vocab *v = vocab_load_file(path, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        return;
    }
    vocabs[n_vocabs++] = v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *list = getenv("CLLM_FUZZ_VOCAB");
    if (list && *list) {
        char paths[4096];
        snprintf(paths, sizeof(paths), "%s", list);
        for (char *save, *p = strtok_r(paths, ":", &save); p && n_vocabs < MAX_VOCABS;
             p = strtok_r(NULL, ":", &save)) {
            load(p);
        }
    } else {
        static const char *const NAMES[] = {"llama-spm", "gpt-2", "bert-bge", "phi-3"};
        const char *shared = getenv("CLLM_SHARED");
        char dir[1024];
        if (shared && *shared) {
            snprintf(dir, sizeof(dir), "%s/vocab", shared);
        } else { /* __FILE__ is .../fuzz/fuzz_tokenizer.c */
            snprintf(dir, sizeof(dir), "%s", __FILE__);
            char *slash = strrchr(dir, '/');
            *(slash ? slash : dir) = '\0';
            strncat(dir, "/../../shared/vocab", sizeof(dir) - strlen(dir) - 1);
        }
        for (int i = 0; i < 4; i++) {
            char path[1200];
            snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf", dir, NAMES[i]);
            load(path);
        }
    }
    if (n_vocabs == 0) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary loaded\n");
        abort();
    }
    return 0;
}

/* True if s ends inside a UTF-8 character that more bytes could complete. */
static bool ends_mid_char(const char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = (uint8_t)s[n - k];
        if ((c & 0xC0) == 0x80) {
            continue;
        }
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
        return need > k;
    }
    return false;
}

/* True if a chunk boundary at p of the stream s[0..n) cuts a character that
 * the bytes after it complete. */
static bool cuts_char(const char *s, size_t n, size_t p)
{
    return p < n && ((uint8_t)s[p] & 0xC0) == 0x80 && ends_mid_char(s, p);
}

static void check_stream(const struct vocab *v, const struct tok_list *t, bool special)
{
    struct detok_stream s;
    detok_stream_init(&s, v, special, v->add_space_prefix);
    size_t total = 0, cap = 64, n;
    char *all = malloc(cap);
    size_t *cuts = malloc((t->n + 1) * sizeof(*cuts));
    for (size_t i = 0; i <= t->n && all && cuts; i++) {
        const char *p = i < t->n ? detok_stream_push(&s, t->v[i], &n) : detok_stream_flush(&s, &n);
        if (!p) {
            abort();
        }
        while (total + n > cap) {
            all = realloc(all, cap *= 2);
        }
        if (all && n) {
            memcpy(all + total, p, n);
        }
        total += n;
        cuts[i] = total;
    }
    for (size_t i = 0; all && cuts && i < t->n; i++) {
        if (cuts_char(all, total, cuts[i])) {
            abort(); /* a character was cut in two */
        }
    }
    if (all && !v->clean_spaces) {
        int64_t want = detokenize(v, t->v, t->n, NULL, 0, false, special);
        char *buf = malloc(want > 0 ? (size_t)want : 1);
        if (want != (int64_t)total || !buf ||
            detokenize(v, t->v, t->n, buf, (size_t)want, false, special) != want ||
            memcmp(buf, all, total) != 0) {
            abort(); /* the stream must add up to detokenize */
        }
        free(buf);
    }
    free(cuts);
    free(all);
    detok_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const struct vocab *v = vocabs[data[0] % n_vocabs];
    bool add_special = data[0] & 0x10, parse_special = data[0] & 0x20, special = data[0] & 0x40;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct tok_list t = {0};
    if (tokenize_list(v, text, len, add_special, parse_special, &t) != 0) {
        abort();
    }
    for (size_t i = 0; i < t.n; i++) {
        if (!vocab_valid(v, t.v[i])) {
            abort();
        }
        char piece[8];
        if (token_to_piece(v, t.v[i], piece, sizeof(piece), 1, special) < 0) {
            abort();
        }
    }
    char small[16];
    int64_t n1 = detokenize(v, t.v, t.n, small, sizeof(small), add_special, special);
    int64_t n2 = detokenize(v, t.v, t.n, NULL, 0, add_special, special);
    if (n1 < 0 || n1 != n2) {
        abort();
    }
    check_stream(v, &t, special);
    tok_list_free(&t);
    return 0;
}
