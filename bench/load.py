#!/usr/bin/env python3
"""load.py - a load run against a running cllm-server (or llama-server):
N clients, each sending streaming /completion requests one after another
for T seconds; then the figures.

    build/cllm-server -m models/gemma-3-270m-q4_k_m.gguf -np 8 -c 4096 &
    .venv/bin/python bench/load.py --url http://127.0.0.1:8080 --clients 32 --seconds 60

Reports requests completed, errors (a status other than 200, a broken
stream, no final `stop: true` event, an error event), tokens generated,
aggregate generated tokens/s (over the wall time from the first request to
the last one finishing), time to first token (request sent -> first token
event) p50/p90/p99/max, and per-request latency. Clients start no new
request after T seconds; requests in flight are waited for and counted.
No dependencies beyond the standard library.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "Once upon a time, in a small village by the sea,",
    "The three most important things to know about the Roman Empire are",
    "Write a short poem about the wind:",
    "def quicksort(xs):",
    "The capital of France is",
    "Here is a recipe for a simple tomato soup:",
    "In the year 2050, cities will",
    "A friendly letter to a neighbour who plays loud music:",
    "Explain photosynthesis to a child:",
    "The best way to learn a new language is",
    "List of ten fruits:",
    "My favourite book is",
]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.completed = 0
        self.errors = 0
        self.error_samples = []
        self.tokens = 0
        self.ttft = []
        self.latency = []
        self.first_send = None
        self.last_done = None

    def error(self, what):
        with self.lock:
            self.errors += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(what)


def one_request(host, port, path, body, headers, timeout):
    """Send one streaming request. Returns (n_tokens, ttft_s, latency_s) or
    raises with what went wrong."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read(300)!r}")
        ttft = None
        n_events = 0
        final = None
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if not line.startswith(b"data: "):
                raise RuntimeError(f"bad SSE line {line[:100]!r}")
            ev = json.loads(line[6:])
            if "error" in ev:
                raise RuntimeError(f"error event {ev['error']}")
            if ev.get("stop"):
                final = ev
                break
            n_events += 1
            if ttft is None:
                ttft = time.perf_counter() - t0
        t1 = time.perf_counter()
        if final is None:
            raise RuntimeError("stream ended without a final stop event")
        n = final.get("tokens_predicted", n_events)
        if ttft is None:  # nothing streamed before the end (e.g. EOS at once)
            ttft = t1 - t0
        return n, ttft, t1 - t0
    finally:
        conn.close()


def client(i, args, host, port, path, headers, deadline, stats):
    rng = random.Random(args.seed + i)
    while time.monotonic() < deadline:
        body = {"prompt": rng.choice(PROMPTS), "n_predict": args.n_predict, "stream": True,
                "temperature": args.temperature, "cache_prompt": args.cache_prompt}
        if args.ignore_eos:
            body["ignore_eos"] = True
        with stats.lock:
            if stats.first_send is None:
                stats.first_send = time.perf_counter()
        try:
            n, ttft, lat = one_request(host, port, path, body, headers, args.timeout)
        except Exception as e:  # counted, the client goes on
            stats.error(f"client {i}: {type(e).__name__}: {e}")
            continue
        with stats.lock:
            stats.completed += 1
            stats.tokens += n
            stats.ttft.append(ttft)
            stats.latency.append(lat)
            stats.last_done = time.perf_counter()


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def get_metrics(host, port, headers):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/metrics", headers=headers)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        if r.status != 200:
            return None
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--n-predict", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--ignore-eos", action="store_true", help="always generate n-predict tokens")
    ap.add_argument("--cache-prompt", action="store_true")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--timeout", type=float, default=600, help="per-request socket timeout (s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    u = urllib.parse.urlparse(args.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    path = (u.path.rstrip("/") or "") + "/completion"
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}

    m0 = get_metrics(host, port, headers)
    stats = Stats()
    deadline = time.monotonic() + args.seconds
    threads = [threading.Thread(target=client, args=(i, args, host, port, path, headers, deadline, stats),
                                daemon=True) for i in range(args.clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_end = time.perf_counter()
    m1 = get_metrics(host, port, headers)

    wall = (stats.last_done or t_end) - (stats.first_send or t_start)
    fig = {
        "clients": args.clients,
        "seconds": args.seconds,
        "n_predict": args.n_predict,
        "requests_completed": stats.completed,
        "errors": stats.errors,
        "tokens_generated": stats.tokens,
        "wall_s": round(wall, 2),
        "aggregate_tokens_per_s": round(stats.tokens / wall, 1) if wall > 0 else 0.0,
        "requests_per_s": round(stats.completed / wall, 2) if wall > 0 else 0.0,
        "ttft_p50_ms": round(pct(stats.ttft, 50) * 1e3, 1),
        "ttft_p90_ms": round(pct(stats.ttft, 90) * 1e3, 1),
        "ttft_p99_ms": round(pct(stats.ttft, 99) * 1e3, 1),
        "ttft_max_ms": round(max(stats.ttft) * 1e3, 1) if stats.ttft else float("nan"),
        "latency_p50_ms": round(pct(stats.latency, 50) * 1e3, 1),
        "latency_p99_ms": round(pct(stats.latency, 99) * 1e3, 1),
    }
    if m0 and m1:
        d_calls = m1.get("llamacpp:n_decode_total", 0) - m0.get("llamacpp:n_decode_total", 0)
        busy = (m1.get("llamacpp:n_busy_slots_per_decode", 0) * m1.get("llamacpp:n_decode_total", 0)
                - m0.get("llamacpp:n_busy_slots_per_decode", 0) * m0.get("llamacpp:n_decode_total", 0))
        fig["server_decode_calls"] = int(d_calls)
        fig["server_busy_slots_per_decode"] = round(busy / d_calls, 2) if d_calls else 0.0
        fig["server_tokens_predicted"] = int(m1.get("llamacpp:tokens_predicted_total", 0)
                                             - m0.get("llamacpp:tokens_predicted_total", 0))

    print(f"load run: {args.clients} streaming clients for {args.seconds:g} s against {args.url} "
          f"(n_predict {args.n_predict})")
    print(f"  requests completed   {fig['requests_completed']}")
    print(f"  errors               {fig['errors']}")
    print(f"  tokens generated     {fig['tokens_generated']} in {fig['wall_s']} s")
    print(f"  aggregate tokens/s   {fig['aggregate_tokens_per_s']}")
    print(f"  requests/s           {fig['requests_per_s']}")
    print(f"  TTFT p50 / p90 / p99 / max   {fig['ttft_p50_ms']} / {fig['ttft_p90_ms']} / {fig['ttft_p99_ms']} / "
          f"{fig['ttft_max_ms']} ms")
    print(f"  latency p50 / p99    {fig['latency_p50_ms']} / {fig['latency_p99_ms']} ms")
    if "server_decode_calls" in fig:
        print(f"  server: {fig['server_decode_calls']} decode calls, {fig['server_busy_slots_per_decode']} busy "
              f"slots per decode, {fig['server_tokens_predicted']} tokens predicted")
    for e in stats.error_samples:
        print("  error:", e)
    if args.json:
        print(json.dumps(fig))
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
