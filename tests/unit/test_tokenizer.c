/*
 * test_tokenizer.c - tokenizer tests: conformance with llama.cpp's published
 * vocabulary test vectors (../shared/vocab or $CLLM_SHARED/vocab, read at
 * test time), special-token parsing, BOS/EOS, round trips through
 * detokenize, the streaming decoder, the merge heap and hash map, errors on
 * bad input, and a 1 MB speed figure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

#define MARKER "\n__ggml_vocab_test__\n"

static const char *const VOCABS[] = {
    "llama-spm", "phi-3", "gpt-2", "falcon", "deepseek-coder", "deepseek-llm",
    "mpt", "refact", "starcoder", "bert-bge", NULL};

static bool quick(void)
{
    const char *q = getenv("CLLM_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static void shared_path(char *out, size_t size, const char *rel)
{
    const char *shared = getenv("CLLM_SHARED");
    const char *src = getenv("CLLM_SOURCE_DIR");
    if (shared && *shared) {
        snprintf(out, size, "%s/%s", shared, rel);
    } else {
        snprintf(out, size, "%s/../shared/%s", src && *src ? src : CLLM_SOURCE_DIR, rel);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* Skip the calling test when ../shared (or $CLLM_SHARED) has no vocabularies. */
#define REQUIRE_SHARED()                                                              \
    do {                                                                              \
        char probe_[1024];                                                            \
        shared_path(probe_, sizeof(probe_), "vocab/ggml-vocab-llama-spm.gguf");       \
        FILE *f_ = fopen(probe_, "rb");                                               \
        if (!f_) {                                                                    \
            printf("skipped: %s not found (set CLLM_SHARED)\n", probe_);              \
            skip();                                                                   \
        }                                                                             \
        fclose(f_);                                                                   \
    } while (0)

static struct vocab *load_shared_vocab(const char *name)
{
    char path[1024], err[512];
    char rel[256];
    snprintf(rel, sizeof(rel), "vocab/ggml-vocab-%s.gguf", name);
    shared_path(path, sizeof(path), rel);
    struct vocab *v = vocab_load_file(path, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "%s\n", err);
    }
    return v;
}

/* Parse one line of space-separated ids. */
static size_t parse_ids(const char *line, const char *end, int32_t *ids, size_t max)
{
    size_t n = 0;
    while (line < end && n < max) {
        char *next;
        long x = strtol(line, &next, 10);
        if (next == line) {
            break;
        }
        ids[n++] = (int32_t)x;
        line = next;
    }
    return n;
}

static void print_case_failure(const char *name, size_t k, const int32_t *want, size_t nw,
                               const struct tok_list *got)
{
    fprintf(stderr, "%s case %zu: want", name, k);
    for (size_t i = 0; i < nw; i++) {
        fprintf(stderr, " %d", want[i]);
    }
    fprintf(stderr, "\n%s case %zu: got ", name, k);
    for (size_t i = 0; i < got->n; i++) {
        fprintf(stderr, " %d", got->v[i]);
    }
    fprintf(stderr, "\n");
}

/* Run every case of one vocabulary; returns the number that failed. */
static int run_vocab_cases(const char *name, int *n_cases)
{
    char path[1024], rel[256];
    size_t inp_len, out_len;
    snprintf(rel, sizeof(rel), "vocab/ggml-vocab-%s.gguf.inp", name);
    shared_path(path, sizeof(path), rel);
    char *inp = slurp(path, &inp_len);
    snprintf(rel, sizeof(rel), "vocab/ggml-vocab-%s.gguf.out", name);
    shared_path(path, sizeof(path), rel);
    char *out = slurp(path, &out_len);
    struct vocab *v = load_shared_vocab(name);
    assert_non_null(inp);
    assert_non_null(out);
    assert_non_null(v);
    int failed = 0;
    *n_cases = 0;
    const char *s = inp, *line = out;
    for (const char *m; (m = strstr(s, MARKER)) != NULL; s = m + strlen(MARKER)) {
        const char *eol = strchr(line, '\n');
        eol = eol ? eol : line + strlen(line);
        int32_t want[1024];
        size_t nw = parse_ids(line, eol, want, 1024);
        line = *eol ? eol + 1 : eol;
        struct tok_list got = {0};
        assert_int_equal(tokenize_list(v, s, (size_t)(m - s), false, false, &got), 0);
        bool ok = got.n == nw && (nw == 0 || memcmp(got.v, want, nw * sizeof(*want)) == 0);
        if (!ok) {
            print_case_failure(name, (size_t)*n_cases, want, nw, &got);
            failed++;
        }
        tok_list_free(&got);
        (*n_cases)++;
    }
    vocab_free(v);
    free(inp);
    free(out);
    return failed;
}

