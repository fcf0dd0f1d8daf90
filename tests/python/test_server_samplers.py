"""cllm-server: llama-server's DRY, XTC and top-n-sigma samplers end to end,
on gemma-3-270m.

What llama-server does (tools/server/server-schema.cpp, common/arg.cpp,
src/llama-sampler.cpp of the llama.cpp inside the llama-cpp-python sdist):
- request fields dry_multiplier (0 = off), dry_base (1.75; below 1 replaced
  with the server's default), dry_allowed_length (2, >= 0 or 400),
  dry_penalty_last_n (64, 0 = off; cllm also takes -1 = the context size, as
  its repeat_last_n does), dry_sequence_breakers (["\\n", ":", "\\"", "*"], a
  non-empty array of strings or 400), xtc_probability (0 = off), xtc_threshold
  (0.1, > 0.5 = off), top_n_sigma (-1, <= 0 = off); all echoed in
  generation_settings and /props;
- the default chain places them: penalties, dry, top_n_sigma, top_k, typ_p,
  top_p, min_p, xtc, temperature (cllm keeps the seed's chain and runs the
  three where llama.cpp has them when their parameters turn them on);
- `samplers` takes "dry", "top_n_sigma", "xtc" (and --sampling-seq d, s, x);
- --dry-*, --xtc-*, --top-nsigma set every request's defaults.
The samplers' math is compared with llama.cpp's in tests/unit
(test_sampler_vectors.c).
"""
import pytest

from server_util import MODEL_GEMMA, Server, error_of, server_fixture

gemma = server_fixture("-m", MODEL_GEMMA, "-c", "2048", "-np", "2")

LOOP = "The the the the the"
COUNT = "1, 2, 3, 1, 2, 3, 1, 2, 3,"


def settings(srv, **fields):
    return srv.complete("Hi", n_predict=1, **fields)["generation_settings"]


def test_defaults_echoed(gemma):
    """generation_settings and /props show llama-server's defaults (all three off)."""
    g = settings(gemma)
    assert g["dry_multiplier"] == 0
    assert g["dry_base"] == pytest.approx(1.75)
    assert g["dry_allowed_length"] == 2
    assert g["dry_penalty_last_n"] == 64
    assert g["dry_sequence_breakers"] == ["\n", ":", "\"", "*"]
    assert g["xtc_probability"] == 0
    assert g["xtc_threshold"] == pytest.approx(0.1)
    assert g["top_n_sigma"] == -1
    props = gemma.get("/props").json()["default_generation_settings"]
    params = props.get("params", props)
    for k in ("dry_multiplier", "dry_base", "dry_sequence_breakers", "xtc_probability", "top_n_sigma"):
        assert k in params or k in props, k


def test_fields_accepted_and_echoed(gemma):
    g = settings(gemma, dry_multiplier=0.8, dry_base=2.0, dry_allowed_length=3, dry_penalty_last_n=-1,
                 dry_sequence_breakers=["\n", "foo"], xtc_probability=0.5, xtc_threshold=0.2, top_n_sigma=1.5,
                 samplers=["dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"])
    assert g["dry_multiplier"] == pytest.approx(0.8)
    assert g["dry_base"] == pytest.approx(2.0)
    assert g["dry_allowed_length"] == 3
    assert g["dry_penalty_last_n"] == -1
    assert g["dry_sequence_breakers"] == ["\n", "foo"]
    assert g["xtc_probability"] == pytest.approx(0.5)
    assert g["xtc_threshold"] == pytest.approx(0.2)
    assert g["top_n_sigma"] == pytest.approx(1.5)
    assert g["samplers"] == ["dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc", "temperature"]


def test_dry_base_below_one_is_the_default(gemma):
    """llama-server: 'any values < 1.0 will be replaced with the default value'."""
    assert settings(gemma, dry_base=0.5)["dry_base"] == pytest.approx(1.75)


