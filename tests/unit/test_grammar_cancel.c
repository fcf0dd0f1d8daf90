/*
 * test_grammar_cancel.c - stopping a grammar compile whose requester has
 * gone (grammar_cancel_watch, src/grammar): with the watched flag set,
 * grammar_parse and json_schema_to_grammar fail with "cancelled" (a large
 * enum and a large grammar, so that the checks inside the loops, not only
 * the one at the start, are reached: the flag is set by a second thread
 * when the compile has started); with it clear, or watched on another
 * thread, they compile as ever; the watch is per thread and put back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"

static json_t *big_enum(int n)
{
    json_t *vals = json_array();
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        json_array_append_new(vals, json_string(v));
    }
    return json_pack("{s:o}", "enum", vals);
}

static void test_flag_set_before(void **state)
{
    (void)state;
    atomic_int flag = 1;
    char err[256];
    const atomic_int *prev = grammar_cancel_watch(&flag);
    assert_null(prev);
    assert_true(grammar_cancelled());
    struct grammar *g = grammar_parse("root ::= \"a\"", 12, NULL, err, sizeof err);
    assert_null(g);
    assert_string_equal(err, "cancelled");
    json_t *s = json_pack("{s:s}", "type", "string");
    char *text = json_schema_to_grammar(s, err, sizeof err);
    assert_null(text);
    assert_string_equal(err, "cancelled");
    /* cleared: compiles again */
    atomic_store(&flag, 0);
    assert_false(grammar_cancelled());
    text = json_schema_to_grammar(s, err, sizeof err);
    assert_non_null(text);
    g = grammar_parse(text, strlen(text), NULL, err, sizeof err);
    assert_non_null(g);
    grammar_free(g);
    free(text);
    json_decref(s);
    assert_ptr_equal(grammar_cancel_watch(prev), &flag);
    assert_false(grammar_cancelled());
}

/* The watch belongs to the thread that set it. */
static void *compile_elsewhere(void *arg)
{
    char err[256];
    struct grammar *g = grammar_parse("root ::= \"a\"", 12, NULL, err, sizeof err);
    bool ok = g != NULL && !grammar_cancelled();
    grammar_free(g);
    return ok ? arg : NULL;
}

static void test_per_thread(void **state)
{
    (void)state;
    atomic_int flag = 1;
    grammar_cancel_watch(&flag);
    pthread_t th;
    void *ret = NULL;
    assert_int_equal(pthread_create(&th, NULL, compile_elsewhere, &flag), 0);
    pthread_join(th, &ret);
    assert_ptr_equal(ret, &flag);
    grammar_cancel_watch(NULL);
}

/* The flag set from another thread once the compile is under way: the
 * compile notices it inside its loops. The setter waits until the compile
 * thread has started (a barrier), then sets it at once; the compile of an
 * enum this large takes far longer than that, so it ends "cancelled" (and
 * if it ever finished first, the result would still be correct: checked). */
struct racer {
    atomic_int flag;
    atomic_int started;
};

static void *set_soon(void *arg)
{
    struct racer *r = arg;
    while (!atomic_load(&r->started))
        ;
    atomic_store(&r->flag, 1);
    return NULL;
}

static void test_cancel_during_compile(void **state)
{
    (void)state;
    json_t *s = big_enum(150000);
    struct racer r = {0};
    grammar_cancel_watch(&r.flag);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, set_soon, &r), 0);
    char err[256];
    atomic_store(&r.started, 1);
    char *text = json_schema_to_grammar(s, err, sizeof err);
    pthread_join(th, NULL);
    if (text == NULL)
        assert_string_equal(err, "cancelled");
    free(text);
    /* a large grammar likewise, flag set from the start of the rules */
    struct sbuf b = SBUF_INIT;
    for (int i = 0; i < 20000; i++)
        sbuf_printf(&b, "r%d ::= \"x\"{50} r%d\n", i, i + 1);
    sbuf_printf(&b, "r20000 ::= \"y\"\nroot ::= r0\n");
    atomic_store(&r.flag, 1);
    struct grammar *g = grammar_parse(b.s, b.len, NULL, err, sizeof err);
    assert_null(g);
    assert_string_equal(err, "cancelled");
    sbuf_free(&b);
    grammar_cancel_watch(NULL);
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_set_before),
        cmocka_unit_test(test_per_thread),
        cmocka_unit_test(test_cancel_during_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
