/*
 * tool_call.h - tool calls and thoughts in a chat model's output.
 *
 * Each model family's template teaches the model its own way of writing a
 * function call (Hermes' <tool_call>{...}</tool_call>, Mistral's
 * [TOOL_CALLS][...], Llama 3's bare JSON, gpt-oss's harmony channels, ...).
 * This module names those formats, tells which one a Jinja template teaches
 * (by the markers in its source), splits a model's output text into content,
 * reasoning and calls, and builds the GBNF grammar that makes a model write
 * well-formed calls whose arguments match the tools' JSON schemas.
 *
 * Nothing here knows about HTTP; tools and calls are jansson values or plain
 * strings. All functions are pure: safe from any thread.
 */
#ifndef CLLM_CHAT_TOOL_CALL_H
#define CLLM_CHAT_TOOL_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/sbuf.h"

enum chat_tool_format {
    CHAT_TOOL_GENERIC,          /* whole output one JSON object: {"tool_calls": [...]} or {"response": "..."} */
    CHAT_TOOL_HERMES,           /* <tool_call>{"name", "arguments"}</tool_call> (Hermes, Qwen 2.5, Qwen 3) */
    CHAT_TOOL_LLAMA3,           /* {"name", "parameters"}, or <|python_tag|> for built-ins */
    CHAT_TOOL_MISTRAL,          /* [TOOL_CALLS][{"name", "arguments", "id"}] */
    CHAT_TOOL_DEEPSEEK_R1,      /* <｜tool▁calls▁begin｜>... with ```json fenced arguments */
    CHAT_TOOL_FUNCTIONARY_V3_1, /* <function=NAME>{...}</function> */
    CHAT_TOOL_FUNCTIONARY_V3_2, /* NAME\n{...} segments after >>> */
    CHAT_TOOL_COMMAND_R7B,      /* <|START_ACTION|>[{"tool_name", "parameters"}]<|END_ACTION|> */
    CHAT_TOOL_GRANITE,          /* <|tool_call|>[{"name", "arguments"}] */
    CHAT_TOOL_GPT_OSS,          /* harmony: <|channel|>commentary to=functions.NAME ...<|message|>{...}<|call|> */
    CHAT_TOOL_FIREFUNCTION_V2,  /*  functools[{"name", "arguments"}] */
    CHAT_TOOL_FORMAT_COUNT
};

/* The format a chat template teaches, from the markers in its Jinja source
 * (NULL or a template without tool markers: CHAT_TOOL_GENERIC). */
enum chat_tool_format chat_tool_format_detect(const char *template_source);
/* A short name ("hermes", "mistral", ...), for logs and /props. */
const char *chat_tool_format_name(enum chat_tool_format f);

struct chat_tool_call {
    char *name;
    char *arguments; /* a JSON text (an object, compact) */
    char *id;        /* the id the model wrote, or NULL */
};

/* A parsed assistant message. Every string is malloc'd and NUL-terminated
 * (content and reasoning are "" when empty, never NULL). */
struct chat_tool_message {
    char *content;
    char *reasoning;
    struct chat_tool_call *calls;
    size_t n_calls;
};

enum {
    CHAT_TOOL_PARSE_CALLS = 1,      /* look for tool calls (else everything is content) */
    CHAT_TOOL_PARSE_REASONING = 2,  /* move <think>...</think> (or the format's own) to reasoning */
    CHAT_TOOL_PARSE_THINK_OPEN = 4, /* the prompt ended inside a thought (its generation prompt opened it) */
    CHAT_TOOL_PARSE_PARTIAL = 8     /* text is a prefix of a stream: hold back a call or marker not yet complete */
};

/* Split the model's output text[0..len) by format f and flags. A call that
 * does not parse (bad JSON, a missing end marker at the end of a finished
 * output) stays in the content as text: never an error. With
 * CHAT_TOOL_PARSE_PARTIAL, content and reasoning only grow as text grows and
 * calls appear when complete. Returns 0, or -1 on out of memory (err). */
