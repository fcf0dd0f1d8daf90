/*
 * test_slot_text.c - generated text with stop strings: a stop string is cut
 * off as soon as it completes (also across tokens), the tail that could
 * still become one is held back and released when it cannot, nothing is
 * ever taken back, and an end-of-generation token adds nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/slot_text.h"
#include "tokenizer/tokenizer.h"

static struct vocab *g_vocab;

static int setup(void **state)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", src);
    g_vocab = vocab_load_file(path, err, sizeof err);
    return g_vocab ? 0 : -1;
}

static int teardown(void **state)
{
    vocab_free(g_vocab);
    return 0;
}

/* Feed the tokens of text one by one; collect what comes out. */
static void run(const char *text, const char *const *stop, size_t n_stop, char *out, size_t cap,
                struct slot_text *t)
{
    struct tok_list toks = {0};
    assert_int_equal(tokenize_list(g_vocab, text, strlen(text), false, false, &toks), 0);
    memset(t, 0, sizeof *t);
    assert_int_equal(slot_text_start(t, g_vocab, stop, n_stop), 0);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < toks.n && !t->stopped_word; i++) {
        size_t len;
        const char *s = slot_text_push(t, toks.v[i], &len);
        assert_non_null(s);
        assert_true(used + len < cap);
        memcpy(out + used, s, len);
        used += len;
        out[used] = '\0';
    }
    size_t len;
    const char *rest = slot_text_finish(t, &len);
    memcpy(out + used, rest, len);
    out[used + len] = '\0';
    tok_list_free(&toks);
}

static void test_no_stop(void **state)
{
    struct slot_text t;
    char out[512];
    run("Once upon a time there was a cat.", NULL, 0, out, sizeof out, &t);
    assert_string_equal(out, " Once upon a time there was a cat.");
    assert_false(t.stopped_word);
    slot_text_free(&t);
}

static void test_stop_word_cut(void **state)
{
    const char *stop[] = {"there", "dog"};
    struct slot_text t;
    char out[512];
    run("Once upon a time there was a cat.", stop, 2, out, sizeof out, &t);
    assert_string_equal(out, " Once upon a time ");
    assert_true(t.stopped_word);
    assert_string_equal(t.stopping_word, "there");
    slot_text_free(&t);
}

static void test_stop_inside_token(void **state)
{
    /* "ime th" spans several tokens and starts inside one */
    const char *stop[] = {"ime th"};
    struct slot_text t;
    char out[512];
    run("Once upon a time there was a cat.", stop, 1, out, sizeof out, &t);
    assert_string_equal(out, " Once upon a t");
    assert_true(t.stopped_word);
    slot_text_free(&t);
}

static void test_partial_released(void **state)
{
    /* "cat!" never completes: the held "cat" is released at the end */
    const char *stop[] = {"cat!"};
    struct slot_text t;
    char out[512];
    run("Once upon a time there was a cat", stop, 1, out, sizeof out, &t);
    assert_string_equal(out, " Once upon a time there was a cat");
    assert_false(t.stopped_word);
    slot_text_free(&t);
}

static void test_partial_len(void **state)
{
    const char *stop[] = {"</s>", "abc"};
    assert_int_equal(stop_partial_len("hello </", 8, stop, 2), 2);
    assert_int_equal(stop_partial_len("hello <", 7, stop, 2), 1);
    assert_int_equal(stop_partial_len("xab", 3, stop, 2), 2);
    assert_int_equal(stop_partial_len("hello", 5, stop, 2), 0);
    assert_int_equal(stop_partial_len("", 0, stop, 2), 0);
}

static void test_eog_adds_nothing(void **state)
{
    struct slot_text t = {0};
    assert_int_equal(slot_text_start(&t, g_vocab, NULL, 0), 0);
    size_t len;
    slot_text_push(&t, g_vocab->eos, &len);
    assert_int_equal(len, 0);
    assert_true(t.stopped_eos);
    slot_text_finish(&t, &len);
    assert_int_equal(len, 0);
    slot_text_free(&t);
}

static void test_reuse(void **state)
{
    /* a second generation on the same slot_text starts clean */
    const char *stop[] = {"time"};
    struct slot_text t;
    char out[512];
    run("Once upon a time", stop, 1, out, sizeof out, &t);
    assert_string_equal(out, " Once upon a ");
    struct tok_list toks = {0};
    tokenize_list(g_vocab, "cat", 3, false, false, &toks);
    assert_int_equal(slot_text_start(&t, g_vocab, NULL, 0), 0);
    size_t len;
    const char *s = slot_text_push(&t, toks.v[0], &len);
    assert_false(t.stopped_word);
    assert_true(len > 0 && memcmp(s, " c", 2) == 0);
    tok_list_free(&toks);
    slot_text_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_stop),          cmocka_unit_test(test_stop_word_cut),
        cmocka_unit_test(test_stop_inside_token), cmocka_unit_test(test_partial_released),
        cmocka_unit_test(test_partial_len),      cmocka_unit_test(test_eog_adds_nothing),
        cmocka_unit_test(test_reuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
