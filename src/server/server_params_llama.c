/*
 * server_params_llama.c - the llama-server options that server_params.c's
 * own table does not hold (see server_params.h, docs/options.md):
 *   - other spellings of cllm's options (--predict for -n, --embedding...);
 *   - the sampling options, which become the defaults of every request (a
 *     request body kept in server_params.sampling, read by request.c);
 *   - the options that do nothing on a CPU build or in cllm's design
 *     (accepted with a warning, as llama-server does for GPU options);
 *   - the options cllm refuses, each with the reason;
 *   - the LLAMA_ARG_* environment variables.
 * Single-threaded: used while parsing the command line at start-up.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "server/server_params.h"

/* ------------------------------------------------------------ names */

/* "-a,--bb" holds name a as a whole entry. */
static bool names_have(const char *names, const char *a)
{
    size_t n = strlen(a);
    for (const char *s = names; *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && strncmp(s, a, n) == 0)
            return true;
        s += len + (s[len] == ',');
    }
    return false;
}

/* Other spellings of options in server_params.c's table. */
static const char *const ALIASES[][2] = {
    {"--predict", "-n"},          {"--n-predict", "-n"},        {"--embedding", "--embeddings"},
    {"--ui", "--webui"},          {"--no-ui", "--no-webui"},    {"--log-verbose", "-v"},
    {"--gpu-layers", "-ngl"},
};

const char *server_params_llama_alias(const char *a)
{
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (strcmp(a, ALIASES[i][0]) == 0)
            return ALIASES[i][1];
    return a;
}

/* ------------------------------------------------------------ sampling */

enum samp_kind { S_FLOAT, S_INT, S_TRUE, S_TEXT, S_TEXT_FILE, S_SCHEMA, S_SCHEMA_FILE, S_SAMPLERS, S_SEQ, S_BIAS };

struct samp_opt {
    const char *names;
    const char *key; /* the request field */
    enum samp_kind kind;
};

static const struct samp_opt SAMPLING[] = {
    {"--temp,--temperature", "temperature", S_FLOAT},
    {"--top-k", "top_k", S_INT},
    {"--top-p", "top_p", S_FLOAT},
    {"--min-p", "min_p", S_FLOAT},
    {"--typical,--typical-p", "typical_p", S_FLOAT},
    {"--repeat-last-n", "repeat_last_n", S_INT},
    {"--repeat-penalty", "repeat_penalty", S_FLOAT},
    {"--presence-penalty", "presence_penalty", S_FLOAT},
    {"--frequency-penalty", "frequency_penalty", S_FLOAT},
    {"--dynatemp-range", "dynatemp_range", S_FLOAT},
    {"--dynatemp-exp", "dynatemp_exponent", S_FLOAT},
    {"--mirostat", "mirostat", S_INT},
    {"--mirostat-lr", "mirostat_eta", S_FLOAT},
    {"--mirostat-ent", "mirostat_tau", S_FLOAT},
    {"-s,--seed", "seed", S_INT},
    {"--keep", "n_keep", S_INT},
    {"--ignore-eos", "ignore_eos", S_TRUE},
    {"--grammar", "grammar", S_TEXT},
    {"--grammar-file", "grammar", S_TEXT_FILE},
    {"-j,--json-schema", "json_schema", S_SCHEMA},
    {"-jf,--json-schema-file", "json_schema", S_SCHEMA_FILE},
    {"--samplers", "samplers", S_SAMPLERS},
    {"--sampler-seq,--sampling-seq", "samplers", S_SEQ},
    {"-l,--logit-bias", "logit_bias", S_BIAS},
};

/* llama-server's sampler names (and their other spellings) -> cllm's; the
 * ones cllm has no sampler for are no-ops at their default settings
 * (dry multiplier 0, xtc probability 0, top-n-sigma -1...): left out. */
static const char *sampler_name(const char *s)
{
    static const char *const MAP[][2] = {
        {"top_k", "top_k"},       {"top-k", "top_k"},         {"top_p", "top_p"},   {"top-p", "top_p"},
        {"nucleus", "top_p"},     {"typ_p", "typical_p"},     {"typ-p", "typical_p"},
        {"typ", "typical_p"},     {"typical_p", "typical_p"}, {"typical-p", "typical_p"},
        {"typical", "typical_p"}, {"min_p", "min_p"},         {"min-p", "min_p"},
        {"temperature", "temperature"}, {"temp", "temperature"}, {"tfs_z", "tfs_z"},
    };
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
        if (strcmp(s, MAP[i][0]) == 0)
            return MAP[i][1];
    return NULL;
}

