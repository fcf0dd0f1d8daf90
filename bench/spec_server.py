#!/usr/bin/env python3
"""spec_server.py - speculative decoding through the HTTP server: two
cllm-servers from one binary, plain and with `--spec-type ngram-simple`
(plus --spec-args), get the same repetitive request (rewrite a JSON object
with one field changed, greedy) in alternation; per run the generation
speed (tokens / wall time of the request, and the server's own
timings.predicted_per_second), then medians, the speed-up, and whether the
texts are identical (they must be).

    .venv/bin/python bench/spec_server.py --bin build/cllm-server \\
        -m models/gemma-3-270m-q4_k_m.gguf --runs 5 --n-predict 256
"""
import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

FIELDS = ",\n".join(f'  "field_{i}": {{"name": "item {i}", "price": {i * 3 + 0.5}, "stock": {i * 7 % 13}}}'
                    for i in range(12))
JSON_PROMPT = ("<start_of_turn>user\nRewrite this JSON with the field \"city\" changed to \"Lyon\". "
               "Output only the JSON.\n\n{\n  \"city\": \"Paris\",\n" + FIELDS + "\n}<end_of_turn>\n"
               "<start_of_turn>model\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, model, extra):
    port = free_port()
    proc = subprocess.Popen([binary, "-m", model, "-c", "4096", "--port", str(port)] + extra,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def request(port, n_predict):
    body = json.dumps({"prompt": JSON_PROMPT, "n_predict": n_predict, "temperature": 0,
                       "cache_prompt": False}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        out = json.loads(r.read())
    wall = time.perf_counter() - t0
    return out, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n-predict", type=int, default=256)
    ap.add_argument("--spec-args", default="", help="more arguments for the speculative server")
    args = ap.parse_args()
    plain = start(args.bin, args.model, [])
    spec = start(args.bin, args.model, ["--spec-type", "ngram-simple"] + shlex.split(args.spec_args))
    res = {"plain": [], "spec": []}
    texts = {}
    try:
        for r in range(args.runs):
            for name in (["plain", "spec"] if r % 2 == 0 else ["spec", "plain"]):
                port = (plain if name == "plain" else spec)[1]
                out, wall = request(port, args.n_predict)
                n = out["tokens_predicted"]
                tps = out.get("timings", {}).get("predicted_per_second", float("nan"))
                res[name].append(tps)
                texts.setdefault(name, out["content"])
                same = out["content"] == texts[name]
                print(f"run {r} {name:5s}: {n} tokens, {tps:.1f} tok/s (server timings), "
                      f"request {wall:.2f} s{'' if same else ' (text differs from its first run!)'}", flush=True)
    finally:
        for proc, _ in (plain, spec):
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    mp, ms = statistics.median(res["plain"]), statistics.median(res["spec"])
    ident = texts["plain"] == texts["spec"]
    print(f"median: plain {mp:.1f} tok/s, speculative {ms:.1f} tok/s, speed-up {ms / mp:.2f}x; "
          f"identical text: {'yes' if ident else 'NO'}")
    return 0 if ident else 1


if __name__ == "__main__":
    sys.exit(main())
