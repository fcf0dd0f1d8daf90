/*
 * request.c - the table of a generation request's fields and what it drives:
 * defaults, reading a body (with messages that name the field), the
 * generation_settings echo; the prompt, stop words, logit_bias,
 * penalty_prompt, samplers and grammar readers (see request.h).
 */
#include "server/request.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/vec.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "server/server_internal.h"

#define OFF(m) offsetof(struct completion_req, m)

/* ------------------------------------------------------------ scalars */

static void *at(struct completion_req *r, const struct request_field *f)
{
    return (char *)r + f->offset;
}

static const void *at_c(const struct completion_req *r, const struct request_field *f)
{
    return (const char *)r + f->offset;
}

static int read_int(const struct request_field *f, const struct request_ctx *c, const json_t *v, int64_t *out,
                    char *err, size_t n)
{
    int64_t x;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) && fabs(json_real_value(v)) < 9e15)
        x = (int64_t)json_real_value(v);
    else
        return err_set(err, n, "'%s' must be an integer", f->name);
    int64_t hi = (f->flags & REQ_F_MAX_SLOT) ? (int64_t)c->n_slots - 1 : f->max;
    if (x < f->min || x > hi)
        return err_set(err, n, "'%s' must be between %lld and %lld (got %lld)", f->name, (long long)f->min,
                       (long long)hi, (long long)x);
    *out = x;
    return 0;
}

static int read_scalar(const struct request_field *f, const struct request_ctx *c, const json_t *v,
                       struct completion_req *r, char *err, size_t n)
{
    int64_t x;
    switch (f->type) {
    case REQ_T_FLOAT: {
        if (!json_is_number(v))
            return err_set(err, n, "'%s' must be a number", f->name);
        double d = json_number_value(v);
        if (!isfinite(d))
            return err_set(err, n, "'%s' must be finite", f->name);
        *(float *)at(r, f) = (float)d;
        return 0;
    }
    case REQ_T_INT32:
        if (read_int(f, c, v, &x, err, n) != 0)
            return -1;
        *(int32_t *)at(r, f) = (int32_t)x;
        return 0;
    case REQ_T_INT64:
        if (read_int(f, c, v, &x, err, n) != 0)
            return -1;
        *(int64_t *)at(r, f) = x;
        return 0;
    case REQ_T_BOOL:
        if (!json_is_boolean(v))
            return err_set(err, n, "'%s' must be true or false", f->name);
        *(bool *)at(r, f) = json_is_true(v);
        return 0;
    case REQ_T_STRING: {
        if (!json_is_string(v))
            return err_set(err, n, "'%s' must be a string", f->name);
        char **p = at(r, f), *s = strdup(json_string_value(v));
        if (!s)
            return err_set(err, n, "out of memory");
        free(*p);
        *p = s;
        return 0;
    }
    case REQ_T_CUSTOM:
        break;
    }
    return err_set(err, n, "'%s': no reader", f->name);
}

static void set_default(const struct request_field *f, struct completion_req *r)
{
    switch (f->type) {
    case REQ_T_FLOAT: *(float *)at(r, f) = (float)f->def; break;
    case REQ_T_INT32: *(int32_t *)at(r, f) = (int32_t)f->def; break;
    case REQ_T_INT64: *(int64_t *)at(r, f) = (int64_t)f->def; break;
    case REQ_T_BOOL: *(bool *)at(r, f) = f->def != 0; break;
    default: break;
    }
}

