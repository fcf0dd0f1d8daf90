/*
 * test_api_compat.c - the Anthropic Messages and OpenAI Responses shapes
 * (src/server/api_anthropic.c, api_responses.c): requests turned into chat
 * bodies (system, text, tool_use/tool_result, function_call items, tools,
 * tool_choice, limits), bad requests refused with a message naming the
 * field, replies and the exact order of stream events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "server/api_anthropic.h"
#include "server/api_responses.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = J(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS), *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got  %s\nwant %s", g, w);
    }
    json_decref(want);
}

static void test_anthropic_request(void **state)
{
    (void)state;
    json_t *body = J("{\"model\": \"m\", \"max_tokens\": 64, \"system\": [{\"type\": \"text\", \"text\": \"Be brief.\"}],"
                     " \"messages\": ["
                     "  {\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
                     "  {\"role\": \"assistant\", \"content\": [{\"type\": \"text\", \"text\": \"Checking.\"},"
                     "     {\"type\": \"tool_use\", \"id\": \"toolu_1\", \"name\": \"get_weather\", \"input\": {\"city\": \"Paris\"}}]},"
                     "  {\"role\": \"user\", \"content\": [{\"type\": \"tool_result\", \"tool_use_id\": \"toolu_1\","
                     "     \"content\": [{\"type\": \"text\", \"text\": \"18C\"}]}, {\"type\": \"text\", \"text\": \"Thanks\"}]}],"
                     " \"stop_sequences\": [\"END\"], \"temperature\": 0.5, \"top_k\": 20, \"stream\": true,"
                     " \"tools\": [{\"name\": \"get_weather\", \"description\": \"d\", \"input_schema\": {\"type\": \"object\"}}],"
                     " \"tool_choice\": {\"type\": \"any\", \"disable_parallel_tool_use\": true},"
                     " \"thinking\": {\"type\": \"enabled\", \"budget_tokens\": 1024}}");
    char err[256];
    json_t *chat = srv_anthropic_to_chat(body, err, sizeof err);
    if (!chat)
        fail_msg("%s", err);
    assert_json(chat,
                "{\"messages\": ["
                " {\"role\": \"system\", \"content\": \"Be brief.\"},"
                " {\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
                " {\"role\": \"assistant\", \"content\": \"Checking.\", \"tool_calls\": [{\"id\": \"toolu_1\", \"type\": "
                "\"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
                " {\"role\": \"tool\", \"tool_call_id\": \"toolu_1\", \"content\": \"18C\"},"
                " {\"role\": \"user\", \"content\": \"Thanks\"}],"
                " \"max_tokens\": 64, \"temperature\": 0.5, \"top_k\": 20, \"stream\": true, \"stop\": [\"END\"],"
                " \"chat_template_kwargs\": {\"enable_thinking\": true},"
                " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"d\","
                " \"parameters\": {\"type\": \"object\"}}}],"
                " \"tool_choice\": \"required\", \"parallel_tool_calls\": false}");
    json_decref(chat);
    json_decref(body);
}

static void test_anthropic_bad_requests(void **state)
{
    (void)state;
    static const struct {
        const char *body, *msg;
    } BAD[] = {
        {"{\"max_tokens\": 5}", "messages"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "max_tokens"},
        {"{\"max_tokens\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "max_tokens"},
        {"{\"max_tokens\": 5, \"messages\": [{\"role\": \"system\", \"content\": \"hi\"}]}", "messages[0].role"},
        {"{\"max_tokens\": 5, \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]}", "image"},
        {"{\"max_tokens\": 5, \"messages\": [{\"role\": \"user\", \"content\": 7}]}", "messages[0].content"},
        {"{\"max_tokens\": 5, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"name\": \"f\"}]}",
         "input_schema"},
        {"{\"max_tokens\": 5, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": {\"type\": \"x\"}}",
         "tool_choice"},
        {"{\"max_tokens\": 5, \"messages\": [{\"role\": \"assistant\", \"content\": [{\"type\": \"tool_use\"}]}]}",
         "tool_use"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        json_t *b = J(BAD[i].body);
        char err[256] = "";
        json_t *chat = srv_anthropic_to_chat(b, err, sizeof err);
        if (chat)
            fail_msg("accepted: %s", BAD[i].body);
        if (!strstr(err, BAD[i].msg))
            fail_msg("error \"%s\" does not name %s", err, BAD[i].msg);
        json_decref(b);
    }
    json_t *e = srv_anthropic_error(401, "no key");
    assert_json(e, "{\"type\": \"error\", \"error\": {\"type\": \"authentication_error\", \"message\": \"no key\"}}");
    json_decref(e);
}

static struct chat_tool_call CALL = {"get_weather", "{\"city\":\"Paris\"}", NULL};

static void test_anthropic_reply(void **state)
{
    (void)state;
    struct chat_tool_message m = {"Checking.", "User asks weather.", &CALL, 1};
    json_t *msg = srv_anthropic_message("msg_abc", "gemma", &m, srv_anthropic_stop_reason("tool_calls", false), NULL, 12, 7);
    assert_json(msg, "{\"id\": \"msg_abc\", \"type\": \"message\", \"role\": \"assistant\", \"model\": \"gemma\","
                     " \"content\": [{\"type\": \"thinking\", \"thinking\": \"User asks weather.\", \"signature\": \"\"},"
                     "  {\"type\": \"text\", \"text\": \"Checking.\"},"
                     "  {\"type\": \"tool_use\", \"id\": \"toolu_abc_0\", \"name\": \"get_weather\", \"input\": {\"city\": \"Paris\"}}],"
                     " \"stop_reason\": \"tool_use\", \"stop_sequence\": null,"
                     " \"usage\": {\"input_tokens\": 12, \"output_tokens\": 7}}");
    json_decref(msg);
    assert_string_equal(srv_anthropic_stop_reason("length", false), "max_tokens");
    assert_string_equal(srv_anthropic_stop_reason("stop", true), "stop_sequence");
    assert_string_equal(srv_anthropic_stop_reason("stop", false), "end_turn");
}

/* The event names of an SSE text, in order, joined by spaces. */
static void event_names(const char *sse, struct sbuf *names)
{
    for (const char *p = sse; (p = strstr(p, "event: ")); ) {
        p += 7;
        const char *nl = strchr(p, '\n');
        if (names->len)
            sbuf_putc(names, ' ');
        sbuf_append(names, p, (size_t)(nl - p));
        p = nl;
    }
}

