"""cllm-server: the HTTP layer and error paths. Every error is in the seed's
(OpenAI's) shape {"error": {"code", "message", "type"}} with the right status;
bad fields are named in the message; after all of it the server is still
healthy and still answers correctly."""
import json
import os
import socket

import pytest
import requests

from server_util import MODEL_GEMMA, error_of, server_fixture

BODY_LIMIT = 2_000_000
srv = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", "2", "--body-limit", str(BODY_LIMIT))

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def reference(srv):
    """The greedy answer before any abuse, to compare with afterwards."""
    return srv.complete(PROMPT, n_predict=6)["content"]


def post_raw(srv, path, data: bytes, ctype="application/json"):
    return requests.post(srv.url + path, data=data, headers={"Content-Type": ctype}, timeout=60)


# ------------------------------------------------------------ routing

@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/nope"), ("GET", "/v2/completion"),
                                         ("GET", "/health/x"), ("GET", "/completion/")])
def test_unknown_route_404(srv, reference, method, path):
    r = requests.request(method, srv.url + path, timeout=10)
    msg = error_of(r, 404)
    assert r.json()["error"]["type"] == "not_found_error", msg


@pytest.mark.parametrize("method,path", [("GET", "/completion"), ("POST", "/health"), ("PUT", "/completion"),
                                         ("DELETE", "/slots"), ("PUT", "/props"), ("GET", "/tokenize"),
                                         ("GET", "/infill"), ("POST", "/metrics"), ("GET", "/slots/0")])
def test_wrong_method_405(srv, method, path):
    r = requests.request(method, srv.url + path, timeout=10)
    error_of(r, 405)


def test_json_content_type(srv):
    r = srv.get("/props")
    assert r.headers["Content-Type"].startswith("application/json")
    r = requests.get(srv.url + "/nope", timeout=10)
    assert r.headers["Content-Type"].startswith("application/json")


def test_keep_alive_many_requests(srv):
    with requests.Session() as s:
        for _ in range(20):
            assert s.get(srv.url + "/health", timeout=10).status_code == 200
            assert s.post(srv.url + "/tokenize", json={"content": "hi"}, timeout=10).status_code == 200


# ------------------------------------------------------------ bodies

