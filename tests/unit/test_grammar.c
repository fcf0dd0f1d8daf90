/*
 * test_grammar.c - the GBNF grammar engine (src/grammar/grammar*.c): parse
 * errors name line and column; undefined rules, a missing root and left
 * recursion (direct, indirect, through rules that can be empty) are
 * rejected; every construct accepts and rejects the right strings; UTF-8
 * split across calls; repetition bounds; can_end / done; accepts() leaves
 * the state alone and agrees with advance(); ambiguous grammars stay fast;
 * and, when the gemma model is present, the cost of accepts() over its
 * whole 262k-token vocabulary (printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

static struct grammar *parse_ok(const char *text)
{
    char err[256];
    struct grammar *g = grammar_parse(text, strlen(text), NULL, err, sizeof(err));
    if (g == NULL)
        fail_msg("grammar did not parse: %s\n%s", err, text);
    return g;
}

static void expect_error(const char *text, const char *where, const char *what)
{
    char err[256];
    struct grammar *g = grammar_parse(text, strlen(text), NULL, err, sizeof(err));
    if (g != NULL) {
        grammar_free(g);
        fail_msg("grammar parsed but should not:\n%s", text);
    }
    if (strncmp(err, where, strlen(where)) != 0 || strstr(err, what) == NULL)
        fail_msg("error \"%s\" lacks \"%s\" ... \"%s\" for:\n%s", err, where, what, text);
}

/* The whole of s is a sentence. */
static bool full(const struct grammar *g, const char *s)
{
    struct grammar_state *st = grammar_state_create(g);
    assert_non_null(st);
    bool ok = grammar_state_advance(st, s, strlen(s)) == 0 && grammar_state_can_end(st);
    grammar_state_free(st);
    return ok;
}

/* s can start a sentence. */
static bool prefix(const struct grammar *g, const char *s)
{
    struct grammar_state *st = grammar_state_create(g);
    assert_non_null(st);
    bool ok = grammar_state_advance(st, s, strlen(s)) == 0;
    grammar_state_free(st);
    return ok;
}

#define YES(g, s) assert_true(full(g, s))
#define NO(g, s) assert_false(full(g, s))

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- parsing ---- */

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("root ::= \"abc", "line 1, column 10:", "unterminated string");
    expect_error("root ::= [a-", "line 1, column 10:", "unterminated character class");
    expect_error("root ::= foo", "line 1, column 10:", "undefined rule 'foo'");
    expect_error("foo ::= \"a\"", "line 1, column 1:", "no rule 'root'");
    expect_error("", "line 1, column 1:", "no rule 'root'");
    expect_error("root ::= \"a\" )", "line 1, column 14:", "unmatched ')'");
    expect_error("root ::= ( \"a\"", "line 1, column 10:", "missing ')'");
    expect_error("root \"a\"", "line 1, column 6:", "expected '::='");
    expect_error("root ::= \"\\q\"", "line 1, column 11:", "unknown escape");
    expect_error("root ::= [z-a]", "line 1, column 11:", "out of order");
    expect_error("root ::= \"a\"{3,2}", "line 1, column 13:", "smaller than");
    expect_error("root ::= * \"a\"", "line 1, column 10:", "nothing before it");
    expect_error("root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1:", "defined twice");
    expect_error("root ::= \"\\xZ1\"", "line 1, column 11:", "hex digits");
    expect_error("root ::= \"\\U00110000\"", "line 1, column 11:", "out of range");
    expect_error("root ::= \"\xff\"", "line 1, column 11:", "invalid UTF-8");
    expect_error("root ::= \"a\" {", "line 1, column 15:", "in repetition");
    expect_error("root ::= \"a\"{1,2", "line 1, column 17:", "expected '}'");
    expect_error("# comment\nroot ::= a\n\na ::= \"x\" $\n", "line 4, column 11:",
                 "unexpected '$'");
    expect_error("root ::= \"é\" bar # ünïcode\n", "line 1, column 14:", "undefined rule 'bar'");
    /* a custom start rule */
    char err[128];
    struct grammar *g = grammar_parse("start ::= \"x\"", 13, "start", err, sizeof(err));
    assert_non_null(g);
    YES(g, "x");
    grammar_free(g);
    assert_null(grammar_parse("start ::= \"x\"", 13, "root", err, sizeof(err)));
    /* NUL bytes are part of the text, not its end */
    g = grammar_parse("root ::= \"a\\x00\"\0junk", 16, NULL, err, sizeof(err));
    assert_non_null(g);
    grammar_free(g);
    assert_null(grammar_parse("root ::= \"a\"\0junk", 17, NULL, err, sizeof(err)));
}

