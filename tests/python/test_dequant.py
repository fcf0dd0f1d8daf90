"""Bit-exactness of cllm's scalar reference dequantizers and quantizers
(src/tensor/quant.c, quant_kquants.c) against gguf-py, through cllm-dequant:

  (a) random valid blocks of every supported type, written to a GGUF file
      with gguf-py's GGUFWriter, dequantized by cllm-dequant == gguf-py;
  (b) every tensor of every real model in models/ == gguf-py's dequantize;
  (c) cllm-dequant --quantize gives the same bytes as gguf-py's quantizers
      (F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; Q8_1 against Q8_0 + its sum),
      and our own quantizers (Q8_K, IQ4_NL, IQ4_XS, K-quants) stay within error
      bounds, their output dequantized by gguf-py exactly as by cllm.
"""
from __future__ import annotations

import numpy as np
import pytest
import gguf
from gguf import GGMLQuantizationType as QT

from util_gguf import (BLOCK, random_blocks, reference_dequantize, same_bits,
                       tensor_rows, write_raw_tensors)

DEQUANT_TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1,
                 QT.Q8_0, QT.Q8_1, QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K,
                 QT.Q8_K, QT.IQ4_NL, QT.IQ4_XS]
GGUFPY_QUANT_TYPES = [QT.F16, QT.BF16, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0]

MODEL_FILES = ["gemma-3-270m-q4_k_m.gguf", "stories260K.gguf", "stories260K-BF16.gguf",
               "TinyStories-656K.f16.gguf", "TinyStories-656K-Q8_0.gguf",
               "TinyStories-656K-Q4_0.gguf", "TinyStories-656K-Q4_1.gguf",
               "TinyStories-656K-Q5_0.gguf", "TinyStories-656K-Q5_1.gguf",
               "TinyStories-656K-IQ4_NL.gguf"]
CHUNK_ROWS = 16384  # rows compared at a time for big tensors


# ------------------------------------------------------------- (a) random

@pytest.fixture(scope="module")
def random_gguf(tmp_path_factory):
    rng = np.random.default_rng(1234)
    tensors = {}
    for qt in DEQUANT_TYPES:
        bs, _ = BLOCK[qt]
        cols = 100 if bs == 1 else bs * 3
        rows = 64
        tensors[f"t.{qt.name}"] = (qt, cols, random_blocks(rng, qt, rows, cols))
    path = tmp_path_factory.mktemp("rand") / "random.gguf"
    write_raw_tensors(path, tensors)
    return path, tensors


@pytest.mark.parametrize("qt", DEQUANT_TYPES, ids=lambda q: q.name)
def test_random_blocks_exact(run_tool, random_gguf, tmp_path, qt):
    path, tensors = random_gguf
    _, cols, data = tensors[f"t.{qt.name}"]
    r = run_tool("dequant", path, f"t.{qt.name}", tmp_path / "out.f32")
    assert r.returncode == 0, r.stderr
    ours = np.fromfile(tmp_path / "out.f32", dtype=np.float32)
    ref = reference_dequantize(data, qt).reshape(-1)
    assert not np.isnan(ref).any()
    assert ours.size == data.shape[0] * cols
    assert same_bits(ours, ref), f"{qt.name}: {np.sum(ours.view(np.uint32) != ref.view(np.uint32))} differ"


# ----------------------------------------------------------- (b) real models

