"""Chat templates: cllm's Jinja interpreter and built-in templates against
Python's jinja2 (3.1.4), byte for byte.

The Python side renders as transformers' apply_chat_template does:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
loop-controls extension and a {% generation %} block, transformers' tojson
(json.dumps with ensure_ascii=False and no key sorting, not jinja2's HTML-safe
one), raise_exception() and strftime_now() (a fixed date here), and the
variables messages, tools (None when there are none), documents (None),
add_generation_prompt, bos_token and eos_token. Content-part arrays are given
to Python already joined with "\n", which is what cllm does before templating.

What is compared:
1. Every template in ../shared/chat-templates (read from there, not copied)
   and Gemma 3's template, rendered by `cllm-chat-template --jinja` and by
   jinja2, on several conversations, with and without the generation prompt,
   and with a tools list and tool calls. When jinja2 raises, cllm must fail
   too (with the same message for raise_exception()).
2. Each built-in template against its model family's real template (from
   ../shared where there is one, else the published template quoted below),
   on ordinary conversations.
3. Which built-in each real template is detected as.
4. A few hundred small templates covering each construct, filter and test.
"""
import datetime
import json
import os
import pathlib
import subprocess

import jinja2
import jinja2.ext
import pytest
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("CLLM_BUILD", "build")
TOOL = BUILD / "cllm-chat-template"
SHARED = pathlib.Path(os.environ.get("CLLM_SHARED", ROOT.parent / "shared"))
TEMPLATES = sorted((SHARED / "chat-templates").glob("*.jinja"))
GEMMA_GGUF = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
NOW = 1721952000  # 2024-07-26 00:00:00 UTC
BOS, EOS = "<s>", "</s>"

pytestmark = pytest.mark.skipif(not TOOL.is_file(), reason=f"{TOOL} not built")


# ---- the Python reference -------------------------------------------------------


