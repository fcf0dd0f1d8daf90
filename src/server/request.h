/*
 * request.h - one typed generation request (struct completion_req), filled
 * directly from a request body by every front door (native /completion and
 * /infill, OpenAI /v1/completions and /v1/chat/completions) through ONE
 * table of fields: {name, JSON type, offset, default, range, flags, custom
 * reader/echo}. The same table gives the defaults, the type/range checks
 * and their messages (each names its field), the `generation_settings`
 * echo and /props' default_generation_settings. Where a front door spells a
 * field differently (OpenAI max_tokens -> n_predict, logprobs/top_logprobs
 * -> n_probs, response_format -> the grammar, n -> choices) a row for that
 * door writes the same struct member; the body is never rewritten.
 *
 * A grammar (GBNF text, or a JSON schema turned into GBNF) is compiled once
 * per request (request_read) and shared read-only by every choice's sampler.
 *
 * Ownership: a completion_req owns everything it points to; request_free
 * releases it. Not thread-safe (one owner: the HTTP thread that read it).
 * Nothing here needs a running server: a struct request_ctx says what the
 * reader needs to know about the model and the server.
 */
#ifndef CLLM_SERVER_REQUEST_H
#define CLLM_SERVER_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/tool_call.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

/* The front doors (bit flags: a table row lists the doors that read it). */
enum request_api {
    REQ_API_NATIVE = 1,   /* POST /completion */
    REQ_API_INFILL = 2,   /* POST /infill */
    REQ_API_OAI_TEXT = 4, /* POST /v1/completions */
    REQ_API_OAI_CHAT = 8, /* POST /v1/chat/completions */
};
#define REQ_API_ALL (REQ_API_NATIVE | REQ_API_INFILL | REQ_API_OAI_TEXT | REQ_API_OAI_CHAT)
#define REQ_API_OAI (REQ_API_OAI_TEXT | REQ_API_OAI_CHAT)

/* What reading a request needs to know about the server (no server needed). */
struct request_ctx {
    const struct vocab *vocab;
    int32_t n_slots;        /* id_slot must be below */
    int32_t n_ctx_slot;     /* generation_settings' n_ctx */
    const char *model_name; /* generation_settings' model */
    bool bos;               /* a text prompt starts with BOS (false while a system prompt is set) */
    bool spm_infill;        /* /infill: suffix before prefix */
    const json_t *defaults; /* the server's request defaults (--temp, --seed...: a body read
                               before the request's own); NULL: the table's */
};

#define REQUEST_MAX_CHOICES 16

/* tool_choice: auto (the model may call), none, required (it must), or one
 * named function (it must call that one). */
enum request_tool_choice { REQ_TOOLS_AUTO, REQ_TOOLS_NONE, REQ_TOOLS_REQUIRED, REQ_TOOLS_NAMED };

/* The shape of a chat answer: OpenAI chat, Anthropic Messages, OpenAI Responses. */
enum request_reply { REQ_REPLY_OPENAI, REQ_REPLY_ANTHROPIC, REQ_REPLY_RESPONSES };

struct completion_req {
    enum request_api api;
    struct sampler_params sp; /* sampling (n_probs included); its arrays point into the members below */
    int32_t n_predict, n_keep, id_slot;
    int32_t t_max_predict_ms; /* > 0: once a newline has come out, stop after generating this long */
    int64_t seed;             /* as asked: -1 random */
    uint32_t seed_used;       /* what generation_settings shows (the sampler's, once made) */
    bool stream, cache_prompt;
    char **stop;
    size_t n_stop, stop_cap;
    struct sampler_bias *bias;
    size_t n_bias, bias_cap;
    int32_t *penalty_prompt;
    size_t n_penalty_prompt;
    char *grammar_text;       /* GBNF (given, or from json_schema / response_format); NULL: none */
    struct tok_list prompt;   /* the tokens to evaluate */
    json_t *prompt_json;      /* the prompt as given (echoed back); NULL when none */
    char *chat_prompt;        /* chat: the template's output (what prompt_json then shows) */
    char *input_prefix, *input_suffix; /* infill */
    /* the reply's shape */
    int32_t n_choices;        /* OpenAI n (1 elsewhere) */
    bool include_usage;       /* stream_options.include_usage */
    bool logprobs;            /* OpenAI logprobs wanted (n_probs >= 1 then) */
    int32_t top_logprobs;     /* chat: top_logprobs as given */
    json_t *response_fields;  /* native: the answer's members to keep ("a/b" paths); NULL: all */
    bool truncate;            /* n_keep given (request or --keep): a prompt longer than the slot is
                                 truncated as the seed's n_keep says; else llama-server's 400 */
    /* llama-server's reply options */
    bool return_progress;     /* streams: prompt_progress events while the prompt is evaluated */
    bool return_tokens;       /* native: the generated token ids in `tokens` */
    bool timings_per_token;   /* streams: `timings` in every event */
    bool verbose;             /* OpenAI doors: the native answer under `__verbose` (also with -v) */
    /* chat tools (Anthropic and Responses requests arrive as chat bodies) */
    json_t *tools;            /* the tools array as given; NULL: none */
    enum request_tool_choice tool_choice;
    char *tool_name;          /* REQ_TOOLS_NAMED: the function */
    bool parallel_tool_calls;
    char **grammar_triggers;  /* a lazy grammar's trigger words (tool_choice auto) */
    size_t n_grammar_triggers;
    char *grammar_prefix;     /* output already written (an assistant prefill): the lazy grammar reads it */
    enum chat_tool_format tool_format; /* how the answer is split into content, reasoning and calls */
    unsigned parse_flags;     /* CHAT_TOOL_PARSE_* (0: the text is the content) */
    enum request_reply reply; /* the answer's shape */
    json_t *reply_body;       /* Responses: the request as given (the response object echoes it) */
};