static void test_left_recursion(void **state)
{
    (void)state;
    expect_error("root ::= root \"a\" | \"b\"", "line 1, column 1:", "left-recursive");
    expect_error("root ::= a\na ::= b \"x\"\nb ::= a | \"y\"", "line 2, column 1:",
                 "left-recursive");
    /* through a rule that can be empty */
    expect_error("root ::= e root \"x\" | \"y\"\ne ::= \"\" | \"z\"", "line 1, column 1:",
                 "left-recursive");
    expect_error("root ::= x\nx ::= e? y\ny ::= (e* x) | \"q\"\ne ::= \"e\"", "line 2, column 1:",
                 "left-recursive");
    /* inside groups */
    expect_error("root ::= (\"a\" | root) \"b\"", "line 1, column 1:", "left-recursive");
    /* repeating something that can be empty loops too */
    expect_error("root ::= (\"a\"?)*", "line 1, column 16:", "can be empty");
    expect_error("root ::= \"x\" e+\ne ::= \"a\" | ", "line 1, column 15:", "can be empty");
    /* recursion that is not on the left is fine */
    struct grammar *g = parse_ok("root ::= \"(\" root \")\" | \"\"");
    YES(g, "((()))");
    YES(g, "");
    NO(g, "(()");
    NO(g, "())");
    grammar_free(g);
    g = parse_ok("root ::= \"a\" root | \"b\"\nunused ::= \"q\" unused");
    YES(g, "aaab");
    grammar_free(g);
}

/* ---- constructs ---- */

static void test_literals(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= \"a\\n\\t\\r\\\\\\\"\\x41\\u00e9\\U0001F600\\[\\]\\-\"");
    YES(g, "a\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80[]-");
    NO(g, "a\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80[]");
    NO(g, "a\n\t\r\\\"a\xc3\xa9\xf0\x9f\x98\x80[]-");
    grammar_free(g);
    g = parse_ok("root ::= \"日本\" \"\" \"語\"");
    YES(g, "日本語");
    NO(g, "日本");
    grammar_free(g);
}

static void test_classes(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= [a-cx] [^a-z\\n] [\\]\\-] [é-ë] . [^\\u00e9] [-a]");
    YES(g, "bA]ë日z-");
    YES(g, "xA-é\n.a");
    YES(g, "c\xe2\x82\xac]\xc3\xab\xf0\x9f\x98\x80\xc3\xaa" "a");
    NO(g, "dA]ëxx-");  /* d not in [a-cx] */
    NO(g, "aa]ëxx-");  /* a in [^a-z] */
    NO(g, "a\n]ëxx-"); /* newline excluded */
    NO(g, "aA]exx-");  /* e below é */
    NO(g, "aA]ëxé-");  /* é excluded */
    NO(g, "aA]ëx-b");  /* b not in [-a] */
    grammar_free(g);
    /* an empty class matches nothing; [^] anything */
    g = parse_ok("root ::= \"a\" [] | [^]");
    NO(g, "ab");
    YES(g, "a");
    YES(g, "q");
    YES(g, "\xe2\x82\xac");
    grammar_free(g);
}

static void test_alternatives_groups(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= (\"a\" | \"b\" (\"c\" | \"d\")) \"e\" | \"f\" | ");
    YES(g, "ae");
    YES(g, "bce");
    YES(g, "bde");
    YES(g, "f");
    YES(g, "");
    NO(g, "be");
    NO(g, "abe");
    grammar_free(g);
}

