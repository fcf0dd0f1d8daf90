/*
 * batch.c - building batches of tokens for the engine (see batch.h).
 */
#include "engine/batch.h"

#include <stdlib.h>
#include <string.h>

int batch_init(struct batch *b, int32_t capacity)
{
    memset(b, 0, sizeof(*b));
    if (capacity <= 0)
        return -1;
    b->token = malloc((size_t)capacity * sizeof(int32_t));
    b->pos = malloc((size_t)capacity * sizeof(int32_t));
    b->seq_id = malloc((size_t)capacity * sizeof(int32_t));
    b->logits = malloc((size_t)capacity * sizeof(bool));
    if (!b->token || !b->pos || !b->seq_id || !b->logits) {
        batch_free(b);
        return -1;
    }
    b->capacity = capacity;
    return 0;
}

void batch_free(struct batch *b)
{
    free(b->token);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof(*b));
}

void batch_clear(struct batch *b) { b->n_tokens = 0; }

int32_t batch_add(struct batch *b, int32_t token, int32_t pos, int32_t seq_id, bool logits)
{
    if (b->n_tokens >= b->capacity)
        return -1;
    int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = logits;
    return i;
}
