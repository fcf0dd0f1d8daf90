/*
 * completion_params.c - reading a /completion body (see completion_params.h).
 */
#include "server/completion_params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "server/server_internal.h"

static int fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Optional fields: absent or null keeps the default. */
static int get_float(const json_t *o, const char *k, float *out, char *err, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return fail(err, n, "'%s' must be a number", k);
    double d = json_number_value(v);
    if (!isfinite(d))
        return fail(err, n, "'%s' must be finite", k);
    *out = (float)d;
    return 0;
}

static int get_int(const json_t *o, const char *k, int64_t lo, int64_t hi, int64_t *out, char *err, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    int64_t x;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) && fabs(json_real_value(v)) < 9e15)
        x = (int64_t)json_real_value(v);
    else
        return fail(err, n, "'%s' must be an integer", k);
    if (x < lo || x > hi)
        return fail(err, n, "'%s' must be between %lld and %lld (got %lld)", k, (long long)lo, (long long)hi,
                    (long long)x);
    *out = x;
    return 0;
}

static int get_i32(const json_t *o, const char *k, int64_t lo, int64_t hi, int32_t *out, char *err, size_t n)
{
    int64_t x = *out;
    if (get_int(o, k, lo, hi, &x, err, n) != 0)
        return -1;
    *out = (int32_t)x;
    return 0;
}

static int get_bool(const json_t *o, const char *k, bool *out, char *err, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(err, n, "'%s' must be true or false", k);
    *out = json_is_true(v);
    return 0;
}

static bool server_has_system_prompt(struct server *s)
{
    pthread_mutex_lock(&s->sys_lock);
    bool has = s->sys_prompt && *s->sys_prompt;
    pthread_mutex_unlock(&s->sys_lock);
    return has;
}

static int tokenize_into(struct server *s, const char *text, size_t len, bool bos, struct tok_list *out,
                         char *err, size_t n)
{
    /* A text that already starts with the BOS token (a chat template's
     * output, say) does not get a second one. */
    const struct vocab *v = s->vocab;
    if (bos && vocab_valid(v, v->bos) && v->tokens[v->bos].len > 0 && len >= v->tokens[v->bos].len &&
        memcmp(text, v->tokens[v->bos].text, v->tokens[v->bos].len) == 0)
        bos = false;
    if (tokenize_list(s->vocab, text, len, bos, true, out) != 0)
        return fail(err, n, "cannot tokenize the prompt");
    return 0;
}

int parse_prompt(struct server *s, const json_t *prompt, struct tok_list *out, char *err, size_t n)
{
    bool bos = s->vocab->add_bos && !server_has_system_prompt(s);
    if (json_is_string(prompt))
        return tokenize_into(s, json_string_value(prompt), json_string_length(prompt), bos, out, err, n);
    if (!json_is_array(prompt))
        return fail(err, n, "'prompt' must be a string or an array of strings and token ids");
    size_t i;
    const json_t *e;
    json_array_foreach(prompt, i, e) {
        if (json_is_string(e)) {
            if (tokenize_into(s, json_string_value(e), json_string_length(e), bos && i == 0, out, err, n) != 0)
                return -1;
        } else if (json_is_integer(e)) {
            json_int_t id = json_integer_value(e);
            if (id < 0 || id >= s->vocab->n_tokens)
                return fail(err, n, "'prompt'[%zu]: token id %lld is out of range [0, %d)", i, (long long)id,
                            s->vocab->n_tokens);
            if (tok_list_push(out, (int32_t)id) != 0)
                return fail(err, n, "out of memory");
        } else {
            return fail(err, n, "'prompt'[%zu] must be a string or a token id", i);
        }
    }
    return 0;
}

static int add_stop(struct completion_req *r, const char *s)
{
    char **ns = realloc(r->stop, (r->n_stop + 1) * sizeof *ns);
    if (!ns)
        return -1;
    r->stop = ns;
    if (!(ns[r->n_stop] = strdup(s)))
        return -1;
    r->n_stop++;
    return 0;
}

static int parse_stop(const json_t *body, struct completion_req *r, char *err, size_t n)
{
    const json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return add_stop(r, json_string_value(v)) == 0 ? 0 : fail(err, n, "out of memory");
    if (!json_is_array(v))
        return fail(err, n, "'stop' must be an array of strings");
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e))
            return fail(err, n, "'stop'[%zu] must be a string", i);
        if (json_string_length(e) > 0 && add_stop(r, json_string_value(e)) != 0)
            return fail(err, n, "out of memory");
    }
    return 0;
}

