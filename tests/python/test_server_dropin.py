"""cllm-server as a drop-in for the current llama-server (issue 17): its
command lines, defaults, fields and headers. Each test names the
llama-server behaviour it matches (tools/server and common/arg.cpp of the
llama.cpp inside the llama-cpp-python sdist); where the seed (the older
llama-server README cllm starts from) documents something, the seed's
behaviour is kept and said so.

Options: tests/vectors/llama-server-options.txt is llama-server's option list
(scripts/extract-llama-options.py from arg.cpp); every name in it must be
accepted by cllm-server or refused with a reason, and listed in
docs/options.md (scripts/gen-options-doc.py)."""
import importlib.util
import json
import subprocess

import pytest
import requests

from server_util import MODEL_GEMMA, REPO_ROOT, SERVER_BIN, Server, sse_events

SPEC = importlib.util.spec_from_file_location("gen_options_doc", REPO_ROOT / "scripts" / "gen-options-doc.py")
optdoc = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(optdoc)


def need_binary():
    if not SERVER_BIN.is_file():
        pytest.skip(f"{SERVER_BIN} not built")


def run(*args, env=None):
    need_binary()
    return subprocess.run([str(SERVER_BIN), *map(str, args)], capture_output=True, text=True, timeout=60, env=env)


# ------------------------------------------------------------ the option list

def test_every_llama_server_option_is_accepted_or_refused_with_a_reason():
    """llama-server --help's every option (arg.cpp, LLAMA_EXAMPLE_SERVER and
    common ones): cllm-server takes it, or exits saying why it does not."""
    need_binary()
    bad = []
    for names, neg, hint, _env in optdoc.options():
        for n in names + neg:
            st, msg = optdoc.probe(SERVER_BIN, n, hint)
            if st == "unknown":
                bad.append(f"{n}: {msg}")
            elif st == "refused":
                assert len(msg) > 10, f"{n} is refused without a reason"
    assert not bad, "llama-server options cllm-server does not know:\n" + "\n".join(bad)


def test_every_llama_server_option_is_in_docs_options_md():
    doc = (REPO_ROOT / "docs" / "options.md").read_text()
    rows = [ln for ln in doc.splitlines() if ln.startswith("| `")]
    listed = set()
    for ln in rows:
        first_cell = ln.split(" | ")[0]
        listed.update(tok.strip("`, |") for tok in first_cell.split() if tok.strip("`, |").startswith("-"))
    missing = [n for names, neg, _h, _e in optdoc.options() for n in names + neg if n not in listed]
    assert not missing, f"not in docs/options.md: {missing}"
    assert "MISSING" not in doc


def test_option_list_is_llama_servers():
    """The committed list has the options model cards use (a stale or empty
    list would make the walk above prove nothing)."""
    names = {n for names, neg, _h, _e in optdoc.options() for n in names + neg}
    for n in ["--temp", "--top-k", "--top-p", "--min-p", "--typical", "--repeat-penalty", "--repeat-last-n",
              "--presence-penalty", "--frequency-penalty", "--mirostat", "--mirostat-lr", "--mirostat-ent", "--seed",
              "--samplers", "--grammar", "--grammar-file", "--json-schema", "--ignore-eos", "-n", "-fa",
              "--embedding", "--embeddings", "--slots", "--no-slots", "--jinja", "--no-jinja", "--chat-template",
              "--context-shift", "--no-context-shift", "--cache-reuse", "--kv-unified", "--offline", "--alias",
              "--props", "--no-webui", "--cors-origins"]:
        assert n in names, n
    assert len(names) > 300


@pytest.mark.parametrize("args,why", [
    (["--hf-repo", "ggml-org/gemma-3-1b-it-GGUF"], "does not download"),
    (["--lora", "x.gguf"], "LoRA"),
    (["--mmproj", "x.gguf"], "multimodal"),
    (["--rope-scaling", "yarn"], "RoPE"),
    (["--models-dir", "/tmp"], "one model"),
])
def test_refused_options_say_why(args, why):
    """llama-server would do something cllm cannot: exit 1 naming the option and the reason."""
    p = run("-m", MODEL_GEMMA, *args)
    assert p.returncode != 0
    assert args[0] in p.stderr and "not supported by cllm-server" in p.stderr and why in p.stderr, p.stderr


