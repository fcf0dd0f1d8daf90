#!/usr/bin/env python3
"""cllm-convert.py - Hugging Face safetensors + config.json + tokenizer.json
to GGUF, with the tensor names, metadata and vocabulary that llama.cpp's
convert_hf_to_gguf.py writes (so llama.cpp and cllm load the result).

    .venv/bin/python scripts/cllm-convert.py MODEL_DIR -o OUT.gguf [--type f32|f16|q8_0]

Needs only PyPI gguf, safetensors and numpy (no torch, no transformers).
Families: BERT (config "architectures": BertModel, BertForMaskedLM, ... ->
general.architecture "bert"), and the decoders llama (LlamaForCausalLM,
MistralForCausalLM), qwen2 (Qwen2ForCausalLM), qwen3 (Qwen3ForCausalLM) with
a byte-level BPE tokenizer.json.

Decoders, as llama.cpp's converter does them: names from gguf-py's
TensorNameMap; llama's attn_q/attn_k rows permuted from Hugging Face's
rotate-half order to GGUF's interleaved one; norms F32, the other weights
--type; {arch}.context_length, embedding_length, block_count,
feed_forward_length, attention.head_count(_kv), rope.freq_base,
attention.layer_norm_rms_epsilon, attention.key_length/value_length when
config has head_dim, rope.dimension_count (llama), vocab_size; the BPE
vocabulary (tokens by id, padded to vocab_size with [PAD{i}] unused
tokens, CONTROL/USER_DEFINED added tokens, merges) with tokenizer.ggml.pre
"qwen2" for qwen2/qwen3 and "llama-bpe" for llama (llama.cpp's names for
those tokenizers; --pre overrides), and what gguf-py's SpecialVocab reads
(bos/eos/pad ids, add_bos/eos flags, chat template). Not done: llama3
rope_freqs, SentencePiece tokenizer.model vocabularies, MoE.

BERT, as llama.cpp's converter does it:
  - tensor names from gguf-py's TensorNameMap (embeddings.word_embeddings ->
    token_embd, encoder.layer.N.attention.self.query -> blk.N.attn_q, ...);
    the pooler and embeddings.position_ids are dropped;
  - types: 1-D tensors, norms, position_embd and token_types stay F32; the
    other weights take --type (Q8_0 through gguf-py's quantizer, F16 where a
    row does not divide into blocks of 32);
  - metadata: bert.context_length (max_position_embeddings),
    embedding_length, feed_forward_length, block_count, attention.head_count,
    attention.layer_norm_epsilon, attention.causal = false, pooling_type from
    the sentence-transformers 1_Pooling/config.json (mean 1, cls 2),
    general.file_type;
  - vocabulary: tokenizer.ggml.model "bert", the WordPiece tokens in id order
    in llama.cpp's "phantom space" form ("##x" -> "x", "[X]" kept, other
    tokens get a U+2581 prefix), token types CONTROL for the special added
    tokens and NORMAL otherwise, tokenizer.ggml.token_type_count
    (type_vocab_size), and the special token ids gguf-py's SpecialVocab finds
    and has keys for (unknown, separator, padding, mask; not cls, which
    llama.cpp takes as BOS, 101 by default). tokenizer.ggml.pre is
    "bert-bge" for an uncased BERT vocabulary (the name llama.cpp's
    pre-tokenizer table gives that tokenizer), else "default".
"""
import argparse
import json
import os
import sys

import numpy as np

try:
    import gguf
    from safetensors.numpy import safe_open  # noqa: F401
except ImportError as e:  # pragma: no cover
    sys.exit(f"cllm-convert: {e}; install the packages of tests/requirements.txt")

FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}
QTYPES = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
          "q8_0": gguf.GGMLQuantizationType.Q8_0}
BERT_ARCHS = {"BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForPreTraining"}


def load_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_tensors(model_dir):
    """name -> float32/other numpy array, from every *.safetensors file."""
    from safetensors import safe_open as so

    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    if not files:
        raise SystemExit(f"cllm-convert: {model_dir}: no .safetensors files")
    out = {}
    for fn in files:
        with so(os.path.join(model_dir, fn), framework="numpy") as f:
            for k in f.keys():
                out[k] = f.get_tensor(k)
    return out


