"""cllm-server: speculative decoding with n-gram (prompt lookup) drafting,
no second model (`--spec-type ngram-simple`, llama-server's spelling; `ngram`
is taken too), and its options `--draft-max` / `--spec-draft-n-max`,
`--draft-min` / `--spec-draft-n-min`, `--draft-p-min` / `--spec-draft-p-min`,
`--spec-ngram-simple-size-n`.

- the options are listed by --help and bad values fail at start-up naming
  the option;
- greedy output is the same text, token for token, with and without
  drafting (also with n_probs, streaming, and several requests at once);
  seeded sampling at temperature > 0 too (the target's sampler accepts or
  rejects each drafted token, so the draws are those of plain decoding);
- drafting really happens: on a repetitive prompt the server makes fewer
  decode calls than it generates tokens (/metrics).
Uses stories260K (fast) and gemma-3-270m for the repetitive task."""
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from server_util import MODEL_GEMMA, MODEL_STORIES, SERVER_BIN, Server, sse_events

SPEC = ["--spec-type", "ngram-simple", "--draft-max", "12", "--metrics"]
PLAIN = ["--metrics"]

JSON_PROMPT = (
    "<start_of_turn>user\nRewrite this JSON with the field \"city\" changed to \"Lyon\". "
    "Output only the JSON.\n\n"
    '{\n  "id": 48213,\n  "name": "Claire Dubois",\n  "email": "claire.dubois@example.com",\n'
    '  "address": {\n    "street": "12 rue de la Paix",\n    "city": "Paris",\n    "postcode": "75002",\n'
    '    "country": "France"\n  },\n  "orders": [\n'
    '    {"order_id": 1001, "item": "notebook", "quantity": 3, "price": 4.5},\n'
    '    {"order_id": 1002, "item": "fountain pen", "quantity": 1, "price": 27.0}\n  ],\n'
    '  "newsletter": true\n}<end_of_turn>\n<start_of_turn>model\n')
STORY_PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play. Once upon a time,"


