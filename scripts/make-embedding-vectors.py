"""Reference embeddings from llama.cpp (llama-cpp-python; never needed by
the tests themselves): mean-pooled, L2-normalized sentence embeddings of a
few texts on three real models, written to tests/vectors/embeddings/llama-cpp-mean.json;
and the other pooling kinds (none: one normalized row per token, cls, last)
on the two small float models, written to llama-cpp-pooling.json.

    /work/ref/venv/bin/python scripts/make-embedding-vectors.py [--pooling-only]

llama-cpp-python built with GGML_NATIVE crashes on quantized models on CPUs
with AMX unless its "extra buffer types" are off, so they are.
"""
import json
import sys
from pathlib import Path

import llama_cpp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["stories260K.gguf", "TinyStories-656K.f16.gguf", "gemma-3-270m-q4_k_m.gguf"]
TEXTS = ["Once upon a time", "Lily and Tom went to the park.", "hello world",
         "The quick brown fox jumps over the lazy dog."]

_orig = llama_cpp.llama_cpp.llama_model_default_params


def _params():
    p = _orig()
    p.use_extra_bufts = False
    return p


llama_cpp.llama_cpp.llama_model_default_params = _params


def main():
    if "--pooling-only" in sys.argv[1:]:
        pooling()
        return
    out = {"llama_cpp_python": llama_cpp.__version__, "pooling": "mean", "normalized": True, "models": {}}
    for name in MODELS:
        m = llama_cpp.Llama(str(ROOT / "models" / name), embedding=True,
                            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, n_ctx=256, n_threads=2, verbose=False)
        out["models"][name] = {t: [round(x, 7) for x in np.array(m.embed(t, normalize=True)).tolist()]
                               for t in TEXTS}
        del m
    path = ROOT / "tests" / "vectors" / "embeddings" / "llama-cpp-mean.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path, file=sys.stderr)
    pooling()


POOL_MODELS = ["stories260K.gguf", "TinyStories-656K.f16.gguf"]
POOL_KINDS = {"none": llama_cpp.LLAMA_POOLING_TYPE_NONE, "cls": llama_cpp.LLAMA_POOLING_TYPE_CLS,
              "last": llama_cpp.LLAMA_POOLING_TYPE_LAST}


def pooling():
    out = {"llama_cpp_python": llama_cpp.__version__, "normalized": True,
           "note": "none: one L2-normalized row per token (BOS included); cls/last: one normalized vector",
           "models": {}}
    for name in POOL_MODELS:
        out["models"][name] = {}
        for kind, ptype in POOL_KINDS.items():
            m = llama_cpp.Llama(str(ROOT / "models" / name), embedding=True, pooling_type=ptype,
                                n_ctx=256, n_threads=2, verbose=False)
            res = {}
            for t in TEXTS:
                e = np.array(m.embed(t, normalize=True), dtype=np.float64)
                res[t] = np.round(e, 7).tolist()
            out["models"][name][kind] = res
            del m
    path = ROOT / "tests" / "vectors" / "embeddings" / "llama-cpp-pooling.json"
    path.write_text(json.dumps(out) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