@pytest.mark.parametrize("model", MODEL_FILES)
def test_real_model_exact(run_tool, models_dir, tmp_path, model):
    path = models_dir / model
    if not path.exists():
        pytest.skip(f"{path} absent (scripts/get-models.sh)")
    reader = gguf.GGUFReader(str(path))
    checked = {}
    out = tmp_path / "t.f32"
    for t in reader.tensors:
        ne0, rows, data = tensor_rows(t)
        r = run_tool("dequant", path, t.name, out)
        assert r.returncode == 0, f"{t.name}: {r.stderr}"
        ours = np.memmap(out, dtype=np.float32, mode="r", shape=(rows, ne0))
        for r0 in range(0, rows, CHUNK_ROWS):
            ref = gguf.quants.dequantize(data[r0:r0 + CHUNK_ROWS], t.tensor_type)
            assert same_bits(ours[r0:r0 + CHUNK_ROWS], ref.reshape(-1, ne0)), \
                f"{model}: {t.name} ({t.tensor_type.name}) rows {r0}.. differ"
        del ours
        checked[t.tensor_type.name] = checked.get(t.tensor_type.name, 0) + 1
    print(f"\n{model}: {len(reader.tensors)} tensors exact: {checked}")
    assert sum(checked.values()) == len(reader.tensors) > 0


# ------------------------------------------------------------ (c) quantizers

def quant_inputs(rng: np.random.Generator, bs: int) -> np.ndarray:
    """Rows of f32 test data, each row a multiple of bs: normal data of many
    scales, plus blocks that are all zero, constant, with +-max ties, exact
    rounding ties, tiny (f16-subnormal scales) and huge values."""
    cols = max(bs, 256)
    rows = [rng.standard_normal(cols) * s for s in (1e-3, 0.02, 1.0, 37.0, 1e3)]
    rows += [rng.uniform(-1, 1, cols), rng.uniform(0, 5, cols), rng.uniform(-5, 0, cols)]
    rows.append(np.zeros(cols))
    rows.append(np.full(cols, 0.75))
    rows.append(np.full(cols, -3.0))
    tie = rng.standard_normal(cols)
    tie[::16] = 2.5
    tie[1::16] = -2.5
    rows.append(tie)
    rows.append(rng.integers(-16, 16, cols) * 0.5)           # exact halves
    rows.append(rng.integers(-127, 128, cols) / 127.0 * 3.0)  # Q8 ties
    rows.append(rng.standard_normal(cols) * 1e-7)            # subnormal-ish scales
    rows.append(rng.standard_normal(cols) * 1e-30)
    rows.append(rng.standard_normal(cols) * 1e4)
    return np.array(rows, dtype=np.float32)


def our_quantize(run_tool, tmp_path, qt, x: np.ndarray) -> bytes:
    inp, out = tmp_path / "in.f32", tmp_path / "out.bin"
    x.astype(np.float32).tofile(inp)
    r = run_tool("dequant", "--quantize", qt.name, inp, out)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def our_dequantize_raw(run_tool, tmp_path, qt, raw: bytes) -> np.ndarray:
    inp, out = tmp_path / "in.bin", tmp_path / "out.f32"
    inp.write_bytes(raw)
    r = run_tool("dequant", "--dequantize-raw", qt.name, inp, out)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype=np.float32)


@pytest.mark.parametrize("qt", GGUFPY_QUANT_TYPES, ids=lambda q: q.name)
def test_quantize_matches_gguf_py(run_tool, tmp_path, qt):
    rng = np.random.default_rng(7)
    x = np.concatenate([quant_inputs(rng, BLOCK[qt][0]) for _ in range(20)])
    ours = our_quantize(run_tool, tmp_path, qt, x)
    ref = gguf.quants.quantize(x, qt).tobytes()
    assert len(ours) == len(ref)
    if ours != ref:
        bs, ts = BLOCK[qt]
        a = np.frombuffer(ours, np.uint8).reshape(-1, ts)
        b = np.frombuffer(ref, np.uint8).reshape(-1, ts)
        bad = np.nonzero((a != b).any(axis=1))[0]
        pytest.fail(f"{qt.name}: {bad.size} of {a.shape[0]} blocks differ, first {bad[0]}: "
                    f"x={x.reshape(-1, bs)[bad[0]].tolist()}\nours={a[bad[0]].tolist()}\nref={b[bad[0]].tolist()}")