static void test_repetition(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= \"a\"* \"b\"+ \"c\"? \"d\"{2} \"e\"{1,} \"f\"{1,3} "
                                 "\"g\"{,2} (\"h\" \"i\"){0,1} \"xy\"{2}");
    YES(g, "bddefxyxy");
    YES(g, "aaabbcddeeefffgghixyxy");
    NO(g, "ddefxyxy");         /* b+ needs one */
    NO(g, "bdefxyxy");         /* d{2} */
    NO(g, "bddfxyxy");         /* e{1,} */
    NO(g, "bddexyxy");         /* f{1,3} needs one */
    NO(g, "bddeffffxyxy");     /* f{1,3} */
    NO(g, "bddefgggxyxy");     /* g{,2} */
    NO(g, "bddefhihixyxy");    /* (hi){0,1} */
    NO(g, "bddefxy");          /* "xy"{2} repeats the whole literal */
    grammar_free(g);
    /* exact bounds on large counts */
    g = parse_ok("root ::= [0-9]{3,40}");
    char buf[64];
    for (int n = 0; n <= 45; n++) {
        memset(buf, '7', (size_t)n);
        buf[n] = '\0';
        assert_int_equal(full(g, buf), n >= 3 && n <= 40);
    }
    grammar_free(g);
    /* repetition applies to the last symbol only */
    g = parse_ok("root ::= \"a\" \"b\"*");
    YES(g, "abbb");
    NO(g, "abab");
    grammar_free(g);
    /* nested */
    g = parse_ok("root ::= ((\"a\"{2}){2}){2} \"x\"");
    YES(g, "aaaaaaaax");
    NO(g, "aaaaaaax");
    grammar_free(g);
}

static void test_comments_names_lines(void **state)
{
    (void)state;
    const char *text = "# a grammar\n"
                       "root ::= item-1 ( \"+\" item-1 )*   # sums\n"
                       "\n"
                       "item-1 ::=\n"
                       "    num\n"
                       "  | \"(\" root \")\"   # continued alternative\n"
                       "  | var_2\n"
                       "num ::= [0-9]+\n"
                       "var_2 ::= (\n"
                       "  \"x\" # inside parens newlines are fine\n"
                       "  | \"y\"\n"
                       ")\n";
    struct grammar *g = parse_ok(text);
    YES(g, "1+(2+x)+y");
    YES(g, "42");
    NO(g, "1+");
    NO(g, "z");
    grammar_free(g);
    /* Windows line ends */
    g = parse_ok("root ::= a\r\na ::= \"q\"\r\n");
    YES(g, "q");
    grammar_free(g);
}

static void test_json_grammar(void **state)
{
    (void)state;
    const char *text =
        "root   ::= object\n"
        "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
        "object ::=\n"
        "  \"{\" ws (\n"
        "            string \":\" ws value\n"
        "    (\",\" ws string \":\" ws value)*\n"
        "  )? \"}\" ws\n"
        "array  ::=\n"
        "  \"[\" ws (\n"
        "            value\n"
        "    (\",\" ws value)*\n"
        "  )? \"]\" ws\n"
        "string ::=\n"
        "  \"\\\"\" (\n"
        "    [^\"\\\\\\x7F\\x00-\\x1F] |\n"
        "    \"\\\\\" ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4}) # escapes\n"
        "  )* \"\\\"\" ws\n"
        "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] "
        "[1-9]{0,15})? ws\n"
        "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
    struct grammar *g = parse_ok(text);
    YES(g, "{}");
    YES(g, "{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\", {\"b\": []}]}");
    YES(g, "{\"日本\": \"語\"}\n");
    NO(g, "{\"a\" 1}");
    NO(g, "{\"a\": tru}");
    NO(g, "[1]");
    NO(g, "{\"a\": 1,}");
    assert_true(prefix(g, "{\"a\": [1, 2"));
    grammar_free(g);
}

/* ---- matching behaviour ---- */

