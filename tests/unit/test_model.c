/*
 * test_model.c - binding GGUF files to models: the hyperparameters and
 * tensors of the real models, and clear errors for synthetic files that lack
 * a key or a tensor, have a wrong shape or type, or an unknown architecture.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_writer.h"
#include "model/model.h"

static const char *model_path(const char *name, char *buf, size_t n)
{
    const char *src = getenv("CLLM_SOURCE_DIR") ? getenv("CLLM_SOURCE_DIR") : CLLM_SOURCE_DIR;
    snprintf(buf, n, "%s/models/%s", src, name);
    FILE *f = fopen(buf, "rb");
    if (f == NULL)
        return NULL;
    fclose(f);
    return buf;
}

static struct model *load_real(const char *name)
{
    char path[1024], err[512];
    if (model_path(name, path, sizeof(path)) == NULL)
        return NULL;
    struct model *m = model_load(path, 0, err, sizeof(err));
    if (m == NULL)
        fail_msg("%s", err);
    return m;
}

static void test_stories260k(void **state)
{
    (void)state;
    struct model *m = load_real("stories260K.gguf");
    if (m == NULL)
        skip();
    const struct model_hparams *hp = &m->hp;
    assert_int_equal(hp->arch, ARCH_LLAMA);
    assert_int_equal(hp->n_embd, 64);
    assert_int_equal(hp->n_layer, 5);
    assert_int_equal(hp->n_head, 8);
    assert_int_equal(hp->n_head_kv, 4);
    assert_int_equal(hp->n_ff, 172);
    assert_int_equal(hp->n_vocab, 512);
    assert_int_equal(hp->head_dim_k, 8);
    assert_false(hp->rope_neox);
    assert_int_equal(m->layers[4].ffn_down.ne[0], 172);
    assert_null(m->layers[0].bq.name);
    model_free(m);
}

static void test_tinystories_tied(void **state)
{
    (void)state;
    struct model *m = load_real("TinyStories-656K-Q4_0.gguf");
    if (m == NULL)
        skip();
    assert_int_equal(m->hp.n_embd, 128);
    assert_int_equal(m->hp.n_layer, 2);
    assert_int_equal(m->hp.n_vocab, 2048);
    assert_true(m->tied_output);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    assert_int_equal(m->layers[0].wq.type, TYPE_Q4_0);
    model_free(m);
}

static void test_gemma3(void **state)
{
    (void)state;
    struct model *m = load_real("gemma-3-270m-q4_k_m.gguf");
    if (m == NULL)
        skip();
    const struct model_hparams *hp = &m->hp;
    assert_int_equal(hp->arch, ARCH_GEMMA3);
    assert_int_equal(hp->n_embd, 640);
    assert_int_equal(hp->n_layer, 18);
    assert_int_equal(hp->n_head, 4);
    assert_int_equal(hp->n_head_kv, 1);
    assert_int_equal(hp->head_dim_k, 256);
    assert_int_equal(hp->n_ff, 2048);
    assert_int_equal(hp->n_vocab, 262144);
    assert_int_equal(hp->sliding_window, 512);
    assert_true(hp->rope_neox);
    assert_true(hp->rope_freq_base == 1e6f);
    assert_true(hp->rope_freq_base_swa == 10000.0f);
    assert_true(fabsf(hp->embd_scale - sqrtf(640.0f)) < 1e-6f);
    for (int il = 0; il < 18; il++)
        assert_int_equal(model_layer_is_swa(hp, il), il % 6 != 5);
    assert_non_null(m->layers[3].q_norm.name);
    assert_non_null(m->layers[3].post_ffn_norm.name);
    assert_true(m->tied_output);
    model_free(m);
}

/* A minimal llama model: 1 layer, n_embd 32, 2 heads, n_ff 64, vocab 8. */
static float zeros[64 * 64];

