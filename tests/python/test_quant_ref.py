"""cllm's quantizers for the types gguf-py cannot quantize (Q2_K .. Q6_K,
IQ4_NL, IQ4_XS) against ggml's own (tests/vectors/quant/ggml-quants.json,
made by scripts/make-quant-vectors.py with ggml_quantize_chunk, no
importance matrix): the same 24 rows of input through cllm-dequant
--quantize. Our quantizers are our own (not ggml's search), so the bytes
differ; what is held is the quality: the reconstruction error (RMS, both
dequantized by gguf-py) of each row of normally distributed data within 5% of
ggml's, over all rows within 3%, and on the structured rows (sparse,
constant, outliers, values on a grid, heavy tails) no worse than the cap
below, measured when the test was written: ggml's search does better than
ours there (Q5_K on values on a 0.25 grid: 3.3x ggml's error), a known gap
that must not grow.
"""
import base64
import json
import zlib
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

REF_PATH = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "quant" / "ggml-quants.json"
REF = json.loads(REF_PATH.read_text())


def unb64z(s):
    return zlib.decompress(base64.b64decode(s))


@pytest.mark.parametrize("name", sorted(REF["types"]))
def test_quantizer_matches_ggml(run_tool, tmp_path, name):
    qt = QT[name]
    rows, cols = REF["rows"], REF["cols"]
    x = np.frombuffer(unb64z(REF["input_f32_b64z"]), np.float32).reshape(rows, cols)
    ref = unb64z(REF["types"][name]["bytes_b64z"])
    x.tofile(tmp_path / "in.f32")
    r = run_tool("dequant", "--quantize", name, tmp_path / "in.f32", tmp_path / "out.bin")
    assert r.returncode == 0, r.stderr
    ours = (tmp_path / "out.bin").read_bytes()
    assert len(ours) == len(ref)
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    a = np.frombuffer(ours, np.uint8).reshape(-1, ts)
    b = np.frombuffer(ref, np.uint8).reshape(-1, ts)
    same = (a == b).all(axis=1)
    # reconstruction error per row, both dequantized by gguf-py
    ya = gguf.quants.dequantize(a.reshape(rows, -1), qt).reshape(rows, cols).astype(np.float64)
    yb = gguf.quants.dequantize(b.reshape(rows, -1), qt).reshape(rows, cols).astype(np.float64)
    ea = np.sqrt(np.mean((ya - x) ** 2, axis=1))
    eb = np.sqrt(np.mean((yb - x) ** 2, axis=1))
    print(f"\n{name}: {same.sum()} of {same.size} blocks identical to ggml; "
          f"RMS error ours/ggml {ea.sum() / max(eb.sum(), 1e-30):.4f}")
    ratio = ea / np.maximum(eb, 1e-30)
    ratio[(ea <= 1e-6) & (eb <= 1e-6)] = 1.0  # both (nearly) exact, e.g. the constant row
    normal = ratio[NORMAL_ROWS]
    assert normal.max() <= 1.05, f"{name}: normal rows worse than ggml by up to {normal.max():.3f}x"
    assert ea.sum() <= 1.03 * eb.sum(), f"{name}: total error {ea.sum() / eb.sum():.3f}x ggml's"
    assert ratio.max() <= STRUCTURED_CAP[name], f"{name}: row {ratio.argmax()} {ratio.max():.3f}x ggml's error"


NORMAL_ROWS = list(range(18))  # rows 0-17: standard normal data (16: x1e-3, 17: x50)
# worst row error / ggml's on the structured rows 18-23, measured (x1.1 margin)
STRUCTURED_CAP = {"Q2_K": 1.1, "Q3_K": 1.15, "Q4_K": 1.6, "Q5_K": 3.6, "Q6_K": 1.3, "IQ4_NL": 1.15,
                  "IQ4_XS": 1.15}
