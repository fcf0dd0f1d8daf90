/*
 * seq_state.c - engine_seq_save / engine_seq_load: one sequence's tokens
 * (from the engine's own record) and KV rows written to a file and read
 * back, for the server's slot save / restore (see engine.h).
 *
 * Every count in a file is checked against the file's size before anything
 * is read into the cache.
 *
 * File layout (little-endian):
 *   "CLLMSEQ1"                       8 bytes
 *   u32 n_layer, n_embd_k, n_embd_v, type_k, type_v, n_vocab, n_tokens
 *   i32 tokens[n_tokens]
 *   for each layer: K rows of the n_tokens positions, then V rows
 */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"

static const char MAGIC[8] = {'C', 'L', 'L', 'M', 'S', 'E', 'Q', '1'};
enum { HDR_WORDS = 7 };

static void header_of(struct engine *e, uint32_t n_tokens, uint32_t h[HDR_WORDS])
{
    const struct model_hparams *hp = &engine_model(e)->hp;
    struct kv_cache *kv = engine_cache(e);
    h[0] = (uint32_t)hp->n_layer;
    h[1] = (uint32_t)(hp->n_head_kv * hp->head_dim_k);
    h[2] = (uint32_t)(hp->n_head_kv * hp->head_dim_v);
    h[3] = (uint32_t)kv_cache_type_k(kv);
    h[4] = (uint32_t)kv_cache_type_v(kv);
    h[5] = (uint32_t)hp->n_vocab;
    h[6] = n_tokens;
}

/* Copy n rows of a layer between the cache and f (dir 0: to the file). */
static int copy_rows(struct kv_cache *kv, int32_t il, int32_t seq, int32_t n, FILE *f, int to_cache)
{
    size_t rk = kv_cache_k_row_size(kv), rv = kv_cache_v_row_size(kv);
    for (int32_t p = 0; p < n; p++) {
        void *k = kv_cache_k(kv, il, seq, p);
        if ((to_cache ? fread(k, rk, 1, f) : fwrite(k, rk, 1, f)) != 1)
            return -1;
    }
    for (int32_t p = 0; p < n; p++) {
        void *v = kv_cache_v(kv, il, seq, p);
        if ((to_cache ? fread(v, rv, 1, f) : fwrite(v, rv, 1, f)) != 1)
            return -1;
    }
    return 0;
}

int64_t engine_seq_save(struct engine *e, int32_t seq, const char *path, char *err, size_t err_size)
{
    struct kv_cache *kv = engine_cache(e);
    const int32_t *tokens = engine_seq_tokens(e, seq);
    if (!tokens)
        return err_set(err, err_size, "sequence id %d is out of range", seq);
    int32_t n = engine_seq_len(e, seq);
    FILE *f = fopen(path, "wb");
    if (!f)
        return err_set(err, err_size, "cannot create the file");
    uint32_t h[HDR_WORDS];
    header_of(e, (uint32_t)n, h);
    int bad = fwrite(MAGIC, sizeof MAGIC, 1, f) != 1 || fwrite(h, sizeof h, 1, f) != 1 ||
              (n > 0 && fwrite(tokens, sizeof *tokens, (size_t)n, f) != (size_t)n);
    for (int32_t il = 0; !bad && il < (int32_t)h[0]; il++)
        bad = copy_rows(kv, il, seq, n, f, 0) != 0;
    int64_t size = bad ? -1 : (int64_t)ftell(f);
    if (fclose(f) != 0 || bad) {
        remove(path);
        return err_set(err, err_size, "cannot write the file (disk full?)");
    }
    return size;
}

static int64_t load_body(struct engine *e, int32_t seq, FILE *f, int64_t file_size, char *err,
                         size_t err_size)
{
    struct kv_cache *kv = engine_cache(e);
    char magic[8];
    uint32_t h[HDR_WORDS], want[HDR_WORDS];
    if (fread(magic, sizeof magic, 1, f) != 1 || memcmp(magic, MAGIC, sizeof MAGIC) != 0 ||
        fread(h, sizeof h, 1, f) != 1)
        return err_set(err, err_size, "not a cllm slot file");
    header_of(e, h[6], want);
    if (memcmp(h, want, sizeof h - sizeof h[6]) != 0)
        return err_set(err, err_size, "the file was saved from another model or with other cache types");
    uint64_t n = h[6];
    uint64_t need = sizeof MAGIC + sizeof h + n * sizeof(int32_t) +
                    n * h[0] * (kv_cache_k_row_size(kv) + kv_cache_v_row_size(kv));
    if (need != (uint64_t)file_size)
        return err_set(err, err_size, "the file is %lld bytes, its header says %llu", (long long)file_size,
                    (unsigned long long)need);
    if (n > (uint64_t)kv_cache_room(kv, seq))
        return err_set(err, err_size, "%llu tokens do not fit in the slot", (unsigned long long)n);
    int32_t *t = engine_seq_reserve(e, seq, (int32_t)n);
    if (!t)
        return err_set(err, err_size, "out of memory");
    if (fread(t, sizeof *t, n, f) != n || kv_cache_seq_grow(kv, seq, (int32_t)n) != 0)
        return err_set(err, err_size, "cannot read the tokens");
    for (uint32_t il = 0; il < h[0]; il++)
        if (copy_rows(kv, (int32_t)il, seq, (int32_t)n, f, 1) != 0)
            return err_set(err, err_size, "cannot read the cache rows");
    return file_size;
}

int64_t engine_seq_load(struct engine *e, int32_t seq, const char *path, char *err, size_t err_size)
{
    struct kv_cache *kv = engine_cache(e);
    if (!engine_seq_tokens(e, seq))
        return err_set(err, err_size, "sequence id %d is out of range", seq);
    kv_cache_seq_rm(kv, seq, 0);
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f)
            fclose(f);
        return err_set(err, err_size, "cannot open the file");
    }
    int64_t r = load_body(e, seq, f, (int64_t)st.st_size, err, err_size);
    fclose(f);
    if (r < 0)
        kv_cache_seq_rm(kv, seq, 0);
    return r;
}
