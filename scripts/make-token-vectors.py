#!/usr/bin/env python3
"""make-token-vectors.py - expected token ids made by llama.cpp (through
llama-cpp-python) for tests/vectors/*.json.

This is a generator, run by hand with the reference environment; tests only
read its committed output:

    /work/ref/venv/bin/python scripts/make-token-vectors.py [--out tests/vectors]

For each model it records: the vocabulary facts (BOS/EOS/EOT ids, add-BOS/EOS
flags, the end-of-generation set, a digest of every token's piece), and for a
mixed corpus the ids with add_special and parse_special on and off, and the
text llama_detokenize gives back. Texts that are not UTF-8 are stored as hex
under the key with "_hex" appended.
Each model runs in a child process because llama.cpp aborts on some inputs
(e.g. a character without byte-fallback token in a small vocabulary); such
texts are recorded with "error": true.
"""
import argparse
import ctypes
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("CLLM_SHARED", os.path.join(ROOT, "..", "shared"))

# name -> (path relative to the repo, or "shared:" + path under the shared folder)
MODELS = {
    "gemma-3-270m": "models/gemma-3-270m-q4_k_m.gguf",
    "stories260K": "shared:models/stories260K.gguf",
    "tinystories-656K": "shared:models/TinyStories-656K-Q8_0.gguf",
    "llama-spm": "shared:vocab/ggml-vocab-llama-spm.gguf",
    "phi-3": "shared:vocab/ggml-vocab-phi-3.gguf",
    "baichuan": "shared:vocab/ggml-vocab-baichuan.gguf",
    "gpt-2": "shared:vocab/ggml-vocab-gpt-2.gguf",
    "gpt-neox": "shared:vocab/ggml-vocab-gpt-neox.gguf",
    "falcon": "shared:vocab/ggml-vocab-falcon.gguf",
    "deepseek-coder": "shared:vocab/ggml-vocab-deepseek-coder.gguf",
    "deepseek-llm": "shared:vocab/ggml-vocab-deepseek-llm.gguf",
    "mpt": "shared:vocab/ggml-vocab-mpt.gguf",
    "refact": "shared:vocab/ggml-vocab-refact.gguf",
    "starcoder": "shared:vocab/ggml-vocab-starcoder.gguf",
    "bert-bge": "shared:vocab/ggml-vocab-bert-bge.gguf",
    # synthetic: gpt-2's tokens and merges under other pre-tokenizers,
    # built by tests/python/synth_vocab.py
    "synth-llama-bpe": "synth:llama-bpe",
    "synth-qwen2": "synth:qwen2",
}

CORPUS = [
    "Hello world",
    " Hello world",
    "Hello World!",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "   leading spaces and trailing   ",
    "multiple     spaces    between",
    "tabs\tand\t\ttabs",
    "new\nlines\n\nand\r\nCRLF\n",
    "\n",
    " ",
    "  ",
    "\t",
    "\n\n\n",
    "",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i); } // comment",
    "<html><body><h1>Title</h1><p class=\"x\">text</p></body></html>",
    "<td> </td> a> </b> x > </y",
    "x = [1, 2, 3]; y = {'a': 1, \"b\": 2.5e-3}",
    "3 33 333 3333 33333 333333 3333333 33333333 3.14159 1,000,000 -42 0x1F",
    "In 2024, 7% of 1234567 people paid $89.99.",
    "日本語のテキストです。東京は大きい都市です。",
    "我想在apple工作1314151天～",
    "한국어 텍스트 입니다",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "नमस्ते दुनिया",
    "Ελληνικά κείμενα",
    "Tiếng Việt có dấu",
    "Ça va? Où est la café? naïve résumé Fürther Straße",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙 👍🏽 🇺🇸",
    "emoji at end 🎉",
    "ied 4 ½ months",
    "Führer",
    "⅓ ½ ¾ ∞ ≠ ≤ → ← ©®™",
    "------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!??????",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhello<|im_end|>",
    "<s>[INST] hi [/INST]</s>",
    "<|endoftext|>text<|endoftext|>",
    "<bos>text<eos>",
    "<|start_story|>Once upon a time<|end_story|>",
    "<unk> <pad> <mask> [CLS] [SEP] [UNK]",
    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|user|>\nhi<|end|>\n<|assistant|>",
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
    "a" * 200,
    "ab " * 50,
    "\u00a0non-breaking\u00a0space\u3000ideographic space",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "control\x01\x02\x07chars\x1b[0m",
    "nul\x00byte",
]

INVALID = [
    b"invalid \xff\xfe bytes",
    b"truncated \xe6\x97",
    b"\xe6\x97",
    b"lone continuation \x80\x81 here",
    b"overlong \xc0\xaf and \xed\xa0\x80 surrogate",
    b"\xf0\x9f\x98 cut emoji",
    b"mixed \xc3\xa9\xc3 end",
]


def corpus():
    texts = [t.encode("utf-8", "surrogatepass") for t in CORPUS]
    return texts + INVALID