def test_gpu_options_warn_and_go_on():
    """llama-server on a CPU build: -ngl warns ('no usable GPU found') and starts; so does cllm."""
    p = run("-m", MODEL_GEMMA, "-ngl", "99", "-fa", "on", "-sm", "none", "--help")
    assert p.returncode == 0, p.stderr
    assert "-ngl" in p.stderr and "warning" in p.stderr


@pytest.mark.parametrize("args", [["-fa"], ["-fa", "on"], ["-fa", "off"], ["--flash-attn", "auto"]])
def test_flash_attn_value_forms(args):
    """-fa takes on|off|auto (arg.cpp); the seed's -fa had no value: both accepted."""
    p = run("-m", MODEL_GEMMA, *args, "--help")
    assert p.returncode == 0, p.stderr


def test_bad_sampling_value_names_the_option():
    p = run("-m", MODEL_GEMMA, "--temp", "warm")
    assert p.returncode != 0 and "--temp" in p.stderr


def test_version():
    p = run("--version")
    assert p.returncode == 0 and "cllm" in p.stdout


# ------------------------------------------------------------ a model-card command line

CARD = ["--temp", "0.7", "--top-k", "40", "--top-p", "0.9", "--min-p", "0.1", "--repeat-penalty", "1.05",
        "--repeat-last-n", "32", "--presence-penalty", "0.25", "--frequency-penalty", "0.5", "--typical", "0.95",
        "--mirostat", "0", "--seed", "42", "-fa", "on", "--jinja", "--no-webui", "-c", "512", "-n", "24",
        "--samplers", "top_k;typ_p;top_p;min_p;temperature", "--cache-reuse", "256", "-kvu", "--offline",
        "--no-context-shift", "--alias", "gemma-card", "-ngl", "99", "--props", "--slots", "--embedding",
        "--metrics", "--api-key", "sekret"]


@pytest.fixture(scope="module")
def card():
    s = Server("-m", MODEL_GEMMA, *CARD)
    s.api_key = "sekret"
    s.start()
    yield s
    s.stop()


def test_card_defaults_in_props(card):
    """llama-server: the sampling options are params_base.sampling, shown in
    /props default_generation_settings.params; cllm also keeps the seed's
    flat default_generation_settings."""
    j = card.get("/props").json()
    for g in (j["default_generation_settings"], j["default_generation_settings"]["params"]):
        assert g["temperature"] == pytest.approx(0.7)
        assert g["top_k"] == 40 and g["seed"] == 42 and g["n_predict"] == 24
        assert g["top_p"] == pytest.approx(0.9) and g["min_p"] == pytest.approx(0.1)
        assert g["repeat_penalty"] == pytest.approx(1.05) and g["repeat_last_n"] == 32
        assert g["presence_penalty"] == pytest.approx(0.25) and g["frequency_penalty"] == pytest.approx(0.5)
        assert g["typical_p"] == pytest.approx(0.95)
        assert g["samplers"] == ["top_k", "typical_p", "top_p", "min_p", "temperature"]
    p = j["default_generation_settings"]["params"]
    assert p["max_tokens"] == 24 and "n_ctx" not in p
    assert j["endpoint_props"] is True and j["endpoint_slots"] is True and j["endpoint_metrics"] is True
    assert j["model_alias"] == "gemma-card"
    assert j["modalities"] == {"vision": False, "video": False, "audio": False}
    assert j["chat_template"] == "chatml"  # --jinja on a GGUF with no template: ChatML (llama-server)


def test_card_defaults_apply_to_a_request(card):
    """llama-server params_from_json_cmpl: every field defaults to params_base's."""
    r = card.post("/completion", json={"prompt": "The capital of France is"})
    assert r.status_code == 200, r.text
    j = r.json()
    g = j["generation_settings"]
    assert g["temperature"] == pytest.approx(0.7) and g["top_k"] == 40 and g["seed"] == 42
    assert j["tokens_predicted"] <= 24 and g["n_predict"] == 24
    # --seed 42 with temperature 0.7: the same text each time, and the same as seed 42 asked for
    again = card.post("/completion", json={"prompt": "The capital of France is"}).json()
    asked = card.post("/completion", json={"prompt": "The capital of France is", "seed": 42}).json()
    assert j["content"] == again["content"] == asked["content"]
    # a request's own fields win
    r = card.post("/completion", json={"prompt": "Hi", "temperature": 0, "top_k": 5, "n_predict": 3}).json()
    assert r["generation_settings"]["temperature"] == 0 and r["generation_settings"]["top_k"] == 5
    assert r["tokens_predicted"] <= 3
    # OpenAI's max_tokens still overrides the -n default
    r = card.post("/v1/completions", json={"prompt": "Hi", "max_tokens": 2, "temperature": 0})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 2


