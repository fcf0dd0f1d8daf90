"""test_synth.py - cllm-synth writes random-weight GGUF models that readers
agree on: for every architecture and a set of types, `cllm-gguf info` reads
the file; gguf-py (the reference reader) finds the tensor names its own
MODEL_TENSORS table allows for that architecture, every tensor the
architecture needs, with the shapes the file's hyperparameters imply (worked
out here, independently of the C code); the engine's architectures run in
cllm-logits and cllm-cli; the named shapes have the parameter counts of the
real models. Where llama-cpp-python is installed, llama.cpp loads each file
and, for the engine's architectures, its logits agree with cllm's.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

ARCHES = ["llama", "mixtral", "qwen2", "qwen3", "gemma3", "gemma2", "phi3", "qwen2moe", "qwen3moe", "bert"]
ENGINE_ARCHES = ["llama", "qwen2", "qwen3", "gemma3"]
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "Q4_K_M", "IQ4_NL"]
GGUF_ARCH = {"mixtral": "llama"}

# llama.cpp, through llama-cpp-python: imported here when .venv has it, else
# run in the Python named by CLLM_LLAMA_CPP_PYTHON (a venv that has it).
LLAMA_CPP_PYTHON = os.environ.get("CLLM_LLAMA_CPP_PYTHON")
try:
    import llama_cpp  # noqa: F401

    HAVE_LLAMA_CPP = True
except ImportError:
    HAVE_LLAMA_CPP = bool(LLAMA_CPP_PYTHON)

LLAMA_CPP_SCRIPT = """
import sys, numpy as np
from llama_cpp import Llama
path, out, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
if sys.argv[4] == "embd":
    llm = Llama(model_path=path, n_ctx=512, n_threads=1, embedding=True, verbose=False)
    np.save(out, np.array(llm.embed(sys.argv[5]), dtype=np.float32))
else:
    llm = Llama(model_path=path, n_ctx=64, n_threads=1, logits_all=True, verbose=False)
    llm.eval(ids)
    np.save(out, np.array(llm.scores[:len(ids)], dtype=np.float32))
