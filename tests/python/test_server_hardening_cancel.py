"""cllm-server hardening (issue 18): expensive work neither outlives its
client nor stalls the streams of others.

- a json_schema compile (here an enum of 150,000 values, near the grammar
  size limit) stops when its client hangs up: the one HTTP worker is free
  for the next request long before the compile would have ended;
- a long prompt, or a long embedding input, evaluated beside a generating
  slot is split into chunks, so the stream gets tokens all along instead of
  waiting for whole -ub batches (and the embedding is the same).

Time is measured in engine steps (tokens of a stream running beside), never
against a wall-clock bound.
"""
import json
import socket
import threading
import time

import pytest
import requests

from server_util import MODEL_GEMMA, Server


class Stream:
    """A long SSE stream in a thread; tokens() is how many arrived so far."""

    def __init__(self, url):
        self.url, self.n, self.stop, self.err = url, 0, threading.Event(), None
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        body = {"prompt": "Tell me a long story about the sea.", "n_predict": 100000, "ignore_eos": True,
                "stream": True}
        try:
            with requests.post(self.url + "/completion", json=body, stream=True, timeout=600) as r:
                for line in r.iter_lines(chunk_size=1):
                    if line.startswith(b"data: "):
                        self.n += 1
                    if self.stop.is_set():
                        break
        except Exception as e:  # reported by the test
            self.err = e

    def tokens(self):
        return self.n

    def wait_tokens(self, k):
        """Wait until k more tokens have come (the engine's clock)."""
        goal = self.n + k
        while self.n < goal:
            assert self.th.is_alive(), self.err
            time.sleep(0.002)

    def close(self):
        self.stop.set()
        self.th.join(60)


@pytest.fixture(scope="module")
def one_worker():
    s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--threads-http", "1",
               "--body-limit", str(64 << 20)).start()
    try:
        yield s
    finally:
        s.stop()


def big_schema_request(n_values=150_000):
    body = json.dumps({"prompt": "Pick:", "n_predict": 1,
                       "json_schema": {"enum": [f"v{i}" for i in range(n_values)]}}).encode()
    head = (f"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def test_schema_compile_stops_when_the_client_leaves(one_worker):
    srv = one_worker
    req = big_schema_request()
    st = Stream(srv.url)
    try:
        st.wait_tokens(5)
        # the whole compile, client staying: how many stream tokens it lasts
        with socket.create_connection(("127.0.0.1", srv.port), timeout=300) as sk:
            n0 = st.tokens()
            sk.sendall(req)
            assert sk.recv(12).startswith(b"HTTP/1.1 ")
            full = st.tokens() - n0
        # again, the client leaving once the server is into it (a few
        # engine steps after the body is sent); the one worker is then
        # asked for /health: answered as soon as the compile has stopped
        sk = socket.create_connection(("127.0.0.1", srv.port), timeout=300)
        n0 = st.tokens()
        sk.sendall(req)
        st.wait_tokens(3)
        sk.close()
        r = requests.get(srv.url + "/health", timeout=300)
        cancelled = st.tokens() - n0
        assert r.status_code == 200
        assert full >= 10, f"the compile is too quick here to tell ({full} tokens)"
        assert cancelled < full / 2, (cancelled, full)
    finally:
        st.close()
    assert srv.healthy()


def test_server_stops_during_a_compile():
    """SIGTERM while a worker compiles: the compile stops, the server exits
    cleanly (exit 0; a sanitizer build reports nothing)."""
    s = Server("-m", MODEL_GEMMA, "-c", "1024", "-np", "1", "--threads-http", "1",
               "--body-limit", str(64 << 20)).start()
    req = big_schema_request()
    try:
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=300)
        sk.sendall(req)
        s.proc.terminate()
        assert s.proc.wait(timeout=120) == 0, s.log_tail()
        sk.close()
    finally:
        s.stop()


def test_long_prompt_is_chunked_beside_a_stream():
    """-ub 1024: without chunking a 500-token prompt would be one engine
    step, and a stream beside it would wait for all of it; chunked, the
    stream keeps getting tokens while the prompt is evaluated."""
    s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "-b", "1024", "-ub", "1024").start()
    words = ["alpha", "beta", "gamma", "sea", "wind", "stone", "river", "123"]
    prompt = " ".join(words[(i * 7) % len(words)] + str(i % 10) for i in range(250))
    st = Stream(s.url)
    try:
        st.wait_tokens(5)
        n0 = st.tokens()
        r = s.post("/completion", json={"prompt": prompt, "n_predict": 1, "cache_prompt": False}, timeout=900)
        during = st.tokens() - n0
        assert r.status_code == 200, r.text[:200]
        n_prompt = r.json()["timings"]["prompt_n"]
        assert 400 <= n_prompt <= 1024
        # one token per chunk of at most n_prompt / 4 tokens, at least
        assert during >= 4, (during, n_prompt)
    finally:
        st.close()
        s.stop()


def test_long_embedding_is_chunked_beside_a_stream():
    """An embedding is evaluated a chunk per step too (it used to take the
    scheduler for all of its input at once): the stream beside it keeps
    getting tokens, and the vector is the one computed alone, in whole -ub
    batches (the forward pass is batch invariant)."""
    s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "-b", "1024", "-ub", "1024", "--embeddings").start()
    words = ["alpha", "beta", "gamma", "sea", "wind", "stone", "river", "123"]
    text = " ".join(words[(i * 5) % len(words)] + str(i % 7) for i in range(250))
    try:
        alone = s.post("/embedding", json={"content": text}, timeout=900)
        assert alone.status_code == 200, alone.text[:200]
        st = Stream(s.url)
        try:
            st.wait_tokens(5)
            n0 = st.tokens()
            beside = s.post("/embedding", json={"content": text}, timeout=900)
            during = st.tokens() - n0
        finally:
            st.close()
        assert beside.status_code == 200, beside.text[:200]
        assert during >= 4, during
        a, b = alone.json()["embedding"], beside.json()["embedding"]
        assert len(a) == len(b) > 100
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4
    finally:
        s.stop()
