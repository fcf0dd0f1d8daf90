"""Shared pytest fixtures for cllm's Python tests: where the repository, the
build (env CLLM_BUILD, default "build", relative to the repo root) and the
real models (models/) are, and a helper that runs a cllm-* tool.

Keep this file generic: tests for any module may add fixtures here.
"""
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_dir_path() -> Path:
    """The build directory named by CLLM_BUILD (absolute or repo-relative)."""
    return REPO_ROOT / os.environ.get("CLLM_BUILD", "build")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def build_dir() -> Path:
    d = build_dir_path()
    if not d.is_dir():
        pytest.skip(f"build directory {d} not found (set CLLM_BUILD)")
    return d


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return REPO_ROOT / "models"


@pytest.fixture(scope="session")
def tool(build_dir):
    """tool("dequant") -> path of the cllm-dequant executable (skips if absent)."""

    def find(name: str) -> Path:
        p = build_dir / f"cllm-{name}"
        if not p.is_file():
            pytest.skip(f"{p} not built")
        return p

    return find


@pytest.fixture(scope="session")
def run_tool(tool):
    """run_tool("dequant", arg, ...) -> CompletedProcess (text, not checked)."""

    def run(name: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(tool(name)), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    return run


# ------------------------------------------------------------ skip budget
#
# A skip is allowed only where the environment truly lacks something, and the
# suite may not quietly grow more of them: tests/skip_budget.txt holds the
# number of skipped (and, separately, expected-to-fail) tests a full run on
# the reference machine has. A session with more fails, naming them. A run of
# a subset has fewer, so it passes. Set CLLM_SKIP_BUDGET=off to disable (e.g.
# while a whole area is knowingly unavailable).

SKIP_BUDGET_FILE = REPO_ROOT / "tests" / "skip_budget.txt"
_skipped, _xfailed = [], []


def read_skip_budget(key: str) -> int:
    """The committed budget `key N` from tests/skip_budget.txt."""
    for line in SKIP_BUDGET_FILE.read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    raise KeyError(f"{SKIP_BUDGET_FILE}: no budget for {key!r}")


def pytest_runtest_logreport(report):
    if report.skipped:
        if hasattr(report, "wasxfail"):
            _xfailed.append((report.nodeid, report.wasxfail or "xfail"))
        else:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            _skipped.append((report.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CLLM_SKIP_BUDGET") == "off":
        return
    over = []
    for key, got in (("python_skipped", _skipped), ("python_xfailed", _xfailed)):
        budget = read_skip_budget(key)
        if len(got) > budget:
            over.append(f"{len(got)} {key.split('_')[1]} tests, budget {budget} ({SKIP_BUDGET_FILE.name}):\n  "
                        + "\n  ".join(f"{n}: {r}" for n, r in got))
    if over:
        session.config.get_terminal_writer().line("\nSKIP BUDGET EXCEEDED\n" + "\n".join(over), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
