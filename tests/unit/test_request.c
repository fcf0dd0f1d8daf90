/*
 * test_request.c - the request table (src/server/request.h) without a
 * server: defaults (those of sampler_default_params), every scalar field's
 * type and range messages, the custom fields' messages, the other
 * spellings of each front door, the grammar compiled once, and the
 * generation_settings echo read back as a request giving the same echo.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/request.h"

static struct vocab *g_vocab;
static struct request_ctx g_ctx;

static int setup(void **state)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", src);
    g_vocab = vocab_load_file(path, err, sizeof err);
    g_ctx = (struct request_ctx){.vocab = g_vocab, .n_slots = 2, .n_ctx_slot = 256, .model_name = "m", .bos = true};
    return g_vocab ? 0 : -1;
}

static int teardown(void **state)
{
    vocab_free(g_vocab);
    return 0;
}

/* Read body (JSON text) at door api: the return code, r filled, err set. */
static int read_json(enum request_api api, const char *text, struct completion_req *r, char *err, size_t n)
{
    json_error_t je;
    json_t *b = json_loads(text, 0, &je);
    assert_non_null(b);
    request_init(r, api);
    err[0] = '\0';
    int rc = request_read(r, &g_ctx, b, err, n);
    json_decref(b);
    return rc;
}

/* The error for body at api (the request must fail). */
static void expect_error(enum request_api api, const char *body, const char *want)
{
    struct completion_req r;
    char err[512];
    int rc = read_json(api, body, &r, err, sizeof err);
    if (rc == 0 || strcmp(err, want) != 0)
        fail_msg("%s: got rc %d '%s', want '%s'", body, rc, err, want);
    request_free(&r);
}

static enum request_api first_api(unsigned apis)
{
    for (unsigned b = 1; b <= REQ_API_OAI_CHAT; b <<= 1)
        if (apis & b)
            return (enum request_api)b;
    return REQ_API_NATIVE;
}

static void test_defaults(void **state)
{
    struct sampler_params d;
    sampler_default_params(&d);
    struct completion_req r;
    request_init(&r, REQ_API_NATIVE);
    assert_true(r.sp.temperature == d.temperature && r.sp.dynatemp_range == d.dynatemp_range &&
                r.sp.dynatemp_exponent == d.dynatemp_exponent && r.sp.top_k == d.top_k && r.sp.top_p == d.top_p &&
                r.sp.min_p == d.min_p && r.sp.tfs_z == d.tfs_z && r.sp.typical_p == d.typical_p &&
                r.sp.repeat_penalty == d.repeat_penalty && r.sp.repeat_last_n == d.repeat_last_n &&
                r.sp.penalize_nl == d.penalize_nl && r.sp.presence_penalty == d.presence_penalty &&
                r.sp.frequency_penalty == d.frequency_penalty && r.sp.mirostat == d.mirostat &&
                r.sp.mirostat_tau == d.mirostat_tau && r.sp.mirostat_eta == d.mirostat_eta &&
                r.sp.ignore_eos == d.ignore_eos && r.sp.n_probs == d.n_probs && r.sp.min_keep == d.min_keep &&
                r.sp.n_samplers == d.n_samplers);
    assert_int_equal(r.n_predict, -1);
    assert_int_equal(r.n_keep, 0);
    assert_int_equal(r.id_slot, -1);
    assert_true(r.seed == -1);
    assert_int_equal(r.n_choices, 1);
    assert_false(r.stream);
    assert_false(r.cache_prompt);
    json_t *g = request_settings_json(&r, &g_ctx);
    assert_int_equal(json_integer_value(json_object_get(g, "seed")), SAMPLER_SEED_RANDOM);
    assert_int_equal(json_integer_value(json_object_get(g, "n_ctx")), 256);
    assert_string_equal(json_string_value(json_object_get(g, "model")), "m");
    assert_string_equal(json_string_value(json_object_get(g, "grammar")), "");
    assert_int_equal(json_array_size(json_object_get(g, "samplers")), (size_t)d.n_samplers);
    assert_int_equal(json_integer_value(json_object_get(g, "n_predict")), -1);
    assert_true(fabs(json_real_value(json_object_get(g, "temperature")) - 0.8) < 1e-6);
    assert_null(json_object_get(g, "prompt"));
    assert_null(json_object_get(g, "max_tokens"));
    assert_true(json_is_array(json_object_get(g, "penalty_prompt_tokens")));
    assert_true(json_is_false(json_object_get(g, "use_penalty_prompt_tokens")));
    json_decref(g);
    request_free(&r);
}

