#!/usr/bin/env python3
"""make-synthetic-models.py - small random-weight qwen2 and qwen3 GGUF models
for the engine's fidelity tests (there is no real qwen2/qwen3 model here).

    .venv/bin/python scripts/make-synthetic-models.py --out DIR [--arch qwen2|qwen3|all]

Writes, with gguf-py's GGUFWriter, for each architecture asked for:

    qwen2-syn-f32.gguf   qwen2-syn-q8_0.gguf   (output tied to token_embd)
    qwen3-syn-f32.gguf   qwen3-syn-q8_0.gguf   (separate output.weight)

The weights come from numpy's PCG64 generator with a fixed seed per
architecture (the F32 and Q8_0 files of an architecture hold the same
weights; in the Q8_0 file every 2-D weight, token_embd and output included,
is quantized with gguf-py's quants.quantize; norms and biases stay F32, as in
llama.cpp's own Q8_0 files). Nothing else varies (no timestamps, no dict
ordering), so every run writes the same bytes; the sha256 of each file is
recorded in the reference vectors (tests/vectors/synthetic/*.json), and
tests/python/test_engine_synthetic.py regenerates the files and checks it.
Generate with the project's .venv (numpy and gguf-py versions are part of
what makes the bytes; see docs/reference-vectors.md).

The vocabulary is gpt-2's (tokens, token types, merges, BOS/EOS 50256) from
../shared/vocab/ggml-vocab-gpt-2.gguf under tokenizer.ggml.pre "qwen2", with
add_bos_token false as in real Qwen files; n_vocab = 50257.

Shapes (both: 4 layers, n_embd 256, 8 query heads, 2 KV heads, n_ff 704,
RMS eps 1e-6, NeoX RoPE with base 1e6):
  qwen2: head_dim 32 (= n_embd / n_head), Q/K/V biases, no Q/K norms;
  qwen3: key_length = value_length = 64 (head_dim != n_embd / n_head, the
         query projection is 256 -> 512 and attn_output 512 -> 256), per-head
         Q/K RMS norms, no biases.
Scales keep the activations in a realistic range: projections ~N(0, 1/fan_in)
(query/key a bit larger so attention is not uniform), token embeddings and
output ~N(0, 0.15) so logits spread over several units, norm weights 1 +
N(0, 0.1) (Q/K norms 1 + N(0, 0.2)), biases N(0, 0.1) (V: 0.02).
"""
import argparse
import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_VOCAB = os.path.join(os.path.dirname(ROOT), "shared", "vocab", "ggml-vocab-gpt-2.gguf")

SEEDS = {"qwen2": 20250201, "qwen3": 20250301}
SHAPES = {
    "qwen2": dict(n_embd=256, n_layer=4, n_head=8, n_head_kv=2, head_dim=32, n_ff=704,
                  n_ctx_train=32768, tied=True),
    "qwen3": dict(n_embd=256, n_layer=4, n_head=8, n_head_kv=2, head_dim=64, n_ff=704,
                  n_ctx_train=40960, tied=False),
}
NORM_EPS = 1e-6
ROPE_BASE = 1000000.0
VARIANTS = ("f32", "q8_0")


def model_names(arch):
    return ["%s-syn-%s.gguf" % (arch, v) for v in VARIANTS]


def _field_value(field):
    part = field.parts[field.data[0]]
    if field.types[0].name == "STRING":
        return bytes(part).decode("utf-8")
    return part.tolist()[0]


def _array_strings(field):
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def read_vocab(path):
    import gguf

    f = gguf.GGUFReader(path).fields
    return {
        "tokens": _array_strings(f["tokenizer.ggml.tokens"]),
        "types": [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data],
        "merges": _array_strings(f["tokenizer.ggml.merges"]),
        "bos": int(_field_value(f["tokenizer.ggml.bos_token_id"])),
        "eos": int(_field_value(f["tokenizer.ggml.eos_token_id"])),
    }


