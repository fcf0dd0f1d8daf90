/*
 * server_params_llama.c - the llama-server options that server_params.c's
 * own table does not hold (see server_params.h, docs/options.md):
 *   - other spellings of cllm's options (--predict for -n, --embedding...);
 *   - the sampling options, which become the defaults of every request (a
 *     request body kept in server_params.sampling, read by request.c);
 *   - llama-server's other options that work in cllm (WORKING: cache,
 *     slots, listening, logging, embeddings...), set into server_params;
 *   - the options that are moot in cllm (a GPU option on a CPU build, thread
 *     pinning...): accepted with a warning that says why;
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
#include "sample/sampler.h"
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

enum samp_kind { S_FLOAT, S_INT, S_TRUE, S_TEXT, S_TEXT_FILE, S_SCHEMA, S_SCHEMA_FILE, S_SAMPLERS, S_SEQ, S_BIAS,
                  S_BREAKER };

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
    {"--dry-multiplier", "dry_multiplier", S_FLOAT},
    {"--dry-base", "dry_base", S_FLOAT},
    {"--dry-allowed-length", "dry_allowed_length", S_INT},
    {"--dry-penalty-last-n", "dry_penalty_last_n", S_INT},
    {"--dry-sequence-breaker", "dry_sequence_breakers", S_BREAKER},
    {"--xtc-probability", "xtc_probability", S_FLOAT},
    {"--xtc-threshold", "xtc_threshold", S_FLOAT},
    {"--top-nsigma,--top-n-sigma", "top_n_sigma", S_FLOAT},
};

/* llama-server's sampler names (and their other spellings) -> cllm's; the
 * ones cllm has no sampler for are no-ops at their default settings
 * (penalties always run first in cllm; infill, adaptive-p): left out. */
static const char *sampler_name(const char *s)
{
    int t = sampler_type_from_name(s);
    return t >= 0 ? sampler_type_name((enum sampler_type)t) : NULL;
}

static bool sampler_known_noop(const char *s)
{
    static const char *const NOOP[] = {"infill", "penalties", "adaptive_p", "adaptive-p", "adaptivep"};
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
            return err_set(err, n, "%s: '%s' is not a sampler (dry, top_n_sigma, top_k, typ_p, top_p, min_p, xtc, "
                           "temperature, ...)", name,
                           t);
    }
    return 0;
}