@pytest.mark.parametrize("field,value", [
    ("dry_multiplier", "x"), ("dry_base", "x"), ("dry_allowed_length", -1), ("dry_allowed_length", 1.5),
    ("dry_penalty_last_n", -2), ("dry_penalty_last_n", "64"), ("dry_sequence_breakers", []),
    ("dry_sequence_breakers", "\n"), ("dry_sequence_breakers", ["\n", 5]), ("xtc_probability", "1"),
    ("xtc_threshold", [0.1]), ("top_n_sigma", True), ("samplers", ["dry", "nope"]),
])
def test_bad_values_400(gemma, field, value):
    r = gemma.post("/completion", json={"prompt": "Hi", "n_predict": 1, field: value})
    assert field in error_of(r, 400)


def test_dry_stops_a_loop(gemma):
    """Greedy on a looping prompt repeats itself; DRY (0.8, as llama-server's docs suggest) breaks it."""
    for prompt, piece in ((LOOP, " the"), (COUNT, " 1, 2, 3")):
        plain = gemma.complete(prompt, n_predict=48)["content"]
        assert plain.count(piece) >= 4, plain
        dry = gemma.complete(prompt, n_predict=48, dry_multiplier=0.8)["content"]
        assert dry != plain
        assert dry.count(piece) < plain.count(piece) // 2, dry


def test_dry_off_by_its_window_or_multiplier(gemma):
    plain = gemma.complete(LOOP, n_predict=16)["content"]
    assert gemma.complete(LOOP, n_predict=16, dry_multiplier=0.8, dry_penalty_last_n=0)["content"] == plain
    assert gemma.complete(LOOP, n_predict=16, dry_multiplier=0.0)["content"] == plain
    # named out of the chain: a chain without "dry" still runs it when the multiplier is set
    # (cllm places it where llama.cpp's default chain has it)
    assert gemma.complete(LOOP, n_predict=16, dry_multiplier=0.8, samplers=["top_k", "temperature"])["content"] \
        != plain


def test_dry_breaker_matters(gemma):
    """A repeat across a sequence breaker is cut there: with " the" as a breaker the loop of
    " the" is not penalized (a breaker is never penalized itself)."""
    plain = gemma.complete(LOOP, n_predict=16)["content"]
    j = gemma.complete(LOOP, n_predict=16, dry_multiplier=0.8, dry_sequence_breakers=["the"])
    assert j["content"] == plain


def test_xtc_changes_greedy(gemma):
    """XTC with probability 1 removes the likeliest tokens (all above the threshold but the least
    likely of them) before the temperature: greedy then takes another token (llama.cpp's chain
    runs before temperature 0's argmax)."""
    prompt = "The capital of France is"
    plain = gemma.complete(prompt, n_predict=8)
    xtc = gemma.complete(prompt, n_predict=8, xtc_probability=1.0, xtc_threshold=0.02)
    assert xtc["content"] != plain["content"]
    # off: probability 0, or a threshold above 0.5
    assert gemma.complete(prompt, n_predict=8, xtc_probability=0.0, xtc_threshold=0.02)["content"] == plain["content"]
    assert gemma.complete(prompt, n_predict=8, xtc_probability=1.0, xtc_threshold=0.6)["content"] == plain["content"]


def test_xtc_first_token_is_not_the_best(gemma):
    prompt = "The capital of France is"
    best = gemma.complete(prompt, n_predict=1, n_probs=5)["completion_probabilities"][0]
    top = best.get("top_probs") or best.get("probs")
    first = top[0].get("token") or top[0].get("tok_str")
    j = gemma.complete(prompt, n_predict=1, xtc_probability=1.0, xtc_threshold=0.01)
    assert j["content"] != first


