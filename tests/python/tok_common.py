"""tok_common.py - helpers for the tokenizer tests: find cllm-tokenize, the
shared folder and models, and run the tool's batch modes."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("CLLM_SHARED", os.path.join(ROOT, "..", "shared"))


def tool():
    build = os.environ.get("CLLM_BUILD", "build")
    exe = os.path.join(build if os.path.isabs(build) else os.path.join(ROOT, build), "cllm-tokenize")
    if not os.path.exists(exe):
        pytest.skip(f"{exe} not built")
    return exe


def model_path(rel):
    if rel.startswith("synth:"):
        import synth_vocab
        out = os.path.join(ROOT, os.environ.get("CLLM_BUILD", "build"), "synth-vocab")
        return synth_vocab.ensure(SHARED, out, rel[len("synth:"):])
    if rel.startswith("shared:"):
        return os.path.join(SHARED, rel[len("shared:"):])
    return os.path.join(ROOT, rel)


def run(model, args, stdin=""):
    r = subprocess.run([tool(), "-m", model, *args], input=stdin, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def tokenize_many(model, texts, add_special, parse_special):
    """Ids for each text (bytes), in one run of the tool."""
    args = ["--hex-lines"]
    if not add_special:
        args.append("--no-bos")
    if not parse_special:
        args.append("--no-parse-special")
    out = run(model, args, "".join(t.hex() + "\n" for t in texts)).split("\n")
    assert len(out) == len(texts) + 1, out[-3:]
    return [[int(x) for x in line.split()] for line in out[:-1]]


def detokenize_many(model, id_lists, remove_special, unparse_special):
    args = ["--detok-lines"]
    if remove_special:
        args.append("--remove-special")
    if not unparse_special:
        args.append("--no-parse-special")
    out = run(model, args, "".join(" ".join(map(str, ids)) + "\n" for ids in id_lists)).split("\n")
    assert len(out) == len(id_lists) + 1
    return [bytes.fromhex(line) for line in out[:-1]]