def test_body_over_limit_413(srv):
    r = post_raw(srv, "/completion", b"x" * (BODY_LIMIT + 1))
    error_of(r, 413)
    big = json.dumps({"prompt": "a " * (BODY_LIMIT // 2)}).encode()
    r = post_raw(srv, "/completion", big)
    error_of(r, 413)


def test_body_over_limit_chunked_413(srv):
    def gen():
        for _ in range(3):
            yield b"y" * (BODY_LIMIT // 2 + 1)
    r = requests.post(srv.url + "/completion", data=gen(), headers={"Content-Type": "application/json"}, timeout=60)
    error_of(r, 413)


def test_chunked_request_body(srv, reference):
    def gen():
        yield b'{"prompt": "The capital of France is",'
        yield b' "n_predict": 6, "temperature": 0}'
    r = requests.post(srv.url + "/completion", data=gen(), headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["content"] == reference


def test_expect_100_continue(srv, reference):
    """curl sends `Expect: 100-continue` for bodies over 1 KiB."""
    body = json.dumps({"prompt": PROMPT, "n_predict": 6, "temperature": 0, "pad": "x" * 2000}).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    try:
        s.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100"), first
        s.sendall(body)
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
    finally:
        s.close()
    head, _, payload = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(payload)["content"] == reference


def test_garbage_1mb_body(srv):
    garbage = os.urandom(1 << 20)
    for path in ("/completion", "/tokenize", "/detokenize", "/infill"):
        r = post_raw(srv, path, garbage)
        error_of(r, 400)


@pytest.mark.parametrize("body", [b"", b"{", b"{\"prompt\": }", b"null", b"[1,2]", b"\"x\"", b"42",
                                  b"{\"prompt\": \"a\"} trailing", b"{'prompt': 'single quotes'}"])
def test_invalid_json_400(srv, body):
    error_of(post_raw(srv, "/completion", body), 400)


@pytest.mark.parametrize("body", [b"{\"prompt\": \"caf\xe9\"}", b"{\"prompt\": \"\xff\xfe\"}",
                                  b"{\"prompt\": \"\xed\xa0\x80\"}", b"{\"content\": \"\xc3\"}",
                                  b"{\"prompt\": \"\\ud800\"}"])
def test_invalid_utf8_400(srv, body):
    path = "/tokenize" if b"content" in body else "/completion"
    error_of(post_raw(srv, path, body), 400)


def test_nul_in_string(srv):
    r = post_raw(srv, "/tokenize", b"{\"content\": \"a\\u0000b\"}")
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        error_of(r, 400)


# ------------------------------------------------------------ fields

WRONG_TYPES = [
    ("prompt", 5), ("prompt", {"a": 1}), ("prompt", [1.5]), ("prompt", [None]), ("prompt", [[1, 2]]),
    ("n_predict", "10"), ("n_predict", 1.5), ("n_predict", True), ("n_keep", "x"), ("n_keep", 2.5),
    ("temperature", "hot"), ("top_k", "x"), ("top_p", [0.5]), ("min_p", {}), ("stream", "yes"),
    ("stream", 1), ("stop", 5), ("stop", [1, 2]), ("stop", {"a": "b"}), ("cache_prompt", "true"),
    ("id_slot", "0"), ("id_slot", 0.5), ("n_probs", "3"), ("seed", "42"), ("ignore_eos", "no"),
    ("logit_bias", "x"), ("logit_bias", [[1]]), ("logit_bias", [["a", "b"]]), ("logit_bias", [[1, None]]),
    ("repeat_penalty", "x"), ("repeat_last_n", "x"), ("penalize_nl", 0), ("mirostat", "x"),
    ("mirostat", 5), ("samplers", "top_k"), ("samplers", ["nope"]), ("grammar", 5), ("penalty_prompt", 5),
    ("tfs_z", "x"), ("typical_p", "x"), ("presence_penalty", "x"), ("frequency_penalty", "x"),
    ("mirostat_tau", "x"), ("mirostat_eta", "x"), ("min_keep", "x"), ("dynatemp_range", "x"),
]


@pytest.mark.parametrize("field,value", WRONG_TYPES, ids=lambda x: json.dumps(x) if not isinstance(x, str) else x)
def test_wrong_type_names_field(srv, field, value):
    body = {"prompt": PROMPT, "n_predict": 1, field: value}
    msg = error_of(srv.post("/completion", json=body), 400)
    assert field in msg, msg


@pytest.mark.parametrize("field,value", [("n_predict", -2), ("n_predict", -1000), ("n_keep", -2), ("n_probs", -1),
                                         ("id_slot", 2), ("id_slot", 99), ("id_slot", -2), ("n_predict", 2 ** 40),
                                         ("mirostat", -1), ("repeat_last_n", -2)])
def test_out_of_range_names_field(srv, field, value):
    body = {"prompt": PROMPT, "n_predict": 1, field: value}
    msg = error_of(srv.post("/completion", json=body), 400)
    assert field in msg, msg


def test_token_ids_out_of_range(srv):
    for bad in ([-1], [10 ** 9], [2, 262144 * 4]):
        msg = error_of(srv.post("/completion", json={"prompt": bad, "n_predict": 1}), 400)
        assert "prompt" in msg
    msg = error_of(srv.post("/completion", json={"prompt": PROMPT, "logit_bias": [[10 ** 9, 1.0]]}), 400)
    assert "logit_bias" in msg


def test_missing_or_empty_prompt(srv):
    assert "prompt" in error_of(srv.post("/completion", json={"n_predict": 1}), 400)
    for empty in ("", []):
        r = srv.post("/completion", json={"prompt": empty, "n_predict": 1})
        if r.status_code != 200:  # llama.cpp evaluates a lone BOS; refusing is fine too
            error_of(r, 400)


def test_tokenize_detokenize_errors(srv):
    assert "content" in error_of(srv.post("/tokenize", json={}), 400)
    assert "content" in error_of(srv.post("/tokenize", json={"content": 5}), 400)
    assert "add_special" in error_of(srv.post("/tokenize", json={"content": "a", "add_special": "yes"}), 400)
    for bad in ({}, {"tokens": "1 2"}, {"tokens": [1, "a"]}, {"tokens": [-1]}, {"tokens": [10 ** 9]},
                {"tokens": [1.5]}):
        assert "tokens" in error_of(srv.post("/detokenize", json=bad), 400)


def test_unknown_fields_ignored(srv, reference):
    j = srv.complete(PROMPT, n_predict=6, some_unknown_field={"x": [1, 2]}, image_data=[])
    assert j["content"] == reference


def test_many_bad_requests_then_healthy(srv, reference):
    """A burst of abuse over raw sockets: truncated requests, headers only,
    bad request lines; then the server still answers correctly."""
    raws = [b"GARBAGE\r\n\r\n", b"POST /completion HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"prompt\":",
            b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 300000 + b"\r\n\r\n", b"\x00\x01\x02\x03" * 1000]
    for raw in raws:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(1)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
        except OSError:  # the server may hang up first (broken pipe, reset, not connected)
            pass
        finally:
            s.close()
    assert srv.healthy()


def test_idle_connections_hold_no_thread(srv):
    """Many idle or half-sent connections do not block others (the
    connection threads are few: max(CPUs - 1, -np + 2))."""
    socks = []
    try:
        for i in range(64):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            if i % 2:
                s.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"pro")
            socks.append(s)
        # answered at all (a server whose threads all wait on the idle
        # connections never answers: the request times out); no wall-clock
        # bound beyond that hang guard
        r = requests.get(srv.url + "/health", timeout=30)
        assert r.status_code == 200
    finally:
        for s in socks:
            s.close()


def test_still_healthy_after_everything(srv, reference):
    assert srv.alive(), srv.log_tail()
    h = srv.get("/health")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    assert h.json()["slots_idle"] == 2
    assert srv.complete(PROMPT, n_predict=6)["content"] == reference
