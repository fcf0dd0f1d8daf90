"""Every benchmark tool runs and reports, with tiny settings: bench-kernels,
bench-sampler, bench-threadpool, cllm-bench (--json), and bench/load.py for a
few seconds against a server. No timing is asserted (figures live in
bench/README.md); what is checked is that each tool exits 0 and prints the
rows it promises, with positive, finite figures."""
import json
import math
import re
import subprocess
import sys

import pytest

from server_util import MODEL_STORIES, REPO_ROOT, Server


def bench(build_dir, name, *args, timeout=300):
    exe = build_dir / name
    if not exe.is_file():
        pytest.fail(f"{exe} not built")
    r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def test_bench_kernels(build_dir):
    out = bench(build_dir, "bench-kernels", "-t", "1", "--types", "Q4_0,Q4_K,F16", "--n-out", "64",
                "--n-in", "256", "--rows", "4", "--ws", "1", "--reps", "1")
    for t in ("Q4_0", "Q4_K", "F16"):
        row = next((l for l in out.splitlines() if l.startswith(t + " ")), None)
        assert row, f"no {t} row:\n{out}"
        nums = [float(x) for x in re.findall(r"\d+\.\d+", row)]
        assert len(nums) >= 5 and all(math.isfinite(x) and x >= 0 for x in nums), row


def test_bench_sampler(build_dir):
    out = bench(build_dir, "bench-sampler", "-m", MODEL_STORIES, "-t", "1", "-n", "16")
    for name in ("default chain", "greedy", "mirostat 2", "grammar: free text"):
        row = next((l for l in out.splitlines() if l.startswith(name)), None)
        assert row, f"no {name!r} row:\n{out}"
        us = float(row[len(name):].split()[-2])
        assert us > 0 and math.isfinite(us), row


def test_bench_threadpool(build_dir):
    out = bench(build_dir, "bench-threadpool")
    rows = [l for l in out.splitlines() if re.match(r"\s*\d+ \|", l)]
    assert rows, out
    for l in rows:
        assert len(re.findall(r"\d+\.\d+", l)) == 6, l


def test_cllm_bench_json(build_dir):
    out = bench(build_dir, "cllm-bench", "-m", MODEL_STORIES, "-p", "16", "-n", "4", "-r", "2", "-np", "2",
                "-t", "1", "--json")
    j = json.loads(out[out.index("{"):out.rindex("}") + 1])
    tests = {r["test"]: r for r in j["results"]}
    assert set(tests) >= {"pp16", "tg4", "tg4 x2"}, list(tests)
    for r in tests.values():
        assert len(r["samples_ts"]) == 2 and all(x > 0 and math.isfinite(x) for x in r["samples_ts"]), r


def test_load_py_against_server():
    srv = Server("-m", MODEL_STORIES, "-c", "512", "-np", "2").start()
    try:
        r = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "load.py"), "--url", srv.url, "--clients", "3",
                            "--seconds", "3", "--n-predict", "8", "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        fig = json.loads(r.stdout.strip().splitlines()[-1])
        print(fig)
        assert fig["errors"] == 0, fig
        assert fig["requests_completed"] >= 3 and fig["tokens_generated"] > 0, fig
        assert fig["ttft_p50_ms"] > 0 and fig["aggregate_tokens_per_s"] > 0, fig
    finally:
        srv.stop()
