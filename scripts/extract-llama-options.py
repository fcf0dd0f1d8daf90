#!/usr/bin/env python3
"""extract-llama-options.py - the option list of llama-server, read from
llama.cpp's common/arg.cpp (the source inside the llama-cpp-python sdist).

Writes one line per llama-server option (what `llama-server --help` lists):
    NAMES<TAB>NEGATED NAMES<TAB>VALUE<TAB>ENV
NAMES and NEGATED NAMES are comma-separated ("-" when none); VALUE is the
value hint ("-" for a flag); ENV is the LLAMA_ARG_* variable ("-" when none).

An option is llama-server's when its set_examples() names LLAMA_EXAMPLE_SERVER,
or it has none / names LLAMA_EXAMPLE_COMMON and set_excludes() does not name
LLAMA_EXAMPLE_SERVER (arg.cpp's add_opt rule). Preset-only options are left out.

usage: scripts/extract-llama-options.py path/to/arg.cpp > tests/vectors/llama-server-options.txt
"""
import re
import sys


def blocks(src):
    """Each add_opt(common_arg(...)...); statement's text."""
    pos = 0
    while True:
        i = src.find("add_opt(common_arg(", pos)
        if i < 0:
            return
        depth, j, in_str = 0, i, False
        while j < len(src):
            ch = src[j]
            if in_str:
                if ch == "\\":
                    j += 1
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        yield src[i:j + 1]
        pos = j + 1


def name_list(text):
    return re.findall(r'"([^"]*)"', text)


def parse(block):
    body = block[len("add_opt(common_arg("):]
    lists = []
    rest = body
    # leading {..} lists of names (args, then args_neg)
    while True:
        m = re.match(r'\s*\{([^{}]*)\}\s*,', rest)
        if not m or not all(s.startswith("-") for s in name_list(m.group(1))) or not name_list(m.group(1)):
            break
        lists.append(name_list(m.group(1)))
        rest = rest[m.end():]
    if not lists:
        return None
    names = lists[0]
    neg = lists[1] if len(lists) > 1 else []
    handler = re.search(r'\[\]\s*\(\s*common_params\s*&\s*[^,)]*(,\s*([^)]*))?\)', block)
    value = "-"
    if handler and handler.group(2):
        args = handler.group(2)
        if "bool" not in args:
            m = re.match(r'\s*"([^"]*)"\s*,', rest)
            value = m.group(1) if m else "VALUE"
            m2 = re.match(r'\s*"[^"]*"\s*,\s*"([^"]*)"\s*,', rest)
            if m2 and args.count("std::string") == 2:
                value += " " + m2.group(1)
    ex = re.search(r'\.set_examples\(\{([^}]*)\}\)', block)
    exc = re.search(r'\.set_excludes\(\{([^}]*)\}\)', block)
    examples = set(re.findall(r'LLAMA_EXAMPLE_\w+', ex.group(1))) if ex else {"LLAMA_EXAMPLE_COMMON"}
    excludes = set(re.findall(r'LLAMA_EXAMPLE_\w+', exc.group(1))) if exc else set()
    if ".set_preset_only()" in block:
        return None
    if "LLAMA_EXAMPLE_SERVER" in excludes:
        return None
    if "LLAMA_EXAMPLE_SERVER" not in examples and "LLAMA_EXAMPLE_COMMON" not in examples:
        return None
    env = re.search(r'\.set_env\("([^"]+)"\)', block)
    return names, neg, value, env.group(1) if env else "-"


def main():
    src = open(sys.argv[1], encoding="utf-8").read()
    seen = set()
    for b in blocks(src):
        r = parse(b)
        if not r:
            continue
        names, neg, value, env = r
        key = tuple(names)
        if key in seen:
            continue
        seen.add(key)
        print("\t".join([",".join(names), ",".join(neg) or "-", value, env]))


if __name__ == "__main__":
    main()
