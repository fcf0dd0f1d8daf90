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
