/*
 * test_chat_template.c - the chat template API: each built-in on a fixed
 * conversation (expected prompts as the models' own templates give them),
 * detection of a template's family, Jinja templates through the same API,
 * content-part arrays, bad messages, role errors, unknown names, and several
 * threads applying one template at once.
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

#include "chat/chat_template.h"

static const char *CONV =
    "[{\"role\": \"system\", \"content\": \"You are a helpful assistant\"},"
    " {\"role\": \"user\", \"content\": \"Hello\"},"
    " {\"role\": \"assistant\", \"content\": \"Hi there\"},"
    " {\"role\": \"user\", \"content\": \"Who are you\"},"
    " {\"role\": \"assistant\", \"content\": \"   I am an assistant   \"},"
    " {\"role\": \"user\", \"content\": \"Another question\"}]";

static char *apply_named(const char *name, const char *messages, bool agp, const char *bos,
                         const char *eos, char *err, size_t n)
{
    struct chat_template *t = chat_template_load(NULL, name, false, bos, eos, err, n);
    assert_non_null(t);
    json_t *m = json_loads(messages, 0, NULL);
    assert_non_null(m);
    char *out = chat_template_apply(t, m, agp, err, n);
    json_decref(m);
    chat_template_free(t);
    return out;
}

static void expect(const char *name, const char *bos, const char *eos, const char *want)
{
    char err[512] = "";
    char *out = apply_named(name, CONV, true, bos, eos, err, sizeof err);
    if (out == NULL)
        fail_msg("%s: %s", name, err);
    if (strcmp(out, want) != 0)
        fail_msg("%s\n want [%s]\n  got [%s]", name, want, out);
    free(out);
}

static void test_builtins(void **state)
{
    expect("chatml", "", "",
           "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
           "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
           "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother "
           "question<|im_end|>\n<|im_start|>assistant\n");
    expect("llama2", "<s>", "</s>",
           "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
           "<s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]");
    expect("llama3", "<|begin_of_text|>", "",
           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful "
           "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>"
           "user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
           "\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother "
           "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    expect("mistral-v1", "", "</s>",
           " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]"
           "    I am an assistant   </s> [INST] Another question [/INST]");
    /* v3: the system message goes into the last user turn, as the real template does */
    expect("mistral-v3", "", "</s>",
           "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] You "
           "are a helpful assistant\n\nAnother question[/INST]");
    expect("mistral-v3-tekken", "", "</s>",
           "[INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]You "
           "are a helpful assistant\n\nAnother question[/INST]");
    expect("mistral-v7", "", "</s>",
           "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>"
           "[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]");
    expect("gemma", "<bos>", "",
           "<bos><start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>"
           "model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>"
           "model\nI am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n"
           "<start_of_turn>model\n");
    expect("phi3", "", "<|endoftext|>",
           "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi "
           "there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n"
           "<|user|>\nAnother question<|end|>\n<|assistant|>\n");
    expect("zephyr", "", "</s>",
           "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n"
           "<|user|>\nWho are you</s>\n<|assistant|>\n   I am an assistant   </s>\n<|user|>\nAnother "
           "question</s>\n<|assistant|>\n");
    expect("vicuna", "", "",
           "You are a helpful assistant\n\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\n"
           "ASSISTANT:    I am an assistant   </s>\nUSER: Another question\nASSISTANT:");
    expect("vicuna-orca", "", "",
           "SYSTEM: You are a helpful assistant\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\n"
           "ASSISTANT:    I am an assistant   </s>\nUSER: Another question\nASSISTANT:");
    expect("deepseek", "", "",
           "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n"
           "### Instruction:\nWho are you\n### Response:\n   I am an assistant   \n<|EOT|>\n"
           "### Instruction:\nAnother question\n### Response:\n");
    expect("deepseek2", "", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
           "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there<\xef\xbd\x9c" "end\xe2\x96\x81"
           "of\xe2\x96\x81sentence\xef\xbd\x9c>User: Who are you\n\nAssistant:    I am an assistant   "
           "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>User: Another question\n\n"
           "Assistant:");
    expect("command-r", "", "",
           "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|>"
           "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>"
           "<|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are "
           "you<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I am an assistant"
           "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Another question"
           "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
    expect("openchat", "", "",
           "GPT4 Correct System: You are a helpful assistant<|end_of_turn|>GPT4 Correct User: Hello"
           "<|end_of_turn|>GPT4 Correct Assistant: Hi there<|end_of_turn|>GPT4 Correct User: Who are "
           "you<|end_of_turn|>GPT4 Correct Assistant:    I am an assistant   <|end_of_turn|>GPT4 "
           "Correct User: Another question<|end_of_turn|>GPT4 Correct Assistant:");
    expect("granite", "", "",
           "<|start_of_role|>system<|end_of_role|>You are a helpful assistant<|end_of_text|>\n"
           "<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n<|start_of_role|>assistant"
           "<|end_of_role|>Hi there<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Who are you"
           "<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>   I am an assistant   "
           "<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Another question<|end_of_text|>\n"
           "<|start_of_role|>assistant<|end_of_role|>");
}

