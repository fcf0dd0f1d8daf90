/*
 * chat_builtin.c - the built-in chat templates, written in C. Each one
 * produces byte for byte what the model family's own Jinja template (named
 * above each function) produces for conversations of system, user and
 * assistant messages with string contents, including the BOS/EOS texts the
 * template writes, its trimming and its errors for roles out of order.
 * tests/python/test_chat_templates.py renders the real templates with
 * Python's jinja2 and compares.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat_internal.h"
#include "chat/jinja_internal.h"
#include "base/unicode.h"
#include "base/err.h"

/* ---- buffer ----------------------------------------------------------------- */

static void put(struct sbuf *b, const char *s, size_t n)
{
    sbuf_append(b, s, n); /* an error stays in b->oom */
}

static void puts_(struct sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putc_(struct sbuf *b, const struct chat_msg *m)
{
    put(b, m->content, m->content_len);
}

/* m's content with Python's str.strip() (jinja's |trim) applied */
static void put_stripped(struct sbuf *b, const struct chat_msg *m)
{
    const char *s = m->content;
    size_t len = m->content_len, start = 0, end = len;
    while (start < len) {
        size_t k;
        uint32_t cp = utf8_decode(s + start, len - start, &k);
        if (!jinja_py_isspace(cp))
            break;
        start += k;
    }
    while (end > start) {
        size_t b0 = end - 1;
        while (b0 > start && ((uint8_t)s[b0] & 0xC0) == 0x80)
            b0--;
        size_t k;
        if (!jinja_py_isspace(utf8_decode(s + b0, end - b0, &k)))
            break;
        end = b0;
    }
    put(b, s + start, end - start);
}

static bool role_is(const struct chat_msg *m, const char *r)
{
    return strcmp(m->role, r) == 0;
}

static bool fail(const struct builtin_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(c->err, c->err_size, fmt, ap);
    va_end(ap);
    return false;
}

static const char ALTERNATE[] = "Conversation roles must alternate user/assistant/user/assistant/...";
static const char ALTERNATE_AFTER[] =
    "After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...";
static const char ONLY_USER_ASSISTANT[] =
    "Only user and assistant roles are supported, with the exception of an initial "
    "optional system message!";

/* The first message when it is a system message. */
static const struct chat_msg *leading_system(const struct chat_msg *m, size_t n)
{
    return n > 0 && role_is(&m[0], "system") ? &m[0] : NULL;
}

/* ---- the templates ------------------------------------------------------------- */

/* teknium/OpenHermes-2.5-Mistral-7B and every ChatML model */
static bool t_chatml(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        puts_(b, "<|im_start|>");
        puts_(b, m[i].role);
        puts_(b, "\n");
        putc_(b, &m[i]);
        puts_(b, "<|im_end|>\n");
    }
    if (c->add_generation_prompt)
        puts_(b, "<|im_start|>assistant\n");
    return true;
}

/* Qwen/Qwen2.5-7B-Instruct without tools: ChatML with a default system message */
static bool t_qwen25(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    if (!leading_system(m, n))
        puts_(b, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                 "assistant.<|im_end|>\n");
    return t_chatml(b, m, n, c);
}

/* meta-llama/Llama-2-7b-chat-hf */
static bool t_llama2(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    const struct chat_msg *sys = leading_system(m, n);
    size_t start = sys ? 1 : 0;
    for (size_t i = start; i < n; i++) {
        size_t k = i - start;
        if (role_is(&m[i], "user") != (k % 2 == 0))
            return fail(c, ALTERNATE);
        struct chat_msg content = m[i];
        char *joined = NULL;
        if (k == 0 && sys) {
            size_t len = 8 + sys->content_len + 12 + m[i].content_len;
            joined = malloc(len + 1);
            if (joined == NULL)
                return fail(c, "out of memory");
            int w = snprintf(joined, len + 1, "<<SYS>>\n%.*s\n<</SYS>>\n\n", (int)sys->content_len,
                             sys->content);
            memcpy(joined + w, m[i].content, m[i].content_len);
            content.content = joined;
            content.content_len = (size_t)w + m[i].content_len;
        }
        if (role_is(&m[i], "user")) {
            puts_(b, c->bos);
            puts_(b, "[INST] ");
            put_stripped(b, &content);
            puts_(b, " [/INST]");
        } else if (role_is(&m[i], "assistant")) {
            puts_(b, " ");
            put_stripped(b, &content);
            puts_(b, " ");
            puts_(b, c->eos);
        }
        free(joined);
    }
    return true;
}

