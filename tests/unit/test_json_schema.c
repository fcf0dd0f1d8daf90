/*
 * test_json_schema.c - JSON schema to GBNF (src/grammar/json_schema*.c): each
 * supported keyword checked by matching valid and invalid JSON texts
 * through the produced grammar; integer ranges exhaustively near their
 * bounds; number ranges for soundness; patterns; unsupported keywords and
 * bad or left-recursive $refs give errors naming them; whitespace is
 * bounded; and every schema of tests/schemas/ (valid examples accepted,
 * compact and indented; invalid ones refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"

static char *convert(const char *schema_text, char *err, size_t err_size)
{
    json_error_t je;
    json_t *s = json_loads(schema_text, JSON_DECODE_ANY, &je);
    if (s == NULL)
        fail_msg("bad test schema: %s: %s", je.text, schema_text);
    char *g = json_schema_to_grammar(s, err, err_size);
    json_decref(s);
    return g;
}

static struct grammar *conv(const char *schema_text)
{
    char err[512];
    char *text = convert(schema_text, err, sizeof(err));
    if (text == NULL)
        fail_msg("schema not converted: %s\n%s", err, schema_text);
    struct grammar *g = grammar_parse(text, strlen(text), NULL, err, sizeof(err));
    if (g == NULL)
        fail_msg("grammar does not parse: %s\n%s", err, text);
    free(text);
    return g;
}

static void conv_err(const char *schema_text, const char *what)
{
    char err[512];
    char *text = convert(schema_text, err, sizeof(err));
    if (text != NULL) {
        free(text);
        fail_msg("schema converted but should not: %s", schema_text);
    }
    if (strstr(err, what) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, what);
}

static bool full(const struct grammar *g, const char *s)
{
    struct grammar_state *st = grammar_state_create(g);
    assert_non_null(st);
    bool ok = grammar_state_advance(st, s, strlen(s)) == 0 && grammar_state_can_end(st);
    grammar_state_free(st);
    return ok;
}

#define YES(g, s)                                                                                \
    do {                                                                                         \
        if (!full(g, s))                                                                         \
            fail_msg("refused but valid: %s", s);                                                \
    } while (0)
#define NO(g, s)                                                                                 \
    do {                                                                                         \
        if (full(g, s))                                                                          \
            fail_msg("accepted but invalid: %s", s);                                             \
    } while (0)

/* ---- types and values ---- */

static void test_types(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"type\": \"string\"}");
    YES(g, "\"\"");
    YES(g, "\"a b \\\"c\\\" \\\\ \\n \\u00e9 日本\"");
    NO(g, "\"unterminated");
    NO(g, "\"bad \\q escape\"");
    NO(g, "\"raw\nnewline\"");
    NO(g, "\"lone \\ud800 surrogate\"");
    NO(g, "1");
    grammar_free(g);
    g = conv("{\"type\": \"integer\"}");
    YES(g, "0");
    YES(g, "-12");
    YES(g, "1234567890123456");
    NO(g, "01");
    NO(g, "1.0");
    NO(g, "12345678901234567"); /* at most 16 digits */
    NO(g, "+1");
    grammar_free(g);
    g = conv("{\"type\": \"number\"}");
    YES(g, "0");
    YES(g, "-0.5");
    YES(g, "3.25e10");
    YES(g, "1E-5");
    NO(g, ".5");
    NO(g, "1.");
    NO(g, "NaN");
    grammar_free(g);
    g = conv("{\"type\": \"boolean\"}");
    YES(g, "true");
    YES(g, "false");
    NO(g, "True");
    grammar_free(g);
    g = conv("{\"type\": \"null\"}");
    YES(g, "null");
    NO(g, "nul");
    grammar_free(g);
    g = conv("{\"type\": [\"integer\", \"null\", \"array\"], \"items\": {\"type\": \"boolean\"}}");
    YES(g, "3");
    YES(g, "null");
    YES(g, "[true, false]");
    NO(g, "[1]");
    NO(g, "\"s\"");
    grammar_free(g);
}

static void test_any_value(void **state)
{
    (void)state;
    const char *schemas[] = {"{}", "true", "{\"description\": \"anything\"}"};
    for (int i = 0; i < 3; i++) {
        struct grammar *g = conv(schemas[i]);
        YES(g, "1");
        YES(g, "\"x\"");
        YES(g, "null");
        YES(g, "[]");
        YES(g, "{}");
        YES(g, "{\"a\": [1, {\"b\": false}, \"c\"], \"d\": -2.5e3}");
        YES(g, "[\n  1,\n  2\n]");
        NO(g, "{\"a\" 1}");
        NO(g, "[1,]");
        NO(g, "nope");
        grammar_free(g);
    }
}

