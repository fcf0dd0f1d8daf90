"""The requests that compare cllm-server with llama-server side by side.

scripts/make-server-vectors.py runs run_probes() against a real llama-server
(built from the llama-cpp-python sdist's vendor/llama.cpp) and commits what it
answered as tests/vectors/server/llama-server.json; test_server_vs_llama.py
runs the same probes against cllm-server and compares where the values are
comparable: greedy text at temperature 0, tokenization, /props shapes, error
codes and shapes, streaming event sequences.

Standard library plus requests only (no pytest): the script imports it too.
"""
import json

import requests

# model file -> server arguments (besides -m, --port, -t)
MODELS = {
    "stories260K.gguf": ["-c", "256", "-np", "1"],
    "gemma-3-270m-q4_k_m.gguf": ["-c", "1024", "-np", "1"],
}

GREEDY_PROMPTS = ["Once upon a time", "The capital of France is", "Lily and Tom went to the park. They"]
N_GREEDY = 24
TOKENIZE_TEXTS = ["Hello world", " leading space", "Once upon a time, there was a little girl.",
                  "numbers 12345 and 3.14", "émoji 🦙 and 日本語", "<s> not special", ""]
# (method, path, JSON body or raw bytes): requests every llama-server answers with an error
ERRORS = [
    ("POST", "/completion", b"{not json"),
    ("POST", "/completion", {"n_predict": 2}),
    ("POST", "/completion", {"prompt": "x", "grammar": 'root ::= ( "a"', "n_predict": 2}),
    ("GET", "/no-such-route", None),
    ("POST", "/tokenize", {"no_content": 1}),
    ("POST", "/detokenize", {"tokens": "abc"}),
    ("POST", "/v1/chat/completions", {"messages": "not a list"}),
    ("POST", "/embedding", {"content": "x"}),
]


def shape(v, depth=0):
    """The JSON type structure of v: objects as {key: shape}, lists by the
    shape of their first element, scalars as type names."""
    if isinstance(v, dict):
        return {k: shape(x, depth + 1) for k, x in sorted(v.items())} if depth < 3 else "object"
    if isinstance(v, list):
        return [shape(v[0], depth + 1)] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return "string"


def sse(resp):
    buf, out = b"", []
    for chunk in resp.iter_content(chunk_size=None):
        buf += chunk
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    out.append(json.loads(line[6:]))
    return out


def run_probes(url, top_probs=False):
    """What the server at url answers to every probe (plain JSON). With
    top_probs, the greedy runs also ask n_probs 2 and keep the top-2
    log-probabilities of each step (llama-server's format)."""
    s = requests.Session()
    out = {"props_shape": shape(s.get(url + "/props", timeout=60).json())}
    out["tokenize"] = []
    for t in TOKENIZE_TEXTS:
        for add in (False, True):
            r = s.post(url + "/tokenize", json={"content": t, "add_special": add}, timeout=60)
            out["tokenize"].append({"content": t, "add_special": add, "status": r.status_code,
                                    "tokens": r.json().get("tokens")})
    out["detokenize"] = []
    for tk in out["tokenize"]:
        if tk["add_special"] and tk["tokens"]:
            r = s.post(url + "/detokenize", json={"tokens": tk["tokens"]}, timeout=60)
            out["detokenize"].append({"tokens": tk["tokens"], "status": r.status_code,
                                      "content": r.json().get("content")})
    out["greedy"] = []
    for p in GREEDY_PROMPTS:
        body = {"prompt": p, "n_predict": N_GREEDY, "temperature": 0, "cache_prompt": False,
                "repeat_penalty": 1.0}
        if top_probs:
            body["n_probs"] = 2
        j = s.post(url + "/completion", json=body, timeout=300).json()
        g = {"prompt": p, "content": j["content"], "tokens_predicted": j["tokens_predicted"],
             "stop_type": j.get("stop_type")}
        if top_probs:
            g["steps"] = [{"token": c["token"], "top2": [[t["token"], t["logprob"]] for t in c["top_logprobs"][:2]]}
                          for c in j["completion_probabilities"]]
        out["greedy"].append(g)
    r = s.post(url + "/completion", json={"prompt": "Once upon a time", "n_predict": 6, "temperature": 0,
                                          "stream": True}, stream=True, timeout=300)
    ev = sse(r)
    out["stream"] = {"status": r.status_code, "content_type": r.headers.get("Content-Type", "").split(";")[0],
                     "n_events": len(ev), "keys": [sorted(e) for e in ev],
                     "stop": [e.get("stop") for e in ev], "text": "".join(e.get("content", "") for e in ev)}
    out["errors"] = []
    for method, path, body in ERRORS:
        # a fresh connection each: a server may close one after an error
        kw = {"data": body, "headers": {"Content-Type": "application/json", "Connection": "close"}} \
            if isinstance(body, bytes) else {"json": body, "headers": {"Connection": "close"}} if body is not None \
            else {"headers": {"Connection": "close"}}
        r = requests.request(method, url + path, timeout=60, **kw)
        try:
            j = r.json()
        except ValueError:
            j = None
        out["errors"].append({"method": method, "path": path, "status": r.status_code,
                              "type": (j or {}).get("error", {}).get("type") if isinstance(j, dict) else None,
                              "shape": shape(j)})
    return out


