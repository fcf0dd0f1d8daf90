"""The engine against llama.cpp's reference vectors (tests/vectors/models/*.json,
made by scripts/make-model-vectors.py; see docs/reference-vectors.md).

For every real model:
  - our tokenizer gives the reference's prompt and teacher-forcing ids;
  - teacher forcing over 256 tokens: at every position our logits of the
    reference's top-10 tokens are within TOL of llama.cpp's, and where our
    top-1 differs from the reference's, the reference itself ranks the two
    within TOL (a near tie, not a wrong answer); the perplexity of the text is
    within 1%;
  - whole logit rows (tests/vectors/models/rows/*.json, `make-model-vectors.py
    --rows`): teacher-forced in one batch over every reference step (the 256
    teacher-forcing positions and the 64 greedy steps of each prompt), each
    row's max |logit diff|, KL divergence and top-1 against llama.cpp's, and
    the teacher-forcing perplexity, each within a bound written next to the
    rows: twice llama.cpp's own spread between its batched and one-token
    paths on those rows (largest in the model's group);
  - perplexity over tests/data/perplexity.txt within the same relative bound
    (x2: its chunks are longer);
  - test_greedy_continuation, separately: greedy continuations are identical
    up to the first step where the reference's top-2 logits are within TOL of
    each other.

TOL per weight type is about twice the spread of llama.cpp's own logits
between its batched and single-token paths on the same model (measured by
the generator, "batch_sensitivity" in each file): our arithmetic differs
from llama.cpp's in the same places (the order of float sums in dot
products and attention), so that spread is the scale of honest
disagreement. Where rounding decides discrete outcomes (activations
quantized to Q8_0/Q8_1, ties in RMS norm outputs) we round as llama.cpp's
x86 CPU backend does.
"""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("CLLM_BUILD", "build")
VECTORS = sorted((ROOT / "tests" / "vectors" / "models").glob("*.json"))

TOL = {  # max |logit difference| allowed, by model file
    "stories260K.gguf": 0.05,               # F32 (llama.cpp's own spread: 0.021)
    "TinyStories-656K.f16.gguf": 0.05,      # F16 (0.0054)
    "stories260K-BF16.gguf": 0.3,           # BF16 (0.075 .. 0.18 for BF16 and quantized)
    "gemma-3-270m-q4_k_m.gguf": 2.0,        # Q4_K_M (1.72)
}
TOL_QUANT = 0.4                              # the quantized TinyStories files


def tol_for(model):
    return TOL.get(model, TOL_QUANT)


def load(path):
    v = json.loads(path.read_text())
    model = ROOT / "models" / v["model"]
    if not model.exists():
        pytest.skip(f"{v['model']} not fetched")
    return v, model


def run_logits(model, ids, *args):
    return subprocess.run([str(BUILD / "cllm-logits"), "-m", str(model), *args],
                          input=" ".join(map(str, ids)), capture_output=True, text=True, check=True)