static void test_utf8_split(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= \"日\" [\\u3040-\\u30ff] \"😀\"");
    const char *s = "日あ😀";
    size_t n = strlen(s);
    struct grammar_state *st = grammar_state_create(g);
    for (size_t i = 0; i < n; i++) {
        assert_true(grammar_state_accepts(st, s + i, 1));
        assert_int_equal(grammar_state_advance(st, s + i, 1), 0);
        assert_int_equal(grammar_state_can_end(st), i == n - 1);
    }
    assert_true(grammar_state_done(st));
    grammar_state_free(st);
    /* partial characters that cannot become a member are refused */
    st = grammar_state_create(g);
    assert_true(grammar_state_accepts(st, "\xe6", 1));       /* 日 is E6 97 A5 */
    assert_false(grammar_state_accepts(st, "\xe5", 1));      /* U+5000..U+5FFF */
    assert_true(grammar_state_accepts(st, "\xe6\x97", 2));
    assert_false(grammar_state_accepts(st, "\xe6\x98", 2));  /* U+6600.. not 日 */
    assert_int_equal(grammar_state_advance(st, "\xe6\x97\xa5\xe3", 4), 0);
    assert_false(grammar_state_can_end(st));
    assert_false(grammar_state_accepts(st, "a", 1));          /* not a continuation */
    assert_false(grammar_state_accepts(st, "\x80\x80", 2));   /* U+3000: below the class */
    assert_true(grammar_state_accepts(st, "\x81\x82", 2));    /* U+3042 */
    assert_int_equal(grammar_state_advance(st, "\x81", 1), 0);
    assert_int_equal(grammar_state_advance(st, "\x82\xf0\x9f", 3), 0);
    assert_int_equal(grammar_state_advance(st, "\x98\x80", 2), 0);
    assert_true(grammar_state_done(st));
    grammar_state_free(st);
    grammar_free(g);
    /* invalid UTF-8 is never accepted, even by "any character" */
    g = parse_ok("root ::= .*");
    st = grammar_state_create(g);
    assert_false(grammar_state_accepts(st, "\x80", 1));
    assert_false(grammar_state_accepts(st, "\xc0\xaf", 2)); /* overlong */
    assert_false(grammar_state_accepts(st, "\xed\xa0\x80", 3)); /* surrogate */
    assert_false(grammar_state_accepts(st, "\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(grammar_state_accepts(st, "\xff", 1));
    assert_true(grammar_state_accepts(st, "\xf4\x8f\xbf\xbf", 4));
    grammar_state_free(st);
    grammar_free(g);
}

static void test_accepts_keeps_state(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= \"ab\" \"c\"* \"d\"");
    struct grammar_state *st = grammar_state_create(g);
    assert_true(grammar_state_accepts(st, "abc", 3));
    assert_true(grammar_state_accepts(st, "a", 1));
    assert_false(grammar_state_accepts(st, "b", 1));
    assert_true(grammar_state_accepts(st, "", 0));
    /* a rejected advance leaves the state as it was */
    assert_int_equal(grammar_state_advance(st, "abx", 3), -1);
    assert_int_equal(grammar_state_advance(st, "ab", 2), 0);
    assert_false(grammar_state_accepts(st, "ab", 2));
    assert_true(grammar_state_accepts(st, "ccccd", 5));
    struct grammar_state *cl = grammar_state_clone(st);
    assert_int_equal(grammar_state_advance(st, "cd", 2), 0);
    assert_true(grammar_state_done(st));
    assert_false(grammar_state_can_end(cl));
    assert_int_equal(grammar_state_advance(cl, "d", 1), 0);
    assert_true(grammar_state_done(cl));
    assert_false(grammar_state_accepts(cl, "d", 1));
    grammar_state_free(cl);
    grammar_state_free(st);
    grammar_free(g);
}

static void test_done_can_end(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= \"a\" \"b\"?");
    struct grammar_state *st = grammar_state_create(g);
    assert_false(grammar_state_can_end(st));
    assert_false(grammar_state_done(st));
    grammar_state_advance(st, "a", 1);
    assert_true(grammar_state_can_end(st));
    assert_false(grammar_state_done(st)); /* "b" may still come */
    grammar_state_advance(st, "b", 1);
    assert_true(grammar_state_done(st));
    grammar_state_free(st);
    grammar_free(g);
    /* the empty grammar is done at once */
    g = parse_ok("root ::= ");
    st = grammar_state_create(g);
    assert_true(grammar_state_done(st));
    assert_false(grammar_state_accepts(st, "x", 1));
    grammar_state_free(st);
    grammar_free(g);
}