static int parse_seq(const char *name, const char *v, json_t *arr, char *err, size_t n)
{
    for (const char *c = v; *c; c++) {
        int t = sampler_type_from_char(*c);
        if (t >= 0)
            json_array_append_new(arr, json_string(sampler_type_name((enum sampler_type)t)));
        else if (!strchr("iea", *c))
            return err_set(err, n, "%s: '%c' is not a sampler letter (d, s, k, y, p, m, x, t, i, e, a)", name, *c);
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
        if ((strcmp(so->key, "dry_penalty_last_n") == 0 && d < -1) || (strcmp(so->key, "dry_allowed_length") == 0 && d < 0))
            return err_set(err, n, "%s: '%s' is out of range (at least %d)", name, v,
                           strcmp(so->key, "dry_allowed_length") == 0 ? 0 : -1);
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
    case S_BREAKER: /* the first one replaces the defaults; "none": no breakers */
        j = array_member(o, so->key, json_object_get(o, so->key) == NULL);
        if (strcmp(v, "none") == 0)
            return json_array_clear(j);
        return json_array_append_new(j, json_string(v)) == 0 ? 0 : err_set(err, n, "%s: not UTF-8", name);
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
#define GPU_RAM "no effect: cllm is a CPU build (every weight is in RAM)"
#define NOPIN "no effect: cllm does not pin threads to CPUs (the OS places them)"
#define ONEPOOL "no effect: cllm's compute threads are the same for prompts and generation (see --prio, -t)"
#define NODRAFT "no effect: cllm loads no draft model (--spec-draft-model is refused)"
#define NODL "cllm does not download models: give a local GGUF file with -m"
#define NOMM "cllm has no multimodal (image/audio/video) support"
#define NOSPEC "speculative decoding with this option is not implemented in cllm"
static const struct other_opt OTHERS[] = {
    /* GPU and device placement: warn and go on, as llama-server does on a CPU build */
    {"-fa,--flash-attn", O_ONOFF, "no effect: cllm computes attention one way (there is no separate flash-attention kernel to choose); "
     "the results do not depend on it", NULL},
    {"-sm,--split-mode", O_VALUE, GPU, NULL},
    {"-dev,--device", O_VALUE, GPU, NULL},
    {"-kvo,--kv-offload,-nkvo,--no-kv-offload", O_FLAG, "no effect: cllm is a CPU build (the KV cache is in RAM)",
     NULL},
    {"--no-host", O_FLAG, GPU, NULL},
    {"-ot,--override-tensor", O_VALUE, GPU, NULL},
    {"-cmoe,--cpu-moe", O_FLAG, GPU_RAM, NULL},
    {"-ncmoe,--n-cpu-moe", O_VALUE, GPU_RAM, NULL},
    {"-ncffn,--n-cpu-ffn", O_VALUE, GPU_RAM, NULL},
    {"-fit,--fit", O_VALUE, GPU, NULL},
    {"-fitt,--fit-target", O_VALUE, GPU, NULL},
    {"-fitc,--fit-ctx", O_VALUE, GPU, NULL},
    {"--op-offload,--no-op-offload", O_FLAG, "no effect: cllm is a CPU build (no device to offload to)", NULL},
    {"--rpc", O_REFUSE_VAL, "cllm has no RPC backend", NULL},
    {"--repack,-nr,--no-repack", O_FLAG, "no effect: cllm computes on the weights as the GGUF file stores them "
     "(there are no repacked CPU buffers to turn on or off)", NULL},
    {"-bs,--backend-sampling", O_FLAG, GPU, NULL},
    /* CPU placement and scheduling */
    {"-C,--cpu-mask,-Cr,--cpu-range,-Cb,--cpu-mask-batch,-Crb,--cpu-range-batch", O_VALUE, NOPIN, NULL},
    {"--cpu-strict,--cpu-strict-batch", O_VALUE, NOPIN, NULL},
    {"--poll,--poll-batch", O_VALUE, "no effect: cllm's compute threads spin briefly between the steps of a "
     "decode and sleep between decodes, with no polling level to set", NULL},
    {"--prio-batch", O_VALUE, ONEPOOL, NULL},
    /* cache and memory */
    {"-ctxcp,--ctx-checkpoints,--swa-checkpoints,-cms,--checkpoint-min-step", O_VALUE,
     "no effect: cllm keeps no context checkpoints (a cached prompt whose sliding-window keys were dropped is "
     "evaluated again; --swa-full keeps them all)", NULL},
    {"-cram,--cache-ram", O_REFUSE_VAL, "cllm keeps no host-memory prompt cache beyond the slots' own KV cache "
     "(-cram 0, no cache, is accepted)", "0"},
    {"--cache-idle-slots,--no-cache-idle-slots", O_FLAG, "no effect: an idle slot keeps its tokens in cllm's KV "
     "cache until its room is needed (there is no separate host-RAM prompt cache to save it to)", NULL},
    {"-lzm,--lazy-mode", O_VALUE, "no effect: cllm maps the model file and the OS reads a tensor's rows when "
     "first used (with --no-mmap everything is read at load)", NULL},
    {"--perf,--no-perf", O_FLAG, "no effect: cllm always measures its timings (the timings field of every "
     "answer, /metrics); llama-server's --perf switches libllama's internal counters", NULL},
    {"-lcs,--lookup-cache-static,-lcd,--lookup-cache-dynamic", O_VALUE, "no effect: llama-server reads these "
     "files only for --spec-type ngram-cache, which cllm does not have (see --spec-type)", NULL},
    /* HTTP and logging details */
    {"--offline", O_FLAG, "no effect: cllm never downloads anything", NULL},
    {"--ui-mcp-proxy,--webui-mcp-proxy", O_REFUSE, "cllm has no MCP CORS proxy route", NULL},
    {"--no-ui-mcp-proxy,--no-webui-mcp-proxy", O_FLAG, "no effect: cllm has no MCP CORS proxy (off, as asked)",
     NULL},
    {"--no-mmproj,--no-mmproj-auto,--mmproj-auto", O_FLAG, "no effect: " NOMM " (no projector to use or skip)",
     NULL},
    {"--mmproj-offload,--no-mmproj-offload", O_FLAG, "no effect: " NOMM " and is a CPU build", NULL},
    /* chat output parsing: cllm returns the text as generated */
    {"--lora-init-without-apply", O_FLAG, "no effect: cllm loads no LoRA adapters (--lora is refused)", NULL},
    /* samplers cllm does not have: accepted when off */
    {"--adaptive-target", O_REFUSE_VAL, "cllm has no adaptive-p sampler", "-1"},
    {"--adaptive-decay", O_VALUE, "no effect: used only by the adaptive-p sampler (--adaptive-target), which "
     "cllm does not have", NULL},
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
     O_VALUE, NODRAFT, NULL},
    {"--spec-draft-cpu-moe,-cmoed,--cpu-moe-draft", O_FLAG, NODRAFT, NULL},
    {"--spec-draft-backend-sampling,--no-spec-draft-backend-sampling", O_FLAG, NODRAFT, NULL},
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

/* ------------------------------------------------------------ the ones that work */

struct work_opt {
    const char *names;
    const char *value; /* the value's name in --help; NULL: a flag */
    const char *help;
};

/* llama-server options handled below, for --help (and docs/options.md). */
static const struct work_opt WORKING[] = {
    {"--cache-prompt,--no-cache-prompt", NULL, "the default of a request's cache_prompt (cllm's default: off, as the seed)"},
    {"--cache-reuse", "N", "after the common prefix, cached chunks of at least N tokens that the new prompt repeats "
     "are kept by shifting them in the KV cache (0: off)"},
    {"-sps,--slot-prompt-similarity", "F", "a slot is chosen for its cached prompt only when the common prefix is more "
     "than F of the new prompt, else the least recently used (default 0.1; 0: always the least recently used)"},
    {"--warmup,--no-warmup", NULL, "one decode before serving, to page the weights in (default on)"},
    {"--swa-full", NULL, "sliding-window layers (gemma 3) keep every position in the KV cache; by default they keep "
     "their window + one batch per slot, and a cached prompt whose dropped keys are needed is evaluated again"},
    {"--sse-ping-interval", "N", "an SSE stream silent for N seconds gets the comment \":\\n\\n\" (default 30; <= 0: none)"},
    {"--reuse-port", NULL, "SO_REUSEPORT on the listening sockets"},
    {"--embd-normalize", "N", "embedding normalisation: -1 none, 0 max-abs to int16, 1 taxicab, 2 euclidean (default), "
     ">2 p-norm; a request's embd_normalize wins"},
    {"-r,--reverse-prompt", "PROMPT", "a default stop string of every request (repeatable; a request's own stop wins)"},
    {"-e,--escape,--no-escape", NULL, "\\n, \\r, \\t, \\', \\\", \\\\ and \\xHH in -r strings are processed (default on)"},
    {"-sp,--special", NULL, "special (control) tokens' text is part of the generated text"},
    {"--check-tensors", NULL, "the weights are scanned for NaN and Inf when the model loads (a bad one: exit)"},
    {"-lm,--load-mode", "MODE", "auto/mmap: map the file; none/dio: read it into memory; mlock, mmap+mlock: and lock it"},
    {"--kv-unified-per-slot", "N", "each slot holds at most N tokens; without -c, the context is -np x N"},
    {"--sleep-idle-seconds", "SECONDS", "after SECONDS with no work the server sleeps: the model's weights are "
     "released from memory (read again from the file by the next request; the KV cache stays), /props shows "
     "is_sleeping; /health, /props, /metrics and /v1/models do not wake it (default -1: never)"},
    {"--prio", "N", "process priority: -1 low, 0 normal, 1 medium, 2 high, 3 realtime (nice 5, 0, -5, -10, -20)"},
    {"-lv,--verbosity,--log-verbosity", "N", "log lines above this level are dropped: 1 errors, 2 warnings, 3 info "
     "(default)"},
    {"--log-file", "FNAME", "every log line also goes to this file"},
    {"--log-jsonl,--no-log-jsonl", NULL, "same as --log-format json / text"},
    {"--log-timestamps,--no-log-timestamps", NULL, "text log lines start with the time (JSON lines always have it)"},
    {"--log-prefix,--no-log-prefix", NULL, "text log lines show their level (default on; JSON lines always do)"},
    {"--log-colors", "[on|off|auto]", "text log levels in color (auto: when stdout is a terminal)"},
    {"--log-prompts-dir", "PATH", "each completion request's prompt is written to PATH/<ms>.txt"},
    {"--tags", "STRING", "model tags, comma-separated: /v1/models shows them"},
    {"--ui-config,--webui-config", "JSON", "/props ui_settings (the web UI's default settings)"},
    {"--ui-config-file,--webui-config-file", "PATH", "the same from a file"},
    {"--reasoning-format", "FORMAT", "thoughts in the answer: none (left in content), deepseek or auto (the default: "
     "moved to reasoning_content, see docs/tools.md); deepseek-legacy is refused"},
    {"-rea,--reasoning", "[on|off|auto]", "on/off: the templates' enable_thinking variable true/false (auto: the "
     "template's own default)"},
    {"--reasoning-effort", "LEVEL", "the templates' reasoning_effort variable (default: unset)"},
    {"--reasoning-budget", "N", "-1: thoughts unrestricted; 0: none (enable_thinking false, and a thought the "
     "generation prompt opened is closed at once); other budgets are refused"},
    {"--reasoning-preserve,--no-reasoning-preserve", NULL, "the templates' preserve_reasoning variable (default true)"},
    {"--skip-chat-parsing,--no-skip-chat-parsing", NULL, "the answer is not split into content, reasoning and tool "
     "calls: all of it is content (grammars still apply)"},
    {"-kvu,--kv-unified,-no-kvu,--no-kv-unified", NULL, "cllm's paged KV cache is always one pool shared by the slots, "
     "each slot holding -c/-np tokens as with -no-kvu (-kvu warns: one slot cannot fill the whole context)"},
};

static int take_value(const char *a, int argc, char **argv, int *i, const char **v, char *err, size_t n)
{
    if (!*v && (*i + 1 >= argc || !(*v = argv[++*i])))
        return err_set(err, n, "%s needs a value", a);
    return 0;
}

static int take_int(const char *a, int argc, char **argv, int *i, const char *v, long lo, long hi, int *out,
                    char *err, size_t n);

/* A default chat template variable (--chat-template-kwargs' object). */
static int set_template_var(struct server_params *p, const char *key, json_t *value)
{
    if (!p->chat_template_kwargs)
        p->chat_template_kwargs = json_object();
    return p->chat_template_kwargs && json_object_set_new(p->chat_template_kwargs, key, value) == 0 ? 0 : -1;
}

/* The --reasoning-* options and --skip-chat-parsing (docs/tools.md): 1 taken,
 * 0 not one of them, -1 with err. */
static int reasoning_option(struct server_params *p, const char *a, int argc, char **argv, int *i,
                            const char *env_value, char *err, size_t n)
{
    const char *v = env_value;
    bool on = env_value ? server_params_env_bool(env_value) : strncmp(a, "--no-", 4) != 0;
    if (strcmp(a, "--reasoning-format") == 0) {
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        if (strcmp(v, "deepseek-legacy") == 0)
            return err_set(err, n, "%s deepseek-legacy is not supported by cllm-server: thoughts go either to "
                                   "reasoning_content (deepseek, auto) or stay in content (none)", a);
        if (strcmp(v, "none") != 0 && strcmp(v, "deepseek") != 0 && strcmp(v, "auto") != 0)
            return err_set(err, n, "%s: unknown format '%s' (none, deepseek or auto)", a, v);
        p->reasoning_none = strcmp(v, "none") == 0;
        return 1;
    }
    if (names_have("-rea,--reasoning", a)) {
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        if (strcmp(v, "auto") == 0)
            return 1;
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0 && strcmp(v, "true") != 0 && strcmp(v, "false") != 0 &&
            strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
            return err_set(err, n, "%s: unknown value '%s' (on, off or auto)", a, v);
        bool yes = strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        return set_template_var(p, "enable_thinking", json_boolean(yes)) == 0 ? 1 : -1;
    }
    if (strcmp(a, "--reasoning-effort") == 0) {
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        if (strcmp(v, "default") == 0) {
            if (p->chat_template_kwargs)
                json_object_del(p->chat_template_kwargs, "reasoning_effort");
            return 1;
        }
        return set_template_var(p, "reasoning_effort", json_string(v)) == 0 ? 1 : -1;
    }
    if (strcmp(a, "--reasoning-budget") == 0) {
        int x;
        if (take_int(a, argc, argv, i, v, -1, INT32_MAX, &x, err, n) != 0)
            return -1;
        if (x > 0)
            return err_set(err, n, "%s %d is not supported by cllm-server: only -1 (unrestricted) and 0 (no "
                                   "thoughts) are", a, x);
        p->reasoning_off = x == 0;
        return x == 0 ? (set_template_var(p, "enable_thinking", json_false()) == 0 ? 1 : -1) : 1;
    }
    if (strcmp(a, "--reasoning-budget-message") == 0)
        return err_set(err, n, "%s is not supported by cllm-server: it is for --reasoning-budget N > 0, which is "
                               "not either", a);
    if (names_have("--reasoning-preserve,--no-reasoning-preserve", a)) {
        p->reasoning_preserve_set = true;
        return set_template_var(p, "preserve_reasoning", json_boolean(on)) == 0 ? 1 : -1;
    }
    if (names_have("--skip-chat-parsing,--no-skip-chat-parsing", a)) {
        p->skip_chat_parsing = on;
        return 1;
    }
    return 0;
}

static int take_int(const char *a, int argc, char **argv, int *i, const char *v, long lo, long hi, int *out,
                    char *err, size_t n)
{
    double d;
    if (take_value(a, argc, argv, i, &v, err, n) != 0 || parse_num(a, v, true, &d, err, n) != 0)
        return -1;
    if (d < (double)lo || d > (double)hi)
        return err_set(err, n, "%s: %s is out of range [%ld, %ld]", a, v, lo, hi);
    *out = (int)d;
    return 0;
}

static int set_ui_config(struct server_params *p, const char *a, const char *text, char *err, size_t n)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(err, n, "%s: not a JSON object: %s", a, je.text);
    }
    json_decref(p->ui_config);
    p->ui_config = j;
    return 0;
}

