/*
 * test_tool_call.c - tool-call formats (src/chat/tool_call.c): the format
 * each family's real template (../shared/chat-templates) is detected as; each
 * family's output written the way its template teaches split into content,
 * reasoning and calls; malformed calls kept as text; every prefix of every
 * output parsed as a stream (content and reasoning only grow, calls appear
 * whole); and the grammars: each format's grammar parses, accepts a
 * well-formed call (which the parser then reads back) and refuses arguments
 * that break the tool's schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/file.h"
#include "base/sbuf.h"
#include "chat/chat_template.h"
#include "chat/tool_call.h"
#include "grammar/grammar.h"

#define DS_BAR "\xef\xbd\x9c"
#define DS_SP "\xe2\x96\x81"
#define DS(x) "<" DS_BAR x DS_BAR ">"

static void test_detect_templates(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        enum chat_tool_format f;
    } CASES[] = {
        {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", CHAT_TOOL_COMMAND_R7B},
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", CHAT_TOOL_HERMES},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", CHAT_TOOL_HERMES},
        {"Qwen-Qwen2.5-7B-Instruct.jinja", CHAT_TOOL_HERMES},
        {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", CHAT_TOOL_DEEPSEEK_R1},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", CHAT_TOOL_DEEPSEEK_R1},
        {"fireworks-ai-llama-3-firefunction-v2.jinja", CHAT_TOOL_FIREFUNCTION_V2},
        {"google-gemma-2-2b-it.jinja", CHAT_TOOL_GENERIC},
        {"meetkai-functionary-medium-v3.1.jinja", CHAT_TOOL_FUNCTIONARY_V3_1},
        {"meetkai-functionary-medium-v3.2.jinja", CHAT_TOOL_FUNCTIONARY_V3_2},
        {"meta-llama-Llama-3.1-8B-Instruct.jinja", CHAT_TOOL_LLAMA3},
        {"meta-llama-Llama-3.2-3B-Instruct.jinja", CHAT_TOOL_LLAMA3},
        {"meta-llama-Llama-3.3-70B-Instruct.jinja", CHAT_TOOL_LLAMA3},
        {"microsoft-Phi-3.5-mini-instruct.jinja", CHAT_TOOL_GENERIC},
        {"mistralai-Mistral-Nemo-Instruct-2407.jinja", CHAT_TOOL_MISTRAL},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/../shared/chat-templates/%s", CLLM_SOURCE_DIR, CASES[i].file);
        char *src = file_read(path, 0, NULL, err, sizeof err);
        if (!src)
            fail_msg("%s", err);
        enum chat_tool_format f = chat_tool_format_detect(src);
        if (f != CASES[i].f)
            fail_msg("%s: detected %s, expected %s", CASES[i].file, chat_tool_format_name(f),
                     chat_tool_format_name(CASES[i].f));
        free(src);
    }
    assert_int_equal(chat_tool_format_detect(NULL), CHAT_TOOL_GENERIC);
    assert_string_equal(chat_tool_format_name(CHAT_TOOL_GPT_OSS), "gpt-oss");
}

/* One recorded output and what it must parse to. */
struct sample {
    enum chat_tool_format f;
    unsigned flags;
    const char *text;
    const char *content, *reasoning;
    size_t n_calls;
    const char *name[3], *args[3], *id[3];
};

enum { C = CHAT_TOOL_PARSE_CALLS, R = CHAT_TOOL_PARSE_REASONING, O = CHAT_TOOL_PARSE_THINK_OPEN };

