"""Anthropic's Messages API (POST /v1/messages, /v1/messages/count_tokens)
through the official `anthropic` client on the real gemma-3-270m model:
create, stream (the event sequence the client assembles), a tools round trip
(tool_use, then tool_result), count_tokens against /tokenize of the same
prompt, errors as the client's own exception types, x-api-key as well as
Bearer.
"""
import json

import anthropic
import jsonschema
import pytest
import requests

from server_util import MODEL_GEMMA, Server
from test_chat_templates import GEMMA3_TEMPLATE

KEY = "sk-ant-test"
WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    template = tmp_path_factory.mktemp("tmpl") / "gemma-3.jinja"
    template.write_text(GEMMA3_TEMPLATE)
    s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--jinja", "--chat-template-file", template,
               "--api-key", KEY)
    s.api_key = KEY
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(srv):
    return anthropic.Anthropic(base_url=srv.url, api_key=KEY, max_retries=0)


def test_create(client):
    m = client.messages.create(model="gemma", max_tokens=16, system="Answer briefly.",
                               messages=[{"role": "user", "content": "Name three colours."}], extra_body={"temperature": 0})
    assert m.type == "message" and m.role == "assistant"
    assert m.id.startswith("msg_")
    assert m.content[0].type == "text" and m.content[0].text
    assert m.stop_reason in ("end_turn", "max_tokens")
    assert 0 < m.usage.output_tokens <= 16 and m.usage.input_tokens > 5


def test_stop_sequence_and_max_tokens(client):
    m = client.messages.create(model="gemma", max_tokens=3, messages=[{"role": "user", "content": "Count to 20."}],
                               extra_body={"temperature": 0})
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 3
    full = client.messages.create(model="gemma", max_tokens=40,
                                  messages=[{"role": "user", "content": "Count from 1 to 20 with commas."}],
                                  extra_body={"temperature": 0}).content[0].text
    word = full.split()[2] if len(full.split()) > 3 else full[:3]
    m = client.messages.create(model="gemma", max_tokens=40, stop_sequences=[word],
                               messages=[{"role": "user", "content": "Count from 1 to 20 with commas."}],
                               extra_body={"temperature": 0})
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == word


def test_stream_equals_create(client):
    kw = dict(model="gemma", max_tokens=24, messages=[{"role": "user", "content": "Say hello."}], extra_body={"temperature": 0})
    whole = client.messages.create(**kw)
    with client.messages.stream(**kw) as st:
        text = "".join(st.text_stream)
        final = st.get_final_message()
    assert text == whole.content[0].text == final.content[0].text
    assert final.stop_reason == whole.stop_reason
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_stream_event_sequence(srv):
    r = requests.post(srv.url + "/v1/messages", headers={"x-api-key": KEY}, stream=True,
                      json={"model": "gemma", "max_tokens": 8, "stream": True,
                            "messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in r.iter_lines(decode_unicode=True) if line.startswith("event: ")]
    assert names[0] == "message_start" and names[1] == "ping"
    assert names[-2:] == ["message_delta", "message_stop"]
    body = [n for n in names[1:-2] if n != "ping"]
    assert body[0] == "content_block_start" and body[-1] == "content_block_stop"
    assert set(body[1:-1]) <= {"content_block_delta"}


def test_tools_round_trip(client):
    m = client.messages.create(model="gemma", max_tokens=100, tools=[WEATHER], tool_choice={"type": "any"},
                               messages=[{"role": "user", "content": "What is the weather in Paris?"}],
                               extra_body={"temperature": 0})
    assert m.stop_reason == "tool_use"
    use = [b for b in m.content if b.type == "tool_use"]
    assert use and use[0].name == "get_weather"
    jsonschema.validate(use[0].input, WEATHER["input_schema"])
    m2 = client.messages.create(
        model="gemma", max_tokens=30, tools=[WEATHER], extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "What is the weather in Paris?"},
                  {"role": "assistant", "content": m.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use[0].id,
                                                "content": "18 degrees and sunny"}]}],
        tool_choice={"type": "none"})
    assert m2.stop_reason in ("end_turn", "max_tokens")
    assert m2.content[0].type == "text" and m2.content[0].text


def test_tool_stream(client):
    with client.messages.stream(model="gemma", max_tokens=100, tools=[WEATHER],
                                tool_choice={"type": "tool", "name": "get_weather"}, extra_body={"temperature": 0},
                                messages=[{"role": "user", "content": "Weather in Oslo?"}]) as st:
        final = st.get_final_message()
    use = [b for b in final.content if b.type == "tool_use"]
    assert final.stop_reason == "tool_use" and use
    jsonschema.validate(use[0].input, WEATHER["input_schema"])


def test_count_tokens(srv, client):
    msgs = [{"role": "user", "content": "Name three colours."}]
    n = client.messages.count_tokens(model="gemma", system="Answer briefly.", messages=msgs).input_tokens
    m = client.messages.create(model="gemma", max_tokens=1, system="Answer briefly.", messages=msgs)
    assert n == m.usage.input_tokens > 5


def test_errors(srv, client):
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="gemma", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert "max_tokens" in str(e.value)
    r = requests.post(srv.url + "/v1/messages", headers={"x-api-key": KEY}, json={"max_tokens": 5})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    bad = anthropic.Anthropic(base_url=srv.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="gemma", max_tokens=4, messages=[{"role": "user", "content": "x"}])
    r = requests.post(srv.url + "/v1/messages", headers={"Authorization": "Bearer " + KEY},
                      json={"model": "gemma", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200, r.text
