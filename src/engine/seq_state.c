/*
 * seq_state.c - engine_seq_save / engine_seq_load: one sequence's tokens
 * (from the engine's own record) and KV rows written to a file and read
 * back, for the server's slot save / restore (see engine.h).
 *
 * Saving is crash-safe: the file is written under a temporary name in the
 * same directory, flushed to disk (fsync) and renamed over the target, so a
 * crash leaves the old file or the new one, never half of one.
 *
 * Restoring checks the whole file before the sequence is touched: the
 * header (shape and cache types), the model's fingerprint, the file's size
 * against the counts, the room in the cache and every token id against the
 * vocabulary. A refused file leaves the sequence as it was; only an I/O
 * error while the rows are being read (after all checks) leaves it empty.
 *
 * File layout (little-endian):
 *   "CLLMSEQ3"                       8 bytes
 *   u32 n_layer, n_embd_k, n_embd_v, type_k, type_v, n_vocab, n_tokens
 *   u32 fingerprint (lo, hi)         the model (see model_fingerprint)
 *   u32 swa_from                     first position the sliding-window layers hold
 *   i32 tokens[n_tokens]
 *   for each layer: K rows of its positions, then V rows (a sliding-window
 *   layer: positions swa_from .. n_tokens-1; any other: all)
 * "CLLMSEQ2" files (no swa_from: every layer holds every position) are read
 * too. A sequence read back into an engine whose sliding-window layers keep
 * only their window keeps only the rows the window needs.
 */
#include "engine/engine_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

static const char MAGIC[8] = {'C', 'L', 'L', 'M', 'S', 'E', 'Q', '3'};
static const char MAGIC_V2[8] = {'C', 'L', 'L', 'M', 'S', 'E', 'Q', '2'};
enum { HDR_WORDS = 10, HDR_WORDS_V2 = 9, HDR_N_TOKENS = 6, HDR_SWA_FROM = 9 };

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Which model this is, cheaply: its hyperparameters and 256 samples of 64
 * bytes spread over the token embeddings (two fine-tunes of one base model
 * differ there). */
static uint64_t model_fingerprint(const struct model *m)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const struct model_hparams *hp = &m->hp;
    int32_t dims[] = {(int32_t)hp->arch, hp->n_vocab, hp->n_layer, hp->n_head_kv, hp->head_dim_k, hp->head_dim_v};
    h = fnv1a(h, dims, sizeof dims);
    const unsigned char *d = m->tok_embd.data;
    size_t n = m->tok_embd.nbytes;
    if (d && n >= 64) {
        for (size_t i = 0; i < 256; i++)
            h = fnv1a(h, d + (n - 64) / 255 * i, 64);
    }
    return h;
}

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
    uint64_t fp = model_fingerprint(engine_model(e));
    h[7] = (uint32_t)fp;
    h[8] = (uint32_t)(fp >> 32);
    h[9] = 0;
}

/* First position whose rows layer il has in a file saved from swa_from. */
static int32_t layer_from(struct engine *e, int32_t il, int32_t swa_from)
{
    return model_layer_is_swa(&engine_model(e)->hp, il) ? swa_from : 0;
}

/* Copy rows [from, n) of a layer between the cache and f (to_cache 0: to
 * the file); reading, the file's rows [file_from, from) are skipped. */
static int copy_rows(struct kv_cache *kv, int32_t il, int32_t seq, int32_t from, int32_t file_from, int32_t n,
                     FILE *f, int to_cache)
{
    size_t rk = kv_cache_k_row_size(kv), rv = kv_cache_v_row_size(kv);
    if (to_cache && from > file_from && fseek(f, (long)((size_t)(from - file_from) * rk), SEEK_CUR) != 0)
        return -1;
    for (int32_t p = from; p < n; p++) {
        void *k = kv_cache_k(kv, il, seq, p);
        if ((to_cache ? fread(k, rk, 1, f) : fwrite(k, rk, 1, f)) != 1)
            return -1;
    }
    if (to_cache && from > file_from && fseek(f, (long)((size_t)(from - file_from) * rv), SEEK_CUR) != 0)
        return -1;
    for (int32_t p = from; p < n; p++) {
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
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return err_set(err, err_size, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        free(tmp);
        return err_set(err, err_size, "cannot create the file");
    }
    uint32_t h[HDR_WORDS];
    header_of(e, (uint32_t)n, h);
    int32_t swa_from = kv_cache_seq_swa_start(kv, seq);
    h[HDR_SWA_FROM] = (uint32_t)swa_from;
    int bad = fwrite(MAGIC, sizeof MAGIC, 1, f) != 1 || fwrite(h, sizeof h, 1, f) != 1 ||
              (n > 0 && fwrite(tokens, sizeof *tokens, (size_t)n, f) != (size_t)n);
    for (int32_t il = 0; !bad && il < (int32_t)h[0]; il++) {
        int32_t from = layer_from(e, il, swa_from);
        bad = copy_rows(kv, il, seq, from, from, n, f, 0) != 0;
    }
    int64_t size = bad ? -1 : (int64_t)ftell(f);
    bad = bad || fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return err_set(err, err_size, "cannot write the file (disk full?)");
    }
    free(tmp);
    return size;
}

/* Read and check the header and the tokens (into *tokens, malloc'd):
 * nothing in the engine is touched. */
