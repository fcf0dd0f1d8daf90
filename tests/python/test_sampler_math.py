"""Numpy reference for the sampler math (llama.cpp's semantics, written from
its description with a plain full sort), and a check that the expected values
embedded in tests/unit/test_sampler.c between the NUMPY BEGIN/END markers are
exactly what this reference computes.

    .venv/bin/python tests/python/test_sampler_math.py   # prints the C block

The C unit test then compares the sampler's output with those constants.
"""
import re
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
C_TEST = REPO / "tests" / "unit" / "test_sampler.c"

# The fixed logits of the 12-token test vocabulary (test_sampler.c: LOGITS).
LOGITS = np.array([-1.0, -2.0, -0.5, 0.7, 3.1, 2.6, 2.2, 1.3, 1.1, 0.0, -1.4, -3.0],
                  dtype=np.float32)


def ordered(ids, logits):
    """Candidates sorted by logit descending, then id ascending."""
    order = np.lexsort((ids, -logits.astype(np.float64)))
    return ids[order], logits[order]


def softmax(logits):
    x = logits.astype(np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def top_k(ids, logits, k, min_keep=1):
    ids, logits = ordered(ids, logits)
    k = max(k, min_keep)
    return ids[:k], logits[:k]


def top_p(ids, logits, p, min_keep=1):
    ids, logits = ordered(ids, logits)
    cum = np.cumsum(softmax(logits))
    for i, c in enumerate(cum):
        if c >= p and i + 1 >= min_keep:
            return ids[: i + 1], logits[: i + 1]
    return ids, logits


def min_p(ids, logits, p, min_keep=1):
    ids, logits = ordered(ids, logits)
    keep = logits >= logits[0] + np.log(np.float32(p))
    n = max(int(keep.sum()), min_keep)
    return ids[:n], logits[:n]


def tail_free(ids, logits, z, min_keep=1):
    ids, logits = ordered(ids, logits)
    if len(ids) <= 2:
        return ids, logits
    p = softmax(logits)
    d2 = np.abs(np.diff(np.diff(p)))
    d2 = d2 / d2.sum() if d2.sum() > 1e-6 else np.full(len(d2), 1.0 / len(d2))
    cum = np.cumsum(d2)
    for i, c in enumerate(cum):
        if c > z and i >= min_keep:
            return ids[:i], logits[:i]
    return ids, logits


def typical(ids, logits, tp, min_keep=1):
    ids, logits = ordered(ids, logits)
    p = softmax(logits)
    h = -(p * np.log(p)).sum()
    score = np.abs(-np.log(p) - h)
    order = np.lexsort((ids, score))
    cum = np.cumsum(p[order])
    n = len(ids)
    for i, c in enumerate(cum):
        if c > tp and i >= min_keep - 1:
            n = i + 1
            break
    return ids[order[:n]], logits[order[:n]]


def dynatemp(ids, logits, temp, rng, exponent):
    p = softmax(logits)
    h = -(p[p > 0] * np.log(p[p > 0])).sum()
    norm = h / np.log(len(ids))
    lo, hi = max(0.0, temp - rng), max(0.0, temp + rng)
    t = lo + (hi - lo) * norm ** exponent
    return ids, logits / t, t


def mirostat1(ids, logits, mu, n_vocab, m=100):
    ids, logits = ordered(ids, logits)
    p = softmax(logits)
    i = np.arange(min(m - 1, len(ids) - 1))
    t = np.log((i + 2) / (i + 1))
    b = np.log(p[i] / p[i + 1])
    s_hat = (t * b).sum() / (t * t).sum()
    eps = s_hat - 1
    k = ((eps * 2 ** mu) / (1 - n_vocab ** -eps)) ** (1 / s_hat)
    k = int(k) if 1 <= k < len(ids) else len(ids)
    return ids[:k], logits[:k], s_hat, k


def mirostat2(ids, logits, mu):
    ids, logits = ordered(ids, logits)
    p = softmax(logits)
    n = max(1, int((-np.log2(p) <= mu).sum()))
    return ids[:n], logits[:n]


def penalize(logits, history, rp, fp, pp):
    out = logits.astype(np.float32).copy()
    for t, c in zip(*np.unique(history, return_counts=True)):
        x = out[t]
        x = x * rp if x <= 0 else x / rp
        out[t] = x - (c * fp + pp)
    return out


def expectations():
    """name -> values, the constants of the C test."""
    ids = np.arange(len(LOGITS))
    e = {}

    def put(name, r_ids, r_logits):
        r_ids, r_logits = ordered(r_ids, r_logits)
        e[f"EXP_{name}_IDS"] = [int(i) for i in r_ids]
        e[f"EXP_{name}_P"] = [float(x) for x in softmax(r_logits)]

    put("TOP_K2", *top_k(ids, LOGITS, 2))
    put("TOP_P09", *top_p(ids, LOGITS, 0.9))
    put("MIN_P015", *min_p(ids, LOGITS, 0.15))
    put("TFS_099", *tail_free(ids, LOGITS, 0.99))
    put("TYPICAL_09", *typical(ids, LOGITS, 0.9))
    put("TEMP_05", ids, LOGITS / np.float32(0.5))
    d_ids, d_logits, t = dynatemp(ids, LOGITS, 1.0, 0.5, 1.0)
    put("DYNATEMP", d_ids, d_logits)
    e["EXP_DYNATEMP_T"] = [float(t)]
    m_ids, m_logits, s_hat, k = mirostat1(ids, LOGITS, 2 * 2.0, len(LOGITS))
    put("MIROSTAT1", m_ids, m_logits)
    e["EXP_MIROSTAT1_K"] = [k]
    put("MIROSTAT2", *mirostat2(ids, LOGITS, 2 * 3.0))
    # the default chain with temperature 0.8
    c_ids, c_logits = top_k(ids, LOGITS, 40)
    c_ids, c_logits = top_p(c_ids, c_logits, 0.95)
    c_ids, c_logits = min_p(c_ids, c_logits, 0.05)
    put("DEFAULT", c_ids, c_logits / np.float32(0.8))
    pen = penalize(LOGITS, np.array([4, 4, 9, 3]), 1.5, 0.5, 0.25)
    e["EXP_PENALIZED"] = [float(x) for x in pen]
    return e


def c_block(e):
    lines = []
    for name, vals in e.items():
        if name.endswith("_IDS") or name.endswith("_K"):
            body = ", ".join(str(v) for v in vals)
            lines.append(f"static const int32_t {name}[] = {{{body}}};")
        else:
            body = ", ".join(f"{v:.9g}" for v in vals)
            lines.append(f"static const double {name}[] = {{{body}}};")
    return "\n".join(lines)


def parse_c_block(text):
    block = text.split("NUMPY BEGIN")[1].split("NUMPY END")[0]
    out = {}
    for m in re.finditer(r"static const (\w+) (\w+)\[\] = \{([^}]*)\};", block):
        out[m.group(2)] = [float(x) for x in m.group(3).split(",")]
    return out


def test_c_constants_match_numpy():
    have = parse_c_block(C_TEST.read_text())
    want = expectations()
    assert set(have) == set(want)
    for name, vals in want.items():
        assert np.allclose(have[name], vals, rtol=1e-7, atol=1e-9), name


def test_reference_sanity():
    ids = np.arange(len(LOGITS))
    # min_p keeps exactly the tokens within ln(0.3) of the best logit
    assert list(min_p(ids, LOGITS, 0.3)[0]) == [4, 5, 6]
    # top_k with min_keep above k keeps min_keep
    assert len(top_k(ids, LOGITS, 3, min_keep=5)[0]) == 5


if __name__ == "__main__":
    print(c_block(expectations()))


# ---------------------------------------------------------------- cllm-cli

import json  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402


def _cli(tool, models_dir, *args, model="stories260K.gguf", check=True):
    m = models_dir / model
    if not m.is_file():
        pytest.skip(f"{m} not found")
    r = subprocess.run([str(tool("cli")), "-m", str(m), "-t", "2", *args],
                       capture_output=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


def test_cli_seed_reproduces(tool, models_dir):
    args = ["-p", "Once upon a time", "-n", "24", "--temp", "1.0"]
    a = _cli(tool, models_dir, *args, "-s", "7").stdout
    b = _cli(tool, models_dir, *args, "-s", "7").stdout
    assert a == b
    others = {_cli(tool, models_dir, *args, "-s", str(s)).stdout for s in (8, 9, 10)}
    assert others != {a}
    r = _cli(tool, models_dir, *args)  # random seed, reported on stderr
    assert b"seed: " in r.stderr


def test_cli_top_k_1_is_greedy(tool, models_dir):
    base = ["-p", "Once upon a time", "-n", "20"]
    greedy = _cli(tool, models_dir, *base, "--temp", "0", "-s", "1").stdout
    k1 = _cli(tool, models_dir, *base, "--samplers", "top_k,temperature", "--top-k", "1",
              "-s", "2").stdout
    assert greedy == k1


def test_cli_sampling_flags(tool, models_dir):
    r = _cli(tool, models_dir, "-p", "Once", "-n", "8", "-s", "3", "--top-k", "0",
             "--top-p", "0.9", "--min-p", "0.1", "--tfs", "0.95", "--typical", "0.9",
             "--repeat-penalty", "1.2", "--repeat-last-n", "-1", "--presence-penalty", "0.5",
             "--frequency-penalty", "0.5", "--dynatemp-range", "0.3", "--dynatemp-exp", "2",
             "--min-keep", "2", "--samplers", "typical_p;top_p;min_p;temperature;top_p",
             "--ignore-eos", "--no-penalize-nl")
    assert r.stdout.startswith(b"Once")
    for m in ("1", "2"):
        r = _cli(tool, models_dir, "-p", "Once", "-n", "8", "-s", "3", "--mirostat", m,
                 "--mirostat-lr", "0.2", "--mirostat-ent", "3")
        assert r.stdout.startswith(b"Once")


@pytest.mark.parametrize("args,msg", [
    (["--samplers", "top_k;bogus"], b"unknown sampler"),
    (["--mirostat", "3"], b"--mirostat"),
    (["--temp", "x"], b"not a number"),
    (["--grammar", "root ::= ("], b"Failed to parse grammar"),
    (["--grammar-file", "/nonexistent/g.gbnf"], b"/nonexistent/g.gbnf"),
    (["-j", "{not json"], b"--json-schema"),
])
def test_cli_bad_args(tool, models_dir, args, msg):
    r = _cli(tool, models_dir, "-p", "Once", "-n", "4", *args, check=False)
    assert r.returncode != 0
    assert msg in r.stderr


def test_cli_grammar(tool, models_dir, tmp_path):
    r = _cli(tool, models_dir, "-p", "Once", "-n", "40", "-s", "5",
             "--grammar", 'root ::= [0-9]{1,6} "."')
    out = r.stdout.decode()[len("Once"):].strip()
    assert re.fullmatch(r"[0-9]{1,6}\.", out), out
    g = tmp_path / "g.gbnf"
    g.write_text('root ::= ("yes" | "no") "!"\n')
    for seed in ("1", "2", "3"):
        r = _cli(tool, models_dir, "-p", "Once", "-n", "20", "-s", seed, "--grammar-file", str(g))
        assert r.stdout.decode()[len("Once"):].strip() in ("yes!", "no!")


def test_cli_json_schema(tool, models_dir):
    schema = {"type": "object", "properties": {"n": {"type": "integer"},
                                               "ok": {"type": "boolean"}},
              "required": ["n", "ok"], "additionalProperties": False}
    r = _cli(tool, models_dir, "-p", "Data:", "-n", "200", "-s", "4", "--temp", "0",
             "-j", json.dumps(schema), model="gemma-3-270m-q4_k_m.gguf", check=False)
    if r.returncode != 0 and b"not supported" in r.stderr:
        pytest.fail("cllm-cli -j says JSON schemas are not supported")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout.decode()[len("Data:"):])
    assert isinstance(doc["n"], int) and isinstance(doc["ok"], bool)