def pooling_type(model_dir):
    """gguf PoolingType from the sentence-transformers modules, or None."""
    modules = load_json(os.path.join(model_dir, "modules.json"), [])
    for m in modules:
        if m.get("type") == "sentence_transformers.models.Pooling":
            cfg = load_json(os.path.join(model_dir, m.get("path", ""), "config.json"), {})
            if cfg.get("pooling_mode_mean_tokens"):
                return gguf.PoolingType.MEAN
            if cfg.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            if cfg.get("pooling_mode_lasttoken"):
                return gguf.PoolingType.LAST
    return None


def bert_vocab(model_dir, w, hparams):
    tj = load_json(os.path.join(model_dir, "tokenizer.json"))
    if tj is None or tj.get("model", {}).get("type") != "WordPiece":
        raise SystemExit(f"cllm-convert: {model_dir}: expected a WordPiece tokenizer.json")
    vocab = tj["model"]["vocab"]
    n = max(hparams["vocab_size"], max(vocab.values()) + 1)
    by_id = {i: t for t, i in vocab.items()}
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(n):
        if i not in by_id and i not in added:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tok = added[i]["content"] if i in added else by_id[i]
        if i in added:
            special = added[i].get("special") or (tok.startswith("[") and tok.endswith("]"))
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(tok)

    def phantom(t):
        if t.startswith("[") and t.endswith("]"):
            return t
        if t.startswith("##"):
            return t[2:]
        return "\u2581" + t

    tokens = [phantom(t) for t in tokens]
    w.add_token_type_count(hparams.get("type_vocab_size", 1))
    w.add_tokenizer_model("bert")
    lower = (tj.get("normalizer") or {}).get("lowercase", False)
    w.add_tokenizer_pre("bert-bge" if lower and n == 30522 else "default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    sv = gguf.SpecialVocab(model_dir, n_vocab=len(tokens))
    if not hasattr(w, "add_cls_token_id"):
        # gguf-py has no key for it (llama.cpp takes [CLS] as BOS, id 101 by
        # default for WPM); the converter skips it with a warning
        sv.special_token_ids.pop("cls", None)
    sv.add_to_gguf(w, quiet=True)


def tensor_type(new_name, data, want):
    """The GGUF type llama.cpp's converter picks for this tensor."""
    if data.ndim <= 1 or new_name.endswith("_norm.weight") or new_name.startswith(("position_embd", "token_types")):
        return gguf.GGMLQuantizationType.F32
    q = QTYPES[want]
    if q == gguf.GGMLQuantizationType.Q8_0 and data.shape[-1] % 32 != 0:
        return gguf.GGMLQuantizationType.F16
    return q


def convert_bert(model_dir, out, want, hparams):
    tensors = read_tensors(model_dir)
    n_layer = hparams["num_hidden_layers"]
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layer)
    w = gguf.GGUFWriter(out, arch="bert")
    w.add_name(os.path.basename(os.path.normpath(model_dir)))
    w.add_context_length(hparams["max_position_embeddings"])
    w.add_embedding_length(hparams["hidden_size"])
    w.add_feed_forward_length(hparams["intermediate_size"])
    w.add_block_count(n_layer)
    w.add_head_count(hparams["num_attention_heads"])
    w.add_layer_norm_eps(hparams.get("layer_norm_eps", 1e-12))
    w.add_file_type(FILE_TYPES[want])
    w.add_causal_attention(False)
    pt = pooling_type(model_dir)
    if pt is not None:
        w.add_pooling_type(pt)
    bert_vocab(model_dir, w, hparams)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, data in tensors.items():
        if name.startswith("bert."):
            name = name[5:]
        if name in ("embeddings.position_ids",) or name.startswith(("pooler", "cls.")):
            continue
        new_name = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise SystemExit(f"cllm-convert: {model_dir}: cannot map tensor {name!r}")
        add_tensor(w, new_name, data.astype(np.float32), want)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


DECODERS = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
            "Qwen3ForCausalLM": "qwen3"}
PRE = {"llama": "llama-bpe", "qwen2": "qwen2", "qwen3": "qwen2"}