static int load_mode(struct server_params *p, const char *a, const char *v, char *err, size_t n)
{
    if (strcmp(v, "auto") == 0 || strcmp(v, "mmap") == 0)
        p->no_mmap = p->mlock = false;
    else if (strcmp(v, "none") == 0 || strcmp(v, "dio") == 0)
        p->no_mmap = true, p->mlock = false;
    else if (strcmp(v, "mlock") == 0)
        p->no_mmap = true, p->mlock = true;
    else if (strcmp(v, "mmap+mlock") == 0)
        p->no_mmap = false, p->mlock = true;
    else
        return err_set(err, n, "%s: '%s' is not auto, none, mmap, mlock, mmap+mlock or dio", a, v);
    return 0;
}

/* The llama-server options that work in cllm (WORKING): 1 done, 0 not one
 * of them, -1 error. */
static int working_option(struct server_params *p, const char *a, int argc, char **argv, int *i,
                          const char *env_value, char *err, size_t n)
{
    bool on = env_value ? server_params_env_bool(env_value) : strncmp(a, "--no-", 4) != 0 && strncmp(a, "-no-", 4) != 0;
    const char *v = env_value;
    int x;
    if (names_have("--cache-prompt,--no-cache-prompt", a))
        return json_object_set_new(sampling_obj(p), "cache_prompt", json_boolean(on)) == 0 ? 1 : -1;
    if (strcmp(a, "--cache-reuse") == 0) {
        if (take_int(a, argc, argv, i, v, 0, INT32_MAX, &x, err, n) != 0)
            return -1;
        p->cache_reuse = x;
        return 1;
    }
    if (names_have("-sps,--slot-prompt-similarity", a)) {
        double d;
        if (take_value(a, argc, argv, i, &v, err, n) != 0 || parse_num(a, v, false, &d, err, n) != 0)
            return -1;
        if (d < 0 || d > 1)
            return err_set(err, n, "%s: %s is not between 0 and 1", a, v);
        p->slot_prompt_similarity = (float)d;
        return 1;
    }
    if (names_have("--warmup,--no-warmup", a))
        return p->warmup = on, 1;
    if (strcmp(a, "--swa-full") == 0)
        return p->swa_full = env_value ? server_params_env_bool(env_value) : true, 1;
    if (strcmp(a, "--sse-ping-interval") == 0)
        return take_int(a, argc, argv, i, v, -1, 86400, &p->sse_ping_s, err, n) == 0 ? 1 : -1;
    if (strcmp(a, "--reuse-port") == 0)
        return p->reuse_port = on, 1;
    if (strcmp(a, "--embd-normalize") == 0)
        return take_int(a, argc, argv, i, v, -1, 64, &p->embd_normalize, err, n) == 0 ? 1 : -1;
    if (names_have("-r,--reverse-prompt", a)) {
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        json_t *s = json_string(v);
        if (!s)
            return err_set(err, n, "%s: not UTF-8", a);
        return json_array_append_new(array_member(sampling_obj(p), "stop", false), s) == 0 ? 1 : -1;
    }
    if (names_have("-e,--escape,--no-escape", a))
        return p->no_escape = !on, 1;
    if (names_have("-sp,--special", a))
        return p->special = on, 1;
    if (strcmp(a, "--check-tensors") == 0)
        return p->check_tensors = on, 1;
    if (names_have("-lm,--load-mode", a))
        return take_value(a, argc, argv, i, &v, err, n) == 0 && load_mode(p, a, v, err, n) == 0 ? 1 : -1;
    if (strcmp(a, "--kv-unified-per-slot") == 0)
        return take_int(a, argc, argv, i, v, 1, 1 << 24, &p->kv_unified_per_slot, err, n) == 0 ? 1 : -1;
    if (strcmp(a, "--sleep-idle-seconds") == 0) {
        if (take_int(a, argc, argv, i, v, -1, 86400 * 365, &x, err, n) != 0)
            return -1;
        if (x == 0)
            return err_set(err, n, "%s: invalid value: cannot be 0 or less than -1", a);
        p->sleep_idle_s = x;
        return 1;
    }
    if (strcmp(a, "--prio") == 0)
        return take_int(a, argc, argv, i, v, -1, 3, &p->prio, err, n) == 0 ? 1 : -1;
    if (names_have("-lv,--verbosity,--log-verbosity", a))
        return take_int(a, argc, argv, i, v, INT32_MIN, INT32_MAX, &p->verbosity, err, n) == 0 ? 1 : -1;
    if (strcmp(a, "--log-file") == 0 || strcmp(a, "--log-prompts-dir") == 0 || strcmp(a, "--tags") == 0) {
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        *(a[2] == 't' ? &p->tags : a[6] == 'f' ? &p->log_file : &p->log_prompts_dir) = v;
        return 1;
    }
    if (names_have("--log-jsonl,--no-log-jsonl", a))
        return p->log_format = on ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT, 1;
    if (names_have("--log-timestamps,--no-log-timestamps", a))
        return p->log_timestamps = on, 1;
    if (names_have("--log-prefix,--no-log-prefix", a))
        return p->log_no_prefix = !on, 1;
    if (strcmp(a, "--log-colors") == 0) {
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        if (strcmp(v, "auto") == 0)
            p->log_colors = -1;
        else if (is_onoff(v))
            p->log_colors = server_params_env_bool(v) || strcmp(v, "on") == 0;
        else
            return err_set(err, n, "%s: '%s' is not on, off or auto", a, v);
        return 1;
    }
    if (names_have("--ui-config,--webui-config", a))
        return take_value(a, argc, argv, i, &v, err, n) == 0 && set_ui_config(p, a, v, err, n) == 0 ? 1 : -1;
    if (names_have("--ui-config-file,--webui-config-file", a)) {
        char msg[512], *text;
        if (take_value(a, argc, argv, i, &v, err, n) != 0)
            return -1;
        if (!(text = file_read(v, 0, NULL, msg, sizeof msg)))
            return err_set(err, n, "%s: %s", a, msg);
        int rc = set_ui_config(p, a, text, err, n);
        free(text);
        return rc == 0 ? 1 : -1;
    }
    if (names_have("-kvu,--kv-unified,-no-kvu,--no-kv-unified", a)) {
        p->kv_unified = on;
        if (on) /* -no-kvu's per-slot split is what cllm does */
            fprintf(stderr, "warning: %s: partly moot: cllm's paged KV cache is already one pool shared by the "
                    "slots, but each slot holds at most -c/-np tokens (llama-server lets one slot fill the whole "
                    "context; see --kv-unified-per-slot)\n", a);
        return 1;
    }
    return 0;
}

