/*
 * fuzz_jinja.c - libFuzzer target: arbitrary text as a Jinja chat template,
 * compiled and rendered with a fixed conversation (and tools), under small
 * limits so that runaway templates stop quickly. Also the built-in the text
 * is detected as. Must never crash, leak, hang or read out of bounds: every
 * failure is an error message.
 *
 * Seed it with real templates: ./fuzz_jinja -dict=... CORPUS ../shared/chat-templates
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"
#include "chat/jinja.h"

static json_t *g_vars;
static json_t *g_messages;

static void init(void)
{
    const char *vars =
        "{\"messages\": [{\"role\": \"system\", \"content\": \"You are helpful.\"},"
        " {\"role\": \"user\", \"content\": \"Hello <b>&amp;</b> \\u00e9\\ud83d\\ude00\"},"
        " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call12345\","
        "   \"type\": \"function\", \"function\": {\"name\": \"get\", \"arguments\": {\"city\": \"Paris\"}}}]},"
        " {\"role\": \"tool\", \"tool_call_id\": \"call12345\", \"content\": \"21\"},"
        " {\"role\": \"assistant\", \"content\": \"  It is 21.  </think>x\"},"
        " {\"role\": \"user\", \"content\": \"Thanks\"}],"
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get\", \"description\": \"d\","
        "   \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
        "   \"required\": [\"city\"]}}}],"
        " \"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\","
        " \"eos_token\": \"</s>\", \"n\": 3, \"f\": 1.5, \"d\": {\"a\": [1, {\"b\": null}]}}";
    g_vars = json_loads(vars, 0, NULL);
    g_messages = json_object_get(g_vars, "messages");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_vars == NULL)
        init();
    if (size > 1 << 16)
        return 0;
    char err[256];
    /* exact-size copy: ASan catches reads past the end */
    char *src = malloc(size ? size : 1);
    if (src == NULL)
        return 0;
    memcpy(src, data, size);
    struct jinja_template *t = jinja_compile(src, size, err, sizeof err);
    if (t) {
        struct jinja_limits lim;
        jinja_default_limits(&lim);
        lim.max_steps = 20000;
        lim.max_output = 1 << 16;
        lim.max_alloc = 16 << 20;
        lim.max_depth = 30;
        size_t len;
        char *out = jinja_render(t, g_vars, 1721952000, &lim, &len, err, sizeof err);
        free(out);
        jinja_free(t);
    }
    /* detection and the built-in it picks (the text as a NUL-terminated string) */
    char *cstr = malloc(size + 1);
    if (cstr) {
        memcpy(cstr, data, size);
        cstr[size] = 0;
        const char *name = chat_template_detect(cstr);
        if (name) {
            struct chat_template *ct = chat_template_load(NULL, name, false, "<s>", "</s>", err, sizeof err);
            if (ct) {
                char *out = chat_template_apply(ct, g_messages, true, err, sizeof err);
                free(out);
                chat_template_free(ct);
            }
        }
        free(cstr);
    }
    free(src);
    return 0;
}