static int add_bias(struct completion_req *r, int32_t tok, float bias)
{
    struct sampler_bias *nb = realloc(r->bias, (r->n_bias + 1) * sizeof *nb);
    if (!nb)
        return -1;
    r->bias = nb;
    nb[r->n_bias++] = (struct sampler_bias){tok, bias};
    return 0;
}

/* One logit_bias entry: key is a token id or a string, value a number or false. */
static int bias_entry(struct server *s, struct completion_req *r, const json_t *key, const json_t *val,
                      char *err, size_t n)
{
    float bias;
    if (json_is_false(val))
        bias = -INFINITY;
    else if (json_is_number(val) && isfinite(json_number_value(val)))
        bias = (float)json_number_value(val);
    else
        return fail(err, n, "'logit_bias': a bias must be a number or false");
    if (json_is_integer(key)) {
        json_int_t id = json_integer_value(key);
        if (id < 0 || id >= s->vocab->n_tokens)
            return fail(err, n, "'logit_bias': token id %lld is out of range", (long long)id);
        return add_bias(r, (int32_t)id, bias) == 0 ? 0 : fail(err, n, "out of memory");
    }
    if (!json_is_string(key))
        return fail(err, n, "'logit_bias': a key must be a token id or a string");
    struct tok_list toks = {0};
    int rc = tokenize_list(s->vocab, json_string_value(key), json_string_length(key), false, false, &toks);
    for (size_t i = 0; rc == 0 && i < toks.n; i++)
        rc = add_bias(r, toks.v[i], bias);
    tok_list_free(&toks);
    return rc == 0 ? 0 : fail(err, n, "out of memory");
}

static int parse_logit_bias(struct server *s, const json_t *body, struct completion_req *r, char *err, size_t n)
{
    const json_t *v = json_object_get(body, "logit_bias");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_array(e) || json_array_size(e) != 2)
                return fail(err, n, "'logit_bias'[%zu] must be a [token, bias] pair", i);
            if (bias_entry(s, r, json_array_get(e, 0), json_array_get(e, 1), err, n) != 0)
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
            int rc = bias_entry(s, r, key, e, err, n);
            json_decref(key);
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    return fail(err, n, "'logit_bias' must be an array of [token, bias] pairs or an object");
}

static int parse_penalty_prompt(struct server *s, const json_t *body, struct completion_req *r, char *err,
                                size_t n)
{
    const json_t *v = json_object_get(body, "penalty_prompt");
    if (!v || json_is_null(v))
        return 0;
    struct tok_list toks = {0};
    if (json_is_string(v)) {
        if (tokenize_list(s->vocab, json_string_value(v), json_string_length(v), false, true, &toks) != 0)
            return fail(err, n, "out of memory");
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= s->vocab->n_tokens) {
                tok_list_free(&toks);
                return fail(err, n, "'penalty_prompt'[%zu] must be a valid token id", i);
            }
            tok_list_push(&toks, (int32_t)json_integer_value(e));
        }
    } else {
        return fail(err, n, "'penalty_prompt' must be null, a string or an array of token ids");
    }
    r->penalty_prompt = toks.v;
    r->n_penalty_prompt = toks.n;
    r->sp.use_penalty_prompt = true;
    return 0;
}

static int parse_samplers(const json_t *body, struct completion_req *r, char *err, size_t n)
{
    const json_t *v = json_object_get(body, "samplers");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > SAMPLER_MAX_CHAIN)
        return fail(err, n, "'samplers' must be an array of at most %d sampler names", SAMPLER_MAX_CHAIN);
    r->sp.n_samplers = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        int t = json_is_string(e) ? sampler_type_from_name(json_string_value(e)) : -1;
        if (t < 0)
            return fail(err, n, "'samplers'[%zu] is not a sampler (top_k, tfs_z, typical_p, top_p, min_p, temperature)", i);
        r->sp.samplers[r->sp.n_samplers++] = (enum sampler_type)t;
    }
    return 0;
}

