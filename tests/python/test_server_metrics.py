"""cllm-server: GET /metrics (--metrics; Prometheus text format, every
llamacpp: metric of the seed), GET /health, GET /props."""
import pytest
import requests

from server_util import MODEL_GEMMA, parse_prometheus, server_fixture

srv = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", "2", "--metrics")

SEED_METRICS = {
    "llamacpp:prompt_tokens_total": "counter",
    "llamacpp:tokens_predicted_total": "counter",
    "llamacpp:prompt_tokens_seconds": "gauge",
    "llamacpp:predicted_tokens_seconds": "gauge",
    "llamacpp:kv_cache_usage_ratio": "gauge",
    "llamacpp:kv_cache_tokens": "gauge",
    "llamacpp:requests_processing": "gauge",
    "llamacpp:requests_deferred": "gauge",
}


def test_metrics_format_and_names(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    samples = parse_prometheus(text)  # every line checked
    for name, typ in SEED_METRICS.items():
        assert name in samples, name
        assert f"# TYPE {name} {typ}\n" in text, name
        assert f"# HELP {name} " in text, name
    for v in samples.values():
        assert v >= 0


def test_metrics_count_tokens(srv):
    m0 = srv.metrics()
    j = srv.complete("The capital of France is", n_predict=7)
    m1 = srv.metrics()
    assert m1["llamacpp:prompt_tokens_total"] - m0["llamacpp:prompt_tokens_total"] == j["timings"]["prompt_n"]
    assert m1["llamacpp:tokens_predicted_total"] - m0["llamacpp:tokens_predicted_total"] == 7
    assert m1["llamacpp:prompt_tokens_seconds"] > 0
    assert m1["llamacpp:predicted_tokens_seconds"] > 0
    assert 0 < m1["llamacpp:kv_cache_usage_ratio"] <= 1
    assert m1["llamacpp:kv_cache_tokens"] >= j["tokens_evaluated"] + 6  # the slot keeps its tokens
    assert m1["llamacpp:requests_processing"] == 0
    assert m1["llamacpp:requests_deferred"] == 0


def test_prometheus_parser_rejects_garbage():
    for bad in ("llamacpp:x 1\n", "# TYPE a counter\na one\n", "# TYPE a counter\na 1", "# TYPE a bogus\n"):
        with pytest.raises((AssertionError, ValueError)):
            parse_prometheus(bad)


# ------------------------------------------------------------ health

def test_health(srv):
    r = requests.get(srv.url + "/health", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok", "slots_idle": 2, "slots_processing": 0}


@pytest.mark.parametrize("q", ["?include_slots", "?include_slots=1", "?include_slots=true"])
def test_health_include_slots(srv, q):
    j = srv.get("/health" + q).json()
    assert [s["id"] for s in j["slots"]] == [0, 1]


@pytest.mark.parametrize("q", ["?fail_on_no_slot", "?fail_on_no_slot=1"])
def test_health_fail_on_no_slot_when_free(srv, q):
    assert srv.get("/health" + q).status_code == 200


# ------------------------------------------------------------ props

def test_props(srv):
    r = srv.get("/props")
    assert r.status_code == 200
    j = r.json()
    assert j["assistant_name"] == "" and j["user_name"] == ""
    assert j["total_slots"] == 2
    g = j["default_generation_settings"]
    assert g["n_ctx"] == 512 and g["model"] == MODEL_GEMMA and g["n_predict"] == -1
    assert g["temperature"] == pytest.approx(0.8) and g["stream"] is False


def test_health_while_loading():
    """The port opens before the model is loaded: /health says 503 "loading
    model" and the other routes 503 in the error format, then /health 200."""
    import subprocess
    import time
    from server_util import SERVER_BIN, free_port
    port = free_port()
    # --no-mmap: reading the whole file makes the loading window wide enough to see
    p = subprocess.Popen([str(SERVER_BIN), "-m", MODEL_GEMMA, "--no-mmap", "-c", "512", "-t", "2", "--port",
                          str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_loading = seen_props = False
    try:
        with requests.Session() as s:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 60:
                try:
                    r = s.get(f"http://127.0.0.1:{port}/health", timeout=10)
                except requests.ConnectionError:
                    time.sleep(0.002)
                    continue
                if r.status_code == 200:
                    assert r.json()["status"] == "ok"
                    break
                assert r.status_code == 503 and r.json() == {"status": "loading model"}, r.text
                seen_loading = True
                r = s.get(f"http://127.0.0.1:{port}/props", timeout=10)
                if r.status_code == 503:
                    e = r.json()["error"]
                    assert e["code"] == 503 and e["type"] == "unavailable_error"
                    seen_props = True
            else:
                pytest.fail("the server never became ready")
    finally:
        p.terminate()
        p.wait(timeout=15)
    if not seen_loading:
        pytest.skip("the model loaded before the first /health answer")