static void test_objects(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": "
                             "\"integer\"}, \"b\": {\"type\": \"string\"}, \"c\": {\"type\": "
                             "\"boolean\"}}, \"required\": [\"b\"]}");
    YES(g, "{\"b\": \"x\"}");
    YES(g, "{\"a\": 1, \"b\": \"x\"}");
    YES(g, "{\"a\":1,\"b\":\"x\",\"c\":true}");
    YES(g, "{\"b\": \"x\", \"c\": false}");
    NO(g, "{}");                        /* b is required */
    NO(g, "{\"a\": 1}");
    NO(g, "{\"b\": \"x\", \"d\": 1}"); /* no other members unless asked for */
    NO(g, "{\"b\": 1}");
    NO(g, "{\"b\": \"x\",}");
    grammar_free(g);
    /* additionalProperties as a schema: other keys only, with that value */
    g = conv("{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}}, "
             "\"required\": [\"id\"], \"additionalProperties\": {\"type\": \"number\"}}");
    YES(g, "{\"id\": 1}");
    YES(g, "{\"id\": 1, \"x\": 2.5, \"idx\": 3, \"i\": 4, \"\": 5}");
    NO(g, "{\"id\": 1, \"x\": \"s\"}");
    NO(g, "{\"id\": 1, \"id\": 2}"); /* a declared name is not an other key */
    grammar_free(g);
    /* additionalProperties true: any other members */
    g = conv("{\"type\": \"object\", \"properties\": {\"k\": {\"const\": 1}}, "
             "\"additionalProperties\": true}");
    YES(g, "{}");
    YES(g, "{\"k\": 1, \"z\": [null]}");
    YES(g, "{\"z\": {\"k\": 2}}");
    NO(g, "{\"k\": 2}");
    NO(g, "{\"z\": 1, \"k\": 2}");
    grammar_free(g);
    /* false: nothing else; {"type": "object"} alone: anything */
    g = conv("{\"type\": \"object\", \"additionalProperties\": false}");
    YES(g, "{}");
    YES(g, "{ }");
    NO(g, "{\"a\": 1}");
    grammar_free(g);
    g = conv("{\"type\": \"object\"}");
    YES(g, "{\"a\": 1, \"b\": [2]}");
    grammar_free(g);
    /* required names without a schema take any value; false properties never appear */
    g = conv("{\"type\": \"object\", \"properties\": {\"no\": false, \"x\": {}}, "
             "\"required\": [\"x\", \"y\"]}");
    YES(g, "{\"x\": 1, \"y\": [true]}");
    NO(g, "{\"x\": 1}");
    NO(g, "{\"no\": 1, \"x\": 1, \"y\": 2}");
    grammar_free(g);
    /* keys that need escaping */
    g = conv("{\"type\": \"object\", \"properties\": {\"a\\\"b\\\\c\": {\"type\": \"null\"}}, "
             "\"required\": [\"a\\\"b\\\\c\"]}");
    YES(g, "{\"a\\\"b\\\\c\": null}");
    grammar_free(g);
    /* minProperties / maxProperties when they follow from the rest */
    g = conv("{\"type\": \"object\", \"properties\": {\"a\": {}}, \"required\": [\"a\"], "
             "\"minProperties\": 1, \"maxProperties\": 1}");
    YES(g, "{\"a\": 0}");
    grammar_free(g);
    conv_err("{\"type\": \"object\", \"minProperties\": 2}", "minProperties");
    conv_err("{\"type\": \"object\", \"properties\": {\"a\": {}, \"b\": {}}, \"maxProperties\": 1}",
             "maxProperties");
    /* maxProperties caps the additional members */
    g = conv("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, "
             "\"additionalProperties\": {\"type\": \"integer\"}, \"maxProperties\": 3}");
    YES(g, "{\"a\": 1, \"b\": 2, \"c\": 3}");
    YES(g, "{\"b\": 2, \"c\": 3}");
    NO(g, "{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}");
    grammar_free(g);
    g = conv("{\"type\": \"object\", \"maxProperties\": 2}");
    YES(g, "{}");
    YES(g, "{\"x\": [1], \"y\": {}}");
    NO(g, "{\"x\": 1, \"y\": 2, \"z\": 3}");
    grammar_free(g);
}

