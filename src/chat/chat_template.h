/*
 * chat_template.h - formatting an OpenAI-style messages array into a prompt.
 *
 * A chat template is either one of the built-in formats (chatml, llama2,
 * llama3, mistral-*, gemma, phi3, ...; each produces exactly what the
 * model's own Jinja template produces for ordinary system/user/assistant
 * conversations) or the model's own Jinja template run by a sandboxed
 * interpreter (use_jinja). Loading never touches the model file: pass
 * tokenizer.chat_template and the BOS/EOS token texts.
 *
 * The prompt starts with the BOS text when the template writes it (most
 * do): tokenize it with special tokens parsed and without adding another BOS.
 *
 * Messages: [{"role": "...", "content": "..."}, ...]; content may be a string,
 * null, or an array of parts [{"type": "text", "text": "..."}] (the texts are
 * joined with "\n"; other part types are an error). Other keys of a message
 * (tool_calls, name, ...) are passed to Jinja templates as they are.
 *
 * Thread safety: a loaded template is immutable; several threads may apply
 * it at once.
 */
#ifndef CLLM_CHAT_TEMPLATE_H
#define CLLM_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct chat_template;

/*
 * name: a built-in template by name (an unknown name is an error listing the
 * names). Otherwise, with use_jinja: compile jinja_source (the model's
 * tokenizer.chat_template) as Jinja. Otherwise: detect which built-in
 * jinja_source is (chatml when it is NULL or empty, or not recognised).
 * bos_text/eos_text (may be NULL: "") are the texts of the BOS/EOS tokens.
 * NULL with a message in err on failure.
 */
struct chat_template *chat_template_load(const char *jinja_source, const char *name,
                                         bool use_jinja, const char *bos_text,
                                         const char *eos_text, char *err, size_t err_size);
void chat_template_free(struct chat_template *t);

/* The built-in's name, or "jinja" for the interpreter. */
const char *chat_template_name(const struct chat_template *t);

/* The built-in names (a static NULL-terminated array of *n names). */
const char *const *chat_template_builtin_names(size_t *n);

/* The built-in a Jinja source looks like (by characteristic substrings), or
 * NULL when none matches (chat_template_load then uses chatml). */
const char *chat_template_detect(const char *jinja_source);

/* The formatted prompt (malloc'd, NUL-terminated), or NULL with the reason in
 * err (a bad message, a role the template refuses, raise_exception()'s
 * message, a limit of the Jinja sandbox, ...). */
char *chat_template_apply(const struct chat_template *t, const json_t *messages,
                          bool add_generation_prompt, char *err, size_t err_size);

/* Everything a template may use. */
struct chat_template_inputs {
    const json_t *messages;     /* required: the array above */
    const json_t *tools;        /* OpenAI tools array, or NULL (the template sees none) */
    const json_t *extra;        /* object of extra template variables (chat_template_kwargs), or NULL */
    bool add_generation_prompt;
    int64_t now;                /* Unix time for dates (strftime_now); 0: the clock */
};

char *chat_template_apply_ex(const struct chat_template *t, const struct chat_template_inputs *in,
                             char *err, size_t err_size);

#endif