int chat_tool_parse(enum chat_tool_format f, const char *text, size_t len, unsigned flags,
                    struct chat_tool_message *out, char *err, size_t err_size);
void chat_tool_message_free(struct chat_tool_message *m);

/* The grammar that makes a model write calls in format f. tools: the
 * request's OpenAI tools array ([{"type": "function", "function": {"name",
 * "parameters"}}]); only: NULL, or the one function's name the request
 * forces; parallel: several calls allowed. */
struct chat_tool_grammar {
    char *gbnf;       /* malloc'd grammar text, root rule "root" */
    char **triggers;  /* words that switch a lazy grammar on (malloc'd each) */
    size_t n_triggers;
    bool lazy;        /* free text until a trigger, then the grammar (tool_choice auto) */
};

/* required: the model must call a tool (tool_choice "required" or a named
 * function): the grammar applies from the first token. Otherwise the grammar
 * is lazy and starts at a trigger. -1 with err: a tool without a name, a
 * schema the JSON-schema compiler refuses, or out of memory. */
int chat_tool_grammar_build(enum chat_tool_format f, const json_t *tools, const char *only,
                            bool required, bool parallel, struct chat_tool_grammar *out, char *err,
                            size_t err_size);
void chat_tool_grammar_free(struct chat_tool_grammar *g);

/* The messages for a template that knows no tools, in the generic format:
 * the tools and the JSON answer format described in the system message,
 * earlier calls written as the JSON the model would have written, tool
 * results as user turns (merged with a following user turn, so roles still
 * alternate). tools NULL: the history only (no instructions). New
 * reference, or NULL with err. */
json_t *chat_tool_generic_messages(const json_t *messages, const json_t *tools, bool required, char *err,
                                   size_t err_size);

/* A stream's parse: text arrives in pieces, and each feed says what is new
 * (content and reasoning text, calls completed). One per choice; not
 * thread-safe. With flags 0 the text is passed through as content. */
struct chat_tool_stream {
    enum chat_tool_format format;
    unsigned flags;                /* CHAT_TOOL_PARSE_* (PARTIAL is implied until the final feed) */
    struct sbuf raw;               /* all the text so far */
    struct chat_tool_message msg;  /* the last parse (after the final feed: the answer) */
    size_t sent_content, sent_reasoning, sent_calls;
    size_t skip_content, skip_reasoning, skip_calls; /* what the prefix made (not the answer's) */
};
/* What a feed adds; pointers into the stream, valid until the next feed. */
struct chat_tool_delta {
    const char *content, *reasoning;
    size_t content_len, reasoning_len;
    const struct chat_tool_call *calls;
    size_t n_calls, first_call; /* calls first_call .. first_call + n_calls - 1 */
};
void chat_tool_stream_init(struct chat_tool_stream *cs, enum chat_tool_format f, unsigned flags);
void chat_tool_stream_free(struct chat_tool_stream *cs);
/* Text written before the answer (an assistant prefill): parsed with the
 * answer, but what it makes is not the answer's. Call before any feed. */
int chat_tool_stream_prefix(struct chat_tool_stream *cs, const char *text, char *err, size_t err_size);
/* The answer: the last parse less what the prefix made (pointers into cs). */
struct chat_tool_message chat_tool_stream_answer(const struct chat_tool_stream *cs);
/* Add text (final: the output is complete); -1 with err when out of memory. */
int chat_tool_stream_feed(struct chat_tool_stream *cs, const char *text, size_t len, bool final,
                          struct chat_tool_delta *d, char *err, size_t err_size);

/* Whether a Jinja template writes a call's arguments as an object (it
 * applies tojson or items to them): then the history's arguments, JSON
 * strings in OpenAI's messages, are given to it parsed. */
bool chat_tool_object_arguments(const char *template_source);

/* A new call id into buf (>= 32 bytes): "call_" and 24 letters and digits,
 * or for Mistral, whose templates insist on it, 9 letters and digits. */
void chat_tool_call_id(enum chat_tool_format f, char *buf, size_t size, unsigned long long seed);

#endif
