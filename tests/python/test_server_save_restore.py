"""cllm-server: POST /slots/{id}?action=save|restore|erase with
--slot-save-path: a round trip (save, erase, restore, then a cache_prompt
request reuses the restored tokens), file names confined to the directory,
bad slot ids, bad actions."""
import os

import pytest

from server_util import MODEL_GEMMA, Server, error_of

PROMPT = "Write a short poem about the sea and the wind, in four lines:"


@pytest.fixture(scope="module")
def save_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("slot-save")


@pytest.fixture(scope="module")
def srv(save_dir):
    s = Server("-m", MODEL_GEMMA, "-c", "1024", "-np", "2", "--slot-save-path", str(save_dir)).start()
    try:
        yield s
    finally:
        s.stop()


def action(srv, slot, act, **body):
    return srv.post(f"/slots/{slot}?action={act}", json=body if body or act != "erase" else None)


def n_past(srv, slot):
    return srv.get("/slots").json()[slot]["n_past"]


def test_round_trip(srv, save_dir):
    a = srv.complete(PROMPT, n_predict=8, id_slot=0, cache_prompt=True)
    cached = n_past(srv, 0)
    assert cached >= a["tokens_evaluated"]
    r = action(srv, 0, "save", filename="poem.bin")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["id_slot"] == 0 and j["filename"] == "poem.bin"
    assert j["n_saved"] == cached
    assert j["n_written"] == os.path.getsize(save_dir / "poem.bin") > 0
    assert j["timings"]["save_ms"] >= 0
    # erase
    r = action(srv, 0, "erase")
    assert r.status_code == 200, r.text
    assert r.json() == {"id_slot": 0, "n_erased": cached}
    assert n_past(srv, 0) == 0
    # after an erase nothing is reused
    b = srv.complete(PROMPT, n_predict=1, id_slot=0, cache_prompt=True)
    assert b["tokens_cached"] == 0
    action(srv, 0, "erase")
    # restore
    r = action(srv, 0, "restore", filename="poem.bin")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["id_slot"] == 0 and j["filename"] == "poem.bin"
    assert j["n_restored"] == cached
    assert j["n_read"] == os.path.getsize(save_dir / "poem.bin")
    assert j["timings"]["restore_ms"] >= 0
    assert n_past(srv, 0) == cached
    # the restored tokens are reused, and the text is the same
    c = srv.complete(PROMPT, n_predict=8, id_slot=0, cache_prompt=True)
    assert c["tokens_cached"] >= c["tokens_evaluated"] - 1
    assert c["content"] == a["content"]


def test_restore_into_another_slot(srv, save_dir):
    a = srv.complete(PROMPT, n_predict=4, id_slot=0, cache_prompt=True)
    r = action(srv, 0, "save", filename="s0.bin")
    assert r.status_code == 200, r.text
    action(srv, 1, "erase")
    r = action(srv, 1, "restore", filename="s0.bin")
    assert r.status_code == 200, r.text
    c = srv.complete(PROMPT + " The", n_predict=4, id_slot=1, cache_prompt=True)
    assert c["tokens_cached"] == a["tokens_evaluated"]


def test_save_empty_slot(srv):
    action(srv, 1, "erase")
    r = action(srv, 1, "save", filename="empty.bin")
    assert r.status_code == 200, r.text
    assert r.json()["n_saved"] == 0
    r = action(srv, 1, "restore", filename="empty.bin")
    assert r.status_code == 200, r.text
    assert r.json()["n_restored"] == 0


@pytest.mark.parametrize("name", ["../x", "a/b", "/etc/passwd", "..", "", ".", "..\\x", "a/../b", "x\x00y",
                                  "a" * 300, "sub/", "./x"])
@pytest.mark.parametrize("act", ["save", "restore"])
def test_path_traversal_rejected(srv, save_dir, name, act):
    before = set(os.listdir(save_dir.parent))
    msg = error_of(action(srv, 0, act, filename=name), 400)
    if "\x00" not in name:  # (a NUL is refused by the JSON parser already)
        assert "filename" in msg
    assert set(os.listdir(save_dir.parent)) == before  # nothing written next to the save dir


@pytest.mark.parametrize("body", [{}, {"filename": 5}, {"filename": None}, {"filename": ["a"]}])
def test_bad_filename_field(srv, body):
    r = srv.post("/slots/0?action=save", json=body)
    assert "filename" in error_of(r, 400)


def test_bad_body(srv):
    r = srv.post("/slots/0?action=save", data=b"not json", headers={"Content-Type": "application/json"})
    error_of(r, 400)


def test_restore_missing_file(srv):
    r = action(srv, 0, "restore", filename="does-not-exist.bin")
    assert r.status_code in (400, 404), r.text
    error_of(r, r.status_code)
    assert srv.healthy()


def test_restore_corrupt_file(srv, save_dir):
    (save_dir / "junk.bin").write_bytes(os.urandom(4096))
    (save_dir / "short.bin").write_bytes(b"")
    for name in ("junk.bin", "short.bin"):
        r = action(srv, 1, "restore", filename=name)
        assert 400 <= r.status_code < 600 and r.status_code != 200, r.text
        error_of(r, r.status_code)
    # the slot still works
    assert srv.complete(PROMPT, n_predict=2, id_slot=1)["tokens_predicted"] == 2


@pytest.mark.parametrize("slot", ["2", "99", "-1", "abc", "", "0x1", "1.0"])
def test_bad_slot_id_404(srv, slot):
    r = srv.post(f"/slots/{slot}?action=save", json={"filename": "x.bin"})
    error_of(r, 404)


@pytest.mark.parametrize("query", ["", "?action=", "?action=delete", "?action=SAVE", "?foo=save"])
def test_bad_action_400(srv, query):
    r = srv.post(f"/slots/0{query}", json={"filename": "x.bin"})
    assert "action" in error_of(r, 400)


def test_wrong_method(srv):
    error_of(srv.get("/slots/0?action=save"), 405)


def test_healthy_afterwards(srv):
    assert srv.healthy()
    assert srv.complete(PROMPT, n_predict=2)["tokens_predicted"] == 2
