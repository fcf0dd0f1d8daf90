"""The response fields, headers and template behaviours of the current
llama-server (issue 17), on a real server (gemma-3-270m): each test names the
llama-server behaviour it matches (its source: the llama-cpp-python 0.3.36
sdist, vendor/llama.cpp/tools/server). test_server_vs_llama.py compares the
member paths side by side with a real llama-server; here the values.

  - return_progress: prompt_progress {total, cache, processed, time_ms}
    events in streams, one when the prompt starts and one per prompt batch;
  - the native stream events' index, id_slot, tokens, tokens_predicted,
    tokens_evaluated; timings_per_token; return_tokens; n_probs with
    llama-server's token/bytes/logprob/top_logprobs beside the seed's;
  - OpenAI: system_fingerprint, timings and usage where llama-server puts
    them, __verbose with verbose (request field or -v);
  - Process-Start-Time-Unix on every response;
  - a prompt longer than the slot: exceed_context_size_error;
  - /props: model_ftype, media_marker, chat_template_caps, ui_settings,
    cors_proxy_enabled;
  - templates: datetime, date_string and strftime_now give today's date;
    llama-server's 400s for invalid message lists.
"""
import datetime
import json
import math
import time

import pytest

from server_util import MODEL_GEMMA, Server, error_of, server_fixture

# -ub 64: a prompt of a few hundred tokens takes several batches (several progress events)
srv = server_fixture("-m", MODEL_GEMMA, "-c", "1024", "-np", "1", "-ub", "64")

LONG = "The quick brown fox jumps over the lazy dog. " * 20  # about 200 tokens


def stream(srv, path, body):
    """The events of a streamed answer (JSON objects, and "[DONE]")."""
    r = srv.post(path, json={**body, "stream": True})
    assert r.status_code == 200, r.text
    events = []
    for block in r.content.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: "):
                data = line[6:].decode()
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


# ------------------------------------------------------------ return_progress

def test_return_progress_native(srv):
    """llama-server (send_partial_response with is_progress): with stream and
    return_progress, an event when the prompt starts (processed = cache) and
    one after each prompt batch, each with prompt_progress {total, cache,
    processed, time_ms}, before the first token."""
    ev = srv.stream(LONG, n_predict=3, return_progress=True, cache_prompt=False)
    prog = [e for e in ev if "prompt_progress" in e]
    rest = [e for e in ev if "prompt_progress" not in e]
    assert ev[:len(prog)] == prog, "progress events come first"
    final = ev[-1]
    assert final["stop"] is True
    total = final["tokens_evaluated"]
    assert total > 128  # three batches of 64 at least
    pp = [e["prompt_progress"] for e in prog]
    for p in pp:
        assert set(p) == {"total", "cache", "processed", "time_ms"}
        assert p["total"] == total and p["cache"] == 0
    assert pp[0]["processed"] == 0 and pp[0]["time_ms"] == 0
    assert pp[-1]["processed"] == total
    steps = [b["processed"] - a["processed"] for a, b in zip(pp, pp[1:])]
    assert all(0 < s <= 64 for s in steps), steps  # one event per batch of -ub 64
    assert len(pp) == 1 + math.ceil(total / 64)
    assert all(b["time_ms"] >= a["time_ms"] for a, b in zip(pp, pp[1:]))
    for e in prog:  # the partial's other members, as llama-server's
        assert e["content"] == "" and e["stop"] is False and e["tokens_predicted"] == 0
        assert e["tokens_evaluated"] == total and e["index"] == 0
    assert "".join(e["content"] for e in rest) == srv.complete(LONG, n_predict=3)["content"]


def test_return_progress_counts_the_cache(srv):
    """llama-server: cache is the prompt tokens reused from the slot; the
    first event's processed is that many."""
    srv.complete(LONG, n_predict=1, cache_prompt=True)
    ev = srv.stream(LONG + " And then?", n_predict=1, return_progress=True, cache_prompt=True)
    pp = [e["prompt_progress"] for e in ev if "prompt_progress" in e]
    assert pp[0]["cache"] > 100 and pp[0]["processed"] == pp[0]["cache"]
    assert pp[-1]["processed"] == pp[-1]["total"] == ev[-1]["tokens_evaluated"]
    assert ev[-1]["tokens_cached"] >= pp[0]["cache"]