class GenerationExt(jinja2.ext.Extension):
    """transformers' AssistantTracker, minus the tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


class RaisedByTemplate(Exception):
    pass


def _raise(message):
    raise RaisedByTemplate(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _strftime_now(fmt):
    return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[jinja2.ext.loopcontrols, GenerationExt])
ENV.filters["tojson"] = _tojson
ENV.globals["raise_exception"] = _raise
ENV.globals["strftime_now"] = _strftime_now


_COMPILED = {}


def compile_py(source):
    if source not in _COMPILED:
        _COMPILED[source] = ENV.from_string(source)
    return _COMPILED[source]


def join_parts(messages):
    """What cllm does with content-part arrays before templating."""
    out = []
    for m in messages:
        m = dict(m)
        if isinstance(m.get("content"), list):
            m["content"] = "\n".join(p["text"] for p in m["content"])
        out.append(m)
    return out


def render_py(source, messages, add_generation_prompt=True, tools=None, extra=None,
              bos=BOS, eos=EOS):
    """(True, text) or (False, (kind, message))."""
    try:
        tmpl = compile_py(source)
        kwargs = dict(extra or {})
        kwargs.update(messages=join_parts(messages), tools=tools, documents=None,
                      add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos)
        return True, tmpl.render(**kwargs)
    except RaisedByTemplate as e:
        return False, ("raise", str(e))
    except Exception as e:  # jinja2 and Python errors
        return False, (type(e).__name__, str(e))


def run_tool(args, payload):
    p = subprocess.run([str(TOOL), *args], input=json.dumps(payload).encode(),
                       capture_output=True, timeout=60)
    if p.returncode == 0:
        return True, p.stdout.decode("utf-8", errors="surrogateescape")
    err = p.stderr.decode("utf-8", errors="replace").strip()
    # 1: the template failed; 2 with "chat template:": it did not compile
    assert p.returncode == 1 or err.startswith("chat template:"), f"rc {p.returncode}: {err}"
    if err.startswith("error: "):
        err = err[len("error: "):]
    return False, err


def render_c(source_path, messages, add_generation_prompt=True, tools=None, extra=None,
             bos=BOS, eos=EOS, name=None):
    payload = {"messages": messages, "add_generation_prompt": add_generation_prompt,
               "bos_token": bos, "eos_token": eos}
    if tools is not None:
        payload["tools"] = tools
    if extra:
        payload["kwargs"] = extra
    args = ["--now", str(NOW)]
    args += ["--name", name] if name else ["--template-file", str(source_path), "--jinja"]
    return run_tool(args, payload)


def assert_same(py, c, what):
    py_ok, py_out = py
    c_ok, c_out = c
    if py_ok:
        assert c_ok, f"{what}: jinja2 rendered, cllm failed: {c_out}\nexpected:\n{py_out!r}"
        assert c_out == py_out, f"{what}:\nexpected {py_out!r}\n     got {c_out!r}"
    else:
        if c_ok and "generator" in py_out[1]:
            # Documented difference: map/select/reject/... give lists in cllm (as in
            # llama.cpp's minja), one-shot generators in Python, which tojson,
            # length and subscripts refuse.
            return
        assert not c_ok, f"{what}: jinja2 raised {py_out}, cllm rendered {c_out!r}"
        if py_out[0] == "raise":
            assert c_out == py_out[1], f"{what}: raise_exception message {c_out!r} != {py_out[1]!r}"


# ---- conversations -------------------------------------------------------------------

def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = {
    "user": [msg("user", "Hello")],
    "system+user": [msg("system", "You are a helpful assistant."), msg("user", "What is 2+2?")],
    "multi-turn": [
        msg("system", "  You are terse.\n"),
        msg("user", "Hi there "),
        msg("assistant", "  Hello! How can I help?  "),
        msg("user", "Tell me a joke."),
        msg("assistant", "Why did the chicken cross the road?"),
        msg("user", "Why?"),
    ],
    "no-system": [
        msg("user", "First question"),
        msg("assistant", "First answer"),
        msg("user", "Second question"),
    ],
    "ends-with-assistant": [msg("user", "Say hi"), msg("assistant", "hi")],
    "content-parts": [
        {"role": "system", "content": [{"type": "text", "text": "System part."}]},
        {"role": "user", "content": [{"type": "text", "text": "Part one."},
                                     {"type": "text", "text": "Part two."}]},
    ],
    "unicode-and-quotes": [
        msg("user", "Caf\u00e9 \u2014 \"quotes\" 'single' <b>&amp;</b> \\ back\\slash \U0001F600\ttab"),
        msg("assistant", "\u4f60\u597d\uff0c\u4e16\u754c</think>after think"),
        msg("user", "{{ not a template }} {% neither %}"),
    ],
}

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string", "description": "The city"},
                                      "unit": {"type": "string", "enum": ["c", "f"],
                                               "description": "Unit"}},
                       "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add",
        "description": "Add two numbers",
        "parameters": {"type": "object",
                       "properties": {"a": {"type": "number", "description": "first"},
                                      "b": {"type": "integer", "description": "second",
                                            "default": 1}},
                       "required": ["a", "b"]}}},
]

TOOL_CONVERSATION = [
    msg("system", "You can call tools."),
    msg("user", "What's the weather in Paris?"),
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call12345", "type": "function",
         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
     "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
    msg("assistant", "It is 21 degrees and clear in Paris."),
    msg("user", "Thanks!"),
]

# string arguments (DeepSeek and Functionary templates concatenate them)
TOOL_CONVERSATION_STR_ARGS = [
    msg("user", "What's the weather in Paris?"),
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call12345", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call12345", "content": "21 degrees"},
    msg("user", "Thanks!"),
]

FIREFUNCTION_VARS = {"functions": json.dumps([t["function"] for t in TOOLS], indent=2),
                     "datetime": "2024-07-26"}


# ---- 1. every real template, through the interpreter -----------------------------------

@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_real_template_matches_jinja2(path):
    assert len(TEMPLATES) >= 15
    source = path.read_text()
    extra = FIREFUNCTION_VARS if "firefunction" in path.name else None
    rendered = 0
    for name, conv in CONVERSATIONS.items():
        for agp in (True, False):
            for tools in (None, TOOLS):
                py = render_py(source, conv, agp, tools=tools, extra=extra)
                c = render_c(path, conv, agp, tools=tools, extra=extra)
                assert_same(py, c, f"{path.stem} / {name} / agp={agp} / tools={tools is not None}")
                rendered += py[0]
    for conv_name, conv in (("tools", TOOL_CONVERSATION), ("tools-str-args", TOOL_CONVERSATION_STR_ARGS)):
        for tools in (TOOLS, None):
            py = render_py(source, conv, True, tools=tools, extra=extra)
            c = render_c(path, conv, True, tools=tools, extra=extra)
            assert_same(py, c, f"{path.stem} / {conv_name} / tools={tools is not None}")
            rendered += py[0]
    assert rendered > 0, f"{path.stem}: jinja2 rendered nothing (all errors)"


# Gemma 3's template (google/gemma-3-270m-it tokenizer_config.json). The GGUF in
# models/ carries no tokenizer.chat_template; when one is there it is used instead.
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""


def gguf_chat_template(path):
    import gguf
    r = gguf.GGUFReader(str(path))
    f = r.fields.get("tokenizer.chat_template")
    if f is None:
        return None
    return bytes(f.parts[f.data[0]]).decode()


def gemma_template():
    if GEMMA_GGUF.is_file():
        t = gguf_chat_template(GEMMA_GGUF)
        if t:
            return t
    return GEMMA3_TEMPLATE


def test_gemma_template_jinja_and_builtin(tmp_path):
    source = gemma_template()
    path = tmp_path / "gemma3.jinja"
    path.write_text(source)
    for name, conv in CONVERSATIONS.items():
        for agp in (True, False):
            py = render_py(source, conv, agp, bos="<bos>", eos="<eos>")
            c = render_c(path, conv, agp, bos="<bos>", eos="<eos>")
            assert_same(py, c, f"gemma3 jinja / {name} / agp={agp}")
            b = render_c(None, conv, agp, bos="<bos>", eos="<eos>", name="gemma")
            assert_same(py, b, f"gemma3 built-in / {name} / agp={agp}")
    ok, _ = run_tool(["--template-file", str(path)], CONVERSATIONS["user"])
    assert ok
    det = subprocess.run([str(TOOL), "--detect", "--template-file", str(path)],
                         capture_output=True, text=True)
    assert det.stdout.strip() == "gemma"


def test_gemma_model_file():
    """-m MODEL: the model's BOS/EOS texts; its template, or chatml when it has none."""
    if not GEMMA_GGUF.is_file():
        pytest.skip("gemma model not downloaded")
    conv = CONVERSATIONS["system+user"]
    ok, out = run_tool(["-m", str(GEMMA_GGUF), "--name", "gemma"], conv)
    assert ok and out.startswith("<bos><start_of_turn>user\n")
    ok, out = run_tool(["-m", str(GEMMA_GGUF)], conv)
    assert ok
    if gguf_chat_template(GEMMA_GGUF) is None:
        assert out.startswith("<|im_start|>system\n")  # no template: the seed's chatml
    for p in sorted((ROOT / "models").glob("*.gguf")):
        t = gguf_chat_template(p)
        if t is None:
            continue
        py = render_py(t, conv, True)
        c = run_tool(["-m", str(p), "--jinja", "--now", str(NOW), "--bos", BOS, "--eos", EOS],
                     {"messages": conv})
        assert_same(py, c, f"{p.name} own template")


