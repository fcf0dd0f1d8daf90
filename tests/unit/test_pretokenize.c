/*
 * test_pretokenize.c - the byte-level BPE pre-tokenizers (tokenizer/pretokenize.h):
 *   - tokenizer.ggml.pre names and aliases -> kinds, unknown names, lengths
 *     that are not NUL-terminated, kind names round-tripping, which kinds
 *     are byte-level;
 *   - one hand-checked split per kind (pieces as Python's `regex` gives them
 *     for llama.cpp's expression sequence; tests/python/test_pretokenize.py
 *     compares thousands more);
 *   - deepseek-llm/-coder around non-ASCII whitespace, where llama.cpp (the
 *     reference) sees U+000B and `regex` on the raw text differs: splits
 *     checked against llama.cpp's token ids;
 *   - for every kind, on random bytes (invalid UTF-8 included): the pieces are
 *     non-empty, in order and cover the text exactly;
 *   - empty text, appending to a non-empty list, and long whitespace runs
 *     (which must stay linear).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tokenizer/pretokenize.h"

static enum pretok_kind kind_of(const char *name)
{
    return pretok_kind_from_name(name, strlen(name));
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(kind_of("default"), PRETOK_DEFAULT);
    assert_int_equal(kind_of("gpt-2"), PRETOK_GPT2);
    assert_int_equal(kind_of("phi-2"), PRETOK_GPT2);
    assert_int_equal(kind_of("roberta-bpe"), PRETOK_GPT2);
    assert_int_equal(kind_of("llama3"), PRETOK_LLAMA3);
    assert_int_equal(kind_of("llama-bpe"), PRETOK_LLAMA3);
    assert_int_equal(kind_of("llama-v3"), PRETOK_LLAMA3);
    assert_int_equal(kind_of("falcon3"), PRETOK_LLAMA3);
    assert_int_equal(kind_of("dbrx"), PRETOK_LLAMA3);
    assert_int_equal(kind_of("qwen2"), PRETOK_QWEN2);
    assert_int_equal(kind_of("deepseek-r1-qwen"), PRETOK_QWEN2);
    assert_int_equal(kind_of("stablelm2"), PRETOK_QWEN2);
    assert_int_equal(kind_of("smollm"), PRETOK_SMOLLM);
    assert_int_equal(kind_of("deepseek-llm"), PRETOK_DEEPSEEK_LLM);
    assert_int_equal(kind_of("deepseek-coder"), PRETOK_DEEPSEEK_CODER);
    assert_int_equal(kind_of("falcon"), PRETOK_FALCON);
    assert_int_equal(kind_of("mpt"), PRETOK_MPT);
    assert_int_equal(kind_of("starcoder"), PRETOK_STARCODER);
    assert_int_equal(kind_of("refact"), PRETOK_STARCODER);
    assert_int_equal(kind_of("command-r"), PRETOK_STARCODER);
    assert_int_equal(kind_of("gpt-4o"), PRETOK_GPT4O);
    assert_int_equal(kind_of("llama4"), PRETOK_GPT4O);
    assert_int_equal(kind_of("tekken"), PRETOK_TEKKEN);
    assert_int_equal(kind_of("poro-chat"), PRETOK_BLOOM);
    assert_int_equal(kind_of("deepseek-v3"), PRETOK_DEEPSEEK3);
    assert_int_equal(kind_of("whitespace"), PRETOK_WHITESPACE);
    assert_int_equal(kind_of("qwen35"), PRETOK_QWEN35);
    assert_int_equal(kind_of("sarvam-moe"), PRETOK_GEMMA4);
    assert_int_equal(kind_of("chameleon"), PRETOK_UNKNOWN);
    assert_false(pretok_kind_byte_level(PRETOK_GEMMA4));
    assert_false(pretok_kind_byte_level(PRETOK_WHITESPACE));
    assert_true(pretok_kind_byte_level(PRETOK_LLAMA3));
    assert_int_equal(kind_of("nonsense"), PRETOK_UNKNOWN);
    assert_int_equal(kind_of(""), PRETOK_UNKNOWN);
    assert_int_equal(kind_of("GPT-2"), PRETOK_UNKNOWN);
    assert_int_equal(pretok_kind_from_name("gpt-2xyz", 5), PRETOK_GPT2);
    assert_int_equal(pretok_kind_from_name("gpt", 3), PRETOK_UNKNOWN);
    for (int k = 0; k < PRETOK_KIND_COUNT; k++)
        assert_int_equal(kind_of(pretok_kind_name((enum pretok_kind)k)), k);
    assert_string_equal(pretok_kind_name(PRETOK_UNKNOWN), "unknown");
}

struct split_case {
    const char *pre;
    const char *text;
    const char *pieces[12]; /* NULL-terminated */
};