static int check_file(struct engine *e, int32_t seq, FILE *f, int64_t file_size, uint32_t h[HDR_WORDS],
                      int32_t **tokens, char *err, size_t err_size)
{
    struct kv_cache *kv = engine_cache(e);
    char magic[8];
    uint32_t want[HDR_WORDS];
    size_t words = HDR_WORDS;
    if (fread(magic, sizeof magic, 1, f) == 1 && memcmp(magic, MAGIC_V2, sizeof MAGIC_V2) == 0)
        words = HDR_WORDS_V2;
    else if (memcmp(magic, MAGIC, sizeof MAGIC) != 0)
        words = 0;
    h[HDR_SWA_FROM] = 0;
    if (words == 0 || fread(h, sizeof(uint32_t) * words, 1, f) != 1)
        return err_set(err, err_size, "not a cllm slot file (or one from an older version)");
    header_of(e, h[HDR_N_TOKENS], want);
    if (memcmp(h, want, sizeof(uint32_t) * HDR_N_TOKENS) != 0)
        return err_set(err, err_size, "the file was saved from a model of another shape or with other cache types");
    if (h[7] != want[7] || h[8] != want[8])
        return err_set(err, err_size, "the file was saved from another model");
    uint64_t n = h[HDR_N_TOKENS];
    if (h[HDR_SWA_FROM] > n)
        return err_set(err, err_size, "the file's sliding-window rows start at %u, after its %llu tokens",
                       h[HDR_SWA_FROM], (unsigned long long)n);
    uint64_t rows = 0;
    for (uint32_t il = 0; il < h[0]; il++)
        rows += n - (uint64_t)layer_from(e, (int32_t)il, (int32_t)h[HDR_SWA_FROM]);
    uint64_t need = sizeof MAGIC + sizeof(uint32_t) * words + n * sizeof(int32_t) +
                    rows * (kv_cache_k_row_size(kv) + kv_cache_v_row_size(kv));
    if (need != (uint64_t)file_size)
        return err_set(err, err_size, "the file is %lld bytes, its header says %llu", (long long)file_size,
                       (unsigned long long)need);
    /* the pages themselves are checked when they are taken (kv_cache_seq_init) */
    if (n > (uint64_t)engine_n_ctx(e))
        return err_set(err, err_size, "%llu tokens do not fit in the slot", (unsigned long long)n);
    int32_t *t = malloc((n ? n : 1) * sizeof *t);
    if (!t)
        return err_set(err, err_size, "out of memory");
    if (fread(t, sizeof *t, n, f) != n) {
        free(t);
        return err_set(err, err_size, "cannot read the tokens");
    }
    for (uint64_t i = 0; i < n; i++) {
        if (t[i] < 0 || (uint32_t)t[i] >= h[5]) {
            int32_t bad = t[i];
            free(t);
            return err_set(err, err_size, "token %llu (%d) is outside the vocabulary (%u tokens)",
                           (unsigned long long)i, bad, h[5]);
        }
    }
    *tokens = t;
    return 0;
}

/* The first position the windowed layers keep of a restored sequence of n
 * positions whose file holds them from file_from: all of them, unless the
 * cache keeps only windows (then what the next query needs, a page of
 * margin included; see kv_cache.h). */
static int32_t keep_from(const struct kv_cache *kv, int32_t n, int32_t file_from)
{
    bool trimmed = false;
    for (int32_t g = 0; g < kv_cache_n_groups(kv); g++) {
        struct kv_group_stats st;
        kv_cache_group_stats(kv, g, &st);
        trimmed = trimmed || st.trimmed;
    }
    int32_t ps = kv_cache_page_size(kv), lo = n - kv_cache_swa_window(kv) - ps;
    lo = lo > 0 ? lo / ps * ps : 0;
    return trimmed && lo > file_from ? lo : file_from;
}

static int64_t load_body(struct engine *e, int32_t seq, FILE *f, int64_t file_size, char *err,
                         size_t err_size)
{
    struct kv_cache *kv = engine_cache(e);
    uint32_t h[HDR_WORDS];
    int32_t *tokens = NULL;
    if (check_file(e, seq, f, file_size, h, &tokens, err, err_size) != 0)
        return -1;
    /* every check passed: now the sequence is replaced */
    int32_t n = (int32_t)h[HDR_N_TOKENS], file_from = (int32_t)h[HDR_SWA_FROM];
    int32_t from = keep_from(kv, n, file_from);
    int32_t *t = engine_seq_reserve(e, seq, n);
    if (!t || kv_cache_seq_init(kv, seq, n, from) != 0) {
        free(tokens);
        return err_set(err, err_size, "%d tokens do not fit in the slot", n);
    }
    if (n > 0)
        memcpy(t, tokens, (size_t)n * sizeof *t);
    free(tokens);
    for (uint32_t il = 0; il < h[0]; il++)
        if (copy_rows(kv, (int32_t)il, seq, layer_from(e, (int32_t)il, from),
                      layer_from(e, (int32_t)il, file_from), n, f, 1) != 0) {
            kv_cache_seq_rm(kv, seq, 0); /* failed after the checks: left empty, not half-filled */
            return err_set(err, err_size, "cannot read the cache rows");
        }
    return file_size;
}

int64_t engine_seq_load(struct engine *e, int32_t seq, const char *path, char *err, size_t err_size)
{
    if (!engine_seq_tokens(e, seq))
        return err_set(err, err_size, "sequence id %d is out of range", seq);
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f)
            fclose(f);
        return err_set(err, err_size, "cannot open the file");
    }
    int64_t r = load_body(e, seq, f, (int64_t)st.st_size, err, err_size);
    fclose(f);
    return r;
}