static void test_arrays(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, "
                             "\"minItems\": 2, \"maxItems\": 4}");
    NO(g, "[]");
    NO(g, "[1]");
    YES(g, "[1, 2]");
    YES(g, "[1,2,3,4]");
    NO(g, "[1, 2, 3, 4, 5]");
    NO(g, "[1, \"2\"]");
    grammar_free(g);
    g = conv("{\"type\": \"array\", \"maxItems\": 0}");
    YES(g, "[]");
    NO(g, "[1]");
    grammar_free(g);
    g = conv("{\"type\": \"array\", \"items\": {\"type\": \"string\"}}");
    YES(g, "[]");
    YES(g, "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]");
    grammar_free(g);
    /* prefixItems: a tuple; further items as items says */
    g = conv("{\"type\": \"array\", \"prefixItems\": [{\"type\": \"string\"}, {\"type\": "
             "\"integer\"}], \"items\": {\"type\": \"boolean\"}, \"minItems\": 1}");
    NO(g, "[]");
    YES(g, "[\"a\"]");
    YES(g, "[\"a\", 1]");
    YES(g, "[\"a\", 1, true, false]");
    NO(g, "[\"a\", true]");
    NO(g, "[1]");
    grammar_free(g);
    g = conv("{\"type\": \"array\", \"prefixItems\": [{\"const\": 1}, {\"const\": 2}], "
             "\"items\": false}");
    YES(g, "[]");
    YES(g, "[1]");
    YES(g, "[1, 2]");
    NO(g, "[1, 2, 3]");
    NO(g, "[2]");
    grammar_free(g);
    /* the draft-7 form */
    g = conv("{\"type\": \"array\", \"items\": [{\"type\": \"null\"}], \"additionalItems\": "
             "{\"type\": \"integer\"}, \"maxItems\": 3}");
    YES(g, "[null, 1, 2]");
    NO(g, "[null, 1, 2, 3]");
    NO(g, "[1]");
    grammar_free(g);
    conv_err("{\"type\": \"array\", \"prefixItems\": [{}], \"items\": false, \"minItems\": 2}",
             "minItems");
    conv_err("{\"type\": \"array\", \"uniqueItems\": true}", "uniqueItems");
    conv_err("{\"type\": \"array\", \"minItems\": 5, \"maxItems\": 2}", "minimum is larger");
}

static void test_enum_const(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"enum\": [\"a\", 1, null, [1, {\"x\": true}], 2.5, \"é\\n\"]}");
    YES(g, "\"a\"");
    YES(g, "1");
    YES(g, "null");
    YES(g, "[1,{\"x\":true}]");
    YES(g, "[ 1, { \"x\": true } ]");
    YES(g, "2.5");
    YES(g, "\"é\\n\"");
    NO(g, "\"b\"");
    NO(g, "2");
    NO(g, "[1]");
    grammar_free(g);
    g = conv("{\"const\": {\"v\": 0.1}}");
    YES(g, "{\"v\": 0.1}");
    NO(g, "{\"v\": 0.2}");
    grammar_free(g);
    /* values outside the type or ranges are left out */
    g = conv("{\"type\": \"string\", \"enum\": [\"ok\", 3, \"toolong\"], \"maxLength\": 4}");
    YES(g, "\"ok\"");
    NO(g, "3");
    NO(g, "\"toolong\"");
    grammar_free(g);
    conv_err("{\"type\": \"string\", \"enum\": [1, 2]}", "enum");
}