static void test_llama_cpp_vectors(void **state)
{
    (void)state;
    REQUIRE_SHARED();
    int total_failed = 0;
    for (size_t i = 0; VOCABS[i]; i++) {
        int n = 0;
        int failed = run_vocab_cases(VOCABS[i], &n);
        printf("vocab %-16s %d/%d cases match llama.cpp\n", VOCABS[i], n - failed, n);
        total_failed += failed;
    }
    assert_int_equal(total_failed, 0);
}

/* ---- helpers ---- */

static struct tok_list tok(const struct vocab *v, const char *text, bool add_special,
                           bool parse_special)
{
    struct tok_list t = {0};
    assert_int_equal(tokenize_list(v, text, strlen(text), add_special, parse_special, &t), 0);
    return t;
}

static char *detok_str(const struct vocab *v, const struct tok_list *t, bool remove_special,
                       bool unparse_special)
{
    int64_t n = detokenize(v, t->v, t->n, NULL, 0, remove_special, unparse_special);
    assert_true(n >= 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(detokenize(v, t->v, t->n, buf, (size_t)n, remove_special, unparse_special), n);
    buf[n] = '\0';
    return buf;
}

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        if (k == 0 || i + k > n) {
            return false;
        }
        for (size_t j = 1; j < k; j++) {
            if (((unsigned char)s[i + j] & 0xC0) != 0x80) {
                return false;
            }
        }
        i += k;
    }
    return true;
}

/* A tiny SPM vocabulary in memory: byte tokens only for some bytes, so that
 * fallbacks, strip attributes and flags can be checked exactly. */
static struct vocab *tiny_vocab(const char *name, bool with_bytes, const char *extra_key,
                                uint32_t extra_val, char *err, size_t err_size)
{
    static const char *const TOKENS[] = {
        "<unk>", "<s>", "</s>", "<|user|>", "<|end|>", "\xe2\x96\x81", "a", "b",
        "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab", "<0x41>", "<0x0A>", "", "<mine>"};
    static const int32_t TYPES[] = {2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6, 1, 4};
    static const float SCORES[] = {0, 0, 0, 0, 0, -1, -2, -2, -3, -4, -1, 0, 0, 0, 0};
    size_t n = with_bytes ? 15 : 11;
    const char *tokens[15];
    int32_t types[15];
    float scores[15];
    for (size_t i = 0, k = 0; i < 15; i++) {
        if (!with_bytes && (i == 11 || i == 12 || i == 13 || i == 14)) {
            continue;
        }
        tokens[k] = TOKENS[i], types[k] = TYPES[i], scores[k++] = SCORES[i];
    }
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    assert_int_equal(gguf_writer_add_str(w, "general.name", name), 0);
    assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"), 0);
    assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, n), 0);
    assert_int_equal(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n), 0);
    assert_int_equal(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, n), 0);
    if (extra_key) {
        assert_int_equal(gguf_writer_add_u32(w, extra_key, extra_val), 0);
    }
    uint8_t *mem;
    size_t size;
    assert_int_equal(gguf_writer_to_memory(w, &mem, &size), 0);
    gguf_writer_free(w);
    struct gguf_ctx *g = gguf_open_memory(mem, size, "tiny.gguf", err, err_size);
    assert_non_null(g);
    struct vocab *v = vocab_load(g, err, err_size);
    gguf_close(g);
    free(mem);
    return v;
}

/* ---- tests ---- */

