/*
 * engine.h - the forward pass: a batch of tokens from any number of
 * sequences evaluated in one call over the shared paged KV cache.
 *
 * engine_decode checks the batch (token ids in the vocabulary, each
 * sequence's positions continuing where its cache ends, room in the cache),
 * appends every token's keys and values to its sequence, and computes logits
 * for the tokens that ask for them. Each token's result depends only on its
 * own sequence: evaluated alone, in a prompt chunk or beside other sequences,
 * its logits are bit-identical (batch invariance).
 *
 * The engine owns the sequences: each one's token ids and their KV pages are
 * kept together (engine_seq_*), so a caller never keeps a token list in step
 * with the cache by hand. Every decoded token is recorded in its sequence;
 * copying, truncating, shifting, clearing, saving and restoring a sequence
 * move its tokens and its pages at once.
 *
 * All buffers and the thread pool are made by engine_create; decoding
 * allocates nothing but, now and then, room for a sequence's token record.
 *
 * Threads: an engine is used by one thread at a time.
 */
#ifndef CLLM_ENGINE_ENGINE_H
#define CLLM_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/batch.h"
#include "model/model.h"

struct engine_params {
    int32_t n_ctx;         /* KV positions shared by all sequences, and the most one sequence
                              may hold (0: the model's training context) */
    int32_t n_batch;       /* most tokens in one decode call (default 512) */
    int32_t n_seq_max;     /* sequence ids 0 .. n_seq_max-1 (default 1) */
    int32_t n_outputs_max; /* most tokens with logits in one call (default n_seq_max) */
    int n_threads;         /* threads for batches of one token per sequence (default: all CPUs) */
    int n_threads_batch;   /* threads for prompt batches (default n_threads) */
    enum tensor_type type_k, type_v; /* KV cache types (default F16) */
    bool swa_full;         /* sliding-window layers keep every position (llama.cpp's --swa-full);
                              default: at most window + one batch per sequence */
};

struct engine;

/* The defaults above (F16 cache, 512-token batches, one sequence, all CPUs):
 * start from these and change what you need. Zero fields are also taken as
 * "default" by engine_create, but cache types must be set (TYPE_F32 is 0). */
struct engine_params engine_default_params(void);

/* The model is borrowed and must outlive the engine. */
struct engine *engine_create(const struct model *m, const struct engine_params *p, char *err,
                             size_t err_size);
void engine_free(struct engine *e);

/* Evaluate a batch. Returns 0, or -1 with a message in err: a bad token id,
 * sequence id or position, too many tokens or outputs, or no room left in
 * the KV cache. On error the cache is as it was before the call. */
int engine_decode(struct engine *e, const struct batch *b, char *err, size_t err_size);

/* The same, but instead of logits write every token's final hidden state
 * (after the output norm: n_tokens x engine_n_embd floats) to out, for
 * embeddings. The batch's logits flags are ignored. */
int engine_decode_embd(struct engine *e, const struct batch *b, float *out, char *err, size_t err_size);
int32_t engine_n_embd(const struct engine *e);


/* Logits (n_vocab floats) of token i of the last decoded batch; NULL if that
 * token did not ask for logits. */
const float *engine_logits(const struct engine *e, int32_t i);
int32_t engine_n_vocab(const struct engine *e);
int32_t engine_n_ctx(const struct engine *e);
const struct model *engine_model(const struct engine *e);
/* Most tokens with logits in one batch (engine_params.n_outputs_max after
 * the defaults and the n_batch bound). */
int32_t engine_n_outputs_max(const struct engine *e);
/* Threads for one-token-per-sequence batches (engine_params.n_threads
 * after the defaults). */
int engine_n_threads(const struct engine *e);

/* ------------------------------------------------------------ sequences */

/* engine_params.n_ctx for n_seqs sequences of up to n_ctx_seq positions
 * each: whole KV pages for every sequence plus a spare page each (copy on
 * write, context shift). -1 if that does not fit in an int32_t. */
int32_t engine_ctx_for_seqs(int32_t n_seqs, int32_t n_ctx_seq);

/* Positions (tokens) seq holds; 0 for a bad sequence id. */
int32_t engine_seq_len(const struct engine *e, int32_t seq);
/* Its tokens, engine_seq_len entries (the token at position p is [p]);
 * valid until the sequence next changes. NULL for a bad id. */