static bool sampler_known_noop(const char *s)
{
    static const char *const NOOP[] = {"dry", "xtc", "top_n_sigma", "top-n-sigma", "infill", "penalties",
                                       "adaptive_p"};
    for (size_t i = 0; i < sizeof NOOP / sizeof NOOP[0]; i++)
        if (strcmp(s, NOOP[i]) == 0)
            return true;
    return false;
}

static int parse_samplers(const char *name, const char *v, json_t *arr, char *err, size_t n)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        const char *cl = sampler_name(t);
        if (cl)
            json_array_append_new(arr, json_string(cl));
        else if (!sampler_known_noop(t))
            return err_set(err, n, "%s: '%s' is not a sampler (top_k, typ_p, top_p, min_p, temperature, ...)", name,
                           t);
    }
    return 0;
}

static int parse_seq(const char *name, const char *v, json_t *arr, char *err, size_t n)
{
    for (const char *c = v; *c; c++) {
        const char *cl = *c == 'k' ? "top_k" : *c == 'p' ? "top_p" : *c == 'y' ? "typical_p"
                       : *c == 'm' ? "min_p" : *c == 't' ? "temperature" : NULL;
        if (cl)
            json_array_append_new(arr, json_string(cl));
        else if (!strchr("dxsiea", *c))
            return err_set(err, n, "%s: '%c' is not a sampler letter (k, y, p, m, t, d, x, s, i, e)", name, *c);
    }
    return 0;
}

static int parse_num(const char *name, const char *v, bool integer, double *out, char *err, size_t n)
{
    char *end;
    errno = 0;
    double d = integer ? (double)strtoll(v, &end, 10) : strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d))
        return err_set(err, n, "%s: '%s' is not a %s", name, v, integer ? "whole number" : "number");
    *out = d;
    return 0;
}

/* TOKEN_ID(+/-)BIAS, e.g. 15043+1 or 15043-inf. */
static int parse_bias(const char *name, const char *v, json_t *arr, char *err, size_t n)
{
    char *end;
    long id = strtol(v, &end, 10);
    if (end == v || (*end != '+' && *end != '-') || id < 0)
        return err_set(err, n, "%s: '%s' is not TOKEN_ID(+/-)BIAS", name, v);
    char *e2;
    double b = strtod(end, &e2);
    if (e2 == end || *e2)
        return err_set(err, n, "%s: '%s' is not TOKEN_ID(+/-)BIAS", name, v);
    json_array_append_new(arr, json_pack("[I,o]", (json_int_t)id, isinf(b) && b < 0 ? json_false() : json_real(b)));
    return 0;
}

static json_t *sampling_obj(struct server_params *p)
{
    if (!p->sampling)
        p->sampling = json_object();
    return p->sampling;
}

static json_t *array_member(json_t *o, const char *key, bool fresh)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || fresh) {
        a = json_array();
        json_object_set_new(o, key, a);
    }
    return a;
}

static int set_sampling(struct server_params *p, const struct samp_opt *so, const char *name, const char *v,
                        char *err, size_t n)
{
    json_t *o = sampling_obj(p);
    double d;
    char msg[512];
    char *text;
    json_error_t je;
    json_t *j;
    switch (so->kind) {
    case S_FLOAT:
        if (parse_num(name, v, false, &d, err, n) != 0)
            return -1;
        return json_object_set_new(o, so->key, json_real(d));
    case S_INT:
        if (parse_num(name, v, true, &d, err, n) != 0)
            return -1;
        return json_object_set_new(o, so->key, json_integer((json_int_t)d));
    case S_TRUE:
        return json_object_set_new(o, so->key, json_true());
    case S_TEXT:
        return json_object_set_new(o, so->key, json_string(v)) == 0 ? 0 : err_set(err, n, "%s: not UTF-8", name);
    case S_TEXT_FILE:
        if (!(text = file_read(v, 0, NULL, msg, sizeof msg)))
            return err_set(err, n, "%s: %s", name, msg);
        j = json_string(text);
        free(text);
        if (!j)
            return err_set(err, n, "%s: '%s' is not UTF-8 text", name, v);
        return json_object_set_new(o, so->key, j);
    case S_SCHEMA:
        if (!(j = json_loads(v, JSON_DECODE_ANY, &je)))
            return err_set(err, n, "%s: not JSON: %s", name, je.text);
        return json_object_set_new(o, so->key, j);
    case S_SCHEMA_FILE:
        if (!(j = json_load_file(v, JSON_DECODE_ANY, &je)))
            return err_set(err, n, "%s: '%s': %s", name, v, je.text);
        return json_object_set_new(o, so->key, j);
    case S_SAMPLERS:
        return parse_samplers(name, v, array_member(o, so->key, true), err, n);
    case S_SEQ:
        return parse_seq(name, v, array_member(o, so->key, true), err, n);
    case S_BIAS:
        return parse_bias(name, v, array_member(o, so->key, false), err, n);
    }
    return 0;
}