/* llama-server's string_process_escapes: \n \r \t \' \" \\ \xHH (others kept). */
static void process_escapes(char *s)
{
    char *o = s;
    for (const char *c = s; *c; c++) {
        if (*c != '\\' || !c[1]) {
            *o++ = *c;
            continue;
        }
        char e = *++c;
        int hv;
        if (e == 'n')
            *o++ = '\n';
        else if (e == 'r')
            *o++ = '\r';
        else if (e == 't')
            *o++ = '\t';
        else if (e == '\'' || e == '"' || e == '\\')
            *o++ = e;
        else if (e == 'x' && c[1] && c[2] && sscanf(c + 1, "%2x", &hv) == 1 && strspn(c + 1, "0123456789abcdefABCDEF") >= 2) {
            *o++ = (char)hv;
            c += 2;
        } else {
            *o++ = '\\';
            *o++ = e;
        }
    }
    *o = '\0';
}

/* Escapes processed in each string of a (an array), in place. */
static void escape_array(json_t *a)
{
    for (size_t k = 0; k < json_array_size(a); k++) {
        char *t = strdup(json_string_value(json_array_get(a, k)));
        if (!t)
            continue;
        process_escapes(t);
        json_t *j = json_string(t);
        if (j)
            json_array_set_new(a, k, j);
        free(t);
    }
}