def test_no_progress_unless_asked(srv):
    """llama-server sends progress only with stream and return_progress."""
    ev = srv.stream("Once upon a time", n_predict=2)
    assert not any("prompt_progress" in e for e in ev)
    j = srv.complete("Once upon a time", n_predict=2, return_progress=True)
    assert "prompt_progress" not in j


def test_return_progress_chat(srv):
    """llama-server (to_json_oaicompat_chat): a progress chunk is a role delta
    with prompt_progress beside choices; then the role chunk, the text, and
    the finish chunk with timings."""
    ev = stream(srv, "/v1/chat/completions", {"messages": [{"role": "user", "content": LONG}], "max_tokens": 2,
                                              "temperature": 0, "return_progress": True})
    assert ev[-1] == "[DONE]"
    prog = [e for e in ev[:-1] if "prompt_progress" in e]
    assert len(prog) >= 2
    for e in prog:
        assert e["choices"][0]["delta"] == {"role": "assistant", "content": None}
        assert e["object"] == "chat.completion.chunk" and e["system_fingerprint"]
    after = ev[len(prog):-1]
    assert after[0]["choices"][0]["delta"]["role"] == "assistant"
    last = after[-1]
    assert last["choices"][0]["finish_reason"] == "length"
    assert last["timings"]["prompt_n"] == prog[-1]["prompt_progress"]["total"]


def test_return_progress_text_completion(srv):
    """llama-server (to_json_oaicompat, partial): an empty text choice with
    prompt_progress; the last chunk carries usage and timings."""
    ev = stream(srv, "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 2, "temperature": 0,
                                         "return_progress": True})
    prog = [e for e in ev[:-1] if "prompt_progress" in e]
    assert prog and all(e["choices"][0]["text"] == "" for e in prog)
    last = ev[-2]
    assert last["choices"][0]["finish_reason"] == "length"
    assert last["usage"]["completion_tokens"] == 2
    assert last["usage"]["prompt_tokens"] == prog[-1]["prompt_progress"]["total"]
    assert last["timings"]["predicted_n"] == 2


# ------------------------------------------------------------ native stream events

def test_native_stream_event_members(srv):
    """llama-server (to_json_non_oaicompat, partial): index, content, tokens
    (this event's token id), stop, id_slot, tokens_predicted, tokens_evaluated."""
    ev = srv.stream("Once upon a time", n_predict=5)
    final = ev[-1]
    toks = []
    for n, e in enumerate(ev[:-1], 1):
        assert e["index"] == 0 and e["stop"] is False
        assert e["id_slot"] == final["id_slot"]
        assert e["tokens_evaluated"] == final["tokens_evaluated"]
        assert e["tokens_predicted"] == n
        assert len(e["tokens"]) == 1
        toks += e["tokens"]
    text = "".join(e["content"] for e in ev)
    d = srv.post("/detokenize", json={"tokens": toks}).json()["content"]
    assert d == text
    assert final["tokens_predicted"] == 5 and final["tokens"] == []


def test_timings_per_token(srv):
    """llama-server (timings_per_token): timings in every stream event, the
    generated count growing with each."""
    ev = srv.stream("Once upon a time", n_predict=4, timings_per_token=True)
    assert all("timings" in e for e in ev)
    assert [e["timings"]["predicted_n"] for e in ev[:-1]] == [1, 2, 3, 4]
    assert ev[-1]["timings"]["predicted_n"] == 4
    for e in ev:
        t = e["timings"]
        assert t["prompt_n"] == ev[-1]["timings"]["prompt_n"] and t["prompt_ms"] > 0
    ev = srv.stream("Once upon a time", n_predict=2)
    assert "timings" not in ev[0] and "timings" in ev[-1]


def test_return_tokens(srv):
    """llama-server (return_tokens): the generated ids in the answer's tokens."""
    j = srv.complete("Once upon a time", n_predict=6, return_tokens=True)
    assert len(j["tokens"]) == 6
    assert srv.post("/detokenize", json={"tokens": j["tokens"]}).json()["content"] == j["content"]
    assert srv.complete("Once upon a time", n_predict=2)["tokens"] == []