def tokenize(model, text):
    res = subprocess.run([str(BUILD / "cllm-tokenize"), "-m", str(model), "--ids",
                          "--no-parse-special", "-p", text],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_prompt_tokens(path):
    v, model = load(path)
    for key, p in v["prompts"].items():
        assert tokenize(model, p["text"]) == p["ids"], key
    text = (ROOT / v["teacher_forcing"]["file"]).read_text()
    assert tokenize(model, text)[: v["teacher_forcing"]["n_tokens"]] == v["teacher_forcing"]["ids"]


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_teacher_forcing(path, tmp_path):
    v, model = load(path)
    tol = tol_for(v["model"])
    tf = v["teacher_forcing"]
    ids = tf["ids"]
    out = tmp_path / "logits.f32"
    run_logits(model, ids, "--out", str(out), "-b", "512")
    logits = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)
    worst, near_ties, logprobs = 0.0, 0, []
    for i, top in enumerate(tf["top10"]):
        ref_ids = [t[0] for t in top]
        ref = {t[0]: t[1] for t in top}
        diff = np.abs(logits[i, ref_ids] - np.array([t[1] for t in top], dtype=np.float32))
        worst = max(worst, float(diff.max()))
        ours = int(np.argmax(logits[i]))
        if ours != ref_ids[0]:
            assert ours in ref, f"position {i}: our top-1 {ours} is not in llama.cpp's top-10"
            assert ref[ref_ids[0]] - ref[ours] <= tol, f"position {i}: top-1 {ours} vs {ref_ids[0]}"
            near_ties += 1
        if i + 1 < len(ids):
            row = logits[i].astype(np.float64)
            m = row.max()
            logprobs.append(row[ids[i + 1]] - m - np.log(np.exp(row - m).sum()))
    assert worst <= tol, f"max |logit diff| {worst:.4f} > {tol}"
    ppl = float(np.exp(-np.mean(logprobs)))
    bound = row_bounds(path)["ppl_rel"]
    assert abs(ppl - tf["ppl"]) / tf["ppl"] <= bound, (ppl, tf["ppl"], bound)
    print(f"{v['model']}: max diff {worst:.4f} (tol {tol}), top-1 near ties {near_ties}/{len(ids)}, "
          f"ppl {ppl:.4f} vs {tf['ppl']:.4f}")


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_greedy_continuation(path):
    v, model = load(path)
    tol = tol_for(v["model"])
    for key, p in v["prompts"].items():
        gen = p["gen"]
        res = run_logits(model, p["ids"], "--greedy", str(len(gen["ids"])))
        ours = [int(line.split()[0]) for line in res.stdout.splitlines()]
        for step, (want, top2) in enumerate(zip(gen["ids"], gen["top2"])):
            if top2[0][1] - top2[1][1] < tol:
                break  # the reference is too close to call from here on
            assert ours[step] == want, f"{key}: step {step}: {ours[step]} vs llama.cpp {want}"


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_perplexity(path, tmp_path):
    """llama-perplexity's calculation (docs/reference-vectors.md) within 1% of llama.cpp's."""
    v, model = load(path)
    ref = v["perplexity"]
    text = (ROOT / ref["file"]).read_text()
    ids_file = tmp_path / "ppl.ids"
    ids_file.write_text(" ".join(map(str, tokenize(model, text))))
    res = subprocess.run([str(BUILD / "cllm-logits"), "-m", str(model), "--perplexity", str(ids_file),
                          "--chunk", str(ref["chunk"])], capture_output=True, text=True, check=True)
    running = [float(x) for x in res.stdout.split()]
    assert len(running) == ref["n_chunks"]
    bound = 2 * row_bounds(path)["ppl_rel"]
    assert abs(running[-1] - ref["ppl"]) / ref["ppl"] <= bound, (running[-1], ref["ppl"], bound)
    print(f"{v['model']}: perplexity {running[-1]:.4f} vs llama.cpp {ref['ppl']:.4f}")


# ------------------------------------------------------------ whole rows

ROWS = ROOT / "tests" / "vectors" / "models" / "rows"


def row_bounds(path):
    return json.loads((ROWS / path.name).read_text())["bounds"]


def unb64z(s, dtype):
    import base64
    import zlib
    return np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=dtype)


def decode_rows(enc, n_vocab):
    """(ids or None, reference logits, keep mask, log-sum-exp) of encoded rows:
    full rows when ids is None, else the top-k ids of each row."""
    n = enc["n"]
    mx = unb64z(enc["max_b64"], "<f4").astype(np.float64)
    lse = unb64z(enc["lse_b64"], "<f8")
    q = unb64z(enc["q_b64"], "<i2").astype(np.float64).reshape(n, -1)
    ids = unb64z(enc["ids_b64"], "<i4").reshape(n, -1) if "ids_b64" in enc else None
    if ids is None:
        assert q.shape[1] == n_vocab
    return ids, mx[:, None] + q / 1024.0, q > -32767, lse


def log_softmax(L):
    L = L.astype(np.float64)
    m = L.max(axis=1, keepdims=True)
    return L - m - np.log(np.exp(L - m).sum(axis=1, keepdims=True))


