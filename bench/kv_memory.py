#!/usr/bin/env python3
"""bench/kv_memory.py - resident memory of cllm-server against llama-server
(issue 22), same model, same -c / -np, idle after start and after a long
prompt.

For each context size and slot count, each server is started, its VmRSS
read from /proc/PID/status once /health is up (idle), then a prompt of
--prompt-tokens tokens (at most 90% of a slot's context) is completed with
n_predict 16 and VmRSS read again. Prints a Markdown table (MiB).

    .venv/bin/python bench/kv_memory.py \
        --cllm build-kv/cllm-server --llama /work/ref/llama-build/bin/llama-server \
        --model models/gemma-3-270m-q4_k_m.gguf --ctx 4096 32768 131072 --np 1 8

Bounded: each server gets --timeout seconds to start and to answer.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import requests

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango").split()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Srv:
    def __init__(self, binary, model, ctx, np_, threads, extra, timeout):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="kvmem-", suffix=".log", delete=False)
        cmd = [binary, "-m", model, "-c", str(ctx), "-np", str(np_), "-t", str(threads), "--host", "127.0.0.1",
               "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(cmd)} exited: {open(self.log.name).read()[-2000:]}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    time.sleep(0.5)  # let start-up settle
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{' '.join(cmd)}: not healthy in {timeout}s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def prompt_tokens(srv: Srv, n: int, timeout: float):
    text = " ".join(f"{WORDS[i % 20]} {i * 7 % 101}" for i in range(n))
    toks = requests.post(srv.url + "/tokenize", json={"content": text}, timeout=timeout).json()["tokens"]
    return toks[:n]


def measure(binary, args, ctx, np_, extra):
    srv = Srv(binary, args.model, ctx, np_, args.threads, extra, args.timeout)
    try:
        idle = rss_mib(srv.proc.pid)
        n = min(args.prompt_tokens, int(ctx / np_ * 0.9) - 32)
        toks = prompt_tokens(srv, n, args.timeout)
        r = requests.post(srv.url + "/completion", json={"prompt": toks, "n_predict": 16, "temperature": 0,
                                                         "cache_prompt": True}, timeout=args.timeout)
        r.raise_for_status()
        time.sleep(0.3)
        after = rss_mib(srv.proc.pid)
        return idle, after, len(toks)
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cllm", default="build/cllm-server")
    ap.add_argument("--llama", default="/work/ref/llama-build/bin/llama-server")
    ap.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    ap.add_argument("--ctx", type=int, nargs="+", default=[4096, 32768, 131072])
    ap.add_argument("--np", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--cllm-args", default="", help="extra cllm-server arguments (e.g. --swa-full)")
    args = ap.parse_args()
    rows = []
    print("| -c | -np | prompt | cllm idle | llama idle | cllm after | llama after | cllm <= llama |", flush=True)
    print("|---:|---:|---:|---:|---:|---:|---:|:---:|", flush=True)
    for ctx in args.ctx:
        for np_ in args.np:
            c_idle, c_after, n = measure(args.cllm, args, ctx, np_, args.cllm_args.split())
            l_idle, l_after, _ = measure(args.llama, args, ctx, np_, [])
            ok = c_idle <= l_idle and c_after <= l_after
            rows.append((ctx, np_, n, c_idle, l_idle, c_after, l_after, ok))
            print(f"| {ctx} | {np_} | {n} | {c_idle:.0f} | {l_idle:.0f} | {c_after:.0f} | {l_after:.0f} | "
                  f"{'yes' if ok else 'NO'} |", flush=True)
    print("\nVmRSS in MiB (weights mapped from the file count once touched).")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
