#!/usr/bin/env bash
# run-fuzzers.sh - run each libFuzzer target (fuzz/fuzz_*.c, built by
# `make build-fuzz` into build-fuzz/) for a fixed time on its committed seed
# corpus fuzz/corpus/<target>/. Any crash, leak, timeout or sanitizer report
# fails the run (exit 1) and leaves the input in build-fuzz/artifacts/.
# New inputs libFuzzer finds go to build-fuzz/corpus-work/<target>/ (never
# into the committed corpus). Long runs stay manual: FUZZ_SECONDS=3600.
# fuzz_http (raw HTTP requests through the router and handlers, without
# sockets) serves ../shared/models/stories260K.gguf ($CLLM_FUZZ_MODEL): a
# few hundred inputs a second where the parser targets run thousands.
#
#   scripts/run-fuzzers.sh [BUILD_DIR] [TARGET...]     env FUZZ_SECONDS (60), FUZZ_JOBS (2)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
shift || true
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
fi
mkdir -p "$BUILD/artifacts" "$BUILD/logs"

run_one() {
  local t=$1 exe="$BUILD/$1" seeds="fuzz/corpus/$1" work="$BUILD/corpus-work/$1"
  if [ ! -x "$exe" ]; then echo "fuzz: $exe not built" >&2; return 1; fi
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then echo "fuzz: no seed corpus $seeds" >&2; return 1; fi
  mkdir -p "$work"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: runaway memory
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$exe" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/$t-" "$work" "$seeds" >"$BUILD/logs/$t.log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/logs/$t.log" | grep -o '[0-9]*$')
  if [ $rc -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $rc), log $BUILD/logs/$t.log:" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|deadly signal|runtime error' "$BUILD/logs/$t.log" | head -20 >&2
    return 1
  fi
  echo "fuzz: $t ok, ${SECONDS_EACH} s, ${execs:-?} runs"
}

fail=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!); names+=("$t")
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    wait "${pids[0]}" || fail=1
    pids=("${pids[@]:1}"); names=("${names[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
if [ $fail -ne 0 ]; then echo "fuzz: FAILED" >&2; exit 1; fi
echo "fuzz: all ${#targets[@]} targets ok"
