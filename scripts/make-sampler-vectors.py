#!/usr/bin/env python3
"""make-sampler-vectors.py - llama.cpp's DRY, XTC and top-n-sigma samplers on
fixed logits, recorded as reference vectors for cllm's sampler
(tests/unit/test_sampler_vectors.c reads them; it never runs llama.cpp).

Runs llama.cpp through llama-cpp-python (the reference venv, e.g.
/work/ref/venv/bin/python). The vocabulary is models/stories260K.gguf
(loaded vocab-only): DRY turns its sequence breakers into token sequences
with the model's tokenizer. For each case: the logits (n_vocab float32), the
history DRY sees, the samplers in order with their parameters, and the
candidates left after them (id and logit, best first; top-n-sigma's masked
-inf tokens left out, XTC's removed ones gone). A logit of null is -inf.

usage: make-sampler-vectors.py [--model models/stories260K.gguf]
                               [--out tests/vectors/samplers/llama-cpp.json]
"""
import argparse
import ctypes
import json
import random
import struct
import sys

import llama_cpp as L


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


class Vocab:
    def __init__(self, path):
        p = L.llama_model_default_params()
        p.vocab_only = True
        self.model = L.llama_model_load_from_file(path.encode(), p)
        if not self.model:
            sys.exit(f"cannot load {path}")
        self.v = L.llama_model_get_vocab(self.model)
        self.n = L.llama_vocab_n_tokens(self.v)

    def tokenize(self, text):
        b = text.encode()
        buf = (L.llama_token * (len(b) + 8))()
        k = L.llama_tokenize(self.v, b, len(b), buf, len(b) + 8, False, False)
        return list(buf[:k])


def make_sampler(vocab, s):
    kind = s["type"]
    if kind == "dry":
        br = [x.encode() for x in s["breakers"]]
        arr = (ctypes.c_char_p * max(1, len(br)))(*br)
        return L.llama_sampler_init_dry(vocab.v, s["multiplier"], s["base"], s["allowed_length"],
                                        s["last_n"], arr, len(br))
    if kind == "xtc":
        return L.llama_sampler_init_xtc(s["probability"], s["threshold"], s.get("min_keep", 0), 1234)
    if kind == "top_n_sigma":
        return L.llama_sampler_init_top_n_sigma(s["n"])
    if kind == "top_k":
        return L.llama_sampler_init_top_k(s["k"])
    if kind == "top_p":
        return L.llama_sampler_init_top_p(s["p"], 1)
    if kind == "min_p":
        return L.llama_sampler_init_min_p(s["p"], 1)
    if kind == "temperature":
        return L.llama_sampler_init_temp(s["t"])
    raise ValueError(kind)


def run_case(vocab, case):
    n = len(case["logits"])
    data = (L.llama_token_data * n)()
    for i, x in enumerate(case["logits"]):
        data[i].id, data[i].logit, data[i].p = i, x, 0.0
    arr = L.llama_token_data_array(data, n, -1, False)
    for s in case["samplers"]:
        smpl = make_sampler(vocab, s)
        if s["type"] == "dry":
            for t in case["history"]:
                L.llama_sampler_accept(smpl, t)
        L.llama_sampler_apply(smpl, ctypes.byref(arr))
        L.llama_sampler_free(smpl)
    left = [(arr.data[i].id, arr.data[i].logit) for i in range(arr.size)
            if arr.data[i].logit != float("-inf")]
    left.sort(key=lambda c: (-c[1], c[0]))
    return {"ids": [c[0] for c in left], "logits": [c[1] for c in left]}


def logits_for(n, seed, scale=2.0):
    r = random.Random(seed)
    return [f32(r.gauss(0.0, scale)) for _ in range(n)]


def peaked(n, seed, top):
    """Random logits with a few clear leaders (XTC needs several tokens above
    its threshold): top[i] is added to token i * 7 + 3."""
    x = logits_for(n, seed, 1.0)
    for i, b in enumerate(top):
        x[i * 7 + 3] = f32(x[i * 7 + 3] + b)
    return x


