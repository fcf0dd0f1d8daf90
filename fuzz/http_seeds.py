#!/usr/bin/env python3
"""http_seeds.py - the seed requests of fuzz_http (fuzz/corpus/fuzz_http/):
one raw HTTP request per route and per kind of body that reaches a different
part of the handlers (streams, grammar, schema, tools, slots, bad JSON, wrong
types, percent-escapes). scripts/make-fuzz-corpus.py writes them with the
other targets' seeds; run alone it rewrites only fuzz/corpus/fuzz_http/.

    python3 fuzz/http_seeds.py
"""
import json
from pathlib import Path


def req(method, target, body=None, headers=()):
    b = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = [f"{method} {target} HTTP/1.1", "Host: localhost"] + list(headers)
    if body is not None:
        h += ["Content-Type: application/json", f"Content-Length: {len(b)}"]
    return ("\r\n".join(h) + "\r\n\r\n").encode() + b


def seeds():
    chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
            "max_tokens": 4}
    schema = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 3}}, "required": ["a"]}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "string"}}}}}]
    return {
        "health": req("GET", "/health"),
        "health_slots": req("GET", "/health?include_slots&fail_on_no_slot=1"),
        "props": req("GET", "/props"),
        "props_post": req("POST", "/props", {"n_ctx": 5}),
        "slots": req("GET", "/slots"),
        "metrics": req("GET", "/metrics"),
        "models": req("GET", "/v1/models"),
        "openapi": req("GET", "/openapi.json"),
        "index": req("GET", "/", headers=["Accept-Encoding: gzip"]),
        "index_etag": req("GET", "/index.html", headers=['If-None-Match: "x"']),
        "tokenize": req("POST", "/tokenize", {"content": "Once upon a time", "with_pieces": True,
                                              "add_special": True}),
        "detokenize": req("POST", "/detokenize", {"tokens": [1, 2, 3, 400, 99999]}),
        "completion": req("POST", "/completion", {"prompt": "Once upon a time", "n_predict": 4, "temperature": 0,
                                                  "n_probs": 2}),
        "completion_stream": req("POST", "/completion", {"prompt": "Once", "n_predict": 3, "stream": True,
                                                         "seed": 1}),
        "completion_tokens": req("POST", "/completions", {"prompt": [1, 15, 27, "x"], "n_predict": 2,
                                                          "cache_prompt": True}),
        "completion_grammar": req("POST", "/completion", {"prompt": "Say:", "n_predict": 4,
                                                          "grammar": 'root ::= [a-z]+ " " ("yes" | "no")'}),
        "completion_schema": req("POST", "/completion", {"prompt": "JSON:", "n_predict": 6, "json_schema": schema}),
        "completion_stop": req("POST", "/completion", {"prompt": "A B C", "n_predict": 8, "stop": ["\n", "D"],
                                                       "logit_bias": [[1, -1]], "samplers": ["top_k", "temperature"],
                                                       "top_k": 3}),
        "infill": req("POST", "/infill", {"input_prefix": "def f(", "input_suffix": "):\n", "n_predict": 3}),
        "oai_completion": req("POST", "/v1/completions", {"prompt": "Hello", "max_tokens": 3, "logprobs": 2,
                                                          "echo": True}),
        "chat": req("POST", "/v1/chat/completions", chat),
        "chat_stream": req("POST", "/chat/completions", dict(chat, stream=True,
                                                             stream_options={"include_usage": True})),
        "chat_json": req("POST", "/v1/chat/completions", dict(chat, response_format={
            "type": "json_schema", "json_schema": {"schema": {"type": "array", "items": {"type": "string"}}}})),
        "chat_tools": req("POST", "/v1/chat/completions", dict(chat, tools=tools, tool_choice="auto")),
        "apply_template": req("POST", "/apply-template", chat),
        "embedding": req("POST", "/embedding", {"content": "Once upon a time"}),
        "embeddings_oai": req("POST", "/v1/embeddings", {"input": ["a", "b c"], "encoding_format": "base64"}),
        "slot_save": req("POST", "/slots/0?action=save", {"filename": "s0.bin"}),
        "slot_restore": req("POST", "/slots/0?action=restore", {"filename": "s0.bin"}),
        "slot_erase": req("POST", "/slots/1?action=erase"),
        "slot_bad": req("POST", "/slots/9?action=save", {"filename": "../x"}),
        "bad_json": req("POST", "/completion", b'{"prompt": "x", "n_predict": '),
        "wrong_types": req("POST", "/completion", {"prompt": 5, "n_predict": "a", "temperature": [1],
                                                   "stream": "yes"}),
        "auth": req("GET", "/props", headers=["Authorization: Bearer k", "X-Api-Key: k"]),
        "not_found": req("GET", "/nope%20x?%zz=1&a+b=c+d"),
        "method": req("DELETE", "/completion"),
        "options": req("OPTIONS", "/v1/chat/completions", headers=["Origin: http://localhost",
                                                                    "Access-Control-Request-Headers: x"]),
    }


def main():
    out = Path(__file__).resolve().parent / "corpus" / "fuzz_http"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    for name, data in seeds().items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
