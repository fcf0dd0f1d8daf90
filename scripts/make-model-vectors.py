#!/usr/bin/env python3
"""make-model-vectors.py - reference forward-pass data made by llama.cpp
(through llama-cpp-python) for the engine's fidelity tests.

This is a generator, run by hand with the reference environment; tests and the
runtime only read its committed output (tests/vectors/models/*.json):

    nice /work/ref/venv/bin/python scripts/make-model-vectors.py \
        [--models stories260K.gguf ...] [--out tests/vectors/models]

For each model it records (see docs/reference-vectors.md for the schema):
  - three prompts: token ids, 64 greedy steps (ids, text, top-2 logits/step);
  - teacher forcing over the first 256 tokens of tests/data/teacher-forcing.txt:
    top-10 (id, logit) per position, log-softmax of the next token, perplexity;
  - llama-perplexity-style perplexity over tests/data/perplexity.txt;
  - how much llama.cpp's own logits move between n_batch 256 and n_batch 1;
  - with --rows (after the vectors exist): whole logit rows, teacher-forced
    in one batch, for every reference step (the 256 teacher-forcing positions
    and the 64 greedy steps of each prompt), llama.cpp's own spread between
    that batch and one-token-per-decode on the same rows, and the bounds the
    tests hold the engine to, written to <out>/rows/<model stem>.json.
Logits are raw (no softmax), stored as JSON numbers written with the shortest
decimal that reads back to the same float32 (numpy's float32 str); full logit
rows (small vocabularies only) are base64 of little-endian float32.
Everything runs single-threaded CPU; no timestamps are written, so two runs
give byte-identical files (checked: see the docs).
"""
import argparse
import base64
import ctypes
import gc
import hashlib
import json
import math
import os
import sys

import numpy as np
import llama_cpp
import llama_cpp.llama_cpp as llama_cpp_c

# Plain ggml CPU kernels only: no "extra" buffer types (AMX, repacked
# weights). With them, llama-cpp-python 0.3.36 segfaults in
# ggml_backend_amx_mul_mat on the quantized TinyStories-656K files on a CPU
# with AMX, and the repacked F16 path moves logits by ~4e-3. Llama() reads
# llama_model_default_params from the low-level module, so patch it there.
_default_model_params = llama_cpp_c.llama_model_default_params


def _model_params_no_extra():
    p = _default_model_params()
    p.use_extra_bufts = False
    return p


llama_cpp_c.llama_model_default_params = _model_params_no_extra

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DEFAULT_MODELS = [
    "stories260K.gguf",
    "stories260K-BF16.gguf",
    "TinyStories-656K.f16.gguf",
    "TinyStories-656K-Q8_0.gguf",
    "TinyStories-656K-Q4_0.gguf",
    "TinyStories-656K-Q4_1.gguf",
    "TinyStories-656K-Q5_0.gguf",
    "TinyStories-656K-Q5_1.gguf",
    "TinyStories-656K-IQ4_NL.gguf",
    "gemma-3-270m-q4_k_m.gguf",
]

PROMPTS = [
    ("story", "Once upon a time, there was a little"),
    ("factual", "Question: What is the capital of France?\nAnswer: The capital of France is"),
    # TinyStories-656K has no byte-fallback tokens for # % & ( ) * + / = @ [ \ ] ^ ` { } ~ TAB,
    # and llama.cpp aborts (std::out_of_range in byte_to_token) on them: keep them out.
    ("code", 'name: "Lily\'s list"\ncount: 42; price: $3.75 -> $4.20\n'
             'if n > 10 and n < 99: print_all "done!" | exit_code: 0\nelse:'),
]

N_CTX = 512          # context for every run (TinyStories-656K is trained at 512)
N_BATCH = 512        # logical batch = micro batch: a 256-token sequence is one ubatch
N_THREADS = 1
SEED = 0             # unused by greedy decoding; recorded anyway
N_GEN = 64
TF_TOKENS = 256      # teacher-forcing length, BOS included
TF_TOPK = 10
GEN_TOPK = 2
PPL_CHUNK = 512      # llama-perplexity -c 512
FULL_ROWS_MAX_VOCAB = 4096   # store whole logit rows only for vocabularies up to this
TF_FULL_POS = [0, 1, 127, 255]


def f32(x):
    """float32 -> Python float that json writes as the shortest float32 decimal."""
    return float(str(np.float32(x)))