/* Every scalar row: a value of the wrong type, and (for integers with a
 * range) a value just past each end, give the row's message. */
static void test_scalar_messages(void **state)
{
    size_t n;
    const struct request_field *f = request_fields(&n);
    char body[256], want[256];
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].flags & REQ_F_ECHO_ONLY)
            continue;
        enum request_api api = first_api(f[i].apis);
        switch (f[i].type) {
        case REQ_T_FLOAT:
            snprintf(body, sizeof body, "{\"%s\": \"x\"}", f[i].name);
            snprintf(want, sizeof want, "'%s' must be a number", f[i].name);
            expect_error(api, body, want);
            break;
        case REQ_T_INT32:
        case REQ_T_INT64: {
            snprintf(body, sizeof body, "{\"%s\": 1.5}", f[i].name);
            snprintf(want, sizeof want, "'%s' must be an integer", f[i].name);
            expect_error(api, body, want);
            int64_t hi = (f[i].flags & REQ_F_MAX_SLOT) ? g_ctx.n_slots - 1 : f[i].max;
            if (f[i].min > INT32_MIN && f[i].min > (int64_t)-9e15) {
                snprintf(body, sizeof body, "{\"%s\": %lld}", f[i].name, (long long)f[i].min - 1);
                snprintf(want, sizeof want, "'%s' must be between %lld and %lld (got %lld)", f[i].name,
                         (long long)f[i].min, (long long)hi, (long long)f[i].min - 1);
                expect_error(api, body, want);
            }
            if (hi < INT32_MAX) {
                snprintf(body, sizeof body, "{\"%s\": %lld}", f[i].name, (long long)hi + 1);
                snprintf(want, sizeof want, "'%s' must be between %lld and %lld (got %lld)", f[i].name,
                         (long long)f[i].min, (long long)hi, (long long)hi + 1);
                expect_error(api, body, want);
            }
            break;
        }
        case REQ_T_BOOL:
            snprintf(body, sizeof body, "{\"%s\": 1}", f[i].name);
            snprintf(want, sizeof want, "'%s' must be true or false", f[i].name);
            expect_error(api, body, want);
            break;
        case REQ_T_STRING:
            snprintf(body, sizeof body, "{\"%s\": 5}", f[i].name);
            snprintf(want, sizeof want, "'%s' must be a string", f[i].name);
            expect_error(api, body, want);
            break;
        case REQ_T_CUSTOM:
            continue;
        }
        checked++;
    }
    assert_true(checked >= 25);
    expect_error(REQ_API_NATIVE, "{\"seed\": 4294967296}", "'seed' must be between -9223372036854775808 and "
                                                           "4294967295 (got 4294967296)");
}

