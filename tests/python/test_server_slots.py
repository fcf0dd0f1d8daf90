"""cllm-server: parallel slots and continuous batching (-np 4): concurrent
requests progress in the same engine iterations and give the same text as
alone (batch invariance, end to end); a client that leaves frees its slot at
once; more requests than slots queue and complete; /slots and /health show
it; cache_prompt picks the slot that shares the longest prefix."""
import json
import socket
import threading
import time

import requests

from server_util import MODEL_GEMMA, Server, server_fixture

N_SLOTS = 4
srv = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", str(N_SLOTS), "--metrics")

PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "def fibonacci(n):",
           "The three primary colors are", "My favourite food is"]


def post_completion(url, body, out, i):
    try:
        r = requests.post(url + "/completion", json=body, timeout=120)
        out[i] = (r.status_code, r.json())
    except Exception as e:  # reported by the test
        out[i] = (None, repr(e))


def run_concurrently(srv, bodies, poll=None):
    """POST bodies at once (one thread each); while they run, call poll()
    repeatedly. Returns the (status, json) of each."""
    out = [None] * len(bodies)
    threads = [threading.Thread(target=post_completion, args=(srv.url, b, out, i)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if poll:
            poll()
        time.sleep(0.005)
    for t in threads:
        t.join()
    return out


def slots(srv):
    r = srv.get("/slots")
    assert r.status_code == 200, r.text
    return r.json()


def wait_until(pred, timeout=10.0, step=0.002):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def body(prompt, n=32, **kw):
    return {"prompt": prompt, "n_predict": n, "temperature": 0, "ignore_eos": True, **kw}


# ------------------------------------------------------------ idle state

def test_health_idle(srv):
    r = srv.get("/health")
    assert r.status_code == 200
    j = r.json()
    assert j["status"] == "ok" and j["slots_idle"] == N_SLOTS and j["slots_processing"] == 0
    assert "slots" not in j
    j = srv.get("/health?include_slots").json()
    assert len(j["slots"]) == N_SLOTS
    assert srv.get("/health?fail_on_no_slot=1").status_code == 200


def test_slots_idle_fields(srv):
    s = slots(srv)
    assert [x["id"] for x in s] == list(range(N_SLOTS))
    for x in s:
        assert x["n_ctx"] == 1024 // N_SLOTS
        assert x["is_processing"] is False and x["state"] == 0
        nt = x["next_token"]
        assert {"has_next_token", "n_remain", "n_decoded", "stopped_eos", "stopped_limit", "stopped_word",
                "stopping_word"} <= set(nt)
        assert {"temperature", "top_k", "samplers", "stop", "n_predict", "seed", "model"} <= set(x)


# ------------------------------------------------------------ continuous batching

def test_four_concurrent_batched_and_batch_invariant(srv):
    n = 32
    alone = [srv.complete(p, **{k: v for k, v in body(p, n).items() if k != "prompt"})["content"]
             for p in PROMPTS[:N_SLOTS]]
    m0 = srv.metrics()
    seen = {"max_busy": 0, "all_progressing": False, "snap": None}

    def poll():
        s = slots(srv)
        busy = [x for x in s if x["is_processing"]]
        seen["max_busy"] = max(seen["max_busy"], len(busy))
        if len(busy) == N_SLOTS:
            dec = [x["next_token"]["n_decoded"] for x in s]
            prev = seen["snap"]
            if prev and all(d > p for d, p in zip(dec, prev)):
                seen["all_progressing"] = True  # every slot produced tokens between two looks
            seen["snap"] = dec
        else:
            seen["snap"] = None

    out = run_concurrently(srv, [body(p, n) for p in PROMPTS[:N_SLOTS]], poll)
    m1 = srv.metrics()
    for (status, j), want in zip(out, alone):
        assert status == 200, j
        assert j["tokens_predicted"] == n
        assert j["content"] == want, "batched text differs from the text of the request alone"
    assert sorted(j["id_slot"] for _, j in out) == list(range(N_SLOTS))
    assert seen["max_busy"] == N_SLOTS
    assert seen["all_progressing"], "never saw all four slots advance together"
    # the four generations shared decode calls: far fewer than 4 * n of them
    d_calls = m1["llamacpp:n_decode_total"] - m0["llamacpp:n_decode_total"]
    assert d_calls < 2 * n, d_calls
    busy_sum = (m1["llamacpp:n_busy_slots_per_decode"] * m1["llamacpp:n_decode_total"]
                - m0["llamacpp:n_busy_slots_per_decode"] * m0["llamacpp:n_decode_total"])
    assert busy_sum / d_calls > 2.5, busy_sum / d_calls
    assert m1["llamacpp:n_busy_slots_per_decode"] > 1


def test_new_request_joins_running_batch(srv):
    """A request that arrives while another generates starts at once (does
    not wait for the first to finish)."""
    long_alone = srv.complete(PROMPTS[0], n_predict=60, ignore_eos=True)["content"]
    short_alone = srv.complete(PROMPTS[1], n_predict=6)["content"]
    out = [None, None]
    t1 = threading.Thread(target=post_completion, args=(srv.url, body(PROMPTS[0], 60), out, 0))
    t1.start()
    assert wait_until(lambda: any(x["is_processing"] and x["next_token"]["n_decoded"] > 2 for x in slots(srv)))
    t0 = time.monotonic()
    r = srv.complete(PROMPTS[1], n_predict=6)
    dt = time.monotonic() - t0
    first_running = t1.is_alive()
    t1.join()
    assert out[0][0] == 200
    assert first_running, "the short request waited for the long one"
    assert r["tokens_predicted"] == 6
    assert dt < 5
    # a prompt evaluated in the same batches as another slot's generation:
    # both texts as alone
    assert r["content"] == short_alone
    assert out[0][1]["content"] == long_alone


# ------------------------------------------------------------ disconnects

def open_stream(srv, b):
    data = json.dumps(b).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return s


def slot_busy(srv, i):
    return slots(srv)[i]["is_processing"]


# A client that leaves must stop its generation at once. That is checked in
# engine steps, not wall-clock time (which flakes on a loaded machine): the
# server's decode count (llamacpp:n_decode_total, one per engine step) may
# grow by a handful of steps after the disconnect, never by the thousands the
# request asked for. The deadline for the slot to go idle is only a hang guard.
STEPS_AFTER_LEAVING = 100


def decodes(srv):
    return srv.metrics()["llamacpp:n_decode_total"]


def test_disconnect_mid_stream_frees_slot(srv):
    s = open_stream(srv, body(PROMPTS[0], 5000, stream=True, id_slot=2))
    buf = b""
    while b"data: " not in buf:
        chunk = s.recv(4096)
        assert chunk, buf
        buf += chunk
    assert slot_busy(srv, 2)
    s.close()
    d0 = decodes(srv)
    assert wait_until(lambda: not slot_busy(srv, 2), timeout=120), "slot still busy 120 s after the client left"
    steps = decodes(srv) - d0
    assert steps < STEPS_AFTER_LEAVING, f"{steps} engine steps after the client left"
    # the slot works afterwards
    j = srv.complete(PROMPTS[0], n_predict=2, id_slot=2)
    assert j["tokens_predicted"] == 2


def test_disconnect_non_streaming_frees_slot(srv):
    s = open_stream(srv, body(PROMPTS[1], 5000, id_slot=1))
    assert wait_until(lambda: slots(srv)[1]["next_token"]["n_decoded"] > 0, timeout=60)
    s.close()
    d0 = decodes(srv)
    assert wait_until(lambda: not slot_busy(srv, 1), timeout=120), "slot still busy 120 s after the client left"
    steps = decodes(srv) - d0
    assert steps < STEPS_AFTER_LEAVING, f"{steps} engine steps after the client left"


def test_disconnect_during_long_prompt():
    """A client that leaves while its long prompt is being evaluated is
    noticed between prompt chunks: the slot frees long before the prompt
    would have been done (counted in prompt tokens, not seconds)."""
    s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "1", "-ub", "128", "--metrics").start()
    try:
        words = s.post("/tokenize", json={"content": " The quick brown fox jumps over the lazy dog."}).json()["tokens"]
        prompt = [2] + (words * 400)[:2400]
        m0 = s.metrics()["llamacpp:prompt_tokens_total"]
        c = open_stream(s, {"prompt": prompt, "n_predict": 4})
        assert wait_until(lambda: s.metrics()["llamacpp:prompt_tokens_total"] > m0, timeout=60)
        c.close()
        m_close = s.metrics()["llamacpp:prompt_tokens_total"]
        assert wait_until(lambda: not slot_busy(s, 0), timeout=120)
        done = s.metrics()["llamacpp:prompt_tokens_total"] - m0
        assert done < len(prompt) / 2, f"{done} of {len(prompt)} prompt tokens evaluated for a client that left"
        # noticed at the next chunk boundary: the chunk under way (and at
        # most one more, if the close raced the metrics read) is finished
        after = s.metrics()["llamacpp:prompt_tokens_total"] - m_close
        assert after <= 2 * 128, f"{after} prompt tokens evaluated after the client left"
    finally:
        s.stop()


def test_disconnect_while_queued_drops_task(srv):
    # fill every slot, queue one more, then leave while it waits
    out = [None] * N_SLOTS
    ths = [threading.Thread(target=post_completion, args=(srv.url, body(PROMPTS[i], 48, id_slot=i), out, i))
           for i in range(N_SLOTS)]
    for t in ths:
        t.start()
    assert wait_until(lambda: all(x["is_processing"] for x in slots(srv)))
    s = open_stream(srv, body(PROMPTS[4], 5000))
    assert wait_until(lambda: srv.metrics()["llamacpp:requests_deferred"] >= 1, timeout=5)
    s.close()
    for t in ths:
        t.join()
    assert all(o[0] == 200 for o in out)
    # the queued task was dropped: no slot picks up the 5000-token job
    time.sleep(0.2)
    assert not any(x["is_processing"] for x in slots(srv))
    assert srv.metrics()["llamacpp:requests_deferred"] == 0


def test_disconnect_chaos(srv):
    """Clients that come and go at random points (before the answer, after
    the first event, mid-stream, after all of it), non-streaming ones among
    them, for a while; then every slot is idle, nothing is queued, and a
    request gives the text it gives alone."""
    import random
    ref = srv.complete(PROMPTS[3], n_predict=8)["content"]
    stop_at = time.monotonic() + 2.0
    errors = []

    def worker(seed):
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            b = body(PROMPTS[rng.randrange(5)], rng.choice([4, 16, 40]), stream=rng.random() < 0.7)
            try:
                c = open_stream(srv, b)
                mode = rng.randrange(4)
                got = b""
                if mode > 0:
                    c.settimeout(30)
                    want = {1: 1, 2: rng.randrange(2, 2000), 3: 10 ** 9}[mode]
                    while len(got) < want:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        got += chunk
                        if b"0\r\n\r\n" in got or (b"Content-Length" in got and got.endswith(b"}")):
                            break  # the whole response (the connection stays open: keep-alive)
                c.close()
            except OSError as e:
                m = srv.metrics()
                errors.append((repr(e), b, mode, got[-300:], [(x["id"], x["is_processing"], x["next_token"])
                                                             for x in slots(srv)],
                               m["llamacpp:requests_deferred"], m["llamacpp:requests_processing"]))
            time.sleep(rng.random() * 0.05)

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errors, errors[:5]
    assert wait_until(lambda: not any(x["is_processing"] for x in slots(srv)), timeout=5), slots(srv)
    m = srv.metrics()
    assert m["llamacpp:requests_deferred"] == 0 and m["llamacpp:requests_processing"] == 0
    assert srv.complete(PROMPTS[3], n_predict=8)["content"] == ref


# ------------------------------------------------------------ queueing

def test_queued_request_completes_after_a_slot_frees(srv):
    n = 24
    seen = {"deferred": 0, "full_health": None, "fail_503": False, "processing": 0}

    def poll():
        m = srv.metrics()
        seen["deferred"] = max(seen["deferred"], m["llamacpp:requests_deferred"])
        seen["processing"] = max(seen["processing"], m["llamacpp:requests_processing"])
        h = srv.get("/health")
        if h.json()["status"] == "no slot available":
            seen["full_health"] = (h.status_code, h.json())
            f = srv.get("/health?fail_on_no_slot=1")
            if f.status_code == 503:
                assert f.json() == {"status": "no slot available", "slots_idle": 0, "slots_processing": N_SLOTS}
                seen["fail_503"] = True

    bodies = [body(p, n) for p in PROMPTS]  # 5 requests, 4 slots
    alone5 = srv.complete(PROMPTS[4], n_predict=n, ignore_eos=True)["content"]
    out = run_concurrently(srv, bodies, poll)
    assert all(o[0] == 200 for o in out), out
    assert all(o[1]["tokens_predicted"] == n for o in out)
    assert out[4][1]["content"] == alone5
    assert seen["deferred"] >= 1, "never saw a deferred request"
    assert seen["processing"] == N_SLOTS
    code, h = seen["full_health"]
    assert code == 200 and h["slots_idle"] == 0 and h["slots_processing"] == N_SLOTS
    assert seen["fail_503"], "/health?fail_on_no_slot did not answer 503 with every slot busy"
    assert srv.metrics()["llamacpp:requests_deferred"] == 0


def test_many_streams_more_than_threads(srv):
    """12 streaming requests on 4 slots (6 HTTP threads): the waiting ones
    hold no thread, all complete, and /health answers meanwhile."""
    n = 8
    out = [None] * 12
    stream_bodies = [body(PROMPTS[i % 5], n, stream=True) for i in range(12)]

    def streamer(i):
        try:
            r = requests.post(srv.url + "/completion", json=stream_bodies[i], stream=True, timeout=120)
            from server_util import sse_events
            ev = list(sse_events(r))
            out[i] = (r.status_code, ev[-1])
        except Exception as e:
            out[i] = (None, repr(e))

    ths = [threading.Thread(target=streamer, args=(i,)) for i in range(12)]
    for t in ths:
        t.start()
    worst = 0.0
    while any(t.is_alive() for t in ths):
        t0 = time.monotonic()
        assert srv.get("/health").status_code == 200
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.01)
    for t in ths:
        t.join()
    for code, last in out:
        assert code == 200, last
        assert last["stop"] is True and last["tokens_predicted"] == n
    assert worst < 1.0, f"/health took {worst:.2f} s while streams waited"


