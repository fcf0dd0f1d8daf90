"""cllm-server: POST /completion and its fields (the seed's /completion
section), /tokenize, /detokenize and /infill, on gemma-3-270m (the default
model), stories260K (a model from ../shared/models) and a synthetic qwen2
model with FIM tokens.

All generation is greedy (temperature 0) unless a test is about sampling, so
texts are reproducible and comparable between requests.
"""
import importlib.util
import math

import pytest

from server_util import MODEL_GEMMA, MODEL_STORIES, REPO_ROOT, Server, error_of, server_fixture

gemma = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", "2")
# slot context 128: prompts and generations that overflow it are cheap here
stories = server_fixture("-m", MODEL_STORIES, "-c", "256", "-np", "2")

PROMPT = "The capital of France is"

# The keys of generation_settings: the seed's /slots example less the
# per-slot ones (id, state, task_id, prompt, next_token), plus n_ctx, model
# (the seed: "The provided options above excluding prompt but including
# n_ctx, model").
SETTINGS_KEYS = {
    "dynatemp_exponent", "dynatemp_range", "frequency_penalty", "grammar", "ignore_eos", "logit_bias", "min_p",
    "mirostat", "mirostat_eta", "mirostat_tau", "model", "n_ctx", "n_keep", "n_predict", "n_probs",
    "penalize_nl", "penalty_prompt_tokens", "presence_penalty", "repeat_last_n", "repeat_penalty", "samplers",
    "seed", "stop", "stream", "temperature", "tfs_z", "top_k", "top_p", "typical_p",
    "use_penalty_prompt_tokens",
}
RESULT_KEYS = {"content", "stop", "generation_settings", "model", "prompt", "stopped_eos", "stopped_limit",
               "stopped_word", "stopping_word", "timings", "tokens_cached", "tokens_evaluated", "truncated",
               "tokens_predicted"}
TIMING_KEYS = {"prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second", "predicted_n", "predicted_ms",
               "predicted_per_token_ms", "predicted_per_second"}


def tokenize(srv, text, add_special=False):
    r = srv.post("/tokenize", json={"content": text, "add_special": add_special})
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


def detokenize(srv, tokens):
    r = srv.post("/detokenize", json={"tokens": tokens})
    assert r.status_code == 200, r.text
    return r.json()["content"]


# ------------------------------------------------------------ response shape

def test_response_fields(gemma):
    j = gemma.complete(PROMPT, n_predict=8)
    assert RESULT_KEYS <= set(j), RESULT_KEYS - set(j)
    assert j["stop"] is True
    assert isinstance(j["content"], str) and j["content"]
    assert j["prompt"] == PROMPT
    assert j["model"] == MODEL_GEMMA
    assert j["tokens_predicted"] == 8
    assert j["stopped_limit"] is True and j["stopped_eos"] is False and j["stopped_word"] is False
    assert j["stopping_word"] == ""
    assert j["truncated"] is False
    # tokens_evaluated: the prompt's tokens (BOS added for a string prompt; gemma adds BOS)
    assert j["tokens_evaluated"] == len(tokenize(gemma, PROMPT, add_special=True))
    assert j["tokens_cached"] == 0


def test_generation_settings(gemma):
    j = gemma.complete(PROMPT, n_predict=3, temperature=0, top_k=7, top_p=0.5, min_p=0.01, n_keep=2,
                       stop=["zzz"], seed=1234, repeat_penalty=1.0, ignore_eos=False, n_probs=2,
                       samplers=["top_k", "temperature"])
    g = j["generation_settings"]
    assert SETTINGS_KEYS <= set(g), SETTINGS_KEYS - set(g)
    assert g["n_ctx"] == 512  # -c 1024 split between 2 slots
    assert g["model"] == MODEL_GEMMA
    assert g["n_predict"] == 3
    assert g["temperature"] == 0
    assert g["top_k"] == 7
    assert g["top_p"] == pytest.approx(0.5)
    assert g["min_p"] == pytest.approx(0.01)
    assert g["n_keep"] == 2
    assert g["stop"] == ["zzz"]
    assert g["seed"] == 1234
    assert g["repeat_penalty"] == pytest.approx(1.0)
    assert g["n_probs"] == 2
    assert g["samplers"] == ["top_k", "temperature"]
    assert g["stream"] is False