def cases(vocab):
    tk = vocab.tokenize
    dry = {"type": "dry", "multiplier": 0.8, "base": 1.75, "allowed_length": 2, "last_n": 64,
           "breakers": ["\n", ":", "\"", "*"]}
    story = tk("Once upon a time the cat sat on the mat. Once upon a time the cat")
    broken = tk("Once upon a time the cat sat:\nOnce upon a time the cat sat: Once upon a")
    multi = tk("the big dog ran home. the big dog ran home. the big dog")
    colon = tk("the cat sat: the cat sat: the cat")
    out = []

    def add(name, logits, samplers, history=()):
        out.append({"name": name, "logits": logits, "history": list(history), "samplers": samplers})

    n = vocab.n
    add("dry_repeat", logits_for(n, 1), [dry], story)
    add("dry_breaker", logits_for(n, 2), [dry], broken)
    add("dry_no_breakers", logits_for(n, 2), [dict(dry, breakers=[])], broken)
    add("dry_colon", logits_for(n, 16), [dry], colon)
    add("dry_colon_no_breakers", logits_for(n, 16), [dict(dry, breakers=[])], colon)
    add("dry_multi_token_breaker", logits_for(n, 3), [dict(dry, breakers=["dog ran", "\n"])], multi)
    add("dry_allowed_0", logits_for(n, 4), [dict(dry, allowed_length=0)], story)
    add("dry_last_n_8", logits_for(n, 5), [dict(dry, last_n=8)], story)
    add("dry_base_big", logits_for(n, 6), [dict(dry, multiplier=2.0, base=3.0, allowed_length=1)], multi)
    xtc = {"type": "xtc", "probability": 1.0, "threshold": 0.1}
    lead = [6.0, 5.8, 5.5, 5.0, 3.0]
    add("xtc_01", peaked(n, 7, lead), [xtc])
    add("xtc_005", peaked(n, 8, lead), [dict(xtc, threshold=0.05)])
    add("xtc_one_qualifies", peaked(n, 9, [9.0, 2.0]), [dict(xtc, threshold=0.3)])
    add("xtc_after_top_k", peaked(n, 10, lead), [{"type": "top_k", "k": 10}, dict(xtc, threshold=0.15)])
    add("top_n_sigma_1", logits_for(n, 11), [{"type": "top_n_sigma", "n": 1.0}])
    add("top_n_sigma_05", logits_for(n, 12), [{"type": "top_n_sigma", "n": 0.5}])
    add("top_n_sigma_2_top_k", logits_for(n, 13), [{"type": "top_k", "k": 50}, {"type": "top_n_sigma", "n": 2.0}])
    masked = logits_for(n, 14)
    for i in range(0, n, 5):
        masked[i] = float("-inf")
    add("top_n_sigma_masked", masked, [{"type": "top_n_sigma", "n": 1.5}])
    add("chain", peaked(n, 15, lead), [dry, {"type": "top_n_sigma", "n": 3.0}, {"type": "top_k", "k": 40},
                                        {"type": "top_p", "p": 0.95}, {"type": "min_p", "p": 0.01},
                                        dict(xtc, threshold=0.1), {"type": "temperature", "t": 0.8}], story)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/stories260K.gguf")
    ap.add_argument("--out", default="tests/vectors/samplers/llama-cpp.json")
    a = ap.parse_args()
    vocab = Vocab(a.model)
    res = []
    for c in cases(vocab):
        c["expect"] = run_case(vocab, c)
        # -inf (a banned token) as null: JSON has no infinities
        c["logits"] = [None if x == float("-inf") else x for x in c["logits"]]
        res.append(c)
    doc = {"generator": "scripts/make-sampler-vectors.py", "llama_cpp_python": L.__version__,
           "model": "stories260K.gguf", "cases": res}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    for c in res:
        print(f"{c['name']}: {len(c['expect']['ids'])} left")


if __name__ == "__main__":
    main()
