/*
 * test_engine.c - the forward pass on real models.
 *
 *  - greedy generation on stories260K gives llama.cpp's token ids;
 *  - batch invariance: the logits of a sequence evaluated (a) alone token by
 *    token, (b) as one prompt, (c) in batches beside three other sequences
 *    are bit-identical;
 *  - bad batches (token id, sequence id, position, too many tokens) and a
 *    full KV cache are errors that leave the cache as it was;
 *  - sequences (engine_seq_*): the tokens the engine records stay in step
 *    with the KV pages through decode, copy, keep, shift and clear.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "tensor/f16.h"

static struct model *load(const char *name)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/models/%s", src, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fclose(f);
    struct model *m = model_load(path, 0, err, sizeof(err));
    if (m == NULL)
        fail_msg("%s", err);
    return m;
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Greedy continuation of prompt in sequence 0, one token per decode. */
static void greedy(struct engine *e, const int32_t *prompt, int32_t n_prompt, int32_t *out, int32_t n)
{
    struct batch b;
    char err[256];
    assert_int_equal(batch_init(&b, 64), 0);
    for (int32_t i = 0; i < n_prompt; i++)
        batch_add(&b, prompt[i], i, 0, i == n_prompt - 1);
    if (engine_decode(e, &b, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    int32_t pos = n_prompt;
    for (int32_t k = 0; k < n; k++) {
        out[k] = argmax(engine_logits(e, b.n_tokens - 1), engine_n_vocab(e));
        batch_clear(&b);
        batch_add(&b, out[k], pos++, 0, true);
        if (engine_decode(e, &b, err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    batch_free(&b);
}

static void test_stories260k_greedy(void **state)
{
    (void)state;
    struct model *m = load("stories260K.gguf");
    if (m == NULL)
        skip();
    /* llama.cpp (llama-cpp-python 0.3.36): "Once upon a time" and its greedy continuation */
    const int32_t prompt[] = { 1, 403, 407, 261, 378 };
    const int32_t want[] = { 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
                             401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282 };
    struct engine_params p = engine_default_params();
    p.n_ctx = 256;
    p.n_threads = 2;
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof(err));
    if (e == NULL)
        fail_msg("%s", err);
    int32_t got[24];
    greedy(e, prompt, 5, got, 24);
    for (int i = 0; i < 24; i++)
        if (got[i] != want[i])
            fail_msg("token %d: got %d, llama.cpp gives %d", i, got[i], want[i]);
    engine_free(e);
    model_free(m);
}

/* Logits of every position of seq 0's tokens, evaluated three ways. */
static void invariance(const char *name, enum tensor_type kv_type)
{
    struct model *m = load(name);
    if (m == NULL)
        skip();
    enum { N = 12, NV_MAX = 262144 };
    const int32_t toks[N] = { 1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315 };
    const int32_t other[3][N] = { { 1, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310 },
                                  { 1, 410, 411, 412, 413, 414, 415, 416, 417, 418, 419, 420 },
                                  { 1, 270, 280, 290, 300, 310, 320, 330, 340, 350, 360, 370 } };
    struct engine_params p = { .n_ctx = 512, .n_seq_max = 4, .n_outputs_max = 64, .n_batch = 64,
                               .n_threads = 2, .n_threads_batch = 2, .type_k = kv_type,
                               .type_v = kv_type };
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof(err));
    if (e == NULL)
        fail_msg("%s", err);
    int32_t nv = engine_n_vocab(e);
    assert_true(nv <= NV_MAX);
    float *ref = malloc((size_t)N * nv * sizeof(float));
    struct batch b;
    batch_init(&b, 64);
    /* (a) token by token */
    for (int32_t i = 0; i < N; i++) {
        batch_clear(&b);
        batch_add(&b, toks[i], i, 0, true);
        assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
        memcpy(ref + (size_t)i * nv, engine_logits(e, 0), (size_t)nv * sizeof(float));
    }
    /* (b) one prompt, in sequence 1 */
    batch_clear(&b);
    for (int32_t i = 0; i < N; i++)
        batch_add(&b, toks[i], i, 1, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    for (int32_t i = 0; i < N; i++)
        if (memcmp(ref + (size_t)i * nv, engine_logits(e, i), (size_t)nv * sizeof(float)) != 0)
            fail_msg("%s: position %d differs between token-by-token and one prompt", name, i);
    /* (c) chunks of 5 interleaved with three other sequences, in sequence 2 of 0..3 */
    engine_seq_clear(e, -1);
    int32_t seqs[4] = { 2, 0, 1, 3 };
    for (int32_t start = 0; start < N; start += 5) {
        batch_clear(&b);
        int32_t idx[5];
        for (int32_t s = 0; s < 4; s++)
            for (int32_t i = start; i < start + 5 && i < N; i++) {
                const int32_t *src = s == 0 ? toks : other[s - 1];
                int32_t at = batch_add(&b, src[i], i, seqs[s], true);
                if (s == 0)
                    idx[i - start] = at;
            }
        assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
        for (int32_t i = start; i < start + 5 && i < N; i++)
            if (memcmp(ref + (size_t)i * nv, engine_logits(e, idx[i - start]), (size_t)nv * sizeof(float)) != 0)
                fail_msg("%s: position %d differs when batched with other sequences", name, i);
    }
    batch_free(&b);
    free(ref);
    engine_free(e);
    model_free(m);
}

static void test_invariance_stories(void **state) { (void)state; invariance("stories260K.gguf", TYPE_F16); }
static void test_invariance_q4_0_f32kv(void **state) { (void)state; invariance("TinyStories-656K-Q4_0.gguf", TYPE_F32); }

static void test_invariance_gemma_q8_0kv(void **state)
{
    (void)state;
    if (getenv("CLLM_TEST_QUICK"))
        skip(); /* a 262k vocabulary under ASan takes too long */
    invariance("gemma-3-270m-q4_k_m.gguf", TYPE_Q8_0);
}

/* After discarding [2, 5) of a b c d e f g h, the layer-0 keys of f g h (now
 * at 2..4) equal, up to F16 rounding, those of a b f g h evaluated fresh:
 * in layer 0 a key depends only on its token and position. Values are exact. */
static void shift_check(const char *name)
{
    struct model *m = load(name);
    if (m == NULL)
        skip();
    struct engine_params p = engine_default_params();
    p.n_ctx = 64;
    p.n_seq_max = 2;
    p.n_threads = 1;
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof(err));
    assert_non_null(e);
    const int32_t full[8] = { 1, 403, 407, 261, 378, 432, 383, 286 };
    const int32_t kept[5] = { 1, 403, 432, 383, 286 };
    struct batch b;
    batch_init(&b, 16);
    for (int i = 0; i < 8; i++)
        batch_add(&b, full[i], i, 0, i == 7);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    batch_clear(&b);
    for (int i = 0; i < 5; i++)
        batch_add(&b, kept[i], i, 1, i == 4);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_discard(e, 0, 2, 3, err, sizeof(err)), 0);
    struct kv_cache *kv = engine_cache(e);
    assert_int_equal(engine_seq_len(e, 0), 5);
    assert_memory_equal(engine_seq_tokens(e, 0), kept, sizeof kept); /* the tokens moved too */
    size_t krow = kv_cache_k_row_size(kv), vrow = kv_cache_v_row_size(kv);
    for (int32_t pos = 0; pos < 5; pos++) {
        const uint16_t *k0 = kv_cache_k(kv, 0, 0, pos), *k1 = kv_cache_k(kv, 0, 1, pos);
        for (size_t i = 0; i < krow / 2; i++) {
            float a = f16_to_f32(k0[i]), c = f16_to_f32(k1[i]);
            if (fabsf(a - c) > 2e-3f * (1 + fabsf(c)))
                fail_msg("%s: position %d, key %zu: shifted %g, fresh %g", name, pos, i, a, c);
        }
        assert_memory_equal(kv_cache_v(kv, 0, 0, pos), kv_cache_v(kv, 0, 1, pos), vrow);
    }
    /* the shifted sequence continues at position 5 */
    batch_clear(&b);
    batch_add(&b, 261, 5, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_discard(e, 0, 4, 3, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot discard [4, 7) of sequence 0"));
    batch_free(&b);
    engine_free(e);
    model_free(m);
}

static void test_context_shift_llama(void **state) { (void)state; shift_check("stories260K.gguf"); }
static void test_context_shift_gemma(void **state) { (void)state; shift_check("gemma-3-270m-q4_k_m.gguf"); }

static void test_bad_batches(void **state)
{
    (void)state;
    struct model *m = load("stories260K.gguf");
    if (m == NULL)
        skip();
    struct engine_params p = engine_default_params();
    p.n_ctx = 64;
    p.n_seq_max = 4;
    p.n_batch = 16;
    p.n_threads = 1;
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof(err));
    assert_non_null(e);
    struct batch b;
    batch_init(&b, 128);
    batch_add(&b, 1, 0, 0, true);
    batch_add(&b, 512, 1, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "token id 512 is out of range"));
    batch_clear(&b);
    batch_add(&b, -3, 0, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    batch_clear(&b);
    batch_add(&b, 1, 0, 4, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sequence id 4 is out of range"));
    batch_clear(&b);
    batch_add(&b, 1, 3, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "has position 3, expected 0"));
    batch_clear(&b);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    for (int i = 0; i < 17; i++)
        batch_add(&b, 1, i, 0, false);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "batch of 17 tokens"));
    batch_clear(&b);
    for (int i = 0; i < 5; i++) /* n_outputs_max defaults to n_seq_max = 4 */
        batch_add(&b, 1, i, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "5 tokens ask for logits, at most 4 can"));
    assert_int_equal(engine_seq_len(e, 0), 0);
    assert_null(engine_logits(e, 0));

    /* fill the cache: 64 positions + one spare page per sequence slot = 6 pages of 32.
     * Sequences 0 and 1 take 2 pages each, sequence 2 one: one page is left. */
    int32_t lens[4] = { 0, 0, 0, 0 };
    const int32_t fill[3] = { 64, 64, 32 };
    for (int s = 0; s < 3; s++) {
        while (lens[s] < fill[s]) {
            batch_clear(&b);
            for (int i = 0; i < 16; i++)
                batch_add(&b, 1, lens[s]++, s, false);
            assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
        }
    }
    assert_int_equal(kv_cache_free_pages(engine_cache(e)), 1);
    /* sequence 2 can take the last page, sequence 3 then none: all-or-nothing */
    batch_clear(&b);
    for (int i = 0; i < 8; i++)
        batch_add(&b, 1, lens[2] + i, 2, false);
    for (int i = 0; i < 8; i++)
        batch_add(&b, 1, lens[3] + i, 3, i == 7);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "KV cache is full"));
    for (int s = 0; s < 4; s++)
        assert_int_equal(engine_seq_len(e, s), lens[s]);
    assert_int_equal(kv_cache_free_pages(engine_cache(e)), 1);

    /* one sequence may not hold more than n_ctx positions, even with pages free */
    engine_seq_clear(e, -1);
    int32_t pos = 0;
    for (int round = 0; round < 4; round++) {
        batch_clear(&b);
        for (int i = 0; i < 16; i++)
            batch_add(&b, 1, pos++, 0, i == 15);
        assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    }
    batch_clear(&b);
    batch_add(&b, 1, pos, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sequence 0 is full: it holds 64 positions, the context size is 64"));
    assert_int_equal(engine_seq_len(e, 0), 64);
    batch_free(&b);
    engine_free(e);
    model_free(m);
}