static void test_combinators(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"anyOf\": [{\"type\": \"integer\", \"minimum\": 10}, "
                             "{\"type\": \"string\", \"maxLength\": 2}]}");
    YES(g, "10");
    YES(g, "\"ab\"");
    NO(g, "9");
    NO(g, "\"abc\"");
    grammar_free(g);
    g = conv("{\"oneOf\": [{\"const\": \"x\"}, {\"type\": \"boolean\"}]}");
    YES(g, "\"x\"");
    YES(g, "true");
    NO(g, "null");
    grammar_free(g);
    /* keywords beside anyOf apply to every branch */
    g = conv("{\"type\": \"object\", \"properties\": {\"k\": {\"type\": \"integer\"}}, "
             "\"required\": [\"k\"], \"anyOf\": [{\"properties\": {\"a\": {\"const\": 1}}, "
             "\"required\": [\"a\"]}, {\"properties\": {\"b\": {\"const\": 2}}, \"required\": "
             "[\"b\"]}]}");
    YES(g, "{\"k\": 5, \"a\": 1}");
    YES(g, "{\"k\": 5, \"b\": 2}");
    NO(g, "{\"k\": 5}");
    NO(g, "{\"a\": 1}");
    grammar_free(g);
    /* allOf merges: properties, required, ranges, types */
    g = conv("{\"allOf\": [{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\", "
             "\"minimum\": 0}}, \"required\": [\"a\"]}, {\"properties\": {\"a\": {\"maximum\": 5}, "
             "\"b\": {\"type\": \"string\"}}, \"required\": [\"b\"]}]}");
    YES(g, "{\"a\": 5, \"b\": \"x\"}");
    NO(g, "{\"a\": 6, \"b\": \"x\"}");
    NO(g, "{\"a\": -1, \"b\": \"x\"}");
    NO(g, "{\"a\": 1}");
    grammar_free(g);
    g = conv("{\"allOf\": [{\"type\": [\"number\", \"string\"]}, {\"type\": \"integer\"}]}");
    YES(g, "3");
    NO(g, "3.5");
    NO(g, "\"s\"");
    grammar_free(g);
    /* additionalProperties false in one part: the other part's extra names cannot appear */
    g = conv("{\"allOf\": [{\"type\": \"object\", \"properties\": {\"a\": {}}, "
             "\"additionalProperties\": false}, {\"properties\": {\"b\": {}}}]}");
    YES(g, "{\"a\": 1}");
    NO(g, "{\"a\": 1, \"b\": 1}");
    grammar_free(g);
    conv_err("{\"allOf\": [{\"properties\": {\"a\": {}}, \"additionalProperties\": false}, "
             "{\"required\": [\"b\"]}]}",
             "required");
    conv_err("{\"allOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}]}", "no type in common");
    conv_err("{\"allOf\": [{\"pattern\": \"a\"}, {\"pattern\": \"b\"}]}", "pattern");
}

static void test_refs(void **state)
{
    (void)state;
    struct grammar *g = conv(
        "{\"$defs\": {\"pos\": {\"type\": \"integer\", \"minimum\": 1}, \"a/b\": {\"const\": "
        "\"slash\"}, \"t~x\": {\"const\": \"tilde\"}, \"p%q\": {\"const\": \"pct\"}}, "
        "\"definitions\": {\"old\": {\"type\": \"boolean\"}}, \"type\": \"array\", \"prefixItems\": "
        "[{\"$ref\": \"#/$defs/pos\"}, {\"$ref\": \"#/$defs/a~1b\"}, {\"$ref\": \"#/$defs/t~0x\"}, "
        "{\"$ref\": \"#/definitions/old\"}, {\"$ref\": \"#/$defs/p%25q\"}, {\"$ref\": "
        "\"#/prefixItems/0\"}], \"items\": false}");
    YES(g, "[1, \"slash\", \"tilde\", true, \"pct\", 2]");
    NO(g, "[0, \"slash\", \"tilde\", true, \"pct\", 2]");
    grammar_free(g);
    /* recursion through an object or array is fine */
    g = conv("{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"kids\": "
             "{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}}, \"required\": [\"name\"]}");
    YES(g, "{\"name\": \"a\", \"kids\": [{\"name\": \"b\"}, {\"name\": \"c\", \"kids\": []}]}");
    NO(g, "{\"name\": \"a\", \"kids\": [{}]}");
    grammar_free(g);
    /* a $ref beside other keywords is merged with them */
    g = conv("{\"$defs\": {\"n\": {\"type\": \"integer\"}}, \"$ref\": \"#/$defs/n\", "
             "\"maximum\": 3}");
    YES(g, "3");
    NO(g, "4");
    grammar_free(g);
    conv_err("{\"$ref\": \"#/$defs/missing\"}", "does not resolve");
    conv_err("{\"$ref\": \"http://example.com/s.json\"}", "only local");
    conv_err("{\"$ref\": \"#anchor\"}", "anchors");
    conv_err("{\"anyOf\": [{\"$ref\": \"#\"}, {\"type\": \"null\"}]}", "recursive $ref");
    conv_err("{\"$defs\": {\"a\": {\"anyOf\": [{\"$ref\": \"#/$defs/b\"}, {\"type\": \"null\"}]}, "
             "\"b\": {\"oneOf\": [{\"$ref\": \"#/$defs/a\"}]}}, \"$ref\": \"#/$defs/a\"}",
             "recursive $ref");
    conv_err("{\"$defs\": {\"a\": {\"allOf\": [{\"$ref\": \"#/$defs/a\"}]}}, \"$ref\": "
             "\"#/$defs/a\"}",
             "nested too deeply");
}