static int parse_grammar(const json_t *body, struct completion_req *r, char *err, size_t n)
{
    const json_t *g = json_object_get(body, "grammar");
    const json_t *js = json_object_get(body, "json_schema");
    bool has_g = g && !json_is_null(g) && !(json_is_string(g) && json_string_length(g) == 0);
    bool has_js = js && !json_is_null(js);
    if (has_g && has_js)
        return fail(err, n, "give either 'json_schema' or 'grammar', not both");
    if (has_g) {
        if (!json_is_string(g))
            return fail(err, n, "'grammar' must be a string");
        r->grammar = strdup(json_string_value(g));
    } else if (has_js) {
        if (!json_is_object(js) && !json_is_boolean(js))
            return fail(err, n, "'json_schema' must be an object");
        char msg[512];
        r->grammar = json_schema_to_grammar(js, msg, sizeof msg);
        if (!r->grammar)
            return fail(err, n, "'json_schema': %s", msg);
    }
    if (r->grammar && r->grammar[0]) {
        char gerr[256];
        r->sp.grammar = grammar_parse(r->grammar, strlen(r->grammar), NULL, gerr, sizeof gerr);
        if (!r->sp.grammar)
            return fail(err, n, "Failed to parse grammar: %s", gerr);
    }
    return 0;
}

static int parse_sampling(const json_t *b, struct completion_req *r, char *err, size_t n)
{
    struct sampler_params *sp = &r->sp;
    int32_t mirostat = sp->mirostat;
    if (get_float(b, "temperature", &sp->temperature, err, n) || get_float(b, "dynatemp_range", &sp->dynatemp_range, err, n) ||
        get_float(b, "dynatemp_exponent", &sp->dynatemp_exponent, err, n) ||
        get_i32(b, "top_k", INT32_MIN, INT32_MAX, &sp->top_k, err, n) || get_float(b, "top_p", &sp->top_p, err, n) ||
        get_float(b, "min_p", &sp->min_p, err, n) || get_float(b, "tfs_z", &sp->tfs_z, err, n) ||
        get_float(b, "typical_p", &sp->typical_p, err, n) || get_float(b, "repeat_penalty", &sp->repeat_penalty, err, n) ||
        get_i32(b, "repeat_last_n", -1, INT32_MAX, &sp->repeat_last_n, err, n) ||
        get_bool(b, "penalize_nl", &sp->penalize_nl, err, n) ||
        get_float(b, "presence_penalty", &sp->presence_penalty, err, n) ||
        get_float(b, "frequency_penalty", &sp->frequency_penalty, err, n) ||
        get_i32(b, "mirostat", 0, 2, &mirostat, err, n) || get_float(b, "mirostat_tau", &sp->mirostat_tau, err, n) ||
        get_float(b, "mirostat_eta", &sp->mirostat_eta, err, n) || get_bool(b, "ignore_eos", &sp->ignore_eos, err, n) ||
        get_i32(b, "min_keep", 0, INT32_MAX, &sp->min_keep, err, n) ||
        get_int(b, "seed", INT64_MIN, UINT32_MAX, &r->seed, err, n))
        return -1;
    sp->mirostat = mirostat;
    sp->seed = r->seed < 0 ? SAMPLER_SEED_RANDOM : (uint32_t)r->seed;
    return 0;
}

int completion_req_parse(struct server *s, const json_t *b, bool need_prompt, struct completion_req *r, char *err,
                         size_t n)
{
    memset(r, 0, sizeof *r);
    sampler_default_params(&r->sp);
    r->n_predict = -1;
    r->n_keep = 0;
    r->id_slot = -1;
    r->seed = -1;
    r->cache_prompt = false;
    int32_t n_slots = sched_n_slots(s->sched);
    int64_t n_predict = -1;
    if (get_int(b, "n_predict", -1, INT32_MAX, &n_predict, err, n) ||
        get_i32(b, "n_keep", -1, INT32_MAX, &r->n_keep, err, n) ||
        get_i32(b, "id_slot", -1, n_slots - 1, &r->id_slot, err, n) ||
        get_i32(b, "n_probs", 0, 1024, &r->n_probs, err, n) || get_bool(b, "stream", &r->stream, err, n) ||
        get_bool(b, "cache_prompt", &r->cache_prompt, err, n) || parse_sampling(b, r, err, n) ||
        parse_stop(b, r, err, n) || parse_logit_bias(s, b, r, err, n) || parse_penalty_prompt(s, b, r, err, n) ||
        parse_samplers(b, r, err, n) || parse_grammar(b, r, err, n))
        return -1;
    /* OpenAI spellings */
    if (n_predict == -1 && get_int(b, "max_tokens", -1, INT32_MAX, &n_predict, err, n) != 0)
        return -1;
    r->n_predict = (int32_t)n_predict;
    r->sp.n_probs = r->n_probs;
    r->sp.logit_bias = r->bias;
    r->sp.n_logit_bias = r->n_bias;
    r->sp.penalty_prompt = r->penalty_prompt;
    r->sp.n_penalty_prompt = r->n_penalty_prompt;
    const json_t *prompt = json_object_get(b, "prompt");
    if (need_prompt && !prompt)
        return fail(err, n, "'prompt' is required");
    if (prompt) {
        if (parse_prompt(s, prompt, &r->prompt, err, n) != 0)
            return -1;
        r->prompt_json = json_incref((json_t *)prompt);
    }
    r->logit_bias_json = json_array();
    for (size_t i = 0; i < r->n_bias; i++)
        json_array_append_new(r->logit_bias_json,
                              json_pack("[i,o]", r->bias[i].token,
                                        isinf(r->bias[i].bias) ? json_false() : json_real(r->bias[i].bias)));
    return 0;
}