def test_slots_while_processing(srv):
    out = [None]
    p = PROMPTS[2]
    t = threading.Thread(target=post_completion,
                         args=(srv.url, body(p, 40, id_slot=3, stop=["\u00a7"], top_k=5), out, 0))
    t.start()
    x = wait_until(lambda: (lambda s: s if s["is_processing"] and s["next_token"]["n_decoded"] > 0 else None)(
        slots(srv)[3]))
    t.join()
    assert x, "never saw slot 3 processing"
    assert x["prompt"] == p
    assert x["state"] == 1 and x["id_task"] >= 0
    assert x["stop"] == ["\u00a7"] and x["top_k"] == 5 and x["n_predict"] == 40
    nt = x["next_token"]
    assert nt["has_next_token"] is True and 0 < nt["n_decoded"] <= 40 and nt["n_remain"] == 40 - nt["n_decoded"]
    assert out[0][0] == 200
    assert slots(srv)[3]["n_past"] > 0  # the slot keeps its tokens


# ------------------------------------------------------------ slot choice

def test_cache_prompt_prefers_slot_with_longest_prefix(srv):
    base = "A long shared preamble about the history of the Roman Empire and its emperors, part"
    j = srv.complete(base + " one.", n_predict=2, cache_prompt=True)
    home = j["id_slot"]
    # use the other slots meanwhile (least recently used ones)
    for p in PROMPTS[:3]:
        srv.complete(p, n_predict=1, cache_prompt=True)
    k = srv.complete(base + " two.", n_predict=2, cache_prompt=True)
    assert k["id_slot"] == home
    assert k["tokens_cached"] > 10


