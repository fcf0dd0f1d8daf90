"""cllm-server built with ASan/UBSan (the build-asan tree) under a short but
complete workout: concurrent and streaming completions, a client hanging up
mid-stream, bad requests, grammar, slot save/restore/erase, system prompt,
then SIGINT. The server must answer everything, exit 0, and print no
sanitizer report (leaks included).

Runs only when CLLM_ASAN_BUILD names that build (`make test-asan` sets it).
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ASAN_BUILD = os.environ.get("CLLM_ASAN_BUILD")
MODEL = ROOT / "models" / "stories260K.gguf"

pytestmark = pytest.mark.skipif(not ASAN_BUILD, reason="CLLM_ASAN_BUILD not set")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + proc.stderr.read().decode(errors="replace"))
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def hang_up_mid_stream(port):
    s = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"prompt": "Once upon a time", "n_predict": 200, "stream": True})
    s.sendall((f"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    s.recv(200)
    s.close()


def test_sanitized_server_workout(tmp_path):
    exe = ROOT / ASAN_BUILD / "cllm-server"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.Popen([str(exe), "-m", str(MODEL), "-c", "1024", "-np", "2", "--port", str(port),
                             "--metrics", "--slot-save-path", str(tmp_path), "--log-disable"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        wait_ready(url, proc)
        out = {}

        def run(i):
            r = requests.post(url + "/completion", json={"prompt": f"Once upon a time {i}", "n_predict": 16,
                                                         "temperature": 0, "n_probs": 2, "stop": ["zzz"]})
            out[i] = r.status_code
        ts = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        [t.start() for t in ts]
        hang_up_mid_stream(port)
        [t.join() for t in ts]
        assert all(c == 200 for c in out.values())
        r = requests.post(url + "/completion", json={"prompt": "Lily", "n_predict": 8, "stream": True}, stream=True)
        events = [l for l in r.iter_lines() if l.startswith(b"data: ")]
        assert json.loads(events[-1][6:])["stop"] is True
        assert requests.post(url + "/completion", data=b"\xff\xfe{garbage").status_code == 400
        assert requests.post(url + "/completion", json={"prompt": 5}).status_code == 400
        assert requests.post(url + "/completion", json={"prompt": "x", "grammar": "root ::= ("}).status_code == 400
        g = requests.post(url + "/completion", json={"prompt": "x", "n_predict": 8,
                                                     "grammar": 'root ::= "yes" | "no"'}).json()
        assert g["content"] in ("yes", "no"), g
        print("grammar ->", g["content"], "timings", g["timings"])
        assert requests.post(url + "/completion", json={"prompt": "Once", "n_predict": 4, "cache_prompt": True,
                                                        "id_slot": 0}).status_code == 200
        assert requests.post(url + "/slots/0?action=save", json={"filename": "a.bin"}).status_code == 200
        assert requests.post(url + "/slots/1?action=restore", json={"filename": "a.bin"}).status_code == 200
        assert requests.post(url + "/slots/1?action=erase").status_code == 200
        assert requests.post(url + "/slots/1?action=restore", json={"filename": "../a.bin"}).status_code == 400
        assert requests.post(url + "/completion", json={
            "prompt": "Tom", "n_predict": 4, "system_prompt": {"prompt": "A story.", "anti_prompt": "",
                                                               "assistant_name": ""}}).status_code == 200
        assert requests.get(url + "/metrics").status_code == 200
        assert requests.get(url + "/slots").status_code == 200
        assert requests.post(url + "/tokenize", json={"content": "hello"}).status_code == 200
        assert requests.post(url + "/detokenize", json={"tokens": [1, 2, 3]}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        err = proc.stderr.read().decode(errors="replace")
    assert "AddressSanitizer" not in err and "runtime error" not in err and "LeakSanitizer" not in err, err
    assert rc == 0, err
