#!/usr/bin/env python3
"""ab_bench.py - two cllm-bench binaries (before / after a change) on the
same model, threads and tests, alternating which runs first, one rep each
round; prints the median tokens/s of every test for each and the ratio B/A.

    .venv/bin/python bench/ab_bench.py --a /work/base/build/cllm-bench \\
        --b build/cllm-bench -m models/gemma-3-270m-q4_k_m.gguf -t 2 --rounds 5

Extra cllm-bench arguments after `--` (both get them, e.g. -- -np 8).
No dependencies beyond the standard library.
"""
import argparse
import json
import statistics
import subprocess


def one(binary, args, extra):
    cmd = [binary, "-m", args.model, "-t", str(args.threads), "-p", str(args.p), "-n", str(args.n),
           "-r", "1", "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {r["test"] + (f" x{r['n_seqs']}" if r["n_seqs"] > 1 else ""): r["median_ts"]
            for r in json.loads(out)["results"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="cllm-bench A (before)")
    ap.add_argument("--b", required=True, help="cllm-bench B (after)")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    res = {"A": {}, "B": {}}
    for r in range(args.rounds):
        for k in (("A", "B") if r % 2 == 0 else ("B", "A")):
            for test, ts in one(args.a if k == "A" else args.b, args, args.extra).items():
                res[k].setdefault(test, []).append(ts)
    print(f"{'test':<14} {'A t/s':>10} {'B t/s':>10} {'B/A':>6}   (medians of {args.rounds})")
    for test in res["A"]:
        a, b = statistics.median(res["A"][test]), statistics.median(res["B"][test])
        print(f"{test:<14} {a:>10.1f} {b:>10.1f} {b / a:>6.3f}")


if __name__ == "__main__":
    main()