static void test_builtin_names_and_unknown(void **state)
{
    size_t n;
    const char *const *names = chat_template_builtin_names(&n);
    assert_true(n >= 20);
    assert_null(names[n]);
    const char *required[] = {"chatml", "llama2", "llama3", "mistral-v1", "mistral-v3",
                              "mistral-v3-tekken", "mistral-v7", "gemma", "phi3", "zephyr",
                              "vicuna", "vicuna-orca", "deepseek", "deepseek2", "deepseek3",
                              "command-r", "openchat", "granite"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++)
            found |= strcmp(names[j], required[i]) == 0;
        if (!found)
            fail_msg("no built-in %s", required[i]);
        char err[256];
        struct chat_template *t = chat_template_load(NULL, required[i], false, "", "", err, sizeof err);
        assert_non_null(t);
        assert_string_equal(chat_template_name(t), required[i]);
        chat_template_free(t);
    }
    char err[1024];
    assert_null(chat_template_load(NULL, "nope", false, "", "", err, sizeof err));
    assert_non_null(strstr(err, "'nope'"));
    assert_non_null(strstr(err, "chatml"));
    assert_non_null(strstr(err, "zephyr"));
}

static void test_detection(void **state)
{
    assert_string_equal(chat_template_detect(NULL), "chatml");
    assert_string_equal(chat_template_detect(""), "chatml");
    assert_string_equal(chat_template_detect("{{ '<|im_start|>' + m }}"), "chatml");
    assert_string_equal(chat_template_detect("{{ '<start_of_turn>' }}"), "gemma");
    assert_string_equal(chat_template_detect("<|start_header_id|>"), "llama3");
    assert_string_equal(chat_template_detect("<|start_header_id|> Today Date: {{ d }}"), "llama3.1");
    assert_string_equal(chat_template_detect("[INST] <<SYS>>"), "llama2");
    assert_string_equal(chat_template_detect("[SYSTEM_PROMPT] x [INST]"), "mistral-v7");
    assert_string_equal(chat_template_detect("<|user|> <|end|>"), "phi3");
    assert_string_equal(chat_template_detect("GPT4 Correct "), "openchat");
    assert_string_equal(chat_template_detect("<|start_of_role|>"), "granite");
    assert_null(chat_template_detect("{{ messages }}"));
    /* an unrecognised template falls back to chatml */
    char err[256];
    struct chat_template *t = chat_template_load("{{ messages }}", NULL, false, "", "", err, sizeof err);
    assert_non_null(t);
    assert_string_equal(chat_template_name(t), "chatml");
    chat_template_free(t);
    t = chat_template_load("{% for m in messages %}<start_of_turn>{% endfor %}", NULL, false, "", "",
                           err, sizeof err);
    assert_string_equal(chat_template_name(t), "gemma");
    chat_template_free(t);
}