def test_quantize_q8_1_is_q8_0_plus_sum(run_tool, tmp_path):
    x = quant_inputs(np.random.default_rng(8), 32)
    ours = np.frombuffer(our_quantize(run_tool, tmp_path, QT.Q8_1, x), np.uint8).reshape(-1, 36)
    q80 = gguf.quants.quantize(x, QT.Q8_0).reshape(-1, 34)
    assert np.array_equal(ours[:, 0:2], q80[:, 0:2])
    assert np.array_equal(ours[:, 4:], q80[:, 2:])
    # s = sum(q) * d with d = amax/127 before its rounding to f16 (as ggml)
    d = np.abs(x.reshape(-1, 32)).max(axis=1) / np.float32(127)
    qsum = q80[:, 2:].view(np.int8).astype(np.int32).sum(axis=1).astype(np.float32)
    with np.errstate(over="ignore"):
        s = (qsum * d).astype(np.float16)
    assert np.array_equal(ours[:, 2:4].copy().view(np.float16).reshape(-1).view(np.uint16), s.view(np.uint16))


# Worst allowed RMS error relative to the RMS of normal data, per type.
ROUNDTRIP_RMS = {QT.Q4_0: 0.12, QT.Q4_1: 0.10, QT.Q5_0: 0.06, QT.Q5_1: 0.05,
                 QT.Q8_0: 0.01, QT.Q8_1: 0.01, QT.Q8_K: 0.01, QT.IQ4_NL: 0.12,
                 QT.Q2_K: 0.45, QT.Q3_K: 0.22, QT.Q4_K: 0.12, QT.Q5_K: 0.06, QT.Q6_K: 0.03,
                 QT.IQ4_XS: 0.12,
                 QT.F16: 1e-3, QT.BF16: 8e-3}


@pytest.mark.parametrize("qt", list(ROUNDTRIP_RMS), ids=lambda q: q.name)
def test_quantize_roundtrip_error(run_tool, tmp_path, qt):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, 1024)).astype(np.float32)
    raw = our_quantize(run_tool, tmp_path, qt, x)
    y = our_dequantize_raw(run_tool, tmp_path, qt, raw)
    # gguf-py (numpy for Q8_1, Q8_K) reads what we wrote as the same values
    assert same_bits(y, reference_dequantize(np.frombuffer(raw, np.uint8).reshape(16, -1), qt).reshape(-1))
    rel = np.sqrt(np.mean((y - x.reshape(-1)) ** 2)) / np.sqrt(np.mean(x ** 2))
    print(f"\n{qt.name}: relative RMS error {rel:.4f}")
    assert rel < ROUNDTRIP_RMS[qt]


# ----------------------------------------------------------------- errors

def test_errors_name_the_file(run_tool, tmp_path, random_gguf):
    path, _ = random_gguf
    r = run_tool("dequant", tmp_path / "missing.gguf", "x", tmp_path / "o")
    assert r.returncode == 1 and "missing.gguf" in r.stderr
    r = run_tool("dequant", path, "no.such.tensor", tmp_path / "o")
    assert r.returncode == 1 and str(path) in r.stderr and "no.such.tensor" in r.stderr
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOTAGGUF" + bytes(64))
    r = run_tool("dequant", bad, "x", tmp_path / "o")
    assert r.returncode == 1 and "bad.gguf" in r.stderr
    odd = tmp_path / "odd.f32"
    np.zeros(33, np.float32).tofile(odd)
    r = run_tool("dequant", "--quantize", "Q4_0", odd, tmp_path / "o")
    assert r.returncode == 1 and "odd.f32" in r.stderr
    r = run_tool("dequant", "--quantize", "NOPE", odd, tmp_path / "o")
    assert r.returncode == 1 and "NOPE" in r.stderr
    r = run_tool("dequant", "--help")
    assert r.returncode == 0 and "--quantize" in r.stdout