static const struct split_case cases[] = {
    {"gpt-2", "Hello world's  1234!!\tx ",
     {"Hello", " world", "'s", " ", " 1234", "!!", "\t", "x", " "}},
    {"llama3", "DON'T   stop\r\n\r\n 12345 ...\n",
     {"DON", "'T", "  ", " stop", "\r\n\r\n", " ", "123", "45", " ...\n"}},
    {"qwen2", "x 123 ", {"x", " ", "1", "2", "3", " "}},
    {"gpt-4o", "HELLOWorld camelCase I'M ok//\n",
     {"HELLOWorld", " camel", "Case", " I'M", " ok", "//\n"}},
    {"tekken", "HELLOWorld camelCase I'M", {"HELLOWorld", " camel", "Case", " I", "'M"}},
    {"deepseek-llm", "Hello \xe4\xb8\x96\xe7\x95\x8c 42  \n",
     {"Hello", " ", "\xe4\xb8\x96\xe7\x95\x8c", " ", "42", "  ", "\n"}},
    {"deepseek-coder", "a, 12 b", {"a", ",", " ", "1", "2", " b"}},
    {"falcon", "a+b=1234567", {"a", "+", "b", "=", "123", "456", "7"}},
    {"default", "a+b=1234567", {"a", "+", "b", "=", "123", "456", "7"}},
    {"starcoder", "x12 y", {"x", "1", "2", " y"}},
    {"smollm", "x12 y", {"x", "1", "2", " y"}},
    {"mpt", "it's", {"it", "'s"}},
    {"bloom", "Hi, there.", {"Hi", ",", " there", "."}},
    {"viking", "ab12", {"ab", "1", "2"}},
    {"deepseek-v3", ".Net 12345 \xe6\x97\xa5\xe6\x9c\xac",
     {".Net", " ", "123", "45", " ", "\xe6\x97\xa5\xe6\x9c\xac"}},
    {"seed-coder", "a!!\n", {"a", "!!", "\n"}},
    {"bailingmoe", "I'LL", {"I", "'LL"}},
    {"whitespace", " a  b ", {" ", "a", "  ", "b", " "}},
    {"qwen35", "na\xcc\x81ive x\xcc\x81 12", {"na\xcc\x81ive", " x\xcc\x81", " ", "1", "2"}},
    {"ufakzeka", "it's 12", {"it", "'s", " ", "1", "2"}},
    {"minicpm5", "I'm 1234567", {"I", "'m", " ", "123", "456", "7"}},
    {"jais-2", "a             b", {"a", "        ", "    ", " b"}},
    {"exaone-moe", "two words here. ok", {"two words here", ".", " ok"}},
    {"granite-embed-multi-97m", "\xcc\x81""Ab \xcc\x81", {"\xcc\x81""Ab", " \xcc\x81"}},
    {"laguna", "ab\n\ncd 1", {"ab", "\n\n", "cd", " ", "1"}},
    {"gemma4", "a b\n\nc", {"a b", "\n\n", "c"}},
    /* llama.cpp runs the deepseek expressions through std::wregex with every
     * non-ASCII whitespace replaced by U+000B: it still matches \s (the \s?
     * lead, \s+$) but not the punctuation class's U+3000 nor the CJK range
     * U+0800-U+4E00 (U+2003, U+3000 in it). Expected: llama.cpp's split on
     * ggml-vocab-deepseek-llm.gguf / -coder.gguf (same token ids). */
#define IDSP "\xe3\x80\x80" /* U+3000 */
#define EMSP "\xe2\x80\x83" /* U+2003 */
#define NBSP "\xc2\xa0"     /* U+00A0 */
#define CJK1 "\xe4\xb8\x80" /* U+4E00 */
    {"deepseek-llm", "a  " IDSP "<", {"a", "  ", IDSP "<"}},
    {"deepseek-llm", "a " IDSP "<", {"a", " ", IDSP "<"}},
    {"deepseek-llm", "a   " IDSP "<", {"a", "   ", IDSP "<"}},
    {"deepseek-llm", "a" IDSP "<", {"a", IDSP "<"}},
    {"deepseek-llm", "a\t\t" IDSP "<", {"a", "\t\t", IDSP "<"}},
    {"deepseek-llm", "a \t" IDSP "<", {"a", " \t", IDSP "<"}},
    {"deepseek-llm", "<  " IDSP "<", {"<", "  ", IDSP "<"}},
    {"deepseek-llm", "a  " IDSP "\xef\xbc\x81", {"a", "  ", IDSP "\xef\xbc\x81"}},
    {"deepseek-llm", IDSP IDSP "<", {IDSP, IDSP "<"}},
    {"deepseek-llm", "x  " IDSP "\xe3\x80\x82", {"x", "  ", IDSP, "\xe3\x80\x82"}},
    {"deepseek-llm", "a  " NBSP "<", {"a", "  ", NBSP "<"}},
    {"deepseek-llm", "a  " EMSP EMSP "<", {"a", "  " EMSP, EMSP "<"}},
    {"deepseek-llm", "a  " IDSP "b", {"a", "  ", IDSP "b"}},
    {"deepseek-llm", "a  " IDSP "1", {"a", "  " IDSP, "1"}},
    {"deepseek-llm", "a  " IDSP CJK1, {"a", "  " IDSP, CJK1}},
    {"deepseek-llm", "a  " EMSP CJK1, {"a", "  " EMSP, CJK1}},
    {"deepseek-llm", "a " IDSP, {"a", " " IDSP}},
    {"deepseek-coder", "\xe2\x82\xac" IDSP "\xe2\x82\xac",
     {"\xe2\x82\xac", IDSP, "\xe2\x82\xac"}},
    {"deepseek-coder", "\xe2\x82\xac" EMSP "\xe2\x82\xac",
     {"\xe2\x82\xac", EMSP, "\xe2\x82\xac"}},
    {"deepseek-coder", "1" IDSP IDSP CJK1, {"1", IDSP, IDSP, CJK1}},
#undef IDSP
#undef EMSP
#undef NBSP
#undef CJK1
};