def test_default_generation_settings_match_props(gemma):
    j = gemma.complete(PROMPT, n_predict=1)
    props = gemma.get("/props").json()["default_generation_settings"]
    g = j["generation_settings"]
    # /props also has llama-server's default_generation_settings.params (issue 17)
    assert set(props) - {"params"} == set(g)
    for k in SETTINGS_KEYS - {"seed", "temperature", "n_predict"}:
        assert g[k] == props[k], k
    assert props["temperature"] == pytest.approx(0.8)  # the seed's default
    assert props["top_k"] == 40 and props["top_p"] == pytest.approx(0.95) and props["min_p"] == pytest.approx(0.05)
    assert props["repeat_penalty"] == pytest.approx(1.1) and props["repeat_last_n"] == 64
    assert props["samplers"] == ["top_k", "tfs_z", "typical_p", "top_p", "min_p", "temperature"]


def test_timings(gemma):
    j = gemma.complete(PROMPT, n_predict=5)
    t = j["timings"]
    assert TIMING_KEYS <= set(t)
    assert t["predicted_n"] == j["tokens_predicted"] == 5
    assert t["prompt_n"] == j["tokens_evaluated"] - j["tokens_cached"]
    for k in TIMING_KEYS:
        assert t[k] >= 0, k
    assert t["prompt_ms"] > 0 and t["predicted_ms"] > 0
    assert t["predicted_per_second"] == pytest.approx(t["predicted_n"] * 1e3 / t["predicted_ms"], rel=1e-3)


# ------------------------------------------------------------ prompt forms

def test_prompt_string_tokens_and_mixed(gemma):
    ids = tokenize(gemma, PROMPT, add_special=True)
    assert ids[0] == 2  # gemma's <bos>
    a = gemma.complete(PROMPT, n_predict=8)
    b = gemma.complete(ids, n_predict=8)  # a token array: used as given (no BOS added)
    assert b["content"] == a["content"]
    assert b["tokens_evaluated"] == a["tokens_evaluated"] == len(ids)
    assert b["prompt"] == ids
    # mixed: first element a string -> BOS added before it, ids as given
    head, tail = "The capital of", " France is"
    mixed = [head] + tokenize(gemma, tail)
    c = gemma.complete(mixed, n_predict=8)
    expect = tokenize(gemma, head, add_special=True) + tokenize(gemma, tail)
    d = gemma.complete(expect, n_predict=8)
    assert c["tokens_evaluated"] == len(expect)
    assert c["content"] == d["content"]
    # a token array that starts with a number gets no BOS
    e = gemma.complete(ids[1:], n_predict=2)
    assert e["tokens_evaluated"] == len(ids) - 1


def test_prompt_array_of_strings(gemma):
    a = gemma.complete(["The capital", " of France is"], n_predict=4)
    n = len(tokenize(gemma, "The capital", True)) + len(tokenize(gemma, " of France is"))
    assert a["tokens_evaluated"] == n


# ------------------------------------------------------------ n_predict / stops

def test_n_predict_zero_evaluates_prompt_into_cache(gemma):
    j = gemma.complete(PROMPT + " Paris.", n_predict=0, id_slot=1, cache_prompt=True)
    assert j["content"] == ""
    assert j["tokens_predicted"] == 0
    n = len(tokenize(gemma, PROMPT + " Paris.", True))
    assert j["tokens_evaluated"] == n
    # the prompt is now in slot 1's cache
    k = gemma.complete(PROMPT + " Paris. And", n_predict=1, id_slot=1, cache_prompt=True)
    assert k["tokens_cached"] == n


def test_n_predict_limit(gemma):
    for n in (1, 4):
        j = gemma.complete(PROMPT, n_predict=n)
        assert j["tokens_predicted"] == n and j["stopped_limit"] is True


def test_stop_word(gemma):
    full = gemma.complete(PROMPT, n_predict=16)["content"]
    # a stop string in the middle of the greedy text, spanning tokens
    words = full.split(" ")
    assert len(words) >= 5, full
    stop = words[3][-2:] + " " + words[4][:2]
    j = gemma.complete(PROMPT, n_predict=16, stop=[stop, "never-seen-stop"])
    cut = full.index(stop)
    assert j["content"] == full[:cut]
    assert stop not in j["content"]
    assert j["stopped_word"] is True and j["stopping_word"] == stop
    assert j["stopped_limit"] is False and j["stopped_eos"] is False
    assert j["generation_settings"]["stop"] == [stop, "never-seen-stop"]
    # the earliest stop string wins
    later = words[5] if len(words) > 5 and words[5] else None
    if later:
        j = gemma.complete(PROMPT, n_predict=16, stop=[later, stop])
        assert j["stopping_word"] == stop and j["content"] == full[:cut]