/* accepts(s) == advance(s) succeeds, and advancing in pieces == at once. */
static void test_consistency_random(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= (item \",\")* item\n"
                                 "item ::= [a-c]+ | \"é\" item? | \"(\" root \")\" | \"ab\" \"c\"?");
    const char *alphabet[] = {"a", "b", "c", ",", "(", ")", "é", "\xc3", "\xa9", "x"};
    unsigned seed = 12345;
    for (int t = 0; t < 3000; t++) {
        char s[64] = "";
        size_t n = 0;
        int len = (int)(seed % 12);
        for (int i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *a = alphabet[(seed >> 16) % 10];
            memcpy(s + n, a, strlen(a));
            n += strlen(a);
        }
        seed = seed * 1103515245u + 12345u;
        struct grammar_state *st = grammar_state_create(g), *st2 = grammar_state_create(g);
        bool acc = grammar_state_accepts(st, s, n);
        assert_int_equal(acc, grammar_state_advance(st, s, n) == 0);
        /* the same bytes one at a time */
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++)
            ok = grammar_state_advance(st2, s + i, 1) == 0;
        assert_int_equal(ok, acc);
        if (ok)
            assert_int_equal(grammar_state_can_end(st), grammar_state_can_end(st2));
        grammar_state_free(st);
        grammar_state_free(st2);
    }
    grammar_free(g);
}

static void test_ambiguous_bounded(void **state)
{
    (void)state;
    /* many parses of the same text */
    struct grammar *g = parse_ok("root ::= (\"a\" | \"a\" \"a\" | \"aa\" | \"a\" \"a\"? | \"a\"+)+ \"b\"");
    char s[2100];
    memset(s, 'a', 2000);
    strcpy(s + 2000, "b");
    double t0 = now();
    YES(g, s);
    s[2000] = 'c';
    NO(g, s);
    grammar_free(g);
    /* exponentially many distinct stacks: capped, still fast, still sound */
    g = parse_ok("root ::= a\na ::= \"x\" a \"y\" | \"x\" a \"z\" | \"\"");
    char t[200];
    memset(t, 'x', 8); /* 2^8 y/z continuations: all kept */
    memset(t + 8, 'y', 8);
    t[16] = '\0';
    assert_true(full(g, t));
    memset(t, 'x', 60); /* 2^60: capped; the answer may be wrong, never slow */
    memset(t + 60, 'y', 60);
    t[120] = '\0';
    prefix(g, t);
    t[60] = 'w';
    assert_false(prefix(g, t));
    grammar_free(g);
    double dt = now() - t0;
    print_message("ambiguous grammars: %.3f s\n", dt);
    assert_true(dt < 20.0);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    struct grammar *g = parse_ok("root ::= \"[\" root \"]\" | \"x\"");
    size_t n = 20000;
    char *s = malloc(2 * n + 2);
    memset(s, '[', n);
    s[n] = 'x';
    memset(s + n + 1, ']', n);
    s[2 * n + 1] = '\0';
    YES(g, s);
    s[2 * n] = '\0';
    NO(g, s);
    free(s);
    grammar_free(g);
    /* deep parentheses are refused, not a stack overflow */
    char *p = malloc(10000 + 16);
    strcpy(p, "root ::= ");
    memset(p + 9, '(', 5000);
    strcpy(p + 5009, "\"x\"");
    char err[200];
    assert_null(grammar_parse(p, strlen(p), NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "nested too deeply"));
    free(p);
    /* huge repetitions are refused */
    const char *big = "root ::= \"ab\"{99999}{99999}";
    assert_null(grammar_parse(big, strlen(big), NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "too large"));
}

/* ---- cost of accepts() on a real vocabulary ---- */

struct pieces {
    char **p;
    size_t *n;
    int32_t count;
};