def key_paths(v, prefix=""):
    """Every member path of a JSON value ("a.b", list elements as "a.[]."
    from their first element), sorted."""
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(prefix + k)
            out |= set(key_paths(x, prefix + k + "."))
    elif isinstance(v, list) and v and isinstance(v[0], dict):
        out |= set(key_paths(v[0], prefix + "[]."))
    return sorted(out)


# (path, body) of the requests whose answers' member paths are compared: the
# native and OpenAI doors, plain and streamed, with llama-server's reply
# options (return_progress, timings_per_token, return_tokens, n_probs, logprobs)
FIELD_REQUESTS = [
    ("/completion", {"prompt": "Once upon a time", "n_predict": 3, "temperature": 0, "n_probs": 2,
                     "return_tokens": True}),
    ("/completion", {"prompt": "Once upon a time", "n_predict": 3, "temperature": 0, "stream": True,
                     "return_progress": True, "timings_per_token": True, "n_probs": 2}),
    ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 3, "temperature": 0, "logprobs": 2}),
    ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 3, "temperature": 0, "stream": True,
                         "return_progress": True}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "temperature": 0,
                              "logprobs": True, "top_logprobs": 2}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "temperature": 0,
                              "stream": True, "return_progress": True, "timings_per_token": True,
                              "stream_options": {"include_usage": True}}),
]


def run_field_probes(url):
    """The member paths of each FIELD_REQUESTS answer (streams: of each
    event, with [DONE] as the string), and the answer to a prompt longer
    than the slot (status and body)."""
    out = {"requests": []}
    for path, body in FIELD_REQUESTS:
        r = requests.post(url + path, json=body, stream=bool(body.get("stream")), timeout=300)
        if body.get("stream"):
            events = []
            for e in sse_raw(r):
                events.append("[DONE]" if e == "[DONE]" else key_paths(json.loads(e)))
        else:
            events = [key_paths(r.json())]
        out["requests"].append({"path": path, "body": body, "status": r.status_code, "events": events})
    # n_ctx of the probes' servers is at most 1024 (MODELS): 1100 words do not fit
    r = requests.post(url + "/completion", json={"prompt": "hello " * 1100, "n_predict": 2}, timeout=300)
    out["too_long"] = {"status": r.status_code, "body": r.json()}
    return out


def sse_raw(resp):
    """The data of each SSE event, as text."""
    buf, out = b"", []
    for chunk in resp.iter_content(chunk_size=None):
        buf += chunk
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    out.append(line[6:].decode())
    return out
