"""make-bert-vectors.py - llama.cpp's embeddings of all-MiniLM-L6-v2 (the
GGUF files scripts/get-models.sh converts with scripts/cllm-convert.py), for
tests/python/test_bert.py: mean-pooled (the file's bert.pooling_type),
L2-normalized vectors of a few texts, per file type, written to
tests/vectors/embeddings/minilm-llama-cpp.json. Never needed by the tests
themselves; run with a Python that has llama-cpp-python:

    /work/ref/venv/bin/python scripts/make-bert-vectors.py
"""
import json
from pathlib import Path

import llama_cpp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TYPES = ["f32", "f16", "q8_0"]
TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Hello, world! Unaffable jabberwocky; 42 (or 43) tokens?",
    "cllm is an LLM inference server written in C, compatible with llama-server's HTTP API, "
    "and it serves sentence embeddings from BERT models such as all-MiniLM-L6-v2 too.",
    "x",
]


def main():
    out = {"llama_cpp_python": llama_cpp.__version__, "pooling": "mean", "normalized": True,
           "texts": TEXTS, "models": {}}
    for t in TYPES:
        path = ROOT / "models" / f"all-MiniLM-L6-v2-{t}.gguf"
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=1, embedding=True, verbose=False)
        rows = []
        for text in TEXTS:
            v = np.array(llm.embed(text), dtype=np.float64)
            rows.append([round(float(x), 7) for x in v / np.linalg.norm(v)])
        out["models"][path.name] = {"n_tokens": [len(llm.tokenize(x.encode())) for x in TEXTS], "embeddings": rows}
        del llm
    dst = ROOT / "tests" / "vectors" / "embeddings" / "minilm-llama-cpp.json"
    dst.write_text(json.dumps(out, indent=0) + "\n")
    print("wrote", dst)


if __name__ == "__main__":
    main()