def test_native_probs_both_formats(srv):
    """llama-server (probs_vector_to_json): id, token, bytes, logprob,
    top_logprobs [{id, token, bytes, logprob}]; beside the seed's content and
    probs [{id, tok_str, prob}], the same numbers."""
    j = srv.complete("Once upon a time", n_predict=3, n_probs=3)
    for c in j["completion_probabilities"]:
        assert c["token"] == c["content"] and bytes(c["bytes"]) == c["token"].encode()
        assert len(c["top_logprobs"]) == len(c["probs"]) == 3
        for a, b in zip(c["top_logprobs"], c["probs"]):
            assert a["id"] == b["id"] and a["token"] == b["tok_str"]
            assert a["logprob"] == pytest.approx(math.log(b["prob"]), abs=1e-5)
        assert c["id"] == c["top_logprobs"][0]["id"]  # greedy
        assert c["logprob"] == pytest.approx(c["top_logprobs"][0]["logprob"], abs=1e-5)


def test_text_completion_logprobs_content(srv):
    """llama-server's /v1/completions logprobs: {content: [chat-style entries]}
    (beside OpenAI's tokens/token_logprobs/top_logprobs/text_offset)."""
    r = srv.post("/v1/completions", json={"prompt": "Once upon a time", "max_tokens": 3, "temperature": 0,
                                          "logprobs": 2}).json()
    lp = r["choices"][0]["logprobs"]
    assert [e["token"] for e in lp["content"]] == lp["tokens"]
    assert [e["logprob"] for e in lp["content"]] == lp["token_logprobs"]
    assert all(len(e["top_logprobs"]) == 2 for e in lp["content"])


# ------------------------------------------------------------ OpenAI envelopes

def test_system_fingerprint_and_timings(srv):
    """llama-server: system_fingerprint in every OpenAI answer and chunk;
    timings in plain answers; in a chat stream on the last chunk (the usage
    chunk with include_usage)."""
    msgs = [{"role": "user", "content": "Hi"}]
    for path, body in (("/v1/chat/completions", {"messages": msgs}), ("/v1/completions", {"prompt": "Hi"})):
        j = srv.post(path, json={**body, "max_tokens": 2, "temperature": 0}).json()
        assert j["system_fingerprint"] and j["timings"]["predicted_n"] == 2
        ev = stream(srv, path, {**body, "max_tokens": 2, "temperature": 0})
        assert all(e["system_fingerprint"] == j["system_fingerprint"] for e in ev[:-1])
    ev = stream(srv, "/v1/chat/completions", {"messages": msgs, "max_tokens": 2, "temperature": 0,
                                              "stream_options": {"include_usage": True}})
    assert ev[-2]["choices"] == [] and "usage" in ev[-2] and "timings" in ev[-2]
    assert not any("timings" in e for e in ev[:-2])


def test_verbose_field(srv):
    """llama-server (verbose, or -v): __verbose holds the native answer;
    text-completion stream chunks carry the native event; a chat stream's
    last chunk the native final answer."""
    msgs = [{"role": "user", "content": "Hi"}]
    j = srv.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 2, "verbose": True}).json()
    v = j["__verbose"]
    assert v["stop"] is True and v["tokens_predicted"] == 2 and v["content"] == j["choices"][0]["message"]["content"]
    assert "__verbose" not in srv.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 2}).json()
    ev = stream(srv, "/v1/completions", {"prompt": "Hi", "max_tokens": 2, "verbose": True})
    assert ev[0]["__verbose"]["stop"] is False and ev[-2]["__verbose"]["stop"] is True
    ev = stream(srv, "/v1/chat/completions", {"messages": msgs, "max_tokens": 2, "verbose": True})
    assert ev[-2]["__verbose"]["stop"] is True


def test_verbose_flag():
    """llama-server -v (verbosity above 9): __verbose in every OpenAI answer."""
    s = Server("-m", MODEL_GEMMA, "-c", "256", "-v").start()
    try:
        j = s.post("/v1/completions", json={"prompt": "Hi", "max_tokens": 2}).json()
        assert j["__verbose"]["tokens_predicted"] == 2
    finally:
        s.stop()