static void check_case(const struct split_case *c)
{
    struct pretok_list list = {0};
    size_t len = strlen(c->text);
    assert_int_equal(pretokenize(kind_of(c->pre), c->text, len, &list), 0);
    size_t n = 0;
    while (c->pieces[n])
        n++;
    if (list.n != n)
        fail_msg("%s '%s': %zu pieces, expected %zu", c->pre, c->text, list.n, n);
    for (size_t i = 0; i < n; i++) {
        const struct pretok_piece *p = &list.v[i];
        if (p->len != strlen(c->pieces[i]) || memcmp(c->text + p->off, c->pieces[i], p->len))
            fail_msg("%s '%s': piece %zu is '%.*s', expected '%s'", c->pre, c->text, i,
                     (int)p->len, c->text + p->off, c->pieces[i]);
    }
    pretok_list_free(&list);
}

static void test_known_splits(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

static void assert_covers(const struct pretok_list *list, size_t from, size_t len)
{
    uint32_t pos = 0;
    for (size_t i = from; i < list->n; i++) {
        assert_int_equal(list->v[i].off, pos);
        assert_true(list->v[i].len > 0);
        pos += list->v[i].len;
    }
    assert_int_equal(pos, len);
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random text: mostly bytes from a mixed pool (ASCII, UTF-8 sequences),
 * with raw random bytes for invalid UTF-8. */
static size_t random_text(uint32_t *s, char *buf, size_t max)
{
    static const char *const pool[] = {"a", "Z", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "7",
                                       "123", "!", "/", "\xc3\xa9", "\xe4\xb8\x80",
                                       "\xe3\x80\x80", "\xf0\x9f\x98\x80", "\xcc\x81", "\xc2\xa0"};
    size_t n = 0, want = rng_next(s) % max;
    while (n < want) {
        if (rng_next(s) % 8 == 0) {
            buf[n++] = (char)(rng_next(s) & 0xFF);
            continue;
        }
        const char *p = pool[rng_next(s) % (sizeof pool / sizeof pool[0])];
        size_t l = strlen(p);
        if (n + l > max)
            break;
        memcpy(buf + n, p, l);
        n += l;
    }
    return n;
}

static void test_pieces_cover_text(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    char buf[256];
    for (int k = 0; k < PRETOK_KIND_COUNT; k++) {
        for (int iter = 0; iter < 500; iter++) {
            size_t len = random_text(&seed, buf, sizeof buf);
            struct pretok_list list = {0};
            assert_int_equal(pretokenize((enum pretok_kind)k, buf, len, &list), 0);
            assert_covers(&list, 0, len);
            pretok_list_free(&list);
        }
    }
}

static void test_empty_and_append(void **state)
{
    (void)state;
    struct pretok_list list = {0};
    assert_int_equal(pretokenize(PRETOK_LLAMA3, "", 0, &list), 0);
    assert_int_equal(list.n, 0);
    assert_int_equal(pretokenize(PRETOK_LLAMA3, "a b", 3, &list), 0);
    assert_int_equal(list.n, 2);
    assert_int_equal(pretokenize(PRETOK_LLAMA3, "c d", 3, &list), 0);
    assert_int_equal(list.n, 4);
    assert_int_equal(list.v[2].off, 0);
    assert_int_equal(list.v[3].off, 1);
    pretok_list_free(&list);
    assert_null(list.v);
    assert_int_equal(list.n, 0);
}

/* A long whitespace run inside a piece: every kind must stay linear (a naive
 * search for \s+$ or \s+(?!\S) at each position would be quadratic). */
static void test_long_whitespace(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, ' ', n);
    buf[n - 1] = 'x';
    buf[n / 2] = '\t';
    for (int k = 0; k < PRETOK_KIND_COUNT; k++) {
        struct pretok_list list = {0};
        assert_int_equal(pretokenize((enum pretok_kind)k, buf, n, &list), 0);
        assert_covers(&list, 0, n);
        pretok_list_free(&list);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_known_splits),
        cmocka_unit_test(test_pieces_cover_text),
        cmocka_unit_test(test_empty_and_append),
        cmocka_unit_test(test_long_whitespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
