"""JSON-schema-constrained generation on the real gemma model.

For every committed schema in tests/schemas/ (NN_name.json: {"schema": ...,
"valid": [...], "invalid": [...], optionally "prompt": "..."}):
  * the examples agree with the PyPI `jsonschema` validator (the test data
    itself is right);
  * `cllm-cli -j SCHEMA` generates with several seeds on
    models/gemma-3-270m-q4_k_m.gguf, and every output parses as JSON and is
    valid under the validator (with the draft's format checker): 100%.
The empty schema `{}` gives any JSON value, from several prompts.

Generation stops when the grammar is complete, so n_predict only guards
against a model that rambles (a 270M model does, inside long strings or
deep recursion, all the more under the repeat penalty that also hits the
closing quotes and braces). A run cut off by it (the log says n_predict
tokens were generated) proves nothing either way: it is replaced by the
next seed, up to MAX_SEEDS; every schema needs len(SEEDS) complete runs,
each valid, and a run that stopped early without valid JSON fails at once.
Kept to a few minutes on two cores: short chat prompts, two seeds run side
by side on one thread each.
"""
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")
from jsonschema.validators import validator_for  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "tests" / "schemas"
SCHEMAS = sorted(SCHEMA_DIR.glob("*.json"))
SEEDS = (1, 2)
MAX_SEEDS = 8
N_PREDICT = 256
MODEL = "gemma-3-270m-q4_k_m.gguf"
SAMPLING = ["--temp", "0.5", "--repeat-penalty", "1.3"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def make_validator(schema):
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_enough_schemas():
    assert len(SCHEMAS) >= 40


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_examples_agree_with_validator(path):
    doc = load(path)
    v = make_validator(doc["schema"])
    assert doc["valid"] or doc["schema"] in ({}, True)
    for x in doc["valid"]:
        errors = [e.message for e in v.iter_errors(x)]
        assert not errors, f"valid example {x!r}: {errors}"
    for x in doc["invalid"]:
        assert not v.is_valid(x), f"invalid example {x!r} passes"


@pytest.fixture(scope="session")
def cli(tool, models_dir):
    exe = tool("cli")
    model = models_dir / MODEL
    if not model.is_file():
        pytest.skip(f"{model} not found")
    helptext = subprocess.run([str(exe), "--help"], capture_output=True, text=True).stdout
    # cllm-cli has had -j/--json-schema for a long time: if its help stops
    # naming it, that is a regression to report, not a reason to skip 58 tests
    assert "--json-schema" in helptext, "cllm-cli --help no longer lists --json-schema"
    return exe, model


def generate(cli, schema, prompt, seed):
    """The text cllm-cli generates under the schema (prompt echo removed)."""
    exe, model = cli
    args = [str(exe), "-m", str(model), "-p", prompt, "-n", str(N_PREDICT), "-s", str(seed),
            "-t", "1", *SAMPLING, "-j", json.dumps(schema)]
    r = subprocess.run(args, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    out = r.stdout.decode("utf-8")
    assert out.startswith(prompt), out
    out = out[len(prompt):]
    assert out.endswith("\n")
    return out[:-1], r.stderr.decode("utf-8", "replace")


def cut_off(log):
    """The run generated n_predict tokens: stopped by the limit, not by the grammar."""
    return f"generation: {N_PREDICT} tokens" in log


def complete_runs(cli, schema, prompt, need=len(SEEDS)):
    """(seed, text, log) of `need` runs the grammar ended, from seeds 1, 2, ...
    (two at a time); fails when MAX_SEEDS do not give that many."""
    done, cut = [], []
    seed = 1
    with ThreadPoolExecutor(2) as ex:
        while len(done) < need and seed <= MAX_SEEDS:
            batch = list(range(seed, min(seed + 2, MAX_SEEDS + 1)))
            seed += len(batch)
            for sd, (text, log) in zip(batch, ex.map(lambda x: generate(cli, schema, prompt, x), batch)):
                (cut if cut_off(log) else done).append((sd, text, log))
    assert len(done) >= need, f"{len(cut)} of {len(cut) + len(done)} runs were cut off at {N_PREDICT} tokens"
    return done[:need]


def chat(request):
    """gemma's chat template around one user turn."""
    return f"<start_of_turn>user\n{request}<end_of_turn>\n<start_of_turn>model\n"


def prompt_for(path, doc):
    words = path.stem.split("_", 1)[1].replace("_", " ")
    return chat(doc.get("prompt") or f"Give a short JSON example of {words}.")


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_generated_json_is_valid(cli, path):
    doc = load(path)
    schema = doc["schema"]
    v = make_validator(schema)
    prompt = prompt_for(path, doc)
    for seed, text, log in complete_runs(cli, schema, prompt):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            pytest.fail(f"seed {seed}: not JSON ({e}): {text!r}\n{log}")
        errors = [e.message for e in v.iter_errors(value)]
        assert not errors, f"seed {seed}: {text!r}: {errors}"


def test_empty_schema_gives_any_json(cli):
    prompts = [chat("A JSON list of three colors."), chat("The number of planets, as JSON.")]
    outs = [(text, log) for p in prompts for _seed, text, log in complete_runs(cli, {}, p)]
    for text, log in outs:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            pytest.fail(f"not JSON ({e}): {text!r}\n{log}")