def test_partial_stop_word_at_limit_is_kept(gemma):
    """Text held back because it might begin a stop string is given out when
    the generation ends otherwise (by the limit)."""
    full = gemma.complete(PROMPT, n_predict=8)["content"]
    stop = full[-2:] + "\u00a7never"
    j = gemma.complete(PROMPT, n_predict=8, stop=[stop])
    assert j["content"] == full and j["stopped_limit"] is True and j["stopped_word"] is False
    ev = gemma.stream(PROMPT, n_predict=8, stop=[stop])
    assert "".join(e["content"] for e in ev) == full


def test_stop_word_not_reached(gemma):
    j = gemma.complete(PROMPT, n_predict=4, stop=["\u00a7\u00a7\u00a7"])
    assert j["stopped_word"] is False and j["stopping_word"] == "" and j["stopped_limit"] is True


def test_stopped_eos_and_ignore_eos(gemma):
    eos = tokenize(gemma, "<eos>")
    assert len(eos) == 1, eos
    # a large bias makes EOS the greedy choice at once
    j = gemma.complete(PROMPT, n_predict=8, logit_bias=[[eos[0], 100]])
    assert j["stopped_eos"] is True and j["stopped_limit"] is False
    assert j["content"] == ""
    j = gemma.complete(PROMPT, n_predict=6, logit_bias=[[eos[0], 100]], ignore_eos=True)
    assert j["stopped_eos"] is False and j["stopped_limit"] is True
    assert j["tokens_predicted"] == 6
    assert j["generation_settings"]["ignore_eos"] is True


# ------------------------------------------------------------ logit_bias

def first_token(srv, **kw):
    j = srv.complete(PROMPT, n_predict=1, n_probs=1, **kw)
    return j["completion_probabilities"][0]["content"], j


def test_logit_bias_forms(gemma):
    piece, _ = first_token(gemma)
    tid = tokenize(gemma, piece)
    assert len(tid) == 1, (piece, tid)
    tid = tid[0]
    # id form with false: never produced
    p2, j = first_token(gemma, logit_bias=[[tid, False]])
    assert p2 != piece
    assert j["generation_settings"]["logit_bias"] == [[tid, False]]
    # string form: the string's tokens
    p3, _ = first_token(gemma, logit_bias=[[piece, False]])
    assert p3 != piece
    # a positive bias forces a token
    forced = tokenize(gemma, " Zebra")[0]
    p4, _ = first_token(gemma, logit_bias=[[forced, 100.0]])
    assert tokenize(gemma, p4) == [forced]
    # a negative number lowers it
    p5, _ = first_token(gemma, logit_bias=[[tid, -100.0]])
    assert p5 != piece
    # OpenAI's object form {"id": bias}
    p6, _ = first_token(gemma, logit_bias={str(tid): -100})
    assert p6 != piece


# ------------------------------------------------------------ n_probs

def test_n_probs(gemma):
    j = gemma.complete(PROMPT, n_predict=5, n_probs=3)
    cp = j["completion_probabilities"]
    assert len(cp) == j["tokens_predicted"] == 5
    assert "".join(c["content"] for c in cp) == j["content"]
    for c in cp:
        probs = c["probs"]
        assert len(probs) == 3
        ps = [p["prob"] for p in probs]
        assert all(0 <= p <= 1 for p in ps) and sum(ps) <= 1 + 1e-5
        assert ps == sorted(ps, reverse=True)
        assert all(isinstance(p["tok_str"], str) for p in probs)
        # greedy: the chosen token is the most likely one
        assert probs[0]["tok_str"] == c["content"]


def test_n_probs_zero_has_no_probabilities(gemma):
    j = gemma.complete(PROMPT, n_predict=2)
    assert not j.get("completion_probabilities")


# ------------------------------------------------------------ sampling / seed

