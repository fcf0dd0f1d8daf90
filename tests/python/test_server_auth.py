"""cllm-server: API keys (--api-key, repeatable, and --api-key-file). With
keys set every endpoint but /health (and static files) needs
`Authorization: Bearer KEY`, otherwise 401 in the seed's error format."""
import pytest
import requests

from server_util import MODEL_STORIES, Server, error_of

KEYS = ["key-one", "key-two", "file-key-3", "file-key-4"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    kf = d / "keys.txt"
    kf.write_bytes(b"file-key-3\n\nfile-key-4\r\n")
    web = d / "web"
    web.mkdir()
    (web / "index.html").write_text("<html>public page</html>")
    s = Server("-m", MODEL_STORIES, "-c", "256", "-np", "2", "--metrics", "--slot-save-path", str(d),
               "--api-key", KEYS[0], "--api-key", KEYS[1], "--api-key-file", str(kf), "--path", str(web)).start()
    try:
        yield s
    finally:
        s.stop()


ENDPOINTS = [
    ("GET", "/props", None), ("GET", "/slots", None), ("GET", "/metrics", None),
    ("POST", "/completion", {"prompt": "Once", "n_predict": 1}),
    ("POST", "/tokenize", {"content": "Once"}), ("POST", "/detokenize", {"tokens": [1]}),
    ("POST", "/infill", {"input_prefix": "a", "input_suffix": "b"}),
    ("POST", "/slots/0?action=erase", None), ("POST", "/slots/0?action=save", {"filename": "a.bin"}),
    ("GET", "/nope", None),
]


def call(srv, method, path, body, auth=None):
    h = {"Authorization": auth} if auth is not None else {}
    return requests.request(method, srv.url + path, json=body, headers=h, timeout=30)


def test_health_needs_no_key(srv):
    r = requests.get(srv.url + "/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = requests.get(srv.url + "/health", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 200


def test_static_files_need_no_key(srv):
    r = requests.get(srv.url + "/", timeout=10)
    assert r.status_code == 200 and "public page" in r.text
    r = requests.get(srv.url + "/index.html", timeout=10)
    assert r.status_code == 200


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Bearer ", "Bearer key-on", "Bearer key-one2",
                                  "key-one", "Basic key-one", "bearer  key-one", "Bearer key-one ",
                                  "Bearer file-key-4x", "Bearer " + "x" * 5000])
def test_missing_or_wrong_key_401(srv, method, path, body, auth):
    r = call(srv, method, path, body, auth)
    msg = error_of(r, 401)
    assert r.json()["error"]["type"] == "authentication_error", msg


@pytest.mark.parametrize("key", KEYS)
def test_every_key_works(srv, key):
    for method, path, body in ENDPOINTS:
        r = call(srv, method, path, body, "Bearer " + key)
        if path == "/infill":
            assert r.status_code == 400  # stories260K has no FIM tokens: past auth
        elif path == "/nope":
            assert r.status_code == 404
        else:
            assert r.status_code == 200, (path, r.text)


def test_key_for_streaming(srv):
    r = requests.post(srv.url + "/completion", json={"prompt": "Once", "n_predict": 3, "stream": True},
                      headers={"Authorization": "Bearer key-two"}, stream=True, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    r.close()
    r = requests.post(srv.url + "/completion", json={"prompt": "Once", "n_predict": 3, "stream": True}, timeout=30)
    error_of(r, 401)


def test_api_key_file_missing_fails_start():
    import subprocess
    from server_util import SERVER_BIN
    p = subprocess.run([str(SERVER_BIN), "-m", MODEL_STORIES, "--api-key-file", "/nonexistent/keys.txt"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "--api-key-file" in p.stderr