def b64f32(row):
    return base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def topk(row, k):
    """(id, logit) pairs, highest logit first, ties by lower id."""
    idx = np.argpartition(-row, k)[: k + 8] if row.shape[0] > k + 8 else np.arange(row.shape[0])
    # widen to keep every tie at the k-th value
    kth = np.sort(row[idx])[::-1][k - 1]
    idx = np.nonzero(row >= kth)[0]
    order = sorted(idx.tolist(), key=lambda i: (-float(row[i]), i))[:k]
    return [[int(i), f32(row[i])] for i in order]


def log_softmax_at(row, tok):
    """As llama-perplexity: max in float, sum of exp in double."""
    r = row.astype(np.float64)
    m = r.max()
    return float(r[tok] - m - math.log(np.exp(r - m).sum()))


def text_field(b, key="text"):
    try:
        return {key: b.decode("utf-8")}
    except UnicodeDecodeError:
        return {key + "_hex": b.hex()}


class Model:
    def __init__(self, path, n_batch=N_BATCH):
        self.llm = llama_cpp.Llama(
            path, n_ctx=N_CTX, n_batch=n_batch, n_ubatch=n_batch, n_threads=N_THREADS,
            n_threads_batch=N_THREADS, seed=SEED, logits_all=True, n_gpu_layers=0,
            flash_attn=False, verbose=False)
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n_vocab = self.llm.n_vocab()

    def piece(self, tok, special=False):
        buf = ctypes.create_string_buffer(256)
        k = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, 256, 0, special)
        if k < 0:
            buf = ctypes.create_string_buffer(-k)
            k = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, -k, 0, special)
        return buf.raw[:k]

    def tokenize(self, text):
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def eval_all(self, toks):
        """Fresh sequence; returns a copy of the logits of every position."""
        self.llm.reset()
        self.llm.eval(toks)
        return np.array(self.llm.scores[: len(toks)], dtype=np.float32, copy=True)

    def close(self):
        self.llm.close()


def run_prompt(m, text):
    toks = m.tokenize(text)
    m.llm.reset()
    m.llm.eval(toks)
    ids, steps, eog_at = [], [], None
    step0_row = None
    for step in range(N_GEN):
        row = np.array(m.llm.scores[m.llm.n_tokens - 1], dtype=np.float32)
        if step == 0:
            step0_row = row.copy()
        tk = topk(row, GEN_TOPK)
        tok = int(np.argmax(row))          # greedy = first index of the max
        assert tok == tk[0][0]
        ids.append(tok)
        steps.append(tk)
        if eog_at is None and llama_cpp.llama_vocab_is_eog(m.vocab, tok):
            eog_at = step
        m.llm.eval([tok])
    out = {"text": text, "ids": toks,
           "gen": {"ids": ids, **text_field(b"".join(m.piece(t) for t in ids)),
                   "eog_at": eog_at, "top2": steps}}
    if m.n_vocab <= FULL_ROWS_MAX_VOCAB:
        out["gen"]["step0_logits_b64"] = b64f32(step0_row)
    return out


def teacher_forcing(m, text):
    all_toks = m.tokenize(text)
    assert len(all_toks) >= TF_TOKENS, (len(all_toks), TF_TOKENS)
    toks = all_toks[:TF_TOKENS]
    logits = m.eval_all(toks)
    top, lp = [], []
    for i in range(len(toks)):
        top.append(topk(logits[i], TF_TOPK))
        if i + 1 < len(toks):
            lp.append(log_softmax_at(logits[i], toks[i + 1]))
    out = {
        "file": "tests/data/teacher-forcing.txt",
        "n_tokens": len(toks),
        "n_tokens_full_text": len(all_toks),
        "ids": toks,
        "top10": top,
        "next_logprob": [f32(x) for x in lp],
        "ppl": math.exp(-sum(lp) / len(lp)),
    }
    if m.n_vocab <= FULL_ROWS_MAX_VOCAB:
        out["full_logits_b64"] = {str(p): b64f32(logits[p]) for p in TF_FULL_POS}
    return out, logits