/* ------------------------------------------------------------ the others */

enum other_kind {
    O_FLAG,       /* accepted, nothing to do (said in why) */
    O_VALUE,      /* accepted with its value, nothing to do */
    O_ONOFF,      /* [on|off|auto], the value optional (the seed's -fa took none) */
    O_REFUSE,     /* refused: why */
    O_REFUSE_VAL, /* refused, takes a value */
    O_EXIT,       /* prints something and exits (--version, --list-devices) */
};

struct other_opt {
    const char *names;
    enum other_kind kind;
    const char *why; /* O_FLAG/O_VALUE/O_ONOFF: a warning, or NULL (silent); O_REFUSE*: the reason */
    const char *noop_value; /* O_REFUSE_VAL: a value that means "off" and is accepted ("0"), or NULL */
};

#define GPU "no effect: cllm is a CPU build"
#define NODL "cllm does not download models: give a local GGUF file with -m"
#define NOMM "cllm has no multimodal (image/audio/video) support"
#define NOSPEC "speculative decoding with this option is not implemented in cllm"
static const struct other_opt OTHERS[] = {
    /* GPU and device placement: warn and go on, as llama-server does on a CPU build */
    {"-fa,--flash-attn", O_ONOFF, NULL, NULL},
    {"-sm,--split-mode", O_VALUE, GPU, NULL},
    {"-dev,--device", O_VALUE, GPU, NULL},
    {"-kvo,--kv-offload,-nkvo,--no-kv-offload", O_FLAG, NULL, NULL},
    {"--no-host", O_FLAG, GPU, NULL},
    {"-ot,--override-tensor", O_VALUE, GPU, NULL},
    {"-cmoe,--cpu-moe", O_FLAG, NULL, NULL},
    {"-ncmoe,--n-cpu-moe", O_VALUE, NULL, NULL},
    {"-ncffn,--n-cpu-ffn", O_VALUE, NULL, NULL},
    {"-fit,--fit", O_VALUE, GPU, NULL},
    {"-fitt,--fit-target", O_VALUE, GPU, NULL},
    {"-fitc,--fit-ctx", O_VALUE, GPU, NULL},
    {"--op-offload,--no-op-offload", O_FLAG, NULL, NULL},
    {"--rpc", O_REFUSE_VAL, "cllm has no RPC backend", NULL},
    {"--repack,-nr,--no-repack", O_FLAG, NULL, NULL},
    {"-bs,--backend-sampling", O_FLAG, GPU, NULL},
    /* CPU placement and scheduling: the OS decides */
    {"-C,--cpu-mask,-Cr,--cpu-range,-Cb,--cpu-mask-batch,-Crb,--cpu-range-batch", O_VALUE,
     "no effect: cllm does not pin threads", NULL},
    {"--cpu-strict,--cpu-strict-batch,--prio,--prio-batch,--poll,--poll-batch", O_VALUE, NULL, NULL},
    /* cache and memory: cllm's paged cache needs none of these */
    {"--kv-unified-per-slot", O_VALUE, NULL, NULL},
    {"--swa-full", O_FLAG, NULL, NULL},
    {"-ctxcp,--ctx-checkpoints,--swa-checkpoints", O_VALUE, NULL, NULL},
    {"-cms,--checkpoint-min-step", O_VALUE, NULL, NULL},
    {"-cram,--cache-ram", O_VALUE, NULL, NULL},
    {"--cache-idle-slots,--no-cache-idle-slots", O_FLAG, NULL, NULL},
    {"-lm,--load-mode", O_VALUE, NULL, NULL},
    {"-lzm,--lazy-mode", O_VALUE, NULL, NULL},
    {"--check-tensors", O_FLAG, NULL, NULL},
    {"--cache-prompt,--no-cache-prompt", O_FLAG, NULL, NULL},
    {"-sps,--slot-prompt-similarity", O_VALUE, NULL, NULL},
    {"--warmup,--no-warmup", O_FLAG, NULL, NULL},
    {"--perf,--no-perf", O_FLAG, NULL, NULL},
    {"-sp,--special", O_FLAG, NULL, NULL},
    {"-e,--escape,--no-escape", O_FLAG, NULL, NULL},
    {"-r,--reverse-prompt", O_VALUE, "no effect in the server (send 'stop' in the request)", NULL},
    {"-lcs,--lookup-cache-static,-lcd,--lookup-cache-dynamic", O_VALUE, NULL, NULL},
    /* HTTP and logging details */
    {"--reuse-port", O_FLAG, NULL, NULL},
    {"--sse-ping-interval", O_VALUE, NULL, NULL},
    {"--sleep-idle-seconds", O_VALUE, NULL, NULL},
    {"--offline", O_FLAG, NULL, NULL},
    {"--tags", O_VALUE, NULL, NULL},
    {"--embd-normalize", O_VALUE, NULL, NULL},
    {"--log-file", O_VALUE, "no effect: cllm logs to stderr", NULL},
    {"--log-colors", O_VALUE, NULL, NULL},
    {"--log-prefix,--no-log-prefix,--log-timestamps,--no-log-timestamps,--log-jsonl,--no-log-jsonl", O_FLAG,
     NULL, NULL},
    {"--log-prompts-dir", O_VALUE, "no effect: use -v to log requests", NULL},
    {"-lv,--verbosity,--log-verbosity", O_VALUE, NULL, NULL},
    {"--ui-config,--webui-config,--ui-config-file,--webui-config-file", O_VALUE, NULL, NULL},
    {"--ui-mcp-proxy,--webui-mcp-proxy,--no-ui-mcp-proxy,--no-webui-mcp-proxy", O_FLAG, NULL, NULL},
    {"--no-mmproj,--no-mmproj-auto,--mmproj-auto,--mmproj-offload,--no-mmproj-offload", O_FLAG, NULL, NULL},
    /* chat output parsing: cllm returns the text as generated */
    {"--reasoning-format", O_VALUE, NULL, NULL},
    {"-rea,--reasoning", O_VALUE, NULL, NULL},
    {"--reasoning-effort", O_VALUE, NULL, NULL},
    {"--reasoning-budget", O_VALUE, NULL, NULL},
    {"--reasoning-budget-message", O_VALUE, NULL, NULL},
    {"--reasoning-preserve,--no-reasoning-preserve", O_FLAG, NULL, NULL},
    {"--skip-chat-parsing,--no-skip-chat-parsing", O_FLAG, NULL, NULL},
    {"--lora-init-without-apply", O_FLAG, NULL, NULL},
    /* samplers cllm does not have: accepted when off */
    {"--xtc-probability", O_REFUSE_VAL, "cllm has no XTC sampler", "0"},
    {"--xtc-threshold", O_VALUE, NULL, NULL},
    {"--top-nsigma,--top-n-sigma", O_REFUSE_VAL, "cllm has no top-n-sigma sampler", "-1"},
    {"--dry-multiplier", O_REFUSE_VAL, "cllm has no DRY sampler", "0"},
    {"--dry-base,--dry-allowed-length,--dry-penalty-last-n,--dry-sequence-breaker", O_VALUE, NULL, NULL},
    {"--adaptive-target", O_REFUSE_VAL, "cllm has no adaptive-p sampler", "-1"},
    {"--adaptive-decay", O_VALUE, NULL, NULL},
    /* exits */
    {"--version", O_EXIT, NULL, NULL},
    {"--list-devices", O_EXIT, NULL, NULL},
    /* refused */
    {"-cl,--cache-list", O_REFUSE, NODL, NULL},
    {"--completion-bash", O_REFUSE, "no shell completion script", NULL},
    {"-mu,--model-url,-dr,--docker-repo,-hf,-hfr,--hf-repo,-hff,--hf-file,-hft,--hf-token", O_REFUSE_VAL, NODL, NULL},
    {"--embd-gemma-default,--fim-qwen-1.5b-default,--fim-qwen-3b-default,--fim-qwen-7b-default,"
     "--fim-qwen-7b-spec,--fim-qwen-14b-spec,--fim-qwen-30b-default,--gpt-oss-20b-default,"
     "--gpt-oss-120b-default,--vision-gemma-4b-default,--vision-gemma-12b-default,--spec-default",
     O_REFUSE, NODL, NULL},
    {"-mm,--mmproj,-mmu,--mmproj-url,--image-min-tokens,--image-max-tokens,--mtmd-batch-max-tokens,"
     "--video-fps,--video-timestamp-interval,--video-ffmpeg-dir,--media-path", O_REFUSE_VAL, NOMM, NULL},
    {"--lora,--lora-scaled,--lora-base", O_REFUSE_VAL, "cllm does not apply LoRA adapters", NULL},
    {"--control-vector,--control-vector-scaled", O_REFUSE_VAL, "cllm does not apply control vectors", NULL},
    {"--control-vector-layer-range", O_REFUSE, "cllm does not apply control vectors", NULL},
    {"--override-kv", O_REFUSE_VAL, "cllm reads GGUF metadata as it is", NULL},
    {"--rope-scaling,--rope-scale,--rope-freq-base,--rope-freq-scale,--yarn-orig-ctx,--yarn-ext-factor,"
     "--yarn-attn-factor,--yarn-beta-slow,--yarn-beta-fast", O_REFUSE_VAL,
     "cllm uses the model's own RoPE settings (no context extension)", NULL},
    {"--grp-attn-n,--grp-attn-w", O_REFUSE_VAL, "cllm has no self-extend (group attention)", NULL},
    {"--rerank,--reranking", O_REFUSE, "cllm has no reranking endpoint", NULL},
    {"--api-prefix", O_REFUSE_VAL, "cllm serves its routes at the root only", NULL},
    {"--models-dir,--models-preset,--models-max", O_REFUSE_VAL, "cllm serves one model (no router mode)", NULL},
    {"--models-autoload,--no-models-autoload", O_REFUSE, "cllm serves one model (no router mode)", NULL},
    {"--tools,--tools-runtime,--mcp-servers-config,--mcp-servers-json", O_REFUSE_VAL,
     "cllm runs no built-in tools or MCP servers", NULL},
    {"-ag,--agent,-no-ag,--no-agent", O_REFUSE, "cllm runs no built-in agent", NULL},
    {"--spec-draft-hf,-hfd,-hfrd,--hf-repo-draft", O_REFUSE_VAL, NODL, NULL},
    {"--spec-draft-threads,-td,--threads-draft,--spec-draft-threads-batch,-tbd,--threads-batch-draft,"
     "--spec-draft-cpu-mask,-Cd,--cpu-mask-draft,--spec-draft-cpu-range,-Crd,--cpu-range-draft,"
     "--spec-draft-cpu-strict,--cpu-strict-draft,--spec-draft-prio,--prio-draft,--spec-draft-poll,--poll-draft,"
     "--spec-draft-cpu-mask-batch,-Cbd,--cpu-mask-batch-draft,--spec-draft-cpu-strict-batch,"
     "--cpu-strict-batch-draft,--spec-draft-prio-batch,--prio-batch-draft,--spec-draft-poll-batch,"
     "--poll-batch-draft,--spec-draft-type-k,-ctkd,--cache-type-k-draft,--spec-draft-type-v,-ctvd,"
     "--cache-type-v-draft,--spec-draft-override-tensor,-otd,--override-tensor-draft,"
     "--spec-draft-n-cpu-moe,--spec-draft-ncmoe,-ncmoed,--n-cpu-moe-draft,--spec-draft-device,-devd,"
     "--device-draft,--spec-draft-ngl,-ngld,--gpu-layers-draft,--n-gpu-layers-draft",
     O_VALUE, NULL, NULL},
    {"--spec-draft-cpu-moe,-cmoed,--cpu-moe-draft", O_FLAG, NULL, NULL},
    {"--spec-draft-backend-sampling,--no-spec-draft-backend-sampling", O_FLAG, NULL, NULL},
    /* --spec-type, --spec-draft-n-max/-n-min/-p-min and --spec-ngram-simple-size-n: server_params.c */
    {"--spec-draft-model,-md,--model-draft,--spec-synth-len,"
     "--spec-synth-rates,--spec-draft-p-split,--draft-p-split,"
     "--spec-ngram-mod-n-min,--spec-ngram-mod-n-max,--spec-ngram-mod-n-match,"
     "--spec-ngram-simple-size-m,--spec-ngram-simple-min-hits,--spec-ngram-map-k-size-n,"
     "--spec-ngram-map-k-size-m,--spec-ngram-map-k-min-hits,--spec-ngram-map-k4v-size-n,"
     "--spec-ngram-map-k4v-size-m,--spec-ngram-map-k4v-min-hits",
     O_REFUSE_VAL, NOSPEC, NULL},
    {"--draft,--draft-n,--draft-n-min,--spec-ngram-size-n,--spec-ngram-size-m,"
     "--spec-ngram-min-hits", O_REFUSE_VAL, "removed from llama-server too (see its --spec-* options)", NULL},
};