def test_seed_reproducible(gemma):
    kw = dict(n_predict=12, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0)
    a = gemma.complete(PROMPT, seed=42, **kw)
    b = gemma.complete(PROMPT, seed=42, **kw)
    assert a["content"] == b["content"]
    assert a["generation_settings"]["seed"] == 42
    others = {gemma.complete(PROMPT, seed=s, **kw)["content"] for s in (1, 2, 3)}
    assert len(others | {a["content"]}) > 1, "different seeds should give different samples"


def test_sampling_fields_accepted(gemma):
    j = gemma.complete(PROMPT, n_predict=3, temperature=0.7, dynatemp_range=0.2, dynatemp_exponent=1.5, top_k=20,
                       top_p=0.9, min_p=0.02, tfs_z=0.95, typical_p=0.9, repeat_penalty=1.2, repeat_last_n=32,
                       penalize_nl=False, presence_penalty=0.1, frequency_penalty=0.1, penalty_prompt="France",
                       mirostat=2, mirostat_tau=4.0, mirostat_eta=0.2, min_keep=1, seed=7)
    g = j["generation_settings"]
    assert g["mirostat"] == 2 and g["penalize_nl"] is False and g["use_penalty_prompt_tokens"] is True
    assert g["penalty_prompt_tokens"] == tokenize(gemma, "France")
    assert j["tokens_predicted"] == 3


def test_grammar(gemma):
    j = gemma.complete(PROMPT, n_predict=8, grammar='root ::= " yes" | " no"')
    assert j["content"] in (" yes", " no")
    assert j["generation_settings"]["grammar"] == 'root ::= " yes" | " no"'
    r = gemma.post("/completion", json={"prompt": PROMPT, "grammar": 'root ::= ( "a"', "n_predict": 2})
    assert error_of(r, 400)


def test_json_schema(gemma):
    # json_schema must be applied: a refusal (400) is a failure, and so is
    # output that is not the schema's (the unconstrained greedy text for this
    # prompt is a Markdown list, not JSON). It must also end by itself.
    import json
    r = gemma.post("/completion", json={"prompt": "Two colors as a JSON list:", "n_predict": 30, "temperature": 0,
                                        "json_schema": {"type": "array", "items": {"enum": ["red", "blue"]},
                                                        "minItems": 2, "maxItems": 2}})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["stopped_eos"] is True and j["stopped_limit"] is False, j
    v = json.loads(j["content"])
    assert isinstance(v, list) and len(v) == 2 and set(v) <= {"red", "blue"}
    free = gemma.complete("Two colors as a JSON list:", n_predict=30, temperature=0)["content"]
    assert free != j["content"]


# ------------------------------------------------------------ cache_prompt / id_slot

def test_cache_prompt_reuses_prefix(gemma):
    base = "Write a short poem about the sea and the wind:"
    a = gemma.complete(base, n_predict=4, id_slot=0, cache_prompt=True)
    n_base = len(tokenize(gemma, base, True))
    assert a["id_slot"] == 0
    b = gemma.complete(base + " waves", n_predict=4, id_slot=0, cache_prompt=True)
    assert b["tokens_cached"] == n_base
    assert b["timings"]["prompt_n"] == b["tokens_evaluated"] - n_base
    # same prompt again: everything but the last token is reused
    c = gemma.complete(base + " waves", n_predict=4, id_slot=0, cache_prompt=True)
    assert c["tokens_cached"] in (c["tokens_evaluated"] - 1, c["tokens_evaluated"])
    assert c["content"] == b["content"]
    # without cache_prompt nothing is reused, and the text is the same
    d = gemma.complete(base + " waves", n_predict=4, id_slot=0, cache_prompt=False)
    assert d["tokens_cached"] == 0 and d["content"] == b["content"]
    # a prompt shorter than the cache (a prefix of it): the rest is dropped
    e = gemma.complete(base, n_predict=4, id_slot=0, cache_prompt=True)
    assert e["tokens_cached"] == n_base - 1
    assert e["content"] == a["content"]
    # continuing the previous output: prompt and generated tokens are reused
    f = gemma.complete(base + e["content"], n_predict=4, id_slot=0, cache_prompt=True)
    g = gemma.complete(base + e["content"], n_predict=4, id_slot=1, cache_prompt=False)
    assert f["tokens_cached"] > n_base
    assert f["content"] == g["content"]