static void test_strings(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}");
    NO(g, "\"a\"");
    YES(g, "\"ab\"");
    YES(g, "\"日本語\"");
    YES(g, "\"a\\nb\""); /* an escape is one character */
    NO(g, "\"abcd\"");
    grammar_free(g);
    /* long maxima are capped (a subset), long minima refused */
    g = conv("{\"type\": \"string\", \"maxLength\": 100000}");
    YES(g, "\"x\"");
    grammar_free(g);
    conv_err("{\"type\": \"string\", \"minLength\": 100000}", "minimum above");
    conv_err("{\"type\": \"string\", \"minLength\": -1}", "non-negative");
    conv_err("{\"type\": \"string\", \"pattern\": \"^(ab)+$\", \"maxLength\": 3}",
             "pattern together");
    conv_err("{\"type\": \"string\", \"pattern\": \"^a{5}$\", \"maxLength\": 3}", "no string");
    /* lengths that follow from the pattern, or a repeated class cut to them */
    g = conv("{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}$\", \"minLength\": 1, "
             "\"maxLength\": 2}");
    YES(g, "\"AB\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"pattern\": \"^[a-z0-9.-]+$\", \"maxLength\": 4}");
    YES(g, "\"a.b-\"");
    NO(g, "\"\"");
    NO(g, "\"abcde\"");
    NO(g, "\"AB\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"pattern\": \"\\\\d*\", \"minLength\": 2}");
    YES(g, "\"12\"");
    YES(g, "\"123456\"");
    NO(g, "\"1\"");
    grammar_free(g);
    /* formats */
    g = conv("{\"type\": \"string\", \"format\": \"date\"}");
    YES(g, "\"2024-02-28\"");
    YES(g, "\"1999-12-31\"");
    NO(g, "\"2024-02-30\"");
    NO(g, "\"2024-04-31\"");
    NO(g, "\"2024-13-01\"");
    NO(g, "\"24-01-01\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"format\": \"time\"}");
    YES(g, "\"23:59:59Z\"");
    YES(g, "\"00:00:00.5+05:30\"");
    NO(g, "\"24:00:00Z\"");
    NO(g, "\"12:00:00\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"format\": \"date-time\"}");
    YES(g, "\"2024-01-15T08:30:00-07:00\"");
    NO(g, "\"2024-01-15 08:30:00Z\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"format\": \"uuid\"}");
    YES(g, "\"123e4567-e89b-12d3-a456-426614174000\"");
    NO(g, "\"123e4567e89b12d3a456426614174000\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"format\": \"email\"}");
    YES(g, "\"a.b+c@example.co.uk\"");
    NO(g, "\"nobody\"");
    grammar_free(g);
    g = conv("{\"type\": \"string\", \"format\": \"ipv4\"}");
    YES(g, "\"255.0.10.199\"");
    NO(g, "\"256.1.1.1\"");
    NO(g, "\"1.1.1\"");
    grammar_free(g);
    /* an unknown format is a plain string */
    g = conv("{\"type\": \"string\", \"format\": \"hostname\"}");
    YES(g, "\"anything at all\"");
    grammar_free(g);
}

struct pat_case {
    const char *pattern;
    const char *yes[6];
    const char *no[6];
};