static json_t *echo_field(const struct request_field *f, const struct completion_req *r)
{
    if (f->echo)
        return f->echo(r);
    switch (f->type) {
    case REQ_T_FLOAT: return json_real(*(const float *)at_c(r, f));
    case REQ_T_INT32: return json_integer(*(const int32_t *)at_c(r, f));
    case REQ_T_INT64: return json_integer(*(const int64_t *)at_c(r, f));
    case REQ_T_BOOL: return json_boolean(*(const bool *)at_c(r, f));
    case REQ_T_STRING: {
        const char *s = *(char *const *)at_c(r, f);
        return srv_json_text(s ? s : "", s ? strlen(s) : 0);
    }
    case REQ_T_CUSTOM: return NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------ prompt */

static int tokenize_into(const struct request_ctx *c, const char *text, size_t len, bool bos, struct tok_list *out,
                         char *err, size_t n)
{
    /* A text that already starts with the BOS token (a chat template's
     * output, say) does not get a second one. */
    const struct vocab *v = c->vocab;
    if (bos && vocab_valid(v, v->bos) && v->tokens[v->bos].len > 0 && len >= v->tokens[v->bos].len &&
        memcmp(text, v->tokens[v->bos].text, v->tokens[v->bos].len) == 0)
        bos = false;
    if (tokenize_list(v, text, len, bos, true, out) != 0)
        return err_set(err, n, "cannot tokenize the prompt");
    return 0;
}

int request_parse_prompt(const struct request_ctx *c, const json_t *prompt, struct tok_list *out, char *err,
                         size_t n)
{
    bool bos = c->vocab->add_bos && c->bos;
    if (json_is_string(prompt))
        return tokenize_into(c, json_string_value(prompt), json_string_length(prompt), bos, out, err, n);
    if (!json_is_array(prompt))
        return err_set(err, n, "'prompt' must be a string or an array of strings and token ids");
    size_t i;
    const json_t *e;
    json_array_foreach(prompt, i, e) {
        if (json_is_string(e)) {
            if (tokenize_into(c, json_string_value(e), json_string_length(e), bos && i == 0, out, err, n) != 0)
                return -1;
        } else if (json_is_integer(e)) {
            json_int_t id = json_integer_value(e);
            if (id < 0 || id >= c->vocab->n_tokens)
                return err_set(err, n, "'prompt'[%zu]: token id %lld is out of range [0, %d)", i, (long long)id,
                               c->vocab->n_tokens);
            if (tok_list_push(out, (int32_t)id) != 0)
                return err_set(err, n, "out of memory");
        } else {
            return err_set(err, n, "'prompt'[%zu] must be a string or a token id", i);
        }
    }
    return 0;
}

static int rd_prompt(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                     char *err, size_t n)
{
    if (r->api == REQ_API_OAI_TEXT && json_is_array(v) && json_array_size(v) > 1 &&
        json_is_string(json_array_get(v, 0)) && json_is_string(json_array_get(v, 1)))
        return err_set(err, n, "'prompt': several prompts in one request are not supported; send one per request");
    if (request_parse_prompt(c, v, &r->prompt, err, n) != 0)
        return -1;
    json_decref(r->prompt_json);
    r->prompt_json = json_incref((json_t *)v);
    return 0;
}

/* ------------------------------------------------------------ stop */

static int add_stop(struct completion_req *r, const char *s)
{
    if (vec_reserve((void **)&r->stop, &r->stop_cap, r->n_stop + 1, sizeof *r->stop) != 0 ||
        !(r->stop[r->n_stop] = strdup(s)))
        return -1;
    r->n_stop++;
    return 0;
}

static int rd_stop(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                   char *err, size_t n)
{
    if (body != c->defaults) { /* the request's own stop strings replace the -r defaults (llama-server) */
        while (r->n_stop > 0)
            free(r->stop[--r->n_stop]);
        bool any = json_is_string(v) || (json_is_array(v) && json_array_size(v) > 0);
        const json_t *d = c->defaults ? json_object_get(c->defaults, "stop") : NULL;
        if (!any && d) /* none given: the defaults again */
            return rd_stop(c, c->defaults, d, r, err, n);
    }
    if (json_is_string(v))
        return add_stop(r, json_string_value(v)) == 0 ? 0 : err_set(err, n, "out of memory");
    if (!json_is_array(v))
        return err_set(err, n, "'stop' must be an array of strings");
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e))
            return err_set(err, n, "'stop'[%zu] must be a string", i);
        if (json_string_length(e) > 0 && add_stop(r, json_string_value(e)) != 0)
            return err_set(err, n, "out of memory");
    }
    return 0;
}

static json_t *echo_stop(const struct completion_req *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_stop; i++)
        json_array_append_new(a, srv_json_text(r->stop[i], strlen(r->stop[i])));
    return a;
}

/* ------------------------------------------------------------ logit_bias */

static int add_bias(struct completion_req *r, int32_t tok, float bias)
{
    if (vec_reserve((void **)&r->bias, &r->bias_cap, r->n_bias + 1, sizeof *r->bias) != 0)
        return -1;
    r->bias[r->n_bias++] = (struct sampler_bias){tok, bias};
    return 0;
}

/* One logit_bias entry: key is a token id or a string, value a number or false. */
static int bias_entry(const struct request_ctx *c, struct completion_req *r, const json_t *key, const json_t *val,
                      char *err, size_t n)
{
    float bias;
    if (json_is_false(val))
        bias = -INFINITY;
    else if (json_is_number(val) && isfinite(json_number_value(val)))
        bias = (float)json_number_value(val);
    else
        return err_set(err, n, "'logit_bias': a bias must be a number or false");
    if (json_is_integer(key)) {
        json_int_t id = json_integer_value(key);
        if (id < 0 || id >= c->vocab->n_tokens)
            return err_set(err, n, "'logit_bias': token id %lld is out of range", (long long)id);
        return add_bias(r, (int32_t)id, bias) == 0 ? 0 : err_set(err, n, "out of memory");
    }
    if (!json_is_string(key))
        return err_set(err, n, "'logit_bias': a key must be a token id or a string");
    struct tok_list toks = {0};
    int rc = tokenize_list(c->vocab, json_string_value(key), json_string_length(key), false, false, &toks);
    for (size_t i = 0; rc == 0 && i < toks.n; i++)
        rc = add_bias(r, toks.v[i], bias);
    tok_list_free(&toks);
    return rc == 0 ? 0 : err_set(err, n, "out of memory");
}

static int rd_logit_bias(const struct request_ctx *c, const json_t *body, const json_t *v,
                         struct completion_req *r, char *err, size_t n)
{
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_array(e) || json_array_size(e) != 2)
                return err_set(err, n, "'logit_bias'[%zu] must be a [token, bias] pair", i);
            if (bias_entry(c, r, json_array_get(e, 0), json_array_get(e, 1), err, n) != 0)
                return -1;
        }
        return 0;
    }
    if (json_is_object(v)) { /* OpenAI: {"token id": bias} */
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            char *end;
            long id = strtol(k, &end, 10);
            json_t *key = (*k && !*end) ? json_integer(id) : json_string(k);
            int rc = bias_entry(c, r, key, e, err, n);
            json_decref(key);
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    return err_set(err, n, "'logit_bias' must be an array of [token, bias] pairs or an object");
}