def test_post_props(card):
    """llama-server: POST /props answers {"success": true} with --props (501 without)."""
    r = card.post("/props", json={})
    assert r.status_code == 200 and r.json() == {"success": True}


def test_x_api_key(card):
    """llama-server's API key check: Authorization, else X-Api-Key (Anthropic clients)."""
    u = card.url + "/v1/models"
    assert requests.get(u, headers={"X-Api-Key": "sekret"}, timeout=30).status_code == 200
    assert requests.get(u, headers={"X-Api-Key": "wrong"}, timeout=30).status_code == 401
    assert requests.get(u, timeout=30).status_code == 401


def test_cors_echoes_origin(card):
    """llama-server's default (--cors-origins '*' with credentials): the
    request's Origin echoed; the preflight answers credentials, methods and
    headers without asking for the key."""
    r = requests.get(card.url + "/health", headers={"Origin": "http://example.com"}, timeout=30)
    assert r.headers["Access-Control-Allow-Origin"] == "http://example.com"
    r = requests.options(card.url + "/v1/chat/completions", timeout=30,
                         headers={"Origin": "http://example.com", "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "http://example.com"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in r.headers["Access-Control-Allow-Methods"] and "DELETE" in r.headers["Access-Control-Allow-Methods"]
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()


@pytest.fixture(scope="module")
def noshift():
    s = Server("-m", MODEL_GEMMA, "-c", "256", "--no-context-shift")
    s.start()
    yield s
    s.stop()


def test_no_context_shift_stops_at_the_context_end(noshift):
    """llama-server without context shift (process_token): generation stops
    when the slot is full (stop_type limit, truncated: true)."""
    r = noshift.post("/completion", json={"prompt": "Count: one two three", "n_predict": 4000, "ignore_eos": True,
                                          "temperature": 0})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["stopped_limit"] is True and j["truncated"] is True and j["stop_type"] == "limit"
    assert 250 <= j["tokens_evaluated"] + j["tokens_predicted"] <= 256


def test_no_context_shift_prompt_too_long_is_an_error(noshift):
    """llama-server: 'request (N tokens) exceeds the available context size
    (M tokens), try increasing it', 400; without context shift even n_keep does not truncate."""
    r = noshift.post("/completion", json={"prompt": [2] + [651] * 300, "n_keep": 10})
    assert r.status_code == 400
    assert "exceeds the available context size" in r.json()["error"]["message"]


# ------------------------------------------------------------ defaults from other options

def test_grammar_option_is_every_requests_grammar():
    """llama-server --grammar: params_base.sampling.grammar, every request's default."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--grammar", 'root ::= "yes" | "no"')
    s.start()
    try:
        j = s.complete("Is the sky blue? Answer:", n_predict=8)
        assert j["content"] in ("yes", "no")
        assert j["generation_settings"]["grammar"].startswith("root")
        # a request's own grammar wins
        j = s.complete("Answer:", n_predict=8, grammar='root ::= "maybe"')
        assert j["content"] == "maybe"
    finally:
        s.stop()


def test_json_schema_option_and_ignore_eos(tmp_path):
    """llama-server -j/--json-schema: the grammar of every request; --ignore-eos likewise."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "-j", '{"type": "boolean"}', "--ignore-eos")
    s.start()
    try:
        j = s.complete("Is water wet?", n_predict=6)
        assert j["content"].strip() in ("true", "false")
        assert s.get("/props").json()["default_generation_settings"]["ignore_eos"] is True
    finally:
        s.stop()


def test_env_variables_and_command_line_wins():
    """llama-server reads LLAMA_ARG_* (set_env in arg.cpp); the command line wins over them."""
    import os
    env = dict(os.environ, LLAMA_ARG_TEMPERATURE="0.3", LLAMA_ARG_TOP_K="7", LLAMA_ARG_CTX_SIZE="512",
               LLAMA_ARG_ENDPOINT_SLOTS="0", LLAMA_ARG_ALIAS="from-env")
    s = Server("-m", MODEL_GEMMA, "--top-k", "9", env=env)
    s.start()
    try:
        j = s.get("/props").json()
        g = j["default_generation_settings"]
        assert g["temperature"] == pytest.approx(0.3) and g["top_k"] == 9
        assert j["n_ctx"] == 512 and j["model_alias"] == "from-env"
        assert s.get("/slots").status_code == 501
    finally:
        s.stop()


def test_env_variables_of_the_options_that_work(tmp_path):
    """The LLAMA_ARG_* of the options cllm makes work (arg.cpp set_env): cache prompt, tags, UI config,
    log file, verbosity, per-slot context."""
    import os
    lf = tmp_path / "env.log"
    env = dict(os.environ, LLAMA_ARG_CACHE_PROMPT="1", LLAMA_ARG_TAGS="t1,t2", LLAMA_ARG_UI_CONFIG='{"a": 1}',
               LLAMA_ARG_LOG_FILE=str(lf), LLAMA_ARG_LOG_VERBOSITY="3", LLAMA_ARG_KV_UNIFIED_PER_SLOT="256",
               LLAMA_ARG_SSE_PING_INTERVAL="5", LLAMA_ARG_LOG_JSONL="0")
    s = Server("-m", MODEL_GEMMA, env=env)
    s.start()
    try:
        j = s.get("/props").json()
        assert j["ui_settings"] == {"a": 1} and j["default_generation_settings"]["n_ctx"] == 256
        assert s.get("/v1/models").json()["data"][0]["tags"] == ["t1", "t2"]
        d = s.complete("Hi", n_predict=1)
        assert d["generation_settings"]["cache_prompt"] is True
        line = next(ln for ln in lf.read_text().splitlines() if "model loaded" in ln)
        assert not line.startswith("{")  # LLAMA_ARG_LOG_JSONL=0: text
    finally:
        s.stop()


def test_chat_template_inline_jinja():
    """llama-server --chat-template takes Jinja text as well as a built-in name."""
    tmpl = "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}\n{% endfor %}<<assistant>>"
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--jinja", "--chat-template", tmpl)
    s.start()
    try:
        r = s.post("/apply-template", json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        assert r.json()["prompt"] == "<<user>>hi\n<<assistant>>"
    finally:
        s.stop()


def test_jinja_without_template_falls_back_to_chatml():
    """llama-server (common_chat_templates_init): no template in the GGUF -> ChatML, not an exit."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--jinja")
    s.start()
    try:
        r = s.post("/apply-template", json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        assert r.json()["prompt"] == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    finally:
        s.stop()


# ------------------------------------------------------------ fields

@pytest.fixture(scope="module")
def plain():
    s = Server("-m", MODEL_GEMMA, "-c", "1024")
    s.start()
    yield s
    s.stop()


def test_chat_stream_starts_with_a_role_only_chunk(plain):
    """llama-server (to_json_oaicompat_chat_stream, 'initial update to conform
    to openai behavior'): the first chunk's delta is {role: assistant, content: null}."""
    r = plain.post("/v1/chat/completions", stream=True, json={
        "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 3, "stream": True, "temperature": 0})
    events = list(sse_events_or_done(r))
    first = events[0]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": None}
    assert first["system_fingerprint"] and first["object"] == "chat.completion.chunk"
    rest = [e["choices"][0]["delta"] for e in events[1:] if e["choices"]]
    assert all("role" not in d for d in rest)
    assert "".join(d.get("content") or "" for d in rest)


def sse_events_or_done(resp):
    buf = b""
    for chunk in resp.iter_content(chunk_size=None):
        buf += chunk
    for block in buf.split(b"\n\n"):
        if block.startswith(b"data: ") and block[6:].strip() != b"[DONE]":
            yield json.loads(block[6:])


def test_timings_cache_n_and_cached_tokens(plain):
    """llama-server: timings.cache_n (prompt tokens reused) and
    usage.prompt_tokens_details.cached_tokens."""
    body = {"messages": [{"role": "user", "content": "Tell me a long story about a small red fox in the forest."}],
            "max_tokens": 2, "temperature": 0, "cache_prompt": True}
    plain.post("/v1/chat/completions", json=body)
    j = plain.post("/v1/chat/completions", json=body).json()
    assert j["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    assert j["timings"]["cache_n"] == j["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert j["timings"]["cache_n"] + j["timings"]["prompt_n"] == j["usage"]["prompt_tokens"]
    n = plain.complete("Hello there", n_predict=1)
    assert "cache_n" in n["timings"]


def test_response_fields(plain):
    """llama-server's response_fields: only the listed paths, nested ones
    under their 'a/b' path as the key."""
    j = plain.complete("Hello", n_predict=2, response_fields=["content", "generation_settings/n_predict", "nope"])
    assert set(j) == {"content", "generation_settings/n_predict"}
    assert j["generation_settings/n_predict"] == 2


def test_probs_carry_token_ids(plain):
    """llama-server's probabilities carry the token ids ('id'), native and OpenAI."""
    j = plain.complete("Hello", n_predict=2, n_probs=3)
    for e in j["completion_probabilities"]:
        assert isinstance(e["id"], int)
        assert all(isinstance(p["id"], int) for p in e["probs"])
    r = plain.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
                                                 "logprobs": True, "top_logprobs": 2, "temperature": 0}).json()
    for e in r["choices"][0]["logprobs"]["content"]:
        assert isinstance(e["id"], int) and all(isinstance(t["id"], int) for t in e["top_logprobs"])


def test_native_final_fields(plain):
    """llama-server's /completion answer: index, tokens, has_new_line, stop_type besides the seed's fields."""
    j = plain.complete("Hello", n_predict=2)
    assert j["index"] == 0 and j["tokens"] == [] and j["stop_type"] in ("eos", "limit", "word")
    assert isinstance(j["has_new_line"], bool)


def test_prompt_too_long_without_n_keep_is_an_error(plain):
    """llama-server: a prompt longer than the slot is a 400 ('exceeds the
    available context size'); with n_keep given, the seed's truncation."""
    r = plain.post("/completion", json={"prompt": [2] + [651] * 1500, "n_predict": 1})
    assert r.status_code == 400
    assert "exceeds the available context size" in r.json()["error"]["message"]
    j = plain.complete([2] + [651] * 1500, n_predict=1, n_keep=4)
    assert j["truncated"] is True


def test_post_props_without_flag_is_501(plain):
    r = plain.post("/props", json={})
    assert r.status_code == 501 and "--props" in r.json()["error"]["message"]


def test_props_llama_fields(plain):
    j = plain.get("/props").json()
    for k in ["default_generation_settings", "total_slots", "model_path", "chat_template", "model_alias",
              "modalities", "endpoint_slots", "endpoint_props", "endpoint_metrics", "bos_token", "eos_token",
              "build_info", "is_sleeping"]:
        assert k in j, k
    assert j["endpoint_props"] is False
    assert "params" in j["default_generation_settings"]


def test_slots_llama_fields(plain):
    """llama-server's /slots entries: id, n_ctx, speculative, is_processing,
    params, next_token (the seed's flat settings kept too)."""
    plain.complete("Hello", n_predict=1)
    s = plain.get("/slots").json()[0]
    for k in ["id", "id_task", "n_ctx", "speculative", "is_processing", "params", "next_token", "prompt"]:
        assert k in s, k
    assert s["params"]["temperature"] == s["temperature"]


def test_verbose_adds_native_answer():
    """llama-server under -v: OpenAI answers carry __verbose (the native answer)."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "-v")
    s.start()
    try:
        j = s.post("/v1/completions", json={"prompt": "Hi", "max_tokens": 2, "temperature": 0}).json()
        assert j["__verbose"]["tokens_predicted"] == j["usage"]["completion_tokens"]
        assert "generation_settings" in j["__verbose"]
    finally:
        s.stop()


def test_chat_template_kwargs_option():
    """llama-server --chat-template-kwargs: extra template variables for every
    request; a request's own chat_template_kwargs win."""
    tmpl = "{{ greeting }}{% for m in messages %}[{{ m.content }}]{% endfor %}"
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--jinja", "--chat-template", tmpl,
               "--chat-template-kwargs", '{"greeting": "HELLO"}')
    s.start()
    try:
        msgs = [{"role": "user", "content": "hi"}]
        assert s.post("/apply-template", json={"messages": msgs}).json()["prompt"] == "HELLO[hi]"
        r = s.post("/apply-template", json={"messages": msgs, "chat_template_kwargs": {"greeting": "YO"}})
        assert r.json()["prompt"] == "YO[hi]"
    finally:
        s.stop()


def test_host_list_with_bad_entry_names_it():
    """llama-server's --host takes comma-separated addresses and *.sock paths (test_server_options.py
    shows them working); an entry that is not an address is an error naming --host."""
    p = run("-m", MODEL_GEMMA, "--host", "127.0.0.1,no such host!")
    assert p.returncode != 0 and "--host" in p.stderr, p.stderr


# Rows still without their reason: none may print the bare "no effect" (the set stays for a row
# whose work is in progress, and must be empty when it lands).
NO_REASON_YET = set()
GENERIC = "accepted for llama-server compatibility; no effect in cllm"


def test_every_option_accepted_with_no_effect_says_why():
    """An option accepted that does nothing must be moot in cllm and say why (on stderr and in --help),
    never the bare 'no effect': each one in --help's list is run and its warning read."""
    out = run("--help").stdout
    part = out.split("Accepted with no effect", 1)[1].split("\n  Refused", 1)[0]
    rows = [ln.strip() for ln in part.splitlines()[1:] if ln.strip()]
    assert len(rows) > 20
    bad = []
    for row in rows:
        names, _, why = row.partition(": ")
        names = names.split(",")
        if GENERIC in why and not set(names) & NO_REASON_YET:
            bad.append(row)
        assert len(why) > 15, row
    assert not bad, "accepted with no effect and no reason:\n" + "\n".join(bad)
    for names, neg, hint, _env in optdoc.options():
        for n in names + neg:
            if n in NO_REASON_YET:
                continue
            v = optdoc.value_for(n, hint)
            p = run("-m", MODEL_GEMMA, n, *([v] if v is not None else []), "--help")
            for ln in p.stderr.splitlines():
                assert GENERIC not in ln, f"{n}: {ln}"


# ------------------------------------------------------------ message lists (oaicompat_chat_params_parse)

CHATML_USER = "<|im_start|>user\nhi<|im_end|>\n"


def apply(srv, **body):
    return srv.post("/apply-template", json=body)


def test_add_generation_prompt_false(plain):
    """llama-server reads add_generation_prompt (default true) from the body."""
    r = apply(plain, messages=[{"role": "user", "content": "hi"}], add_generation_prompt=False)
    assert r.status_code == 200 and r.json()["prompt"] == CHATML_USER


def test_assistant_prefill(plain):
    """llama-server (--prefill-assistant, default on): a final assistant
    message is continued: the list without it, the generation prompt, then its content."""
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, here"}]
    r = apply(plain, messages=msgs)
    assert r.status_code == 200
    assert r.json()["prompt"] == CHATML_USER + "<|im_start|>assistant\nSure, here"
    # continue_final_message: true does the same
    r = apply(plain, messages=msgs, continue_final_message=True, add_generation_prompt=False)
    assert r.json()["prompt"] == CHATML_USER + "<|im_start|>assistant\nSure, here"
    # and a chat request continues it
    j = plain.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 2, "temperature": 0})
    assert j.status_code == 200


def test_conflicting_message_lists_are_400(plain):
    """llama-server's 400s: two assistant messages at the end; continue_final_message with add_generation_prompt."""
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"},
            {"role": "assistant", "content": "b"}]
    r = plain.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 1})
    assert r.status_code == 400
    assert "Cannot have 2 or more assistant messages at the end of the list." in r.json()["error"]["message"]
    r = plain.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
                                                 "continue_final_message": True, "add_generation_prompt": True})
    assert r.status_code == 400
    assert "Cannot set both add_generation_prompt and continue_final_message" in r.json()["error"]["message"]


def test_no_prefill_assistant():
    """llama-server --no-prefill-assistant: a final assistant message is a finished turn."""
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--no-prefill-assistant")
    s.start()
    try:
        msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]
        p = apply(s, messages=msgs).json()["prompt"]
        assert p == CHATML_USER + "<|im_start|>assistant\nSure<|im_end|>\n<|im_start|>assistant\n"
    finally:
        s.stop()