static const struct sample SAMPLES[] = {
    /* Hermes / Qwen 2.5: text, then two calls */
    {CHAT_TOOL_HERMES, C,
     "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
     "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>",
     "Let me check.", "", 2, {"get_weather", "get_time"}, {"{\"city\":\"Paris\"}", "{\"tz\":\"CET\"}"}, {0}},
    /* Qwen 3: a thought first */
    {CHAT_TOOL_HERMES, C | R,
     "<think>\nThe user wants the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
     "", "The user wants the weather.", 1, {"get_weather"}, {"{\"city\":\"Oslo\"}"}, {0}},
    /* Hermes, malformed JSON: all text */
    {CHAT_TOOL_HERMES, C, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>",
     "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>", "", 0, {0}, {0}, {0}},
    /* Hermes, no name: text */
    {CHAT_TOOL_HERMES, C, "<tool_call>{\"arguments\": {}}</tool_call>", "<tool_call>{\"arguments\": {}}</tool_call>",
     "", 0, {0}, {0}, {0}},
    /* Hermes, no call: plain answer */
    {CHAT_TOOL_HERMES, C, "The capital of France is Paris.", "The capital of France is Paris.", "", 0, {0}, {0}, {0}},
    /* calls not asked for: text */
    {CHAT_TOOL_HERMES, 0, "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
     "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", "", 0, {0}, {0}, {0}},
    /* Llama 3.1: JSON call, arguments under "parameters" */
    {CHAT_TOOL_LLAMA3, C, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\", \"days\": 3}}", "", "", 1,
     {"get_weather"}, {"{\"city\":\"Rome\",\"days\":3}"}, {0}},
    /* Llama 3.1: a built-in through the python tag */
    {CHAT_TOOL_LLAMA3, C, "<|python_tag|>brave_search.call(query=\"weather in Rome\")", "", "", 1, {"brave_search"},
     {"{\"query\":\"weather in Rome\"}"}, {0}},
    /* Llama 3.1: code through the python tag */
    {CHAT_TOOL_LLAMA3, C, "<|python_tag|>print(2 + 2)", "", "", 1, {"python"}, {"{\"code\":\"print(2 + 2)\"}"}, {0}},
    /* Llama 3: JSON that is not a call: text */
    {CHAT_TOOL_LLAMA3, C, "{\"answer\": 42}", "{\"answer\": 42}", "", 0, {0}, {0}, {0}},
    /* Mistral Nemo: ids from the model */
    {CHAT_TOOL_MISTRAL, C,
     "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}, \"id\": \"a1b2c3d4e\"}, "
     "{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"f5g6h7i8j\"}]",
     "", "", 2, {"get_weather", "get_time"}, {"{\"city\":\"Lyon\"}", "{}"}, {"a1b2c3d4e", "f5g6h7i8j"}},
    /* DeepSeek R1: the prompt opened the thought */
    {CHAT_TOOL_DEEPSEEK_R1, C | R | O,
     "I should call the tool.\n</think>\n\n" DS("tool" DS_SP "calls" DS_SP "begin") DS("tool" DS_SP "call" DS_SP "begin")
     "function" DS("tool" DS_SP "sep") "get_weather\n```json\n{\"city\": \"Kyoto\"}\n```" DS("tool" DS_SP "call" DS_SP "end")
     DS("tool" DS_SP "calls" DS_SP "end"),
     "", "I should call the tool.", 1, {"get_weather"}, {"{\"city\":\"Kyoto\"}"}, {0}},
    /* DeepSeek R1: answer only */
    {CHAT_TOOL_DEEPSEEK_R1, C | R, "<think>\nEasy.\n</think>\n\n4", "4", "Easy.", 0, {0}, {0}, {0}},
    /* Functionary v3.1 */
    {CHAT_TOOL_FUNCTIONARY_V3_1, C, "<function=get_weather>{\"city\": \"Lima\"}</function>", "", "", 1, {"get_weather"},
     {"{\"city\":\"Lima\"}"}, {0}},
    /* Functionary v3.2: text, then a call */
    {CHAT_TOOL_FUNCTIONARY_V3_2, C, "all\nChecking now.>>>get_weather\n{\"city\": \"Quito\"}", "Checking now.", "", 1,
     {"get_weather"}, {"{\"city\":\"Quito\"}"}, {0}},
    /* Command R7B: thought, action */
    {CHAT_TOOL_COMMAND_R7B, C | R,
     "<|START_THINKING|>I need the weather.<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": "
     "\"get_weather\", \"parameters\": {\"city\": \"Cairo\"}}\n]<|END_ACTION|>",
     "", "I need the weather.", 1, {"get_weather"}, {"{\"city\":\"Cairo\"}"}, {"0"}},
    /* Command R7B: an answer */
    {CHAT_TOOL_COMMAND_R7B, C | R, "<|START_RESPONSE|>Hello there.<|END_RESPONSE|>", "Hello there.", "", 0, {0}, {0}, {0}},
    /* Granite */
    {CHAT_TOOL_GRANITE, C, "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Bern\"}}]", "", "", 1,
     {"get_weather"}, {"{\"city\":\"Bern\"}"}, {0}},
    /* Firefunction v2 */
    {CHAT_TOOL_FIREFUNCTION_V2, C, " functools[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]", "", "", 1,
     {"get_weather"}, {"{\"city\":\"Oslo\"}"}, {0}},
    /* gpt-oss: analysis, then a call */
    {CHAT_TOOL_GPT_OSS, C | R,
     "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather "
     "<|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>",
     "", "Need weather.", 1, {"get_weather"}, {"{\"city\":\"Paris\"}"}, {0}},
    /* gpt-oss: a final answer */
    {CHAT_TOOL_GPT_OSS, C | R,
     "<|channel|>analysis<|message|>Simple.<|end|><|start|>assistant<|channel|>final<|message|>Four.<|return|>", "Four.",
     "Simple.", 0, {0}, {0}, {0}},
    /* generic */
    {CHAT_TOOL_GENERIC, C,
     "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Nice\"}, \"id\": \"123456789\"}]}", "",
     "", 1, {"get_weather"}, {"{\"city\":\"Nice\"}"}, {"123456789"}},
    {CHAT_TOOL_GENERIC, C, "{\"response\": \"Hi!\"}", "Hi!", "", 0, {0}, {0}, {0}},
    {CHAT_TOOL_GENERIC, C, "Just text.", "Just text.", "", 0, {0}, {0}, {0}},
    {CHAT_TOOL_GENERIC, C, "{\"tool_calls\": [{\"name\": 5}]}", "{\"tool_calls\": [{\"name\": 5}]}", "", 0, {0}, {0}, {0}},
};

