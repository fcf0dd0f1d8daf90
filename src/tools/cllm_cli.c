/*
 * cllm_cli.c - `cllm-cli`: generate text from a prompt on the command line.
 *
 *   cllm-cli -m MODEL -p PROMPT [-n N] [-c CTX] [-b BATCH] [-t T] [-tb T]
 *            [sampling options, as llama.cpp's] [-ctk f16|f32|q8_0] [-ctv ...]
 *
 * The prompt is evaluated in chunks of -b tokens, then tokens are generated
 * one at a time with the server's sampler (src/sample/sampler.h) and printed
 * as they come (whole UTF-8 characters only). --grammar / --grammar-file /
 * --json-schema constrain the output; generation stops when the grammar is
 * complete. Timings go to stderr at the end.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/file.h"
#include "engine/engine.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

struct cli_opts {
    const char *model;
    const char *prompt;
    int n_predict;
    struct engine_params ep;
    struct sampler_params sp;
    char *grammar; /* owned: from --grammar, --grammar-file or --json-schema */
    bool no_mmap;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cllm-cli -m MODEL -p PROMPT [options]\n"
            "  -m, --model FILE        GGUF model (required)\n"
            "  -p, --prompt TEXT       prompt (required)\n"
            "  -n, --n-predict N       tokens to generate (default 128; -1: until end of text)\n"
            "  -c, --ctx-size N        context size (default 4096, at most the model's)\n"
            "  -b, --batch-size N      prompt tokens per batch (default 512)\n"
            "  -t, --threads N         generation threads (default: all CPUs)\n"
            "  -tb, --threads-batch N  prompt threads (default: same as -t)\n"
            "  -ctk, --cache-type-k T  KV cache type for keys: f16 (default), f32, q8_0\n"
            "  -ctv, --cache-type-v T  KV cache type for values: f16 (default), f32, q8_0\n"
            "  --no-mmap               read the model into memory instead of mapping it\n"
            "sampling (defaults as the server's /completion):\n"
            "  --temp F                temperature (default 0.8; <= 0: greedy)\n"
            "  --top-k K               keep the K most likely tokens (default 40; 0: off)\n"
            "  --top-p P               nucleus sampling (default 0.95; 1: off)\n"
            "  --min-p P               drop tokens below P x the best one's probability (default 0.05)\n"
            "  --tfs Z                 tail-free sampling (default 1: off)\n"
            "  --typical P             locally typical sampling (default 1: off)\n"
            "  --repeat-penalty F      penalty for repeated tokens (default 1.1; 1: off)\n"
            "  --repeat-last-n N       tokens the penalties look back at (default 64; 0: off; -1: context)\n"
            "  --presence-penalty F    (default 0)\n"
            "  --frequency-penalty F   (default 0)\n"
            "  --no-penalize-nl        do not penalize the newline token\n"
            "  --mirostat N            0 off, 1 mirostat, 2 mirostat 2.0 (default 0)\n"
            "  --mirostat-lr F         mirostat learning rate eta (default 0.1)\n"
            "  --mirostat-ent F        mirostat target entropy tau (default 5)\n"
            "  --dynatemp-range F      dynamic temperature range (default 0: off)\n"
            "  --dynatemp-exp F        dynamic temperature exponent (default 1)\n"
            "  --samplers LIST         chain order, ';' or ',' separated (default\n"
            "                          top_k;tfs_z;typical_p;top_p;min_p;temperature)\n"
            "  --min-keep N            each sampler keeps at least N tokens (default 0)\n"
            "  -s, --seed N            random seed (default -1: random)\n"
            "  --ignore-eos            do not stop at end-of-generation tokens\n"
            "  --grammar TEXT          GBNF grammar constraining the output\n"
            "  --grammar-file FILE     GBNF grammar from a file\n"
            "  -j, --json-schema JSON  JSON schema constraining the output\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "cllm-cli: %s: '%s' is not an integer in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_float(const char *opt, const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || end == s || !isfinite(v)) {
        fprintf(stderr, "cllm-cli: %s: '%s' is not a number\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_cache_type(const char *opt, const char *s, enum tensor_type *out)
{
    if (!strcmp(s, "f16"))
        *out = TYPE_F16;
    else if (!strcmp(s, "f32"))
        *out = TYPE_F32;
    else if (!strcmp(s, "q8_0"))
        *out = TYPE_Q8_0;
    else {
        fprintf(stderr, "cllm-cli: %s: '%s' is not a cache type (f16, f32, q8_0)\n", opt, s);
        return -1;
    }
    return 0;
}

/* "top_k;top_p,temperature" -> the chain (repeats allowed). */
static int parse_samplers(const char *opt, const char *s, struct sampler_params *sp)
{
    char name[64];
    int32_t n = 0;
    while (*s) {
        size_t len = strcspn(s, ";,");
        if (len > 0) {
            if (len >= sizeof(name) || n >= SAMPLER_MAX_CHAIN) {
                fprintf(stderr, "cllm-cli: %s: too long\n", opt);
                return -1;
            }
            memcpy(name, s, len);
            name[len] = '\0';
            int t = sampler_type_from_name(name);
            if (t < 0) {
                fprintf(stderr, "cllm-cli: %s: unknown sampler '%s'\n", opt, name);
                return -1;
            }
            sp->samplers[n++] = (enum sampler_type)t;
        }
        s += len;
        if (*s)
            s++;
    }
    sp->n_samplers = n;
    return 0;
}

static char *read_file(const char *opt, const char *path)
{
    char err[512];
    char *buf = file_read(path, 0, NULL, err, sizeof err);
    if (buf == NULL)
        fprintf(stderr, "cllm-cli: %s: %s\n", opt, err);
    return buf;
}

static char *schema_grammar(const char *opt, const char *text)
{
    json_error_t jerr;
    json_t *schema = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (schema == NULL) {
        fprintf(stderr, "cllm-cli: %s: line %d, column %d: %s\n", opt, jerr.line, jerr.column,
                jerr.text);
        return NULL;
    }
    char err[512];
    char *g = json_schema_to_grammar(schema, err, sizeof(err));
    json_decref(schema);
    if (g == NULL)
        fprintf(stderr, "cllm-cli: %s: %s\n", opt, err);
    return g;
}

static int set_grammar(struct cli_opts *o, char *g)
{
    if (g == NULL)
        return -1;
    free(o->grammar);
    o->grammar = g;
    return 0;
}

static int parse_flag(const char *a, struct cli_opts *o)
{
    if (!strcmp(a, "--ignore-eos"))
        o->sp.ignore_eos = true;
    else if (!strcmp(a, "--no-mmap"))
        o->no_mmap = true;
    else if (!strcmp(a, "--no-penalize-nl"))
        o->sp.penalize_nl = false;
    else
        return 0;
    return 1;
}

/* A sampling option with a value: 1 if it was one (*rc set), 0 if not. */
static int parse_sampling(const char *a, const char *val, struct cli_opts *o, int *rc)
{
    struct sampler_params *sp = &o->sp;
    long v;
    if (!strcmp(a, "--temp")) *rc = parse_float(a, val, &sp->temperature);
    else if (!strcmp(a, "--top-k")) { *rc = parse_int(a, val, -1, 1 << 30, &v); sp->top_k = (int32_t)v; }
    else if (!strcmp(a, "--top-p")) *rc = parse_float(a, val, &sp->top_p);
    else if (!strcmp(a, "--min-p")) *rc = parse_float(a, val, &sp->min_p);
    else if (!strcmp(a, "--tfs")) *rc = parse_float(a, val, &sp->tfs_z);
    else if (!strcmp(a, "--typical")) *rc = parse_float(a, val, &sp->typical_p);
    else if (!strcmp(a, "--repeat-penalty")) *rc = parse_float(a, val, &sp->repeat_penalty);
    else if (!strcmp(a, "--repeat-last-n")) { *rc = parse_int(a, val, -1, 1 << 30, &v); sp->repeat_last_n = (int32_t)v; }
    else if (!strcmp(a, "--presence-penalty")) *rc = parse_float(a, val, &sp->presence_penalty);
    else if (!strcmp(a, "--frequency-penalty")) *rc = parse_float(a, val, &sp->frequency_penalty);
    else if (!strcmp(a, "--mirostat")) { *rc = parse_int(a, val, 0, 2, &v); sp->mirostat = (int32_t)v; }
    else if (!strcmp(a, "--mirostat-lr")) *rc = parse_float(a, val, &sp->mirostat_eta);
    else if (!strcmp(a, "--mirostat-ent")) *rc = parse_float(a, val, &sp->mirostat_tau);
    else if (!strcmp(a, "--dynatemp-range")) *rc = parse_float(a, val, &sp->dynatemp_range);
    else if (!strcmp(a, "--dynatemp-exp")) *rc = parse_float(a, val, &sp->dynatemp_exponent);
    else if (!strcmp(a, "--min-keep")) { *rc = parse_int(a, val, 0, 1 << 30, &v); sp->min_keep = (int32_t)v; }
    else if (!strcmp(a, "--samplers")) *rc = parse_samplers(a, val, sp);
    else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        *rc = parse_int(a, val, -1, (long)SAMPLER_SEED_RANDOM - 1, &v);
        sp->seed = v < 0 ? SAMPLER_SEED_RANDOM : (uint32_t)v;
    }
    else if (!strcmp(a, "--grammar")) *rc = set_grammar(o, strdup(val));
    else if (!strcmp(a, "--grammar-file")) *rc = set_grammar(o, read_file(a, val));
    else if (!strcmp(a, "-j") || !strcmp(a, "--json-schema")) *rc = set_grammar(o, schema_grammar(a, val));
    else return 0;
    return 1;
}

static int parse_args(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->ep = engine_default_params();
    o->n_predict = 128;
    o->ep.n_ctx = 4096;
    sampler_default_params(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(o->grammar);
            exit(0);
        }
        if (parse_flag(a, o))
            continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "cllm-cli: %s: unknown option or missing value\n", a);
            return -1;
        }
        const char *val = argv[++i];
        int rc = 0;
        if (parse_sampling(a, val, o, &rc)) {}
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = val;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = val;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { rc = parse_int(a, val, -1, 1 << 30, &v); o->n_predict = (int)v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { rc = parse_int(a, val, 0, 1 << 24, &v); o->ep.n_ctx = (int32_t)v; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { rc = parse_int(a, val, 1, 1 << 16, &v); o->ep.n_batch = (int32_t)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { rc = parse_int(a, val, 1, 1024, &v); o->ep.n_threads = (int)v; }
        else if (!strcmp(a, "-tb") || !strcmp(a, "--threads-batch")) { rc = parse_int(a, val, 1, 1024, &v); o->ep.n_threads_batch = (int)v; }
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) rc = parse_cache_type(a, val, &o->ep.type_k);
        else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) rc = parse_cache_type(a, val, &o->ep.type_v);
        else {
            fprintf(stderr, "cllm-cli: unknown option '%s'\n", a);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    if (o->model == NULL || o->prompt == NULL) {
        fprintf(stderr, "cllm-cli: -m MODEL and -p PROMPT are required\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ main loop */

static int eval_prompt(struct engine *e, struct batch *b, const struct tok_list *toks, int32_t n_batch)
{
    char err[256];
    for (size_t start = 0; start < toks->n; start += (size_t)n_batch) {
        batch_clear(b);
        for (size_t i = start; i < toks->n && i < start + (size_t)n_batch; i++)
            batch_add(b, toks->v[i], (int32_t)i, 0, i == toks->n - 1);
        if (engine_decode(e, b, err, sizeof(err)) != 0) {
            fprintf(stderr, "cllm-cli: prompt: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* Generate until -n tokens, end of generation, a full context or a
 * complete grammar. */
static int gen_loop(struct engine *e, const struct vocab *v, struct sampler *smp,
                    const struct cli_opts *o, struct batch *b, int32_t pos, int *n_gen)
{
    struct detok_stream ds;
    detok_stream_init(&ds, v, false, false);
    char err[256];
    int rc = 0;
    while ((o->n_predict < 0 || *n_gen < o->n_predict) && pos < engine_n_ctx(e)) {
        int32_t id = sampler_sample(smp, engine_logits(e, b->n_tokens - 1), NULL, NULL);
        if (id < 0) {
            fprintf(stderr, "\ncllm-cli: the grammar allows no token here\n");
            break;
        }
        if (sampler_accept(smp, id) != 0) {
            fprintf(stderr, "\ncllm-cli: the grammar rejected token %d\n", (int)id);
            break;
        }
        if (!o->sp.ignore_eos && vocab_is_eog(v, id))
            break;
        size_t len;
        const char *piece = detok_stream_push(&ds, id, &len);
        if (piece)
            fwrite(piece, 1, len, stdout);
        fflush(stdout);
        (*n_gen)++;
        if (sampler_grammar_done(smp))
            break;
        batch_clear(b);
        batch_add(b, id, pos++, 0, true);
        if (engine_decode(e, b, err, sizeof(err)) != 0) {
            fprintf(stderr, "\ncllm-cli: %s\n", err);
            rc = -1;
            break;
        }
    }
    size_t len;
    const char *rest = detok_stream_flush(&ds, &len);
    if (rest)
        fwrite(rest, 1, len, stdout);
    printf("\n");
    detok_stream_free(&ds);
    return rc;
}

static int generate(struct engine *e, const struct vocab *v, const struct cli_opts *o,
                    const struct tok_list *toks)
{
    int32_t n_batch = o->ep.n_batch > 0 ? o->ep.n_batch : 512;
    char err[512];
    struct sampler_vocab *sv = sampler_vocab_create(v, err, sizeof(err));
    struct sampler_params sp = o->sp;
    struct grammar *gram = NULL;
    if (o->grammar && o->grammar[0]) {
        char gerr[256];
        if (!(gram = grammar_parse(o->grammar, strlen(o->grammar), NULL, gerr, sizeof gerr))) {
            fprintf(stderr, "cllm-cli: Failed to parse grammar: %s\n", gerr);
            sampler_vocab_free(sv);
            return -1;
        }
    }
    sp.grammar = gram;
    struct sampler *smp = sv ? sampler_create(sv, &sp, engine_n_ctx(e), err, sizeof(err)) : NULL;
    grammar_free(gram); /* the sampler holds its own reference */
    struct batch b;
    if (smp == NULL || batch_init(&b, n_batch) != 0) {
        fprintf(stderr, "cllm-cli: %s\n", smp == NULL ? err : "out of memory");
        sampler_free(smp);
        sampler_vocab_free(sv);
        return -1;
    }
    sampler_set_history(smp, toks->v, toks->n);
    fprintf(stderr, "seed: %u\n", sampler_seed(smp));
    fwrite(o->prompt, 1, strlen(o->prompt), stdout);
    fflush(stdout);
    double t0 = clock_ms() / 1e3;
    int rc = eval_prompt(e, &b, toks, n_batch);
    double t1 = clock_ms() / 1e3;
    int n_gen = 0;
    if (rc == 0)
        rc = gen_loop(e, v, smp, o, &b, (int32_t)toks->n, &n_gen);
    double t2 = clock_ms() / 1e3;
    fprintf(stderr, "\nprompt: %zu tokens in %.3f s (%.1f tokens/s)\n", toks->n, t1 - t0,
            (double)toks->n / (t1 - t0));
    fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tokens/s)\n", n_gen, t2 - t1,
            n_gen / (t2 - t1 > 0 ? t2 - t1 : 1));
    batch_free(&b);
    sampler_free(smp);
    sampler_vocab_free(sv);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli_opts o;
    if (parse_args(argc, argv, &o) != 0) {
        free(o.grammar);
        usage(stderr);
        return 2;
    }
    char err[512];
    struct model *m = model_load(o.model, o.no_mmap ? GGUF_OPEN_NO_MMAP : 0, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "cllm-cli: %s\n", err);
        free(o.grammar);
        return 1;
    }
    if (o.ep.n_ctx == 0 || o.ep.n_ctx > m->hp.n_ctx_train)
        o.ep.n_ctx = m->hp.n_ctx_train;
    struct vocab *v = vocab_load(m->gguf, err, sizeof(err));
    struct engine *e = v ? engine_create(m, &o.ep, err, sizeof(err)) : NULL;
    struct tok_list toks = { 0 };
    int rc = 1;
    if (v == NULL || e == NULL) {
        fprintf(stderr, "cllm-cli: %s: %s\n", o.model, err);
    } else if (tokenize_list(v, o.prompt, strlen(o.prompt), true, true, &toks) != 0 || toks.n == 0) {
        fprintf(stderr, "cllm-cli: cannot tokenize the prompt\n");
    } else if (toks.n >= (size_t)engine_n_ctx(e)) {
        fprintf(stderr, "cllm-cli: the prompt has %zu tokens, the context only %d\n", toks.n,
                engine_n_ctx(e));
    } else {
        rc = generate(e, v, &o, &toks) == 0 ? 0 : 1;
    }
    tok_list_free(&toks);
    engine_free(e);
    vocab_free(v);
    model_free(m);
    free(o.grammar);
    return rc;
}
