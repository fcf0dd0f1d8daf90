/*
 * tool_call.c - the tool-call formats of chat model families: which one a
 * template teaches, how to split an output into content, reasoning and calls,
 * and the grammar that makes calls well-formed (see tool_call.h).
 *
 * The formats are the ones the models' published templates describe; the
 * parsers are lenient where models are (whitespace, an optional end marker at
 * the very end of the output) and strict about JSON: a call whose JSON does
 * not parse stays in the content as text.
 */
#define _GNU_SOURCE
#include "chat/tool_call.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/sbuf.h"
#include "base/vec.h"
#include "grammar/json_schema.h"

/* ---- names and detection ---- */

static const char *const FORMAT_NAMES[CHAT_TOOL_FORMAT_COUNT] = {
    [CHAT_TOOL_GENERIC] = "generic",
    [CHAT_TOOL_HERMES] = "hermes",
    [CHAT_TOOL_LLAMA3] = "llama3",
    [CHAT_TOOL_MISTRAL] = "mistral",
    [CHAT_TOOL_DEEPSEEK_R1] = "deepseek-r1",
    [CHAT_TOOL_FUNCTIONARY_V3_1] = "functionary-v3.1",
    [CHAT_TOOL_FUNCTIONARY_V3_2] = "functionary-v3.2",
    [CHAT_TOOL_COMMAND_R7B] = "command-r7b",
    [CHAT_TOOL_GRANITE] = "granite",
    [CHAT_TOOL_GPT_OSS] = "gpt-oss",
    [CHAT_TOOL_FIREFUNCTION_V2] = "firefunction-v2",
};

const char *chat_tool_format_name(enum chat_tool_format f)
{
    return (unsigned)f < CHAT_TOOL_FORMAT_COUNT ? FORMAT_NAMES[f] : "unknown";
}

/* DeepSeek's markers: fullwidth bars (U+FF5C) and lower one-eighth blocks (U+2581). */
#define DS_BAR "\xef\xbd\x9c"
#define DS_SP "\xe2\x96\x81"
#define DS_CALLS_BEGIN "<" DS_BAR "tool" DS_SP "calls" DS_SP "begin" DS_BAR ">"
#define DS_CALLS_END "<" DS_BAR "tool" DS_SP "calls" DS_SP "end" DS_BAR ">"
#define DS_CALL_BEGIN "<" DS_BAR "tool" DS_SP "call" DS_SP "begin" DS_BAR ">"
#define DS_CALL_END "<" DS_BAR "tool" DS_SP "call" DS_SP "end" DS_BAR ">"
#define DS_SEP "<" DS_BAR "tool" DS_SP "sep" DS_BAR ">"

enum chat_tool_format chat_tool_format_detect(const char *src)
{
    if (!src)
        return CHAT_TOOL_GENERIC;
    /* Order matters: the most specific markers first (several templates
     * mention more than one family's tags). */
    static const struct {
        const char *marker;
        enum chat_tool_format f;
    } MARKS[] = {
        {"<|channel|>", CHAT_TOOL_GPT_OSS},
        {"<|START_ACTION|>", CHAT_TOOL_COMMAND_R7B},
        {DS_CALLS_BEGIN, CHAT_TOOL_DEEPSEEK_R1},
        {">>>all", CHAT_TOOL_FUNCTIONARY_V3_2},
        {"<function=", CHAT_TOOL_FUNCTIONARY_V3_1},
        {"[TOOL_CALLS]", CHAT_TOOL_MISTRAL},
        {"functools[", CHAT_TOOL_FIREFUNCTION_V2},
        {"<|tool_call|>", CHAT_TOOL_GRANITE},
        {"<tool_call>", CHAT_TOOL_HERMES},
        {"<|python_tag|>", CHAT_TOOL_LLAMA3},
    };
    for (size_t i = 0; i < sizeof MARKS / sizeof MARKS[0]; i++)
        if (strstr(src, MARKS[i].marker))
            return MARKS[i].f;
    /* Llama 3.x templates that teach JSON calls without the python tag. */
    if (strstr(src, "<|start_header_id|>") && strstr(src, "\"parameters\""))
        return CHAT_TOOL_LLAMA3;
    return CHAT_TOOL_GENERIC;
}

/* ---- the parse state ---- */

struct parse {
    struct sbuf content, reasoning;
    struct chat_tool_call *calls;
    size_t n_calls, cap_calls;
    bool partial, oom;
};

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || (size_t)(end - p) < n)
        return NULL;
    return memmem(p, (size_t)(end - p), needle, n);
}