static bool same_args(const char *got, const char *want)
{
    json_t *a = json_loads(got, 0, NULL), *b = json_loads(want, 0, NULL);
    bool eq = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

static void check_sample(const struct sample *s, size_t idx)
{
    struct chat_tool_message m;
    char err[128];
    assert_int_equal(chat_tool_parse(s->f, s->text, strlen(s->text), s->flags, &m, err, sizeof err), 0);
    if (strcmp(m.content, s->content) != 0)
        fail_msg("sample %zu (%s): content \"%s\", expected \"%s\"", idx, chat_tool_format_name(s->f), m.content,
                 s->content);
    if (strcmp(m.reasoning, s->reasoning) != 0)
        fail_msg("sample %zu: reasoning \"%s\", expected \"%s\"", idx, m.reasoning, s->reasoning);
    if (m.n_calls != s->n_calls)
        fail_msg("sample %zu (%s): %zu calls, expected %zu", idx, chat_tool_format_name(s->f), m.n_calls, s->n_calls);
    for (size_t i = 0; i < m.n_calls; i++) {
        assert_string_equal(m.calls[i].name, s->name[i]);
        if (!same_args(m.calls[i].arguments, s->args[i]))
            fail_msg("sample %zu call %zu: arguments %s, expected %s", idx, i, m.calls[i].arguments, s->args[i]);
        if (s->id[i])
            assert_string_equal(m.calls[i].id ? m.calls[i].id : "(none)", s->id[i]);
    }
    chat_tool_message_free(&m);
}

static void test_parse_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++)
        check_sample(&SAMPLES[i], i);
}

static bool is_prefix(const char *p, const char *s)
{
    return strncmp(p, s, strlen(p)) == 0;
}

/* Every byte prefix parsed as a stream: content and reasoning are prefixes
 * of the final ones, and the calls seen so far are the final ones' first. */
static void test_stream_prefixes(void **state)
{
    (void)state;
    char err[128];
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++) {
        const struct sample *s = &SAMPLES[i];
        struct chat_tool_message fin, m;
        size_t len = strlen(s->text);
        assert_int_equal(chat_tool_parse(s->f, s->text, len, s->flags, &fin, err, sizeof err), 0);
        for (size_t k = 0; k <= len; k++) {
            assert_int_equal(
                chat_tool_parse(s->f, s->text, k, s->flags | CHAT_TOOL_PARSE_PARTIAL, &m, err, sizeof err), 0);
            if (!is_prefix(m.content, fin.content))
                fail_msg("sample %zu at %zu bytes: streamed content \"%s\" is not a prefix of \"%s\"", i, k,
                         m.content, fin.content);
            if (!is_prefix(m.reasoning, fin.reasoning))
                fail_msg("sample %zu at %zu bytes: streamed reasoning \"%s\" not a prefix of \"%s\"", i, k,
                         m.reasoning, fin.reasoning);
            if (m.n_calls > fin.n_calls)
                fail_msg("sample %zu at %zu bytes: %zu calls streamed, %zu in the end", i, k, m.n_calls, fin.n_calls);
            for (size_t c = 0; c < m.n_calls; c++) {
                assert_string_equal(m.calls[c].name, fin.calls[c].name);
                assert_string_equal(m.calls[c].arguments, fin.calls[c].arguments);
            }
            chat_tool_message_free(&m);
        }
        chat_tool_message_free(&fin);
    }
}

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"The weather\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"city\": {\"type\": \"string\"}, \"days\": {\"type\": \"integer\", \"minimum\": 1}}, "
    "\"required\": [\"city\"], \"additionalProperties\": false}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": \"The time\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"tz\": {\"enum\": [\"UTC\", \"CET\"]}}, \"required\": [\"tz\"]}}}]";