# ---- 2. built-in templates against the real ones ----------------------------------------

def shared(name):
    return (SHARED / "chat-templates" / name).read_text()


# Published templates of model families without a file in ../shared (quoted from
# the models' tokenizer_config.json, or llama.cpp's definition where the model has none).
REFERENCES = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    "mistral-v1": "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
    "mistral-v3": "{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = messages[0][\"content\"] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n\n{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n{%- for message in loop_messages %}\n    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n            {{- raise_exception(\"After the optional system message, conversation roles must alternate user/assistant/user/assistant/...\") }}\n        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n    {%- endif %}\n{%- endfor %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n            {{- \"[AVAILABLE_TOOLS] [\" }}\n            {%- for tool in tools %}\n                {%- set tool = tool.function %}\n                {{- '{\"type\": \"function\", \"function\": {' }}\n                {%- for key, val in tool.items() if key != \"return\" %}\n                    {%- if val is string %}\n                        {{- '\"' + key + '\": \"' + val + '\"' }}\n                    {%- else %}\n                        {{- '\"' + key + '\": ' + val|tojson }}\n                    {%- endif %}\n                    {%- if not loop.last %}\n                        {{- \", \" }}\n                    {%- endif %}\n                {%- endfor %}\n                {{- \"}}\" }}\n                {%- if not loop.last %}\n                    {{- \", \" }}\n                {%- else %}\n                    {{- \"]\" }}\n                {%- endif %}\n            {%- endfor %}\n            {{- \"[/AVAILABLE_TOOLS]\" }}\n            {%- endif %}\n        {%- if loop.last and system_message is defined %}\n            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n        {%- else %}\n            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n        {{- \"[TOOL_CALLS] [\" }}\n        {%- for tool_call in message.tool_calls %}\n            {%- set out = tool_call.function|tojson %}\n            {{- out[:-1] }}\n            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n            {%- endif %}\n            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n            {%- if not loop.last %}\n                {{- \", \" }}\n            {%- else %}\n                {{- \"]\" + eos_token }}\n            {%- endif %}\n        {%- endfor %}\n    {%- elif message[\"role\"] == \"assistant\" %}\n        {{- \" \" + message[\"content\"]|trim + eos_token}}\n    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n        {%- if message.content is defined and message.content.content is defined %}\n            {%- set content = message.content.content %}\n        {%- else %}\n            {%- set content = message.content %}\n        {%- endif %}\n        {{- '[TOOL_RESULTS] {\"content\": ' + content|string + \", \" }}\n        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n        {%- endif %}\n        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n    {%- else %}\n        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial optional system message!\") }}\n    {%- endif %}\n{%- endfor %}\n",
    "mistral-v7": "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "mistral-v7-tekken": "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST]' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    "vicuna": "{%- for message in messages %}{%- if message['role'] == 'system' -%}{{- '' + message['content'] + '\n\n' -}}{%- else -%}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + '\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\n' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}{{-'ASSISTANT:'-}}{%- endif -%}",
    "vicuna-orca": "{%- for message in messages %}{%- if message['role'] == 'system' -%}{{-'SYSTEM: ' + message['content'] + '\n' -}}{%- else -%}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + '\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\n' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}{{-'ASSISTANT:'-}}{%- endif -%}",
    "deepseek": "{% if not add_generation_prompt is defined %}\n{% set add_generation_prompt = false %}\n{% endif %}\n{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n    {%- endif -%}\n{%- endfor -%}\n{{bos_token}}{%- if not ns.found -%}\n{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\\n'}}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + '\\n'}}\n        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}\n{{'### Response:'}}\n{% endif %}",
    "deepseek2": "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
    # DeepSeek-V3's template without its tool-call branches
    "deepseek3": "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<\uff5cUser\uff5c>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}{%- if ns.is_tool %}{{'<\uff5ctool\u2581outputs\u2581end\uff5c>' + message['content'] + '<\uff5cend\u2581of\u2581sentence\uff5c>'}}{%- set ns.is_tool = false -%}{%- else %}{{'<\uff5cAssistant\uff5c>' + message['content'] + '<\uff5cend\u2581of\u2581sentence\uff5c>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{'<\uff5cAssistant\uff5c>'}}{% endif %}",
    "command-r": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif false == true %}{% set loop_messages = messages %}{% set system_message = 'You are Command-R, a brilliant, sophisticated, AI-assistant trained to assist human users by providing thorough responses. You are trained by Cohere.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% set content = message['content'] %}{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}",
    "openchat": "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}{% endfor %}{% if add_generation_prompt %}{{ 'GPT4 Correct Assistant:' }}{% endif %}",
    "granite": "{%- if tools %}\n    {{- '<|start_of_role|>available_tools<|end_of_role|>\n' }}\n    {%- for tool in tools %}\n    {{- tool | tojson(indent=4) }}\n    {%- if not loop.last %}\n        {{- '\n\n' }}\n    {%- endif %}\n    {%- endfor %}\n    {{- '<|end_of_text|>\n' }}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n    {{- '<|start_of_role|>system<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'user' %}\n    {{- '<|start_of_role|>user<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'assistant' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>'  + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'assistant_tool_call' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|><|tool_call|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'tool_response' %}\n    {{- '<|start_of_role|>tool_response<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- endif %}\n    {%- if loop.last and add_generation_prompt %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>' }}\n    {%- endif %}\n{%- endfor %}",
}

