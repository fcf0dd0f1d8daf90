"""cllm-server: streaming /completion (Server-Sent Events): one `data:
{json}` line per piece of text, a final event with stop: true, the full
generation_settings and timings; the same text as without streaming at
temperature 0; pieces held until their UTF-8 character is complete."""
import json
import socket

from server_util import MODEL_GEMMA, server_fixture

gemma = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", "2")

PROMPT = "The capital of France is"


def raw_sse(srv, body):
    """The raw bytes of a streamed response (headers stripped), over a plain socket."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode(), body


def dechunk(body):
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            break
        out += rest[:n]
        assert rest[n:n + 2] == b"\r\n"
        rest = rest[n + 2:]
    return out


def test_sse_wire_format(gemma):
    head, body = raw_sse(gemma, {"prompt": PROMPT, "n_predict": 6, "temperature": 0, "stream": True})
    assert head.startswith("HTTP/1.1 200"), head
    assert "text/event-stream" in head.lower()
    if "chunked" in head.lower():
        body = dechunk(body)
    text = body.decode("utf-8")
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    events = []
    for b in blocks:
        assert b.startswith("data: ") and "\n" not in b, repr(b)
        events.append(json.loads(b[6:]))
    assert all(e["stop"] is False for e in events[:-1])
    assert events[-1]["stop"] is True


def test_stream_events(gemma):
    ev = gemma.stream(PROMPT, n_predict=8)
    assert len(ev) >= 2
    for e in ev[:-1]:
        assert e["stop"] is False
        assert isinstance(e["content"], str)
    last = ev[-1]
    assert last["stop"] is True
    assert last["tokens_predicted"] == 8 and last["stopped_limit"] is True
    g = last["generation_settings"]
    assert g["stream"] is True and g["n_predict"] == 8 and g["n_ctx"] == 512
    assert {"prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "predicted_per_second"} <= set(last["timings"])
    assert last["timings"]["predicted_n"] == 8
    assert "tokens_evaluated" in last and "truncated" in last and "stopping_word" in last


def joined(ev):
    return "".join(e["content"] for e in ev)


def test_stream_same_text_as_non_stream(gemma):
    for prompt in (PROMPT, "def fibonacci(n):"):
        a = gemma.complete(prompt, n_predict=20)
        ev = gemma.stream(prompt, n_predict=20)
        assert joined(ev) == a["content"], prompt
        assert ev[-1]["tokens_predicted"] == a["tokens_predicted"]


def test_stream_stop_word_held_back(gemma):
    full = gemma.complete(PROMPT, n_predict=16)["content"]
    words = full.split(" ")
    stop = words[3][-2:] + " " + words[4][:2]
    ev = gemma.stream(PROMPT, n_predict=16, stop=[stop])
    text = joined(ev)
    assert text == full[:full.index(stop)]
    # no event carries any part of the stop string past the cut
    assert stop not in text
    assert ev[-1]["stopped_word"] is True and ev[-1]["stopping_word"] == stop


def test_stream_n_probs(gemma):
    ev = gemma.stream(PROMPT, n_predict=4, n_probs=2)
    with_probs = [e for e in ev if e.get("completion_probabilities")]
    assert len(with_probs) == 4
    for e in with_probs:
        cp = e["completion_probabilities"]
        assert len(cp) == 1 and len(cp[0]["probs"]) == 2


def test_stream_utf8_pieces_complete(gemma):
    for prompt in ("\u65e5\u672c\u306e\u9996\u90fd\u306f", "Emoji for happy: \U0001f600, for sad:"):
        a = gemma.complete(prompt, n_predict=12)
        ev = gemma.stream(prompt, n_predict=12)
        assert joined(ev) == a["content"]
        assert any(ord(c) > 0x7f for c in a["content"]), a["content"]  # the test means something
        for e in ev:
            assert "\ufffd" not in e["content"], e


def test_stream_error_before_start_is_json(gemma):
    r = gemma.post("/completion", json={"prompt": PROMPT, "stream": True, "n_predict": "x"})
    assert r.status_code == 400
    assert "n_predict" in r.json()["error"]["message"]


def test_stream_n_predict_zero(gemma):
    ev = gemma.stream(PROMPT, n_predict=0)
    assert ev[-1]["stop"] is True and ev[-1]["tokens_predicted"] == 0
    assert joined(ev) == ""


def test_keep_alive_after_stream(gemma):
    """The connection that carried a whole event stream serves the next
    request (the suspended/resumed connection is left in a good state)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", gemma.port, timeout=60)
    for _ in range(2):
        c.request("POST", "/completion", body=json.dumps({"prompt": PROMPT, "n_predict": 3, "stream": True}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200
        body = r.read().decode()
        assert body.count("data: ") >= 2 and '"stop":true' in body
        c.request("GET", "/health")
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
    c.close()