static json_t *echo_logit_bias(const struct completion_req *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_bias; i++)
        json_array_append_new(a, json_pack("[i,o]", r->bias[i].token,
                                           isinf(r->bias[i].bias) ? json_false() : json_real(r->bias[i].bias)));
    return a;
}

/* ------------------------------------------------------------ penalty_prompt */

static int rd_penalty_prompt(const struct request_ctx *c, const json_t *body, const json_t *v,
                             struct completion_req *r, char *err, size_t n)
{
    struct tok_list toks = {0};
    if (json_is_string(v)) {
        if (tokenize_list(c->vocab, json_string_value(v), json_string_length(v), false, true, &toks) != 0)
            return err_set(err, n, "out of memory");
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= c->vocab->n_tokens ||
                tok_list_push(&toks, (int32_t)json_integer_value(e)) != 0) {
                tok_list_free(&toks);
                return err_set(err, n, "'penalty_prompt'[%zu] must be a valid token id", i);
            }
        }
    } else {
        return err_set(err, n, "'penalty_prompt' must be null, a string or an array of token ids");
    }
    free(r->penalty_prompt);
    r->penalty_prompt = toks.v;
    r->n_penalty_prompt = toks.n;
    r->sp.use_penalty_prompt = true;
    return 0;
}

static json_t *echo_penalty_prompt(const struct completion_req *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_penalty_prompt; i++)
        json_array_append_new(a, json_integer(r->penalty_prompt[i]));
    return a;
}

/* ------------------------------------------------------------ samplers */

static int rd_samplers(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                       char *err, size_t n)
{
    if (!json_is_array(v) || json_array_size(v) > SAMPLER_MAX_CHAIN)
        return err_set(err, n, "'samplers' must be an array of at most %d sampler names", SAMPLER_MAX_CHAIN);
    r->sp.n_samplers = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        int t = json_is_string(e) ? sampler_type_from_name(json_string_value(e)) : -1;
        if (t < 0)
            return err_set(err, n,
                           "'samplers'[%zu] is not a sampler (top_k, tfs_z, typical_p, top_p, min_p, temperature, "
                           "dry, top_n_sigma, xtc)",
                           i);
        r->sp.samplers[r->sp.n_samplers++] = (enum sampler_type)t;
    }
    return 0;
}

static json_t *echo_samplers(const struct completion_req *r)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < r->sp.n_samplers; i++)
        json_array_append_new(a, json_string(sampler_type_name(r->sp.samplers[i])));
    return a;
}

/* ------------------------------------------------------------ DRY */

/* dry_base: below 1 is replaced with the server's default (llama-server). */
static int rd_dry_base(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                       char *err, size_t n)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return err_set(err, n, "'dry_base' must be a number");
    float b = (float)json_number_value(v);
    if (b < 1.0f) {
        const json_t *d = c->defaults && body != c->defaults ? json_object_get(c->defaults, "dry_base") : NULL;
        struct sampler_params def;
        sampler_default_params(&def);
        b = json_is_number(d) && json_number_value(d) >= 1.0 ? (float)json_number_value(d) : def.dry_base;
    }
    r->sp.dry_base = b;
    return 0;
}

static json_t *echo_dry_base(const struct completion_req *r)
{
    return json_real(r->sp.dry_base);
}

/* dry_sequence_breakers: a non-empty array of strings (llama-server); the
 * server's own defaults (--dry-sequence-breaker none) may be empty. */
static int rd_dry_breakers(const struct request_ctx *c, const json_t *body, const json_t *v,
                           struct completion_req *r, char *err, size_t n)
{
    if (!json_is_array(v) || (json_array_size(v) == 0 && body != c->defaults))
        return err_set(err, n, "'dry_sequence_breakers' must be a non-empty array of strings");
    if (json_array_size(v) > SAMPLER_MAX_DRY_BREAKERS)
        return err_set(err, n, "'dry_sequence_breakers': at most %d", SAMPLER_MAX_DRY_BREAKERS);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return err_set(err, n, "'dry_sequence_breakers'[%zu] must be a string", i);
    memset(r->sp.dry_breakers, 0, sizeof r->sp.dry_breakers);
    json_array_foreach(v, i, e) {
        size_t len = json_string_length(e); /* cut to SAMPLER_DRY_BREAKER_MAX bytes, as llama.cpp */
        memcpy(r->sp.dry_breakers[i], json_string_value(e),
               len < SAMPLER_DRY_BREAKER_MAX ? len : SAMPLER_DRY_BREAKER_MAX);
    }
    r->sp.n_dry_breakers = (int32_t)json_array_size(v);
    return 0;
}

static json_t *echo_dry_breakers(const struct completion_req *r)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < r->sp.n_dry_breakers; i++)
        json_array_append_new(a, srv_json_text(r->sp.dry_breakers[i], strlen(r->sp.dry_breakers[i])));
    return a;
}

/* ------------------------------------------------------------ grammar */

static int rd_grammar(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                      char *err, size_t n)
{
    if (json_is_string(v) && json_string_length(v) == 0)
        return 0; /* "": none */
    const json_t *js = json_object_get(body, "json_schema");
    if (js && !json_is_null(js))
        return err_set(err, n, "give either 'json_schema' or 'grammar', not both");
    if (!json_is_string(v))
        return err_set(err, n, "'grammar' must be a string");
    free(r->grammar_text);
    if (!(r->grammar_text = strdup(json_string_value(v))))
        return err_set(err, n, "out of memory");
    return 0;
}