static bool grammar_full(const struct grammar *g, const char *s)
{
    struct grammar_state *st = grammar_state_create(g);
    assert_non_null(st);
    bool ok = grammar_state_advance(st, s, strlen(s)) == 0 && grammar_state_can_end(st);
    grammar_state_free(st);
    return ok;
}

/* Per format: a good call (accepted, and parsed back to get_weather with
 * Paris) and a bad one (a days of 0, under the schema's minimum). */
static void test_grammars(void **state)
{
    (void)state;
    static const struct {
        enum chat_tool_format f;
        const char *good, *bad;
    } CASES[] = {
        {CHAT_TOOL_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
         "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 0}}</tool_call>"},
        {CHAT_TOOL_MISTRAL, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
         "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Paris\"}}]"},
        {CHAT_TOOL_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}",
         "{\"name\": \"get_weather\", \"parameters\": {\"days\": 2}}"},
        {CHAT_TOOL_GENERIC, "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]}",
         "{\"tool_calls\": [{\"name\": \"get_sun\", \"arguments\": {\"city\": \"Paris\"}}]}"},
        {CHAT_TOOL_FUNCTIONARY_V3_1, "<function=get_weather>{\"city\": \"Paris\"}</function>",
         "<function=get_weather>{\"city\": 7}</function>"},
        {CHAT_TOOL_FUNCTIONARY_V3_2, "get_weather\n{\"city\": \"Paris\"}", "get_weather\n{}"},
        {CHAT_TOOL_COMMAND_R7B,
         "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\": "
         "\"Paris\"}}]<|END_ACTION|>",
         "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_time\", \"parameters\": {\"tz\": \"PST\"}}]"
         "<|END_ACTION|>"},
        {CHAT_TOOL_GRANITE, "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
         "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": \"Paris\"}]"},
        {CHAT_TOOL_FIREFUNCTION_V2, " functools[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
         " functools[{\"name\": \"get_weather\"}]"},
        {CHAT_TOOL_DEEPSEEK_R1,
         DS("tool" DS_SP "calls" DS_SP "begin") DS("tool" DS_SP "call" DS_SP "begin") "function" DS("tool" DS_SP "sep")
         "get_weather\n```json\n{\"city\": \"Paris\"}\n```" DS("tool" DS_SP "call" DS_SP "end")
         DS("tool" DS_SP "calls" DS_SP "end"),
         DS("tool" DS_SP "calls" DS_SP "begin") "get_weather"},
        {CHAT_TOOL_GPT_OSS,
         "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}",
         "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": []}"},
    };
    json_t *tools = json_loads(TOOLS, 0, NULL);
    assert_non_null(tools);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        struct chat_tool_grammar tg;
        char err[256];
        enum chat_tool_format f = CASES[i].f;
        if (chat_tool_grammar_build(f, tools, NULL, true, false, &tg, err, sizeof err) != 0)
            fail_msg("%s: %s", chat_tool_format_name(f), err);
        assert_false(tg.lazy);
        struct grammar *g = grammar_parse(tg.gbnf, strlen(tg.gbnf), NULL, err, sizeof err);
        if (!g)
            fail_msg("%s: grammar does not parse: %s\n%s", chat_tool_format_name(f), err, tg.gbnf);
        if (!grammar_full(g, CASES[i].good))
            fail_msg("%s: refuses %s\n%s", chat_tool_format_name(f), CASES[i].good, tg.gbnf);
        if (grammar_full(g, CASES[i].bad))
            fail_msg("%s: accepts %s", chat_tool_format_name(f), CASES[i].bad);
        struct chat_tool_message m;
        assert_int_equal(chat_tool_parse(f, CASES[i].good, strlen(CASES[i].good), C, &m, err, sizeof err), 0);
        if (m.n_calls != 1 || strcmp(m.calls[0].name, "get_weather") != 0 ||
            (!same_args(m.calls[0].arguments, "{\"city\": \"Paris\"}") && f != CHAT_TOOL_LLAMA3))
            fail_msg("%s: the grammar's call parses to %zu calls", chat_tool_format_name(f), m.n_calls);
        chat_tool_message_free(&m);
        grammar_free(g);
        chat_tool_grammar_free(&tg);
    }
    json_decref(tools);
}

