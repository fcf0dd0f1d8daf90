/*
 * cllm_chat_template.c - the cllm-chat-template tool: format a messages
 * array with a chat template and print the prompt.
 *
 *   cllm-chat-template (-m MODEL | --template-file F | --name NAME) [--jinja]
 *                      [--bos TEXT] [--eos TEXT] [--no-gen-prompt] [--now UNIX_TIME]
 *                      < messages.json
 *
 * stdin holds either the messages array or an object {"messages": [...],
 * "tools": [...], "add_generation_prompt": bool, "kwargs": {...},
 * "bos_token": "...", "eos_token": "..."}. The prompt is written to stdout
 * as is (no newline added). --detect prints the built-in a template looks
 * like; --list prints the built-in names.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/file.h"
#include "chat/chat_template.h"
#include "gguf/gguf.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cllm-chat-template (-m MODEL | --template-file F | --name NAME) [--jinja]\n"
            "                          [--bos TEXT] [--eos TEXT] [--no-gen-prompt] [--now UNIX_TIME]\n"
            "                          < messages.json\n"
            "       cllm-chat-template --detect (-m MODEL | --template-file F)\n"
            "       cllm-chat-template --list\n"
            "  -m MODEL            use the model's tokenizer.chat_template and BOS/EOS texts\n"
            "  --template-file F   a Jinja chat template from a file\n"
            "  --name NAME         a built-in template (see --list)\n"
            "  --jinja             run the Jinja template itself (else: the built-in it looks like)\n"
            "  --bos/--eos TEXT    the BOS/EOS token texts\n"
            "  --no-gen-prompt     no assistant header at the end\n"
            "  --now UNIX_TIME     the time strftime_now() formats (UTC)\n"
            "stdin: a messages array or {\"messages\", \"tools\", \"add_generation_prompt\",\n"
            "       \"kwargs\", \"bos_token\", \"eos_token\"}\n");
}

static char *token_text(struct gguf_ctx *g, const char *id_key)
{
    uint32_t id;
    if (gguf_get_u32(g, id_key, &id) != GGUF_OK)
        return strdup("");
    int64_t kv = gguf_find_key(g, "tokenizer.ggml.tokens");
    const char *s;
    size_t len;
    if (kv < 0 || gguf_arr_get_str(g, kv, id, &s, &len) != GGUF_OK)
        return strdup("");
    return strndup(s, len);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *name = NULL, *bos = NULL, *eos = NULL;
    bool jinja = false, gen_prompt = true, detect = false, list = false;
    long long now = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if (!strcmp(a, "-m") && v)
            model = argv[++i];
        else if (!strcmp(a, "--template-file") && v)
            file = argv[++i];
        else if (!strcmp(a, "--name") && v)
            name = argv[++i];
        else if (!strcmp(a, "--bos") && v)
            bos = argv[++i];
        else if (!strcmp(a, "--eos") && v)
            eos = argv[++i];
        else if (!strcmp(a, "--now") && v)
            now = atoll(argv[++i]);
        else if (!strcmp(a, "--jinja"))
            jinja = true;
        else if (!strcmp(a, "--no-gen-prompt"))
            gen_prompt = false;
        else if (!strcmp(a, "--detect"))
            detect = true;
        else if (!strcmp(a, "--list"))
            list = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "unknown argument: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (list) {
        size_t n;
        const char *const *names = chat_template_builtin_names(&n);
        for (size_t i = 0; i < n; i++)
            printf("%s\n", names[i]);
        return 0;
    }
    if (!model && !file && !name) {
        usage(stderr);
        return 2;
    }

    char *source = NULL, *model_bos = NULL, *model_eos = NULL;
    if (model) {
        char err[512];
        struct gguf_ctx *g = gguf_open(model, 0, err, sizeof(err));
        if (g == NULL) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        const char *s;
        size_t len;
        if (gguf_get_str(g, "tokenizer.chat_template", &s, &len) == GGUF_OK)
            source = strndup(s, len);
        model_bos = token_text(g, "tokenizer.ggml.bos_token_id");
        model_eos = token_text(g, "tokenizer.ggml.eos_token_id");
        gguf_close(g);
    } else if (file) {
        char err[512];
        source = file_read(file, 0, NULL, err, sizeof err);
        if (source == NULL) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    }
    if (detect) {
        const char *d = chat_template_detect(source);
        printf("%s\n", d ? d : "(none)");
        free(source);
        free(model_bos);
        free(model_eos);
        return 0;
    }

    size_t in_len;
    char *input = file_read("/dev/stdin", 0, &in_len, NULL, 0);
    json_error_t jerr;
    json_t *in = input ? json_loadb(input, in_len, 0, &jerr) : NULL;
    free(input);
    if (in == NULL) {
        fprintf(stderr, "bad JSON on stdin: %s\n", input ? jerr.text : "out of memory");
        free(source);
        free(model_bos);
        free(model_eos);
        return 2;
    }
    json_t *messages = in, *tools = NULL, *extra = NULL;
    if (json_is_object(in)) {
        messages = json_object_get(in, "messages");
        tools = json_object_get(in, "tools");
        if (json_is_null(tools))
            tools = NULL;
        extra = json_object_get(in, "kwargs");
        json_t *agp = json_object_get(in, "add_generation_prompt");
        if (json_is_boolean(agp))
            gen_prompt = json_is_true(agp);
        if (!bos && json_is_string(json_object_get(in, "bos_token")))
            bos = json_string_value(json_object_get(in, "bos_token"));
        if (!eos && json_is_string(json_object_get(in, "eos_token")))
            eos = json_string_value(json_object_get(in, "eos_token"));
    }
    if (!bos)
        bos = model_bos ? model_bos : "";
    if (!eos)
        eos = model_eos ? model_eos : "";

    char err[1024];
    int rc = 0;
    struct chat_template *t = chat_template_load(source, name, jinja, bos, eos, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
    } else {
        struct chat_template_inputs ci = {.messages = messages, .tools = tools, .extra = extra,
                                          .add_generation_prompt = gen_prompt, .now = now};
        char *out = chat_template_apply_ex(t, &ci, err, sizeof(err));
        if (out == NULL) {
            fprintf(stderr, "error: %s\n", err);
            rc = 1;
        } else {
            fwrite(out, 1, strlen(out), stdout);
            free(out);
        }
        chat_template_free(t);
    }
    json_decref(in);
    free(source);
    free(model_bos);
    free(model_eos);
    return rc;
}