/* meta-llama/Meta-Llama-3-8B-Instruct */
static bool t_llama3(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            puts_(b, c->bos);
        puts_(b, "<|start_header_id|>");
        puts_(b, m[i].role);
        puts_(b, "<|end_header_id|>\n\n");
        put_stripped(b, &m[i]);
        puts_(b, "<|eot_id|>");
    }
    if (c->add_generation_prompt)
        puts_(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return true;
}

/* meta-llama/Llama-3.1-8B-Instruct, Llama-3.3-70B-Instruct (date fixed at 26 Jul 2024)
 * and Llama-3.2-3B-Instruct (today's date) without tools */
static bool llama31(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c,
                    const char *date)
{
    const struct chat_msg *sys = leading_system(m, n);
    puts_(b, c->bos);
    puts_(b, "<|start_header_id|>system<|end_header_id|>\n\n");
    puts_(b, "Cutting Knowledge Date: December 2023\nToday Date: ");
    puts_(b, date);
    puts_(b, "\n\n");
    if (sys)
        put_stripped(b, sys);
    puts_(b, "<|eot_id|>");
    for (size_t i = sys ? 1 : 0; i < n; i++) {
        if (role_is(&m[i], "tool") || role_is(&m[i], "ipython"))
            return fail(c, "the built-in template does not format tool messages (use --jinja)");
        puts_(b, "<|start_header_id|>");
        puts_(b, m[i].role);
        puts_(b, "<|end_header_id|>\n\n");
        put_stripped(b, &m[i]);
        puts_(b, "<|eot_id|>");
    }
    if (c->add_generation_prompt)
        puts_(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return true;
}

static bool t_llama31(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return llama31(b, m, n, c, "26 Jul 2024");
}

static bool t_llama32(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    /* strftime_now("%d %b %Y") as the template does */
    char date[64];
    struct tm tm;
    time_t t;
    if (c->now) {
        t = (time_t)c->now;
        gmtime_r(&t, &tm);
    } else {
        t = time(NULL);
        localtime_r(&t, &tm);
    }
    if (strftime(date, sizeof(date), "%d %b %Y", &tm) == 0)
        date[0] = 0;
    return llama31(b, m, n, c, date);
}

/* mistralai/Mistral-7B-Instruct-v0.2's "v1" template with a system message */
static bool t_mistral_v1(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    const struct chat_msg *sys = leading_system(m, n);
    size_t start = sys ? 1 : 0;
    puts_(b, c->bos);
    for (size_t i = start; i < n; i++) {
        size_t k = i - start;
        if (role_is(&m[i], "user") != (k % 2 == 0))
            return fail(c, ALTERNATE_AFTER);
        if (role_is(&m[i], "user")) {
            puts_(b, " [INST] ");
            if (k == 0 && sys) {
                putc_(b, sys);
                puts_(b, "\n\n");
            }
            putc_(b, &m[i]);
            puts_(b, " [/INST]");
        } else if (role_is(&m[i], "assistant")) {
            puts_(b, " ");
            putc_(b, &m[i]);
            puts_(b, c->eos);
        } else {
            return fail(c, ONLY_USER_ASSISTANT);
        }
    }
    return true;
}

/* mistralai/Mistral-Large-Instruct-2407 ("v3") and Mistral-Nemo-Instruct-2407
 * ("v3-tekken") without tools: the system message goes into the last user turn */
static bool mistral_v3(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c,
                       bool tekken)
{
    const struct chat_msg *sys = leading_system(m, n);
    size_t start = sys ? 1 : 0;
    for (size_t i = start; i < n; i++) {
        if (role_is(&m[i], "tool") || role_is(&m[i], "tool_results"))
            return fail(c, "the built-in template does not format tool messages (use --jinja)");
        if (role_is(&m[i], "user") != ((i - start) % 2 == 0))
            return fail(c, ALTERNATE_AFTER);
    }
    puts_(b, c->bos);
    for (size_t i = start; i < n; i++) {
        if (role_is(&m[i], "user")) {
            puts_(b, tekken ? "[INST]" : "[INST] ");
            if (i + 1 == n && sys) {
                putc_(b, sys);
                puts_(b, "\n\n");
            }
            putc_(b, &m[i]);
            puts_(b, "[/INST]");
        } else if (role_is(&m[i], "assistant")) {
            if (tekken) {
                putc_(b, &m[i]);
            } else {
                puts_(b, " ");
                put_stripped(b, &m[i]);
            }
            puts_(b, c->eos);
        } else {
            return fail(c, ONLY_USER_ASSISTANT);
        }
    }
    return true;
}

static bool t_mistral_v3(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return mistral_v3(b, m, n, c, false);
}

static bool t_mistral_v3_tekken(struct sbuf *b, const struct chat_msg *m, size_t n,
                                const struct builtin_ctx *c)
{
    return mistral_v3(b, m, n, c, true);
}

/* mistralai/Mistral-Large-Instruct-2411 ("v7"; the spaced form) and the
 * tekken form of Mistral-Small (no spaces) */
static bool mistral_v7(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c,
                       bool tekken)
{
    const char *sp = tekken ? "" : " ";
    puts_(b, c->bos);
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "user")) {
            puts_(b, "[INST]");
            puts_(b, sp);
            putc_(b, &m[i]);
            puts_(b, "[/INST]");
        } else if (role_is(&m[i], "system")) {
            puts_(b, "[SYSTEM_PROMPT]");
            puts_(b, sp);
            putc_(b, &m[i]);
            puts_(b, "[/SYSTEM_PROMPT]");
        } else if (role_is(&m[i], "assistant")) {
            puts_(b, sp);
            putc_(b, &m[i]);
            puts_(b, c->eos);
        } else {
            return fail(c, "Only user, system and assistant roles are supported!");
        }
    }
    return true;
}