/* The GBNF of a JSON schema (field names the schema's origin in messages). */
static int schema_grammar(struct completion_req *r, const char *field, const json_t *schema, char *err, size_t n)
{
    char msg[512];
    char *g = json_schema_to_grammar(schema, msg, sizeof msg);
    if (!g)
        return err_set(err, n, "'%s': %s", field, msg);
    free(r->grammar_text);
    r->grammar_text = g;
    return 0;
}

static int rd_json_schema(const struct request_ctx *c, const json_t *body, const json_t *v,
                          struct completion_req *r, char *err, size_t n)
{
    if (!json_is_object(v) && !json_is_boolean(v))
        return err_set(err, n, "'json_schema' must be an object");
    return schema_grammar(r, "json_schema", v, err, n);
}

static json_t *echo_grammar(const struct completion_req *r)
{
    const char *g = r->grammar_text ? r->grammar_text : "";
    return srv_json_text(g, strlen(g));
}

/* OpenAI tools: [{"type": "function", "function": {"name", "parameters"...}}]. */
static int rd_tools(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                    char *err, size_t n)
{
    (void)c;
    (void)body;
    if (!json_is_array(v))
        return err_set(err, n, "'tools' must be an array of {\"type\": \"function\", \"function\": {...}}");
    size_t i;
    const json_t *t;
    json_array_foreach(v, i, t) {
        const json_t *fn = json_object_get(t, "function");
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!type || strcmp(type, "function") != 0 || !json_is_object(fn))
            return err_set(err, n, "'tools[%zu]': only {\"type\": \"function\", \"function\": {...}} tools are supported", i);
        if (!json_is_string(json_object_get(fn, "name")))
            return err_set(err, n, "'tools[%zu]': function.name must be a string", i);
        const json_t *p = json_object_get(fn, "parameters");
        if (p && !json_is_object(p))
            return err_set(err, n, "'tools[%zu]': function.parameters must be a JSON schema object", i);
    }
    json_decref(r->tools);
    r->tools = json_array_size(v) ? json_deep_copy(v) : NULL;
    return 0;
}

/* tool_choice: "auto", "none", "required", or {"type": "function", "function": {"name"}}. */
static int rd_tool_choice(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                          char *err, size_t n)
{
    (void)c;
    (void)body;
    const char *s = json_string_value(v);
    const char *name = json_string_value(json_object_get(json_object_get(v, "function"), "name"));
    if (s && strcmp(s, "auto") == 0)
        r->tool_choice = REQ_TOOLS_AUTO;
    else if (s && strcmp(s, "none") == 0)
        r->tool_choice = REQ_TOOLS_NONE;
    else if (s && strcmp(s, "required") == 0)
        r->tool_choice = REQ_TOOLS_REQUIRED;
    else if (name) {
        r->tool_choice = REQ_TOOLS_NAMED;
        free(r->tool_name);
        if (!(r->tool_name = strdup(name)))
            return err_set(err, n, "out of memory");
    } else
        return err_set(err, n, "'tool_choice' must be \"auto\", \"none\", \"required\" or "
                               "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    return 0;
}

/* OpenAI response_format: json_object (optionally with a schema) or json_schema. */
static int rd_response_format(const struct request_ctx *c, const json_t *body, const json_t *rf,
                              struct completion_req *r, char *err, size_t n)
{
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type)
        return err_set(err, n, "'response_format' must be an object with a 'type'");
    if (strcmp(type, "text") == 0)
        return 0;
    const json_t *schema;
    json_t *any = NULL;
    if (strcmp(type, "json_object") == 0) {
        schema = json_object_get(rf, "schema");
        if (!schema) /* OpenAI: an object */
            schema = any = json_pack("{s:s}", "type", "object");
    } else if (strcmp(type, "json_schema") == 0) {
        const json_t *js = json_object_get(rf, "json_schema");
        if (!(schema = js ? json_object_get(js, "schema") : NULL))
            return err_set(err, n, "'response_format': json_schema needs {\"json_schema\": {\"schema\": ...}}");
    } else {
        return err_set(err, n, "'response_format': unknown type '%s' (text, json_object or json_schema)", type);
    }
    const json_t *g = json_object_get(body, "grammar");
    int rc = json_is_string(g) && json_string_length(g) > 0
                 ? err_set(err, n, "give either 'json_schema' or 'grammar', not both")
                 : schema_grammar(r, "json_schema", schema, err, n);
    json_decref(any);
    return rc;
}

/* ------------------------------------------------------------ OpenAI */

static int rd_n(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                char *err, size_t n)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > REQUEST_MAX_CHOICES)
        return err_set(err, n, "'n' must be an integer from 1 to %d", REQUEST_MAX_CHOICES);
    r->n_choices = (int32_t)json_integer_value(v);
    return 0;
}

static int rd_stream_options(const struct request_ctx *c, const json_t *body, const json_t *v,
                             struct completion_req *r, char *err, size_t n)
{
    const json_t *iu = json_object_get(v, "include_usage");
    if (!json_is_object(v))
        return err_set(err, n, "'stream_options' must be an object");
    if (iu && !json_is_boolean(iu) && !json_is_null(iu))
        return err_set(err, n, "'stream_options.include_usage' must be true or false");
    r->include_usage = json_is_true(iu);
    return 0;
}