static void test_anthropic_stream(void **state)
{
    (void)state;
    struct srv_anthropic_stream st;
    struct sbuf out = SBUF_INIT, names = SBUF_INIT;
    srv_anthropic_stream_init(&st);
    assert_int_equal(srv_anthropic_stream_start(&st, &out, "msg_1", "gemma", 9), 0);
    assert_int_equal(srv_anthropic_stream_text(&st, &out, "hmm", true), 0);
    assert_int_equal(srv_anthropic_stream_text(&st, &out, "Hel", false), 0);
    assert_int_equal(srv_anthropic_stream_text(&st, &out, "lo", false), 0);
    assert_int_equal(srv_anthropic_stream_tool(&st, &out, &CALL, "toolu_1"), 0);
    assert_int_equal(srv_anthropic_stream_finish(&st, &out, "tool_use", NULL, 5), 0);
    event_names(sbuf_str(&out), &names);
    assert_string_equal(sbuf_str(&names),
                        "message_start content_block_start content_block_delta content_block_stop "
                        "content_block_start content_block_delta content_block_delta content_block_stop "
                        "content_block_start content_block_delta content_block_stop message_delta message_stop");
    assert_non_null(strstr(sbuf_str(&out), "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}"));
    assert_non_null(strstr(sbuf_str(&out), "\"partial_json\":\"{\\\"city\\\":\\\"Paris\\\"}\""));
    assert_non_null(strstr(sbuf_str(&out), "\"index\":2"));
    sbuf_free(&out);
    sbuf_free(&names);
}

