#!/usr/bin/env python3
"""ab_load.py - A/B load runs of two cllm-server builds, alternating.

For each of --runs rounds, each server (A, then B; the order flips every
round) is started on a free port with CLLM_SCHED_PROFILE=1, bench/load.py
is run against it, and the server is stopped with SIGINT, which makes the
scheduler print its per-step overhead. Reported per server: aggregate
tokens/s and the scheduler's overhead per decode step (wall and CPU
microseconds outside engine_decode), every run and the medians.

    .venv/bin/python bench/ab_load.py --a /tmp/base/build/cllm-server \\
        --b build-speed/cllm-server -m models/gemma-3-270m-q4_k_m.gguf \\
        --np 8 --clients 32 --seconds 30 --runs 3

Extra server arguments go after `--` (both servers get them); --a-args and
--b-args add arguments to one of them (e.g. --b-args "--spec-type ngram-simple").
Load options (--n-predict, --temperature, --ignore-eos) are passed to load.py.
"""
import argparse
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILE_RE = re.compile(r"scheduler: (\d+) steps, .*?\(([\d.]+) us per step\), ([\d.]+) us CPU per step")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the server exited while starting")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def one_run(binary, args, extra, port):
    cmd = [binary, "-m", args.model, "-np", str(args.np), "-c", str(args.ctx), "--port", str(port)] + extra
    env = dict(os.environ, CLLM_SCHED_PROFILE="1")
    err_path = f"/tmp/ab_load_{port}.err"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        wait_ready(port, proc)
        load = [sys.executable, os.path.join(HERE, "load.py"), "--url", f"http://127.0.0.1:{port}",
                "--clients", str(args.clients), "--seconds", str(args.seconds),
                "--n-predict", str(args.n_predict), "--temperature", str(args.temperature), "--json"]
        if args.ignore_eos:
            load.append("--ignore-eos")
        out = subprocess.run(load, capture_output=True, text=True, check=False).stdout
        fig = json.loads(out.strip().splitlines()[-1])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = open(err_path).read()
    os.unlink(err_path)
    m = PROFILE_RE.search(text)
    fig["sched_us_per_step"] = float(m.group(2)) if m else float("nan")
    fig["sched_cpu_us_per_step"] = float(m.group(3)) if m else float("nan")
    fig["steps"] = int(m.group(1)) if m else 0
    d = re.search(r"(\d+) tokens drafted, (\d+) accepted", text)
    if d:
        fig["drafted"], fig["accepted"] = int(d.group(1)), int(d.group(2))
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="server binary A (before)")
    ap.add_argument("--b", required=True, help="server binary B (after)")
    ap.add_argument("--a-args", default="")
    ap.add_argument("--b-args", default="")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--np", type=int, default=8)
    ap.add_argument("-c", "--ctx", type=int, default=4096)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--n-predict", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--ignore-eos", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="arguments for both servers (after --)")
    args = ap.parse_args()

    res = {"A": [], "B": []}
    bins = {"A": (args.a, shlex.split(args.a_args)), "B": (args.b, shlex.split(args.b_args))}
    for r in range(args.runs):
        order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
        for k in order:
            binary, own = bins[k]
            fig = one_run(binary, args, args.extra + own, free_port())
            res[k].append(fig)
            print(f"run {r} {k}: {fig['aggregate_tokens_per_s']} tok/s, sched {fig['sched_us_per_step']} us/step "
                  f"({fig['sched_cpu_us_per_step']} us CPU), {fig['steps']} steps, errors {fig['errors']}"
                  + (f", drafted {fig['drafted']} accepted {fig['accepted']}" if "drafted" in fig else ""),
                  flush=True)
    summary = {}
    for k in ("A", "B"):
        med = lambda key: statistics.median(f[key] for f in res[k])
        summary[k] = {"tokens_per_s": med("aggregate_tokens_per_s"), "sched_us_per_step": med("sched_us_per_step"),
                      "sched_cpu_us_per_step": med("sched_cpu_us_per_step"), "ttft_p50_ms": med("ttft_p50_ms"),
                      "ttft_p99_ms": med("ttft_p99_ms"), "errors": sum(f["errors"] for f in res[k])}
        print(f"{k} median: {summary[k]['tokens_per_s']} tok/s, TTFT p50 {summary[k]['ttft_p50_ms']} ms "
              f"p99 {summary[k]['ttft_p99_ms']} ms, scheduler {summary[k]['sched_us_per_step']} us "
              f"per step ({summary[k]['sched_cpu_us_per_step']} us CPU), errors {summary[k]['errors']}")
    print(f"B/A tokens/s: {summary['B']['tokens_per_s'] / summary['A']['tokens_per_s']:.3f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