static bool t_mistral_v7(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return mistral_v7(b, m, n, c, false);
}

static bool t_mistral_v7_tekken(struct sbuf *b, const struct chat_msg *m, size_t n,
                                const struct builtin_ctx *c)
{
    return mistral_v7(b, m, n, c, true);
}

/* google/gemma-3-*-it (and gemma-2/gemma-7b-it, which refuse system messages) */
static bool t_gemma(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    const struct chat_msg *sys = leading_system(m, n);
    size_t start = sys ? 1 : 0;
    puts_(b, c->bos);
    for (size_t i = start; i < n; i++) {
        size_t k = i - start;
        if (role_is(&m[i], "user") != (k % 2 == 0))
            return fail(c, ALTERNATE);
        puts_(b, "<start_of_turn>");
        puts_(b, role_is(&m[i], "assistant") ? "model" : m[i].role);
        puts_(b, "\n");
        if (k == 0 && sys) {
            putc_(b, sys);
            puts_(b, "\n\n");
        }
        put_stripped(b, &m[i]);
        puts_(b, "<end_of_turn>\n");
    }
    if (c->add_generation_prompt)
        puts_(b, "<start_of_turn>model\n");
    return true;
}

/* microsoft/Phi-3.5-mini-instruct */
static bool t_phi3(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        const char *tag = NULL;
        if (role_is(&m[i], "system") && m[i].content_len)
            tag = "<|system|>\n";
        else if (role_is(&m[i], "user"))
            tag = "<|user|>\n";
        else if (role_is(&m[i], "assistant"))
            tag = "<|assistant|>\n";
        if (!tag)
            continue;
        puts_(b, tag);
        putc_(b, &m[i]);
        puts_(b, "<|end|>\n");
    }
    puts_(b, c->add_generation_prompt ? "<|assistant|>\n" : c->eos);
    return true;
}

/* HuggingFaceH4/zephyr-7b-beta */
static bool t_zephyr(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        const char *tag = role_is(&m[i], "user") ? "<|user|>\n"
                          : role_is(&m[i], "system") ? "<|system|>\n"
                          : role_is(&m[i], "assistant") ? "<|assistant|>\n" : NULL;
        if (tag) {
            puts_(b, tag);
            putc_(b, &m[i]);
            puts_(b, c->eos);
            puts_(b, "\n");
        }
        if (i + 1 == n && c->add_generation_prompt)
            puts_(b, "<|assistant|>\n");
    }
    return true;
}