def test_id_slot(gemma):
    for i in (1, 0, 1):
        assert gemma.complete(PROMPT, n_predict=1, id_slot=i)["id_slot"] == i
    assert gemma.complete(PROMPT, n_predict=1, id_slot=-1)["id_slot"] in (0, 1)


# ------------------------------------------------------------ context overflow

def stories_prompt(srv, n):
    """A token-array prompt of n tokens (BOS + story text, repeated)."""
    story = tokenize(srv, " Once upon a time, there was a little girl named Lily. She loved to play outside.")
    toks = [1]
    while len(toks) < n:
        toks += story
    return toks[:n]


def truncate_like_llama(prompt, n_ctx, n_keep):
    """llama.cpp's rule for a prompt that does not fit the slot."""
    if n_keep < 0:
        n_keep = len(prompt)
    n_keep = min(n_ctx - 4, n_keep)
    n_block = (n_ctx - n_keep) // 2
    erased = (len(prompt) - n_keep - n_block) // n_block
    return prompt[:n_keep] + prompt[n_keep + erased * n_block:]


@pytest.mark.parametrize("n_keep", [0, 10, -1])
def test_prompt_longer_than_context_is_truncated(stories, n_keep):
    n_ctx = 128
    prompt = stories_prompt(stories, 300)
    j = stories.complete(prompt, n_predict=2, n_keep=n_keep)
    assert j["truncated"] is True
    expect = truncate_like_llama(prompt, n_ctx, n_keep)
    assert len(expect) + 2 <= n_ctx
    assert j["tokens_evaluated"] == len(expect)
    assert j["tokens_predicted"] == 2
    # the same as sending the kept tokens directly
    k = stories.complete(expect, n_predict=2)
    assert k["truncated"] is False
    assert j["content"] == k["content"]


def test_prompt_longer_than_context_gemma(gemma):
    n_ctx, n_keep = 512, 10
    text = tokenize(gemma, " The quick brown fox jumps over the lazy dog near the river bank.")
    prompt = [2] + (text * 60)[:599]
    j = gemma.complete(prompt, n_predict=2, n_keep=n_keep)
    expect = truncate_like_llama(prompt, n_ctx, n_keep)
    assert j["truncated"] is True and j["tokens_evaluated"] == len(expect)
    k = gemma.complete(expect, n_predict=2)
    assert k["truncated"] is False and j["content"] == k["content"]


def test_generation_past_context(stories):
    prompt = stories_prompt(stories, 100)
    j = stories.complete(prompt, n_predict=80, ignore_eos=True, n_keep=20)
    assert j["truncated"] is True
    assert j["tokens_predicted"] == 80 and j["stopped_limit"] is True
    assert j["generation_settings"]["n_ctx"] == 128
    # a generation that fits is not truncated
    j = stories.complete(prompt[:20], n_predict=50, ignore_eos=True)
    assert j["truncated"] is False and j["tokens_predicted"] == 50


def test_negative_n_keep_means_whole_prompt_kept(stories):
    prompt = stories_prompt(stories, 40)
    j = stories.complete(prompt, n_predict=120, ignore_eos=True, n_keep=-1)
    assert j["truncated"] is True and j["tokens_predicted"] == 120


# ------------------------------------------------------------ the shared model too

def test_stories_greedy_matches_llama_cpp(stories):
    # ../shared/models/README: llama.cpp's greedy continuation (no penalties)
    ref = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
           "One day, she saw a big, red ball. She wanted to play with it,")
    j = stories.complete("Once upon a time", n_predict=48, repeat_penalty=1.0)
    got = "Once upon a time" + j["content"]
    # 48 tokens are exactly the reference text: no prefix (not even an empty one) passes
    assert j["tokens_predicted"] == 48
    assert got == ref, got


def test_stories_basics(stories):
    j = stories.complete("Once upon a time", n_predict=10)
    assert j["tokens_predicted"] == 10 and j["stopped_limit"]
    assert j["tokens_evaluated"] == len(tokenize(stories, "Once upon a time", True))
    ev = stories.stream("Once upon a time", n_predict=10)
    assert "".join(e["content"] for e in ev[:-1]) + ev[-1]["content"] == j["content"]
    assert ev[-1]["stop"] is True


# ------------------------------------------------------------ tokenize / detokenize

