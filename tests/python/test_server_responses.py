"""OpenAI's Responses API (POST /v1/responses, stateless) through the
official `openai` client's responses.create on the real gemma-3-270m model:
a string input, instructions and max_output_tokens, items with a function
call and its output, tools with function calls (arguments valid), text.format
json_schema, and streaming with the event sequence the client assembles.
"""
import json

import jsonschema
import openai
import pytest

from server_util import MODEL_GEMMA, Server
from test_chat_templates import GEMMA3_TEMPLATE

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    template = tmp_path_factory.mktemp("tmpl") / "gemma-3.jinja"
    template.write_text(GEMMA3_TEMPLATE)
    s = Server("-m", MODEL_GEMMA, "-c", "4096", "-np", "2", "--jinja", "--chat-template-file", template)
    s.start()
    yield openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0)
    s.stop()


def test_string_input(client):
    r = client.responses.create(model="gemma", input="Name three colours.", instructions="Answer briefly.",
                                max_output_tokens=16, temperature=0)
    assert r.object == "response" and r.id.startswith("resp_")
    assert r.status in ("completed", "incomplete")
    assert r.output_text
    assert r.output[0].type == "message" and r.output[0].content[0].type == "output_text"
    assert 0 < r.usage.output_tokens <= 16
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_incomplete_when_cut(client):
    r = client.responses.create(model="gemma", input="Count to 50.", max_output_tokens=3, temperature=0)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"


def test_function_call_and_output(client):
    r = client.responses.create(model="gemma", input="What is the weather in Paris?", tools=[WEATHER],
                                tool_choice="required", temperature=0, max_output_tokens=100)
    calls = [o for o in r.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id
    jsonschema.validate(json.loads(calls[0].arguments), WEATHER["parameters"])
    r2 = client.responses.create(
        model="gemma", tools=[WEATHER], tool_choice="none", temperature=0, max_output_tokens=30,
        input=[{"role": "user", "content": "What is the weather in Paris?"},
               {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather",
                "arguments": calls[0].arguments},
               {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18 degrees and sunny"}])
    assert r2.output_text


def test_json_schema_format(client):
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}},
              "required": ["colour"], "additionalProperties": False}
    r = client.responses.create(model="gemma", input="Pick a colour.", temperature=0, max_output_tokens=40,
                                text={"format": {"type": "json_schema", "name": "pick", "schema": schema}})
    jsonschema.validate(json.loads(r.output_text), schema)


def test_stream(client):
    kw = dict(model="gemma", input="Say hello.", temperature=0, max_output_tokens=24)
    whole = client.responses.create(**kw)
    types, text = [], ""
    final = None
    for ev in client.responses.create(stream=True, **kw):
        types.append(ev.type)
        if ev.type == "response.output_text.delta":
            text += ev.delta
        if ev.type in ("response.completed", "response.incomplete"):
            final = ev.response
    assert types[0] == "response.created" and types[-1] in ("response.completed", "response.incomplete")
    assert "response.output_item.added" in types and "response.output_item.done" in types
    assert text == whole.output_text == final.output_text


def test_stream_function_call(client):
    args = ""
    done = None
    for ev in client.responses.create(model="gemma", input="Weather in Oslo?", tools=[WEATHER], stream=True,
                                      tool_choice={"type": "function", "name": "get_weather"}, temperature=0,
                                      max_output_tokens=100):
        if ev.type == "response.function_call_arguments.delta":
            args += ev.delta
        if ev.type == "response.function_call_arguments.done":
            done = ev.arguments
    assert done is not None and args == done
    jsonschema.validate(json.loads(done), WEATHER["parameters"])


def test_errors(client):
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gemma", input="x", previous_response_id="resp_123")
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gemma", input=[{"type": "web_search_call", "id": "x"}])