static void test_custom_messages(void **state)
{
    expect_error(REQ_API_NATIVE, "{}", "'prompt' is required");
    expect_error(REQ_API_OAI_TEXT, "{}", "'prompt' is required");
    expect_error(REQ_API_NATIVE, "{\"prompt\": 5}", "'prompt' must be a string or an array of strings and token ids");
    expect_error(REQ_API_NATIVE, "{\"prompt\": [1, 999999]}", "'prompt'[1]: token id 999999 is out of range [0, 512)");
    expect_error(REQ_API_NATIVE, "{\"prompt\": [1, null]}", "'prompt'[1] must be a string or a token id");
    expect_error(REQ_API_OAI_TEXT, "{\"prompt\": [\"a\", \"b\"]}",
                 "'prompt': several prompts in one request are not supported; send one per request");
    expect_error(REQ_API_NATIVE, "{\"stop\": 5}", "'stop' must be an array of strings");
    expect_error(REQ_API_NATIVE, "{\"stop\": [\"a\", 5]}", "'stop'[1] must be a string");
    expect_error(REQ_API_NATIVE, "{\"logit_bias\": 5}",
                 "'logit_bias' must be an array of [token, bias] pairs or an object");
    expect_error(REQ_API_NATIVE, "{\"logit_bias\": [[1]]}", "'logit_bias'[0] must be a [token, bias] pair");
    expect_error(REQ_API_NATIVE, "{\"logit_bias\": [[1000000000, 1.0]]}",
                 "'logit_bias': token id 1000000000 is out of range");
    expect_error(REQ_API_NATIVE, "{\"logit_bias\": [[1, \"x\"]]}", "'logit_bias': a bias must be a number or false");
    expect_error(REQ_API_NATIVE, "{\"penalty_prompt\": 5}",
                 "'penalty_prompt' must be null, a string or an array of token ids");
    expect_error(REQ_API_NATIVE, "{\"penalty_prompt\": [1, -1]}", "'penalty_prompt'[1] must be a valid token id");
    expect_error(REQ_API_NATIVE, "{\"samplers\": [\"top_k\", \"nope\"]}",
                 "'samplers'[1] is not a sampler (top_k, tfs_z, typical_p, top_p, min_p, temperature, dry, top_n_sigma, xtc)");
    expect_error(REQ_API_NATIVE, "{\"grammar\": 5}", "'grammar' must be a string");
    expect_error(REQ_API_NATIVE, "{\"grammar\": \"root ::= \\\"a\\\"\", \"json_schema\": {}}",
                 "give either 'json_schema' or 'grammar', not both");
    expect_error(REQ_API_NATIVE, "{\"json_schema\": 5}", "'json_schema' must be an object");
    expect_error(REQ_API_OAI_CHAT, "{\"n\": 0}", "'n' must be an integer from 1 to 16");
    expect_error(REQ_API_OAI_TEXT, "{\"n\": 17}", "'n' must be an integer from 1 to 16");
    expect_error(REQ_API_OAI_CHAT, "{\"logprobs\": 3}", "'logprobs' must be true or false");
    expect_error(REQ_API_OAI_CHAT, "{\"logprobs\": true, \"top_logprobs\": 21}",
                 "'top_logprobs' must be an integer from 0 to 20");
    expect_error(REQ_API_OAI_TEXT, "{\"logprobs\": true}", "'logprobs' must be an integer from 0 to 20");
    expect_error(REQ_API_OAI_TEXT, "{\"echo\": true}", "'echo' is not supported");
    expect_error(REQ_API_OAI_CHAT, "{\"response_format\": 5}", "'response_format' must be an object with a 'type'");
    expect_error(REQ_API_OAI_CHAT, "{\"response_format\": {\"type\": \"xml\"}}",
                 "'response_format': unknown type 'xml' (text, json_object or json_schema)");
    expect_error(REQ_API_OAI_CHAT, "{\"response_format\": {\"type\": \"json_schema\"}}",
                 "'response_format': json_schema needs {\"json_schema\": {\"schema\": ...}}");
    expect_error(REQ_API_INFILL, "{\"input_prefix\": 5}", "'input_prefix' must be a string");

    struct completion_req r;
    char err[512];
    assert_int_equal(read_json(REQ_API_NATIVE, "{\"prompt\": [1], \"grammar\": \"root ::= (\"}", &r, err, sizeof err),
                     -1);
    assert_true(strncmp(err, "Failed to parse grammar: ", 25) == 0);
    request_free(&r);
}

/* What a door does not read is ignored; what it spells its own way lands
 * in the same member. */
static void test_aliases(void **state)
{
    struct completion_req r;
    char err[512];
    assert_int_equal(read_json(REQ_API_OAI_TEXT, "{\"prompt\": [1, 2], \"max_tokens\": 7}", &r, err, sizeof err), 0);
    assert_int_equal(r.n_predict, 7);
    assert_int_equal(r.prompt.n, 2);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"max_completion_tokens\": 9}", &r, err, sizeof err), 0);
    assert_int_equal(r.n_predict, 9);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"max_tokens\": 3, \"max_completion_tokens\": 9}", &r, err,
                               sizeof err), 0);
    assert_int_equal(r.n_predict, 3);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_NATIVE, "{\"prompt\": \"a\", \"n_predict\": 5, \"max_tokens\": 7}", &r, err,
                               sizeof err), 0);
    assert_int_equal(r.n_predict, 5);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_NATIVE, "{\"prompt\": \"a\", \"max_tokens\": 7, \"max_completion_tokens\": 8,"
                                               " \"n\": 3, \"logprobs\": 2}", &r, err, sizeof err), 0);
    assert_int_equal(r.n_predict, 7); /* max_completion_tokens, n and logprobs are OpenAI's */
    assert_int_equal(r.n_choices, 1);
    assert_int_equal(r.sp.n_probs, 0);
    request_free(&r);

    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"logprobs\": true, \"top_logprobs\": 3, \"n\": 2,"
                                                 " \"stream_options\": {\"include_usage\": true}}", &r, err,
                               sizeof err), 0);
    assert_true(r.logprobs && r.include_usage);
    assert_int_equal(r.sp.n_probs, 3);
    assert_int_equal(r.n_choices, 2);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"logprobs\": true, \"n_probs\": 7}", &r, err, sizeof err), 0);
    assert_int_equal(r.sp.n_probs, 1);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"logprobs\": false, \"n_probs\": 7}", &r, err, sizeof err), 0);
    assert_false(r.logprobs);
    assert_int_equal(r.sp.n_probs, 7);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_OAI_TEXT, "{\"prompt\": \"a\", \"logprobs\": 0}", &r, err, sizeof err), 0);
    assert_true(r.logprobs);
    assert_int_equal(r.sp.n_probs, 1);
    request_free(&r);

    /* response_format: a schema turned into a grammar, compiled once */
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"response_format\": {\"type\": \"json_object\"}}", &r, err,
                               sizeof err), 0);
    assert_non_null(r.grammar_text);
    assert_non_null(r.sp.grammar);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{\"response_format\": {\"type\": \"text\"}}", &r, err, sizeof err),
                     0);
    assert_null(r.grammar_text);
    assert_null(r.sp.grammar);
    request_free(&r);
    assert_int_equal(read_json(REQ_API_NATIVE, "{\"prompt\": \"a\", \"grammar\": \"\"}", &r, err, sizeof err), 0);
    assert_null(r.sp.grammar);
    request_free(&r);

    /* the chat prompt is a field */
    assert_int_equal(read_json(REQ_API_OAI_CHAT, "{}", &r, err, sizeof err), 0);
    assert_int_equal(request_set_chat_prompt(&r, &g_ctx, strdup("Once upon"), err, sizeof err), 0);
    assert_true(r.prompt.n > 1);
    assert_string_equal(json_string_value(r.prompt_json), "Once upon");
    request_free(&r);
}