/* Vicuna 1.1 (no template of its own: llama.cpp's definition) and Orca-Vicuna */
static bool vicuna(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c,
                   bool orca)
{
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            if (orca)
                puts_(b, "SYSTEM: ");
            putc_(b, &m[i]);
            puts_(b, orca ? "\n" : "\n\n");
        } else if (role_is(&m[i], "user")) {
            puts_(b, "USER: ");
            putc_(b, &m[i]);
            puts_(b, "\n");
        } else {
            puts_(b, "ASSISTANT: ");
            putc_(b, &m[i]);
            puts_(b, "</s>\n");
        }
    }
    if (c->add_generation_prompt)
        puts_(b, "ASSISTANT:");
    return true;
}

static bool t_vicuna(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return vicuna(b, m, n, c, false);
}

static bool t_vicuna_orca(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return vicuna(b, m, n, c, true);
}

/* deepseek-ai/deepseek-coder-33b-instruct */
static bool t_deepseek(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= role_is(&m[i], "system");
    puts_(b, c->bos);
    if (!found)
        puts_(b, "You are an AI programming assistant, utilizing the Deepseek Coder model, "
                 "developed by Deepseek Company, and you only answer questions related to "
                 "computer science. For politically sensitive questions, security and privacy "
                 "issues, and other non-computer science questions, you will refuse to answer\n");
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            putc_(b, &m[i]);
        } else if (role_is(&m[i], "user")) {
            puts_(b, "### Instruction:\n");
            putc_(b, &m[i]);
            puts_(b, "\n");
        } else {
            puts_(b, "### Response:\n");
            putc_(b, &m[i]);
            puts_(b, "\n<|EOT|>\n");
        }
    }
    if (c->add_generation_prompt)
        puts_(b, "### Response:\n");
    return true;
}

/* deepseek-ai/DeepSeek-V2-Chat */
static bool t_deepseek2(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    puts_(b, c->bos);
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "user")) {
            puts_(b, "User: ");
            putc_(b, &m[i]);
            puts_(b, "\n\n");
        } else if (role_is(&m[i], "assistant")) {
            puts_(b, "Assistant: ");
            putc_(b, &m[i]);
            puts_(b, c->eos);
        } else if (role_is(&m[i], "system")) {
            putc_(b, &m[i]);
            puts_(b, "\n\n");
        }
    }
    if (c->add_generation_prompt)
        puts_(b, "Assistant:");
    return true;
}

/* deepseek-ai/DeepSeek-V3 (r1: the DeepSeek-R1-Distill models: the last
 * system message, answers cut after "</think>", generation opens <think>) */
static bool deepseek3(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c,
                      bool r1)
{
    puts_(b, c->bos);
    if (r1) {
        const struct chat_msg *last = NULL;
        for (size_t i = 0; i < n; i++)
            if (role_is(&m[i], "system"))
                last = &m[i];
        if (last)
            putc_(b, last);
    } else {
        bool first = true;
        for (size_t i = 0; i < n; i++)
            if (role_is(&m[i], "system")) {
                if (!first)
                    puts_(b, "\n\n");
                putc_(b, &m[i]);
                first = false;
            }
    }
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "tool"))
            return fail(c, "the built-in template does not format tool messages (use --jinja)");
        if (role_is(&m[i], "user")) {
            puts_(b, "<\xEF\xBD\x9CUser\xEF\xBD\x9C>");
            putc_(b, &m[i]);
        } else if (role_is(&m[i], "assistant")) {
            struct chat_msg msg = m[i];
            if (r1) {
                /* content.split('</think>')[-1] */
                const char *s = msg.content, *hit = NULL;
                size_t len = msg.content_len;
                for (size_t k = 0; k + 8 <= len; k++)
                    if (memcmp(s + k, "</think>", 8) == 0)
                        hit = s + k;
                if (hit) {
                    msg.content_len = len - (size_t)(hit + 8 - s);
                    msg.content = hit + 8;
                }
            }
            puts_(b, "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>");
            putc_(b, &msg);
            puts_(b, "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
        }
    }
    if (c->add_generation_prompt)
        puts_(b, r1 ? "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C><think>\n" : "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>");
    return true;
}

static bool t_deepseek3(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return deepseek3(b, m, n, c, false);
}

static bool t_deepseek_r1(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    return deepseek3(b, m, n, c, true);
}