# built-in -> the real templates it must reproduce (files in ../shared, or REFERENCES)
BUILTIN_REFERENCES = {
    "chatml": ["chatml"],
    "qwen2.5": ["Qwen-Qwen2.5-7B-Instruct.jinja"],
    "llama2": ["llama2"],
    "llama3": ["llama3"],
    "llama3.1": ["meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.3-70B-Instruct.jinja"],
    "llama3.2": ["meta-llama-Llama-3.2-3B-Instruct.jinja"],
    "mistral-v1": ["mistral-v1"],
    "mistral-v3": ["mistral-v3"],
    "mistral-v3-tekken": ["mistralai-Mistral-Nemo-Instruct-2407.jinja"],
    "mistral-v7": ["mistral-v7"],
    "mistral-v7-tekken": ["mistral-v7-tekken"],
    "gemma": ["google-gemma-2-2b-it.jinja", "gemma3"],
    "phi3": ["microsoft-Phi-3.5-mini-instruct.jinja"],
    "zephyr": ["zephyr"],
    "vicuna": ["vicuna"],
    "vicuna-orca": ["vicuna-orca"],
    "deepseek": ["deepseek"],
    "deepseek2": ["deepseek2"],
    "deepseek3": ["deepseek3"],
    "deepseek-r1": ["deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
                    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"],
    "command-r": ["command-r"],
    "openchat": ["openchat"],
    "granite": ["granite"],
}


def reference_source(ref):
    if ref.endswith(".jinja"):
        return shared(ref)
    if ref == "gemma3":
        return GEMMA3_TEMPLATE
    return REFERENCES[ref]


def test_every_builtin_has_a_reference():
    out = subprocess.run([str(TOOL), "--list"], capture_output=True, text=True).stdout.split()
    assert sorted(out) == sorted(BUILTIN_REFERENCES)


@pytest.mark.parametrize("builtin", sorted(BUILTIN_REFERENCES))
def test_builtin_matches_real_template(builtin):
    compared = 0
    for ref in BUILTIN_REFERENCES[builtin]:
        source = reference_source(ref)
        for name, conv in CONVERSATIONS.items():
            for agp in (True, False):
                py = render_py(source, conv, agp)
                c = render_c(None, conv, agp, name=builtin)
                if not py[0] and ref == "google-gemma-2-2b-it.jinja" and py[1][1] == "System role not supported":
                    # Gemma 2 refuses system messages; the built-in puts them in the first
                    # user turn as Gemma 3 does
                    assert c[0]
                    continue
                assert_same(py, c, f"built-in {builtin} vs {ref} / {name} / agp={agp}")
                compared += 1
    assert compared >= 10


def test_llama3_vs_llama31():
    """The llama3 built-in (Meta-Llama-3-Instruct) and Llama 3.1's template differ only by
    3.1's date header when the conversation has a system message (without one, 3.1 still
    writes a system turn holding just the header)."""
    header = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
    source = shared("meta-llama-Llama-3.1-8B-Instruct.jinja")
    n = 0
    for name, conv in CONVERSATIONS.items():
        if conv[0]["role"] != "system":
            continue
        for agp in (True, False):
            ok, real = render_py(source, conv, agp)
            assert ok and header in real
            ok, ours = render_c(None, conv, agp, name="llama3")
            assert ok and ours == real.replace(header, "", 1), name
            n += 1
    assert n >= 6


@pytest.mark.parametrize("builtin", sorted(BUILTIN_REFERENCES))
def test_builtin_role_errors(builtin):
    """Conversations the real template refuses are refused by the built-in too."""
    bad = [msg("user", "a"), msg("user", "b")]
    for ref in BUILTIN_REFERENCES[builtin]:
        py = render_py(reference_source(ref), bad, True)
        c = render_c(None, bad, True, name=builtin)
        assert_same(py, c, f"built-in {builtin} vs {ref} / two user turns")


# ---- 3. detection ---------------------------------------------------------------------

DETECTED = {
    "CohereForAI-c4ai-command-r-plus-tool_use": "command-r",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": "command-r",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": "chatml",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": "chatml",
    "Qwen-Qwen2.5-7B-Instruct": "qwen2.5",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": "deepseek-r1",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": "deepseek-r1",
    "fireworks-ai-llama-3-firefunction-v2": "llama3",
    "google-gemma-2-2b-it": "gemma",
    "llama-cpp-deepseek-r1": "deepseek-r1",
    "meetkai-functionary-medium-v3.1": "llama3",
    "meetkai-functionary-medium-v3.2": "llama3",
    "meta-llama-Llama-3.1-8B-Instruct": "llama3.1",
    "meta-llama-Llama-3.2-3B-Instruct": "llama3.2",
    "meta-llama-Llama-3.3-70B-Instruct": "llama3.1",
    "microsoft-Phi-3.5-mini-instruct": "phi3",
    "mistralai-Mistral-Nemo-Instruct-2407": "mistral-v3-tekken",
}


def detect(path):
    return subprocess.run([str(TOOL), "--detect", "--template-file", str(path)],
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_detection_of_real_templates(path):
    assert detect(path) == DETECTED[path.stem]


def test_detection_of_reference_templates(tmp_path):
    for builtin, refs in BUILTIN_REFERENCES.items():
        for ref in refs:
            p = tmp_path / "t.jinja"
            p.write_text(reference_source(ref))
            assert detect(p) == builtin, ref


def test_unknown_builtin_name_lists_names():
    p = subprocess.run([str(TOOL), "--name", "nope"], input=b"[]", capture_output=True)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "nope" in err and "chatml" in err and "llama3" in err and "gemma" in err


def test_no_template_is_chatml(tmp_path):
    p = tmp_path / "empty.jinja"
    p.write_text("")
    ok, out = run_tool(["--template-file", str(p)], CONVERSATIONS["system+user"])
    assert ok and out == render_py(REFERENCES["chatml"], CONVERSATIONS["system+user"])[1]


def test_content_part_errors():
    bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    ok, err = run_tool(["--name", "chatml"], bad)
    assert not ok and "image_url" in err
    ok, err = run_tool(["--name", "chatml"], [{"content": "no role"}])
    assert not ok and "role" in err


# ---- 4. constructs, filters and tests --------------------------------------------------

M = [msg("system", "sys"), msg("user", "Hi  "), msg("assistant", " yo "),
     {"role": "user", "content": "x", "name": "bob"}]

SNIPPETS = [
    # output, literals, operators
    "{{ 'a' }}{{ \"b\" }}{{ 1 }}{{ 1.5 }}{{ -3 }}{{ true }}{{ True }}{{ none }}{{ None }}",
    "{{ 1 + 2 * 3 - 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 1e-05 }} {{ 0.1 + 0.2 }} {{ 1/3 }}",
    "{{ 10 / 4 }} {{ 10 / 5 }} {{ 3 * 'ab' }} {{ 'ab' * 0 }} {{ [1] * 3 }} {{ 'a' ~ 1 ~ none ~ [1] }}",
    "{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {} }} {{ [] }}",
    "{{ 'it\\'s' }} {{ \"say \\\"hi\\\"\" }} {{ ['it\\'s', 'x\"y', 'both\\'\"'] }} {{ 'a\\nb\\tc\\\\' }} {{ ['a\\nb'] }}",
    "{{ '\\x41\\u00e9\\U0001F600' }} {{ ['\\x07', '\\u00e9', '\\u200b', '\\x85'] }}",
    "{{ 'abc' 'def' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ (1,) == [1] }} {{ {'a': 1} == {'a': 1} }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }} {{ 2 >= 2 }} {{ 'b' <= 'a' }}",
    "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' in u }}",
    "{{ not 1 }} {{ not '' }} {{ 0 or 'x' }} {{ '' or [] }} {{ 1 and 2 }} {{ 0 and 1 }} {{ none or none }}",
    "{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} {{ 'y' if 0 }}| {{ 1 if 0 else 2 if 0 else 3 }}",
    "{{ -2|abs }} {{ -(2)|abs }} {{ -(2 + 3) }} {{ +3 }} {{ (1 + 2) * 3 }}",
    # subscripts and attributes
    "{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].name }} {{ messages[9] }}|{{ messages[1].nope }}|",
    "{{ 'hello'[1] }} {{ 'hello'[-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'h\u00e9llo'[1:] }} {{ [1, 2, 3][1:] }} {{ [1, 2, 3][:-1] }} {{ [1, 2, 3, 4][::2] }} {{ (1, 2, 3)[1:] }}",
    "{{ messages[1:]|length }} {{ messages[:1][0].content }} {{ 'abc'[5:] }}|{{ [1, 2][5] }}|",
    "{{ {'a': {'b': [10, 20]}}.a.b[1] }} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 'd') }} {{ {'a': 1}.get('z') }}",
    "{{ {'a': 1, 'items': 2}.items()|list }} {{ {'a': 1}.keys()|list }} {{ {'a': 1}.values()|list }} {{ {'items': 5}['items'] }}",
    "{{ none.x }}|{{ (1).x }}|{{ 'abc'.x }}|{{ {'_x': 1}._x }}|{{ ''.__class__ }}|{{ {}.__class__ }}|",
    # statements
    "{% if 1 %}a{% elif 2 %}b{% else %}c{% endif %}{% if 0 %}a{% elif 2 %}b{% else %}c{% endif %}{% if 0 %}a{% elif 0 %}b{% else %}c{% endif %}",
    "{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}",
    "{% for x in 'abc' %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }};{% endfor %}",
    "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}x{% else %}empty{% endfor %}",
    "{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ x }}{{ loop.index }}/{{ loop.length }} {% endfor %}",
    "{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}={{ v }};{% endfor %}{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}",
    "{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}{% for m in messages %}{{ m.role[0] }}{% endfor %}",
    "{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in [1, 2] %}{% for y in 'ab' %}{{ x }}{{ y }}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% if loop.changed(x > 1) %}!{% endif %}{% endfor %}",
    "{% set x = 1 %}{% for i in [1, 2, 3] %}{{ x }}{% set x = x + i %}{{ x }},{% endfor %}{{ x }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}{% set c, d = 'xy' %}{{ c }}{{ d }}",
    "{% set ns = namespace(n=0, l=[]) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.n }} {{ ns.l }} {{ ns }}",
    "{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}{{ ns.b }}|{% set d = namespace({'k': 1}, j=2) %}{{ d.k }}{{ d.j }}",
    "{% set block %}hello {{ 'world' }}{% endset %}[{{ block }}]{% set b2 | upper | trim %}  x y  {% endset %}[{{ b2 }}]",
    "{% macro m(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 2) }} {{ m(1, c=3) }} {{ m() }}",
    "{% macro outer(x) %}[{{ inner(x) }}]{% endmacro %}{% macro inner(y) %}<{{ y }}>{% endmacro %}{{ outer('v') }}",
    "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}",
    "{% macro g() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ g(1, 2, k=3) }}",
    "{% macro late() %}{{ later }}{% endmacro %}{% set later = 'L' %}{{ late() }}{% set later = 'M' %}{{ late() }}",
    "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inside {{ 1 + 1 }}{% endcall %}",
    "{% macro w2(x) %}[{{ caller(x * 2) }}]{% endmacro %}{% call(v) w2(4) %}got {{ v }}{% endcall %}",
    "{% filter upper %}shout {{ 'it' }}{% endfilter %}{% filter trim | replace('a', 'b') %}  banana  {% endfilter %}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}|",
    "{% print 'p' %}{% print 1, 2 %}",
    "{% raw %}{{ not rendered }} {% if %}{% endraw %}",
    "{# comment #}a{#- trimmed -#}  b {#+ kept +#} c",
    "{% generation %}gen {{ 1 }}{% endgeneration %}",
    # whitespace control
    "a  {{- 'b' -}}  c\n  {%- if true -%}  d  {%- endif -%}  e",
    "line1\n    {% if true %}\n    indented\n    {% endif %}\nend\n",
    "  {% if true %}x{% endif %}  \n{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\n",
    "a\n{%+ if true %}b{% endif +%}\nc\n{% if true -%}\n   d\n{%- endif %}",
    "{{ 'x' }}\n{{ 'y' }}\n  {{ 'z' }}  \n  {# c #}\nw\r\nwin\rmac\n\n",
    "\t {% set x = 1 %}\t\n{{ x }}",
    "{{ '{{' }} {{ '}}' }} {{ {'a': {'b': 1}} }}",
    # filters
    "{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hello World'|lower }}|{{ 'hi'|upper }}|{{ 'hELLO wORLD-foo(bar) x<y'|title }}|{{ 'hELLO world'|capitalize }}",
    "{{ 'a,b'|replace(',', ';') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 'abc'|reverse }} {{ [1, 2]|reverse|list }}",
    "{{ [1, 2, 3]|length }} {{ 'h\u00e9llo'|length }} {{ {'a': 1}|count }} {{ u|length }} {{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ 'abc'|first }} {{ []|first }}|",
    "{{ u|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('n') }} {{ 0|d(5, true) }}",
    "{{ ['a', 'b']|join }} {{ ['a', 'b']|join(', ') }} {{ [1, 2]|join('-') }} {{ [{'n': 'x'}, {'n': 'y'}]|join('/', attribute='n') }}",
    "{{ 'ab'|list }} {{ {'a': 1}|list }} {{ (1, 2)|list }} {{ {'a': 1, 'b': 2}|items|list }} {{ u|items|list }}",
    "{{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ [{'k': 2}, {'k': 1}]|sort(attribute='k') }}",
    "{{ ['b', 'A', 'a', 'B']|unique|list }} {{ ['b', 'A', 'a']|unique(case_sensitive=true)|list }} {{ [1, 2, 1, 3]|unique|list }}",
    "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }}",
    "{{ messages|selectattr('name')|list }} {{ messages|selectattr('name', 'defined')|map(attribute='name')|list }} {{ messages|map(attribute='name', default='-')|list }}",
    "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 5, 10]|select('gt', 4)|list }}",
    "{{ ['a', 'b']|map('upper')|list }} {{ [' a ', 'b ']|map('trim')|join }} {{ [1.5, 2.5]|map('round')|list }} {{ [[1, 2], [3]]|map('length')|list }}",
    "{{ [{'a': {'b': 1}}, {'a': {'b': 2}}]|map(attribute='a.b')|list }} {{ [[1, 2], [3, 4]]|map(attribute='1')|list }}",
    "{{ 3.7|int }} {{ '42'|int }} {{ ' 42 '|int }} {{ '4.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(0, 16) }} {{ true|int }} {{ none|int }}",
    "{{ '3.5'|float }} {{ 3|float }} {{ 'x'|float }} {{ 'x'|float(1.5) }} {{ ' 1e3 '|float }}",
    "{{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.5|round(0, 'floor') }} {{ 2.1|round(0, 'ceil') }} {{ 3|round }} {{ -1.5|round }}",
    "{{ [1, 2, 3]|sum }} {{ [1.5, 2]|sum }} {{ [{'v': 1}, {'v': 2}]|sum(attribute='v') }} {{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ ['b', 'A']|max }} {{ []|max }}|",
    "{{ 'x'|string }} {{ 1|string }} {{ [1, 'a']|string }} {{ none|string }} {{ 1.0|string }} {{ 5|string + 'a' }}",
    "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb\\n'|indent(2, first=true, blank=true) }}|{{ 'a\\nb'|indent('> ') }}|",
    "{{ 'a b  c\\td'|wordcount }} {{ 'x'|center(7) }}| {{ 'abcdef'|truncate(5, killwords=true, leeway=0) }} {{ 'the quick brown fox jumps'|truncate(12, leeway=0) }}",
    "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }}",
    "{{ '%s is %d years, %.2f%%'|format('Bob', 42, 3.14159) }} {{ '%(a)s-%(b)s'|format(a=1, b=2) }} {{ '%5s|%-5s|%05d'|format('a', 'b', 42) }}",
    "{{ '<b>\"&\\''|e }} {{ '<b>'|escape|escape }} {{ '<b>'|safe }} {{ '<b>'|forceescape }} {{ ('<b>'|safe) is escaped }} {{ '<b>' is escaped }}",
    "{{ 'a'|safe + '<b>' }} {{ '<b>' + 'a'|safe }} {{ ('a'|safe + '<b>')|trim }} {{ 'x'|safe ~ '<' }} {{ ('<'|safe * 2) }}",
    "{{ {'b': 1, 'a': [1, 2.5, none, true, 'x\"y\\n\u00e9']}|tojson }} {{ [1, [2, {}], []]|tojson(indent=2) }} {{ {'a': {'b': 1}}|tojson(indent=4) }}",
    "{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'caf\u00e9 \U0001F600'|tojson(ensure_ascii=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }} {{ 'x'|tojson }} {{ (1, 2)|tojson }}",
    "{{ {1: 'a', 1.5: 'b', true: 'c', none: 'd'}|tojson }} {{ [1e20, 0.1, -0.0, 3.0]|tojson }} {{ '\\x01\\x1f\\x7f'|tojson }}",
    "{{ messages|tojson }}",
    "{{ 'abc'|striptags }} {{ '<p>a  <b>b</b>\\n c</p>'|striptags }} {{ [[1, 2], [3]]|pprint }} {{ 'x'|attr('upper')() }}",
    # tests
    "{{ u is defined }} {{ u is undefined }} {{ none is none }} {{ 1 is none }} {{ true is boolean }} {{ 1 is boolean }} {{ false is false }} {{ true is true }} {{ 1 is true }}",
    "{{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 'a' is number }} {{ 'a' is string }} {{ 1 is string }}",
    "{{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ {} is iterable }} {{ 1 is iterable }} {{ u is iterable }} {{ [] is sequence }} {{ 'a' is sequence }} {{ 1 is sequence }}",
    "{{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2.0 is even }} {{ 'a' is eq 'a' }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is le 2 }} {{ 3 is gt 2 }} {{ 3 is ge 4 }}",
    "{{ 1 is equalto 1 }} {{ 2 is greaterthan 1 }} {{ 1 is lessthan 2 }} {{ 1 is in [1] }} {{ 'b' is in 'abc' }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 'aB' is lower }} {{ '1' is lower }}",
    "{{ none is sameas none }} {{ true is sameas true }} {{ 1 is sameas 1 }} {{ range is callable }} {{ 1 is callable }} {{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }}",
    "{{ 1 is not none }} {{ u is not defined }} {{ not u is defined }} {{ 'a' is string and 1 is number }}",
    # string methods
    "{{ ' a b '.strip() }}|{{ 'xax'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ '\\u3000a\\xa0'.strip() }}|",
    "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ '  a b  '.split(None, 1) }} {{ 'abc'.split('b')[-1] }}",
    "{{ 'abc'.startswith('a') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith('b', 1) }} {{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'abcb'.count('b') }} {{ 'abc'.index('b') }}",
    "{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }} {{ 'aBc'.swapcase() }}",
    "{{ 'a-b'.replace('-', '+') }} {{ 'aaa'.replace('a', 'b', 1) }} {{ ','.join(['a', 'b']) }} {{ 'x'.center(5, '*') }} {{ 'x'.ljust(3) }}| {{ 'x'.rjust(3) }} {{ '42'.zfill(5) }} {{ '-4'.zfill(4) }}",
    "{{ '{} and {}'.format(1, 'b') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{x}!'.format(x=5) }} {{ '{:>5}|{:<4}|{:^5}|{:.2f}|{:05d}'.format('a', 'b', 'c', 3.14159, 42) }} {{ '{!r}'.format('q') }} {{ '{{}}'.format() }}",
    "{{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'abc'.isalpha() }} {{ '123'.isdigit() }} {{ 'ab1'.isalnum() }} {{ '  '.isspace() }} {{ 'ab'.islower() }} {{ 'AB'.isupper() }} {{ 'prefix-x'.removeprefix('prefix-') }}",
    "{{ [1, 2, 3].index(2) }} {{ [1, 2, 2].count(2) }} {{ {'a': 1}.copy() }}",
    # globals
    "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {% for i in range(2) %}{{ i }}{% endfor %}",
    "{{ dict(a=1, b=2) }} {{ dict({'x': 1}, y=2) }} {{ namespace(a=1) }} {{ strftime_now('%Y-%m-%d %H:%M %b %d') }}",
    "{% set j = joiner(', ') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}",
    # undefined behaviour
    "{{ u }}|{{ u is defined }}|{{ u|length }}|{{ u|default('d') }}|{{ u == u }}|{{ u != 1 }}|{{ not u }}|{% for x in u %}x{% endfor %}|{{ u|list }}",
    "{% if messages[0]['role'] == 'system' %}sys{% endif %}{% if messages[10] is defined %}yes{% endif %}{{ messages|length }}",
    "{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}{{ tools }}{{ documents }}",
    # errors (both must fail)
    "{{ raise_exception('custom failure') }}",
    "{{ u.attr }}",
    "{{ u['k'] }}",
    "{{ u + 1 }}",
    "{{ 'a' + 1 }}",
    "{{ 1 + 'a' }}",
    "{{ 1 / 0 }}",
    "{{ 1 < 'a' }}",
    "{{ [1].append(2) }}",
    "{{ {}.update({}) }}",
    "{% for x in none %}{% endfor %}",
    "{% for x in 5 %}{% endfor %}",
    "{{ 1 in none }}",
    "{{ x|nosuchfilter }}",
    "{{ 1 is nosuchtest }}",
    "{{ range(1000000)|length }}",
    "{% set a, b = [1, 2, 3] %}",
    "{% set x = 1 %}{% set x.y = 2 %}",
    "{{ u|tojson }}",
    "{{ {'a': u}|tojson }}",
    "{{ namespace()|tojson }}",
    "{% for x in 'x'|items %}{% endfor %}",
    "{{ [1, 'a']|sort }}",
    "{{ 'a'.split('') }}",
    "{{ messages.append }}",
    "{{ 5|length }}",
    "{{ '%d'|format('x') }}",
    # syntax errors (both must fail)
    "{% if true %}unterminated",
    "{{ 'unterminated string }}",
    "{% for x in %}{% endfor %}",
    "{% endfor %}",
    "{{ 1 + }}",
    "{% unknowntag %}",
    "{{ a b }}",
    "{% if x %}{% else %}{% else %}{% endif %}",
    "{# unterminated comment",
    "{{ (1, 2 }}",
    "{% macro m(a=1, b) %}{% endmacro %}",
]


@pytest.mark.parametrize("i", range(len(SNIPPETS)))
def test_snippet_matches_jinja2(i, tmp_path):
    source = SNIPPETS[i]
    path = tmp_path / "s.jinja"
    path.write_bytes(source.encode())
    for agp in (True, False):
        py = render_py(source, M, agp)
        c = render_c(path, M, agp)
        assert_same(py, c, f"snippet {i} {source!r}")


def test_limits(tmp_path):
    """Steps, output size and recursion are bounded; errors, never a crash."""
    cases = {
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}": "step limit",
        "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}": "recursion",
        "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}": "too long",
    }
    for source, what in cases.items():
        path = tmp_path / "l.jinja"
        path.write_text(source)
        ok, err = render_c(path, M, True)
        assert not ok and what in err, (source, err)