/* Chat: top_logprobs is also checked when logprobs is absent. */
static int rd_top_logprobs(const struct request_ctx *c, const json_t *body, const json_t *v,
                           struct completion_req *r, char *err, size_t n)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 20)
        return err_set(err, n, "'top_logprobs' must be an integer from 0 to 20");
    return 0;
}

/* Chat: logprobs (bool), then top_logprobs (0..20): n_probs = max(top, 1). */
static int rd_chat_logprobs(const struct request_ctx *c, const json_t *body, const json_t *v,
                            struct completion_req *r, char *err, size_t n)
{
    if (!json_is_boolean(v))
        return err_set(err, n, "'logprobs' must be true or false");
    const json_t *top = json_object_get(body, "top_logprobs");
    if (top && !json_is_null(top) &&
        (!json_is_integer(top) || json_integer_value(top) < 0 || json_integer_value(top) > 20))
        return err_set(err, n, "'top_logprobs' must be an integer from 0 to 20");
    r->logprobs = json_is_true(v);
    r->top_logprobs = json_is_integer(top) ? (int32_t)json_integer_value(top) : 0;
    if (r->logprobs)
        r->sp.n_probs = r->top_logprobs > 0 ? r->top_logprobs : 1;
    return 0;
}

/* Legacy completions: logprobs is a count (0..20). */
static int rd_text_logprobs(const struct request_ctx *c, const json_t *body, const json_t *v,
                            struct completion_req *r, char *err, size_t n)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 20)
        return err_set(err, n, "'logprobs' must be an integer from 0 to 20");
    r->logprobs = true;
    r->sp.n_probs = json_integer_value(v) > 0 ? (int32_t)json_integer_value(v) : 1;
    return 0;
}

static int rd_echo(const struct request_ctx *c, const json_t *body, const json_t *v, struct completion_req *r,
                   char *err, size_t n)
{
    if (!json_is_boolean(v))
        return err_set(err, n, "'echo' must be true or false");
    return json_is_true(v) ? err_set(err, n, "'echo' is not supported") : 0;
}

/* Native: response_fields, an array of member paths ("generation_settings/n_predict"). */
static int rd_response_fields(const struct request_ctx *c, const json_t *body, const json_t *v,
                              struct completion_req *r, char *err, size_t n)
{
    size_t i;
    const json_t *e;
    if (!json_is_array(v))
        return err_set(err, n, "'response_fields' must be an array of strings");
    json_array_foreach(v, i, e) if (!json_is_string(e)) return err_set(err, n, "'response_fields'[%zu] must be a string", i);
    json_decref(r->response_fields);
    r->response_fields = json_array_size(v) ? json_incref((json_t *)v) : NULL;
    return 0;
}

/* The seed actually used (the sampler's, once made), not the one asked for. */
static json_t *echo_seed(const struct completion_req *r)
{
    return json_integer(r->seed_used);
}

/* ------------------------------------------------------------ the table */

#define SP(m) OFF(sp.m)
#define NOLIM 0, 0
#define I32 INT32_MIN, INT32_MAX
#define CUSTOM(name, apis, flags, echo_name, rd, ec) {name, REQ_T_CUSTOM, 0, 0, NOLIM, apis, flags, echo_name, rd, ec}

/* Rows are read in order (a later row may override an earlier one: the
 * OpenAI spellings come after the native ones they map onto) and echoed in
 * order. Defaults are sampler_default_params' (test_request checks). */
