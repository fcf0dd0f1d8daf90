#!/usr/bin/env python3
"""bench/soak.py - a bounded soak test of cllm-server on loopback (issue 18).

Starts cllm-server on 127.0.0.1 (gemma by default) and runs --clients
concurrent clients for --seconds, each looping over a mix of requests:
streaming completions (some cancelled after a few tokens), plain
completions, grammar/json_schema completions, chat, tokenize, embeddings
(when --embeddings) and slot save/restore. Everything stays on loopback;
the run ends after --seconds (each request has a timeout).

Reports: requests by kind and outcome (every request must be answered:
2xx, or cleanly refused with 4xx/503; a 5xx other than 503, a timeout or a
dropped connection counts as lost), p50/p99 time to first token of the
streams, RSS after warm-up and at the end (and the change in percent),
and whether every slot is idle at the end (no stuck slot). Exit status 1
when anything was lost or a slot is stuck.

    CLLM_BUILD=build-hard .venv/bin/python bench/soak.py --clients 256 --seconds 600
"""
import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from server_util import MODEL_GEMMA, Server  # noqa: E402

PROMPTS = ["Tell me about the sea.", "Write a haiku about wind.", "List three fruits:", "Once upon a time",
           "The capital of France is", "Explain rain in one sentence."]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Soak:
    def __init__(self, url, n_slots, deadline, embeddings):
        self.url, self.n_slots, self.deadline, self.embeddings = url, n_slots, deadline, embeddings
        self.lock = threading.Lock()
        self.outcomes = Counter()
        self.lost = []
        self.ttft = []

    def record(self, kind, status):
        with self.lock:
            if status is None or (status >= 500 and status != 503):
                self.outcomes[(kind, "LOST")] += 1
                self.lost.append((kind, status))
            else:
                self.outcomes[(kind, status)] += 1

    def one(self, sess, rnd):
        kinds = ["stream", "stream_cancel", "complete", "grammar", "schema", "chat", "tokenize", "slots"]
        if self.embeddings:
            kinds.append("embed")
        kind = rnd.choice(kinds)
        p = rnd.choice(PROMPTS)
        try:
            if kind in ("stream", "stream_cancel"):
                t0 = time.perf_counter()
                with sess.post(self.url + "/completion", json={"prompt": p, "n_predict": rnd.randint(4, 32),
                                                               "stream": True}, stream=True, timeout=120) as r:
                    got = 0
                    for line in r.iter_lines():
                        if line.startswith(b"data: "):
                            if got == 0 and r.status_code == 200:
                                with self.lock:
                                    self.ttft.append(time.perf_counter() - t0)
                            got += 1
                            if kind == "stream_cancel" and got >= 3:
                                break
                    self.record(kind, r.status_code)
                return
            if kind == "complete":
                r = sess.post(self.url + "/completion", json={"prompt": p, "n_predict": 8}, timeout=120)
            elif kind == "grammar":
                r = sess.post(self.url + "/completion", json={"prompt": p, "n_predict": 8,
                                                              "grammar": 'root ::= ("yes" | "no") " " [a-z]+'},
                              timeout=120)
            elif kind == "schema":
                r = sess.post(self.url + "/completion", json={"prompt": p, "n_predict": 16, "json_schema": {
                    "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}, timeout=120)
            elif kind == "chat":
                r = sess.post(self.url + "/v1/chat/completions", json={
                    "messages": [{"role": "user", "content": p}], "max_tokens": 8}, timeout=120)
            elif kind == "tokenize":
                r = sess.post(self.url + "/tokenize", json={"content": p * 10, "with_pieces": True}, timeout=120)
            elif kind == "embed":
                r = sess.post(self.url + "/embedding", json={"content": p}, timeout=120)
            else:  # slots: save then restore a slot
                slot = rnd.randrange(self.n_slots)
                name = f"soak{slot}.bin"
                r = sess.post(self.url + f"/slots/{slot}?action=save", json={"filename": name}, timeout=120)
                if r.status_code == 200:
                    r = sess.post(self.url + f"/slots/{slot}?action=restore", json={"filename": name},
                                  timeout=120)
            self.record(kind, r.status_code)
        except requests.RequestException as e:
            self.record(kind, None)
            with self.lock:
                self.lost.append((kind, repr(e)[:200]))

    def client(self, seed):
        rnd = random.Random(seed)
        sess = requests.Session()
        while time.monotonic() < self.deadline:
            self.one(sess, rnd)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=None, help="seconds before the first RSS figure")
    ap.add_argument("--model", default=MODEL_GEMMA)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--embeddings", action="store_true")
    a = ap.parse_args()
    warm = a.warmup if a.warmup is not None else min(60.0, a.seconds / 5)
    save = tempfile.mkdtemp(prefix="cllm-soak-")
    args = ["-m", a.model, "-c", str(512 * a.slots), "-np", str(a.slots), "--slot-save-path", save,
            "--max-connections", str(a.clients + 64), "--max-queue", str(a.clients)]
    if a.embeddings:
        args.append("--embeddings")
    srv = Server(*args).start()
    try:
        deadline = time.monotonic() + a.seconds
        soak = Soak(srv.url, a.slots, deadline, a.embeddings)
        threads = [threading.Thread(target=soak.client, args=(i,), daemon=True) for i in range(a.clients)]
        for t in threads:
            t.start()
        time.sleep(min(warm, a.seconds))
        rss_warm = rss_kb(srv.proc.pid)
        peak = rss_warm
        while time.monotonic() < deadline:
            time.sleep(1)
            peak = max(peak, rss_kb(srv.proc.pid))
        for t in threads:
            t.join(150)
        rss_end = rss_kb(srv.proc.pid)
        # no stuck slot: every slot idle once the clients are gone
        idle = None
        for _ in range(100):
            h = requests.get(srv.url + "/health", timeout=10).json()
            idle = h.get("slots_idle")
            if idle == a.slots:
                break
            time.sleep(0.1)
        total = sum(soak.outcomes.values())
        n_lost = sum(v for (k, s), v in soak.outcomes.items() if s == "LOST")
        print(f"clients {a.clients}, {a.seconds:.0f} s, {total} requests, lost {n_lost}")
        for (k, s), v in sorted(soak.outcomes.items(), key=lambda x: (x[0][0], str(x[0][1]))):
            print(f"  {k:14s} {str(s):5s} {v}")
        print(f"time to first token: p50 {pct(soak.ttft, 0.5) * 1e3:.0f} ms, p99 {pct(soak.ttft, 0.99) * 1e3:.0f} ms"
              f" ({len(soak.ttft)} streams)")
        print(f"RSS after warm-up {rss_warm / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB"
              f" ({(rss_end - rss_warm) * 100.0 / max(rss_warm, 1):+.1f}%)")
        print(f"slots idle at the end: {idle}/{a.slots}")
        for k, e in soak.lost[:10]:
            print(f"  lost: {k}: {e}")
        ok = n_lost == 0 and idle == a.slots and srv.alive()
        sys.exit(0 if ok else 1)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