def test_cache_prompt_borrows_prefix_from_another_slot(srv):
    """A request pinned to a slot that does not hold its prefix reuses the
    prefix another slot holds (copied, pages shared): tokens_cached is the
    common token prefix, and the text is the one computed from scratch."""
    base = "An unusual preamble about lighthouses, their keepers, and the ships they guided, part"
    a_prompt, b_prompt = base + " one.", base + " two."
    tok = lambda t: srv.post("/tokenize", json={"content": t, "add_special": True}).json()["tokens"]
    ta, tb = tok(a_prompt), tok(b_prompt)
    common = next(i for i, (x, y) in enumerate(zip(ta, tb)) if x != y)
    assert common > 10
    # slot 1 holds something unrelated; slot 0 holds the prefix
    srv.complete("Unrelated words about cooking pasta.", n_predict=1, id_slot=1, cache_prompt=True)
    srv.complete(a_prompt, n_predict=2, id_slot=0, cache_prompt=True)
    j = srv.complete(b_prompt, n_predict=8, id_slot=1, cache_prompt=True, temperature=0)
    assert j["id_slot"] == 1
    assert j["tokens_cached"] == common, (j["tokens_cached"], common)
    assert j["timings"]["prompt_n"] == len(tb) - common
    fresh = srv.complete(b_prompt, n_predict=8, id_slot=2, cache_prompt=False, temperature=0)
    assert fresh["tokens_cached"] == 0 and fresh["content"] == j["content"]