# ------------------------------------------------------------ headers

def test_process_start_time_header(srv):
    """llama-server's Process-Start-Time-Unix (its metrics' t_start, Unix
    seconds; llama-server sets it on /metrics): here on every response,
    the same value each time."""
    now = time.time()
    seen = set()
    rs = [srv.get("/health"), srv.get("/props"), srv.get("/no-such-route"),
          srv.post("/completion", json={"prompt": "Hi", "n_predict": 1}),
          srv.post("/completion", json={"prompt": "Hi", "n_predict": 1, "stream": True}),
          srv.post("/completion", data=b"{bad"),
          srv.session.options(srv.url + "/completion", headers={"Origin": "http://x"})]
    for r in rs:
        v = r.headers.get("Process-Start-Time-Unix")
        assert v is not None and v.isdigit(), (r.url, r.status_code, dict(r.headers))
        seen.add(int(v))
    assert len(seen) == 1
    assert now - 3600 < seen.pop() <= now


# ------------------------------------------------------------ too long

def test_too_long_prompt_error(srv):
    """llama-server (ERROR_TYPE_EXCEED_CONTEXT_SIZE): 400 exceed_context_size_error
    with n_prompt_tokens and n_ctx; a stream gets the same plain 400 (before any
    event)."""
    prompt = "hello " * 1100
    n = len(srv.post("/tokenize", json={"content": prompt, "add_special": True}).json()["tokens"])
    for path, body in (("/completion", {"prompt": prompt}), ("/completion", {"prompt": prompt, "stream": True}),
                       ("/v1/completions", {"prompt": prompt})):
        r = srv.post(path, json={**body, "n_predict": 2})
        error_of(r, 400)
        e = r.json()["error"]
        assert e["type"] == "exceed_context_size_error"
        assert e["n_prompt_tokens"] == n and e["n_ctx"] == 1024
        assert e["message"] == (f"request ({n} tokens) exceeds the available context size (1024 tokens), "
                                "try increasing it")
    r = srv.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": prompt}], "max_tokens": 2})
    assert r.status_code == 400 and r.json()["error"]["type"] == "exceed_context_size_error"


def test_too_long_prompt_boundary():
    """llama-server's rule is n_prompt >= n_ctx: a prompt of exactly the
    slot's size does not fit (no room for a token), one fewer does."""
    s = Server("-m", MODEL_GEMMA, "-c", "64", "-np", "1").start()
    try:
        toks = [2] + [9259] * 63
        r = s.post("/completion", json={"prompt": toks, "n_predict": 1})
        assert r.status_code == 400 and r.json()["error"]["n_prompt_tokens"] == 64
        assert r.json()["error"]["n_ctx"] == 64
        assert s.post("/completion", json={"prompt": toks[:63], "n_predict": 1}).status_code == 200
    finally:
        s.stop()


def test_too_long_prompt_truncated_with_n_keep(srv):
    """The seed's n_keep: a request that gives n_keep (context shift on) is
    truncated instead (truncated: true)."""
    j = srv.complete("hello " * 1100, n_predict=1, n_keep=10)
    assert j["truncated"] is True


# ------------------------------------------------------------ /props

def test_props_llama_server_keys(srv):
    """llama-server's /props: model_ftype (llama_ftype_name), media_marker
    (<__media_ + 32 characters + __>), chat_template_caps, ui_settings,
    cors_proxy_enabled."""
    p = srv.get("/props").json()
    assert p["model_ftype"] == "Q4_K - Medium"
    m = p["media_marker"]
    assert m.startswith("<__media_") and m.endswith("__>") and len(m) == len("<__media_") + 32 + 3
    assert srv.get("/props").json()["media_marker"] == m  # fixed for the process
    caps = p["chat_template_caps"]
    assert set(caps) == {"supports_object_arguments", "supports_parallel_tool_calls", "supports_preserve_reasoning",
                         "supports_reasoning_effort", "supports_string_content", "supports_system_role",
                         "supports_tool_calls", "supports_tools", "supports_typed_content"}
    assert all(isinstance(v, bool) for v in caps.values())
    assert caps["supports_string_content"] and caps["supports_system_role"]
    assert p["ui_settings"] == {} and p["cors_proxy_enabled"] is False


