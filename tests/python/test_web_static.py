"""The web front end over plain HTTP (no browser): the embedded page's
headers (gzip, ETag and 304, Content-Type, Content-Security-Policy), the
libraries and their licences, /completion.js, --no-webui, and --path DIR
(its files win; "..", dot-files, symlinks out of DIR and encoded slashes give
404). The page itself, in Chromium: test_web_ui.py."""
import gzip
import os
import socket

import pytest
import requests

from server_util import MODEL_GEMMA, Server, server_fixture

srv = server_fixture("-m", MODEL_GEMMA, "-c", "512")


def raw_get(srv, target, headers=()):
    """GET with the target sent exactly as given (requests would normalise
    it): (status, headers dict, body)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        req = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        req += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        s.sendall(req.encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:] if ":" in ln}
    return status, hdrs, body


def test_index_gzip_etag_csp(srv):
    r = requests.get(srv.url + "/", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["Vary"]
    html = gzip.decompress(r.raw.read()).decode()
    assert '<script src="/app.js" type="module">' in html
    csp = r.headers["Content-Security-Policy"]
    for part in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'",
                 "base-uri 'none'"):
        assert part in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    r2 = requests.get(srv.url + "/", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    assert r2.headers["ETag"] == etag


def test_identity_encoding_and_types(srv):
    r = requests.get(srv.url + "/index.html", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and "Content-Encoding" not in r.headers
    assert "<title>cllm</title>" in r.text
    plain_etag = r.headers["ETag"]
    gz = requests.get(srv.url + "/index.html", headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    assert gz != plain_etag  # two representations, two strong ETags
    for path, ctype in [("/style.css", "text/css"), ("/app.js", "text/javascript"),
                        ("/favicon.svg", "image/svg+xml"), ("/completion.js", "text/javascript")]:
        r = requests.get(srv.url + path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith(ctype), path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    status, hdrs, _ = raw_get(srv, "/app.js", [("If-None-Match", f'"nope", {requests.get(srv.url + "/app.js", headers={"Accept-Encoding": "identity"}).headers["ETag"]}'),
                                               ("Accept-Encoding", "identity")])
    assert status == 304


def test_head(srv):
    r = requests.head(srv.url + "/")
    assert r.status_code == 200 and r.content == b""


def test_vendor_libraries_and_licences(srv):
    for lib in ("marked/marked.min.js", "highlight/highlight.min.js", "katex/katex.min.js",
                "katex/katex.min.css", "dompurify/purify.min.js"):
        r = requests.get(f"{srv.url}/vendor/{lib}")
        assert r.status_code == 200, f"{lib} missing (scripts/deps.sh installs it)"
        assert len(r.content) > 10000
    for lib in ("marked", "highlight", "katex", "dompurify", "katex/fonts"):
        r = requests.get(f"{srv.url}/vendor/{lib}/copyright.txt")
        assert r.status_code == 200 and "Copyright" in r.text, lib
    r = requests.get(srv.url + "/vendor/katex/fonts/KaTeX_Main-Regular.woff2")
    assert r.status_code == 200 and r.headers["Content-Type"] == "font/woff2"


def test_completion_js(srv):
    js = requests.get(srv.url + "/completion.js").text
    for name in ("export async function* llama", "export function llamaChat", "export function llamaEventTarget",
                 "export async function llamaPromise", "export async function llamaComplete",
                 "export async function llamaModelInfo"):
        assert name in js


def test_unknown_and_refused_paths(srv):
    assert requests.get(srv.url + "/nope.html").status_code == 404
    for target in ("/vendor%2Fmarked/marked.min.js", "/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                   "/vendor%5cmarked", "/.git/config"):
        status, _, _ = raw_get(srv, target)
        assert status == 404, target
    # the API is still there
    assert requests.get(srv.url + "/health").status_code == 200
    assert requests.post(srv.url + "/tokenize", json={"content": "hi"}).status_code == 200


def test_no_webui():
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--no-webui").start()
    try:
        assert requests.get(s.url + "/").status_code == 404
        assert requests.get(s.url + "/app.js").status_code == 404
        assert requests.get(s.url + "/completion.js").status_code == 200  # the library stays
        assert requests.get(s.url + "/health").status_code == 200
    finally:
        s.stop()


def test_page_needs_no_key_but_api_does():
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--api-key", "sesame").start()
    try:
        assert requests.get(s.url + "/").status_code == 200
        assert requests.get(s.url + "/completion.js").status_code == 200
        assert requests.get(s.url + "/props").status_code == 401
    finally:
        s.stop()


@pytest.fixture(scope="module")
def path_srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    site = root / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<html><body>my own page</body></html>")
    (site / "sub" / "index.html").write_text("sub index")
    (site / "sub" / "data.json").write_text('{"a": 1}')
    (site / ".secret").write_text("HIDDEN-CONTENT")
    (root / "outside.txt").write_text("OUTSIDE-CONTENT")
    os.symlink(root / "outside.txt", site / "escape.txt")
    os.symlink(site / "sub" / "data.json", site / "inside-link.json")
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--path", str(site)).start()
    yield s
    s.stop()


def test_path_files_win(path_srv):
    r = requests.get(path_srv.url + "/")
    assert r.status_code == 200 and "my own page" in r.text
    assert "Content-Security-Policy" not in r.headers  # the user's page, the user's rules
    etag = r.headers["ETag"]
    assert requests.get(path_srv.url + "/", headers={"If-None-Match": etag}).status_code == 304
    assert requests.get(path_srv.url + "/sub/").text == "sub index"
    r = requests.get(path_srv.url + "/sub/data.json")
    assert r.json() == {"a": 1} and r.headers["Content-Type"].startswith("application/json")
    assert requests.get(path_srv.url + "/inside-link.json").json() == {"a": 1}
    # what DIR lacks still comes from the embedded page
    assert requests.get(path_srv.url + "/completion.js").status_code == 200
    assert requests.get(path_srv.url + "/health").status_code == 200


def test_path_escapes_refused(path_srv):
    for target in ("/escape.txt", "/../outside.txt", "/%2e%2e/outside.txt", "/sub/..%2f..%2foutside.txt",
                   "/sub%2fdata.json", "/.secret", "/sub/%2e%2e/index.html"):
        status, _, body = raw_get(path_srv, target)
        assert status == 404, (target, body)
        assert b"OUTSIDE-CONTENT" not in body and b"HIDDEN-CONTENT" not in body
