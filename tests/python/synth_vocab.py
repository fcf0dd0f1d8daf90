"""synth_vocab.py - synthetic vocabulary-only GGUFs for the BPE pre-tokenizers
whose real vocabularies are not available (llama3's "llama-bpe", "qwen2"):
gpt-2's tokens and merges under another tokenizer.ggml.pre, plus two control
tokens and one user-defined token. Built at test time (and by
scripts/make-token-vectors.py) from ../shared/vocab/ggml-vocab-gpt-2.gguf, so
no binary is committed."""
import os

EXTRA = [("<|im_start|>", 3), ("<|im_end|>", 3), ("<think>", 4)]


def field_value(field):
    """A scalar field's value (str or number)."""
    part = field.parts[field.data[0]]
    if field.types[0].name == "STRING":
        return bytes(part).decode("utf-8")
    return part.tolist()[0]


def array_strings(field):
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def build(src, dst, pre):
    import gguf

    r = gguf.GGUFReader(src)
    f = r.fields
    w = gguf.GGUFWriter(dst, arch="gpt2")
    w.add_name(f"synthetic-{pre}")
    for key in ("context_length", "embedding_length", "feed_forward_length", "block_count"):
        w.add_uint32(f"gpt2.{key}", field_value(f[f"gpt2.{key}"]))
    w.add_uint32("gpt2.attention.head_count", field_value(f["gpt2.attention.head_count"]))
    w.add_float32("gpt2.attention.layer_norm_epsilon", field_value(f["gpt2.attention.layer_norm_epsilon"]))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    tokens = array_strings(f["tokenizer.ggml.tokens"]) + [t for t, _ in EXTRA]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    types += [t for _, t in EXTRA]
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(array_strings(f["tokenizer.ggml.merges"]))
    w.add_bos_token_id(field_value(f["tokenizer.ggml.bos_token_id"]))
    w.add_eos_token_id(field_value(f["tokenizer.ggml.eos_token_id"]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst


def ensure(shared, out_dir, pre):
    """Path of the synthetic vocabulary for pre, built if missing."""
    dst = os.path.join(out_dir, f"synth-vocab-{pre}.gguf")
    if not os.path.exists(dst):
        os.makedirs(out_dir, exist_ok=True)
        build(os.path.join(shared, "vocab", "ggml-vocab-gpt-2.gguf"), dst + ".tmp", pre)
        os.replace(dst + ".tmp", dst)
    return dst
