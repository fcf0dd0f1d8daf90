"""Helpers for the cllm-server tests: start the built server on a free port,
wait until /health says 200, hand out its base URL, stop it afterwards.

    from server_util import Server, server_fixture, MODEL_GEMMA

    srv = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", "2")   # module-scoped fixture

    def test_x(srv):
        r = srv.post("/completion", json={...})

The server is the build directory's cllm-server (env CLLM_BUILD names it,
default "build", relative to the repository root). Its stdout and stderr go
to a temporary file whose tail is added to assertion messages by
Server.log_tail(), and printed when the server does not come up.
"""
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / os.environ.get("CLLM_BUILD", "build")
SERVER_BIN = BUILD / "cllm-server"
MODEL_GEMMA = str(REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf")
_SHARED = REPO_ROOT.parent / "shared" / "models"
MODEL_STORIES = str(next((p for p in (REPO_ROOT / "models" / "stories260K.gguf", _SHARED / "stories260K.gguf")
                          if p.exists()), _SHARED / "stories260K.gguf"))

# Threads per server: the test machine is small and shared.
DEFAULT_THREADS = os.environ.get("CLLM_TEST_THREADS", "2")


_PRIVATE = {}


def private_binary() -> Path:
    """A private copy of cllm-server under another name (cllm-srvtest): on a
    shared machine, `pkill cllm-server` run by someone else for their own
    servers does not stop ours. Copied again when the build changes."""
    st = SERVER_BIN.stat()
    key = (st.st_mtime_ns, st.st_size)
    if _PRIVATE.get("key") != key:
        import atexit
        import shutil
        d = Path(tempfile.mkdtemp(prefix="cllm-srvtest-"))
        atexit.register(shutil.rmtree, d, True)
        dst = d / "cllm-srvtest"
        shutil.copy2(SERVER_BIN, dst)
        _PRIVATE.update(key=key, path=dst)
    return _PRIVATE["path"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running cllm-server. Use start()/stop() or the fixture below."""

    def __init__(self, *args, env=None, threads=DEFAULT_THREADS):
        self.args = [str(a) for a in args]
        if threads and "-t" not in self.args and "--threads" not in self.args:
            self.args += ["-t", str(threads)]
        self.env = env
        self.port = None
        self.url = None
        self.proc = None
        self.log = None
        self.session = requests.Session()
        self.api_key = None

    # ---- life cycle
    def start(self, timeout: float = 60.0):
        if not SERVER_BIN.is_file():
            pytest.skip(f"{SERVER_BIN} not built")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="cllm-server-", suffix=".log", delete=False)
        cmd = [str(private_binary()), *self.args, "--host", "127.0.0.1", "--port", str(self.port)]
        # its own session: signals meant for the test run's process group do not reach it
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=self.env, cwd=str(REPO_ROOT), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cllm-server exited with {self.proc.returncode} at start-up:\n"
                                   f"{' '.join(cmd)}\n{self.log_tail()}")
            try:
                r = requests.get(self.url + "/health", timeout=2)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"cllm-server did not become healthy in {timeout}s:\n{self.log_tail()}")

    def stop(self):
        if self.proc and self.proc.poll() is not None and self.log:
            # it ended under the tests (crash, or a signal from outside): show why
            print(f"\ncllm-server {' '.join(self.args)} ended early with status {self.proc.returncode}:\n"
                  f"{self.log_tail(6000)}")
        if self.proc and self.proc.poll() is None and '"msg":"stopping"' in self.log_tail(100000):
            print(f"\ncllm-server {' '.join(self.args)} was told to stop (a signal) before the tests were done:\n"
                  f"{self.log_tail(6000)}")
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"\ncllm-server {' '.join(self.args)} did not stop in 15 s after SIGTERM; killed")
                self.proc.kill()
                self.proc.wait()
            if self.proc.returncode != 0 and self.log:
                # SIGTERM is a clean stop (exit 0): anything else is worth seeing (a sanitizer report, ...)
                print(f"\ncllm-server {' '.join(self.args)} exited with {self.proc.returncode} on SIGTERM:\n"
                      f"{self.log_tail(6000)}")
        self.session.close()
        if self.log:
            self.log.close()
            try:
                os.unlink(self.log.name)
            except OSError:
                pass
            self.log = None

    def log_tail(self, n: int = 2000) -> str:
        """The end of the server's output, less the one-line request logs."""
        if not self.log:
            return ""
        try:
            self.log.flush()
            data = Path(self.log.name).read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln for ln in data.splitlines() if '"msg":"request"' not in ln]
        return "\n".join(lines)[-n:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- requests
    def _headers(self, headers):
        h = dict(headers or {})
        if self.api_key and "Authorization" not in h:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def get(self, path, headers=None, **kw):
        kw.setdefault("timeout", 60)
        return self.session.get(self.url + path, headers=self._headers(headers), **kw)

    def post(self, path, headers=None, **kw):
        kw.setdefault("timeout", 120)
        return self.session.post(self.url + path, headers=self._headers(headers), **kw)

    def complete(self, prompt, **fields):
        """POST /completion (non-streaming); asserts 200 and returns the JSON."""
        body = {"prompt": prompt, "temperature": 0, **fields}
        r = self.post("/completion", json=body)
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{self.log_tail()}"
        return r.json()

    def stream(self, prompt, **fields):
        """POST /completion with stream: true; returns the list of decoded events."""
        body = {"prompt": prompt, "temperature": 0, "stream": True, **fields}
        r = self.post("/completion", json=body, stream=True)
        assert r.status_code == 200, f"{r.status_code} {r.text}"
        assert r.headers.get("Content-Type", "").startswith("text/event-stream")
        events = list(sse_events(r))
        r.close()
        return events

    def healthy(self) -> bool:
        r = requests.get(self.url + "/health", timeout=10)
        return self.alive() and r.status_code == 200 and r.json().get("status") in ("ok", "no slot available")

    def metrics(self) -> dict:
        r = self.get("/metrics")
        assert r.status_code == 200, r.text
        return parse_prometheus(r.text)


def sse_events(resp):
    """Decode a text/event-stream response into the JSON of each `data:` line."""
    import json
    buf = b""
    for chunk in resp.iter_content(chunk_size=None):
        buf += chunk
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    yield json.loads(line[6:].decode("utf-8"))
                elif line.strip():
                    raise AssertionError(f"unexpected SSE line {line!r}")
    assert buf.strip() == b"", f"trailing bytes in the event stream: {buf!r}"


def parse_prometheus(text: str) -> dict:
    """Parse Prometheus text exposition format (the subset a server emits):
    every line must be a # HELP, # TYPE or `name value` sample. Returns
    {name: value}; asserts the syntax and that TYPE precedes samples."""
    import math
    import re
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    samples, types = {}, {}
    assert text.endswith("\n"), "the exposition must end with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            m = re.fullmatch(rf"# HELP ({name_re}) (.*)", line)
            assert m, f"bad HELP line {line!r}"
        elif line.startswith("# TYPE "):
            m = re.fullmatch(rf"# TYPE ({name_re}) (counter|gauge|histogram|summary|untyped)", line)
            assert m, f"bad TYPE line {line!r}"
            assert m.group(1) not in types, f"TYPE given twice for {m.group(1)}"
            types[m.group(1)] = m.group(2)
        elif line.startswith("#"):
            continue  # a comment
        else:
            m = re.fullmatch(rf"({name_re})(\{{[^}}]*\}})? (\S+)( -?\d+)?", line)
            assert m, f"bad sample line {line!r}"
            v = m.group(3)
            val = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(v)
            if val is None:
                val = float(v)  # raises on garbage
            assert m.group(1) in types, f"sample {m.group(1)} before its TYPE"
            samples[m.group(1)] = val
    return samples


def server_fixture(*args, scope="module", **kw):
    """A pytest fixture that runs one server with args for the scope."""

    @pytest.fixture(scope=scope)
    def _fixture():
        s = Server(*args, **kw).start()
        try:
            yield s
        finally:
            s.stop()

    return _fixture


def error_of(r, status):
    """Assert r is an error in the seed's format with status; return its message."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    j = r.json()
    assert set(j) == {"error"}, j
    e = j["error"]
    assert e["code"] == status, e
    assert isinstance(e["message"], str) and e["message"], e
    assert isinstance(e["type"], str) and e["type"], e
    return e["message"]