static void test_grammar_options(void **state)
{
    (void)state;
    json_t *tools = json_loads(TOOLS, 0, NULL);
    struct chat_tool_grammar tg;
    char err[256];
    /* auto: lazy, with the format's trigger */
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_HERMES, tools, NULL, false, true, &tg, err, sizeof err), 0);
    assert_true(tg.lazy);
    assert_int_equal(tg.n_triggers, 1);
    assert_string_equal(tg.triggers[0], "<tool_call>");
    struct grammar *g = grammar_parse(tg.gbnf, strlen(tg.gbnf), NULL, err, sizeof err);
    assert_non_null(g);
    /* parallel: two calls */
    assert_true(grammar_full(g, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}</tool_call>\n"
                                "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}</tool_call>"));
    grammar_free(g);
    chat_tool_grammar_free(&tg);
    /* a named function only */
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_HERMES, tools, "get_time", true, false, &tg, err, sizeof err), 0);
    g = grammar_parse(tg.gbnf, strlen(tg.gbnf), NULL, err, sizeof err);
    assert_non_null(g);
    assert_true(grammar_full(g, "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}</tool_call>"));
    assert_false(grammar_full(g, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}</tool_call>"));
    /* not parallel: one call only */
    assert_false(grammar_full(g, "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}</tool_call>"
                                 "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}</tool_call>"));
    grammar_free(g);
    chat_tool_grammar_free(&tg);
    /* generic auto: a call or a response */
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_GENERIC, tools, NULL, false, false, &tg, err, sizeof err), 0);
    assert_false(tg.lazy);
    g = grammar_parse(tg.gbnf, strlen(tg.gbnf), NULL, err, sizeof err);
    assert_non_null(g);
    assert_true(grammar_full(g, "{\"response\": \"Hello \\\"you\\\"\"}"));
    grammar_free(g);
    chat_tool_grammar_free(&tg);
    /* errors */
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_HERMES, tools, "nope", true, false, &tg, err, sizeof err), -1);
    assert_non_null(strstr(err, "nope"));
    json_t *bad = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]", 0, NULL);
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_HERMES, bad, NULL, true, false, &tg, err, sizeof err), -1);
    assert_non_null(strstr(err, "tools[0]"));
    json_decref(bad);
    bad = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", "
                     "\"properties\": {\"x\": {\"$ref\": \"#/nowhere\"}}}}}]", 0, NULL);
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_HERMES, bad, NULL, true, false, &tg, err, sizeof err), -1);
    assert_non_null(strstr(err, "tools[0] (f)"));
    json_decref(bad);
    json_t *empty = json_array();
    assert_int_equal(chat_tool_grammar_build(CHAT_TOOL_HERMES, empty, NULL, true, false, &tg, err, sizeof err), -1);
    json_decref(empty);
    json_decref(tools);
}