/* generation_settings read back as a request gives the same settings. */
static void test_settings_round_trip(void **state)
{
    static const char *body =
        "{\"prompt\": \"Once\", \"n_predict\": 12, \"seed\": 42, \"temperature\": 0.3, \"dynatemp_range\": 0.1,"
        " \"dynatemp_exponent\": 1.5, \"top_k\": 7, \"top_p\": 0.5, \"min_p\": 0.01, \"tfs_z\": 0.9,"
        " \"typical_p\": 0.8, \"repeat_last_n\": 16, \"repeat_penalty\": 1.2, \"presence_penalty\": 0.25,"
        " \"frequency_penalty\": 0.5, \"mirostat\": 2, \"mirostat_tau\": 4.0, \"mirostat_eta\": 0.2,"
        " \"penalize_nl\": false, \"stop\": [\"x\", \"yz\"], \"n_keep\": 3, \"ignore_eos\": true, \"stream\": true,"
        " \"logit_bias\": [[5, -1.5], [6, false]], \"n_probs\": 4, \"min_keep\": 2,"
        " \"grammar\": \"root ::= [a-z]+\", \"samplers\": [\"min_p\", \"temperature\"], \"cache_prompt\": true,"
        " \"id_slot\": 1}";
    struct completion_req r, r2;
    char err[512];
    assert_int_equal(read_json(REQ_API_NATIVE, body, &r, err, sizeof err), 0);
    json_t *g1 = request_settings_json(&r, &g_ctx);
    assert_int_equal(json_integer_value(json_object_get(g1, "seed")), 42);
    assert_int_equal(json_integer_value(json_object_get(g1, "id_slot")), 1);
    assert_int_equal(json_array_size(json_object_get(g1, "logit_bias")), 2);
    assert_true(json_is_false(json_array_get(json_array_get(json_object_get(g1, "logit_bias"), 1), 1)));
    assert_string_equal(json_string_value(json_object_get(g1, "grammar")), "root ::= [a-z]+");
    assert_non_null(r.sp.grammar);
    json_object_set_new(g1, "prompt", json_string("Once"));
    char *text = json_dumps(g1, JSON_COMPACT);
    json_object_del(g1, "prompt");
    assert_int_equal(read_json(REQ_API_NATIVE, text, &r2, err, sizeof err), 0);
    json_t *g2 = request_settings_json(&r2, &g_ctx);
    if (!json_equal(g1, g2)) {
        char *a = json_dumps(g1, JSON_SORT_KEYS), *b = json_dumps(g2, JSON_SORT_KEYS);
        fail_msg("round trip differs:\n%s\n%s", a, b);
    }
    free(text);
    json_decref(g1);
    json_decref(g2);
    request_free(&r);
    request_free(&r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_scalar_messages),
        cmocka_unit_test(test_custom_messages),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_settings_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
