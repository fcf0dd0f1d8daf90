#!/usr/bin/env python3
"""gen-options-doc.py - docs/options.md: every llama-server option (from
tests/vectors/llama-server-options.txt, made by extract-llama-options.py)
with what cllm-server does with it.

Each name is tried on the built cllm-server as `cllm-server NAME [VALUE] --help`
(options are read in order, so an option cllm does not know fails before
--help): exit 0 means accepted; "is not supported by cllm-server: WHY" means
refused with that reason. Whether an accepted option does something or is
accepted with no effect comes from the section of `cllm-server --help` that
lists it. tests/python/test_server_dropin.py uses probe() and sections().

usage: scripts/gen-options-doc.py [BUILD_DIR] > docs/options.md
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors" / "llama-server-options.txt"

_TMP = Path(tempfile.mkdtemp(prefix="cllm-optdoc-"))
(_TMP / "grammar.gbnf").write_text('root ::= "a"\n')
(_TMP / "schema.json").write_text('{"type": "string"}\n')
(_TMP / "template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}\n")
(_TMP / "keys.txt").write_text("key\n")
(_TMP / "sys.json").write_text('{"prompt": "x"}\n')

VALUES = {  # a value llama-server would take, by option
    "--grammar": 'root ::= "a"', "--grammar-file": str(_TMP / "grammar.gbnf"), "-j": "{}",
    "--json-schema": "{}", "-jf": str(_TMP / "schema.json"), "--json-schema-file": str(_TMP / "schema.json"),
    "--samplers": "top_k;temperature", "--sampler-seq": "kt", "--sampling-seq": "kt", "-l": "15+1",
    "--logit-bias": "15+1", "--chat-template": "chatml", "--chat-template-file": str(_TMP / "template.jinja"),
    "--api-key-file": str(_TMP / "keys.txt"), "--slot-save-path": str(_TMP), "--path": str(_TMP),
    "-spf": str(_TMP / "sys.json"), "--system-prompt-file": str(_TMP / "sys.json"), "--host": "127.0.0.1",
    "--port": "8080", "-ctk": "f16", "-ctv": "f16", "--cache-type-k": "f16", "--cache-type-v": "f16",
    "--pooling": "mean", "-m": "model.gguf", "--model": "model.gguf", "-fa": "on", "--flash-attn": "on",
    "--xtc-probability": "0", "--top-nsigma": "-1", "--top-n-sigma": "-1", "--dry-multiplier": "0",
    "--adaptive-target": "-1", "--seed": "42", "-s": "42", "--temp": "0.5", "--ssl-key-file": "k.pem",
    "--ssl-cert-file": "c.pem", "--log-format": "text", "--numa": "distribute", "--cpu-strict": "0",
    "--spec-type": "ngram-simple",
}


def value_for(name, hint):
    if name in VALUES:
        return VALUES[name]
    if hint == "-":
        return None
    m = re.match(r"\{([^,}]+)", hint) or re.match(r"\[([^|\]]+)", hint)
    if m:
        return m.group(1)
    return "1"


def options():
    """[(names, negated names, value hint, env)] of llama-server."""
    out = []
    for line in VECTORS.read_text().splitlines():
        names, neg, hint, env = line.split("\t")
        out.append((names.split(","), [] if neg == "-" else neg.split(","), hint, env))
    return out


def probe(binary, name, hint):
    """('ok', '') | ('refused', why) | ('unknown', msg) | ('error', msg) for one name."""
    v = value_for(name, hint)
    args = [str(binary), name] + ([v] if v is not None else []) + ["--help"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=str(_TMP))
    err = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    if p.returncode == 0:
        return "ok", ""
    if "unknown option" in err:
        return "unknown", err
    m = re.search(r"is not supported by cllm-server: (.*)", err)
    if m:
        return "refused", m.group(1)
    return "error", err


def sections(binary):
    """{name: 'works' | 'no effect' | 'request default: FIELD'} from --help."""
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30).stdout
    kinds, part = {}, "own"
    for line in out.splitlines():
        if line.startswith("llama-server options"):
            part = "llama"
        elif line.startswith("  Request defaults"):
            part = "defaults"
        elif line.startswith("  Accepted with no effect"):
            part = "noeffect"
        elif line.startswith("  Refused"):
            part = "refused"
        if not line.startswith("  ") or line.startswith("   ") and part in ("own", "llama"):
            continue
        body = line.strip()
        if part == "llama":
            m = re.match(r"((?:-[\w.\[\]-]+(?:, )?)+)(?: [A-Z\[][^ ]*)?\s+(.*)", body)
            if m:
                for n in (n.strip() for n in m.group(1).split(",")):
                    kinds.setdefault(n, "works: " + m.group(2))
        elif part == "own":
            m = re.match(r"((?:-[\w.-]+(?:, )?)+)(?: [A-Z\[][^ ]*)?\s+(.*)", body)
            if not m:
                continue
            names = [n.strip() for n in m.group(1).split(",")]
            help_ = re.sub(r"\s*\(default: .*\)$", "", m.group(2))
            what = ("accepted, no effect: " + help_.split("; ", 1)[-1].removeprefix("no effect: ")
                    if "accepted" in m.group(2) else "works")
            for n in names:
                kinds.setdefault(n, what)
        elif part == "defaults":
            names, _, field = body.rpartition(" ")
            for n in names.split(","):
                kinds.setdefault(n.strip(), f"works (request default: `{field}`)")
        elif part == "noeffect":  # "names: why"
            names, _, why = body.partition(": ")
            why = why[len("no effect: "):] if why.startswith("no effect: ") else why
            for n in names.split(","):
                kinds.setdefault(n.strip(), "accepted, no effect: " + why)
    return kinds


NOTES = {
    "-fa": "accepted, no effect: `on`, `off`, `auto` or no value (the seed's flag); cllm computes attention one way (no separate flash-attention kernel), the results do not depend on it",
    "--chat-template": "works: a built-in name, or Jinja text (contains `{{` or `{%`)",
    "--context-shift": "works (default on: the seed's n_keep rule)",
    "--no-context-shift": "works: generation stops at the slot's end (`truncated`, `stopped_limit`); a prompt too long is a 400",
    "--props": "works: POST /props answers `{\"success\": true}` (501 without it), as llama-server",
    "--slots": "works",
    "--version": "works: prints the version and exits", "--list-devices": "works: lists CPU and exits",
    "-h": "works",
    "-n": "works: the request default and the server's limit",
    "--keep": "works (request default: `n_keep`; a prompt too long is then truncated)",
    "--api-key": "works (`Authorization: Bearer KEY` or `X-Api-Key: KEY`)",
    "--host": "works: comma-separated addresses (IPv4, IPv6, names), each listened on; a path ending in `.sock` is a UNIX socket (as llama-server); `--port 0` needs a single TCP address",
    "--chat-template-kwargs": "works: the default of a request's `chat_template_kwargs` (its own keys win)",
    "--cors-origins": "works: `*` (default: the request's Origin echoed, as with credentials), `localhost`, or one origin",
    "--cors-methods": "works: the preflight's Access-Control-Allow-Methods (default `GET, POST, DELETE, OPTIONS`)",
    "--cors-headers": "works: the preflight's Access-Control-Allow-Headers (default: the headers asked for)",
    "--cors-credentials": "works (default on)",
    "--no-webui": "works", "--embedding": "works",
    "--prefill-assistant": "works (default on): a final assistant message is continued",
    "--no-prefill-assistant": "works",
    "--jinja": "works: the model's Jinja template; ChatML when the model has none (as llama-server); default off",
}


def main():
    build = ROOT / (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLLM_BUILD", "build"))
    binary = build / "cllm-server"
    kinds = sections(binary)
    print("# llama-server options in cllm-server\n")
    print("Every option of the current llama-server (`llama-server --help`, read from llama.cpp's")
    print("`common/arg.cpp` by `scripts/extract-llama-options.py` into `tests/vectors/llama-server-options.txt`)")
    print("and what cllm-server does with it. *works*: does what llama-server's help says; *accepted, no")
    print("effect*: taken (with its value) so that llama-server command lines start cllm-server unchanged,")
    print("where it is moot in cllm (a GPU option on a CPU build...), with a warning on stderr saying why;")
    print("*refused*: cllm-server exits with the reason. The sampling options set the defaults of every")
    print("request (a request's own field wins), shown in `/props` `default_generation_settings` (and its")
    print("`params`). `LLAMA_ARG_*`")
    print("variables are read as llama-server reads them; the command line wins over them.\n")
    print("Made by `scripts/gen-options-doc.py`; `tests/python/test_server_dropin.py` checks that every")
    print("option is accepted or refused with a reason, and listed here.\n")
    print("| option | env | cllm-server |")
    print("|---|---|---|")
    for names, neg, hint, env in options():
        if names[0] in ("-h", "--help", "--usage"):
            status = "works"
        probes = [(n, *probe(binary, n, hint)) for n in names + neg]
        refused = [(n, why) for n, st, why in probes if st == "refused"]
        missing = [n for n, st, _ in probes if st == "unknown"]
        if missing:
            status = "MISSING: " + ", ".join(missing)
        elif refused:
            status = "refused: " + refused[0][1]
        else:
            notes = list(dict.fromkeys(f"`{n}`: {NOTES[n]}" if len(names + neg) > 1 and n != names[0] else NOTES[n]
                                       for n in names + neg if n in NOTES))
            status = "; ".join(notes) if notes else next((kinds[n] for n in names + neg if n in kinds), "works")
        shown = ", ".join(f"`{n}`" for n in names + neg)
        if hint != "-":
            shown += f" `{hint}`"
        print(f"| {shown} | {'' if env == '-' else '`' + env + '`'} | {status} |")
    print("\n## Not the same as llama-server, on purpose\n")
    print("- `--jinja` is off by default (llama-server: on); cllm then picks a built-in template from the")
    print("  model's template text. `--jinja` runs the model's Jinja template (ChatML when it has none).")
    print("- `--context-shift` is on by default (the seed's `n_keep`; llama-server: off). A prompt longer")
    print("  than the slot is llama-server's 400 (`request (N tokens) exceeds the available context size`)")
    print("  unless the request (or `--keep`) gives `n_keep`: then it is truncated as the seed describes.")
    print("- `Authorization` needs the `Bearer ` prefix (the seed); `X-Api-Key: KEY` is accepted too.")
    print("- `--repeat-penalty` defaults to 1.1 (the seed; llama-server: 1.0).")
    print("\ncllm-server's own options beyond llama-server's (`--mlock`, `--no-mmap`, `--log-format`,")
    print("`--body-limit`, `--slots-endpoint-disable`, `-spf`, ...) are listed by `cllm-server --help`.")


if __name__ == "__main__":
    main()
