"""test_tokenizer_real.py - cllm-tokenize against ids, vocabulary facts and
detokenized text made by llama.cpp (llama-cpp-python) for real models and
vocabularies; the expected values are committed in tests/vectors/*.json by
scripts/make-token-vectors.py."""
import glob
import hashlib
import json
import os

import pytest

from tok_common import ROOT, detokenize_many, model_path, run, tokenize_many

VECTORS = sorted(glob.glob(os.path.join(ROOT, "tests", "vectors", "*.json")))


def load(path):
    with open(path) as f:
        data = json.load(f)
    model = model_path(data["model"])
    if not os.path.exists(model):
        pytest.skip(f"{model} missing (scripts/get-models.sh)")
    return data, model


def raw(c, key):
    """A text field: UTF-8 under key, or hex under key + "_hex"."""
    return c[key].encode("utf-8") if key in c else bytes.fromhex(c[key + "_hex"])


def ids_key(c):
    return (c["add_special"], c["parse_special"])


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: os.path.basename(p)[:-5])
def test_ids(path):
    data, model = load(path)
    cases = [c for c in data["cases"] if not c.get("error")]
    bad = []
    for add_special in (False, True):
        for parse_special in (False, True):
            sel = [c for c in cases if ids_key(c) == (add_special, parse_special)]
            got = tokenize_many(model, [raw(c, "text") for c in sel], add_special, parse_special)
            bad += [(c, g) for c, g in zip(sel, got) if g != c["ids"]]
    for c, g in bad[:5]:
        print("MISMATCH", raw(c, "text"), ids_key(c), "want", c["ids"], "got", g)
    print(f"{os.path.basename(path)}: {len(cases) - len(bad)}/{len(cases)} id cases match")
    assert not bad


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: os.path.basename(p)[:-5])
def test_detokenize(path):
    data, model = load(path)
    plain = [c for c in data["cases"] if not c.get("error") and not c["add_special"]]
    with_bos = [c for c in data["cases"] if not c.get("error") and c["add_special"]]
    checks = [
        (plain, "detok", False, False),
        (plain, "detok_unparse", False, True),
        (with_bos, "detok_remove_special", True, False),
    ]
    bad, round_trips = 0, 0
    for sel, key, remove, unparse in checks:
        got = detokenize_many(model, [c["ids"] for c in sel], remove, unparse)
        for c, g in zip(sel, got):
            want = raw(c, key)
            if g != want:
                bad += 1
                print("MISMATCH", key, raw(c, "text"), "want", want, "got", g)
            elif key == "detok" and want == raw(c, "text"):
                round_trips += 1
    print(f"{os.path.basename(path)}: {round_trips}/{len(plain)} plain cases round-trip (as in llama.cpp)")
    assert bad == 0


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: os.path.basename(p)[:-5])
def test_vocab_facts(path):
    data, model = load(path)
    meta = data["meta"]
    info = json.loads(run(model, ["--info"]))
    for k in ("n_tokens", "bos", "eos", "sep", "pad", "nl", "add_bos", "add_eos", "eog"):
        assert info[k] == meta[k], (k, info[k], meta[k])
    # With several end-of-turn texts in a vocabulary llama.cpp takes whichever its
    # hash map yields first; cllm takes the first of its list. Both must end generation.
    if info["eot"] != meta["eot"]:
        print(f"eot differs: cllm {info['eot']}, llama.cpp {meta['eot']} (both end generation)")
        assert info["eot"] in meta["eog"] and meta["eot"] in meta["eog"]
    attrs = hashlib.sha256()
    pieces = {"special": hashlib.sha256(), "plain": hashlib.sha256()}
    lines = run(model, ["--dump"]).split("\n")[:-1]
    assert len(lines) == meta["n_tokens"]
    for line in lines:
        fields = line.split(" ")
        attrs.update(int(fields[0]).to_bytes(4, "little"))
        for name, h in zip(("special", "plain"), fields[1:]):
            p = bytes.fromhex(h)
            pieces[name].update(len(p).to_bytes(4, "little") + p)
    assert attrs.hexdigest() == meta["attr_sha256"], "token attributes differ"
    for name in pieces:
        assert pieces[name].hexdigest() == meta["pieces_sha256"][name], f"{name} pieces differ"


def test_cli(tmp_path):
    """The user-facing modes: ids with and without BOS, pieces, -f, errors."""
    import subprocess

    from tok_common import tool

    model = model_path("shared:models/stories260K.gguf")
    if not os.path.exists(model):
        pytest.skip("stories260K missing")
    assert run(model, ["-p", "Once upon a time", "--ids"]).strip() == "[1, 403, 407, 261, 378]"
    assert run(model, ["-p", "Once upon a time", "--ids", "--no-bos"]).strip() == "[403, 407, 261, 378]"
    text = tmp_path / "t.txt"
    text.write_bytes(b"Once upon a time")
    assert run(model, ["-f", str(text), "--ids"]).strip() == "[1, 403, 407, 261, 378]"
    pieces = run(model, ["-p", "Once"]).splitlines()
    assert pieces[0].split() == ["1", "->", "'<s>'"] and "Once" in pieces[-1]
    for args, needle in ((["-m", "/nonexistent.gguf", "-p", "x"], "/nonexistent.gguf"),
                         (["-m", str(text), "-p", "x"], str(text)),
                         (["-m", model], "need"),
                         (["-m", model, "-f", "/nonexistent.txt"], "/nonexistent.txt")):
        r = subprocess.run([tool(), *args], capture_output=True, text=True)
        assert r.returncode == 1 and needle in r.stderr, (args, r.stderr)