def perplexity(m, text):
    """llama-perplexity (-c PPL_CHUNK -b PPL_CHUNK): non-overlapping chunks,
    first token of each chunk replaced by BOS, score the second half."""
    toks = m.tokenize(text)
    n_ctx = PPL_CHUNK
    n_chunk = len(toks) // n_ctx
    assert n_chunk >= 2, "llama-perplexity needs at least 2*n_ctx tokens"
    bos = llama_cpp.llama_vocab_bos(m.vocab)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(m.vocab))
    first = n_ctx // 2
    nll, count, per_chunk = 0.0, 0, []
    for c in range(n_chunk):
        chunk = list(toks[c * n_ctx:(c + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        logits = m.eval_all(chunk)
        cn = 0.0
        for j in range(first, n_ctx - 1):
            cn -= log_softmax_at(logits[j], chunk[j + 1])
        nll += cn
        count += n_ctx - 1 - first
        per_chunk.append(float("%.7g" % math.exp(nll / count)))  # running, as printed
    return {
        "file": "tests/data/perplexity.txt",
        "n_tokens_text": len(toks),
        "chunk": n_ctx,
        "n_chunks": n_chunk,
        "first_scored": first,
        "scored_per_chunk": n_ctx - 1 - first,
        "running_ppl": per_chunk,
        "ppl": math.exp(nll / count),
    }


def batch_sensitivity(path, toks, logits_b):
    """Logits of the same sequence evaluated one token per decode (n_batch 1)
    against the one-batch evaluation."""
    m1 = Model(path, n_batch=1)
    l1 = m1.eval_all(toks)
    m1.close()
    d = np.abs(l1.astype(np.float64) - logits_b.astype(np.float64))
    scale = np.abs(logits_b).max(axis=1, keepdims=True)
    top1_b = logits_b.argmax(axis=1)
    top1_1 = l1.argmax(axis=1)
    lp = lambda L: L - L.max(axis=1, keepdims=True) - np.log(np.exp(L - L.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
    dlp = np.abs(lp(l1.astype(np.float64)) - lp(logits_b.astype(np.float64)))
    return {
        "compared": "teacher-forcing sequence, n_batch=n_ubatch=%d vs 1" % N_BATCH,
        "max_abs_diff": float("%.3g" % d.max()),
        "mean_abs_diff": float("%.3g" % d.mean()),
        "max_abs_diff_over_row_max_abs": float("%.3g" % (d / scale).max()),
        "max_abs_diff_logprob": float("%.3g" % dlp.max()),
        "bit_identical": bool((l1 == logits_b).all()),
        "top1_disagreements": int((top1_b != top1_1).sum()),
    }


# ------------------------------------------------------------ whole rows
#
# Rows are stored relative to their maximum in fixed point: q = round((logit -
# max) * ROW_SCALE) as int16, clamped at -32767 (32 below the max: probability
# below e^-32 of the top token's), zlib-compressed, base64. Exact to 1/2048 of
# a logit where it is not clamped. Vocabularies up to FULL_ROWS_MAX_VOCAB keep
# every id; larger ones (gemma, 262k) keep the top ROW_TOPK ids of each row
# plus the row's log-sum-exp, so that probabilities (and a KL divergence over
# those ids plus one bucket for the rest) are still exact.

ROW_SCALE = 1024.0
ROW_TOPK = 256
ROW_GROUPS = {  # bounds are set per group: 2 x the largest spread in the group
    "stories260K.gguf": "float", "TinyStories-656K.f16.gguf": "float",
    "gemma-3-270m-q4_k_m.gguf": "gemma",
}
BOUND_FLOOR = {"max_abs": 0.01, "kl_max": 1e-5, "kl_mean": 1e-6, "ppl_rel": 1e-4}


def b64z(arr, dtype):
    import zlib
    return base64.b64encode(zlib.compress(np.ascontiguousarray(arr, dtype=dtype).tobytes(), 9)).decode("ascii")


def encode_rows(L):
    """Dict with the encoded rows of the float32 matrix L (rows x n_vocab)."""
    L64 = L.astype(np.float64)
    mx = L.max(axis=1)
    lse = mx.astype(np.float64) + np.log(np.exp(L64 - mx[:, None]).sum(axis=1))
    out = {"n": int(L.shape[0]), "max_b64": b64z(mx, "<f4"), "lse_b64": b64z(lse, "<f8")}
    if L.shape[1] <= FULL_ROWS_MAX_VOCAB:
        q = np.clip(np.round((L64 - mx[:, None]) * ROW_SCALE), -32767, 0)
        out["q_b64"] = b64z(q, "<i2")
    else:
        ids = np.argsort(-L, axis=1, kind="stable")[:, :ROW_TOPK]
        vals = np.take_along_axis(L64, ids, axis=1)
        q = np.clip(np.round((vals - mx[:, None]) * ROW_SCALE), -32767, 0)
        out["topk"] = ROW_TOPK
        out["ids_b64"] = b64z(ids, "<i4")
        out["q_b64"] = b64z(q, "<i2")
    return out


def log_softmax_rows(L):
    L = L.astype(np.float64)
    m = L.max(axis=1, keepdims=True)
    return L - m - np.log(np.exp(L - m).sum(axis=1, keepdims=True))


def row_metrics(A, B, next_ids=None):
    """How far float32 logit rows B are from A (the reference): max |diff|
    over ids whose reference logit is within 32 of its row's max, KL(A || B)
    per row (max and mean), top-1 disagreements, and, given the next ids,
    the relative difference of the perplexity."""
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    keep = A64 >= A64.max(axis=1, keepdims=True) - 32
    d = np.where(keep, np.abs(A64 - B64), 0).max()
    la, lb = log_softmax_rows(A), log_softmax_rows(B)
    kl = (np.exp(la) * (la - lb)).sum(axis=1)
    out = {"max_abs": float(d), "kl_max": float(kl.max()), "kl_mean": float(kl.mean()),
           "top1_diff": int((A.argmax(axis=1) != B.argmax(axis=1)).sum())}
    if next_ids is not None:
        n = len(next_ids)
        pa = math.exp(-la[np.arange(n), next_ids].mean())
        pb = math.exp(-lb[np.arange(n), next_ids].mean())
        out["ppl_rel"] = abs(pb - pa) / pa
    return out


def whole_rows(path, vec):
    """Rows file for one model from its committed vectors `vec`."""
    seqs = {"tf": (vec["teacher_forcing"]["ids"], 0, len(vec["teacher_forcing"]["ids"]))}
    for key, p in vec["prompts"].items():
        ids = p["ids"] + p["gen"]["ids"][:-1]
        seqs[key] = (ids, len(p["ids"]) - 1, len(p["gen"]["ids"]))
    mb, m1 = Model(path), Model(path, n_batch=1)
    out = {"model": vec["model"], "sha256": vec["sha256"],
           "generator": "llama-cpp-python %s (scripts/make-model-vectors.py --rows)" % llama_cpp.__version__,
           "encoding": {"scale": ROW_SCALE, "clamp": -32767, "full_rows_max_vocab": FULL_ROWS_MAX_VOCAB,
                        "topk": ROW_TOPK},
           "sequences": {}, "spread": {}}
    for key, (ids, first, n) in seqs.items():
        lb = mb.eval_all(ids)[first:first + n]
        l1 = m1.eval_all(ids)[first:first + n]
        if key != "tf":  # the single-token path is how the greedy vectors were made
            got = [int(x) for x in l1.argmax(axis=1)]
            want = vec["prompts"][key]["gen"]["ids"]
            if got != want:
                print("   note: %s: this llama.cpp's greedy ids differ from the vectors' at step %d" % (
                    key, next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)), file=sys.stderr)
        nxt = [ids[first + i + 1] for i in range(n - 1)] if key == "tf" else None
        out["sequences"][key] = {"ids": ids, "first": first, "rows": encode_rows(lb)}
        sp = row_metrics(lb[:-1] if nxt else lb, l1[:-1] if nxt else l1, nxt)
        sp["top1_diff"] = int((lb.argmax(axis=1) != l1.argmax(axis=1)).sum())
        out["spread"][key] = sp
    mb.close()
    m1.close()
    return out


def set_bounds(rows_dir):
    """Bounds for every rows file in rows_dir: per metric, twice the largest
    spread llama.cpp showed (batch vs single) on any sequence of any model
    of the same group, floored (a group whose paths are bit-identical would
    otherwise ask for bit equality)."""
    files = sorted(f for f in os.listdir(rows_dir) if f.endswith(".json"))
    docs = {f: json.load(open(os.path.join(rows_dir, f), encoding="utf-8")) for f in files}
    group = lambda d: ROW_GROUPS.get(d["model"], "quant")
    worst = {}
    for d in docs.values():
        w = worst.setdefault(group(d), {})
        for sp in d["spread"].values():
            for k, v in sp.items():
                w[k] = max(w.get(k, 0), v)
    for f, d in docs.items():
        w = worst[group(d)]
        d["bounds"] = {
            "group": group(d),
            "rule": "2 x the largest llama.cpp batch-vs-single spread in the group, at least the floor",
            "max_abs": float("%.3g" % max(2 * w["max_abs"], BOUND_FLOOR["max_abs"])),
            "kl_max": float("%.3g" % max(2 * w["kl_max"], BOUND_FLOOR["kl_max"])),
            "kl_mean": float("%.3g" % max(2 * w["kl_mean"], BOUND_FLOOR["kl_mean"])),
            "ppl_rel": float("%.3g" % max(2 * w["ppl_rel"], BOUND_FLOOR["ppl_rel"])),
            # a top-1 that differs must be a near tie (reference top-1 minus ours <= max_abs);
            # at most this many per sequence
            "top1_diff_per_seq": max(2 * w["top1_diff"], 2),
        }
        with open(os.path.join(rows_dir, f), "w", encoding="utf-8") as fh:
            json.dump(d, fh, separators=(",", ":"))
            fh.write("\n")


def resolve(name):
    for p in (name, os.path.join(ROOT, "models", name)):
        if os.path.exists(p):
            return p
    raise SystemExit("no model " + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "vectors", "models"))
    ap.add_argument("--no-batch-check", action="store_true")
    ap.add_argument("--rows", action="store_true",
                    help="write <out>/rows/*.json (whole rows, spread, bounds) from the existing vectors")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.rows:
        llama_cpp.llama_backend_init()
        rows_dir = os.path.join(a.out, "rows")
        os.makedirs(rows_dir, exist_ok=True)
        for name in a.models:
            path = resolve(name)
            stem = os.path.splitext(os.path.basename(name))[0]
            vec = json.load(open(os.path.join(a.out, stem + ".json"), encoding="utf-8"))
            if vec["sha256"] != sha256(os.path.realpath(path)):
                raise SystemExit("%s: not the model the vectors were made from" % name)
            print("== rows", stem, file=sys.stderr, flush=True)
            d = whole_rows(path, vec)
            with open(os.path.join(rows_dir, stem + ".json"), "w", encoding="utf-8") as fh:
                json.dump(d, fh, separators=(",", ":"))
                fh.write("\n")
            print("   spread " + json.dumps(d["spread"]), file=sys.stderr, flush=True)
        set_bounds(rows_dir)
        return
    tf_text = open(os.path.join(ROOT, "tests", "data", "teacher-forcing.txt"), encoding="utf-8").read()
    ppl_text = open(os.path.join(ROOT, "tests", "data", "perplexity.txt"), encoding="utf-8").read()
    llama_cpp.llama_backend_init()
    for name in a.models:
        path = resolve(name)
        base = os.path.basename(name)
        print("==", base, file=sys.stderr, flush=True)
        m = Model(path)
        data = {
            "model": base,
            "sha256": sha256(os.path.realpath(path)),
            "generator": "llama-cpp-python %s (scripts/make-model-vectors.py)" % llama_cpp.__version__,
            "settings": {
                "n_ctx": N_CTX, "n_batch": N_BATCH, "n_ubatch": N_BATCH, "n_threads": N_THREADS,
                "seed": SEED, "device": "CPU", "use_extra_bufts": False, "flash_attn": False,
                "kv_type": "f16",
                "system_info": llama_cpp.llama_print_system_info().decode().strip(),
                "logits": "raw (no softmax, no sampling transforms)",
                "tokenize": "add_special=true (BOS as the model's add_bos says), parse_special=false",
                "sampling": "greedy: argmax, lowest id on ties; no repeat penalty; does not stop at EOG",
                "float_format": "shortest decimal that reads back to the same float32; *_b64 = base64 little-endian float32",
            },
            "vocab": {
                "n_vocab": m.n_vocab,
                "bos": llama_cpp.llama_vocab_bos(m.vocab),
                "eos": llama_cpp.llama_vocab_eos(m.vocab),
                "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(m.vocab)),
            },
            "n_ctx_train": llama_cpp.llama_model_n_ctx_train(m.llm.model),
        }
        data["prompts"] = {k: run_prompt(m, t) for k, t in PROMPTS}
        tf, tf_logits = teacher_forcing(m, tf_text)
        data["teacher_forcing"] = tf
        data["perplexity"] = perplexity(m, ppl_text)
        m.close()
        del m
        gc.collect()
        if not a.no_batch_check:
            data["batch_sensitivity"] = batch_sensitivity(path, tf["ids"], tf_logits)
        out = os.path.join(a.out, os.path.splitext(base)[0] + ".json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print("   wrote %s (%d bytes) tf ppl %.4f ppl %.4f" % (
            out, os.path.getsize(out), tf["ppl"], data["perplexity"]["ppl"]), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