static const struct samp_opt *find_sampling(const char *a)
{
    for (size_t i = 0; i < sizeof SAMPLING / sizeof SAMPLING[0]; i++)
        if (names_have(SAMPLING[i].names, a))
            return &SAMPLING[i];
    return NULL;
}

static const struct other_opt *find_other(const char *a)
{
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++)
        if (names_have(OTHERS[i].names, a))
            return &OTHERS[i];
    return NULL;
}

static bool is_onoff(const char *v)
{
    static const char *const W[] = {"on", "off", "auto", "enabled", "disabled", "true", "false", "1", "0"};
    for (size_t i = 0; v && i < sizeof W / sizeof W[0]; i++)
        if (strcmp(v, W[i]) == 0)
            return true;
    return false;
}

int server_params_llama_option(struct server_params *p, const char *a, int argc, char **argv, int *i,
                               const char *env_value, char *err, size_t n)
{
    /* a few with state of their own */
    bool on = strncmp(a, "--no-", 4) != 0;
    if (strcmp(a, "--context-shift") == 0 || strcmp(a, "--no-context-shift") == 0) {
        p->context_shift = env_value ? server_params_env_bool(env_value) : on;
        return 1;
    }
    if (strcmp(a, "--props") == 0) {
        p->endpoint_props = env_value ? server_params_env_bool(env_value) : true;
        return 1;
    }
    if (strcmp(a, "--jinja") == 0 || strcmp(a, "--no-jinja") == 0) {
        p->jinja = env_value ? server_params_env_bool(env_value) : on;
        return 1;
    }
    const char *v = env_value;
    const struct samp_opt *so = find_sampling(a);
    if (so) {
        if (so->kind == S_TRUE)
            return env_value && !server_params_env_bool(env_value) ? 1 : (set_sampling(p, so, a, "", err, n), 1);
        if (!v && (*i + 1 >= argc || !(v = argv[++*i])))
            return err_set(err, n, "%s needs a value", a);
        return set_sampling(p, so, a, v, err, n) == 0 ? 1 : -1;
    }
    if (strcmp(a, "--slots") == 0 || strcmp(a, "--no-slots") == 0) {
        p->slots_endpoint = env_value ? server_params_env_bool(env_value) : on;
        return 1;
    }
    if (names_have("-kvu,--kv-unified,-no-kvu,--no-kv-unified", a)) {
        p->kv_unified = env_value ? server_params_env_bool(env_value) : strstr(a, "no-") == NULL;
        return 1;
    }
    if (names_have("--cors-origins,--cors-methods,--cors-headers", a)) {
        if (!v && (*i + 1 >= argc || !(v = argv[++*i])))
            return err_set(err, n, "%s needs a value", a);
        *(a[7] == 'o' ? &p->cors_origins : a[7] == 'm' ? &p->cors_methods : &p->cors_headers) = v;
        return 1;
    }
    if (strcmp(a, "--cors-credentials") == 0 || strcmp(a, "--no-cors-credentials") == 0) {
        p->cors_no_credentials = !(env_value ? server_params_env_bool(env_value) : on);
        return 1;
    }
    if (strcmp(a, "--chat-template-kwargs") == 0) {
        if (!v && (*i + 1 >= argc || !(v = argv[++*i])))
            return err_set(err, n, "%s needs a value", a);
        json_error_t je;
        json_t *j = json_loads(v, 0, &je);
        if (!json_is_object(j)) {
            json_decref(j);
            return err_set(err, n, "%s: not a JSON object: %s", a, v);
        }
        json_decref(p->chat_template_kwargs);
        p->chat_template_kwargs = j;
        return 1;
    }
    if (strcmp(a, "--prefill-assistant") == 0 || strcmp(a, "--no-prefill-assistant") == 0) {
        p->no_prefill_assistant = !(env_value ? server_params_env_bool(env_value) : on);
        return 1;
    }
    if (strcmp(a, "--cache-reuse") == 0) {
        double d;
        if (!v && (*i + 1 >= argc || !(v = argv[++*i])))
            return err_set(err, n, "%s needs a value", a);
        if (parse_num(a, v, true, &d, err, n) != 0)
            return -1;
        p->cache_reuse = (int32_t)d;
        return 1;
    }
    const struct other_opt *o = find_other(a);
    if (!o)
        return 0;
    switch (o->kind) {
    case O_FLAG:
        break;
    case O_ONOFF:
        if (!v && *i + 1 < argc && is_onoff(argv[*i + 1]))
            v = argv[++*i];
        break;
    case O_VALUE:
    case O_REFUSE_VAL:
        if (!v && (*i + 1 >= argc || !(v = argv[++*i])))
            return err_set(err, n, "%s needs a value", a);
        if (o->kind == O_REFUSE_VAL && !(o->noop_value && strtod(v, NULL) == strtod(o->noop_value, NULL)))
            return err_set(err, n, "%s is not supported by cllm-server: %s", a, o->why);
        break;
    case O_REFUSE:
        return err_set(err, n, "%s is not supported by cllm-server: %s", a, o->why);
    case O_EXIT:
        if (strcmp(a, "--version") == 0)
            printf("cllm-server (llama-server compatible)\n");
        else
            printf("Available devices:\n  CPU\n");
        return 2;
    }
    if (o->kind != O_REFUSE_VAL) /* never silently: say the option does nothing here */
        fprintf(stderr, "warning: %s: %s\n", a, o->why ? o->why : "accepted for llama-server compatibility; no effect in cllm");
    return 1;
}

