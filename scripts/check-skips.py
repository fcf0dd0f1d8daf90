#!/usr/bin/env python3
"""check-skips.py - fail when a ctest run skipped more cmocka tests than the
committed budget allows. cmocka's skip() counts as a pass in ctest, so a test
that starts skipping would otherwise go unnoticed.

    python3 scripts/check-skips.py BUILD_DIR BUDGET_KEY

Reads BUILD_DIR/Testing/Temporary/LastTest.log (ctest writes every test's
whole output there), sums cmocka's "[  SKIPPED ] N test(s)" summaries and
ctest's own skipped/not-run tests, and compares the total with the line
"BUDGET_KEY N" of tests/skip_budget.txt. Exit 1, listing the skipped tests,
when over budget; 0 otherwise.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = ROOT / "tests" / "skip_budget.txt"


def budget(key):
    for line in BUDGET.read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    sys.exit(f"check-skips: {BUDGET} has no line for {key!r}")


def skipped(log_text):
    """(count, [names]) of skipped tests in a ctest LastTest.log."""
    n, names, current = 0, [], "?"
    listing = False
    for line in log_text.splitlines():
        m = re.match(r'\d+/\d+ Testing: (\S+)', line)
        if m:
            current = m.group(1)
        m = re.match(r'\[  SKIPPED \] (\d+) test\(s\), listed below:', line)
        if m:
            n += int(m.group(1))
            listing = True
            continue
        if listing:
            m = re.match(r'\[  SKIPPED \] (\S+)', line)
            if m:
                names.append(f"{current}: {m.group(1)}")
                continue
            listing = False
        # a test ctest itself skipped (SKIP_RETURN_CODE / SKIP_REGULAR_EXPRESSION)
        if re.match(r'Test (Skipped|Not Run)', line.strip()):
            n += 1
            names.append(f"{current}: (ctest skip)")
    return n, names


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    log = Path(sys.argv[1]) / "Testing" / "Temporary" / "LastTest.log"
    if not log.is_file():
        sys.exit(f"check-skips: {log} not found (run ctest first)")
    n, names = skipped(log.read_text(errors="replace"))
    allowed = budget(sys.argv[2])
    print(f"check-skips: {sys.argv[2]}: {n} skipped cmocka tests (budget {allowed})", flush=True)
    if n > allowed:
        print("SKIP BUDGET EXCEEDED:\n  " + "\n  ".join(names), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