static struct gguf_writer *tiny_llama(const char *skip_tensor, const char *arch)
{
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", arch);
    gguf_writer_add_u32(w, "llama.context_length", 128);
    gguf_writer_add_u32(w, "llama.embedding_length", 32);
    gguf_writer_add_u32(w, "llama.block_count", 1);
    gguf_writer_add_u32(w, "llama.feed_forward_length", 64);
    gguf_writer_add_u32(w, "llama.attention.head_count", 2);
    struct { const char *name; int64_t ne0, ne1; } t[] = {
        { "token_embd.weight", 32, 8 }, { "output_norm.weight", 32, 0 },
        { "blk.0.attn_norm.weight", 32, 0 }, { "blk.0.attn_q.weight", 32, 32 },
        { "blk.0.attn_k.weight", 32, 32 }, { "blk.0.attn_v.weight", 32, 32 },
        { "blk.0.attn_output.weight", 32, 32 }, { "blk.0.ffn_norm.weight", 32, 0 },
        { "blk.0.ffn_gate.weight", 32, 64 }, { "blk.0.ffn_up.weight", 32, 64 },
        { "blk.0.ffn_down.weight", 64, 32 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (skip_tensor && strcmp(skip_tensor, t[i].name) == 0)
            continue;
        int64_t ne[2] = { t[i].ne0, t[i].ne1 };
        assert_int_equal(gguf_writer_add_tensor(w, t[i].name, TYPE_F32, t[i].ne1 ? 2 : 1, ne, zeros), 0);
    }
    return w;
}

static const char *load_error(struct gguf_writer *w)
{
    static char err[512];
    static uint8_t *data;
    size_t size;
    free(data);
    assert_int_equal(gguf_writer_to_memory(w, &data, &size), 0);
    gguf_writer_free(w);
    struct gguf_ctx *g = gguf_open_memory(data, size, "tiny.gguf", err, sizeof(err));
    assert_non_null(g);
    struct model *m = model_from_gguf(g, err, sizeof(err));
    if (m != NULL) {
        model_free(m);
        free(data);
        data = NULL;
        return NULL;
    }
    free(data);
    data = NULL;
    return err;
}

static void expect(struct gguf_writer *w, const char *needle)
{
    const char *e = load_error(w);
    if (e == NULL)
        fail_msg("expected an error containing '%s', model loaded", needle);
    if (strstr(e, needle) == NULL || strstr(e, "tiny.gguf: ") != e)
        fail_msg("error '%s' does not contain '%s'", e, needle);
}

static void test_synthetic_errors(void **state)
{
    (void)state;
    assert_null(load_error(tiny_llama(NULL, "llama")));
    expect(tiny_llama("blk.0.attn_k.weight", "llama"), "missing tensor 'blk.0.attn_k.weight'");
    expect(tiny_llama("token_embd.weight", "llama"), "missing tensor 'token_embd.weight'");
    expect(tiny_llama(NULL, "mamba"), "unsupported architecture 'mamba'");

    struct gguf_writer *w = tiny_llama("blk.0.ffn_up.weight", "llama");
    int64_t bad[2] = { 32, 63 };
    gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", TYPE_F32, 2, bad, zeros);
    expect(w, "tensor 'blk.0.ffn_up.weight' has shape [32, 63, 1, 1], expected [32, 64]");

    w = tiny_llama("blk.0.ffn_norm.weight", "llama");
    int64_t ne32[1] = { 32 };
    gguf_writer_add_tensor(w, "blk.0.ffn_norm.weight", TYPE_Q8_0, 1, ne32, zeros);
    expect(w, "norms and biases must be F32");

    w = tiny_llama(NULL, "llama");
    gguf_writer_add_u32(w, "llama.attention.head_count_kv", 3);
    expect(w, "not a multiple of head_count_kv");

    w = tiny_llama(NULL, "llama");
    gguf_writer_add_str(w, "llama.rope.scaling.type", "yarn");
    expect(w, "rope scaling type 'yarn' is not supported");

    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama");
    expect(w, "missing metadata key llama.context_length");

    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama");
    gguf_writer_add_str(w, "llama.context_length", "long");
    expect(w, "llama.context_length: wrong type");

    w = gguf_writer_new();
    expect(w, "general.architecture: key not found");

    char err[512];
    assert_null(model_load("/nonexistent.gguf", 0, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent.gguf: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_tinystories_tied),
        cmocka_unit_test(test_gemma3),
        cmocka_unit_test(test_synthetic_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