static void test_patterns(void **state)
{
    (void)state;
    static const struct pat_case cases[] = {
        {"^abc$", {"\"abc\""}, {"\"ab\"", "\"abcd\"", "\"xabc\""}},
        {"a|bc", {"\"a\"", "\"bc\""}, {"\"b\"", "\"abc\""}},
        {"^(ab|cd)+$", {"\"ab\"", "\"abcd\"", "\"cdab\""}, {"\"\"", "\"abc\""}},
        {"^[^0-9]{2}$", {"\"xy\"", "\"\\\"\\\\\"", "\"é!\""}, {"\"x1\"", "\"x\""}},
        {"\\d+\\.\\d{2}", {"\"12.50\"", "\"0.00\""}, {"\"12.5\"", "\"a.00\""}},
        {"^\\w+@\\w+\\.com$", {"\"joe_1@site.com\""}, {"\"joe@site.org\"", "\"@site.com\""}},
        {"^[A-Fa-f0-9]{6}$", {"\"00ffAA\""}, {"\"00ffAG\"", "\"00ff\""}},
        {"^\\s?x$", {"\"x\"", "\" x\"", "\"\\tx\""}, {"\"  x\""}},
        {"^.$", {"\"q\"", "\"\\\"\"", "\"日\""}, {"\"\\n\"", "\"\""}},
        {"^(?:ab)?c$", {"\"c\"", "\"abc\""}, {"\"ac\""}},
        {"^a{2,3}$", {"\"aa\"", "\"aaa\""}, {"\"a\"", "\"aaaa\""}},
        {"^a{2,}b*?$", {"\"aa\"", "\"aaaab\""}, {"\"ab\""}},
        {"^[\\u00e9-\\u00eb\\-]$", {"\"é\"", "\"ë\"", "\"-\""}, {"\"e\""}},
        {"^x{3}[.]\\{$", {"\"xxx.{\""}, {"\"xxxa{\""}},
        {"^(?P<year>\\d{4})-(?<m>\\d\\d)$", {"\"2024-01\""}, {"\"2024-1\""}},
        {"^\\D\\W\\S$", {"\"a!b\""}, {"\"1!b\"", "\"aab\"", "\"a! \""}},
        {"^[\\d\\s]+$", {"\"1 2\""}, {"\"1a\""}},
        {"^\\x41\\n$", {"\"A\\n\""}, {"\"A\""}},
    };
    char schema[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = json_pack("{s:s, s:s}", "type", "string", "pattern", cases[i].pattern);
        char *text = json_dumps(s, 0);
        snprintf(schema, sizeof(schema), "%s", text);
        free(text);
        json_decref(s);
        struct grammar *g = conv(schema);
        for (int k = 0; k < 6 && cases[i].yes[k]; k++)
            if (!full(g, cases[i].yes[k]))
                fail_msg("pattern %s refuses %s", cases[i].pattern, cases[i].yes[k]);
        for (int k = 0; k < 6 && cases[i].no[k]; k++)
            if (full(g, cases[i].no[k]))
                fail_msg("pattern %s accepts %s", cases[i].pattern, cases[i].no[k]);
        grammar_free(g);
    }
    const char *bad[][2] = {
        {"(?=a)b", "unsupported group"}, {"(a)\\1", "unsupported escape"},
        {"\\bword", "unsupported escape"}, {"(?i)abc", "unsupported group"},
        {"a**", "multiple repeat"}, {"(a*)*", "can be empty"}, {"a$b", "anchors"},
        {"(^a)", "anchors"}, {"[abc", "unterminated"}, {"(ab", "missing ')'"},
        {"ab)", "unbalanced"}, {"*a", "nothing to repeat"}, {"a{5000}", "too large"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *s = json_pack("{s:s, s:s}", "type", "string", "pattern", bad[i][0]);
        char *text = json_dumps(s, 0);
        conv_err(text, bad[i][1]);
        free(text);
        json_decref(s);
    }
}

/* ---- numbers ---- */

static void check_int_range(const char *schema, bool has_lo, long long lo, bool has_hi,
                            long long hi)
{
    struct grammar *g = conv(schema);
    char buf[64];
    long long from = has_lo ? lo - 150 : (has_hi ? hi - 1500 : -1500);
    long long to = has_hi ? hi + 150 : (has_lo ? lo + 1500 : 1500);
    for (long long v = from; v <= to; v++) {
        if (has_lo && has_hi && v > lo + 300 && v < hi - 300) {
            v += (hi - lo) / 97 + 1; /* sample the middle of wide ranges */
            if (v >= hi - 300)
                v = hi - 300;
        }
        snprintf(buf, sizeof(buf), "%lld", v);
        bool in = (!has_lo || v >= lo) && (!has_hi || v <= hi);
        if (full(g, buf) != in)
            fail_msg("%s: %s %s", schema, buf, in ? "refused" : "accepted");
    }
    NO(g, "-0");
    NO(g, "00");
    grammar_free(g);
}

static void test_integer_ranges(void **state)
{
    (void)state;
    check_int_range("{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100}", 1, 1, 1, 100);
    check_int_range("{\"type\": \"integer\", \"minimum\": -50, \"maximum\": -10}", 1, -50, 1, -10);
    check_int_range("{\"type\": \"integer\", \"minimum\": -5, \"maximum\": 5}", 1, -5, 1, 5);
    check_int_range("{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 0}", 1, 0, 1, 0);
    check_int_range("{\"type\": \"integer\", \"minimum\": 123, \"maximum\": 4567}", 1, 123, 1, 4567);
    check_int_range("{\"type\": \"integer\", \"minimum\": 99, \"maximum\": 100}", 1, 99, 1, 100);
    check_int_range("{\"type\": \"integer\", \"minimum\": -1000000, \"maximum\": 999}", 1, -1000000,
                    1, 999);
    check_int_range("{\"type\": \"integer\", \"minimum\": 1000, \"maximum\": 99999999}", 1, 1000, 1,
                    99999999);
    check_int_range("{\"type\": \"integer\", \"maximum\": -3}", 0, 0, 1, -3);
    check_int_range("{\"type\": \"integer\", \"minimum\": 17}", 1, 17, 0, 0);
    check_int_range("{\"type\": \"integer\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 10}", 1,
                    1, 1, 9);
    check_int_range("{\"type\": \"integer\", \"minimum\": 1.5, \"maximum\": 7.9}", 1, 2, 1, 7);
    check_int_range("{\"type\": \"integer\", \"minimum\": -2, \"exclusiveMinimum\": true}", 1, -1, 0,
                    0);
    check_int_range("{\"type\": \"number\", \"multipleOf\": 1, \"minimum\": 3, \"maximum\": 9}", 1, 3,
                    1, 9);
    /* random ranges */
    unsigned seed = 7;
    for (int t = 0; t < 40; t++) {
        seed = seed * 1103515245u + 12345u;
        long long a = (long long)(seed % 200001) - 100000;
        seed = seed * 1103515245u + 12345u;
        long long b = a + (long long)(seed % (t < 20 ? 300 : 100000));
        char schema[128];
        snprintf(schema, sizeof(schema), "{\"type\": \"integer\", \"minimum\": %lld, \"maximum\": %lld}",
                 a, b);
        check_int_range(schema, 1, a, 1, b);
    }
    /* long bounds */
    struct grammar *g = conv("{\"type\": \"integer\", \"minimum\": 100000000000000000}");
    YES(g, "100000000000000000");
    NO(g, "99999999999999999");
    grammar_free(g);
    conv_err("{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}", "no integer");
    conv_err("{\"type\": \"integer\", \"minimum\": 1e30}", "out of the supported range");
    conv_err("{\"type\": \"integer\", \"multipleOf\": 3}", "multipleOf");
}

/* Anything accepted lies in the range; some values are accepted. */
static void check_num_range(const char *schema, double lo, bool lo_ex, double hi, bool hi_ex,
                            const char **must)
{
    struct grammar *g = conv(schema);
    char buf[64];
    for (int i = -400; i <= 400; i++) {
        for (int form = 0; form < 4; form++) {
            double v = i / 8.0;
            if (form == 0)
                snprintf(buf, sizeof(buf), "%d", i / 8);
            else if (form == 1)
                snprintf(buf, sizeof(buf), "%.3f", v);
            else if (form == 2)
                snprintf(buf, sizeof(buf), "%.1f", v);
            else
                snprintf(buf, sizeof(buf), "%.0f.0", v);
            double x = strtod(buf, NULL);
            bool in = (lo_ex ? x > lo : x >= lo) && (hi_ex ? x < hi : x <= hi);
            if (full(g, buf) && !in)
                fail_msg("%s accepts %s", schema, buf);
        }
    }
    for (int k = 0; must[k]; k++)
        YES(g, must[k]);
    grammar_free(g);
}

static void test_number_ranges(void **state)
{
    (void)state;
    const char *m1[] = {"0", "1", "0.5", "0.999", NULL};
    check_num_range("{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", 0, 0, 1, 0, m1);
    const char *m2[] = {"0.001", "9.75", "10", "3", NULL};
    check_num_range("{\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 10}", 0, 1, 10, 0,
                    m2);
    const char *m3[] = {"-2", "-1.5", "-0.25", "-1", NULL};
    check_num_range("{\"type\": \"number\", \"minimum\": -2.5, \"exclusiveMaximum\": 0}", -2.5, 0, 0,
                    1, m3);
    const char *m4[] = {"-40", "-39.9", "12", "11.75", NULL};
    check_num_range("{\"type\": \"number\", \"minimum\": -40, \"maximum\": 12.5}", -40, 0, 12.5, 0,
                    m4);
    const char *m5[] = {"0", "123.25", "99999", NULL};
    check_num_range("{\"type\": \"number\", \"minimum\": 0}", 0, 0, 1e300, 0, m5);
    const char *m6[] = {"-1", "-7.5", NULL};
    check_num_range("{\"type\": \"number\", \"exclusiveMaximum\": 0}", -1e300, 0, 0, 1, m6);
    conv_err("{\"type\": \"number\", \"minimum\": 0.2, \"maximum\": 0.3}", "too narrow");
}

static void test_nullable(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": "
                             "\"integer\", \"nullable\": true}}, \"required\": [\"n\"]}");
    YES(g, "{\"n\": 3}");
    YES(g, "{\"n\": null}");
    NO(g, "{\"n\": \"3\"}");
    grammar_free(g);
}