static void test_strmap(void **state)
{
    (void)state;
    struct strmap m;
    char keys[2000][8];
    assert_int_equal(strmap_init(&m, 4), 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(strmap_put(&m, keys[i], strlen(keys[i]), i, false), 0);
    }
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(strmap_get(&m, keys[i], strlen(keys[i])), i);
    }
    assert_int_equal(strmap_get(&m, "k", 1), -1);
    assert_int_equal(strmap_put(&m, keys[5], strlen(keys[5]), 99, false), 0);
    assert_int_equal(strmap_get(&m, keys[5], strlen(keys[5])), 5); /* kept */
    assert_int_equal(strmap_put(&m, keys[5], strlen(keys[5]), 99, true), 0);
    assert_int_equal(strmap_get(&m, keys[5], strlen(keys[5])), 99); /* replaced */
    assert_int_equal(strmap_put(&m, "", 0, 7, true), 0);
    assert_int_equal(strmap_get(&m, "", 0), 7);
    strmap_free(&m);
}

static void test_heap_order(void **state)
{
    (void)state;
    struct tok_heap h = {0};
    srand(1);
    for (int i = 0; i < 500; i++) {
        struct tok_bigram b = {(float)(rand() % 10), rand() % 100, 0, 0};
        assert_int_equal(tok_heap_push(&h, b), 0);
    }
    struct tok_bigram prev = tok_heap_pop(&h);
    while (h.n > 0) {
        struct tok_bigram b = tok_heap_pop(&h);
        assert_true(b.prio < prev.prio || (b.prio == prev.prio && b.left >= prev.left));
        prev = b;
    }
    free(h.v);
}

static void test_spm_basics(void **state)
{
    (void)state;
    char err[256];
    struct vocab *v = tiny_vocab("tiny", true, NULL, 0, err, sizeof(err));
    assert_non_null(v);
    /* " ab" merges to "\u2581ab" (score -1) */
    struct tok_list t = tok(v, "ab", true, false);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0], 1);
    assert_int_equal(t.v[1], 10);
    tok_list_free(&t);
    /* 'A' has a byte token; 'C' has none and no text token: unknown */
    t = tok(v, "AC", false, false);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.v[0], 5);
    assert_int_equal(t.v[1], 11);
    assert_int_equal(t.v[2], 0);
    tok_list_free(&t);
    /* empty token text gets llama.cpp's placeholder; user-defined always split */
    assert_string_equal(v->tokens[13].text, "[EMPTY_13]");
    t = tok(v, "a<mine>b", false, false);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.v[0], 8);  /* "\u2581a" */
    assert_int_equal(t.v[1], 14);
    assert_int_equal(t.v[2], 5);  /* after a special token the space prefix comes again */
    assert_int_equal(t.v[3], 7);
    tok_list_free(&t);
    vocab_free(v);
}

static void test_special_parsing(void **state)
{
    (void)state;
    REQUIRE_SHARED();
    struct vocab *v = load_shared_vocab("llama-spm");
    assert_non_null(v);
    struct tok_list on = tok(v, "<s>Hi</s>", false, true);
    struct tok_list off = tok(v, "<s>Hi</s>", false, false);
    assert_int_equal(on.v[0], 1);
    assert_int_equal(on.v[on.n - 1], 2);
    assert_true(off.n > on.n);
    for (size_t i = 0; i < off.n; i++) {
        assert_true(off.v[i] != 1 && off.v[i] != 2);
    }
    char *s = detok_str(v, &on, false, true);
    assert_string_equal(s, "<s> Hi</s>");
    free(s);
    s = detok_str(v, &on, false, false);
    assert_string_equal(s, " Hi");
    free(s);
    tok_list_free(&on);
    tok_list_free(&off);
    vocab_free(v);
}

static void test_strip_attributes(void **state)
{
    (void)state;
    char err[256];
    /* a "phi-3" name gives special tokens RSTRIP, as llama.cpp does */
    struct vocab *v = tiny_vocab("Phi-3 tiny", true, NULL, 0, err, sizeof(err));
    assert_non_null(v);
    assert_true(vocab_attr(v, 4) & TOKEN_ATTR_RSTRIP);
    assert_false(vocab_attr(v, 1) & TOKEN_ATTR_RSTRIP);
    struct tok_list t = tok(v, "<|end|>  \n a", false, true);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0], 4);
    assert_int_equal(t.v[1], 8); /* " a": whitespace after <|end|> swallowed, prefix added */
    tok_list_free(&t);
    vocab_free(v);
}