def llama_permute(w, n_head, n_head_kv=None):
    """Hugging Face's rotate-half rows of attn_q/attn_k -> llama.cpp's pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def bpe_vocab(model_dir, w, n_vocab, pre):
    tj = load_json(os.path.join(model_dir, "tokenizer.json"))
    if tj is None or tj.get("model", {}).get("type") != "BPE":
        raise SystemExit(f"cllm-convert: {model_dir}: expected a BPE tokenizer.json")
    by_id = {i: t for t, i in tj["model"]["vocab"].items()}
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    n = max([n_vocab] + [i + 1 for i in by_id] + [i + 1 for i in added])
    tokens, types = [], []
    for i in range(n):
        if i in added:
            tokens.append(added[i]["content"])
            special = added[i].get("special", False)
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    return len(tokens)


def convert_decoder(model_dir, out, want, hparams, arch, pre):
    tensors = read_tensors(model_dir)
    n_layer, n_head = hparams["num_hidden_layers"], hparams["num_attention_heads"]
    n_kv = hparams.get("num_key_value_heads", n_head)
    head_dim = hparams.get("head_dim") or hparams["hidden_size"] // n_head
    march = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2, "qwen3": gguf.MODEL_ARCH.QWEN3}[arch]
    tmap = gguf.get_tensor_name_map(march, n_layer)
    w = gguf.GGUFWriter(out, arch=arch)
    w.add_name(os.path.basename(os.path.normpath(model_dir)))
    w.add_context_length(hparams["max_position_embeddings"])
    w.add_embedding_length(hparams["hidden_size"])
    w.add_block_count(n_layer)
    w.add_feed_forward_length(hparams["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(float(hparams.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(hparams.get("rms_norm_eps", 1e-6)))
    if hparams.get("head_dim") is not None:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == "llama":
        w.add_rope_dimension_count(head_dim)
        w.add_vocab_size(hparams["vocab_size"])
    sc = hparams.get("rope_scaling") or {}
    if sc.get("type", sc.get("rope_type")) == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(sc["factor"]))
    if hparams.get("sliding_window") and arch == "llama" and hparams.get("use_sliding_window", True):
        w.add_sliding_window(hparams["sliding_window"])
    w.add_file_type(FILE_TYPES[want])
    bpe_vocab(model_dir, w, hparams["vocab_size"], pre or PRE[arch])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tied = hparams.get("tie_word_embeddings", False)
    for name, data in tensors.items():
        if name.endswith(("rotary_emb.inv_freq", ".attn.masked_bias")):
            continue
        if name == "lm_head.weight" and tied:
            continue
        new_name = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise SystemExit(f"cllm-convert: {model_dir}: cannot map tensor {name!r}")
        data = data.astype(np.float32)
        if arch == "llama" and new_name.endswith("attn_q.weight"):
            data = llama_permute(data, n_head, n_head)
        elif arch == "llama" and new_name.endswith("attn_k.weight"):
            data = llama_permute(data, n_head, n_kv)
        add_tensor(w, new_name, data, want)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def add_tensor(w, new_name, data, want):
    qt = tensor_type(new_name, data, want)
    if qt == gguf.GGMLQuantizationType.F32:
        w.add_tensor(new_name, data)
    elif qt == gguf.GGMLQuantizationType.F16:
        w.add_tensor(new_name, data.astype(np.float16))
    else:
        w.add_tensor(new_name, gguf.quants.quantize(data, qt), raw_dtype=qt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--type", default="f16", choices=sorted(FILE_TYPES))
    ap.add_argument("--pre", help="tokenizer.ggml.pre for a BPE vocabulary (default: by architecture)")
    a = ap.parse_args(argv)
    hparams = load_json(os.path.join(a.model_dir, "config.json"))
    if hparams is None:
        raise SystemExit(f"cllm-convert: {a.model_dir}: no config.json")
    archs = set(hparams.get("architectures") or [])
    if archs & BERT_ARCHS or hparams.get("model_type") == "bert":
        convert_bert(a.model_dir, a.out + ".tmp", a.type, hparams)
    elif archs & set(DECODERS):
        arch = DECODERS[sorted(archs & set(DECODERS))[0]]
        convert_decoder(a.model_dir, a.out + ".tmp", a.type, hparams, arch, a.pre)
    else:
        raise SystemExit(f"cllm-convert: {a.model_dir}: unsupported architecture {sorted(archs)}")
    os.replace(a.out + ".tmp", a.out)
    print(f"cllm-convert: wrote {a.out}")


if __name__ == "__main__":
    main()
