/*
 * batch.h - a batch of tokens for one engine_decode call: for each token its
 * id, position, sequence and whether its logits are wanted. Prompt chunks of
 * some sequences and single generated tokens of others go in the same batch.
 */
#ifndef CLLM_ENGINE_BATCH_H
#define CLLM_ENGINE_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct batch {
    int32_t n_tokens;
    int32_t capacity;
    int32_t *token;
    int32_t *pos;
    int32_t *seq_id;
    bool *logits;
};

/* Returns 0, or -1 when out of memory. */
int batch_init(struct batch *b, int32_t capacity);
void batch_free(struct batch *b);
void batch_clear(struct batch *b);
/* Append a token; returns its index in the batch, or -1 when full. */
int32_t batch_add(struct batch *b, int32_t token, int32_t pos, int32_t seq_id, bool logits);

#endif
