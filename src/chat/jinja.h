/*
 * jinja.h - a sandboxed interpreter for the subset of Jinja2 that chat
 * templates use (see chat_template.h for the user-facing API).
 *
 * The template is lexed with the options Hugging Face's apply_chat_template
 * uses (trim_blocks, lstrip_blocks, loop controls, no autoescape) and parsed
 * into a tree once; rendering walks the tree with a fresh context, so one
 * compiled template may be rendered from several threads at once.
 *
 * Values follow Python's semantics as jinja2 sees them (str, int, float,
 * bool, None, list, tuple, dict, Undefined, Markup for |safe) so that the
 * output matches Python's jinja2 byte for byte. Sandboxed: the only data a
 * template reaches is what the caller gives; no attribute names with a
 * leading "__"; rendering stops with an error at a step limit, an output
 * size limit, an allocation volume limit and a macro recursion limit.
 */
#ifndef CLLM_CHAT_JINJA_H
#define CLLM_CHAT_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct jinja_template;

struct jinja_limits {
    uint64_t max_steps;      /* evaluation steps (nodes, loop iterations, filter items) */
    size_t max_output;       /* bytes of output (also of any captured block) */
    size_t max_alloc;        /* total bytes allocated for values during one render */
    int max_depth;           /* nested macro calls */
};

/* Defaults: 1e6 steps, 32 MiB output, 1 GiB allocation volume, depth 100. */
void jinja_default_limits(struct jinja_limits *l);

/* Compile a template (len bytes, need not be NUL-terminated). NULL with a
 * message "line N: ..." in err on a syntax error. */
struct jinja_template *jinja_compile(const char *src, size_t len, char *err, size_t err_size);
void jinja_free(struct jinja_template *t);

/*
 * Render with the variables of vars (a JSON object; each key becomes a
 * template variable). now is the time strftime_now() formats (0: the real
 * clock, local time; otherwise that Unix time, in UTC). limits may be NULL
 * for the defaults. Returns the malloc'd NUL-terminated output (its length
 * in *out_len if not NULL) or NULL with the error in err.
 */
char *jinja_render(const struct jinja_template *t, const json_t *vars, int64_t now,
                   const struct jinja_limits *limits, size_t *out_len,
                   char *err, size_t err_size);

/* Steps the last successful render on this thread took (for tests). */
uint64_t jinja_last_steps(void);

#endif