def compare_rows(ours, enc):
    """Metrics of our float32 rows against the encoded reference: max |diff|,
    KL(ref || ours) per row, top-1 disagreements (with the reference's gap
    between its top-1 and ours), and our log-probs."""
    ids, ref, keep, lse = decode_rows(enc, ours.shape[1])
    lo = log_softmax(ours)
    if ids is None:
        mine = ours.astype(np.float64)
        # normalize the decoded row itself (not with the stored log-sum-exp):
        # the 1/2048 rounding of the stored logits then cancels to first order
        # in the KL instead of adding ~1e-4 of noise to it
        r = np.where(keep, ref, -np.inf)
        lr = r - r.max(axis=1, keepdims=True)
        lr = lr - np.log(np.exp(lr).sum(axis=1, keepdims=True))
        kl = (np.exp(lr) * np.where(keep, lr - lo, 0)).sum(axis=1)
    else:
        # top-k ids of the reference plus one bucket for the rest of the row:
        # a lower bound of the whole row's KL, exact where the rest is small
        mine = np.take_along_axis(ours.astype(np.float64), ids, axis=1)
        lr = ref - lse[:, None]
        lok = np.take_along_axis(lo, ids, axis=1)
        pr, po = np.exp(lr), np.exp(lok)
        tail_r = np.clip(1 - pr.sum(axis=1), 1e-300, 1)
        tail_o = np.clip(1 - po.sum(axis=1), 1e-300, 1)
        kl = (pr * (lr - lok)).sum(axis=1) + tail_r * (np.log(tail_r) - np.log(tail_o))
    diff = np.where(keep, np.abs(mine - ref), 0).max(axis=1)
    ref_top = ref.argmax(axis=1) if ids is None else ids[:, 0]
    our_top = ours.argmax(axis=1)
    gaps = []
    for r in np.nonzero(our_top != ref_top)[0]:
        if ids is None:
            gap = ref[r, ref_top[r]] - ref[r, our_top[r]]
        else:
            hit = np.nonzero(ids[r] == our_top[r])[0]
            gap = ref[r, 0] - ref[r, hit[0]] if len(hit) else np.inf
        gaps.append((int(r), float(gap)))
    return {"max_abs": float(diff.max()), "kl": kl, "top1": gaps, "logprobs": lo}


def whole_rows_failures(path, tmp_path, limits):
    """Run every rows sequence through the engine; the list of limits broken."""
    v, model = load(path)
    doc = json.loads((ROWS / path.name).read_text())
    assert doc["sha256"] == v["sha256"]
    fails, report = [], []
    for key, seq in doc["sequences"].items():
        ids, first, n = seq["ids"], seq["first"], seq["rows"]["n"]
        out = tmp_path / f"{key}.f32"
        run_logits(model, ids, "--out", str(out), "-b", "512")
        ours = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)[first:first + n]
        m = compare_rows(ours, seq["rows"])
        report.append(f"{key}: max {m['max_abs']:.4g} kl max {m['kl'].max():.3g} mean {m['kl'].mean():.3g} "
                      f"top1 diff {len(m['top1'])}")
        got = {"max_abs": m["max_abs"], "kl_max": float(m["kl"].max()), "kl_mean": float(m["kl"].mean()),
               "top1": len(m["top1"])}
        if key == "tf":
            lp = m["logprobs"][np.arange(n - 1), ids[1:n]]
            ppl = float(np.exp(-lp.mean()))
            got["ppl_rel"] = abs(ppl - v["teacher_forcing"]["ppl"]) / v["teacher_forcing"]["ppl"]
        for k, x in got.items():
            if x > limits[k]:
                fails.append(f"{key}: {k} {x:.4g} > {limits[k]:.4g}")
        for r, gap in m["top1"]:
            # a top-1 that differs must be a near tie in the reference
            if gap > limits["max_abs"]:
                fails.append(f"{key} row {r}: our top-1 trails llama.cpp's by {gap:.4g}")
    print(f"{v['model']} (limits {limits}): " + "; ".join(report))
    return fails


def bounds_of(path):
    b = row_bounds(path)
    return {k: b[k] for k in ("max_abs", "kl_max", "kl_mean", "ppl_rel")} | {"top1": b["top1_diff_per_seq"]}


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_whole_rows(path, tmp_path):
    """Every reference step, teacher-forced, whole logit rows within the
    bounds set from llama.cpp's own batched-vs-single spread.

    The quantized TinyStories-656K files were once ~10x further than that
    (KL ~0.004 against 0.0025): our Q8_0/Q8_1 activations rounded ties half
    away from zero with id = 1/d, where llama.cpp's x86 quantizer uses
    127/amax and ties to even, and its RMS norm rounds the mean to float.
    Activations next to a norm of Q8_0 embeddings often sit exactly on a
    half, so every such tie rounded the other way (docs/reference-vectors.md)."""
    fails = whole_rows_failures(path, tmp_path, bounds_of(path))
    assert not fails, fails