def test_top_n_sigma_small_is_greedy(gemma):
    """top-n-sigma keeps the logits within n standard deviations of the best: a tiny n keeps only
    the best token, so sampling at any seed gives the greedy text. (llama.cpp treats n <= 0 as
    off: top_n_sigma 0 is plain sampling, not greedy.)"""
    prompt = "Once upon a time"
    greedy = gemma.complete(prompt, n_predict=12)["content"]
    for seed in (1, 2, 3):
        j = gemma.complete(prompt, n_predict=12, temperature=1.5, seed=seed, top_k=0, top_p=1.0, min_p=0.0,
                           top_n_sigma=1e-5)
        assert j["content"] == greedy
    # off (0 or negative): hot sampling wanders off
    texts = {gemma.complete(prompt, n_predict=12, temperature=1.5, seed=s, top_k=0, top_p=1.0, min_p=0.0,
                            top_n_sigma=0)["content"] for s in (1, 2, 3)}
    assert texts != {greedy}


def test_samplers_names_and_seq(gemma):
    """llama.cpp's names and spellings are taken in `samplers`."""
    g = settings(gemma, samplers=["DRY", "top-n-sigma", "typ_p", "xtc", "temp"])
    assert g["samplers"] == ["dry", "top_n_sigma", "typical_p", "xtc", "temperature"]


def test_cli_defaults():
    """--dry-*, --xtc-*, --top-nsigma set every request's defaults (shown in /props); a request's
    own fields win; --dry-sequence-breaker replaces the default breakers ("none": none)."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--dry-multiplier", "0.8", "--dry-base", "2", "--dry-allowed-length",
               "3", "--dry-penalty-last-n", "-1", "--dry-sequence-breaker", "\\n", "--dry-sequence-breaker", "foo",
               "--xtc-probability", "0.25", "--xtc-threshold", "0.2", "--top-nsigma", "1.5",
               "--sampling-seq", "dskx").start()
    try:
        g = settings(s)
        assert g["dry_multiplier"] == pytest.approx(0.8)
        assert g["dry_base"] == pytest.approx(2.0)
        assert g["dry_allowed_length"] == 3
        assert g["dry_penalty_last_n"] == -1
        assert g["dry_sequence_breakers"] == ["\n", "foo"]
        assert g["xtc_probability"] == pytest.approx(0.25)
        assert g["xtc_threshold"] == pytest.approx(0.2)
        assert g["top_n_sigma"] == pytest.approx(1.5)
        assert g["samplers"] == ["dry", "top_n_sigma", "top_k", "xtc"]
        props = s.get("/props").json()["default_generation_settings"]
        params = props.get("params", props)
        assert params["dry_multiplier"] == pytest.approx(0.8)
        assert params["top_n_sigma"] == pytest.approx(1.5)
        g = settings(s, dry_multiplier=0, top_n_sigma=-1, dry_sequence_breakers=["*"])
        assert g["dry_multiplier"] == 0 and g["top_n_sigma"] == -1 and g["dry_sequence_breakers"] == ["*"]
    finally:
        s.stop()
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--dry-sequence-breaker", "none").start()
    try:
        assert settings(s)["dry_sequence_breakers"] == []
    finally:
        s.stop()


def test_cli_dry_loop():
    """The CLI default alone turns DRY on for a request that does not mention it."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--dry-multiplier", "0.8").start()
    try:
        j = s.complete(LOOP, n_predict=32)
        assert j["content"].count(" the") < 8, j["content"]
    finally:
        s.stop()


def test_draft_p_min_warns():
    """--draft-p-min only means something to a draft model (llama.cpp's common/speculative.cpp);
    cllm drafts by n-gram lookup, so a value above 0 is accepted with a warning saying so."""
    import subprocess
    from server_util import SERVER_BIN
    p = subprocess.run([str(SERVER_BIN), "-m", MODEL_GEMMA, "--spec-type", "ngram-simple", "--draft-p-min", "0.75",
                        "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "--draft-p-min" in p.stderr and "no effect" in p.stderr and "draft model" in p.stderr
    p = subprocess.run([str(SERVER_BIN), "-m", MODEL_GEMMA, "--draft-p-min", "0", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "draft-p-min" not in p.stderr