static void test_jinja_and_parts(void **state)
{
    char err[512];
    const char *src = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                      "{% if add_generation_prompt %}>{% endif %}{{ eos_token }}";
    struct chat_template *t = chat_template_load(src, NULL, true, "<B>", "<E>", err, sizeof err);
    assert_non_null(t);
    assert_string_equal(chat_template_name(t), "jinja");
    json_t *m = json_loads("[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"},"
                           "{\"type\": \"text\", \"text\": \"b\"}]},"
                           "{\"role\": \"assistant\", \"content\": null}]",
                           0, NULL);
    char *out = chat_template_apply(t, m, true, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<B>[user:a\nb][assistant:None]><E>");
    free(out);
    json_decref(m);

    /* tools and extra variables */
    json_t *tools = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]", 0, NULL);
    json_t *extra = json_loads("{\"flag\": \"on\"}", 0, NULL);
    json_t *msgs = json_loads("[]", 0, NULL);
    chat_template_free(t);
    src = "{{ tools|map(attribute='function')|map(attribute='name')|join }} {{ flag }} {{ documents }}";
    t = chat_template_load(src, NULL, true, "", "", err, sizeof err);
    struct chat_template_inputs in = {.messages = msgs, .tools = tools, .extra = extra};
    out = chat_template_apply_ex(t, &in, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "f on None");
    free(out);
    json_decref(tools);
    json_decref(extra);
    json_decref(msgs);
    chat_template_free(t);

    /* the template's own errors */
    t = chat_template_load("{{ raise_exception('no way') }}", NULL, true, "", "", err, sizeof err);
    m = json_loads("[]", 0, NULL);
    assert_null(chat_template_apply(t, m, true, err, sizeof err));
    assert_string_equal(err, "no way");
    json_decref(m);
    chat_template_free(t);

    /* a syntax error at load */
    assert_null(chat_template_load("{% if %}", NULL, true, "", "", err, sizeof err));
    assert_non_null(strstr(err, "line 1"));
}

static void test_bad_messages(void **state)
{
    char err[512];
    struct chat_template *t = chat_template_load(NULL, "chatml", false, "", "", err, sizeof err);
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"role\": \"user\"}", "must be an array"},
        {"[1]", "must be an object"},
        {"[{\"content\": \"x\"}]", "role"},
        {"[{\"role\": \"user\", \"content\": 5}]", "string or an array"},
        {"[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]",
         "'image_url'"},
        {"[{\"role\": \"user\", \"content\": [{\"text\": \"x\"}]}]", "type"},
        {"[{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]", "text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *m = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(m);
        char *out = chat_template_apply(t, m, true, err, sizeof err);
        if (out)
            fail_msg("%s rendered %s", cases[i].json, out);
        if (!strstr(err, cases[i].msg))
            fail_msg("%s: error [%s] lacks [%s]", cases[i].json, err, cases[i].msg);
        json_decref(m);
    }
    chat_template_free(t);
}

static void test_role_errors(void **state)
{
    char err[512];
    const char *two_users = "[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]";
    const char *names[] = {"llama2", "gemma", "mistral-v1", "mistral-v3", "command-r"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *out = apply_named(names[i], two_users, true, "", "", err, sizeof err);
        if (out)
            fail_msg("%s accepted two user turns: %s", names[i], out);
        assert_non_null(strstr(err, "alternate"));
    }
    char *out = apply_named("mistral-v7", "[{\"role\": \"tool\", \"content\": \"a\"}]", true, "", "", err,
                            sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "roles are supported"));
}

struct thread_arg {
    const struct chat_template *t;
    json_t *m;
    const char *want;
    int ok;
};

static void *worker(void *p)
{
    struct thread_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 200; i++) {
        char err[256];
        char *out = chat_template_apply(a->t, a->m, true, err, sizeof err);
        if (out == NULL || strcmp(out, a->want) != 0)
            a->ok = 0;
        free(out);
    }
    return NULL;
}

static void test_threads(void **state)
{
    char err[256];
    const char *src = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                      "{{ m.role }}{{ loop.index }}{% endfor %}|{{ ns.n }}";
    struct chat_template *t = chat_template_load(src, NULL, true, "", "", err, sizeof err);
    assert_non_null(t);
    json_t *m = json_loads(CONV, 0, NULL);
    struct thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.t = t, .m = m,
                                      .want = "system1user2assistant3user4assistant5user6|6"};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 1);
    }
    json_decref(m);
    chat_template_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_builtin_names_and_unknown),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_jinja_and_parts),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_role_errors),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
