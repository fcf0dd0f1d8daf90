"""cllm-server: the system prompt shared by all slots: -spf/--system-prompt-file
at start-up and the system_prompt request field (the seed: {"prompt",
"anti_prompt", "assistant_name"}; /props gives assistant_name and user_name).
A completion under a system prompt is the completion of the system prompt's
tokens followed by the request's (no BOS of its own)."""
import json
import subprocess

import pytest

from server_util import MODEL_STORIES, SERVER_BIN, Server, error_of

SYS = {"prompt": "Once upon a time, there was a dog named Max.", "anti_prompt": "User:",
       "assistant_name": "Assistant:"}
USER = " Max liked to"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    f = tmp_path_factory.mktemp("spf") / "sys.json"
    f.write_text(json.dumps(SYS))
    s = Server("-m", MODEL_STORIES, "-c", "512", "-np", "2", "-spf", str(f)).start()
    try:
        yield s
    finally:
        s.stop()


def tokenize(srv, text, add_special=False):
    return srv.post("/tokenize", json={"content": text, "add_special": add_special}).json()["tokens"]


def set_system(srv, sp):
    r = srv.post("/completion", json={"prompt": "x", "n_predict": 0, "system_prompt": sp})
    assert r.status_code == 200, r.text


def test_props_from_file(srv):
    j = srv.get("/props").json()
    assert j["assistant_name"] == "Assistant:"
    assert j["user_name"] == "User:"


def test_completion_follows_system_prompt(srv):
    with_sys = [srv.complete(USER, n_predict=12, id_slot=i)["content"] for i in (0, 1)]
    assert with_sys[0] == with_sys[1]  # every slot has it
    want = tokenize(srv, SYS["prompt"], add_special=True) + tokenize(srv, USER)
    set_system(srv, {"prompt": ""})
    try:
        plain = srv.complete(want, n_predict=12)["content"]
        assert with_sys[0] == plain
        # with no system prompt, a string prompt gets its BOS again
        j = srv.complete(USER, n_predict=1)
        assert j["tokens_evaluated"] == len(tokenize(srv, USER, add_special=True))
    finally:
        set_system(srv, SYS)


def test_system_prompt_field(srv):
    new = {"prompt": "One day, a cat named Tom", "anti_prompt": "Q:", "assistant_name": "A:"}
    r = srv.post("/completion", json={"prompt": " went", "n_predict": 8, "temperature": 0, "system_prompt": new})
    assert r.status_code == 200, r.text
    got = r.json()["content"]
    j = srv.get("/props").json()
    assert j["assistant_name"] == "A:" and j["user_name"] == "Q:"
    # the same tokens without a system prompt give the same text
    want = tokenize(srv, new["prompt"], add_special=True) + tokenize(srv, " went")
    later = srv.complete(" went", n_predict=8)["content"]
    set_system(srv, {"prompt": ""})
    try:
        assert srv.complete(want, n_predict=8)["content"] == got == later
    finally:
        set_system(srv, SYS)


@pytest.mark.parametrize("bad", [5, ["a"], {"prompt": 5}, {"anti_prompt": "x"}, {"prompt": "a", "anti_prompt": 1},
                                 {"prompt": "a", "assistant_name": []}])
def test_bad_system_prompt_field(srv, bad):
    r = srv.post("/completion", json={"prompt": "x", "n_predict": 1, "system_prompt": bad})
    assert "system_prompt" in error_of(r, 400)
    assert srv.get("/props").json()["assistant_name"] == "Assistant:"  # unchanged


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"anti_prompt": "x"}), json.dumps([1, 2])])
def test_bad_system_prompt_file_fails_start(tmp_path, content):
    f = tmp_path / "sys.json"
    if content is not None:
        f.write_text(content)
    p = subprocess.run([str(SERVER_BIN), "-m", MODEL_STORIES, "-c", "256", "--port", "0", "-spf", str(f)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--system-prompt-file" in p.stderr or "-spf" in p.stderr, p.stderr