def run(*args, timeout=60, env=None):
    if not SERVER_BIN.is_file():
        pytest.skip(f"{SERVER_BIN} not built")
    return subprocess.run([str(SERVER_BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env)


# ------------------------------------------------------------ options

def test_help_lists_spec_options():
    out = run("--help").stdout
    for opt in ["--spec-type", "--draft-max", "--spec-draft-n-max", "--draft-min", "--spec-draft-n-min",
                "--draft-p-min", "--spec-draft-p-min", "--spec-ngram-simple-size-n"]:
        assert any(opt in ln.replace(",", " ").split() for ln in out.splitlines()), f"--help lacks {opt}"


@pytest.mark.parametrize("args,name", [
    (["--spec-type", "eagle9"], "--spec-type"),
    (["--draft-max", "-1"], "--draft-max"),
    (["--draft-max", "x"], "--draft-max"),
    (["--draft-min", "-2"], "--draft-min"),
    (["--draft-p-min", "1.5"], "--draft-p-min"),
    (["--spec-ngram-simple-size-n", "0"], "--spec-ngram-simple-size-n"),
])
def test_bad_spec_values_fail_at_start(args, name):
    p = run("-m", MODEL_STORIES, *args)
    assert p.returncode != 0
    assert name in p.stdout + p.stderr


@pytest.mark.parametrize("var,value", [("LLAMA_ARG_SPEC_TYPE", "eagle9"), ("LLAMA_ARG_SPEC_DRAFT_N_MAX", "0"),
                                       ("LLAMA_ARG_DRAFT_MIN", "-1"), ("LLAMA_ARG_SPEC_DRAFT_P_MIN", "2")])
def test_bad_spec_env_values_fail_at_start(var, value):
    """llama-server's LLAMA_ARG_* variables for these options are read too."""
    p = run("-m", MODEL_STORIES, env=dict(os.environ, **{var: value}))
    assert p.returncode != 0
    assert var in p.stdout + p.stderr


def test_spec_env_value_is_taken():
    srv = Server("-m", MODEL_STORIES, "-c", "512", "--metrics",
                 env=dict(os.environ, LLAMA_ARG_SPEC_TYPE="ngram-simple", LLAMA_ARG_SPEC_DRAFT_N_MAX="4")).start()
    try:
        prompt = "Tom had a red ball. Tom had a red ball. Tom had a red ball. Tom had a red"
        d0 = srv.metrics().get("llamacpp:n_decode_total", 0)
        r = completion(srv, prompt, n_predict=48)
        d1 = srv.metrics().get("llamacpp:n_decode_total", 0)
        assert r["tokens_predicted"] == 48
        assert d1 - d0 < 48  # drafts taken: fewer decode calls than tokens
    finally:
        srv.stop()


# ------------------------------------------------------------ same output

@pytest.fixture(scope="module")
def stories_pair():
    a = Server("-m", MODEL_STORIES, "-c", "1024", "-np", "2", *PLAIN).start()
    b = Server("-m", MODEL_STORIES, "-c", "1024", "-np", "2", *SPEC).start()
    yield a, b
    a.stop()
    b.stop()


def completion(srv, prompt, **fields):
    body = {"prompt": prompt, "n_predict": 48, "temperature": 0, "cache_prompt": False, **fields}
    r = srv.post("/completion", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def decode_and_tokens(srv):
    m = srv.metrics()
    return m.get("llamacpp:n_decode_total", 0), m.get("llamacpp:tokens_predicted_total", 0)


def test_greedy_same_text(stories_pair):
    plain, spec = stories_pair
    for prompt in [STORY_PROMPT, "Tom had a red ball. Tom had a red ball. Tom had a red", "The cat"]:
        a = completion(plain, prompt, n_predict=64)
        b = completion(spec, prompt, n_predict=64)
        assert a["content"] == b["content"]
        assert a["tokens_predicted"] == b["tokens_predicted"]


def test_greedy_same_probs(stories_pair):
    plain, spec = stories_pair
    a = completion(plain, STORY_PROMPT, n_probs=3)
    b = completion(spec, STORY_PROMPT, n_probs=3)
    assert a["content"] == b["content"]
    assert a["completion_probabilities"] == b["completion_probabilities"]


def test_seeded_sampling_same_text(stories_pair):
    plain, spec = stories_pair
    for seed in (1, 7, 12345):
        a = completion(plain, STORY_PROMPT, temperature=0.9, seed=seed, n_predict=40)
        b = completion(spec, STORY_PROMPT, temperature=0.9, seed=seed, n_predict=40)
        assert a["content"] == b["content"], seed


def test_streaming_same_text(stories_pair):
    plain, spec = stories_pair
    want = completion(plain, STORY_PROMPT)["content"]
    r = spec.post("/completion", json={"prompt": STORY_PROMPT, "n_predict": 48, "temperature": 0,
                                       "stream": True}, stream=True)
    assert r.status_code == 200
    events = list(sse_events(r))
    text = "".join(ev.get("content", "") for ev in events)
    assert text == want
    assert events[-1]["stop"] is True


def test_concurrent_same_text(stories_pair):
    plain, spec = stories_pair
    prompts = [STORY_PROMPT, "Tom had a red ball. Tom had a red ball.", "Lily and Ben", "One day, one day, one"]
    want = [completion(plain, p)["content"] for p in prompts]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda p: completion(spec, p)["content"], prompts))
    assert got == want


# ------------------------------------------------------------ drafting happens (gemma, repetitive task)

@pytest.fixture(scope="module")
def gemma_pair():
    a = Server("-m", MODEL_GEMMA, "-c", "2048", "-np", "1", *PLAIN).start()
    b = Server("-m", MODEL_GEMMA, "-c", "2048", "-np", "1", *SPEC).start()
    yield a, b
    a.stop()
    b.stop()


def test_gemma_repetitive_task_drafts_and_same_text(gemma_pair):
    plain, spec = gemma_pair
    a = completion(plain, JSON_PROMPT, n_predict=96)
    d0, t0 = decode_and_tokens(spec)
    b = completion(spec, JSON_PROMPT, n_predict=96)
    d1, t1 = decode_and_tokens(spec)
    assert a["content"] == b["content"]
    assert t1 - t0 == b["tokens_predicted"] == 96
    # several tokens per decode call: the drafts were evaluated and taken
    assert d1 - d0 < (t1 - t0) / 2, (d1 - d0, t1 - t0)