static bool load_pieces(struct pieces *out)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[256];
    snprintf(path, sizeof(path), "%s/models/gemma-3-270m-q4_k_m.gguf", src);
    if (access(path, R_OK) != 0)
        return false;
    struct vocab *v = vocab_load_file(path, err, sizeof(err));
    if (v == NULL)
        return false;
    out->count = v->n_tokens;
    out->p = calloc((size_t)v->n_tokens, sizeof(char *));
    out->n = calloc((size_t)v->n_tokens, sizeof(size_t));
    char buf[512];
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int64_t len = token_to_piece(v, i, buf, sizeof(buf), 0, false);
        if (len < 0 || len > (int64_t)sizeof(buf))
            len = 0;
        out->p[i] = malloc((size_t)len + 1);
        memcpy(out->p[i], buf, (size_t)len);
        out->n[i] = (size_t)len;
    }
    vocab_free(v);
    return true;
}

static void pass(const struct grammar_state *st, const struct pieces *pc, const char *label)
{
    double t0 = now();
    int32_t ok = 0;
    for (int32_t i = 0; i < pc->count; i++)
        ok += pc->n[i] > 0 && grammar_state_accepts(st, pc->p[i], pc->n[i]);
    double dt = now() - t0;
    print_message("  %-34s %6d of %d accepted, %7.2f ms (%.0f ns/token)\n", label, ok, pc->count,
                  dt * 1e3, dt * 1e9 / pc->count);
    /* accepts() agrees with advance() on a sample */
    for (int32_t i = 0; i < pc->count; i += 997) {
        struct grammar_state *cl = grammar_state_clone(st);
        bool a = grammar_state_accepts(st, pc->p[i], pc->n[i]);
        assert_int_equal(a, grammar_state_advance(cl, pc->p[i], pc->n[i]) == 0);
        grammar_state_free(cl);
    }
}

static void test_vocab_cost(void **state)
{
    (void)state;
    struct pieces pc;
    if (!load_pieces(&pc)) {
        print_message("gemma model not found: vocabulary pass skipped\n");
        return;
    }
    const char *text =
        "root ::= \"{\" space \"\\\"name\\\"\" space \":\" space string space \",\" space "
        "\"\\\"tags\\\"\" space \":\" space \"[\" space (string (space \",\" space string)*)? "
        "space \"]\" space \"}\"\n"
        "string ::= \"\\\"\" char* \"\\\"\"\n"
        "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
        "space ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
    struct grammar *g = parse_ok(text);
    struct grammar_state *st = grammar_state_create(g);
    print_message("accepts() over the gemma vocabulary:\n");
    pass(st, &pc, "at the start (expects '{')");
    grammar_state_advance(st, "{", 1);
    pass(st, &pc, "after '{' (space or key)");
    grammar_state_advance(st, "\"name\": \"Jo", 11);
    pass(st, &pc, "inside a string");
    grammar_state_advance(st, "hn\", \"tags\": [", 14);
    pass(st, &pc, "in an array of strings");
    grammar_state_free(st);
    /* advance(), once per generated token: pieces of 4 bytes */
    const char *doc = "{\"name\": \"A fairly long name with spaces\", \"tags\": [\"alpha\", "
                      "\"beta\", \"gamma\", \"delta\", \"epsilon\", \"zeta\"]}";
    size_t n = strlen(doc), calls = 0;
    double t0 = now();
    for (int rep = 0; rep < 200; rep++) {
        st = grammar_state_create(g);
        for (size_t i = 0; i < n; i += 4, calls++)
            assert_int_equal(grammar_state_advance(st, doc + i, n - i < 4 ? n - i : 4), 0);
        assert_true(grammar_state_done(st));
        grammar_state_free(st);
    }
    print_message("  advance(): %.2f us per 4-byte token\n", (now() - t0) * 1e6 / (double)calls);
    grammar_free(g);
    for (int32_t i = 0; i < pc.count; i++)
        free(pc.p[i]);
    free(pc.p);
    free(pc.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_left_recursion),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_alternatives_groups),
        cmocka_unit_test(test_repetition),
        cmocka_unit_test(test_comments_names_lines),
        cmocka_unit_test(test_json_grammar),
        cmocka_unit_test(test_utf8_split),
        cmocka_unit_test(test_accepts_keeps_state),
        cmocka_unit_test(test_done_can_end),
        cmocka_unit_test(test_consistency_random),
        cmocka_unit_test(test_ambiguous_bounded),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_vocab_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