"""


def llama_cpp_run(path, ids, tmp_path, embd_text=None):
    """llama.cpp's logits for ids (n x n_vocab), or its embedding of embd_text."""
    script, out = tmp_path / "llama_cpp_run.py", tmp_path / "llama_cpp_out.npy"
    script.write_text(LLAMA_CPP_SCRIPT)
    args = [str(path), str(out), ",".join(map(str, ids)), "embd" if embd_text else "logits", embd_text or ""]
    py = LLAMA_CPP_PYTHON or sys.executable
    p = subprocess.run([py, str(script), *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"llama.cpp cannot load {path}:\n{p.stderr[-3000:]}"
    return np.load(out)


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    part = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(part).decode()
    return part.tolist()[0]


def expected_tensors(arch, r):
    """name -> shape (ne order, as gguf-py's ReaderTensor.shape) that the
    hyperparameters in reader r imply for architecture arch."""
    a = GGUF_ARCH.get(arch, arch)
    k = lambda s, d=None: field(r, f"{a}.{s}") if field(r, f"{a}.{s}") is not None else d  # noqa: E731
    e, nl, nh, ff = k("embedding_length"), k("block_count"), k("attention.head_count"), k("feed_forward_length")
    nkv = k("attention.head_count_kv", nh)
    hd = k("attention.key_length", e // nh)
    nv = len(r.fields["tokenizer.ggml.tokens"].data)
    q, kv = nh * hd, nkv * hd
    t = {"token_embd.weight": (e, nv)}
    if arch == "bert":
        t.update({"token_types.weight": (e, field(r, "tokenizer.ggml.token_type_count")),
                  "position_embd.weight": (e, k("context_length")),
                  "token_embd_norm.weight": (e,), "token_embd_norm.bias": (e,)})
        for i in range(nl):
            b = f"blk.{i}."
            for n, shp in (("attn_q", (e, q)), ("attn_k", (e, kv)), ("attn_v", (e, kv)), ("attn_output", (q, e)),
                           ("ffn_up", (e, ff)), ("ffn_down", (ff, e))):
                t[b + n + ".weight"] = shp
                t[b + n + ".bias"] = (shp[1],)
            for n in ("attn_output_norm", "layer_output_norm"):
                t[b + n + ".weight"] = (e,)
                t[b + n + ".bias"] = (e,)
        return t
    t["output_norm.weight"] = (e,)
    if arch not in ("gemma2", "gemma3") and "output.weight" in {x.name for x in r.tensors}:
        t["output.weight"] = (e, nv)
    n_exp = k("expert_count", 0)
    ff_exp = k("expert_feed_forward_length", ff)
    for i in range(nl):
        b = f"blk.{i}."
        t[b + "attn_norm.weight"] = (e,)
        if arch == "phi3":
            t[b + "attn_qkv.weight"] = (e, q + 2 * kv)
        else:
            t.update({b + "attn_q.weight": (e, q), b + "attn_k.weight": (e, kv), b + "attn_v.weight": (e, kv)})
        if arch in ("qwen2", "qwen2moe"):
            t.update({b + "attn_q.bias": (q,), b + "attn_k.bias": (kv,), b + "attn_v.bias": (kv,)})
        if arch in ("qwen3", "qwen3moe", "gemma3"):
            t.update({b + "attn_q_norm.weight": (hd,), b + "attn_k_norm.weight": (hd,)})
        t[b + "attn_output.weight"] = (q, e)
        t[b + "ffn_norm.weight"] = (e,)
        if arch in ("gemma2", "gemma3"):
            t.update({b + "post_attention_norm.weight": (e,), b + "post_ffw_norm.weight": (e,)})
        if n_exp:
            t.update({b + "ffn_gate_inp.weight": (e, n_exp), b + "ffn_gate_exps.weight": (e, ff_exp, n_exp),
                      b + "ffn_up_exps.weight": (e, ff_exp, n_exp), b + "ffn_down_exps.weight": (ff_exp, e, n_exp)})
            if arch == "qwen2moe":
                s = k("expert_shared_feed_forward_length")
                t.update({b + "ffn_gate_inp_shexp.weight": (e,), b + "ffn_gate_shexp.weight": (e, s),
                          b + "ffn_up_shexp.weight": (e, s), b + "ffn_down_shexp.weight": (s, e)})
        elif arch == "phi3":
            t.update({b + "ffn_up.weight": (e, 2 * ff), b + "ffn_down.weight": (ff, e)})
        else:
            t.update({b + "ffn_gate.weight": (e, ff), b + "ffn_up.weight": (e, ff), b + "ffn_down.weight": (ff, e)})
    return t


@pytest.fixture(scope="module")
def synth(tool, tmp_path_factory):
    exe = tool("synth")
    out = tmp_path_factory.mktemp("synth")
    made = {}

    def make(arch, typ="F32", *extra):
        key = (arch, typ) + tuple(extra)
        if key not in made:
            path = out / f"{arch}-{typ}-{len(made)}.gguf"
            p = subprocess.run([str(exe), "--arch", arch, "--type", typ, *extra, "-o", str(path)],
                               capture_output=True, text=True, timeout=300)
            assert p.returncode == 0, p.stderr
            made[key] = path
        return made[key]

    return make


def allowed_names(arch):
    a = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[GGUF_ARCH.get(arch, arch)]
    return {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[a]}


def base_name(name):
    parts = name.split(".")
    if parts[0] == "blk":
        return "blk.{bid}." + ".".join(parts[2:-1])
    return ".".join(parts[:-1])


@pytest.mark.parametrize("typ", ["F32", "Q8_0", "Q4_K_M"])
@pytest.mark.parametrize("arch", ARCHES)
def test_layout(synth, run_tool, arch, typ):
    path = synth(arch, typ)
    info = run_tool("gguf", "info", path)
    assert info.returncode == 0, info.stderr
    r = gguf.GGUFReader(str(path))
    assert field(r, "general.architecture") == GGUF_ARCH.get(arch, arch)
    names = {t.name: t for t in r.tensors}
    assert len(names) == len(r.tensors), "duplicate tensor names"
    allowed = allowed_names(arch)
    bad = sorted(n for n in names if base_name(n) not in allowed)
    assert not bad, f"names gguf-py does not know for {arch}: {bad}"
    want = expected_tensors(arch, r)
    assert set(names) == set(want)
    for n, t in names.items():
        assert tuple(int(x) for x in t.shape) == want[n], n
        if len(want[n]) == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32, n
    if arch in ("mixtral", "qwen2moe", "qwen3moe"):
        a = GGUF_ARCH.get(arch, arch)
        assert field(r, f"{a}.expert_count") >= 8 and field(r, f"{a}.expert_used_count") == 2
    if arch == "bert":
        assert field(r, "tokenizer.ggml.model") == "bert" and field(r, "bert.attention.causal") is False


@pytest.mark.parametrize("typ", TYPES)
def test_types_dequantize(synth, typ):
    """Each 2-D weight holds the wanted type (or llama-quantize's fallback) and
    gguf-py dequantizes it to finite values of the right scale."""
    r = gguf.GGUFReader(str(synth("qwen3", typ)))
    t = {x.name: x for x in r.tensors}
    w = t["blk.0.ffn_up.weight"]
    if typ == "Q4_K_M":
        assert w.tensor_type.name == "Q4_K"
        assert t["output.weight"].tensor_type.name == "Q6_K"
        assert t["blk.1.ffn_down.weight"].tensor_type.name == "Q6_K"  # use_more_bits(1, 2)
        assert t["blk.0.ffn_down.weight"].tensor_type.name == "Q4_K"
    else:
        assert w.tensor_type.name == typ
    x = gguf.quants.dequantize(w.data, w.tensor_type).astype(np.float32)
    assert np.isfinite(x).all()
    std = float(x.std())
    assert abs(std - 1 / math.sqrt(256)) < 0.2 / math.sqrt(256), std


def test_deterministic(synth, tmp_path, tool):
    a = synth("qwen3", "Q4_0")
    b = tmp_path / "again.gguf"
    p = subprocess.run([str(tool("synth")), "--arch", "qwen3", "--type", "Q4_0", "--threads", "2", "-o", str(b)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert a.read_bytes() == b.read_bytes()
    c = synth("qwen3", "Q4_0", "--seed", "7")
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("arch", ENGINE_ARCHES)
def test_engine_runs(synth, tool, tmp_path, arch, typ):
    path = synth(arch, typ)
    out = tmp_path / "logits.f32"
    ids = "1 5 300 400 20 77 301"
    p = subprocess.run([str(tool("logits")), "-m", str(path), "--out", str(out), "-t", "1"],
                       input=ids, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    logits = np.fromfile(out, dtype=np.float32).reshape(7, -1)
    assert logits.shape[1] == 512
    assert np.isfinite(logits).all()
    assert logits.std(axis=1).min() > 0.1  # not degenerate
    p = subprocess.run([str(tool("cli")), "-m", str(path), "-p", "hello world", "-n", "4", "-t", "1",
                        "--temp", "0"], capture_output=True, timeout=120)  # bytes: random text
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def bert_embeddings(path, texts):
    from server_util import Server

    srv = Server("-m", path, "-c", "512", "--embeddings").start()
    try:
        r = srv.post("/v1/embeddings", json={"input": texts})
        assert r.status_code == 200, r.text
        return np.array([d["embedding"] for d in r.json()["data"]])
    finally:
        srv.stop()


@pytest.mark.parametrize("typ", ["F32", "F16", "Q8_0", "Q4_K_M"])
def test_bert_serves(synth, typ):
    """cllm-server --embeddings serves a synthetic bert model: normalized,
    finite vectors that differ between texts."""
    e = bert_embeddings(synth("bert", typ), ["hello world", "42 tokens, or 43?", "x"])
    assert e.shape == (3, 256) and np.isfinite(e).all()
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert (e @ e.T)[np.triu_indices(3, 1)].max() < 0.999


def test_engine_refuses_others(synth, tool):
    """Architectures the engine lacks give an error naming the file and the architecture."""
    path = synth("phi3", "F32")
    p = subprocess.run([str(tool("cli")), "-m", str(path), "-p", "hi", "-n", "1"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode == 0:
        return  # the engine has learnt phi3
    assert str(path) in p.stderr and "phi3" in p.stderr


@pytest.mark.parametrize("arch,shape,params", [
    ("llama", "llama-3.2-1b", 1_235_814_400),
    ("qwen3", "qwen3-4b", 4_022_468_096),
    ("llama", "llama-3.1-8b", 8_030_261_248),
    ("qwen3moe", "qwen3-30b-a3b", 30_532_122_624),
])
def test_named_shapes(tool, arch, shape, params):
    """The named shapes have the real models' parameter counts (as their
    model cards and llama.cpp's load log give them)."""
    p = subprocess.run([str(tool("synth")), "--arch", arch, "--shape", shape, "--type", "Q4_K_M", "--dry-run"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1].split()
    assert int(last[1]) == params
    # Q4_K_M: about 4.8-5 bits per weight over the whole model
    bpw = int(last[3]) * 8 / params
    assert 4.5 < bpw < 5.3, bpw


def test_named_shape_file(synth):
    """A real-shaped file (one layer of llama-3.2-1b) reads in gguf-py with the vocabulary size 128256."""
    path = synth("llama", "Q4_0", "--shape", "llama-3.2-1b", "--layers", "1", "--threads", "2")
    r = gguf.GGUFReader(str(path))
    t = {x.name: x for x in r.tensors}
    assert tuple(int(x) for x in t["token_embd.weight"].shape) == (2048, 128256)
    assert "output.weight" not in t  # tied, as in Llama 3.2 1B
    assert field(r, "llama.rope.freq_base") == 500000.0


def test_vocab_copy(synth, repo_root):
    vocab = repo_root.parent / "shared" / "vocab" / "ggml-vocab-bert-bge.gguf"
    if not vocab.exists():
        pytest.skip(f"{vocab} not found")
    r = gguf.GGUFReader(str(synth("bert", "F16", "--vocab", str(vocab))))
    assert field(r, "tokenizer.ggml.pre") == "bert-bge"
    assert len(r.fields["tokenizer.ggml.tokens"].data) == 30522
    t = {x.name: x for x in r.tensors}
    assert tuple(int(x) for x in t["token_embd.weight"].shape) == (256, 30522)


def test_bad_args(tool):
    exe = str(tool("synth"))
    for args in (["--arch", "nope", "-o", "/dev/null"], ["--arch", "llama", "--shape", "huge", "-o", "x"],
                 ["--arch", "llama", "--type", "Q9_9", "-o", "x"], ["--arch", "llama"]):
        p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, args
        assert "cllm-synth" in p.stderr


if HAVE_LLAMA_CPP:
    @pytest.mark.parametrize("typ", ["F32", "Q8_0", "Q4_K_M"])
    @pytest.mark.parametrize("arch", ARCHES)
    def test_llama_cpp_loads(synth, tool, tmp_path, arch, typ):
        """llama.cpp loads the file; on the engine's architectures its logits
        agree with cllm's (top-1 everywhere, max difference within 1% of the
        logit range)."""
        path = synth(arch, typ)
        ids = [1, 5, 300, 400, 20, 77, 301]
        if arch == "bert":  # embeddings: cllm-server's against llama.cpp's
            texts = ["hello world", "the quick brown fox jumps over the lazy dog 42 times!"]
            ours = bert_embeddings(path, texts)
            for i, text in enumerate(texts):
                v = llama_cpp_run(path, ids, tmp_path, embd_text=text).astype(np.float64)
                assert np.isfinite(v).all() and v.size == 256
                cos = float(ours[i] @ (v / np.linalg.norm(v)))
                assert cos >= 0.9999, f"{typ} {text!r}: cosine {cos}"
            return
        ref = llama_cpp_run(path, ids, tmp_path)
        assert np.isfinite(ref).all() and ref.shape[0] == len(ids)
        if arch not in ENGINE_ARCHES:
            return
        out = tmp_path / "logits.f32"
        p = subprocess.run([str(tool("logits")), "-m", str(path), "--out", str(out), "-t", "1"],
                           input=" ".join(map(str, ids)), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        got = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)
        assert (got.argmax(1) == ref.argmax(1)).all()
        assert np.abs(got - ref).max() <= 1e-2 * (ref.max() - ref.min())


# ------------------------------------------------------------ converter round trip
#
# A cllm-synth model (gpt-2's BPE vocabulary) written out as a Hugging Face
# checkpoint (safetensors with HF names, config.json, tokenizer.json; llama's
# q/k rows back in rotate-half order), converted by scripts/cllm-convert.py,
# gives back the same tensors bit for bit, the same vocabulary, and the same
# logits in cllm.

HF_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
            "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
            "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
HF_ARCH = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_hf(src, arch, out):
    """Write the GGUF src as a Hugging Face checkpoint directory out."""
    from safetensors.numpy import save_file
    import json

    r = gguf.GGUFReader(str(src))
    k = lambda s: field(r, f"{arch}.{s}")  # noqa: E731
    nh, nkv = k("attention.head_count"), k("attention.head_count_kv")
    tensors = {}
    for t in r.tensors:
        a = np.array(t.data, dtype=np.float32).reshape(tuple(reversed([int(x) for x in t.shape])))
        parts = t.name.split(".")
        if parts[0] == "blk":
            base = HF_NAMES[parts[2]]
            if arch == "llama" and parts[2] in ("attn_q", "attn_k"):
                a = unpermute(a, nh if parts[2] == "attn_q" else nkv)
            name = f"model.layers.{parts[1]}.{base}.{parts[3]}"
        else:
            name = {"token_embd": "model.embed_tokens.weight", "output_norm": "model.norm.weight",
                    "output": "lm_head.weight"}[parts[0]]
        tensors[name] = np.ascontiguousarray(a)
    out.mkdir()
    save_file(tensors, str(out / "model.safetensors"))
    toks = [bytes(r.fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in r.fields["tokenizer.ggml.tokens"].data]
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
    merges = [bytes(r.fields["tokenizer.ggml.merges"].parts[i]).decode() for i in r.fields["tokenizer.ggml.merges"].data]
    added = [{"id": i, "content": t, "special": ty == 3, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": ty != 3} for i, (t, ty) in enumerate(zip(toks, types)) if ty in (3, 4)]
    (out / "tokenizer.json").write_text(json.dumps({
        "version": "1.0", "added_tokens": added,
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(toks) if types[i] not in (3, 4)},
                  "merges": merges}}))
    eos = toks[field(r, "tokenizer.ggml.eos_token_id")]
    (out / "tokenizer_config.json").write_text(json.dumps({"eos_token": eos, "bos_token": None,
                                                            "add_bos_token": False}))
    cfg = {"architectures": [HF_ARCH[arch]], "hidden_size": k("embedding_length"),
           "intermediate_size": k("feed_forward_length"), "num_hidden_layers": k("block_count"),
           "num_attention_heads": nh, "num_key_value_heads": nkv, "max_position_embeddings": k("context_length"),
           "rope_theta": k("rope.freq_base"), "rms_norm_eps": k("attention.layer_norm_rms_epsilon"),
           "vocab_size": len(toks), "tie_word_embeddings": "lm_head.weight" not in tensors}
    if arch == "qwen3":
        cfg["head_dim"] = k("attention.key_length")
    (out / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_convert_round_trip(synth, tool, repo_root, tmp_path, arch):
    vocab = repo_root.parent / "shared" / "vocab" / "ggml-vocab-gpt-2.gguf"
    if not vocab.exists():
        pytest.skip(f"{vocab} not found")
    pytest.importorskip("safetensors")
    src = synth(arch, "F32", "--vocab", str(vocab))
    hf = tmp_path / "hf"
    export_hf(src, arch, hf)
    out = tmp_path / "back.gguf"
    p = subprocess.run([sys.executable, str(repo_root / "scripts" / "cllm-convert.py"), str(hf), "-o", str(out),
                        "--type", "f32"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    a, b = gguf.GGUFReader(str(src)), gguf.GGUFReader(str(out))
    ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
    assert set(ta) == set(tb)
    for n in ta:
        assert tuple(ta[n].shape) == tuple(tb[n].shape), n
        assert np.array_equal(np.asarray(ta[n].data), np.asarray(tb[n].data)), n
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
        fa, fb = a.fields[key], b.fields[key]
        assert [fa.parts[i].tobytes() for i in fa.data] == [fb.parts[i].tobytes() for i in fb.data]
    for key in ("context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
                "attention.head_count_kv", "rope.freq_base"):
        assert field(a, f"{arch}.{key}") == field(b, f"{arch}.{key}"), key
    assert field(b, "tokenizer.ggml.eos_token_id") == field(a, "tokenizer.ggml.eos_token_id")
    assert field(b, "tokenizer.ggml.pre") == {"llama": "llama-bpe"}.get(arch, "qwen2")
    logits = []
    for path in (src, out):
        f = tmp_path / (path.name + ".f32")
        p = subprocess.run([str(tool("logits")), "-m", str(path), "--out", str(f), "-t", "1"],
                           input="1 5 300 400 20", capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        logits.append(np.fromfile(f, dtype=np.float32))
    assert np.array_equal(logits[0], logits[1])


# ------------------------------------------------------------ bad files
#
# A synthetic file with its header patched in place (same-length names):
# the loader's message names the file and what is wrong.

def patched(src, dst, *pairs):
    data = bytearray(src.read_bytes())
    for old, new in pairs:
        i = data.find(old)
        assert i >= 0 and len(old) == len(new), old
        data[i:i + len(old)] = new
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("what,pairs,message", [
    ("arch", [(b"llama", b"llamx")], "llamx"),
    ("missing", [(b"blk.1.ffn_up.weight", b"blk.1.ffn_uq.weight")], "blk.1.ffn_up.weight"),
    ("shape", [(b"blk.0.attn_q.weight", b"blk.0.attn_X.weight"), (b"blk.0.attn_k.weight", b"blk.0.attn_q.weight"),
               (b"blk.0.attn_X.weight", b"blk.0.attn_k.weight")], "blk.0.attn_q.weight"),
])
def test_bad_files(synth, tool, tmp_path, what, pairs, message):
    bad = patched(synth("llama", "F32"), tmp_path / f"bad-{what}.gguf", *pairs)
    p = subprocess.run([str(tool("cli")), "-m", str(bad), "-p", "hi", "-n", "1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert str(bad) in p.stderr and message in p.stderr, p.stderr
