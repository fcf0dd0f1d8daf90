/*
 * test_seq_state.c - saving a sequence to a file (engine_seq_save) and
 * restoring it into another (engine_seq_load) gives the same tokens, as the
 * engine records them, and the same next-token logits, bit for bit; bad
 * files (missing, wrong magic, truncated, padded, another model's) are
 * refused with a message and leave the sequence empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

static struct model *load(const char *name)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/%s", src, name);
    struct model *m = model_load(path, 0, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    return m;
}

static struct engine *make_engine(struct model *m)
{
    struct engine_params p = engine_default_params();
    p.n_ctx = 256;
    p.n_seq_max = 2;
    p.n_outputs_max = 2;
    p.n_threads = p.n_threads_batch = 1;
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof err);
    if (!e)
        fail_msg("%s", err);
    return e;
}

static void decode_prompt(struct engine *e, int32_t seq, const int32_t *t, int32_t n)
{
    struct batch b;
    char err[256];
    batch_init(&b, 64);
    for (int32_t i = 0; i < n; i++)
        batch_add(&b, t[i], i, seq, false);
    if (engine_decode(e, &b, err, sizeof err) != 0)
        fail_msg("%s", err);
    batch_free(&b);
}

/* Logits of token tok at position pos of seq, copied. */
static float *next_logits(struct engine *e, int32_t seq, int32_t tok, int32_t pos)
{
    struct batch b;
    char err[256];
    batch_init(&b, 1);
    batch_add(&b, tok, pos, seq, true);
    if (engine_decode(e, &b, err, sizeof err) != 0)
        fail_msg("%s", err);
    int32_t n = engine_n_vocab(e);
    float *out = malloc((size_t)n * sizeof *out);
    memcpy(out, engine_logits(e, 0), (size_t)n * sizeof *out);
    batch_free(&b);
    return out;
}

static const int32_t PROMPT[] = {1, 403, 407, 261, 378, 316, 270, 413, 300, 261, 350, 275, 439, 396};
#define NP ((int32_t)(sizeof PROMPT / sizeof PROMPT[0]))

static void tmp_path(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/cllm_test_seq_state_%d_%s.bin", (int)getpid(), tag);
}

static void test_round_trip(void **state)
{
    struct model *m = load("stories260K.gguf");
    struct engine *e = make_engine(m);
    char path[256], err[256];
    tmp_path(path, sizeof path, "rt");
    decode_prompt(e, 0, PROMPT, NP);
    int64_t nb = engine_seq_save(e, 0, path, err, sizeof err);
    assert_true(nb > 0);
    decode_prompt(e, 1, PROMPT, 3); /* replaced by the load */
    assert_int_equal(engine_seq_load(e, 1, path, err, sizeof err), nb);
    assert_int_equal(engine_seq_len(e, 1), NP);
    assert_memory_equal(engine_seq_tokens(e, 1), PROMPT, sizeof PROMPT);
    float *a = next_logits(e, 0, 300, NP);
    float *b = next_logits(e, 1, 300, NP);
    assert_memory_equal(a, b, (size_t)engine_n_vocab(e) * sizeof(float));
    free(a);
    free(b);
    remove(path);
    engine_free(e);
    model_free(m);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*n + 16);
    assert_int_equal(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

static void expect_refused(struct engine *e, const char *path)
{
    char err[256] = "";
    engine_seq_clear(e, 1);
    decode_prompt(e, 1, PROMPT, 3);
    int32_t before = engine_seq_len(e, 1);
    assert_int_equal(engine_seq_load(e, 1, path, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    assert_int_equal(engine_seq_len(e, 1), before); /* a refused file leaves the sequence as it was */
}

static void test_bad_files(void **state)
{
    struct model *m = load("stories260K.gguf");
    struct engine *e = make_engine(m);
    char path[256], bad[256], err[256];
    tmp_path(path, sizeof path, "good");
    tmp_path(bad, sizeof bad, "bad");
    decode_prompt(e, 0, PROMPT, NP);
    assert_true(engine_seq_save(e, 0, path, err, sizeof err) > 0);
    size_t n;
    char *good = read_all(path, &n);

    expect_refused(e, "/nonexistent/dir/file.bin");
    expect_refused(e, "/tmp"); /* a directory */
    write_bytes(bad, "", 0);
    expect_refused(e, bad);
    for (size_t cut = 1; cut < n; cut += n / 37 + 1) { /* truncated anywhere */
        write_bytes(bad, good, cut);
        expect_refused(e, bad);
    }
    memcpy(good + n, "padding!", 8); /* extra bytes */
    write_bytes(bad, good, n + 8);
    expect_refused(e, bad);
    good[0] = 'X'; /* wrong magic */
    write_bytes(bad, good, n);
    expect_refused(e, bad);
    good[0] = 'C';
    good[8] ^= 1; /* n_layer differs: another model */
    write_bytes(bad, good, n);
    expect_refused(e, bad);
    good[8] ^= 1;
    good[8 + 7 * 4] ^= 1; /* the model's fingerprint differs */
    write_bytes(bad, good, n);
    expect_refused(e, bad);
    good[8 + 7 * 4] ^= 1;
    int32_t tok0, out_of_vocab = 1 << 30, negative = -1; /* token ids outside the vocabulary */
    memcpy(&tok0, good + 8 + 9 * 4, 4);
    memcpy(good + 8 + 9 * 4, &out_of_vocab, 4);
    write_bytes(bad, good, n);
    expect_refused(e, bad);
    memcpy(good + 8 + 9 * 4, &negative, 4);
    write_bytes(bad, good, n);
    expect_refused(e, bad);
    memcpy(good + 8 + 9 * 4, &tok0, 4);
    write_bytes(bad, good, n); /* intact again: accepted */
    char err2[256];
    assert_int_equal(engine_seq_load(e, 1, bad, err2, sizeof err2), (int64_t)n);
    uint32_t huge = 0x7fffffff; /* n_tokens far beyond the file */
    memcpy(good + 8 + 6 * 4, &huge, 4);
    write_bytes(bad, good, n);
    expect_refused(e, bad);

    /* bad sequence ids; an unwritable path */
    assert_int_equal(engine_seq_save(e, 2, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "sequence id 2"));
    assert_int_equal(engine_seq_load(e, -1, path, err, sizeof err), -1);
    assert_int_equal(engine_seq_save(e, 0, "/nonexistent/dir/x.bin", err, sizeof err), -1);
    free(good);
    remove(path);
    remove(bad);
    engine_free(e);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
