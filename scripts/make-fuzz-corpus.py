#!/usr/bin/env python3
"""make-fuzz-corpus.py - writes the committed seed corpora fuzz/corpus/<target>/
for the six libFuzzer targets (fuzz/fuzz_*.c), from the project's test data:
small GGUF files written with gguf-py, GBNF grammars with inputs, JSON schemas
from tests/schemas, chat templates from ../shared/chat-templates, and texts.

    .venv/bin/python scripts/make-fuzz-corpus.py        # rewrites fuzz/corpus/

Deterministic: the same files every run. `make test-fuzz` runs each target for
60 s on these seeds (new inputs it finds go to build-fuzz/, never here).
"""
import json
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "fuzz" / "corpus"
SHARED = ROOT.parent / "shared"

TEXTS = [
    "Once upon a time, there was a little girl named Lily.",
    "Hello world! 123 4567 89,000.5 -- don't, won't, I'm, you'll",
    "  leading  and trailing   spaces\t\ttabs\n\nnewlines\r\n",
    "日本語のテキスト、中文，한국어 ελληνικά русский ÄÖÜ ß émoji 🦙🚀👍🏽",
    "def f(x):\n    return x ** 2  # comment\n\nprint(f(3))\n",
    "<s>[INST] special <|im_start|>user\nhi<|im_end|> [/INST]</s>",
    "\x00\x01\x7f control \u200b zero-width \ufeff bom",
    "a" * 300,
]
INVALID_UTF8 = [b"\xff\xfe bad \xc3 truncated \xe2\x82", b"\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too big",
                b"\xc0\xaf overlong \x80 lone continuation"]

GRAMMARS = [
    ('root ::= " yes" | " no"', [b" yes", b" no", b" maybe"]),
    ('root ::= [a-z]+ ("," [a-z]+)*', [b"abc,de,f", b"abc,,"]),
    ('root ::= "a"{2,4} "b"? [^x]*', [b"aaab123", b"ax"]),
    ('root ::= obj\nobj ::= "{" ws (pair ("," ws pair)*)? "}"\npair ::= str ws ":" ws val\n'
     'str ::= "\\"" [^"\\\\]* "\\""\nval ::= str | [0-9]+ | obj\nws ::= [ \\t\\n]*\n',
     [b'{"a": 1, "b": {"c": "d"}}', b'{"a":']),
    ('# comment\nroot ::= item+\nitem ::= "\\x41" | "\\u00e9" | "\\U0001F999" | [\\u4e00-\\u9fff]\n',
     ["Aé🦙中".encode(), b"B"]),
    ('root ::= ( "a" | "b" )* "c"', [b"ababc"]),
]


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def gguf_seeds():
    """A few small GGUF files: every metadata type and small tensors of several types."""
    import gguf
    from gguf import quants
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    try:
        specs = [
            ("llama-f32", "llama", [("t.f32", np.float32, None)]),
            ("arrays-f16", "gpt2", [("t.f16", np.float16, None)]),
            ("q8_0", "llama", [("t.q8", np.float32, gguf.GGMLQuantizationType.Q8_0)]),
            ("q4_0", "llama", [("t.q4", np.float32, gguf.GGMLQuantizationType.Q4_0)]),
        ]
        for name, arch, tensors in specs:
            path = tmp / f"{name}.gguf"
            w = gguf.GGUFWriter(str(path), arch)
            w.add_uint32("u32", 7)
            w.add_int32("i32", -7)
            w.add_float32("f32", 0.5)
            w.add_bool("b", True)
            w.add_string("s", "héllo")
            w.add_uint64("u64", 1 << 40)
            w.add_array("arr.i", [1, 2, 3])
            w.add_array("arr.s", ["a", "bb", ""])
            w.add_context_length(128)
            for tname, dt, q in tensors:
                x = rng.standard_normal((2, 32)).astype(np.float32)
                if q is None:
                    w.add_tensor(tname, x.astype(dt))
                else:
                    w.add_tensor(tname, quants.quantize(x, q), raw_dtype=q)
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
            write("fuzz_gguf", f"{name}.gguf", path.read_bytes())
        # a header that claims more than it has, and a truncated file
        good = (OUT / "fuzz_gguf" / "llama-f32.gguf").read_bytes()
        write("fuzz_gguf", "truncated.gguf", good[: len(good) // 2])
        write("fuzz_gguf", "huge-counts.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 1 << 62))
    finally:
        shutil.rmtree(tmp, True)


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    gguf_seeds()
    for i, (g, inputs) in enumerate(GRAMMARS):
        for j, inp in enumerate(inputs):
            write("fuzz_gbnf", f"g{i}-{j}", g.encode() + b"\0" + inp)
    for p in sorted((ROOT / "tests" / "schemas").glob("*.json")):
        doc = json.loads(p.read_text())
        write("fuzz_json_schema", p.stem, json.dumps(doc.get("schema", doc)))
    write("fuzz_json_schema", "any", "{}")
    write("fuzz_json_schema", "true", "true")
    # small real templates only (libFuzzer's default -max_len follows the seeds)
    for p in sorted((SHARED / "chat-templates").glob("*.jinja")):
        if p.stat().st_size <= 4096:
            write("fuzz_jinja", p.stem, p.read_bytes())
    write("fuzz_jinja", "loop", "{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}"
                                "{% if add_generation_prompt %}assistant:{% endif %}")
    write("fuzz_jinja", "macro", "{% macro f(x, y=2) %}{{ x ~ y }}{% endmacro %}{% set n = namespace(a=0) %}"
                                 "{{ f(1) }}{{ [1,2,3]|join(',') }}{{ {'a':1}|tojson }}{{ 'ab'[::-1] }}")
    for i, t in enumerate(TEXTS):
        write("fuzz_pretokenize", f"text{i}", t)
        for flags in (0x00, 0x31):  # byte 0: vocabulary (mod n) and add/parse/special flags
            write("fuzz_tokenizer", f"text{i}-{flags:02x}", bytes([flags + i]) + t.encode())
    for i, b in enumerate(INVALID_UTF8):
        write("fuzz_pretokenize", f"bad{i}", b)
        write("fuzz_tokenizer", f"bad{i}", bytes([i]) + b)
    sys.path.insert(0, str(ROOT / "fuzz"))
    from http_seeds import seeds as http_seeds  # fuzz_http: raw HTTP requests, one per route and body kind
    for name, data in http_seeds().items():
        write("fuzz_http", name, data)
    n = sum(1 for _ in OUT.rglob("*") if _.is_file())
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {n} files, {size} bytes under {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