void server_params_llama_finish(struct server_params *p)
{
    /* llama-server: templates see preserve_reasoning true unless told otherwise */
    if (!p->reasoning_preserve_set && !(p->chat_template_kwargs && json_object_get(p->chat_template_kwargs,
                                                                                   "preserve_reasoning")))
        set_template_var(p, "preserve_reasoning", json_true());
    if (!p->sampling || p->no_escape)
        return;
    /* -r strings and --dry-sequence-breaker strings, as llama-server */
    json_t *stop = json_object_get(p->sampling, "stop");
    if (json_is_array(stop))
        escape_array(stop);
    json_t *brk = json_object_get(p->sampling, "dry_sequence_breakers");
    if (json_is_array(brk))
        escape_array(brk);
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
    int rrc = reasoning_option(p, a, argc, argv, i, env_value, err, n);
    if (rrc != 0)
        return rrc;
    if (strcmp(a, "--prefill-assistant") == 0 || strcmp(a, "--no-prefill-assistant") == 0) {
        p->no_prefill_assistant = !(env_value ? server_params_env_bool(env_value) : on);
        return 1;
    }
    int rc = working_option(p, a, argc, argv, i, env_value, err, n);
    if (rc != 0)
        return rc;
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
    if (o->kind != O_REFUSE_VAL) /* never silently: say why the option does nothing here */
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
    {"LLAMA_ARG_THREADS_HTTP", "--threads-http"}, {"LLAMA_ARG_CACHE_REUSE", "--cache-reuse"}, {"LLAMA_ARG_SWA_FULL", "--swa-full"},
    {"LLAMA_ARG_ENDPOINT_METRICS", "--metrics"}, {"LLAMA_ARG_ENDPOINT_PROPS", "--props"},
    {"LLAMA_ARG_ENDPOINT_SLOTS", "--slots"}, {"LLAMA_ARG_JINJA", "--jinja"},
    {"LLAMA_ARG_CHAT_TEMPLATE", "--chat-template"}, {"LLAMA_ARG_CHAT_TEMPLATE_FILE", "--chat-template-file"},
    {"LLAMA_ARG_OFFLINE", "--offline"},   {"LLAMA_ARG_KV_UNIFIED", "-kvu"},
    {"LLAMA_ARG_CHAT_TEMPLATE_KWARGS", "--chat-template-kwargs"}, {"LLAMA_ARG_PREFILL_ASSISTANT", "--prefill-assistant"}, {"LLAMA_ARG_CORS_ORIGINS", "--cors-origins"}, {"LLAMA_ARG_CORS_METHODS", "--cors-methods"},
    {"LLAMA_ARG_CORS_HEADERS", "--cors-headers"}, {"LLAMA_ARG_CORS_CREDENTIALS", "--cors-credentials"},
    {"LLAMA_ARG_SPEC_TYPE", "--spec-type"}, {"LLAMA_ARG_SPEC_DRAFT_N_MAX", "--spec-draft-n-max"},
    {"LLAMA_ARG_SPEC_DRAFT_N_MIN", "--spec-draft-n-min"}, {"LLAMA_ARG_SPEC_DRAFT_P_MIN", "--spec-draft-p-min"},
    {"LLAMA_ARG_DRAFT_MAX", "--draft-max"}, {"LLAMA_ARG_DRAFT_MIN", "--draft-min"},
    {"LLAMA_ARG_KV_UNIFIED_PER_SLOT", "--kv-unified-per-slot"}, {"LLAMA_ARG_CACHE_PROMPT", "--cache-prompt"},
    {"LLAMA_ARG_SSE_PING_INTERVAL", "--sse-ping-interval"}, {"LLAMA_ARG_REUSE_PORT", "--reuse-port"},
    {"LLAMA_ARG_LOG_FILE", "--log-file"}, {"LLAMA_ARG_LOG_JSONL", "--log-jsonl"},
    {"LLAMA_ARG_LOG_COLORS", "--log-colors"}, {"LLAMA_ARG_LOG_VERBOSITY", "-lv"},
    {"LLAMA_ARG_LOG_PREFIX", "--log-prefix"}, {"LLAMA_ARG_LOG_TIMESTAMPS", "--log-timestamps"},
    {"LLAMA_ARG_TAGS", "--tags"}, {"LLAMA_ARG_UI_CONFIG", "--ui-config"},
    {"LLAMA_ARG_UI_CONFIG_FILE", "--ui-config-file"}, {"LLAMA_ARG_LOAD_MODE", "-lm"},
    {"LLAMA_ARG_THINK", "--reasoning-format"}, {"LLAMA_ARG_REASONING", "--reasoning"},
    {"LLAMA_ARG_REASONING_EFFORT", "--reasoning-effort"}, {"LLAMA_ARG_THINK_BUDGET", "--reasoning-budget"},
    {"LLAMA_ARG_THINK_BUDGET_MESSAGE", "--reasoning-budget-message"},
    {"LLAMA_ARG_REASONING_PRESERVE", "--reasoning-preserve"}, {"LLAMA_ARG_SKIP_CHAT_PARSING", "--skip-chat-parsing"},
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
    fprintf(f, "  %-32s %s\n", "--cors-origins ORIGINS", "'*' (default: any, the Origin echoed), 'localhost', or one origin");
    fprintf(f, "  %-32s %s\n", "--cors-methods METHODS", "preflight's allowed methods (default: GET, POST, DELETE, OPTIONS)");
    fprintf(f, "  %-32s %s\n", "--cors-headers HEADERS", "preflight's allowed headers (default: those asked for)");
    fprintf(f, "  %-32s %s\n", "--[no-]cors-credentials", "credentials allowed (default: on)");
    for (size_t i = 0; i < sizeof WORKING / sizeof WORKING[0]; i++) {
        char names[160];
        snprintf(names, sizeof names, "%s%s%s", WORKING[i].names, WORKING[i].value ? " " : "",
                 WORKING[i].value ? WORKING[i].value : "");
        for (char *c = names; (c = strchr(c, ',')); ) { /* "-a,--b" -> "-a, --b" */
            memmove(c + 2, c + 1, strlen(c + 1) + 1);
            c[1] = ' ';
            c += 2;
        }
        fprintf(f, "  %-32s %s\n", names, WORKING[i].help);
    }
    fprintf(f, "\n  Request defaults (every request starts from these; its own fields win):\n");
    for (size_t i = 0; i < sizeof SAMPLING / sizeof SAMPLING[0]; i++)
        fprintf(f, "  %-32s %s\n", SAMPLING[i].names, SAMPLING[i].key);
    fprintf(f, "\n  Accepted with no effect (moot in cllm; a warning on stderr says why):\n");
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++)
        if (OTHERS[i].kind == O_FLAG || OTHERS[i].kind == O_VALUE || OTHERS[i].kind == O_ONOFF)
            fprintf(f, "  %s: %s\n", OTHERS[i].names,
                    OTHERS[i].why ? OTHERS[i].why : "accepted for llama-server compatibility; no effect in cllm");
    fprintf(f, "\n  Refused (the reason is printed):\n");
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++)
        if (OTHERS[i].kind == O_REFUSE || OTHERS[i].kind == O_REFUSE_VAL)
            fprintf(f, "  %s: %s\n", OTHERS[i].names, OTHERS[i].why);
    fprintf(f, "\n  Environment: LLAMA_ARG_* as llama-server reads them (the command line wins).\n");
}