bool server_params_env_bool(const char *v)
{
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "enabled") == 0 ||
           strcmp(v, "yes") == 0;
}

/* ------------------------------------------------------------ environment */

/* LLAMA_ARG_* (and llama-server's other variables) -> the option they set. */
static const char *const ENVS[][2] = {
    {"LLAMA_ARG_THREADS", "-t"},          {"LLAMA_ARG_CTX_SIZE", "-c"},
    {"LLAMA_ARG_N_PREDICT", "-n"},        {"LLAMA_ARG_BATCH", "-b"},
    {"LLAMA_ARG_UBATCH", "-ub"},          {"LLAMA_ARG_CONTEXT_SHIFT", "--context-shift"},
    {"LLAMA_ARG_FLASH_ATTN", "-fa"},      {"LLAMA_ARG_TEMPERATURE", "--temp"},
    {"LLAMA_ARG_TOP_K", "--top-k"},       {"LLAMA_ARG_TOP_P", "--top-p"},
    {"LLAMA_ARG_MIN_P", "--min-p"},       {"LLAMA_ARG_REPEAT_PENALTY", "--repeat-penalty"},
    {"LLAMA_ARG_PRESENCE_PENALTY", "--presence-penalty"},
    {"LLAMA_ARG_FREQUENCY_PENALTY", "--frequency-penalty"},
    {"LLAMA_ARG_POOLING", "--pooling"},   {"LLAMA_ARG_CACHE_TYPE_K", "-ctk"},
    {"LLAMA_ARG_CACHE_TYPE_V", "-ctv"},   {"LLAMA_ARG_DEFRAG_THOLD", "-dt"},
    {"LLAMA_ARG_N_PARALLEL", "-np"},      {"LLAMA_ARG_CONT_BATCHING", "-cb"},
    {"LLAMA_ARG_NUMA", "--numa"},         {"LLAMA_ARG_N_GPU_LAYERS", "-ngl"},
    {"LLAMA_ARG_MAIN_GPU", "-mg"},        {"LLAMA_ARG_TENSOR_SPLIT", "-ts"},
    {"LLAMA_ARG_ALIAS", "-a"},            {"LLAMA_ARG_MODEL", "-m"},
    {"LLAMA_ARG_HOST", "--host"},         {"LLAMA_ARG_PORT", "--port"},
    {"LLAMA_ARG_STATIC_PATH", "--path"},  {"LLAMA_ARG_UI", "--webui"},
    {"LLAMA_ARG_EMBEDDINGS", "--embeddings"}, {"LLAMA_API_KEY", "--api-key"},
    {"LLAMA_ARG_API_KEY_FILE", "--api-key-file"}, {"LLAMA_ARG_SSL_KEY_FILE", "--ssl-key-file"},
    {"LLAMA_ARG_SSL_CERT_FILE", "--ssl-cert-file"}, {"LLAMA_ARG_TIMEOUT", "-to"},
    {"LLAMA_ARG_THREADS_HTTP", "--threads-http"}, {"LLAMA_ARG_CACHE_REUSE", "--cache-reuse"},
    {"LLAMA_ARG_ENDPOINT_METRICS", "--metrics"}, {"LLAMA_ARG_ENDPOINT_PROPS", "--props"},
    {"LLAMA_ARG_ENDPOINT_SLOTS", "--slots"}, {"LLAMA_ARG_JINJA", "--jinja"},
    {"LLAMA_ARG_CHAT_TEMPLATE", "--chat-template"}, {"LLAMA_ARG_CHAT_TEMPLATE_FILE", "--chat-template-file"},
    {"LLAMA_ARG_OFFLINE", "--offline"},   {"LLAMA_ARG_KV_UNIFIED", "-kvu"},
    {"LLAMA_ARG_CHAT_TEMPLATE_KWARGS", "--chat-template-kwargs"}, {"LLAMA_ARG_PREFILL_ASSISTANT", "--prefill-assistant"}, {"LLAMA_ARG_CORS_ORIGINS", "--cors-origins"}, {"LLAMA_ARG_CORS_METHODS", "--cors-methods"},
    {"LLAMA_ARG_CORS_HEADERS", "--cors-headers"}, {"LLAMA_ARG_CORS_CREDENTIALS", "--cors-credentials"},
    {"LLAMA_ARG_SPEC_TYPE", "--spec-type"}, {"LLAMA_ARG_SPEC_DRAFT_N_MAX", "--spec-draft-n-max"},
    {"LLAMA_ARG_SPEC_DRAFT_N_MIN", "--spec-draft-n-min"}, {"LLAMA_ARG_SPEC_DRAFT_P_MIN", "--spec-draft-p-min"},
    {"LLAMA_ARG_DRAFT_MAX", "--draft-max"}, {"LLAMA_ARG_DRAFT_MIN", "--draft-min"},
};

