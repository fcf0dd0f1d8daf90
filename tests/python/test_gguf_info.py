"""cllm-gguf info against gguf-py's independent reader, on every real model.

For each model: every tensor's name, type, shape, byte size and offset, and
every scalar metadata value, as printed by cllm-gguf, equal what gguf-py reads.
Bad files and bad usage give a clear message and a non-zero exit status.
"""
import os
import pathlib
import re
import shutil
import subprocess

import gguf
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("CLLM_BUILD", "build")
TOOL = BUILD / "cllm-gguf"
MODELS = sorted((ROOT / "models").glob("*.gguf"))
SHARED = pathlib.Path(os.environ.get("CLLM_SHARED", ROOT.parent / "shared"))
VOCABS = sorted((SHARED / "vocab").glob("*.gguf"))


def run_info(path, *extra):
    return subprocess.run([str(TOOL), "info", *extra, str(path)], capture_output=True, text=True,
                          errors="replace")


def parse_tensors(out):
    rows = {}
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("tensors:")) + 2
    for line in lines[start:]:
        if line.startswith("total:"):
            break
        m = re.match(r"\s+(\S+)\s+(\S+)\s+(.+?)\s+(\d+)\s+(\d+)$", line)
        assert m, line
        name, typ, shape, nbytes, offset = m.groups()
        rows[name] = (typ, [int(x) for x in shape.split(" x ")], int(nbytes), int(offset))
    return rows


def parse_data_offset(out):
    return int(re.search(r"data offset: (\d+)", out).group(1))


@pytest.mark.parametrize("path", MODELS + VOCABS, ids=lambda p: p.name)
def test_info_matches_gguf_py(path):
    res = run_info(path)
    assert res.returncode == 0, res.stderr
    reader = gguf.GGUFReader(str(path))
    ours = parse_tensors(res.stdout)
    assert len(ours) == len(reader.tensors)
    data_offset = parse_data_offset(res.stdout)
    for t in reader.tensors:
        typ, shape, nbytes, offset = ours[t.name]
        assert typ == t.tensor_type.name, t.name
        assert shape == [int(x) for x in t.shape], t.name
        assert nbytes == int(t.n_bytes), t.name
        assert data_offset + offset == int(t.data_offset), t.name
    # every scalar metadata value is printed as gguf-py reads it
    kv_lines = {}
    for line in res.stdout.splitlines():
        m = re.match(r"  (\S+)\s+(u8|i8|u16|i16|u32|i32|u64|i64|f32|f64|bool|str|arr)\s+(.*)$", line)
        if m:
            kv_lines[m.group(1)] = (m.group(2), m.group(3))
    assert f"metadata: {len(reader.fields) - 3} keys" in res.stdout  # gguf-py adds 3 header fields
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        kind, text = kv_lines[name]
        ftype = field.types[0]
        if ftype == gguf.GGUFValueType.STRING:
            value = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
            if len(value) <= 120 and value.isprintable() and '"' not in value and "\\" not in value:
                assert text == f'"{value}"', name
        elif ftype == gguf.GGUFValueType.ARRAY:
            assert text.startswith(f"[{gguf_type_short(field.types[1])} x {len(field.data)}]"), name
        elif ftype == gguf.GGUFValueType.BOOL:
            assert text == ("true" if field.parts[field.data[0]][0] else "false"), name
        elif ftype in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64):
            assert np.isclose(float(text), float(field.parts[field.data[0]][0]), rtol=1e-5), name
        else:
            assert int(text) == int(field.parts[field.data[0]][0]), name


def gguf_type_short(t):
    return {
        gguf.GGUFValueType.UINT8: "u8", gguf.GGUFValueType.INT8: "i8",
        gguf.GGUFValueType.UINT16: "u16", gguf.GGUFValueType.INT16: "i16",
        gguf.GGUFValueType.UINT32: "u32", gguf.GGUFValueType.INT32: "i32",
        gguf.GGUFValueType.UINT64: "u64", gguf.GGUFValueType.INT64: "i64",
        gguf.GGUFValueType.FLOAT32: "f32", gguf.GGUFValueType.FLOAT64: "f64",
        gguf.GGUFValueType.BOOL: "bool", gguf.GGUFValueType.STRING: "str",
    }[t]


def test_default_model_summary():
    path = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
    if not path.exists():
        pytest.skip("default model not fetched")
    res = run_info(path)
    assert res.returncode == 0
    assert 'general.architecture                         str  "gemma3"' in res.stdout
    assert "tensors: 236" in res.stdout
    assert "types: F32 109 Q5_0 81 Q8_0 10 Q4_K 27 Q6_K 9" in res.stdout


def test_missing_file():
    res = run_info("/nonexistent/x.gguf")
    assert res.returncode == 1
    assert "/nonexistent/x.gguf: cannot open" in res.stderr


def test_truncated_model(tmp_path):
    src = ROOT / "models" / "stories260K.gguf"
    if not src.exists():
        pytest.skip("stories260K not fetched")
    data = src.read_bytes()
    for cut in (10, 100, 5000, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(data[:cut])
        res = run_info(bad)
        assert res.returncode == 1, cut
        assert str(bad) in res.stderr
        assert "truncated" in res.stderr or "past the end" in res.stderr or "too small" in res.stderr


def test_not_gguf(tmp_path):
    bad = tmp_path / "readme.gguf"
    shutil.copy(ROOT / "README.md", bad)
    res = run_info(bad)
    assert res.returncode == 1
    assert "not a GGUF file" in res.stderr


def test_usage():
    res = subprocess.run([str(TOOL)], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr
    res = subprocess.run([str(TOOL), "info", "--bogus", "x"], capture_output=True, text=True)
    assert res.returncode == 2 and "--bogus" in res.stderr
    res = subprocess.run([str(TOOL), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "usage" in res.stdout