static void test_unsupported(void **state)
{
    (void)state;
    const char *kw[] = {"not", "if", "then", "else", "patternProperties", "propertyNames",
                        "dependentRequired", "dependentSchemas", "dependencies",
                        "unevaluatedProperties", "unevaluatedItems", "contains"};
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
        char schema[128], what[64];
        snprintf(schema, sizeof(schema), "{\"type\": \"object\", \"%s\": {}}", kw[i]);
        snprintf(what, sizeof(what), "'%s'", kw[i]);
        conv_err(schema, what);
    }
    /* deep inside, too */
    conv_err("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"array\", \"items\": "
             "{\"not\": {\"type\": \"null\"}}}}}",
             "'not'");
    conv_err("false", "matches nothing");
    conv_err("3", "object or a boolean");
    conv_err("{\"type\": \"decimal\"}", "unknown type");
    conv_err("{\"anyOf\": []}", "non-empty");
}

static void test_whitespace_bounded(void **state)
{
    (void)state;
    struct grammar *g = conv("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": "
                             "\"array\", \"items\": {\"type\": \"integer\"}}}, \"required\": "
                             "[\"a\"]}");
    YES(g, "{\"a\":[1,2]}");
    YES(g, "{ \"a\" : [ 1 , 2 ] }");
    YES(g, "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
    YES(g, "{\n\t\t\"a\": [1]}");
    NO(g, " {\"a\": [1]}");  /* nothing before the value */
    NO(g, "{\"a\": [1]} "); /* or after it */
    NO(g, "{  \"a\": [1]}"); /* one space at most */
    NO(g, "{\n\n\"a\": [1]}");
    char buf[128];
    snprintf(buf, sizeof(buf), "{\n%20s\"a\": [1]}", "");
    YES(g, buf);
    snprintf(buf, sizeof(buf), "{\n%21s\"a\": [1]}", "");
    NO(g, buf);
    /* the sentence is done right after its last brace */
    struct grammar_state *st = grammar_state_create(g);
    assert_int_equal(grammar_state_advance(st, "{\"a\": []}", 9), 0);
    assert_true(grammar_state_done(st));
    grammar_state_free(st);
    grammar_free(g);
}

/* ---- the committed schemas ---- */

static void check_examples(const char *file, const struct grammar *g, const json_t *list,
                           bool valid)
{
    size_t i;
    json_t *ex;
    json_array_foreach(list, i, ex) {
        size_t flags[2] = {JSON_COMPACT, JSON_INDENT(2)};
        for (int f = 0; f < (valid ? 2 : 1); f++) {
            char *text = json_dumps(ex, flags[f] | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
            bool ok = full(g, text);
            if (ok != valid)
                fail_msg("%s: %s example %s", file, valid ? "valid" : "invalid", text);
            free(text);
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_schema_corpus(void **state)
{
    (void)state;
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/schemas", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256)
        if (strstr(e->d_name, ".json"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    assert_true(n >= 40);
    for (int i = 0; i < n; i++) {
        char path[1200], err[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        json_error_t je;
        json_t *doc = json_load_file(path, 0, &je);
        if (doc == NULL)
            fail_msg("%s: %s", names[i], je.text);
        char *text = json_schema_to_grammar(json_object_get(doc, "schema"), err, sizeof(err));
        if (text == NULL)
            fail_msg("%s: %s", names[i], err);
        struct grammar *g = grammar_parse(text, strlen(text), NULL, err, sizeof(err));
        if (g == NULL)
            fail_msg("%s: %s", names[i], err);
        check_examples(names[i], g, json_object_get(doc, "valid"), true);
        check_examples(names[i], g, json_object_get(doc, "invalid"), false);
        grammar_free(g);
        free(text);
        json_decref(doc);
        free(names[i]);
    }
    print_message("%d committed schemas checked\n", n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_any_value),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_combinators),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_number_ranges),
        cmocka_unit_test(test_nullable),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_whitespace_bounded),
        cmocka_unit_test(test_schema_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