const int32_t *engine_seq_tokens(const struct engine *e, int32_t seq);
/* How many of tokens[0..n) seq already holds at their positions and can
 * be continued from, the last of them evaluated again included. With
 * sliding-window layers that dropped keys this needs (see kv_cache.h), 0:
 * the prompt is evaluated again from the start, as llama.cpp does. */
int32_t engine_seq_common_prefix(const struct engine *e, int32_t seq, const int32_t *tokens, int32_t n);
/* n (at most seq's length) if seq cut to n positions can be continued,
 * else 0 (its sliding-window layers dropped keys position n needs). */
int32_t engine_seq_usable(const struct engine *e, int32_t seq, int32_t n);
/* Keep the first n positions of seq, drop the rest (0: clear it). Returns
 * 0, or -1 with a message for a bad id, n > its length or an n its
 * sliding-window layers cannot continue from (engine_seq_usable). */
int engine_seq_keep(struct engine *e, int32_t seq, int32_t n, char *err, size_t err_size);
/* Make dst the first n positions of src (dst's old contents are dropped):
 * the KV pages are shared, copied only when one of the two appends into a
 * shared page. Returns 0, or -1 with a message (bad ids, n > src's length,
 * no memory); dst is then as before. */
int engine_seq_copy(struct engine *e, int32_t src, int32_t dst, int32_t n, char *err, size_t err_size);
/* Drop seq (seq < 0: every sequence). */
void engine_seq_clear(struct engine *e, int32_t seq);
/* Context shift: remove positions [p0, p0 + n) of seq, tokens and keys and
 * values, and move the later ones down by n, re-applying RoPE to their keys
 * for the new positions (as llama.cpp's K-shift does). The sequence then
 * continues at len - n. Returns 0, or -1 with a message for a bad range or
 * no free page. Invalidates the last logits. */
int engine_seq_discard(struct engine *e, int32_t seq, int32_t p0, int32_t n, char *err, size_t err_size);
/* Write seq (its tokens and their KV rows in every layer) to path. Returns
 * the bytes written, or -1 with a message (the file is then removed). The
 * file records the model's shape and cache types: a file from another
 * model or with other cache types is refused when read. */
int64_t engine_seq_save(struct engine *e, int32_t seq, const char *path, char *err, size_t err_size);
/* Replace seq with the sequence in path. Returns the bytes read, or -1 with
 * a message: a file refused by its checks (format, shape, model, size,
 * room, token ids) leaves seq untouched; an I/O error after them leaves it
 * empty. Saving writes a temporary file, fsyncs it and renames it. */
int64_t engine_seq_load(struct engine *e, int32_t seq, const char *path, char *err, size_t err_size);

/* KV cache use of the full-context layers: positions in pages taken
 * (*used) and in all (*size). */
void engine_kv_usage(const struct engine *e, int32_t *used, int32_t *size);

/* ------------------------------------------------------------ memory */

/* One group of layers of the KV cache (kv_cache.h): the full-context
 * layers, or the sliding-window ones. Pages hold page_size positions of
 * every layer of the group. */
struct engine_kv_group {
    int32_t n_layer, window;  /* window 0: full context */
    bool windowed;            /* keeps only window + one batch per sequence */
    int32_t pages_total, pages_used, pages_shared, pages_free, pages_resident;
    size_t page_bytes, token_layer_bytes;
};
struct engine_memory {
    size_t weights_bytes;     /* the model's tensors (mapped from the file) */
    size_t scratch_bytes;     /* activations, logits, attention scratch (reserved) */
    size_t kv_bytes_max;      /* the KV pools' bound (reserved, touched on demand) */
    size_t kv_bytes_used;     /* in pages held by sequences */
    size_t kv_bytes_resident; /* in pages touched and not given back to the system */
    int32_t page_size;        /* positions per page */
    int32_t pages_used, pages_shared, pages_free; /* all groups */
    int32_t n_groups;
    struct engine_kv_group kv[2];
};
void engine_memory(const struct engine *e, struct engine_memory *mem);
/* KV pages seq holds (all groups, shared ones included). */
int32_t engine_seq_pages(const struct engine *e, int32_t seq);
/* Bytes of a model's tensors. */
size_t engine_model_bytes(const struct model *m);

#endif