def test_tokenize(gemma):
    r = gemma.post("/tokenize", json={"content": "Hello world"})
    assert r.status_code == 200
    ids = r.json()["tokens"]
    assert all(isinstance(i, int) for i in ids) and ids[0] != 2  # add_special defaults to false
    with_bos = tokenize(gemma, "Hello world", add_special=True)
    assert with_bos == [2] + ids
    r = gemma.post("/tokenize", json={"content": "Hello world", "with_pieces": True})
    pieces = r.json()["tokens"]
    assert [p["id"] for p in pieces] == ids
    assert "".join(p["piece"] for p in pieces) == "Hello world"
    assert tokenize(gemma, "") == []


def test_tokenize_stories(stories):
    ids = tokenize(stories, "Hello world")
    assert tokenize(stories, "Hello world", True) == [1] + ids


@pytest.mark.parametrize("text", ["Hello world", " leading space", "caf\u00e9 na\u00efve \u4e16\u754c \U0001f999",
                                  "tabs\tand\nnewlines\n\n", "<start_of_turn>user\nhi<end_of_turn>"])
def test_detokenize_round_trip(gemma, text):
    ids = tokenize(gemma, text)
    assert detokenize(gemma, ids) == text


def test_detokenize_empty(gemma):
    assert detokenize(gemma, []) == ""


# ------------------------------------------------------------ infill

def test_infill_without_fim_tokens(gemma):
    r = gemma.post("/infill", json={"input_prefix": "def f(", "input_suffix": "):\n", "n_predict": 2})
    msg = error_of(r, 400)
    assert "fill" in msg.lower() or "fim" in msg.lower()


@pytest.fixture(scope="module")
def fim_model(tmp_path_factory):
    """A small random-weight qwen2 model with starcoder's vocabulary, which
    has FIM tokens (<fim_prefix> 1, <fim_middle> 2, <fim_suffix> 3); made
    with scripts/make-synthetic-models.py's functions."""
    pytest.importorskip("gguf")
    vocab = REPO_ROOT.parent / "shared" / "vocab" / "ggml-vocab-starcoder.gguf"
    if not vocab.exists():
        pytest.skip(f"{vocab} not found")
    spec = importlib.util.spec_from_file_location("make_synthetic_models",
                                                  REPO_ROOT / "scripts" / "make-synthetic-models.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    v = gen.read_vocab(str(vocab))
    assert v["tokens"][1:4] == ["<fim_prefix>", "<fim_middle>", "<fim_suffix>"]
    path = tmp_path_factory.mktemp("fim") / "qwen2-fim-f32.gguf"
    gen.write_model(str(path), "qwen2", "f32", gen.make_weights("qwen2", len(v["tokens"])), v)
    return path


FIM_PRE, FIM_MID, FIM_SUF = 1, 2, 3


@pytest.fixture(scope="module")
def fim_servers(fim_model):
    psm = Server("-m", fim_model, "-c", "512", "-np", "1").start()
    spm = None
    try:
        spm = Server("-m", fim_model, "-c", "512", "-np", "1", "--spm-infill").start()
        yield psm, spm
    finally:
        psm.stop()
        if spm:
            spm.stop()


def test_infill(fim_servers):
    psm, spm = fim_servers
    pre, suf = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
    tp, ts = tokenize(psm, pre), tokenize(psm, suf)
    body = {"input_prefix": pre, "input_suffix": suf, "n_predict": 6, "temperature": 0, "ignore_eos": True}
    # prefix/suffix/middle
    r = psm.post("/infill", json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    want = [FIM_PRE] + tp + [FIM_SUF] + ts + [FIM_MID]
    assert j["tokens_evaluated"] == len(want)
    assert j["content"] == psm.complete(want, n_predict=6, ignore_eos=True)["content"]
    # suffix/prefix/middle with --spm-infill
    r = spm.post("/infill", json=body)
    assert r.status_code == 200, r.text
    want_spm = [FIM_SUF] + ts + [FIM_PRE] + tp + [FIM_MID]
    assert r.json()["content"] == spm.complete(want_spm, n_predict=6, ignore_eos=True)["content"]
    # the prompt field goes after the middle token
    extra = "x"
    r = psm.post("/infill", json={**body, "prompt": extra})
    assert r.status_code == 200
    assert r.json()["tokens_evaluated"] == len(want) + len(tokenize(psm, extra))
    # wrong types
    r = psm.post("/infill", json={"input_prefix": 5, "input_suffix": ""})
    assert "input_prefix" in error_of(r, 400)