static bool starts(const char *p, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

/* Whether p..end (non-empty) is a proper prefix of word: more may come. */
static bool prefix_of(const char *p, const char *end, const char *word)
{
    size_t n = (size_t)(end - p);
    return n > 0 && n < strlen(word) && memcmp(p, word, n) == 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* The length of the longest tail of p..end that begins one of the markers
 * (in a stream it may be the start of a marker: held back). */
static size_t marker_tail(const char *p, const char *end, const char *const *markers)
{
    size_t best = 0;
    for (; *markers; markers++) {
        size_t m = strlen(*markers), n = (size_t)(end - p);
        for (size_t k = m - 1 < n ? m - 1 : n; k > best; k--)
            if (memcmp(end - k, *markers, k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Text to the content; in a stream, less any tail that may start a marker. */
static void emit(struct parse *P, struct sbuf *to, const char *p, const char *end,
                 const char *const *markers)
{
    if (P->partial && markers)
        end -= marker_tail(p, end, markers);
    if (end > p && sbuf_append(to, p, (size_t)(end - p)) < 0)
        P->oom = true;
}

static char *dup_str(struct parse *P, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        P->oom = true;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A call from its name and arguments (an object, a JSON text in a string,
 * or NULL: {}). Returns false (and adds nothing) when the arguments are
 * neither. */
static bool add_call(struct parse *P, const char *name, size_t name_len, const json_t *args,
                     const char *id)
{
    char *a;
    if (!args)
        a = dup_str(P, "{}", 2);
    else if (json_is_string(args))
        a = dup_str(P, json_string_value(args), json_string_length(args));
    else if (json_is_object(args))
        a = json_dumps(args, JSON_COMPACT);
    else
        return false;
    if (!a || vec_reserve((void **)&P->calls, &P->cap_calls, P->n_calls + 1, sizeof *P->calls) < 0) {
        free(a);
        P->oom = true;
        return true;
    }
    struct chat_tool_call *c = &P->calls[P->n_calls];
    c->name = dup_str(P, name, name_len);
    c->arguments = a;
    c->id = id ? dup_str(P, id, strlen(id)) : NULL;
    if (!c->name) {
        free(c->arguments);
        free(c->id);
        return true;
    }
    P->n_calls++;
    return true;
}

/* A call from a JSON object: name under name_key, arguments under one of
 * args_keys (NULL-terminated), id under id_key (may be NULL). */
static bool add_call_obj(struct parse *P, const json_t *o, const char *name_key,
                         const char *const *args_keys, const char *id_key)
{
    const json_t *name = json_object_get(o, name_key);
    if (!json_is_object(o) || !json_is_string(name) || json_string_length(name) == 0)
        return false;
    const json_t *args = NULL;
    for (; *args_keys && !args; args_keys++)
        args = json_object_get(o, *args_keys);
    const json_t *id = id_key ? json_object_get(o, id_key) : NULL;
    if (args && !json_is_object(args) && !json_is_string(args))
        return false;
    return add_call(P, json_string_value(name), json_string_length(name), args,
                    json_is_string(id) ? json_string_value(id) : NULL);
}

/* Forget the calls after the first keep (a run that turned out not to be calls). */
static void drop_calls(struct parse *P, size_t keep)
{
    while (P->n_calls > keep) {
        struct chat_tool_call *c = &P->calls[--P->n_calls];
        free(c->name);
        free(c->arguments);
        free(c->id);
    }
}

/* The JSON object or array that starts at p (after blanks), or NULL when
 * there is none or it is incomplete; *after: the byte after it. */
static json_t *json_at(const char *p, const char *end, const char **after)
{
    p = skip_ws(p, end);
    if (p >= end || (*p != '{' && *p != '['))
        return NULL;
    json_error_t e;
    json_t *j = json_loadb(p, (size_t)(end - p), JSON_DISABLE_EOF_CHECK, &e);
    if (j)
        *after = p + e.position;
    return j;
}

/* An array of call objects; false (nothing added) if any element is not one. */
static bool add_call_array(struct parse *P, const json_t *arr, const char *name_key,
                           const char *const *args_keys, const char *id_key)
{
    size_t i, before = P->n_calls;
    const json_t *o;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return false;
    json_array_foreach(arr, i, o) {
        if (!add_call_obj(P, o, name_key, args_keys, id_key)) {
            drop_calls(P, before);
            return false;
        }
    }
    return true;
}

static const char *const ARGS_ARGUMENTS[] = {"arguments", "parameters", NULL};
static const char *const ARGS_PARAMETERS[] = {"parameters", "arguments", NULL};

/* ---- reasoning ---- */

/* Moves a leading <think>...</think> (or begin..end) to the reasoning and
 * returns where the rest starts. */
static const char *split_thought(struct parse *P, const char *p, const char *end, bool open,
                                 const char *begin, const char *close)
{
    const char *q = skip_ws(p, end);
    if (!open) {
        if (starts(q, end, begin)) {
            open = true;
            p = q + strlen(begin);
        } else if (P->partial && prefix_of(q, end, begin)) {
            return end; /* maybe a thought starting: wait */
        }
    }
    if (!open)
        return p;
    const char *e = find(p, end, close);
    const char *const closers[] = {close, NULL};
    p = skip_ws(p, e ? e : end);
    if (!e) {
        emit(P, &P->reasoning, p, end, closers);
        return end;
    }
    const char *r_end = e;
    while (r_end > p && isspace((unsigned char)r_end[-1]))
        r_end--;
    emit(P, &P->reasoning, p, r_end, NULL);
    return skip_ws(e + strlen(close), end);
}

/* ---- formats whose calls follow a marker ---- */

/* marker, then a JSON value; the value is an object (one call) or an array
 * of calls; an optional closing marker. Repeats. */
struct marked_format {
    const char *open;
    const char *close; /* NULL: none */
    const char *name_key;
    const char *const *args_keys;
    const char *id_key;
};

static void parse_marked(struct parse *P, const char *p, const char *end,
                         const struct marked_format *m)
{
    const char *const markers[] = {m->open, NULL};
    for (;;) {
        const char *s = find(p, end, m->open);
        if (!s) {
            emit(P, &P->content, p, end, markers);
            return;
        }
        emit(P, &P->content, p, s, NULL);
        const char *after = NULL;
        json_t *j = json_at(s + strlen(m->open), end, &after);
        bool ok = false;
        if (j) {
            ok = json_is_array(j) ? add_call_array(P, j, m->name_key, m->args_keys, m->id_key)
                                  : add_call_obj(P, j, m->name_key, m->args_keys, m->id_key);
            json_decref(j);
        }
        if (ok && m->close) {
            const char *c = skip_ws(after, end);
            if (starts(c, end, m->close))
                after = c + strlen(m->close);
            else if (P->partial && (c >= end || prefix_of(c, end, m->close)))
                after = end; /* the end marker may still come */
            /* else: a complete call without its end marker; the text after it goes on */
        }
        if (!ok) {
            if (!P->partial)
                emit(P, &P->content, s, end, NULL);
            return; /* incomplete (stream) or malformed (final: text) */
        }
        p = after;
    }
}

/* Llama 3.x: the whole output one call {"name", "parameters"} (several may
 * follow each other, separated by ";"), or <|python_tag|> code. */
static bool parse_python_call(struct parse *P, const char *p, const char *end);

static void parse_llama3(struct parse *P, const char *p, const char *end)
{
    const char *tag = find(p, end, "<|python_tag|>");
    const char *q = skip_ws(p, tag ? tag : end);
    if (q < (tag ? tag : end) && *q == '{') {
        size_t before = P->n_calls;
        const char *after = q;
        for (;;) {
            json_t *j = json_at(after, end, &after);
            bool ok = j && add_call_obj(P, j, "name", ARGS_PARAMETERS, NULL);
            json_decref(j);
            if (!ok)
                break;
            after = skip_ws(after, end);
            if (after < end && *after == ';')
                after++;
            if (skip_ws(after, end) >= end)
                return; /* only calls */
        }
        /* not (only) calls: all of it is text (or, in a stream, wait) */
        drop_calls(P, before);
        if (!P->partial)
            emit(P, &P->content, p, end, NULL);
        return;
    }
    const char *const markers[] = {"<|python_tag|>", NULL};
    if (!tag) {
        emit(P, &P->content, p, end, markers);
        return;
    }
    emit(P, &P->content, p, tag, NULL);
    if (P->partial)
        return; /* code runs to the end of the output */
    parse_python_call(P, tag + strlen("<|python_tag|>"), end);
}

/* <|python_tag|> CODE: a built-in's NAME.call(key="value", key=1) or plain
 * Python code (the "python" tool with {"code": ...}). */
static bool parse_python_call(struct parse *P, const char *p, const char *end)
{
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    p = skip_ws(p, end);
    const char *n = p;
    while (n < end && (isalnum((unsigned char)*n) || *n == '_'))
        n++;
    if (n > p && starts(n, end, ".call(") && end[-1] == ')') {
        json_t *args = json_object();
        const char *a = n + strlen(".call("), *stop = end - 1;
        bool ok = args != NULL;
        while (ok && (a = skip_ws(a, stop)) < stop) {
            const char *k = a;
            while (a < stop && (isalnum((unsigned char)*a) || *a == '_'))
                a++;
            const char *k_end = a;
            a = skip_ws(a, stop);
            if (k_end == k || a >= stop || *a != '=') {
                ok = false;
                break;
            }
            json_error_t e;
            a = skip_ws(a + 1, stop);
            json_t *v = json_loadb(a, (size_t)(stop - a), JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &e);
            char key[128];
            size_t kl = (size_t)(k_end - k) < sizeof key - 1 ? (size_t)(k_end - k) : sizeof key - 1;
            memcpy(key, k, kl);
            key[kl] = 0;
            if (!v || json_object_set_new(args, key, v) < 0) {
                ok = false;
                break;
            }
            a = skip_ws(a + e.position, stop);
            if (a < stop && *a == ',')
                a++;
        }
        if (ok)
            add_call(P, p, (size_t)(n - p), args, NULL);
        json_decref(args);
        if (ok)
            return true;
    }
    json_t *code = json_pack("{s:s%}", "code", p, (size_t)(end - p));
    bool ok = code && add_call(P, "python", 6, code, NULL);
    json_decref(code);
    return ok;
}

/* DeepSeek R1: calls-begin, then per call: call-begin TYPE sep NAME
 * "\n```json\n" ARGS "\n```" call-end; then calls-end. */
static void parse_deepseek(struct parse *P, const char *p, const char *end)
{
    const char *const markers[] = {DS_CALLS_BEGIN, NULL};
    const char *s = find(p, end, DS_CALLS_BEGIN);
    if (!s) {
        emit(P, &P->content, p, end, markers);
        return;
    }
    emit(P, &P->content, p, s, NULL);
    const char *q = s + strlen(DS_CALLS_BEGIN);
    size_t before = P->n_calls;
    for (;;) {
        q = skip_ws(q, end);
        if (starts(q, end, DS_CALLS_END) || (q >= end && P->n_calls > before && !P->partial))
            return;
        if (!starts(q, end, DS_CALL_BEGIN))
            break;
        const char *sep = find(q, end, DS_SEP);
        if (!sep)
            break;
        const char *name = sep + strlen(DS_SEP), *nl = find(name, end, "\n");
        if (!nl)
            break;
        const char *body = skip_ws(nl, end);
        if (starts(body, end, "```json"))
            body += 7;
        const char *after = NULL;
        json_t *j = json_at(body, end, &after);
        bool ok = j && add_call(P, name, (size_t)(nl - name), j, NULL);
        json_decref(j);
        if (!ok)
            break;
        q = skip_ws(after, end);
        if (starts(q, end, "```"))
            q += 3;
        q = skip_ws(q, end);
        if (starts(q, end, DS_CALL_END))
            q += strlen(DS_CALL_END);
    }
    drop_calls(P, before);
    if (!P->partial)
        emit(P, &P->content, s, end, NULL);
}

/* Functionary v3.1: <function=NAME>{...}</function>, repeated. */
static void parse_functionary31(struct parse *P, const char *p, const char *end)
{
    const char *const markers[] = {"<function=", "<|python_tag|>", NULL};
    for (;;) {
        const char *s = find(p, end, "<function=");
        if (!s) {
            const char *tag = find(p, end, "<|python_tag|>");
            emit(P, &P->content, p, tag ? tag : end, markers);
            if (tag && !P->partial)
                parse_python_call(P, tag + strlen("<|python_tag|>"), end);
            return;
        }
        emit(P, &P->content, p, s, NULL);
        const char *name = s + strlen("<function="), *gt = find(name, end, ">");
        const char *after = NULL;
        json_t *j = gt ? json_at(gt + 1, end, &after) : NULL;
        bool ok = j && add_call(P, name, (size_t)(gt - name), j, NULL);
        json_decref(j);
        if (!ok) {
            if (!P->partial)
                emit(P, &P->content, s, end, NULL);
            return;
        }
        p = skip_ws(after, end);
        if (starts(p, end, "</function>"))
            p += strlen("</function>");
        else if (P->partial && prefix_of(p, end, "</function>"))
            return;
    }
}

/* Functionary v3.2: segments "NAME\nBODY" separated by ">>>" (the first
 * one's ">>>" is in the prompt); NAME "all" is text, others are calls. */
static void parse_functionary32(struct parse *P, const char *p, const char *end)
{
    const char *const markers[] = {">>>", NULL};
    bool first = true;
    while (p < end) {
        if (!first) {
            if (!starts(p, end, ">>>"))
                break;
            p += 3;
        }
        first = false;
        const char *nl = find(p, end, "\n");
        if (!nl) {
            if (!P->partial)
                emit(P, &P->content, p, end, NULL);
            return;
        }
        const char *next = find(nl, end, ">>>");
        const char *seg_end = next ? next : end;
        if ((size_t)(nl - p) == 3 && memcmp(p, "all", 3) == 0) {
            emit(P, &P->content, nl + 1, seg_end, next ? NULL : markers);
        } else {
            const char *after = NULL;
            json_t *j = json_at(nl + 1, seg_end, &after);
            bool ok = j && add_call(P, p, (size_t)(nl - p), j, NULL);
            json_decref(j);
            if (!ok) {
                if (P->partial && !next)
                    return;
                json_t *code = json_pack("{s:s%}", "code", nl + 1, (size_t)(seg_end - nl - 1));
                ok = (size_t)(nl - p) == 6 && memcmp(p, "python", 6) == 0 && code &&
                     add_call(P, "python", 6, code, NULL);
                json_decref(code);
                if (!ok)
                    emit(P, &P->content, p, seg_end, NULL);
            }
        }
        p = seg_end;
    }
}

/* gpt-oss (harmony): messages "[<|start|>assistant]HEADER<|message|>BODY END"
 * where HEADER holds "<|channel|>CHANNEL" and maybe " to=functions.NAME",
 * END one of <|end|>, <|call|>, <|return|>. */
static void parse_harmony(struct parse *P, const char *p, const char *end, bool reasoning)
{
    static const char *const ENDS[] = {"<|end|>", "<|call|>", "<|return|>", NULL};
    while ((p = skip_ws(p, end)) < end) {
        if (starts(p, end, "<|start|>assistant"))
            p += strlen("<|start|>assistant");
        const char *msg = find(p, end, "<|message|>");
        if (!msg) {
            if (!P->partial)
                emit(P, &P->content, p, end, NULL);
            return;
        }
        const char *ch = find(p, msg, "<|channel|>");
        const char *chan = ch ? ch + strlen("<|channel|>") : msg, *to = find(p, msg, "to=functions.");
        const char *body = msg + strlen("<|message|>"), *body_end = end, *next = end;
        for (const char *const *e = ENDS; *e; e++) {
            const char *x = find(body, end, *e);
            if (x && x < body_end) {
                body_end = x;
                next = x + strlen(*e);
            }
        }
        bool done = body_end < end;
        if (to) {
            const char *name = to + strlen("to=functions."), *n = name;
            while (n < msg && !isspace((unsigned char)*n) && *n != '<')
                n++;
            if (!done && P->partial)
                return;
            const char *after = NULL;
            json_t *j = json_at(body, body_end, &after);
            bool ok = j && add_call(P, name, (size_t)(n - name), j, NULL);
            json_decref(j);
            if (!ok)
                emit(P, &P->content, body, body_end, NULL);
        } else {
            bool analysis = starts(chan, msg, "analysis");
            struct sbuf *to_buf = analysis && reasoning ? &P->reasoning : &P->content;
            emit(P, to_buf, body, body_end, done ? NULL : ENDS);
        }
        p = next;
    }
}

/* The generic format: one JSON object, {"tool_calls": [...]}, {"tool_call":
 * {...}} or {"response": "..."}; anything else is text. */
static void parse_generic(struct parse *P, const char *p, const char *end)
{
    const char *q = skip_ws(p, end);
    if (q >= end || *q != '{') {
        emit(P, &P->content, p, end, NULL);
        return;
    }
    const char *after = NULL;
    json_t *j = json_at(q, end, &after);
    bool ok = false;
    if (j && skip_ws(after, end) >= end) {
        const json_t *calls = json_object_get(j, "tool_calls"), *call = json_object_get(j, "tool_call");
        const json_t *resp = json_object_get(j, "response");
        if (calls)
            ok = add_call_array(P, calls, "name", ARGS_ARGUMENTS, "id");
        else if (call)
            ok = add_call_obj(P, call, "name", ARGS_ARGUMENTS, "id");
        else if (json_is_string(resp)) {
            emit(P, &P->content, json_string_value(resp),
                 json_string_value(resp) + json_string_length(resp), NULL);
            ok = true;
        }
    }
    json_decref(j);
    if (!ok && !P->partial)
        emit(P, &P->content, p, end, NULL);
}

static void parse_calls(struct parse *P, enum chat_tool_format f, const char *p, const char *end,
                        bool reasoning)
{
    static const struct marked_format HERMES = {"<tool_call>", "</tool_call>", "name", ARGS_ARGUMENTS, NULL};
    static const struct marked_format MISTRAL = {"[TOOL_CALLS]", NULL, "name", ARGS_ARGUMENTS, "id"};
    static const struct marked_format FIRE = {"functools", NULL, "name", ARGS_ARGUMENTS, NULL};
    static const struct marked_format GRANITE = {"<|tool_call|>", NULL, "name", ARGS_ARGUMENTS, NULL};
    static const struct marked_format R7B = {"<|START_ACTION|>", "<|END_ACTION|>", "tool_name",
                                             ARGS_PARAMETERS, "tool_call_id"};
    switch (f) {
    case CHAT_TOOL_HERMES: parse_marked(P, p, end, &HERMES); break;
    case CHAT_TOOL_MISTRAL: parse_marked(P, p, end, &MISTRAL); break;
    case CHAT_TOOL_FIREFUNCTION_V2: parse_marked(P, p, end, &FIRE); break;
    case CHAT_TOOL_GRANITE: parse_marked(P, p, end, &GRANITE); break;
    case CHAT_TOOL_COMMAND_R7B: parse_marked(P, p, end, &R7B); break;
    case CHAT_TOOL_LLAMA3: parse_llama3(P, p, end); break;
    case CHAT_TOOL_DEEPSEEK_R1: parse_deepseek(P, p, end); break;
    case CHAT_TOOL_FUNCTIONARY_V3_1: parse_functionary31(P, p, end); break;
    case CHAT_TOOL_FUNCTIONARY_V3_2: parse_functionary32(P, p, end); break;
    case CHAT_TOOL_GPT_OSS: parse_harmony(P, p, end, reasoning); break;
    default: parse_generic(P, p, end); break;
    }
}

/* Command R7B writes its answer between response markers: unwrap them (in a
 * stream, a marker not yet complete is held back). */
static void unwrap_response(struct sbuf *content, bool partial)
{
    static const char OPEN[] = "<|START_RESPONSE|>", CLOSE[] = "<|END_RESPONSE|>";
    const char *s = sbuf_str(content), *o = strstr(s, OPEN);
    if (!o) {
        if (partial && content->len && prefix_of(s, s + content->len, OPEN))
            sbuf_truncate(content, 0);
        return;
    }
    const char *body = o + sizeof OPEN - 1, *c = strstr(body, CLOSE);
    size_t n = c ? (size_t)(c - body) : strlen(body);
    if (!c && partial) {
        const char *const closers[] = {CLOSE, NULL};
        n -= marker_tail(body, body + n, closers);
    }
    memmove(content->s, body, n);
    sbuf_truncate(content, n);
}

static void trim_end(struct sbuf *b)
{
    size_t n = b->len;
    while (n > 0 && isspace((unsigned char)b->s[n - 1]))
        n--;
    if (b->s)
        sbuf_truncate(b, n);
}

int chat_tool_parse(enum chat_tool_format f, const char *text, size_t len, unsigned flags,
                    struct chat_tool_message *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    struct parse P = {.partial = (flags & CHAT_TOOL_PARSE_PARTIAL) != 0};
    const char *p = text, *end = text + len;
    bool reasoning = (flags & CHAT_TOOL_PARSE_REASONING) != 0;
    if (reasoning && f == CHAT_TOOL_COMMAND_R7B)
        p = split_thought(&P, p, end, flags & CHAT_TOOL_PARSE_THINK_OPEN, "<|START_THINKING|>",
                          "<|END_THINKING|>");
    else if (reasoning && f != CHAT_TOOL_GPT_OSS)
        p = split_thought(&P, p, end, flags & CHAT_TOOL_PARSE_THINK_OPEN, "<think>", "</think>");
    if (flags & CHAT_TOOL_PARSE_CALLS)
        parse_calls(&P, f, p, end, reasoning);
    else if (f == CHAT_TOOL_GPT_OSS)
        parse_harmony(&P, p, end, reasoning);
    else
        emit(&P, &P.content, p, end, NULL);
    if (f == CHAT_TOOL_COMMAND_R7B)
        unwrap_response(&P.content, P.partial);
    /* Blanks before a call are not content; in a stream, blanks at the end
     * may precede one (so content and reasoning only ever grow). */
    if (P.n_calls || P.partial)
        trim_end(&P.content);
    if (P.partial)
        trim_end(&P.reasoning);
    out->calls = P.calls;
    out->n_calls = P.n_calls;
    out->content = sbuf_take(&P.content, NULL);
    out->reasoning = sbuf_take(&P.reasoning, NULL);
    if (!out->content && !P.oom)
        out->content = calloc(1, 1);
    if (!out->reasoning && !P.oom)
        out->reasoning = calloc(1, 1);
    if (P.oom || !out->content || !out->reasoning) {
        chat_tool_message_free(out);
        return err_set(err, err_size, "out of memory parsing the model's tool calls");
    }
    return 0;
}

void chat_tool_message_free(struct chat_tool_message *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_calls; i++) {
        free(m->calls[i].name);
        free(m->calls[i].arguments);
        free(m->calls[i].id);
    }
    free(m->calls);
    free(m->content);
    free(m->reasoning);
    memset(m, 0, sizeof *m);
}

/* ---- grammars ---- */

/* Appends grammar g with every rule name prefixed by pre (names are words
 * of [a-zA-Z0-9_-] outside "strings", [classes], {counts} and comments). */
static void append_prefixed(struct sbuf *b, const char *g, const char *pre)
{
    const char *p = g;
    while (*p) {
        char c = *p;
        if (c == '"' || c == '[') {
            char close = c == '"' ? '"' : ']';
            const char *q = p + 1;
            while (*q && *q != close)
                q += (*q == '\\' && q[1]) ? 2 : 1;
            if (*q)
                q++;
            sbuf_append(b, p, (size_t)(q - p));
            p = q;
        } else if (c == '{' || c == '#') {
            const char *q = p;
            while (*q && *q != (c == '{' ? '}' : '\n'))
                q++;
            if (*q)
                q++;
            sbuf_append(b, p, (size_t)(q - p));
            p = q;
        } else if (isalnum((unsigned char)c) || c == '_' || c == '-') {
            const char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_' || *q == '-')
                q++;
            sbuf_puts(b, pre);
            sbuf_append(b, p, (size_t)(q - p));
            p = q;
        } else {
            sbuf_putc(b, c);
            p++;
        }
    }
}

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

/* One call's text in format f, as a GBNF sequence: name is the function's
 * (checked: [a-zA-Z0-9_.-]), args the rule of its arguments. */
static void call_rule(struct sbuf *b, enum chat_tool_format f, const char *name, const char *args)
{
    switch (f) {
    case CHAT_TOOL_LLAMA3:
        sbuf_printf(b, "\"{\" ws \"\\\"name\\\"\" ws \":\" ws \"\\\"%s\\\"\" ws \",\" ws "
                       "\"\\\"parameters\\\"\" ws \":\" ws %s ws \"}\"", name, args);
        break;
    case CHAT_TOOL_COMMAND_R7B:
        sbuf_printf(b, "\"{\" ws \"\\\"tool_call_id\\\"\" ws \":\" ws \"\\\"\" [0-9]{1,3} \"\\\"\" ws \",\" ws "
                       "\"\\\"tool_name\\\"\" ws \":\" ws \"\\\"%s\\\"\" ws \",\" ws "
                       "\"\\\"parameters\\\"\" ws \":\" ws %s ws \"}\"", name, args);
        break;
    case CHAT_TOOL_DEEPSEEK_R1:
        sbuf_printf(b, "\"" DS_CALL_BEGIN "function" DS_SEP "%s\\n```json\\n\" %s \"\\n```" DS_CALL_END "\"",
                    name, args);
        break;
    case CHAT_TOOL_FUNCTIONARY_V3_1:
        sbuf_printf(b, "\"<function=%s>\" %s \"</function>\"", name, args);
        break;
    case CHAT_TOOL_FUNCTIONARY_V3_2:
        sbuf_printf(b, "\"%s\\n\" %s", name, args);
        break;
    case CHAT_TOOL_GPT_OSS:
        sbuf_printf(b, "\"<|channel|>commentary to=functions.%s <|constrain|>json<|message|>\" %s", name, args);
        break;
    default:
        sbuf_printf(b, "\"{\" ws \"\\\"name\\\"\" ws \":\" ws \"\\\"%s\\\"\" ws \",\" ws "
                       "\"\\\"arguments\\\"\" ws \":\" ws %s ws \"}\"", name, args);
        break;
    }
}

/* The root rule around "call" (one call of any tool) for format f: open,
 * call, then with parallel more calls each after sep, then close. */
static void root_rule(struct sbuf *b, enum chat_tool_format f, bool parallel, bool required)
{
    static const struct {
        const char *open, *sep, *close;
    } WRAP[CHAT_TOOL_FORMAT_COUNT] = {
        [CHAT_TOOL_GENERIC] = {"\"{\" ws \"\\\"tool_calls\\\"\" ws \":\" ws \"[\" ws", "ws \",\" ws",
                               "ws \"]\" ws \"}\""},
        [CHAT_TOOL_HERMES] = {"\"<tool_call>\" ws", "ws \"</tool_call>\" ws \"<tool_call>\" ws", "ws \"</tool_call>\""},
        [CHAT_TOOL_MISTRAL] = {"\"[TOOL_CALLS]\" ws \"[\" ws", "ws \",\" ws", "ws \"]\""},
        [CHAT_TOOL_FIREFUNCTION_V2] = {"\" functools[\" ws", "ws \",\" ws", "ws \"]\""},
        [CHAT_TOOL_GRANITE] = {"\"<|tool_call|>\" ws \"[\" ws", "ws \",\" ws", "ws \"]\""},
        [CHAT_TOOL_COMMAND_R7B] = {"\"<|START_ACTION|>\" ws \"[\" ws", "ws \",\" ws", "ws \"]\" ws \"<|END_ACTION|>\""},
        [CHAT_TOOL_DEEPSEEK_R1] = {"\"" DS_CALLS_BEGIN "\"", "\"\\n\"", "\"" DS_CALLS_END "\""},
        [CHAT_TOOL_FUNCTIONARY_V3_1] = {"", "", ""},
        [CHAT_TOOL_FUNCTIONARY_V3_2] = {"", "\">>>\"", ""},
        [CHAT_TOOL_LLAMA3] = {"", "ws \";\" ws", ""},
        [CHAT_TOOL_GPT_OSS] = {"", "\"<|call|><|start|>assistant\"", ""},
    };
    const char *name = f == CHAT_TOOL_GENERIC ? "calls" : "root";
    sbuf_printf(b, "%s ::= %s call", name, WRAP[f].open);
    if (parallel)
        sbuf_printf(b, " (%s call)*", WRAP[f].sep);
    sbuf_printf(b, " %s\n", WRAP[f].close);
    if (f != CHAT_TOOL_GENERIC)
        return;
    if (required)
        sbuf_puts(b, "root ::= calls\n");
    else
        sbuf_puts(b, "root ::= calls | \"{\" ws \"\\\"response\\\"\" ws \":\" ws rstring ws \"}\"\n"
                     "rstring ::= \"\\\"\" ([^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}))* \"\\\"\"\n");
}

/* The words at which a lazy grammar starts in format f. */
static const char *const *format_triggers(enum chat_tool_format f)
{
    static const char *const HERMES[] = {"<tool_call>", NULL}, *const MISTRAL[] = {"[TOOL_CALLS]", NULL},
                             *const FIRE[] = {" functools[", NULL}, *const GRANITE[] = {"<|tool_call|>", NULL},
                             *const R7B[] = {"<|START_ACTION|>", NULL}, *const DS[] = {DS_CALLS_BEGIN, NULL},
                             *const F31[] = {"<function=", NULL},
                             *const OSS[] = {"<|channel|>commentary to=functions.", NULL},
                             *const LLAMA[] = {"{\"name\"", NULL}, *const NONE[] = {NULL};
    switch (f) {
    case CHAT_TOOL_HERMES: return HERMES;
    case CHAT_TOOL_MISTRAL: return MISTRAL;
    case CHAT_TOOL_FIREFUNCTION_V2: return FIRE;
    case CHAT_TOOL_GRANITE: return GRANITE;
    case CHAT_TOOL_COMMAND_R7B: return R7B;
    case CHAT_TOOL_DEEPSEEK_R1: return DS;
    case CHAT_TOOL_FUNCTIONARY_V3_1: return F31;
    case CHAT_TOOL_GPT_OSS: return OSS;
    case CHAT_TOOL_LLAMA3: return LLAMA;
    default: return NONE;
    }
}

int chat_tool_grammar_build(enum chat_tool_format f, const json_t *tools, const char *only,
                            bool required, bool parallel, struct chat_tool_grammar *out, char *err,
                            size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        return err_set(err, err_size, "tools must be a non-empty array");
    struct sbuf g = SBUF_INIT, alts = SBUF_INIT;
    size_t i, n = 0;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        const json_t *fn = json_object_get(tool, "function");
        if (!fn)
            fn = tool;
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name || !name_ok(name)) {
            sbuf_free(&g);
            sbuf_free(&alts);
            return err_set(err, err_size, "tools[%zu]: function name must be 1-64 characters of a-z, A-Z, 0-9, _, - or .", i);
        }
        if (only && strcmp(only, name) != 0)
            continue;
        const json_t *params = json_object_get(fn, "parameters");
        json_t *any = params ? NULL : json_pack("{s:s}", "type", "object");
        char msg[256];
        char *sg = json_schema_to_grammar(params ? params : any, msg, sizeof msg);
        json_decref(any);
        if (!sg) {
            sbuf_free(&g);
            sbuf_free(&alts);
            return err_set(err, err_size, "tools[%zu] (%s): parameters: %s", i, name, msg);
        }
        char pre[32], args[40];
        snprintf(pre, sizeof pre, "t%zu-", i);
        snprintf(args, sizeof args, "t%zu-root", i);
        append_prefixed(&g, sg, pre);
        free(sg);
        if (g.len && g.s[g.len - 1] != '\n')
            sbuf_putc(&g, '\n');
        sbuf_puts(&alts, n++ ? " | " : "call ::= ");
        call_rule(&alts, f, name, args);
    }
    if (n == 0) {
        sbuf_free(&g);
        sbuf_free(&alts);
        return err_set(err, err_size, "tool_choice names function \"%s\", which is not in tools", only ? only : "");
    }
    sbuf_putc(&alts, '\n');
    root_rule(&g, f, parallel, required);
    sbuf_append(&g, alts.s, alts.len);
    sbuf_puts(&g, "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n");
    sbuf_free(&alts);
    const char *const *trig = format_triggers(f);
    size_t cap = 0;
    out->lazy = !required && trig[0] != NULL;
    for (; out->lazy && *trig; trig++) {
        char *t = strdup(*trig);
        if (!t || vec_reserve((void **)&out->triggers, &cap, out->n_triggers + 1, sizeof *out->triggers) < 0) {
            free(t);
            g.oom = true;
            break;
        }
        out->triggers[out->n_triggers++] = t;
    }
    out->gbnf = sbuf_take(&g, NULL);
    if (!out->gbnf) {
        chat_tool_grammar_free(out);
        return err_set(err, err_size, "out of memory building the tool-call grammar");
    }
    return 0;
}

void chat_tool_grammar_free(struct chat_tool_grammar *g)
{
    if (!g)
        return;
    free(g->gbnf);
    for (size_t i = 0; i < g->n_triggers; i++)
        free(g->triggers[i]);
    free(g->triggers);
    memset(g, 0, sizeof *g);
}

void chat_tool_call_id(enum chat_tool_format f, char *buf, size_t size, unsigned long long seed)
{
    static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = seed;
    bool mistral = f == CHAT_TOOL_MISTRAL;
    size_t n = mistral ? 0 : (size_t)snprintf(buf, size, "call_");
    for (int k = 0; k < (mistral ? 9 : 24) && n + 1 < size; k++) {
        x += 0x9E3779B97F4A7C15ull; /* splitmix64 */
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        buf[n++] = ALNUM[z % (sizeof ALNUM - 1)];
    }
    if (n < size)
        buf[n] = 0;
}

/* ---- the generic format's prompt ---- */

/* Append text to the last message when it has role, else a new message. */
static void push_text(json_t *out, const char *role, const char *text)
{
    size_t n = json_array_size(out);
    json_t *last = n ? json_array_get(out, n - 1) : NULL;
    const char *r = json_string_value(json_object_get(last, "role"));
    const char *c = json_string_value(json_object_get(last, "content"));
    if (r && c && strcmp(r, role) == 0) {
        struct sbuf b = SBUF_INIT;
        sbuf_printf(&b, "%s\n%s", c, text);
        json_object_set_new(last, "content", json_string(sbuf_str(&b)));
        sbuf_free(&b);
        return;
    }
    json_array_append_new(out, json_pack("{s:s,s:s}", "role", role, "content", text));
}

static char *generic_instructions(const json_t *tools, bool required)
{
    json_t *list = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *fn = json_object_get(t, "function");
        json_array_append(list, (json_t *)(fn ? fn : t));
    }
    char *tl = json_dumps(list, JSON_INDENT(2));
    json_decref(list);
    struct sbuf b = SBUF_INIT;
    sbuf_printf(&b,
                "You can call these tools:\n%s\n\n%s answer with only a JSON object of the form "
                "{\"tool_calls\": [{\"name\": \"<tool name>\", \"arguments\": {<the tool's arguments>}}]}%s",
                tl ? tl : "[]", required ? "You must call at least one of them:" : "To call tools,",
                required ? "." : ". To answer the user directly, answer with {\"response\": \"<your answer>\"}.");
    free(tl);
    return sbuf_take(&b, NULL);
}

json_t *chat_tool_generic_messages(const json_t *messages, const json_t *tools, bool required, char *err,
                                   size_t err_size)
{
    char *instr = tools ? generic_instructions(tools, required) : NULL;
    json_t *out = json_array();
    bool placed = !tools; /* no tools: the history only */
    if ((tools && !instr) || !out) {
        free(instr);
        json_decref(out);
        err_set(err, err_size, "out of memory");
        return NULL;
    }
    size_t i;
    const json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *calls = json_object_get(m, "tool_calls");
        if (!role)
            role = "";
        if (strcmp(role, "system") == 0 && !placed) {
            json_t *c = json_deep_copy(m);
            const char *text = json_string_value(json_object_get(m, "content"));
            struct sbuf b = SBUF_INIT;
            sbuf_printf(&b, "%s\n\n%s", text ? text : "", instr);
            json_object_set_new(c, "content", json_string(sbuf_str(&b)));
            sbuf_free(&b);
            json_array_append_new(out, c);
            placed = true;
        } else if (strcmp(role, "assistant") == 0 && json_is_array(calls) && json_array_size(calls)) {
            json_t *list = json_array();
            size_t k;
            const json_t *c;
            json_array_foreach(calls, k, c) {
                const json_t *fn = json_object_get(c, "function");
                const char *a = json_string_value(json_object_get(fn, "arguments"));
                json_t *args = a ? json_loads(a, 0, NULL) : NULL;
                json_array_append_new(list, json_pack("{s:O?,s:o}", "name", json_object_get(fn, "name"),
                                                      "arguments", args ? args : json_object()));
            }
            json_t *wrap = json_pack("{s:o}", "tool_calls", list);
            char *text = json_dumps(wrap, JSON_COMPACT);
            json_decref(wrap);
            push_text(out, "assistant", text ? text : "{}");
            free(text);
        } else if (strcmp(role, "tool") == 0) {
            json_t *resp = json_pack("{s:{s:O?,s:O?}}", "tool_response", "tool_call_id",
                                     json_object_get(m, "tool_call_id"), "content", json_object_get(m, "content"));
            char *text = json_dumps(resp, JSON_COMPACT);
            json_decref(resp);
            push_text(out, "user", text ? text : "{}");
            free(text);
        } else {
            if (!placed && strcmp(role, "system") != 0) {
                json_array_append_new(out, json_pack("{s:s,s:s}", "role", "system", "content", instr));
                placed = true;
            }
            if (strcmp(role, "user") == 0 && json_is_string(json_object_get(m, "content")))
                push_text(out, "user", json_string_value(json_object_get(m, "content")));
            else
                json_array_append_new(out, json_deep_copy(m));
        }
    }
    free(instr);
    return out;
}

/* ---- streams ---- */

void chat_tool_stream_init(struct chat_tool_stream *cs, enum chat_tool_format f, unsigned flags)
{
    memset(cs, 0, sizeof *cs);
    cs->format = f;
    cs->flags = flags & ~(unsigned)CHAT_TOOL_PARSE_PARTIAL;
}

void chat_tool_stream_free(struct chat_tool_stream *cs)
{
    sbuf_free(&cs->raw);
    chat_tool_message_free(&cs->msg);
}

int chat_tool_stream_feed(struct chat_tool_stream *cs, const char *text, size_t len, bool final,
                          struct chat_tool_delta *d, char *err, size_t err_size)
{
    memset(d, 0, sizeof *d);
    if (sbuf_append(&cs->raw, text, len) < 0)
        return err_set(err, err_size, "out of memory");
    if (cs->flags == 0) { /* nothing to parse: the text is the content */
        d->content = text;
        d->content_len = len;
        return 0;
    }
    chat_tool_message_free(&cs->msg);
    unsigned flags = cs->flags | (final ? 0u : (unsigned)CHAT_TOOL_PARSE_PARTIAL);
    if (chat_tool_parse(cs->format, cs->raw.s ? cs->raw.s : "", cs->raw.len, flags, &cs->msg, err, err_size) != 0)
        return -1;
    size_t nc = strlen(cs->msg.content), nr = strlen(cs->msg.reasoning);
    /* a stream's content only grows; should a final parse ever disagree
     * (it cannot by construction), the difference is not sent twice */
    if (nc > cs->sent_content) {
        d->content = cs->msg.content + cs->sent_content;
        d->content_len = nc - cs->sent_content;
        cs->sent_content = nc;
    }
    if (nr > cs->sent_reasoning) {
        d->reasoning = cs->msg.reasoning + cs->sent_reasoning;
        d->reasoning_len = nr - cs->sent_reasoning;
        cs->sent_reasoning = nr;
    }
    if (cs->msg.n_calls > cs->sent_calls) {
        d->calls = cs->msg.calls + cs->sent_calls;
        d->n_calls = cs->msg.n_calls - cs->sent_calls;
        d->first_call = cs->sent_calls;
        cs->sent_calls = cs->msg.n_calls;
    }
    return 0;
}

int chat_tool_stream_prefix(struct chat_tool_stream *cs, const char *text, char *err, size_t err_size)
{
    struct chat_tool_delta d;
    if (cs->flags == 0) /* nothing is parsed: the prefix is not part of the answer */
        return 0;
    if (chat_tool_stream_feed(cs, text, strlen(text), false, &d, err, err_size) != 0)
        return -1;
    cs->skip_content = cs->sent_content;
    cs->skip_reasoning = cs->sent_reasoning;
    cs->skip_calls = cs->sent_calls;
    return 0;
}

struct chat_tool_message chat_tool_stream_answer(const struct chat_tool_stream *cs)
{
    if (cs->flags == 0)
        return (struct chat_tool_message){(char *)sbuf_str(&cs->raw), "", NULL, 0};
    const struct chat_tool_message *m = &cs->msg;
    size_t nc = strlen(m->content), nr = strlen(m->reasoning);
    size_t sc = cs->skip_content < nc ? cs->skip_content : nc, sr = cs->skip_reasoning < nr ? cs->skip_reasoning : nr;
    size_t k = cs->skip_calls < m->n_calls ? cs->skip_calls : m->n_calls;
    return (struct chat_tool_message){m->content + sc, m->reasoning + sr, m->calls + k, m->n_calls - k};
}

bool chat_tool_object_arguments(const char *src)
{
    for (const char *p = src; p && (p = strstr(p, "arguments")); p += 9) {
        const char *q = p + 9;
        while (*q == '\'' || *q == '"' || *q == ']')
            q++;
        while (*q == ' ')
            q++;
        if (*q != '|')
            continue;
        q++;
        while (*q == ' ')
            q++;
        if (strncmp(q, "tojson", 6) == 0 || strncmp(q, "items", 5) == 0)
            return true;
    }
    return false;
}