/* The engine's record of each sequence's tokens follows every change of its pages. */
static void test_seq_tokens(void **state)
{
    (void)state;
    struct model *m = load("stories260K.gguf");
    if (m == NULL)
        skip();
    struct engine_params p = engine_default_params();
    p.n_ctx = 128;
    p.n_seq_max = 3;
    p.n_batch = 16;
    p.n_threads = 1;
    char err[256];
    struct engine *e = engine_create(m, &p, err, sizeof(err));
    assert_non_null(e);
    const int32_t toks[10] = { 1, 403, 407, 261, 378, 432, 383, 286, 261, 376 };
    struct batch b;
    batch_init(&b, 16);
    assert_int_equal(engine_seq_len(e, 0), 0);
    assert_null(engine_seq_tokens(e, 3));
    assert_null(engine_seq_tokens(e, -1));
    /* two sequences in one batch, then seq 0 alone */
    for (int i = 0; i < 6; i++)
        batch_add(&b, toks[i], i, 0, false);
    for (int i = 0; i < 3; i++)
        batch_add(&b, toks[9 - i], i, 1, i == 2);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    batch_clear(&b);
    for (int i = 6; i < 10; i++)
        batch_add(&b, toks[i], i, 0, i == 9);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_len(e, 0), 10);
    assert_memory_equal(engine_seq_tokens(e, 0), toks, sizeof toks);
    const int32_t rev[3] = { 376, 261, 286 };
    assert_int_equal(engine_seq_len(e, 1), 3);
    assert_memory_equal(engine_seq_tokens(e, 1), rev, sizeof rev);
    int32_t used, size;
    engine_kv_usage(e, &used, &size);
    assert_int_equal(used, 64); /* one page each */
    assert_true(size >= 128);

    /* a failed decode records nothing */
    batch_clear(&b);
    batch_add(&b, 5, 10, 0, false);
    batch_add(&b, 9999, 11, 0, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), -1);
    assert_int_equal(engine_seq_len(e, 0), 10);

    /* common prefix */
    const int32_t probe[5] = { 1, 403, 407, 7, 378 };
    assert_int_equal(engine_seq_common_prefix(e, 0, probe, 5), 3);
    assert_int_equal(engine_seq_common_prefix(e, 0, toks, 4), 4);
    assert_int_equal(engine_seq_common_prefix(e, 2, toks, 4), 0);

    /* copy the first 5 of seq 0 into seq 1: pages shared, tokens copied */
    assert_int_equal(engine_seq_copy(e, 0, 1, 5, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_len(e, 1), 5);
    assert_memory_equal(engine_seq_tokens(e, 1), toks, 5 * sizeof(int32_t));
    struct kv_cache *kv = engine_cache(e);
    assert_int_equal(kv_cache_page_of(kv, 1, 0), kv_cache_page_of(kv, 0, 0));
    assert_int_equal(kv_cache_page_refs(kv, kv_cache_page_of(kv, 0, 0)), 2);
    /* seq 1 goes on with another token (copy on write); seq 0 is unchanged and
     * both give the logits a fresh sequence gives */
    batch_clear(&b);
    batch_add(&b, 300, 5, 1, true);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    int32_t nv = engine_n_vocab(e);
    float *l1 = malloc((size_t)nv * sizeof(float));
    memcpy(l1, engine_logits(e, 0), (size_t)nv * sizeof(float));
    assert_int_not_equal(kv_cache_page_of(kv, 1, 0), kv_cache_page_of(kv, 0, 0));
    assert_memory_equal(engine_seq_tokens(e, 0), toks, sizeof toks);
    const int32_t want1[6] = { 1, 403, 407, 261, 378, 300 };
    assert_memory_equal(engine_seq_tokens(e, 1), want1, sizeof want1);
    batch_clear(&b);
    for (int i = 0; i < 6; i++)
        batch_add(&b, want1[i], i, 2, i == 5);
    assert_int_equal(engine_decode(e, &b, err, sizeof(err)), 0);
    assert_memory_equal(l1, engine_logits(e, 5), (size_t)nv * sizeof(float));
    free(l1);

    /* keep */
    assert_int_equal(engine_seq_keep(e, 0, 11, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot keep 11 positions of sequence 0: it holds 10"));
    assert_int_equal(engine_seq_keep(e, 3, 0, err, sizeof(err)), -1);
    assert_int_equal(engine_seq_keep(e, 0, 4, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_len(e, 0), 4);
    assert_int_equal(engine_seq_common_prefix(e, 0, toks, 10), 4);
    /* copy errors leave dst as it was */
    assert_int_equal(engine_seq_copy(e, 0, 1, 5, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot copy 5 positions of sequence 0: it holds 4"));
    assert_int_equal(engine_seq_copy(e, 0, 3, 1, err, sizeof(err)), -1);
    assert_int_equal(engine_seq_len(e, 1), 6);
    /* copy onto itself keeps n; copy of 0 positions empties dst */
    assert_int_equal(engine_seq_copy(e, 1, 1, 2, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_len(e, 1), 2);
    assert_int_equal(engine_seq_copy(e, 0, 1, 0, err, sizeof(err)), 0);
    assert_int_equal(engine_seq_len(e, 1), 0);
    /* discard moves the tokens */
    assert_int_equal(engine_seq_discard(e, 2, 1, 2, err, sizeof(err)), 0);
    const int32_t want2[4] = { 1, 261, 378, 300 };
    assert_int_equal(engine_seq_len(e, 2), 4);
    assert_memory_equal(engine_seq_tokens(e, 2), want2, sizeof want2);
    assert_int_equal(engine_seq_discard(e, 5, 0, 1, err, sizeof(err)), -1);
    /* clear */
    engine_seq_clear(e, 2);
    assert_int_equal(engine_seq_len(e, 2), 0);
    assert_int_equal(engine_seq_len(e, 0), 4);
    engine_seq_clear(e, -1);
    assert_int_equal(engine_seq_len(e, 0), 0);
    engine_kv_usage(e, &used, &size);
    assert_int_equal(used, 0);
    batch_free(&b);
    engine_free(e);
    model_free(m);
}

static void test_ctx_for_seqs(void **state)
{
    (void)state;
    assert_int_equal(engine_ctx_for_seqs(9, 1000), 9 * (1024 + 32));
    assert_int_equal(engine_ctx_for_seqs(1, 32), 64);
    assert_int_equal(engine_ctx_for_seqs(1, 0), 32);
    assert_int_equal(engine_ctx_for_seqs(100000, 100000), -1);
    assert_int_equal(engine_ctx_for_seqs(-1, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k_greedy),
        cmocka_unit_test(test_invariance_stories),
        cmocka_unit_test(test_invariance_q4_0_f32kv),
        cmocka_unit_test(test_invariance_gemma_q8_0kv),
        cmocka_unit_test(test_context_shift_llama),
        cmocka_unit_test(test_context_shift_gemma),
        cmocka_unit_test(test_bad_batches),
        cmocka_unit_test(test_seq_tokens),
        cmocka_unit_test(test_ctx_for_seqs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