void completion_req_free(struct completion_req *r)
{
    free(r->bias);
    free(r->penalty_prompt);
    free(r->grammar);
    grammar_free(r->sp.grammar);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->stop);
    tok_list_free(&r->prompt);
    json_decref(r->prompt_json);
    json_decref(r->logit_bias_json);
    memset(r, 0, sizeof *r);
}

json_t *generation_settings(struct server *s, const struct completion_req *r, uint32_t seed)
{
    const struct sampler_params *sp = &r->sp;
    json_t *stop = json_array(), *samplers = json_array(), *pp = json_array();
    for (size_t i = 0; i < r->n_stop; i++)
        json_array_append_new(stop, json_text(r->stop[i], strlen(r->stop[i])));
    for (int32_t i = 0; i < sp->n_samplers; i++)
        json_array_append_new(samplers, json_string(sampler_type_name(sp->samplers[i])));
    for (size_t i = 0; i < r->n_penalty_prompt; i++)
        json_array_append_new(pp, json_integer(r->penalty_prompt[i]));
    json_t *g = json_object();
    json_object_set_new(g, "n_ctx", json_integer(s->n_ctx_slot));
    json_object_set_new(g, "n_predict", json_integer(r->n_predict));
    json_object_set_new(g, "model", json_string(s->model_name));
    json_object_set_new(g, "seed", json_integer(seed));
    json_object_set_new(g, "temperature", json_real(sp->temperature));
    json_object_set_new(g, "dynatemp_range", json_real(sp->dynatemp_range));
    json_object_set_new(g, "dynatemp_exponent", json_real(sp->dynatemp_exponent));
    json_object_set_new(g, "top_k", json_integer(sp->top_k));
    json_object_set_new(g, "top_p", json_real(sp->top_p));
    json_object_set_new(g, "min_p", json_real(sp->min_p));
    json_object_set_new(g, "tfs_z", json_real(sp->tfs_z));
    json_object_set_new(g, "typical_p", json_real(sp->typical_p));
    json_object_set_new(g, "repeat_last_n", json_integer(sp->repeat_last_n));
    json_object_set_new(g, "repeat_penalty", json_real(sp->repeat_penalty));
    json_object_set_new(g, "presence_penalty", json_real(sp->presence_penalty));
    json_object_set_new(g, "frequency_penalty", json_real(sp->frequency_penalty));
    json_object_set_new(g, "penalty_prompt_tokens", pp);
    json_object_set_new(g, "use_penalty_prompt_tokens", json_boolean(sp->use_penalty_prompt));
    json_object_set_new(g, "mirostat", json_integer(sp->mirostat));
    json_object_set_new(g, "mirostat_tau", json_real(sp->mirostat_tau));
    json_object_set_new(g, "mirostat_eta", json_real(sp->mirostat_eta));
    json_object_set_new(g, "penalize_nl", json_boolean(sp->penalize_nl));
    json_object_set_new(g, "stop", stop);
    json_object_set_new(g, "n_keep", json_integer(r->n_keep));
    json_object_set_new(g, "ignore_eos", json_boolean(sp->ignore_eos));
    json_object_set_new(g, "stream", json_boolean(r->stream));
    json_object_set_new(g, "logit_bias", r->logit_bias_json ? json_incref(r->logit_bias_json) : json_array());
    json_object_set_new(g, "n_probs", json_integer(r->n_probs));
    json_object_set_new(g, "min_keep", json_integer(sp->min_keep));
    json_object_set_new(g, "grammar", json_string(r->grammar ? r->grammar : ""));
    json_object_set_new(g, "samplers", samplers);
    json_object_set_new(g, "cache_prompt", json_boolean(r->cache_prompt));
    json_object_set_new(g, "id_slot", json_integer(r->id_slot));
    return g;
}
