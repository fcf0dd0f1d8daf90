"""cllm-server hardening (issue 18): each test reproduces one defect found by
attacking the server, and checks the fix.

- a json_schema enum of 100,000 values compiles in linear time;
- /health?include_slots needs the API key (it shows other users' prompts);
- `Authorization: Bearer KEY\\0junk` is refused (the whole header is compared);
- Content-Length over --body-limit: 413 before the body is sent;
- Transfer-Encoding other than chunked: 501; Content-Encoding: 415;
- idle connections: more than the old 1,020 cannot lock clients out, a
  connection that sends nothing is closed after --header-timeout, and
  --max-connections answers 503 + Retry-After when full;
- a refused slot restore (token ids outside the vocabulary, another model,
  a truncated file) leaves the slot's cache as it was; slot files are
  written under a temporary name and renamed.

No wall-clock bounds: a request that used to take minutes is given the
ordinary client timeout, nothing more.
"""
import json
import os
import resource
import socket
import struct
import time

import pytest
import requests

from server_util import MODEL_GEMMA, Server

KEY = "hard-key-1"
PROMPT = "Write a short poem about the sea and the wind, in four lines:"


@pytest.fixture(scope="module")
def save_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hard-slots")


@pytest.fixture(scope="module")
def srv(save_dir):
    s = Server("-m", MODEL_GEMMA, "-c", "1024", "-np", "2", "--slot-save-path", str(save_dir),
               "--body-limit", "3000000", "--api-key", KEY).start()
    s.session.headers["Authorization"] = f"Bearer {KEY}"
    try:
        yield s
    finally:
        s.stop()