def model_path(rel):
    if rel.startswith("synth:"):
        sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
        import synth_vocab
        return synth_vocab.ensure(SHARED, os.path.join(ROOT, "build-vectors"), rel[len("synth:"):])
    if rel.startswith("shared:"):
        return os.path.join(SHARED, rel[len("shared:"):])
    return os.path.join(ROOT, rel)


def child(path):
    """Runs in a child process: writes the JSON for one model to stdout."""
    import llama_cpp

    llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    vocab = llm._model.vocab
    n = llama_cpp.llama_vocab_n_tokens(vocab)

    def piece(tok, special):
        buf = ctypes.create_string_buffer(256)
        k = llama_cpp.llama_token_to_piece(vocab, tok, buf, 256, 0, special)
        if k < 0:
            buf = ctypes.create_string_buffer(-k)
            k = llama_cpp.llama_token_to_piece(vocab, tok, buf, -k, 0, special)
        return buf.raw[:k]

    def detok(ids, remove_special, unparse_special):
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        k = llama_cpp.llama_detokenize(vocab, arr, len(ids), None, 0, remove_special, unparse_special)
        size = -k if k < 0 else k
        buf = ctypes.create_string_buffer(max(1, size))
        k = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, remove_special, unparse_special)
        return buf.raw[:k]

    digests = {}
    for special in (True, False):
        h = hashlib.sha256()
        for t in range(n):
            p = piece(t, special)
            h.update(len(p).to_bytes(4, "little") + p)
        digests["special" if special else "plain"] = h.hexdigest()

    meta = {
        "n_tokens": n,
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "eot": llama_cpp.llama_vocab_eot(vocab),
        "sep": llama_cpp.llama_vocab_sep(vocab),
        "pad": llama_cpp.llama_vocab_pad(vocab),
        "nl": llama_cpp.llama_vocab_nl(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "eog": [t for t in range(n) if llama_cpp.llama_vocab_is_eog(vocab, t)],
        "attr_sha256": hashlib.sha256(
            b"".join(int(llama_cpp.llama_vocab_get_attr(vocab, t)).to_bytes(4, "little") for t in range(n))
        ).hexdigest(),
        "pieces_sha256": digests,
    }
    return llm, vocab, meta, detok


def text_field(key, data):
    """{key: text} when data is UTF-8, else {key + "_hex": hex}."""
    try:
        return {key: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {key + "_hex": data.hex()}


def run_child(path, texts):
    llm, vocab, meta, detok = child(path)
    cases = []
    for text in texts:
        for add_special in (False, True):
            for parse_special in (False, True):
                ids = llm.tokenize(text, add_bos=add_special, special=parse_special)
                case = {**text_field("text", text), "add_special": add_special,
                        "parse_special": parse_special, "ids": ids}
                if add_special:
                    case.update(text_field("detok_remove_special", detok(ids, True, False)))
                else:
                    case.update(text_field("detok", detok(ids, False, False)))
                    case.update(text_field("detok_unparse", detok(ids, False, True)))
                cases.append(case)
    return {"meta": meta, "cases": cases}


def generate(name, rel, texts):
    """One child per model; a text that kills llama.cpp is retried alone and marked."""
    path = model_path(rel)
    cmd = [sys.executable, __file__, "--child", path]
    payload = json.dumps([t.hex() for t in texts])
    r = subprocess.run(cmd, input=payload, capture_output=True, text=True)
    if r.returncode == 0:
        return json.loads(r.stdout)
    ok, bad = [], []
    for t in texts:
        r1 = subprocess.run(cmd, input=json.dumps([t.hex()]), capture_output=True, text=True)
        (ok if r1.returncode == 0 else bad).append(t)
    print(f"{name}: llama.cpp aborts on {len(bad)} texts; recorded as errors", file=sys.stderr)
    r = subprocess.run(cmd, input=json.dumps([t.hex() for t in ok]), capture_output=True, text=True)
    r.check_returncode()
    out = json.loads(r.stdout)
    out["cases"] += [{**text_field("text", t), "error": True} for t in bad]
    return out


def write_json(f, data):
    """Readable and diff-friendly: one case per line."""
    f.write("{\n")
    for k in ("model", "generator", "meta"):
        f.write(f"  {json.dumps(k)}: {json.dumps(data[k], ensure_ascii=False)},\n")
    f.write('  "cases": [\n')
    lines = [json.dumps(c, ensure_ascii=False) for c in data["cases"]]
    f.write(",\n".join("    " + x for x in lines))
    f.write("\n  ]\n}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "vectors"))
    ap.add_argument("--child")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    if args.child:
        texts = [bytes.fromhex(h) for h in json.load(sys.stdin)]
        json.dump(run_child(args.child, texts), sys.stdout)
        return
    import llama_cpp
    os.makedirs(args.out, exist_ok=True)
    for name, rel in MODELS.items():
        if args.only and name not in args.only:
            continue
        if not os.path.exists(model_path(rel)):
            print(f"{name}: {model_path(rel)} missing, skipped", file=sys.stderr)
            continue
        data = generate(name, rel, corpus())
        data = {"model": rel, "generator": f"llama-cpp-python {llama_cpp.__version__}", **data}
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            write_json(f, data)
        print(f"{name}: {len(data['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
