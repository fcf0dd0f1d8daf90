"""Helpers for tests that build or read GGUF files with gguf-py: random valid
quantized blocks, writing them as raw tensors, and reference dequantizers for
the types gguf-py lacks (Q8_1, Q8_K) or sizes differently (gguf-py 0.17 still
has the old 40-byte Q8_1 block; ggml and cllm use 36 bytes: f16 d, f16 s).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

# (block size, bytes per block) as cllm (and current ggml) lay them out.
BLOCK = {
    QT.F32: (1, 4), QT.F16: (1, 2), QT.BF16: (1, 2),
    QT.Q4_0: (32, 18), QT.Q4_1: (32, 20), QT.Q5_0: (32, 22), QT.Q5_1: (32, 24),
    QT.Q8_0: (32, 34), QT.Q8_1: (32, 36), QT.IQ4_NL: (32, 18),
    QT.Q2_K: (256, 84), QT.Q3_K: (256, 110), QT.Q4_K: (256, 144),
    QT.Q5_K: (256, 176), QT.Q6_K: (256, 210), QT.Q8_K: (256, 292),
    QT.IQ4_XS: (256, 136),
}

# Byte offsets of the f16 scale fields in each block type.
F16_FIELDS = {
    QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2],
    QT.Q8_0: [0], QT.Q8_1: [0, 2], QT.IQ4_NL: [0],
    QT.Q2_K: [80, 82], QT.Q3_K: [108], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2],
    QT.Q6_K: [208], QT.IQ4_XS: [0],
}


def random_finite_f16_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random f16 bit patterns, every finite value possible (subnormals too)."""
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    bad = (bits & 0x7C00) == 0x7C00
    bits[bad] &= np.uint16(0xBFFF)  # clear the top exponent bit: finite
    return bits


def random_finite_bits(rng: np.random.Generator, n: int, nbits: int, exp_mask: int) -> np.ndarray:
    """Random float bit patterns of width nbits whose exponent is not all ones."""
    dtype = np.uint16 if nbits == 16 else np.uint32
    bits = rng.integers(0, 1 << nbits, size=n, dtype=np.uint64).astype(dtype)
    bad = (bits & dtype(exp_mask)) == dtype(exp_mask)
    bits[bad] ^= dtype(exp_mask & -exp_mask)  # clear the lowest exponent bit
    return bits


def random_blocks(rng: np.random.Generator, qtype: QT, rows: int, cols: int) -> np.ndarray:
    """rows x (bytes per row) uint8 of valid blocks with finite scales."""
    if qtype == QT.F32:
        return random_finite_bits(rng, rows * cols, 32, 0x7F800000).view(np.uint8).reshape(rows, -1)
    if qtype == QT.F16:
        return random_finite_f16_bits(rng, rows * cols).view(np.uint8).reshape(rows, -1)
    if qtype == QT.BF16:
        return random_finite_bits(rng, rows * cols, 16, 0x7F80).view(np.uint8).reshape(rows, -1)
    bs, ts = BLOCK[qtype]
    nblocks = rows * cols // bs
    raw = rng.integers(0, 256, size=(nblocks, ts), dtype=np.uint8)
    if qtype == QT.Q8_K:
        d = (rng.standard_normal(nblocks) * 10.0 ** rng.integers(-6, 4, nblocks)).astype(np.float32)
        raw[:, 0:4] = d.view(np.uint8).reshape(nblocks, 4)
    for off in F16_FIELDS.get(qtype, []):
        raw[:, off:off + 2] = random_finite_f16_bits(rng, nblocks).view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(rows, -1)


def reference_dequantize(data: np.ndarray, qtype: QT) -> np.ndarray:
    """f32 values of rows of raw blocks: gguf-py, or our numpy code where it has none."""
    rows = data.shape[0]
    if qtype == QT.Q8_1:
        blocks = data.reshape(-1, 36)
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        q = blocks[:, 4:].view(np.int8).astype(np.float32)
        return (d * q).reshape(rows, -1)
    if qtype == QT.Q8_K:
        blocks = data.reshape(-1, 292)
        d = blocks[:, 0:4].copy().view(np.float32)
        q = blocks[:, 4:260].view(np.int8).astype(np.float32)
        return (d * q).reshape(rows, -1)
    return gguf.quants.dequantize(data, qtype).reshape(rows, -1)


def write_raw_tensors(path: Path, tensors: dict[str, tuple[QT, int, np.ndarray]]) -> None:
    """Write a GGUF holding {name: (type, cols, rows x bytes uint8)} as raw tensors."""
    w = gguf.GGUFWriter(str(path), "test")
    for name, (qtype, cols, data) in tensors.items():
        rows = data.shape[0]
        # Give the element shape ourselves, with a non-uint8 view so that
        # gguf-py does not re-derive it from its own (Q8_1: stale) block sizes.
        w.add_tensor(name, data.view(np.int8), raw_shape=(rows, cols), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tensor_rows(t) -> tuple[int, int, np.ndarray]:
    """(ne0, rows, rows x bytes uint8) of a GGUFReader tensor."""
    ne0 = int(t.shape[0])
    n = int(t.n_elements)
    data = np.asarray(t.data).view(np.uint8).reshape(n // ne0, -1)
    return ne0, n // ne0, data


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality of two f32 arrays (tells -0.0 from 0.0, NaN payloads)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))