static void test_bos_eos_flags(void **state)
{
    (void)state;
    REQUIRE_SHARED();
    struct vocab *spm = load_shared_vocab("llama-spm");
    struct vocab *gpt2 = load_shared_vocab("gpt-2");
    struct vocab *bert = load_shared_vocab("bert-bge");
    assert_non_null(spm);
    assert_non_null(gpt2);
    assert_non_null(bert);
    struct tok_list a = tok(spm, "", true, false), b = tok(gpt2, "", true, false);
    struct tok_list c = tok(bert, "hello", true, false);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.v[0], 1);
    assert_int_equal(b.n, 0); /* gpt-2 adds no BOS */
    assert_int_equal(c.v[0], 101);
    assert_int_equal(c.v[c.n - 1], 102);
    assert_true(vocab_is_eog(spm, 2));
    assert_false(vocab_is_eog(spm, 1));
    assert_true(vocab_is_eog(gpt2, 50256));
    tok_list_free(&a);
    tok_list_free(&b);
    tok_list_free(&c);
    vocab_free(spm);
    vocab_free(gpt2);
    vocab_free(bert);
}

static void test_round_trip(void **state)
{
    (void)state;
    REQUIRE_SHARED();
    static const char *const TEXTS[] = {
        "Hello world", " leading space", "tabs\tand\nnewlines\n\n", "multiple   spaces",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa6\x99 caf\xc3\xa9", "x = [1, 2, 3];", NULL};
    static const char *const NAMES[] = {"llama-spm", "gpt-2", "deepseek-llm", NULL};
    for (size_t k = 0; NAMES[k]; k++) {
        struct vocab *v = load_shared_vocab(NAMES[k]);
        assert_non_null(v);
        for (size_t i = 0; TEXTS[i]; i++) {
            struct tok_list t = tok(v, TEXTS[i], false, false);
            char *s = detok_str(v, &t, false, false);
            assert_string_equal(s, TEXTS[i]);
            free(s);
            tok_list_free(&t);
            t = tok(v, TEXTS[i], true, false); /* with BOS, removed again */
            s = detok_str(v, &t, true, false);
            assert_string_equal(s + (v->add_bos && v->add_space_prefix), TEXTS[i]);
            free(s);
            tok_list_free(&t);
        }
        vocab_free(v);
    }
}

static void test_stream_decoder(void **state)
{
    (void)state;
    REQUIRE_SHARED();
    struct vocab *v = load_shared_vocab("llama-spm");
    assert_non_null(v);
    const char *text = "\xf0\x9f\xa6\x99 Lama \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x81!";
    struct tok_list t = tok(v, text, false, false);
    struct detok_stream s;
    detok_stream_init(&s, v, false, true);
    char out[256] = "";
    size_t total = 0, held_chunks = 0;
    for (size_t i = 0; i < t.n; i++) {
        size_t n;
        const char *p = detok_stream_push(&s, t.v[i], &n);
        assert_non_null(p);
        assert_true(valid_utf8(p, n));
        held_chunks += n == 0;
        memcpy(out + total, p, n);
        total += n;
    }
    size_t n;
    detok_stream_flush(&s, &n);
    assert_int_equal(n, 0);
    out[total] = '\0';
    assert_string_equal(out, text);
    assert_true(held_chunks > 0); /* the emoji came as byte tokens and was held */
    size_t dummy;
    assert_null(detok_stream_push(&s, -5, &dummy));
    /* an unfinished character is given back by flush */
    int32_t lead = v->byte_token[0xE6];
    assert_non_null(detok_stream_push(&s, lead, &n));
    assert_int_equal(n, 0);
    const char *rest = detok_stream_flush(&s, &n);
    assert_int_equal(n, 1);
    assert_int_equal((unsigned char)rest[0], 0xE6);
    detok_stream_free(&s);
    tok_list_free(&t);
    vocab_free(v);
}

static void test_bad_input(void **state)
{
    (void)state;
    char err[512] = "";
    assert_null(vocab_load_file("/nonexistent/model.gguf", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/model.gguf"));
    /* a GGUF without tokenizer keys */
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    uint8_t *mem;
    size_t size;
    assert_int_equal(gguf_writer_to_memory(w, &mem, &size), 0);
    struct gguf_ctx *g = gguf_open_memory(mem, size, "empty.gguf", err, sizeof(err));
    assert_non_null(g);
    assert_null(vocab_load(g, err, sizeof(err)));
    assert_non_null(strstr(err, "empty.gguf"));
    assert_non_null(strstr(err, "tokenizer.ggml.model"));
    gguf_close(g);
    free(mem);
    /* unsupported model kind; BPE without merges */
    static const char *const MODELS[] = {"t5", "gpt2", NULL};
    for (size_t i = 0; MODELS[i]; i++) {
        const char *toks[] = {"a", "b"};
        assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.model", MODELS[i]), 0);
        assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 2), 0);
        assert_int_equal(gguf_writer_to_memory(w, &mem, &size), 0);
        g = gguf_open_memory(mem, size, "bad.gguf", err, sizeof(err));
        assert_non_null(g);
        assert_null(vocab_load(g, err, sizeof(err)));
        gguf_close(g);
        free(mem);
        gguf_writer_free(w);
        w = gguf_writer_new();
        assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    }
    gguf_writer_free(w);
    /* bad ids, bad special id in metadata */
    struct vocab *v = tiny_vocab("tiny", true, "tokenizer.ggml.bos_token_id", 12345, err, sizeof(err));
    assert_non_null(v);
    assert_int_equal(v->bos, 1); /* out of range: default kept */
    int32_t ids[] = {1, 99999};
    char buf[16];
    assert_int_equal(detokenize(v, ids, 2, buf, sizeof(buf), false, false), -1);
    assert_int_equal(token_to_piece(v, -1, buf, sizeof(buf), 0, true), -1);
    assert_int_equal(tokenize(NULL, "a", 1, false, false, NULL, 0), -1);
    /* small output buffers: the full size is returned, nothing overflows */
    int32_t one[1];
    assert_int_equal(tokenize(v, "ab ab ab", 8, true, false, one, 1), 4);
    assert_int_equal(one[0], 1);
    vocab_free(v);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Tokenize 1 MB of English-like text (256 KB in quick mode) with each model kind. */
static void test_speed(void **state)
{
    (void)state;
    REQUIRE_SHARED();
    static const char *const WORDS[] = {
        "the", "model", "reads", "tokens", "quickly,", "and", "every", "sentence",
        "ends.", "Numbers", "like", "1234", "appear", "too;", "\n", "however", "it's", "fine"};
    size_t target = quick() ? (256u << 10) : (1u << 20), n = 0;
    char *text = malloc(target + 32);
    assert_non_null(text);
    srand(7);
    while (n < target) {
        const char *w = WORDS[rand() % (int)(sizeof(WORDS) / sizeof(WORDS[0]))];
        n += (size_t)sprintf(text + n, "%s ", w);
    }
    static const char *const NAMES[] = {"llama-spm", "gpt-2", "bert-bge", NULL};
    for (size_t k = 0; NAMES[k]; k++) {
        struct vocab *v = load_shared_vocab(NAMES[k]);
        assert_non_null(v);
        struct tok_list t = {0};
        double t0 = now_s();
        assert_int_equal(tokenize_list(v, text, n, false, false, &t), 0);
        double dt = now_s() - t0;
        printf("speed %-10s %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n", NAMES[k], n, t.n,
               dt, n / dt / 1e6); /* reported only: no wall-clock bound in a correctness test */
        tok_list_free(&t);
        vocab_free(v);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_heap_order),
        cmocka_unit_test(test_spm_basics),
        cmocka_unit_test(test_strip_attributes),
        cmocka_unit_test(test_special_parsing),
        cmocka_unit_test(test_bos_eos_flags),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stream_decoder),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_llama_cpp_vectors),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