static const struct request_field FIELDS[] = {
    /* name                type           offset             default  range                  doors         flags */
    {"n_predict",          REQ_T_INT32,   OFF(n_predict),     -1,      -1, INT32_MAX,           REQ_API_ALL,  0, NULL, NULL, NULL},
    {"seed",               REQ_T_INT64,   OFF(seed),          -1,      INT64_MIN, UINT32_MAX,  REQ_API_ALL,  0, NULL, NULL, echo_seed},
    {"temperature",        REQ_T_FLOAT,   SP(temperature),    0.8,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"dynatemp_range",     REQ_T_FLOAT,   SP(dynatemp_range), 0.0,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"dynatemp_exponent",  REQ_T_FLOAT,   SP(dynatemp_exponent), 1.0,  NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"top_k",              REQ_T_INT32,   SP(top_k),          40,      I32,                    REQ_API_ALL,  0, NULL, NULL, NULL},
    {"top_p",              REQ_T_FLOAT,   SP(top_p),          0.95,    NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"min_p",              REQ_T_FLOAT,   SP(min_p),          0.05,    NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"tfs_z",              REQ_T_FLOAT,   SP(tfs_z),          1.0,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"typical_p",          REQ_T_FLOAT,   SP(typical_p),      1.0,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"repeat_last_n",      REQ_T_INT32,   SP(repeat_last_n),  64,      -1, INT32_MAX,           REQ_API_ALL,  0, NULL, NULL, NULL},
    {"repeat_penalty",     REQ_T_FLOAT,   SP(repeat_penalty), 1.1,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"presence_penalty",   REQ_T_FLOAT,   SP(presence_penalty), 0.0,   NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"frequency_penalty",  REQ_T_FLOAT,   SP(frequency_penalty), 0.0,  NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    CUSTOM("penalty_prompt", REQ_API_ALL, 0, "penalty_prompt_tokens", rd_penalty_prompt, echo_penalty_prompt),
    {"use_penalty_prompt_tokens", REQ_T_BOOL, SP(use_penalty_prompt), 0, NOLIM,                REQ_API_ALL,  REQ_F_ECHO_ONLY, NULL, NULL, NULL},
    {"mirostat",           REQ_T_INT32,   SP(mirostat),       0,       0, 2,                   REQ_API_ALL,  0, NULL, NULL, NULL},
    {"mirostat_tau",       REQ_T_FLOAT,   SP(mirostat_tau),   5.0,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"mirostat_eta",       REQ_T_FLOAT,   SP(mirostat_eta),   0.1,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"penalize_nl",        REQ_T_BOOL,    SP(penalize_nl),    1,       NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    /* llama-server's DRY, XTC and top-n-sigma (defaults as sampler_default_params) */
    {"dry_multiplier",     REQ_T_FLOAT,   SP(dry_multiplier), 0.0,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    CUSTOM("dry_base",       REQ_API_ALL, 0, NULL, rd_dry_base, echo_dry_base),
    {"dry_allowed_length", REQ_T_INT32,   SP(dry_allowed_length), 2,   0, INT32_MAX,           REQ_API_ALL,  0, NULL, NULL, NULL},
    {"dry_penalty_last_n", REQ_T_INT32,   SP(dry_penalty_last_n), 64,  -1, INT32_MAX,          REQ_API_ALL,  0, NULL, NULL, NULL},
    CUSTOM("dry_sequence_breakers", REQ_API_ALL, 0, NULL, rd_dry_breakers, echo_dry_breakers),
    {"xtc_probability",    REQ_T_FLOAT,   SP(xtc_probability), 0.0,    NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"xtc_threshold",      REQ_T_FLOAT,   SP(xtc_threshold),  0.1,     NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"top_n_sigma",        REQ_T_FLOAT,   SP(top_n_sigma),    -1.0,    NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    CUSTOM("stop",           REQ_API_ALL, 0, NULL, rd_stop, echo_stop),
    {"n_keep",             REQ_T_INT32,   OFF(n_keep),        0,       -1, INT32_MAX,           REQ_API_ALL,  0, NULL, NULL, NULL},
    {"t_max_predict_ms",   REQ_T_INT32,   OFF(t_max_predict_ms), 0,    0, INT32_MAX,            REQ_API_ALL,  0, NULL, NULL, NULL},
    {"ignore_eos",         REQ_T_BOOL,    SP(ignore_eos),     0,       NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"stream",             REQ_T_BOOL,    OFF(stream),        0,       NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    CUSTOM("logit_bias",     REQ_API_ALL, 0, NULL, rd_logit_bias, echo_logit_bias),
    {"n_probs",            REQ_T_INT32,   SP(n_probs),        0,       0, 1024,                REQ_API_ALL,  0, NULL, NULL, NULL},
    {"min_keep",           REQ_T_INT32,   SP(min_keep),       0,       0, INT32_MAX,           REQ_API_ALL,  0, NULL, NULL, NULL},
    CUSTOM("grammar",        REQ_API_ALL, 0, NULL, rd_grammar, echo_grammar),
    CUSTOM("json_schema",    REQ_API_ALL, REQ_F_NO_ECHO, NULL, rd_json_schema, NULL),
    CUSTOM("samplers",       REQ_API_ALL, 0, NULL, rd_samplers, echo_samplers),
    {"cache_prompt",       REQ_T_BOOL,    OFF(cache_prompt),  0,       NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"id_slot",            REQ_T_INT32,   OFF(id_slot),       -1,      -1, 0,                  REQ_API_ALL,  REQ_F_MAX_SLOT, NULL, NULL, NULL},
    /* inputs */
    CUSTOM("prompt",         REQ_API_NATIVE | REQ_API_INFILL | REQ_API_OAI_TEXT, REQ_F_NO_ECHO, NULL, rd_prompt, NULL),
    {"input_prefix",       REQ_T_STRING,  OFF(input_prefix),  0,       NOLIM,                  REQ_API_INFILL, REQ_F_NO_ECHO, NULL, NULL, NULL},
    {"input_suffix",       REQ_T_STRING,  OFF(input_suffix),  0,       NOLIM,                  REQ_API_INFILL, REQ_F_NO_ECHO, NULL, NULL, NULL},
    CUSTOM("response_fields", REQ_API_NATIVE | REQ_API_INFILL, REQ_F_NO_ECHO, NULL, rd_response_fields, NULL),
    /* llama-server's reply options (server-schema.cpp) */
    {"return_progress",    REQ_T_BOOL,    OFF(return_progress), 0,     NOLIM,                  REQ_API_ALL,  REQ_F_NO_ECHO, NULL, NULL, NULL},
    {"return_tokens",      REQ_T_BOOL,    OFF(return_tokens), 0,       NOLIM,                  REQ_API_ALL,  REQ_F_NO_ECHO, NULL, NULL, NULL},
    {"timings_per_token",  REQ_T_BOOL,    OFF(timings_per_token), 0,   NOLIM,                  REQ_API_ALL,  0, NULL, NULL, NULL},
    {"verbose",            REQ_T_BOOL,    OFF(verbose),       0,       NOLIM,                  REQ_API_ALL,  REQ_F_NO_ECHO, NULL, NULL, NULL},
    /* other spellings (read only while n_predict is still -1): max_tokens (all
     * doors, as llama.cpp), OpenAI's; then OpenAI's own fields */
    {"max_tokens",         REQ_T_INT32,   OFF(n_predict),     -1,      -1, INT32_MAX,           REQ_API_ALL,  REQ_F_NO_ECHO | REQ_F_ALIAS, NULL, NULL, NULL},
    {"max_completion_tokens", REQ_T_INT32, OFF(n_predict),    -1,      -1, INT32_MAX,           REQ_API_OAI,  REQ_F_NO_ECHO | REQ_F_ALIAS, NULL, NULL, NULL},
    CUSTOM("n",              REQ_API_OAI, REQ_F_NO_ECHO, NULL, rd_n, NULL),
    CUSTOM("stream_options", REQ_API_OAI, REQ_F_NO_ECHO, NULL, rd_stream_options, NULL),
    CUSTOM("logprobs",       REQ_API_OAI_CHAT, REQ_F_NO_ECHO, NULL, rd_chat_logprobs, NULL),
    CUSTOM("logprobs",       REQ_API_OAI_TEXT, REQ_F_NO_ECHO, NULL, rd_text_logprobs, NULL),
    CUSTOM("echo",           REQ_API_OAI, REQ_F_NO_ECHO, NULL, rd_echo, NULL),
    CUSTOM("top_logprobs",   REQ_API_OAI_CHAT, REQ_F_NO_ECHO, NULL, rd_top_logprobs, NULL),
    CUSTOM("response_format", REQ_API_OAI_CHAT, REQ_F_NO_ECHO, NULL, rd_response_format, NULL),
    CUSTOM("tools",          REQ_API_OAI_CHAT, REQ_F_NO_ECHO, NULL, rd_tools, NULL),
    CUSTOM("tool_choice",    REQ_API_OAI_CHAT, REQ_F_NO_ECHO, NULL, rd_tool_choice, NULL),
    {"parallel_tool_calls", REQ_T_BOOL,   OFF(parallel_tool_calls), 0, NOLIM,                  REQ_API_OAI_CHAT, REQ_F_NO_ECHO, NULL, NULL, NULL},
};

const struct request_field *request_fields(size_t *n)
{
    *n = sizeof FIELDS / sizeof FIELDS[0];
    return FIELDS;
}

/* ------------------------------------------------------------ the request */

void request_init(struct completion_req *r, enum request_api api)
{
    memset(r, 0, sizeof *r);
    sampler_default_params(&r->sp); /* the chain, and anything not in the table */
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        if (!(FIELDS[i].flags & REQ_F_ECHO_ONLY))
            set_default(&FIELDS[i], r);
    r->api = api;
    r->seed_used = SAMPLER_SEED_RANDOM;
    r->n_choices = 1;
}

/* Row i's member was given in body under an earlier row's name. */
static bool given_earlier(const struct completion_req *r, const json_t *body, size_t i)
{
    for (size_t k = 0; k < i; k++) {
        const json_t *v = json_object_get(body, FIELDS[k].name);
        if (FIELDS[k].offset == FIELDS[i].offset && (FIELDS[k].apis & r->api) && v && !json_is_null(v))
            return true;
    }
    return false;
}

static int read_rows(struct completion_req *r, const struct request_ctx *c, const json_t *body, char *err,
                     size_t n)
{
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const struct request_field *f = &FIELDS[i];
        if ((f->flags & REQ_F_ECHO_ONLY) || !(f->apis & r->api))
            continue;
        const json_t *v = json_object_get(body, f->name);
        if (!v || json_is_null(v))
            continue;
        if ((f->flags & REQ_F_ALIAS) && given_earlier(r, body, i))
            continue; /* the member was given under an earlier name */
        int rc = f->type == REQ_T_CUSTOM ? f->read(c, body, v, r, err, n) : read_scalar(f, c, v, r, err, n);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The sampler's view of r: its arrays, the seed, the compiled grammar. */
static int finish_sampling(struct completion_req *r, char *err, size_t n)
{
    struct sampler_params *sp = &r->sp;
    sp->seed = r->seed < 0 ? SAMPLER_SEED_RANDOM : (uint32_t)r->seed;
    r->seed_used = sp->seed;
    sp->logit_bias = r->bias;
    sp->n_logit_bias = r->n_bias;
    sp->penalty_prompt = r->penalty_prompt;
    sp->n_penalty_prompt = r->n_penalty_prompt;
    if (r->grammar_text && !sp->grammar) {
        char gerr[256] = "";
        sp->grammar = grammar_parse(r->grammar_text, strlen(r->grammar_text), NULL, gerr, sizeof gerr);
        if (!sp->grammar)
            return err_set(err, n, "Failed to parse grammar: %s", gerr);
    }
    return 0;
}

int request_apply_defaults(struct completion_req *r, const struct request_ctx *c, char *err, size_t n)
{
    if (!c->defaults)
        return 0;
    if (read_rows(r, c, c->defaults, err, n) != 0)
        return -1;
    r->seed_used = r->seed < 0 ? SAMPLER_SEED_RANDOM : (uint32_t)r->seed;
    return 0;
}

int request_read(struct completion_req *r, const struct request_ctx *c, const json_t *body, char *err, size_t n)
{
    if (request_apply_defaults(r, c, err, n) != 0 || read_rows(r, c, body, err, n) != 0)
        return -1;
    const json_t *keep = json_object_get(body, "n_keep");
    r->truncate = (keep && !json_is_null(keep)) || (c->defaults && json_object_get(c->defaults, "n_keep"));
    bool need_prompt = r->api == REQ_API_NATIVE || r->api == REQ_API_OAI_TEXT;
    if (need_prompt && !r->prompt_json)
        return err_set(err, n, "'prompt' is required");
    return finish_sampling(r, err, n);
}

int request_set_tool_grammar(struct completion_req *r, const char *gbnf, char *const *triggers, size_t n_triggers,
                             const char *prefix, char *err, size_t n)
{
    if (r->grammar_text)
        return err_set(err, n, "'tools' cannot be combined with 'grammar', 'json_schema' or 'response_format'");
    if (!(r->grammar_text = strdup(gbnf)))
        return err_set(err, n, "out of memory");
    if (n_triggers > 0) {
        if (!(r->grammar_triggers = calloc(n_triggers, sizeof *r->grammar_triggers)))
            return err_set(err, n, "out of memory");
        for (size_t i = 0; i < n_triggers; i++)
            if (!(r->grammar_triggers[r->n_grammar_triggers++] = strdup(triggers[i])))
                return err_set(err, n, "out of memory");
    }
    if (prefix && !r->grammar_prefix && !(r->grammar_prefix = strdup(prefix)))
        return err_set(err, n, "out of memory");
    r->sp.grammar_triggers = (const char *const *)r->grammar_triggers;
    r->sp.n_grammar_triggers = r->n_grammar_triggers;
    r->sp.grammar_prefix = r->grammar_prefix;
    return finish_sampling(r, err, n);
}

int request_set_chat_prompt(struct completion_req *r, const struct request_ctx *c, char *text, char *err,
                            size_t n)
{
    free(r->chat_prompt);
    r->chat_prompt = text;
    json_decref(r->prompt_json);
    r->prompt_json = srv_json_text(text, strlen(text));
    tok_list_free(&r->prompt);
    return tokenize_into(c, text, strlen(text), c->vocab->add_bos && c->bos, &r->prompt, err, n);
}

static int push_all(struct tok_list *out, const int32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tok_list_push(out, v[i]) != 0)
            return -1;
    return 0;
}

int request_build_infill(struct completion_req *r, const struct request_ctx *c, char *err, size_t n)
{
    const struct vocab *v = c->vocab;
    if (v->fim_pre == TOKEN_NULL || v->fim_suf == TOKEN_NULL || v->fim_mid == TOKEN_NULL)
        return err_set(err, n, "this model has no fill-in-the-middle tokens");
    struct tok_list tp = {0}, ts = {0}, out = {0};
    const char *pre = r->input_prefix ? r->input_prefix : "", *suf = r->input_suffix ? r->input_suffix : "";
    int rc = tokenize_list(v, pre, strlen(pre), false, false, &tp) | tokenize_list(v, suf, strlen(suf), false, false, &ts);
    struct tok_list *first = c->spm_infill ? &ts : &tp, *second = c->spm_infill ? &tp : &ts;
    if (v->add_bos)
        rc |= tok_list_push(&out, v->bos);
    rc |= tok_list_push(&out, c->spm_infill ? v->fim_suf : v->fim_pre);
    rc |= push_all(&out, first->v, first->n);
    rc |= tok_list_push(&out, c->spm_infill ? v->fim_pre : v->fim_suf);
    rc |= push_all(&out, second->v, second->n);
    rc |= tok_list_push(&out, v->fim_mid);
    /* the `prompt` field goes after the middle token (without its BOS) */
    size_t skip = r->prompt.n > 0 && v->add_bos && r->prompt.v[0] == v->bos ? 1 : 0;
    rc |= push_all(&out, r->prompt.v + skip, r->prompt.n - skip);
    tok_list_free(&tp);
    tok_list_free(&ts);
    tok_list_free(&r->prompt);
    r->prompt = out;
    return rc == 0 ? 0 : err_set(err, n, "out of memory");
}

void request_free(struct completion_req *r)
{
    free(r->bias);
    free(r->penalty_prompt);
    free(r->grammar_text);
    grammar_free(r->sp.grammar);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->stop);
    tok_list_free(&r->prompt);
    json_decref(r->prompt_json);
    free(r->chat_prompt);
    free(r->input_prefix);
    free(r->input_suffix);
    json_decref(r->response_fields);
    json_decref(r->tools);
    json_decref(r->reply_body);
    free(r->tool_name);
    for (size_t i = 0; i < r->n_grammar_triggers; i++)
        free(r->grammar_triggers[i]);
    free(r->grammar_triggers);
    free(r->grammar_prefix);
    memset(r, 0, sizeof *r);
}

json_t *request_settings_json(const struct completion_req *r, const struct request_ctx *c)
{
    json_t *g = json_object();
    json_object_set_new(g, "n_ctx", json_integer(c->n_ctx_slot));
    json_object_set_new(g, "model", json_string(c->model_name ? c->model_name : ""));
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const struct request_field *f = &FIELDS[i];
        if (f->flags & REQ_F_NO_ECHO)
            continue;
        json_t *v = echo_field(f, r);
        if (v)
            json_object_set_new(g, f->echo_name ? f->echo_name : f->name, v);
    }
    return g;
}