# ------------------------------------------------------------ templates

DATE_TEMPLATE = ("{{ datetime }}|{{ date_string }}|{{ strftime_now('%Y-%m-%d') }}|"
                 "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


@pytest.fixture(scope="module")
def jinja_srv():
    s = Server("-m", MODEL_GEMMA, "-c", "512", "--jinja", "--chat-template", DATE_TEMPLATE).start()
    try:
        yield s
    finally:
        s.stop()


def _dates(t):
    d = datetime.datetime.fromtimestamp(t)  # local time, as the server's strftime
    return f"{d:%b %d %Y}|{d:%d %b %Y}|{d:%Y-%m-%d}|"


def test_template_dates(jinja_srv):
    """llama-server (common_chat_extra_context, the Jinja strftime_now):
    datetime "%b %d %Y", date_string "%d %b %Y" and strftime_now() give
    today's date; chat_template_kwargs override the variables."""
    before = time.time()
    p = jinja_srv.post("/apply-template", json={"messages": [{"role": "user", "content": "hi"}]}).json()["prompt"]
    after = time.time()
    assert p in (_dates(before) + "user:hi;assistant:", _dates(after) + "user:hi;assistant:")
    p = jinja_srv.post("/apply-template", json={"messages": [{"role": "user", "content": "hi"}],
                                                "chat_template_kwargs": {"date_string": "26 Jul 2024"}}).json()
    assert p["prompt"].split("|")[1] == "26 Jul 2024"


def test_template_generation_prompt_and_continuation(jinja_srv):
    """llama-server: add_generation_prompt false leaves the generation prompt
    out; a final assistant message (prefill) or continue_final_message is
    continued: the list without it, the generation prompt, its content."""
    user = [{"role": "user", "content": "hi"}]
    p = jinja_srv.post("/apply-template", json={"messages": user, "add_generation_prompt": False}).json()
    assert p["prompt"].endswith("|user:hi;")
    msgs = user + [{"role": "assistant", "content": "Sure"}]
    for extra in ({}, {"continue_final_message": True, "add_generation_prompt": False},
                  {"continue_final_message": "content", "add_generation_prompt": False}):
        p = jinja_srv.post("/apply-template", json={"messages": msgs, **extra}).json()["prompt"]
        assert p.split("|")[-1] == "user:hi;assistant:Sure", extra


@pytest.mark.parametrize("msgs,extra,message", [
    ([{"role": "user"}], {}, "All non-assistant messages must contain 'content'"),
    ([{"role": "system", "content": "s"}, {"role": "user"}], {}, "All non-assistant messages must contain 'content'"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant"}], {},
     "Assistant message must contain either 'content' or 'tool_calls'!"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
     {}, "Cannot have 2 or more assistant messages at the end of the list."),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}],
     {"continue_final_message": True, "add_generation_prompt": True},
     "Cannot set both add_generation_prompt and continue_final_message to true."),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}],
     {"continue_final_message": True, "add_generation_prompt": False},
     "Cannot continue an assistant message that contains tool calls."),
])
def test_invalid_message_lists_are_400(srv, msgs, extra, message):
    """llama-server (oaicompat_chat_params_parse): these lists are
    invalid_argument -> 400 invalid_request_error with its message, on the
    chat route and /apply-template."""
    for path in ("/v1/chat/completions", "/apply-template"):
        r = srv.post(path, json={"messages": msgs, "max_tokens": 1, **extra})
        error_of(r, 400)
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert r.json()["error"]["message"] == message, (path, r.json())


def test_assistant_with_tool_calls_needs_no_content(srv):
    """llama-server: an assistant message with tool_calls and no content is valid."""
    msgs = [{"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "1", "type": "function",
                                                  "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "42", "tool_call_id": "1"}, {"role": "user", "content": "so?"}]
    r = srv.post("/apply-template", json={"messages": msgs})
    assert r.status_code == 200, r.text