/* JSON types of the table's rows. */
enum request_type { REQ_T_FLOAT, REQ_T_INT32, REQ_T_INT64, REQ_T_BOOL, REQ_T_STRING, REQ_T_CUSTOM };

/* Row flags. */
enum {
    REQ_F_NO_ECHO = 1,   /* not shown in generation_settings (aliases, inputs) */
    REQ_F_ECHO_ONLY = 2, /* shown, never read (a derived value) */
    REQ_F_MAX_SLOT = 4,  /* the upper bound is n_slots - 1 */
    REQ_F_ALIAS = 8,     /* another name of an int32 member: read only while it holds the default */
};

struct request_field {
    const char *name;       /* the JSON member */
    enum request_type type;
    size_t offset;          /* into struct completion_req */
    double def;             /* default (scalars) */
    int64_t min, max;       /* integers' range */
    unsigned apis;          /* the doors that read it (REQ_API_*) */
    unsigned flags;         /* REQ_F_* */
    const char *echo_name;  /* the name in generation_settings (NULL: name) */
    /* REQ_T_CUSTOM: read a present, non-null value v; 0, or -1 with a
     * message naming the field. */
    int (*read)(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                char *err, size_t err_size);
    /* The echo (NULL: a scalar's value; a custom row without one is not echoed). */
    json_t *(*echo)(const struct completion_req *r);
};

/* The table (request_fields[0 .. *n)). */
const struct request_field *request_fields(size_t *n);

/* Defaults for door api (every scalar row's default, the default sampler
 * chain, no stop words/grammar/prompt, n_choices 1). */
void request_init(struct completion_req *r, enum request_api api);
/* Read body (a JSON object) into r (request_init first): every row for r->api,
 * then the required prompt (native, OpenAI text), then the grammar compiled.
 * The chat door sets r->chat_prompt with request_set_chat_prompt afterwards.
 * Returns 0, or -1 with a message in err (the caller answers 400). */
int request_read(struct completion_req *r, const struct request_ctx *c, const json_t *body, char *err,
                 size_t err_size);
/* Chat tools: the grammar that constrains the calls (gbnf, triggers: lazy
 * when n_triggers > 0; prefix: a prefill the lazy grammar reads, or NULL)
 * replaces none (a request's own grammar, json_schema or response_format is
 * an error beside tools). Compiled here. */
int request_set_tool_grammar(struct completion_req *r, const char *gbnf, char *const *triggers, size_t n_triggers,
                             const char *prefix, char *err, size_t err_size);
/* Chat: the template's output becomes the prompt (text taken over). */
int request_set_chat_prompt(struct completion_req *r, const struct request_ctx *c, char *text, char *err,
                            size_t err_size);
/* Infill: the prompt becomes prefix/suffix/middle (+ the prompt field after
 * the middle token). -1 with a message when the model has no FIM tokens. */
int request_build_infill(struct completion_req *r, const struct request_ctx *c, char *err, size_t err_size);
void request_free(struct completion_req *r);
/* Read c->defaults into r (request_init first; request_read does this
 * itself): what /props and generation_settings show as the defaults.
 * Returns 0, or -1 with a message naming the field. */
int request_apply_defaults(struct completion_req *r, const struct request_ctx *c, char *err, size_t err_size);

/* Read a prompt field (string, token ids, or a mix) into out. */
int request_parse_prompt(const struct request_ctx *c, const json_t *prompt, struct tok_list *out, char *err,
                         size_t err_size);

/* The generation_settings object for r (n_ctx and model from c). */
json_t *request_settings_json(const struct completion_req *r, const struct request_ctx *c);

#endif
