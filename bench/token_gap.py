#!/usr/bin/env python3
"""bench/token_gap.py - the longest gap between tokens of a stream while
expensive requests run beside it (issue 18).

Starts cllm-server on loopback (gemma, -np 2), opens one long SSE stream and
measures the time between its token events: first alone (the baseline), then
while other clients send, one after another, the expensive requests that
attacks used (a json_schema enum of 100,000 values, /tokenize with_pieces on
a 4 MB body, a grammar chain of 20,000 rules, a 1 MB prompt to tokenize,
a prompt of about 1,800 tokens that is evaluated).
Prints the baseline and loaded gap figures (max, p99) and each expensive
request's own time.

    CLLM_BUILD=build-hard .venv/bin/python bench/token_gap.py [--rounds 2]
"""
import argparse
import json
import os
import random
import sys
import multiprocessing as mp
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from server_util import MODEL_GEMMA, Server  # noqa: E402


def expensive_bodies():
    rnd = random.Random(1)
    words = ["alpha", "beta", "gamma", "sea", "wind", "über", "日本", "123", "!!"]
    text4m = " ".join(rnd.choice(words) for _ in range(700_000))[:4_000_000]
    chain = "root ::= r0\n" + "".join(f"r{i} ::= r{i + 1}\n" for i in range(20000)) + 'r20000 ::= "x"\n'
    return [
        ("enum100k", "/completion", {"prompt": "Pick:", "n_predict": 2,
                                     "json_schema": {"enum": [f"v{i}" for i in range(100_000)]}}),
        ("tokenize4MB", "/tokenize", {"content": text4m, "with_pieces": True}),
        ("chain20k", "/completion", {"prompt": "Say:", "n_predict": 2, "grammar": chain}),
        ("prompt1MB", "/completion", {"prompt": text4m[:1_000_000], "n_predict": 1}),
        # a prompt that fits the slot (2048 tokens): evaluated beside the stream's decode steps
        ("prompt1800", "/completion", {"prompt": text4m[:4_000], "n_predict": 1, "cache_prompt": False}),
    ]


def stream_gaps(url, t_stop, out):
    """In its own process (the load's JSON work in this one would hold the
    GIL and delay the timestamps): stream until t_stop is set, then put the
    (time, gap) list on out. time.perf_counter is CLOCK_MONOTONIC, the same
    in both processes."""
    body = {"prompt": "Tell me a long story about the sea.", "n_predict": 100000, "ignore_eos": True,
            "stream": True}
    gaps = []
    with requests.post(url + "/completion", json=body, stream=True, timeout=600) as r:
        last = None
        for line in r.iter_lines(chunk_size=1):
            if not line.startswith(b"data: "):
                continue
            now = time.perf_counter()
            if last is not None:
                gaps.append((now, now - last))
            last = now
            if t_stop.is_set():
                break
    out.put(gaps)


def summary(gs):
    if not gs:
        return "n=0"
    v = sorted(g for _, g in gs)
    return f"n={len(v)} median={v[len(v) // 2] * 1e3:.1f}ms p99={v[int(len(v) * 0.99)] * 1e3:.1f}ms " \
           f"max={v[-1] * 1e3:.1f}ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline-s", type=float, default=5.0)
    ap.add_argument("--top", type=int, default=8, help="list this many longest gaps")
    ap.add_argument("--only", default="", help="comma-separated names of the expensive requests to send")
    a = ap.parse_args()
    bodies = [(n, p, json.dumps(b).encode()) for n, p, b in expensive_bodies()]  # encoded before timing
    if a.only:
        bodies = [b for b in bodies if b[0] in a.only.split(",")]
    srv = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--body-limit", str(32 << 20)).start()
    try:
        stop, q = mp.Event(), mp.Queue()
        th = mp.Process(target=stream_gaps, args=(srv.url, stop, q), daemon=True)
        th.start()
        time.sleep(a.baseline_s)
        t_load = time.perf_counter()
        spans = []
        for _ in range(a.rounds):
            for name, path, body in bodies:
                t0 = time.perf_counter()
                r = requests.post(srv.url + path, data=body,
                                  headers={"Content-Type": "application/json"}, timeout=600)
                t1 = time.perf_counter()
                spans.append((name, r.status_code, t1 - t0, t0, t1))
        t_end = time.perf_counter()
        time.sleep(0.5)
        stop.set()
        gaps = q.get(timeout=60)
        th.join(30)
        base = [g for g in gaps if g[0] < t_load]
        loaded = [g for g in gaps if t_load <= g[0] <= t_end + 0.5]
        print(f"baseline (stream alone):        {summary(base)}")
        print(f"while expensive requests run:   {summary(loaded)}")
        for name, st, dt, _, _ in spans:
            print(f"  {name:12s} status {st} took {dt * 1e3:.0f} ms")
        print("longest gaps (end time after load start, the request running then):")
        for t, g in sorted(loaded, key=lambda x: -x[1])[:a.top]:
            who = [n for n, _, _, t0, t1 in spans if t0 <= t and t - g <= t1]
            print(f"  {g * 1e3:6.1f} ms at +{(t - t_load) * 1e3:7.0f} ms  {','.join(who) or '-'}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