def raw(srv, data: bytes, read_timeout=30.0, shut=False) -> bytes:
    """Send raw bytes, return everything the server answers until it closes
    or goes quiet (after an answer has started)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=read_timeout) as sk:
        sk.sendall(data)
        if shut:
            sk.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = sk.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
        return out


def status_of(resp: bytes) -> int:
    assert resp.startswith(b"HTTP/1."), resp[:200]
    return int(resp.split(b" ", 2)[1])


# ---------------------------------------------------------------- json_schema

def test_enum_100k_values_is_linear(srv):
    values = [f"v{i}" for i in range(100_000)]
    r = srv.post("/completion", json={"prompt": "Pick one:", "n_predict": 4,
                                      "json_schema": {"enum": values}}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    content = r.json()["content"]
    # what came out is (a prefix of) one of the values, as a JSON string
    assert content.startswith('"v'), content


def test_allof_enums_intersect(srv):
    a = [f"x{i}" for i in range(20_000)]
    b = [f"x{i}" for i in range(10_000, 30_000)] + ["x5"]
    r = srv.post("/completion", json={"prompt": "Pick:", "n_predict": 3,
                                      "json_schema": {"allOf": [{"enum": a}, {"enum": b}]}}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["content"].startswith('"x'), r.text[:300]


# ---------------------------------------------------------------- access

def test_health_slots_need_the_key(srv):
    plain = requests.get(srv.url + "/health", timeout=30)
    assert plain.status_code == 200 and "slots" not in plain.json()
    r = requests.get(srv.url + "/health?include_slots", timeout=30)
    assert r.status_code == 401, r.text
    assert "slots" not in r.text
    r = requests.get(srv.url + "/health?include_slots", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert r.status_code == 401
    r = srv.get("/health?include_slots")
    assert r.status_code == 200 and isinstance(r.json()["slots"], list)


def test_key_compared_whole(srv):
    # a key cut short by a NUL, a prefix of the key, the key with more after
    # it: refused. (libmicrohttpd 0.9.75 itself ends a header value at a NUL
    # before the server sees it, so `KEY\0junk` reaches the check as `KEY`:
    # see test_key_with_nul_then_junk.)
    body = b'{"content":"hi"}'
    k = KEY.encode()
    for key in (k[:-1] + b"\0" + k[-1:], k[:3] + b"\0" + k[3:], k[:-1], k + b"x", b"\0" + k, k + b" x"):
        req = (b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
               b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
               b"\r\nConnection: close\r\n\r\n" + body)
        resp = raw(srv, req)
        # either the HTTP library refuses the header (400) or the key check does (401)
        assert status_of(resp) in (400, 401), resp[:300]
    good = (b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\nConnection: close\r\n\r\n" + body)
    assert status_of(raw(srv, good)) == 200


@pytest.mark.xfail(reason="libmicrohttpd 0.9.75 truncates header values at a NUL before the application "
                          "sees them (the key itself was sent, so nothing is disclosed)", strict=False)
def test_key_with_nul_then_junk(srv):
    body = b'{"content":"hi"}'
    req = (b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\0junk"
           b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
           b"\r\nConnection: close\r\n\r\n" + body)
    assert status_of(raw(srv, req)) in (400, 401)


# ---------------------------------------------------------------- HTTP framing

def test_content_length_over_limit_answered_before_the_body(srv):
    req = (b"POST /completion HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
           b"\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
    resp = raw(srv, req)  # the body is never sent: the answer must come anyway
    assert status_of(resp) == 413, resp[:300]
    assert b"too large" in resp


def test_transfer_encoding_gzip_gets_an_answer(srv):
    req = (b"POST /completion HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
           b"\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n")
    resp = raw(srv, req)
    assert status_of(resp) in (400, 501), resp[:300]


def test_content_encoding_gzip_is_415(srv):
    body = b"\x1f\x8b\x08\x00junk"
    req = (b"POST /completion HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
           b"\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: " +
           str(len(body)).encode() + b"\r\n\r\n" + body)
    assert status_of(raw(srv, req)) == 415


def test_chunked_still_works(srv):
    body = b'{"content":"hello"}'
    req = (b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
           b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
           f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    resp = raw(srv, req)
    assert status_of(resp) == 200, resp[:300]
    assert b"tokens" in resp


# ---------------------------------------------------------------- connections

def _raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def test_many_idle_connections_do_not_lock_clients_out(srv):
    n = 1100
    if _raise_nofile(n + 200) < n + 200:
        pytest.skip("the file limit is too low for this test")
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
        r = srv.post("/tokenize", json={"content": "still served"}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        for sk in socks:
            sk.close()


def test_connection_that_sends_nothing_is_closed(tmp_path):
    s = Server("-m", MODEL_GEMMA, "-c", "256", "-np", "1", "--header-timeout", "1").start()
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=60) as sk:
            # the server closes it (recv gives b""), long before the ordinary --timeout of 600 s
            assert sk.recv(100) == b""
        # a client that does send its request is served as usual
        assert s.post("/tokenize", json={"content": "x"}).status_code == 200
    finally:
        s.stop()


def test_max_connections_503_retry_after():
    s = Server("-m", MODEL_GEMMA, "-c", "256", "-np", "1", "--max-connections", "4").start()
    idle = []
    try:
        for _ in range(4):
            idle.append(socket.create_connection(("127.0.0.1", s.port), timeout=10))
        time.sleep(0.2)  # let the server accept them (not a bound on anything)
        resp = raw(s, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(resp) == 503, resp[:300]
        head = resp.split(b"\r\n\r\n")[0].lower()
        assert b"retry-after:" in head
        err = json.loads(resp.split(b"\r\n\r\n", 1)[1])
        assert err["error"]["code"] == 503
        for sk in idle:
            sk.close()
        idle = []
        # once they are gone, clients are served again (closing is noticed asynchronously)
        for _ in range(100):
            r = requests.get(s.url + "/health", timeout=10)
            if r.status_code == 200:
                break
            time.sleep(0.05)
        assert r.status_code == 200
    finally:
        for sk in idle:
            sk.close()
        s.stop()


# ---------------------------------------------------------------- slot files

HDR = 8 + 9 * 4  # magic + header words (seq_state.c)


def _slot_action(srv, slot, act, **body):
    return srv.post(f"/slots/{slot}?action={act}", json=body or None)


def _n_past(srv, slot):
    """The slot's n_past once the scheduler has published it settled (the
    slot list is refreshed once per step, so right after an answer it may
    still show the step before)."""
    last = None
    for _ in range(200):
        j = srv.get("/slots").json()[slot]
        if not j["is_processing"] and j["n_past"] == last:
            return last
        last = j["n_past"]
        time.sleep(0.02)
    return last


def test_slot_file_saved_by_rename(srv, save_dir):
    srv.complete(PROMPT, n_predict=4, id_slot=0, cache_prompt=True)
    r = _slot_action(srv, 0, "save", filename="ok.bin")
    assert r.status_code == 200, r.text
    assert (save_dir / "ok.bin").is_file()
    assert not [p for p in os.listdir(save_dir) if ".tmp" in p]  # no temporary left behind


@pytest.mark.parametrize("damage", ["token_out_of_vocab", "negative_token", "other_model", "truncated",
                                    "bad_magic", "too_many_tokens"])
def test_refused_restore_keeps_the_slot(srv, save_dir, damage):
    srv.complete(PROMPT, n_predict=4, id_slot=0, cache_prompt=True)
    before = _n_past(srv, 0)
    assert before > 0
    r = _slot_action(srv, 0, "save", filename="good.bin")
    assert r.status_code == 200, r.text
    data = bytearray((save_dir / "good.bin").read_bytes())
    n_tokens = struct.unpack_from("<I", data, 8 + 6 * 4)[0]
    assert n_tokens == before
    if damage == "token_out_of_vocab":
        struct.pack_into("<i", data, HDR + 4 * (n_tokens - 1), 0x7FFFFFF0)
    elif damage == "negative_token":
        struct.pack_into("<i", data, HDR, -5)
    elif damage == "other_model":
        data[8 + 7 * 4] ^= 0xFF  # the model fingerprint
    elif damage == "truncated":
        del data[-100:]
    elif damage == "bad_magic":
        data[0:8] = b"CLLMSEQ1"
    elif damage == "too_many_tokens":
        struct.pack_into("<I", data, 8 + 6 * 4, n_tokens + 1)
    (save_dir / "bad.bin").write_bytes(bytes(data))
    # slot 1 holds something else meanwhile; slot 0 must keep its cache
    r = _slot_action(srv, 0, "restore", filename="bad.bin")
    assert r.status_code == 400, r.text
    assert _n_past(srv, 0) == before
    # and the cache is still used
    again = srv.complete(PROMPT, n_predict=1, id_slot=0, cache_prompt=True)
    assert again["tokens_cached"] >= before - 1 or again["timings"]["prompt_n"] <= 2
    # the good file still restores
    r = _slot_action(srv, 0, "restore", filename="good.bin")
    assert r.status_code == 200, r.text
    assert _n_past(srv, 0) == before


# ---------------------------------------------------------------- sampling

@pytest.mark.parametrize("extra", [{"temperature": 0}, {}, {"logit_bias": [[2, False]]}])
def test_repeat_penalty_zero_still_answers(srv, extra):
    # llama.cpp divides a seen token's positive logit by the penalty: with 0
    # that is +inf, which made every probability NaN and the answer empty
    r = srv.post("/completion", json={"prompt": PROMPT, "n_predict": 6, "repeat_penalty": 0, "seed": 1, **extra})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["tokens_predicted"] >= 1 and j["content"] != "", j


# ---------------------------------------------------------------- metrics, queue

@pytest.fixture(scope="module")
def msrv():
    s = Server("-m", MODEL_GEMMA, "-c", "1024", "-np", "1", "--metrics", "--max-queue", "1").start()
    try:
        yield s
    finally:
        s.stop()


def _wait_idle(s):
    for _ in range(400):
        if s.get("/health").json().get("slots_idle") == 1 and \
                s.metrics()["llamacpp:requests_deferred"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the slot did not become idle")


def test_cancelled_requests_keep_tokens_per_second_true(msrv):
    _wait_idle(msrv)
    m0 = msrv.metrics()
    msrv.complete("Count: one, two,", n_predict=4, temperature=0, ignore_eos=True)
    m1 = msrv.metrics()
    d_tok = m1["llamacpp:tokens_predicted_total"] - m0["llamacpp:tokens_predicted_total"]
    d_s = m1["llamacpp:tokens_predicted_seconds_total"] - m0["llamacpp:tokens_predicted_seconds_total"]
    assert d_tok > 0 and d_s > 0
    base = d_tok / d_s  # this run's own speed
    for _ in range(5):  # streams cancelled after 30 tokens
        with requests.post(msrv.url + "/completion", json={"prompt": "Count: one, two,", "n_predict": 500,
                                                           "stream": True, "ignore_eos": True},
                           stream=True, timeout=60) as r:
            got = 0
            for line in r.iter_lines():
                if line.startswith(b"data: "):
                    got += 1
                    if got >= 30:
                        break
        _wait_idle(msrv)
    m2 = msrv.metrics()
    d_tok = m2["llamacpp:tokens_predicted_total"] - m1["llamacpp:tokens_predicted_total"]
    d_s = m2["llamacpp:tokens_predicted_seconds_total"] - m1["llamacpp:tokens_predicted_seconds_total"]
    assert d_tok >= 150
    assert d_s > 0, "cancelled requests' tokens were counted without their time"
    # the same machine, the same run: the cancelled streams' speed is of the
    # same order as the baseline's (the defect made it 40x and more)
    assert d_tok / d_s < 4 * base, (d_tok / d_s, base)


def test_max_queue_503_retry_after(msrv):
    import threading
    _wait_idle(msrv)
    a = requests.post(msrv.url + "/completion", json={"prompt": "Count:", "n_predict": 2000, "stream": True,
                                                      "ignore_eos": True}, stream=True, timeout=120)
    lines = a.iter_lines()
    next(ln for ln in lines if ln.startswith(b"data: "))  # A holds the only slot
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("b", requests.post(
        msrv.url + "/completion", json={"prompt": "Hi", "n_predict": 2}, timeout=120)))
    t.start()
    try:
        for _ in range(400):  # B is waiting for the slot
            if msrv.metrics()["llamacpp:requests_deferred"] >= 1:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("B never queued")
        c = requests.post(msrv.url + "/completion", json={"prompt": "Hi", "n_predict": 2}, timeout=60)
        assert c.status_code == 503, c.text
        assert c.headers.get("Retry-After") == "1"
        assert c.json()["error"]["code"] == 503
        # not generation: still served
        assert requests.post(msrv.url + "/tokenize", json={"content": "x"}, timeout=60).status_code == 200
    finally:
        a.close()
        t.join(120)
    assert res["b"].status_code == 200, res["b"].text


# ---------------------------------------------------------------- tokenize

def _kb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def test_tokenize_with_pieces_memory_in_proportion():
    if "asan" in os.environ.get("CLLM_BUILD", ""):
        pytest.skip("memory figures mean nothing under the sanitizers' allocator")
    import random
    rnd = random.Random(1)
    words = ["alpha", "beta", "gamma", "sea", "wind", "über", "日本", "123", "!!"]
    text = " ".join(rnd.choice(words) for _ in range(700_000))[:4_000_000]
    s = Server("-m", MODEL_GEMMA, "-c", "256", "-np", "1").start()
    try:
        small = s.post("/tokenize", json={"content": "the sea, über 日本", "with_pieces": True}).json()["tokens"]
        ids = s.post("/tokenize", json={"content": "the sea, über 日本"}).json()["tokens"]
        assert [t["id"] for t in small] == ids
        assert "".join(t["piece"] for t in small) == "the sea, über 日本"
        before = _kb(s.proc.pid, "VmRSS")
        r = s.post("/tokenize", json={"content": text, "with_pieces": True}, timeout=300)
        assert r.status_code == 200
        grown = _kb(s.proc.pid, "VmHWM") - before
        # the answer is ~26 MB; building it as JSON objects took ~450 MB
        assert grown * 1024 < 6 * len(r.content), (grown, len(r.content))
        assert s.post("/tokenize", json={"content": "x", "with_pieces": "yes"}).status_code == 400
    finally:
        s.stop()


# ---------------------------------------------------------------- grammar

@pytest.mark.parametrize("n", [2000, 20000])
def test_long_grammar_chain_gives_text_or_400(srv, n):
    g = "root ::= r0\n" + "".join(f"r{i} ::= r{i + 1}\n" for i in range(n)) + f'r{n} ::= "hello"\n'
    r = srv.post("/completion", json={"prompt": "Say:", "n_predict": 4, "grammar": g}, timeout=120)
    if r.status_code == 200:
        assert r.json()["content"] == "hello", r.text[:300]  # never an empty 200
    else:
        assert r.status_code == 400 and "too deep" in r.json()["error"]["message"], r.text[:300]
    if n == 2000:
        assert r.status_code == 200


# ---------------------------------------------------------------- request fields

def test_t_max_predict_ms_stops_after_a_newline(srv):
    body = {"prompt": "A list of fruits, one per line:\n1. apple\n2.", "n_predict": 400, "ignore_eos": True,
            "temperature": 0}
    r = srv.post("/completion", json={**body, "t_max_predict_ms": 1})
    assert r.status_code == 200, r.text
    j = r.json()
    assert "\n" in j["content"], j["content"]
    assert j["tokens_predicted"] < 400 and j["stopped_limit"], j
    assert j["generation_settings"]["t_max_predict_ms"] == 1
    # no newline can come out: the limit never starts counting
    r = srv.post("/completion", json={**body, "n_predict": 12, "t_max_predict_ms": 1,
                                      "grammar": "root ::= [a-z ]+"})
    assert r.json()["tokens_predicted"] == 12
    r = srv.post("/completion", json={**body, "t_max_predict_ms": "1"})
    assert r.status_code == 400 and "t_max_predict_ms" in r.text


@pytest.mark.parametrize("door,field,bad", [
    ("/v1/chat/completions", "stream_options", "yes"),
    ("/v1/chat/completions", "stream_options", [1]),
    ("/v1/chat/completions", "stream_options", {"include_usage": "yes"}),
    ("/v1/completions", "stream_options", 1),
    ("/v1/chat/completions", "top_logprobs", "3"),
    ("/v1/chat/completions", "top_logprobs", 1.5),
    ("/v1/completions", "echo", "no"),
    ("/v1/completions", "echo", {}),
    ("/completion", "t_max_predict_ms", [1]),
    ("/tokenize", "with_pieces", "yes"),
])
def test_field_types_checked(srv, door, field, bad):
    base = {"/v1/chat/completions": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1},
            "/v1/completions": {"prompt": "Hi", "max_tokens": 1},
            "/completion": {"prompt": "Hi", "n_predict": 1},
            "/tokenize": {"content": "Hi"}}[door]
    r = srv.post(door, json={**base, field: bad})
    assert r.status_code == 400, (field, bad, r.text[:200])
    assert field.split(".")[0] in r.json()["error"]["message"]
    # and the right type is accepted
    good = {"stream_options": {"include_usage": False}, "top_logprobs": 2, "echo": False,
            "t_max_predict_ms": 0, "with_pieces": False}[field]
    assert srv.post(door, json={**base, field: good}).status_code == 200
