#!/usr/bin/env python3
"""make-quant-vectors.py - reference quantizations from ggml (the libggml-base
that llama-cpp-python ships, called through ctypes: ggml_quantize_chunk with
no importance matrix) for the quantizers gguf-py lacks: Q2_K .. Q6_K, IQ4_NL,
IQ4_XS. Written to tests/vectors/quant/ggml-quants.json; the tests
(tests/python/test_quant_ref.py) compare cllm-dequant --quantize with them.
Run by hand with the reference venv (see docs/reference-vectors.md):

    /work/ref/venv/bin/python scripts/make-quant-vectors.py

Input: 24 rows of 1024 float32 (normal data, scaled, sparse, constant,
outliers), stored in the file. Output per type: ggml's bytes and the
relative RMS error of their dequantization (by gguf-py's dequantize).
"""
import base64
import ctypes
import json
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "vectors" / "quant" / "ggml-quants.json"
# ggml_type numbers (ggml.h) of the types compared
TYPES = {"Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ4_NL": 20, "IQ4_XS": 23}
ROWS, COLS = 24, 1024


def inputs():
    rng = np.random.default_rng(2026)
    x = rng.standard_normal((ROWS, COLS))
    x[16] *= 1e-3
    x[17] *= 50
    x[18] = np.where(rng.random(COLS) < 0.1, x[18], 0)       # sparse
    x[19] = 0.75                                           # constant
    x[20, ::97] *= 40                                      # outliers
    x[21] = np.abs(x[21])                                  # one-signed
    x[22] = rng.integers(-8, 8, COLS) * 0.25               # on a grid
    x[23] = rng.standard_t(3, COLS)                        # heavy tails
    return x.astype(np.float32)


def b64z(b):
    return base64.b64encode(zlib.compress(b, 9)).decode("ascii")


def main():
    import gguf
    import llama_cpp
    libdir = Path(llama_cpp.__file__).parent / "lib"
    lib = ctypes.CDLL(str(next(libdir.glob("libggml-base.so*"))))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    x = inputs()
    out = {"generator": "ggml_quantize_chunk (imatrix NULL) from llama-cpp-python %s" % llama_cpp.__version__,
           "rows": ROWS, "cols": COLS, "input_f32_b64z": b64z(x.tobytes()), "types": {}}
    for name, t in TYPES.items():
        size = lib.ggml_row_size(t, COLS) * ROWS
        dst = ctypes.create_string_buffer(size)
        n = lib.ggml_quantize_chunk(t, x.ctypes.data, dst, 0, ROWS, COLS, None)
        assert n == size, (name, n, size)
        raw = dst.raw[:size]
        qt = gguf.GGMLQuantizationType[name]
        y = gguf.quants.dequantize(np.frombuffer(raw, np.uint8).reshape(ROWS, -1), qt).reshape(ROWS, COLS)
        rel = np.sqrt(np.mean((y - x) ** 2, axis=1)) / np.maximum(np.sqrt(np.mean(x ** 2, axis=1)), 1e-30)
        out["types"][name] = {"ggml_type": t, "bytes_b64z": b64z(raw),
                              "rel_rms_per_row": [float("%.6g" % r) for r in rel]}
        print(f"{name}: {size} bytes, rel RMS mean {rel.mean():.4f}", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=0) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