def make_weights(arch, n_vocab):
    """Ordered list of (name, float32 array in numpy order [ne1, ne0])."""
    s = SHAPES[arch]
    rng = np.random.default_rng(SEEDS[arch])
    e, hd, nh, nkv, ff = s["n_embd"], s["head_dim"], s["n_head"], s["n_head_kv"], s["n_ff"]

    def normal(shape, std, mean=0.0):
        return (mean + std * rng.standard_normal(shape)).astype(np.float32)

    w = [("token_embd.weight", normal((n_vocab, e), 0.15)),
         ("output_norm.weight", normal((e,), 0.1, 1.0))]
    if not s["tied"]:
        w.append(("output.weight", normal((n_vocab, e), 0.15)))
    for il in range(s["n_layer"]):
        p = "blk.%d." % il
        w.append((p + "attn_norm.weight", normal((e,), 0.1, 1.0)))
        w.append((p + "attn_q.weight", normal((nh * hd, e), 1.3 / np.sqrt(e))))
        w.append((p + "attn_k.weight", normal((nkv * hd, e), 1.3 / np.sqrt(e))))
        w.append((p + "attn_v.weight", normal((nkv * hd, e), 1.0 / np.sqrt(e))))
        if arch == "qwen2":
            w.append((p + "attn_q.bias", normal((nh * hd,), 0.1)))
            w.append((p + "attn_k.bias", normal((nkv * hd,), 0.1)))
            w.append((p + "attn_v.bias", normal((nkv * hd,), 0.02)))
        if arch == "qwen3":
            w.append((p + "attn_q_norm.weight", normal((hd,), 0.2, 1.0)))
            w.append((p + "attn_k_norm.weight", normal((hd,), 0.2, 1.0)))
        w.append((p + "attn_output.weight", normal((e, nh * hd), 1.0 / np.sqrt(nh * hd))))
        w.append((p + "ffn_norm.weight", normal((e,), 0.1, 1.0)))
        w.append((p + "ffn_gate.weight", normal((ff, e), 1.0 / np.sqrt(e))))
        w.append((p + "ffn_up.weight", normal((ff, e), 1.0 / np.sqrt(e))))
        w.append((p + "ffn_down.weight", normal((e, ff), 1.0 / np.sqrt(ff))))
    return w


def write_model(path, arch, variant, weights, vocab):
    import gguf
    from gguf import quants

    s = SHAPES[arch]
    q8 = variant == "q8_0"
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_name("%s-synthetic-%s" % (arch, variant))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if q8 else gguf.LlamaFileType.ALL_F32)
    if q8:
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(s["n_ctx_train"])
    w.add_embedding_length(s["n_embd"])
    w.add_block_count(s["n_layer"])
    w.add_feed_forward_length(s["n_ff"])
    w.add_head_count(s["n_head"])
    w.add_head_count_kv(s["n_head_kv"])
    if s["head_dim"] * s["n_head"] != s["n_embd"]:
        w.add_key_length(s["head_dim"])
        w.add_value_length(s["head_dim"])
    w.add_layer_norm_rms_eps(NORM_EPS)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(vocab["tokens"])
    w.add_token_types(vocab["types"])
    w.add_token_merges(vocab["merges"])
    w.add_bos_token_id(vocab["bos"])
    w.add_eos_token_id(vocab["eos"])
    w.add_add_bos_token(False)
    for name, data in weights:
        if q8 and data.ndim == 2:
            w.add_tensor(name, quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                         raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def generate(out_dir, archs=("qwen2", "qwen3"), vocab_path=DEFAULT_VOCAB):
    """Write the models of archs into out_dir; returns {file name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    vocab = read_vocab(vocab_path)
    out = {}
    for arch in archs:
        weights = make_weights(arch, len(vocab["tokens"]))
        for variant, name in zip(VARIANTS, model_names(arch)):
            path = os.path.join(out_dir, name)
            write_model(path + ".tmp", arch, variant, weights, vocab)
            os.replace(path + ".tmp", path)
            out[name] = path
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", choices=["qwen2", "qwen3", "all"], default="all")
    ap.add_argument("--vocab", default=DEFAULT_VOCAB)
    a = ap.parse_args()
    archs = ("qwen2", "qwen3") if a.arch == "all" else (a.arch,)
    for name, path in generate(a.out, archs, a.vocab).items():
        print("%s  %s  (%d bytes)" % (sha256(path), path, os.path.getsize(path)))


if __name__ == "__main__":
    sys.exit(main())