static void test_responses_request(void **state)
{
    (void)state;
    json_t *body = J("{\"model\": \"m\", \"instructions\": \"Be brief.\", \"input\": ["
                     " {\"role\": \"user\", \"content\": [{\"type\": \"input_text\", \"text\": \"Weather?\"}]},"
                     " {\"type\": \"function_call\", \"call_id\": \"c1\", \"name\": \"get_weather\", \"arguments\": \"{}\"},"
                     " {\"type\": \"function_call_output\", \"call_id\": \"c1\", \"output\": \"18C\"},"
                     " {\"role\": \"developer\", \"content\": \"Answer in French.\"}],"
                     " \"max_output_tokens\": 50, \"temperature\": 0,"
                     " \"tools\": [{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}],"
                     " \"tool_choice\": {\"type\": \"function\", \"name\": \"get_weather\"},"
                     " \"text\": {\"format\": {\"type\": \"json_schema\", \"name\": \"w\", \"schema\": {\"type\": \"object\"}}}}");
    char err[256];
    json_t *chat = srv_responses_to_chat(body, err, sizeof err);
    if (!chat)
        fail_msg("%s", err);
    assert_json(chat, "{\"messages\": ["
                      " {\"role\": \"system\", \"content\": \"Be brief.\"},"
                      " {\"role\": \"user\", \"content\": \"Weather?\"},"
                      " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\","
                      "   \"function\": {\"name\": \"get_weather\", \"arguments\": \"{}\"}}]},"
                      " {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"18C\"},"
                      " {\"role\": \"system\", \"content\": \"Answer in French.\"}],"
                      " \"max_tokens\": 50, \"temperature\": 0,"
                      " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}],"
                      " \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}},"
                      " \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"w\", \"schema\": {\"type\": \"object\"}}}}");
    json_decref(chat);
    json_decref(body);
    static const struct {
        const char *body, *msg;
    } BAD[] = {
        {"{\"model\": \"m\"}", "input"},
        {"{\"input\": \"x\", \"previous_response_id\": \"resp_1\"}", "previous_response_id"},
        {"{\"input\": \"x\", \"max_output_tokens\": -1}", "max_output_tokens"},
        {"{\"input\": [{\"type\": \"web_search_call\"}]}", "web_search_call"},
        {"{\"input\": \"x\", \"tools\": [{\"type\": \"web_search\"}]}", "tools[0]"},
        {"{\"input\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_image\"}]}]}", "input_image"},
        {"{\"input\": \"x\", \"text\": {\"format\": {\"type\": \"json_schema\"}}}", "text.format"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        json_t *b = J(BAD[i].body);
        chat = srv_responses_to_chat(b, err, sizeof err);
        if (chat)
            fail_msg("accepted: %s", BAD[i].body);
        if (!strstr(err, BAD[i].msg))
            fail_msg("error \"%s\" does not name %s", err, BAD[i].msg);
        json_decref(b);
    }
}

static void test_responses_reply_and_stream(void **state)
{
    (void)state;
    json_t *req = J("{\"input\": \"x\", \"max_output_tokens\": 50}");
    struct srv_response_info info = {"resp_7", "gemma", 1700000000, req, false, 10, 4, 2};
    struct chat_tool_message m = {"Hi there", "", &CALL, 1};
    json_t *r = srv_responses_object(&info, &m);
    json_t *out = json_object_get(r, "output");
    assert_int_equal(json_array_size(out), 2);
    assert_json(json_array_get(out, 0), "{\"type\": \"message\", \"id\": \"msg_7_0\", \"status\": \"completed\", "
                                        "\"role\": \"assistant\", \"content\": [{\"type\": \"output_text\", \"text\": "
                                        "\"Hi there\", \"annotations\": [], \"logprobs\": []}]}");
    assert_json(json_array_get(out, 1), "{\"type\": \"function_call\", \"id\": \"fc_7_1\", \"call_id\": \"call_7_0\", "
                                        "\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\":\\\"Paris\\\"}\", "
                                        "\"status\": \"completed\"}");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "completed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "usage"), "total_tokens")), 14);
    assert_int_equal(json_integer_value(json_object_get(r, "max_output_tokens")), 50);
    json_decref(r);

    struct srv_responses_stream st;
    struct sbuf sse = SBUF_INIT, names = SBUF_INIT;
    srv_responses_stream_init(&st);
    assert_int_equal(srv_responses_stream_start(&st, &sse, &info), 0);
    assert_int_equal(srv_responses_stream_text(&st, &sse, &info, "Hi ", false), 0);
    assert_int_equal(srv_responses_stream_text(&st, &sse, &info, "there", false), 0);
    assert_int_equal(srv_responses_stream_call(&st, &sse, &info, &CALL, 0), 0);
    assert_int_equal(srv_responses_stream_finish(&st, &sse, &info, &m), 0);
    event_names(sbuf_str(&sse), &names);
    assert_string_equal(sbuf_str(&names),
                        "response.created response.in_progress response.output_item.added response.content_part.added "
                        "response.output_text.delta response.output_text.delta response.output_text.done "
                        "response.content_part.done response.output_item.done response.output_item.added "
                        "response.function_call_arguments.delta response.function_call_arguments.done "
                        "response.output_item.done response.completed");
    /* sequence numbers 0, 1, 2, ... in order */
    int want = 0;
    for (const char *p = sbuf_str(&sse); (p = strstr(p, "\"sequence_number\":")); want++) {
        p += strlen("\"sequence_number\":");
        assert_int_equal(atoi(p), want);
    }
    assert_int_equal(want, 14);
    assert_non_null(strstr(sbuf_str(&sse), "\"text\":\"Hi there\""));
    srv_responses_stream_free(&st);
    sbuf_free(&sse);
    sbuf_free(&names);
    json_decref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_request), cmocka_unit_test(test_anthropic_bad_requests),
        cmocka_unit_test(test_anthropic_reply),   cmocka_unit_test(test_anthropic_stream),
        cmocka_unit_test(test_responses_request), cmocka_unit_test(test_responses_reply_and_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
