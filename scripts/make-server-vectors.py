#!/usr/bin/env python3
"""make-server-vectors.py - what a real llama-server answers to the probes of
tests/python/server_probes.py (greedy text at temperature 0 with the top-2
log-probabilities of each step, tokenization, /props shape, error codes and
shapes, the streaming event sequence, the member paths of the answers with
llama-server's reply options, the too-long-prompt error), for the models in
server_probes.MODELS; written to tests/vectors/server/llama-server.json for
tests/python/test_server_vs_llama.py. Never needed by the tests themselves.

llama-server is built from the llama-cpp-python sdist's vendor/llama.cpp
(the same llama.cpp as the model vectors, docs/reference-vectors.md):

    /work/ref/venv/bin/pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36 -d /work/ref/sdist
    tar xzf ... && cmake -S .../vendor/llama.cpp -B /work/ref/llama-build -G Ninja \\
        -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF
    ninja -C /work/ref/llama-build llama-server
    .venv/bin/python scripts/make-server-vectors.py --server /work/ref/llama-build/bin/llama-server
"""
import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import server_probes  # noqa: E402

OUT = ROOT / "tests" / "vectors" / "server" / "llama-server.json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(exe, model, args):
    port = free_port()
    log = tempfile.TemporaryFile()
    cmd = [exe, "-m", str(ROOT / "models" / model), "--port", str(port), "-t", "2", "--no-webui", *args]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if p.poll() is not None:
            log.seek(0)
            raise SystemExit(f"llama-server exited: {' '.join(cmd)}\n{log.read().decode()[-3000:]}")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return p, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    p.kill()
    raise SystemExit("llama-server did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="llama-server executable")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args()
    out = {"generator": "scripts/make-server-vectors.py", "models": {}}
    for model, args in server_probes.MODELS.items():
        p, url = start(a.server, model, args)
        try:
            props = requests.get(url + "/props", timeout=60).json()
            out.setdefault("build_info", props.get("build_info"))
            out["models"][model] = {"args": args, **server_probes.run_probes(url, top_probs=True),
                                    "fields": server_probes.run_field_probes(url)}
        finally:
            p.terminate()
            p.wait(timeout=30)
        print(f"{model}: done", file=sys.stderr)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("wrote", a.out, file=sys.stderr)


if __name__ == "__main__":
    main()
