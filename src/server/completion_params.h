/*
 * completion_params.h - a /completion request body read into what the
 * scheduler and the sampler need, every field type-checked (a bad field
 * gives a message that names it), and the generation_settings object the
 * response echoes.
 */
#ifndef CLLM_SERVER_COMPLETION_PARAMS_H
#define CLLM_SERVER_COMPLETION_PARAMS_H

#include <jansson.h>
#include <stdbool.h>

#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

struct server;

struct completion_req {
    struct sampler_params sp; /* its arrays point into the fields below */
    struct sampler_bias *bias;
    size_t n_bias;
    int32_t *penalty_prompt;
    size_t n_penalty_prompt;
    char *grammar;
    int32_t n_predict, n_keep, id_slot, n_probs;
    int64_t seed;
    bool stream, cache_prompt;
    char **stop;
    size_t n_stop;
    struct tok_list prompt;
    json_t *prompt_json; /* the prompt as given (for the response) */
    json_t *logit_bias_json;
};

/* Read body into r (zeroed first). need_prompt: `prompt` is required.
 * Returns 0, or -1 with a message in err (the caller answers 400). */
int completion_req_parse(struct server *s, const json_t *body, bool need_prompt, struct completion_req *r,
                         char *err, size_t err_size);
void completion_req_free(struct completion_req *r);

/* Read the prompt field (string, token ids, or a mix) into tokens. */
int parse_prompt(struct server *s, const json_t *prompt, struct tok_list *out, char *err, size_t err_size);

/* The generation_settings object for r (seed: the seed actually used). */
json_t *generation_settings(struct server *s, const struct completion_req *r, uint32_t seed);

#endif