/* Fed a few bytes at a time, a stream's deltas add up to the final parse. */
static void test_stream_feed(void **state)
{
    (void)state;
    char err[128];
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++) {
        const struct sample *s = &SAMPLES[i];
        for (size_t step = 1; step <= 7; step += 3) {
            struct chat_tool_stream cs;
            struct chat_tool_delta d;
            struct sbuf content = SBUF_INIT, reasoning = SBUF_INIT;
            size_t calls = 0, len = strlen(s->text);
            chat_tool_stream_init(&cs, s->f, s->flags);
            for (size_t k = 0; k < len; k += step) {
                size_t n = len - k < step ? len - k : step;
                assert_int_equal(chat_tool_stream_feed(&cs, s->text + k, n, false, &d, err, sizeof err), 0);
                sbuf_append(&content, d.content, d.content_len);
                sbuf_append(&reasoning, d.reasoning, d.reasoning_len);
                if (d.n_calls)
                    assert_int_equal(d.first_call, calls);
                calls += d.n_calls;
            }
            assert_int_equal(chat_tool_stream_feed(&cs, "", 0, true, &d, err, sizeof err), 0);
            sbuf_append(&content, d.content, d.content_len);
            sbuf_append(&reasoning, d.reasoning, d.reasoning_len);
            calls += d.n_calls;
            if (strcmp(sbuf_str(&content), s->content) != 0)
                fail_msg("sample %zu, %zu bytes a feed: content \"%s\", expected \"%s\"", i, step,
                         sbuf_str(&content), s->content);
            assert_string_equal(sbuf_str(&reasoning), s->reasoning);
            assert_int_equal(calls, s->n_calls);
            assert_int_equal(cs.msg.n_calls, s->n_calls);
            sbuf_free(&content);
            sbuf_free(&reasoning);
            chat_tool_stream_free(&cs);
        }
    }
    /* flags 0: passed through */
    struct chat_tool_stream cs;
    struct chat_tool_delta d;
    chat_tool_stream_init(&cs, CHAT_TOOL_HERMES, 0);
    assert_int_equal(chat_tool_stream_feed(&cs, "<tool_call>", 11, false, &d, err, sizeof err), 0);
    assert_int_equal(d.content_len, 11);
    chat_tool_stream_free(&cs);
}

static void test_generic_messages(void **state)
{
    (void)state;
    json_t *tools = json_loads(TOOLS, 0, NULL);
    json_t *msgs = json_loads(
        "[{\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
        " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\","
        "   \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
        " {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"18C\"},"
        " {\"role\": \"user\", \"content\": \"And tomorrow?\"}]", 0, NULL);
    assert_non_null(msgs);
    char err[128];
    json_t *out = chat_tool_generic_messages(msgs, tools, true, err, sizeof err);
    assert_non_null(out);
    assert_int_equal(json_array_size(out), 4); /* system, user, assistant, user (tool result + question) */
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "role")), "system");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(out, 0), "content")), "get_weather"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 2), "content")),
                        "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]}");
    const char *last = json_string_value(json_object_get(json_array_get(out, 3), "content"));
    assert_non_null(strstr(last, "\"tool_response\""));
    assert_non_null(strstr(last, "18C"));
    assert_non_null(strstr(last, "And tomorrow?"));
    json_decref(out);
    json_decref(msgs);
    json_decref(tools);
}

/* What each family's real template writes for an assistant turn that calls
 * get_weather({"city": "Paris"}), read back by its format's parser: render
 * the conversation with the call, less the same conversation up to the
 * generation prompt, less the end-of-turn marker (generation stops at that
 * token). The history's arguments are objects, as tool templates expect. */