const char *server_params_llama_env(size_t k, const char **option)
{
    if (k >= sizeof ENVS / sizeof ENVS[0])
        return NULL;
    *option = ENVS[k][1];
    return ENVS[k][0];
}

/* ------------------------------------------------------------ --help */

void server_params_llama_usage(FILE *f)
{
    fprintf(f, "\nllama-server options (see docs/options.md):\n");
    fprintf(f, "  %-32s %s\n", "--predict, --n-predict N", "same as -n");
    fprintf(f, "  %-32s %s\n", "--embedding", "same as --embeddings");
    fprintf(f, "  %-32s %s\n", "--ui, --no-ui", "same as --webui, --no-webui");
    fprintf(f, "  %-32s %s\n", "--slots, --no-slots", "/slots on (default) or off");
    fprintf(f, "  %-32s %s\n", "--no-jinja", "built-in templates only (default)");
    fprintf(f, "  %-32s %s\n", "--context-shift", "a full slot drops half its tokens after n_keep (default)");
    fprintf(f, "  %-32s %s\n", "--no-context-shift",
            "a full slot ends its generation; a prompt longer than the slot is an error");
    fprintf(f, "  %-32s %s\n", "--props", "POST /props allowed (it changes nothing)");
    fprintf(f, "  %-32s %s\n", "--cache-reuse N, -kvu", "accepted (the cache reuses whole prefixes, always shared)");
    fprintf(f, "  %-32s %s\n", "-fa [on|off|auto]", "accepted (attention is computed the one way)");
    fprintf(f, "  %-32s %s\n", "--cors-origins ORIGINS", "'*' (default: any, the Origin echoed), 'localhost', or one origin");
    fprintf(f, "  %-32s %s\n", "--cors-methods METHODS", "preflight's allowed methods (default: GET, POST, DELETE, OPTIONS)");
    fprintf(f, "  %-32s %s\n", "--cors-headers HEADERS", "preflight's allowed headers (default: those asked for)");
    fprintf(f, "  %-32s %s\n", "--[no-]cors-credentials", "credentials allowed (default: on)");
    fprintf(f, "\n  Request defaults (every request starts from these; its own fields win):\n");
    for (size_t i = 0; i < sizeof SAMPLING / sizeof SAMPLING[0]; i++)
        fprintf(f, "  %-32s %s\n", SAMPLING[i].names, SAMPLING[i].key);
    fprintf(f, "\n  Accepted with no effect (a warning where llama-server would do something):\n");
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++)
        if (OTHERS[i].kind == O_FLAG || OTHERS[i].kind == O_VALUE || OTHERS[i].kind == O_ONOFF)
            fprintf(f, "  %s\n", OTHERS[i].names);
    fprintf(f, "\n  Refused (the reason is printed):\n");
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++)
        if (OTHERS[i].kind == O_REFUSE || OTHERS[i].kind == O_REFUSE_VAL)
            fprintf(f, "  %s: %s\n", OTHERS[i].names, OTHERS[i].why);
    fprintf(f, "\n  Environment: LLAMA_ARG_* as llama-server reads them (the command line wins).\n");
}
