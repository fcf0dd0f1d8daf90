"""cllm-server's KV memory (issue 22): pages taken on demand, gemma 3's
sliding-window layers kept to their window (unless --swa-full), and the
memory report (start-up log, /metrics, /slots).

- resident memory at start with -c 32768 -np 4 is far below what a pool
  touched in full would take;
- greedy text for a prompt longer than the window is the same with the
  window kept (default) and with every position kept (--swa-full), for a
  fresh slot, a repeated prompt (its dropped window makes the server
  evaluate it again, as llama-server without checkpoints), and a slot saved
  and restored;
- /metrics and /slots report pages; the windowed layers hold at most
  window + one batch per slot.
"""
import os

import pytest

from server_util import MODEL_GEMMA, Server, server_fixture

MIB = 1024 * 1024
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango").split()
# ~1400 tokens: longer than gemma 3's window (512) and than two batches
LONG = ("A list of code words and numbers follows.\n" +
        " ".join(f"{WORDS[i % 20]} {i * 7 % 101}" for i in range(330)) +
        "\nQuestion: which code word comes after alpha? Answer:")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_rss_at_start_follows_use():
    s = Server("-m", MODEL_GEMMA, "-c", "32768", "-np", "4", "--metrics").start()
    try:
        rss = rss_bytes(s.proc.pid)
        m = s.metrics()
        # every layer's K and V (f16) for every position: what a pool touched in full takes
        full_pool = 18 * m["cllm:kv_full_bytes_per_token"] * 32768
        assert full_pool > 500 * MIB
        weights = os.path.getsize(MODEL_GEMMA)
        assert rss < weights + full_pool / 4, (rss / MIB, weights / MIB, full_pool / MIB)
        # nothing held yet, and the bound is below the full pool (windows kept to their size)
        assert m["cllm:kv_pages_used"] == 0
        assert m["cllm:kv_bytes_max"] < full_pool / 2
        assert m["cllm:weights_bytes"] > 200 * MIB
        assert "memory: weights" in s.log_tail(100000)
    finally:
        s.stop()


win = server_fixture("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--metrics", "--slots")
full = server_fixture("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--swa-full", "--metrics")


def test_windowed_text_equals_swa_full(win, full):
    a = win.complete(LONG, n_predict=48, cache_prompt=True, id_slot=0)
    b = full.complete(LONG, n_predict=48, cache_prompt=True, id_slot=0)
    assert a["tokens_evaluated"] > 1000
    assert a["content"] == b["content"] and a["content"]
    # the same prompt again: the windowed server dropped the window the
    # cached prompt's last token needs, so it evaluates the prompt again;
    # the full one reuses it; the text is the same
    a2 = win.complete(LONG, n_predict=48, cache_prompt=True, id_slot=0)
    b2 = full.complete(LONG, n_predict=48, cache_prompt=True, id_slot=0)
    assert a2["content"] == a["content"] == b2["content"]
    assert b2["timings"]["prompt_n"] == 1
    assert a2["timings"]["prompt_n"] == a["tokens_evaluated"]
    # the prompt extended: reused where the window allows, same text
    a3 = win.complete(LONG + " The", n_predict=24, cache_prompt=True, id_slot=0)
    b3 = full.complete(LONG + " The", n_predict=24, cache_prompt=True, id_slot=0)
    assert a3["content"] == b3["content"]


def test_pages_reported(win):
    win.complete(LONG, n_predict=8, cache_prompt=True, id_slot=1)
    m = win.metrics()
    for name in ("kv_pages_used", "kv_pages_shared", "kv_pages_free", "kv_bytes_used", "kv_bytes_resident",
                 "kv_bytes_max", "kv_full_pages_used", "kv_swa_pages_used", "kv_swa_bytes_per_token",
                 "scratch_bytes", "decode_failed_total"):
        assert f"cllm:{name}" in m, name
    ps = m["cllm:kv_page_tokens"]
    assert m["cllm:kv_pages_used"] > 0
    assert m["cllm:kv_bytes_used"] <= m["cllm:kv_bytes_resident"] <= m["cllm:kv_bytes_max"]
    assert m["cllm:decode_failed_total"] == 0
    # the windowed layers: at most window + one batch (512) + a few pages per slot
    assert m["cllm:kv_swa_pages_used"] * ps <= 2 * (512 + 512 + 4 * ps)
    # the full layers hold every cached token
    slots = win.get("/slots").json()
    s1 = [s for s in slots if s["id"] == 1][0]
    assert s1["n_past"] > 1000
    assert m["cllm:kv_full_pages_used"] * ps >= s1["n_past"]
    assert s1["kv_pages"] > s1["n_past"] // ps
    assert s1["kv_pages"] < 2 * (s1["n_past"] // ps)


@pytest.fixture(scope="module")
def save_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kv-save")


def test_save_restore_windowed(save_dir):
    """A slot saved by the windowed server holds only the window of its
    sliding-window layers; restored, the text goes on as with --swa-full."""
    outs = []
    for extra in ((), ("--swa-full",)):
        s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--slot-save-path", str(save_dir), *extra).start()
        try:
            s.complete(LONG, n_predict=4, cache_prompt=True, id_slot=0)
            name = "win.bin" if not extra else "full.bin"
            r = s.post("/slots/0?action=save", json={"filename": name})
            assert r.status_code == 200, r.text
            assert s.post("/slots/0?action=erase").status_code == 200
            r = s.post("/slots/1?action=restore", json={"filename": name})
            assert r.status_code == 200, r.text
            outs.append(s.complete(LONG + " The answer", n_predict=24, cache_prompt=True, id_slot=1)["content"])
        finally:
            s.stop()
    assert outs[0] == outs[1]
    assert os.path.getsize(save_dir / "win.bin") < os.path.getsize(save_dir / "full.bin") / 2