static void test_templates_round_trip(void **state)
{
    (void)state;
    static const char *const FILES[] = {
        "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",   "Qwen-Qwen2.5-7B-Instruct.jinja",
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",      "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        "fireworks-ai-llama-3-firefunction-v2.jinja",          "meetkai-functionary-medium-v3.1.jinja",
        "meetkai-functionary-medium-v3.2.jinja",               "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "meta-llama-Llama-3.2-3B-Instruct.jinja",              "meta-llama-Llama-3.3-70B-Instruct.jinja",
        "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    };
    static const char *const ENDS[] = {"<|im_end|>", "<|eot_id|>", "<|eom_id|>", "</s>", "<|END_OF_TURN_TOKEN|>",
                                       "<" DS_BAR "end" DS_SP "of" DS_SP "sentence" DS_BAR ">", NULL};
    json_t *tools = json_loads(TOOLS, 0, NULL);
    json_t *head = json_loads("[{\"role\": \"user\", \"content\": \"Weather in Paris?\"}]", 0, NULL);
    json_t *full = json_loads("[{\"role\": \"user\", \"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", "
                              "\"content\": null, \"tool_calls\": [{\"id\": \"abc123XYZ\", \"type\": \"function\", "
                              "\"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]}]",
                              0, NULL);
    assert_true(tools && head && full);
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/../shared/chat-templates/%s", CLLM_SOURCE_DIR, FILES[i]);
        char *src = file_read(path, 0, NULL, err, sizeof err);
        assert_non_null(src);
        enum chat_tool_format f = chat_tool_format_detect(src);
        struct chat_template *t = chat_template_load(src, NULL, true, "<s>", "</s>", err, sizeof err);
        if (!t)
            fail_msg("%s: %s", FILES[i], err);
        /* OpenAI's arguments are a JSON string; templates that want an object get it parsed */
        json_t *call = json_object_get(json_array_get(json_object_get(json_array_get(full, 1), "tool_calls"), 0),
                                       "function");
        if (chat_tool_object_arguments(src))
            json_object_set_new(call, "arguments", json_pack("{s:s}", "city", "Paris"));
        else
            json_object_set_new(call, "arguments", json_string("{\"city\": \"Paris\"}"));
        /* FireFunction's template reads the tools as a JSON text named functions */
        char *fns = json_dumps(tools, JSON_INDENT(2));
        json_t *extra = json_pack("{s:s,s:s}", "functions", fns, "datetime", "Jan 01 2025");
        free(fns);
        struct chat_template_inputs a = {.messages = head, .tools = tools, .extra = extra,
                                         .add_generation_prompt = true, .now = 1},
                                    b = {.messages = full, .tools = tools, .extra = extra,
                                         .add_generation_prompt = false, .now = 1};
        char *pa = chat_template_apply_ex(t, &a, err, sizeof err);
        if (!pa)
            fail_msg("%s: %s", FILES[i], err);
        char *pb = chat_template_apply_ex(t, &b, err, sizeof err);
        if (!pb)
            fail_msg("%s: %s", FILES[i], err);
        size_t na = strlen(pa);
        if (strncmp(pa, pb, na) != 0 && na >= 8 && strcmp(pa + na - 8, "<think>\n") == 0)
            na -= 8; /* DeepSeek R1: the generation prompt opens a thought the history leaves out */
        if (strncmp(pa, pb, na) != 0)
            fail_msg("%s: the turn does not extend the generation prompt:\n%s\n---\n%s", FILES[i], pa, pb);
        char *tail = pb + na;
        size_t n = strlen(tail);
        for (bool cut = true; cut;) { /* the end-of-turn marker and blanks */
            cut = false;
            while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
                n--, cut = true;
            for (const char *const *e = ENDS; *e; e++)
                if (n >= strlen(*e) && memcmp(tail + n - strlen(*e), *e, strlen(*e)) == 0)
                    n -= strlen(*e), cut = true;
        }
        struct chat_tool_message m;
        assert_int_equal(chat_tool_parse(f, tail, n, C | R, &m, err, sizeof err), 0);
        if (m.n_calls != 1 || strcmp(m.calls[0].name, "get_weather") != 0 ||
            !same_args(m.calls[0].arguments, "{\"city\": \"Paris\"}"))
            fail_msg("%s (%s): the template's call \"%.*s\" parses to %zu calls, content \"%s\"", FILES[i],
                     chat_tool_format_name(f), (int)n, tail, m.n_calls, m.content);
        chat_tool_message_free(&m);
        free(pa);
        free(pb);
        chat_template_free(t);
        json_decref(extra);
        free(src);
    }
    json_decref(tools);
    json_decref(head);
    json_decref(full);
}

static void test_call_id(void **state)
{
    (void)state;
    char a[32], b[32];
    chat_tool_call_id(CHAT_TOOL_HERMES, a, sizeof a, 1);
    chat_tool_call_id(CHAT_TOOL_HERMES, b, sizeof b, 2);
    assert_int_equal(strlen(a), 29);
    assert_memory_equal(a, "call_", 5);
    assert_string_not_equal(a, b);
    /* Mistral's templates insist on 9 letters and digits */
    chat_tool_call_id(CHAT_TOOL_MISTRAL, a, sizeof a, 1);
    assert_int_equal(strlen(a), 9);
    for (int i = 0; i < 9; i++)
        assert_true(isalnum((unsigned char)a[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_templates), cmocka_unit_test(test_parse_samples),
        cmocka_unit_test(test_stream_prefixes),  cmocka_unit_test(test_grammars),
        cmocka_unit_test(test_grammar_options),  cmocka_unit_test(test_call_id),
        cmocka_unit_test(test_stream_feed),      cmocka_unit_test(test_generic_messages),
        cmocka_unit_test(test_templates_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