/* CohereForAI/c4ai-command-r-plus (the default, non-tool template) */
static bool t_command_r(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    const struct chat_msg *sys = leading_system(m, n);
    size_t start = sys ? 1 : 0;
    puts_(b, c->bos);
    if (sys) {
        puts_(b, "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>");
        putc_(b, sys);
        puts_(b, "<|END_OF_TURN_TOKEN|>");
    }
    for (size_t i = start; i < n; i++) {
        if (role_is(&m[i], "user") != ((i - start) % 2 == 0))
            return fail(c, ALTERNATE);
        if (role_is(&m[i], "user"))
            puts_(b, "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>");
        else if (role_is(&m[i], "assistant"))
            puts_(b, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        else
            continue;
        put_stripped(b, &m[i]);
        puts_(b, "<|END_OF_TURN_TOKEN|>");
    }
    if (c->add_generation_prompt)
        puts_(b, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
    return true;
}

/* openchat/openchat-3.5-0106: role.title() */
static bool t_openchat(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    puts_(b, c->bos);
    for (size_t i = 0; i < n; i++) {
        puts_(b, "GPT4 Correct ");
        /* str.title() of an ASCII role; other bytes are kept */
        bool prev = false;
        for (const char *r = m[i].role; *r; r++) {
            char ch = *r;
            bool lower = ch >= 'a' && ch <= 'z', upper = ch >= 'A' && ch <= 'Z';
            if (prev && upper)
                ch = (char)(ch + 32);
            else if (!prev && lower)
                ch = (char)(ch - 32);
            prev = lower || upper;
            put(b, &ch, 1);
        }
        puts_(b, ": ");
        putc_(b, &m[i]);
        puts_(b, "<|end_of_turn|>");
    }
    if (c->add_generation_prompt)
        puts_(b, "GPT4 Correct Assistant:");
    return true;
}

/* ibm-granite/granite-3.0-8b-instruct without tools */
static bool t_granite(struct sbuf *b, const struct chat_msg *m, size_t n, const struct builtin_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        const char *head = NULL;
        if (role_is(&m[i], "system"))
            head = "<|start_of_role|>system<|end_of_role|>";
        else if (role_is(&m[i], "user"))
            head = "<|start_of_role|>user<|end_of_role|>";
        else if (role_is(&m[i], "assistant"))
            head = "<|start_of_role|>assistant<|end_of_role|>";
        else if (role_is(&m[i], "assistant_tool_call"))
            head = "<|start_of_role|>assistant<|end_of_role|><|tool_call|>";
        else if (role_is(&m[i], "tool_response"))
            head = "<|start_of_role|>tool_response<|end_of_role|>";
        if (head) {
            puts_(b, head);
            putc_(b, &m[i]);
            puts_(b, "<|end_of_text|>\n");
        }
        if (i + 1 == n && c->add_generation_prompt)
            puts_(b, "<|start_of_role|>assistant<|end_of_role|>");
    }
    return true;
}

static const struct builtin_template builtins[] = {
    {"chatml", t_chatml},
    {"command-r", t_command_r},
    {"deepseek", t_deepseek},
    {"deepseek-r1", t_deepseek_r1},
    {"deepseek2", t_deepseek2},
    {"deepseek3", t_deepseek3},
    {"gemma", t_gemma},
    {"granite", t_granite},
    {"llama2", t_llama2},
    {"llama3", t_llama3},
    {"llama3.1", t_llama31},
    {"llama3.2", t_llama32},
    {"mistral-v1", t_mistral_v1},
    {"mistral-v3", t_mistral_v3},
    {"mistral-v3-tekken", t_mistral_v3_tekken},
    {"mistral-v7", t_mistral_v7},
    {"mistral-v7-tekken", t_mistral_v7_tekken},
    {"openchat", t_openchat},
    {"phi3", t_phi3},
    {"qwen2.5", t_qwen25},
    {"vicuna", t_vicuna},
    {"vicuna-orca", t_vicuna_orca},
    {"zephyr", t_zephyr},
};

#define NBUILTIN (sizeof(builtins) / sizeof(builtins[0]))

static const char *const names[NBUILTIN + 1] = {
    "chatml", "command-r", "deepseek", "deepseek-r1", "deepseek2", "deepseek3", "gemma",
    "granite", "llama2", "llama3", "llama3.1", "llama3.2", "mistral-v1", "mistral-v3",
    "mistral-v3-tekken", "mistral-v7", "mistral-v7-tekken", "openchat", "phi3", "qwen2.5",
    "vicuna", "vicuna-orca", "zephyr", NULL,
};

const struct builtin_template *chat_builtin_find(const char *name)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

const char *const *chat_builtin_names(size_t *n)
{
    if (n)
        *n = NBUILTIN;
    return names;
}
