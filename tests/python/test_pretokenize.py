"""test_pretokenize.py - cllm-pretokenize against Python's `regex` module.

For every pre-tokenizer kind, the pieces cllm's hand-written matchers produce
must be identical to those of the regular-expression sequence llama.cpp uses
for that kind (src/llama-vocab.cpp, the "adapted" forms it actually runs),
applied the way llama.cpp applies them: each expression splits every piece of
the previous step into its matches and the unmatched text between them.

llama.cpp, not `regex`, is the reference: where they differ, the expressions
run here on the text as llama.cpp sees it. The one difference known: for the
expressions without a Unicode category (run through std::wregex) llama.cpp
first replaces every non-ASCII White_Space code point (U+0085, U+00A0, U+1680,
U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) by U+000B, so it still
matches the whitespace class but no literal class that lists it: not
deepseek-llm's punctuation range U+3000-U+3002, nor the deepseek CJK range
U+0800-U+4E00 (U+1680 ... U+3000 lie in it). So for deepseek-llm "a  \u3000<"
splits "a", "  ", "\u3000<" (`regex` on the raw text: "a", " ", " ", "\u3000",
"<"). reference_split() applies the same replacement to every expression's
input; for the expressions with a category it changes nothing (the categories
they use hold no whitespace; llama.cpp runs them on a text collapsed the same
way, or in hand-written splitters that test White_Space directly). Pieces map
back to the original text (one code point for one: offsets are unchanged).
LLAMA_CPP_CASES pins splits checked against llama.cpp's token ids.

Inputs: a hand-written mixed corpus, the *.inp test strings of
../shared/vocab (read in place), and seeded random strings over a mixed
alphabet. The `regex` module's Unicode version (16.0 for regex 2024.11.6) is
newer than cllm's tables (see src/base/unicode_data.c); random strings
only use code points whose classes (L, Lu, Ll, Lt, M, Mn, N, Nd, P, S, Z, C,
White_Space) both agree on, as checked through `cllm-pretokenize --flags`.

Binaries: $CLLM_BUILD (default "build") relative to the repository root.
Run as a script to print per-kind agreement counts.
"""
import glob
import json
import os
import random
import subprocess
import sys

import pytest
import regex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("CLLM_BUILD", "build"))
TOOL = os.path.join(BUILD, "cllm-pretokenize")
VOCAB_DIR = os.path.join(ROOT, "..", "shared", "vocab")

# ---- llama.cpp's expression sequences (as published in llama-vocab.cpp) ----

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
CONTR = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
LLAMA3 = (CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")
UPPER = r"((?=[\p{L}])([^a-z]))"
LOWER = r"((?=[\p{L}])([^A-Z]))"
TEKKEN = (r"[^\r\n\p{L}\p{N}]?" + UPPER + "*" + LOWER + r"+|[^\r\n\p{L}\p{N}]?" + UPPER + "+"
          + LOWER + r"*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (r"[^\r\n\p{L}\p{N}]?" + UPPER + "*" + LOWER + "+" + CONTR + r"?|[^\r\n\p{L}\p{N}]?"
         + UPPER + "+" + LOWER + "*" + CONTR
         + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# deepseek-llm's letter class, range by range as in llama.cpp's string
# (written as escapes: several of its characters have singleton canonical
# decompositions, which text normalization would silently change).
DS_LETTER_RANGES = [
    (0x41, 0x5A), (0x61, 0x7A), (0xB5, 0xB5), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x1BA),
    (0x1BC, 0x1BF), (0x1C4, 0x293), (0x295, 0x2AF), (0x370, 0x373), (0x376, 0x376),
    (0x377, 0x377), (0x37B, 0x37D), (0x37F, 0x37F), (0x386, 0x386), (0x388, 0x38A),
    (0x38C, 0x38C), (0x38E, 0x3A1), (0x3A3, 0x3F5), (0x3F7, 0x481), (0x48A, 0x52F),
    (0x531, 0x556), (0x10A0, 0x10C5), (0x13A0, 0x13F5), (0x13F8, 0x13FD), (0x1C90, 0x1CBA),
    (0x1CBD, 0x1CBF), (0x1D00, 0x1D2B), (0x1D6B, 0x1D77), (0x1D79, 0x1D9A), (0x1E00, 0x1F15),
    (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59),
    (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC),
    (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB),
    (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC), (0x2102, 0x2102), (0x2107, 0x2107),
    (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124), (0x2126, 0x2126),
    (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2134), (0x2139, 0x2139), (0x213C, 0x213F),
    (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2183), (0x2184, 0x2184), (0x2C00, 0x2C7B),
    (0x2C7E, 0x2CE4), (0x2CEB, 0x2CEE), (0x2CF2, 0x2CF2), (0x2CF3, 0x2CF3), (0xA640, 0xA66D),
    (0xA680, 0xA69B), (0xA722, 0xA76F), (0xA771, 0xA787), (0xA78B, 0xA78E), (0xAB70, 0xABBF),
    (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0x10400, 0x1044F),
    (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2),
    (0x118A0, 0x118DF), (0x1E900, 0x1E943),
]


def _esc(cp):
    return "\\U%08X" % cp


def _cls(ranges):
    return "[" + "".join(_esc(a) if a == b else _esc(a) + "-" + _esc(b) for a, b in ranges) + "]"


DS_CJK = _cls([(0x4E00, 0x9FA5), (0x0800, 0x4E00), (0xAC00, 0xD7FF)]) + "+"
DEEPSEEK_LLM = [
    "[\r\n]",
    r"\s?" + _cls(DS_LETTER_RANGES) + "+",
    r"\s?" + _cls([(0x21, 0x2F), (0x3A, 0x7E), (0xFF01, 0xFF0F), (0xFF1A, 0xFF5E),
                   (0x2018, 0x201F), (0x3000, 0x3002)]) + "+",
    r"\s+$",
    DS_CJK,
    r"\p{N}+",
]
DEEPSEEK_CODER = ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", DS_CJK, r"\p{N}"]
DEEPSEEK3 = [
    r"\p{N}{1,3}",
    _cls([(0x4E00, 0x9FA5), (0x3040, 0x309F), (0x30A0, 0x30FF)]) + "+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
    r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
]
BLOOM = " ?[^(\\s|.,!?" + "".join(_esc(c) for c in (0x2026, 0x3002, 0xFF0C, 0x3001, 0x0964,
                                                  0x06D4, 0x060C)) + ")]+"
SEED_CODER = (CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
BAILINGMOE = (r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
              r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+")

QWEN35 = (CONTR + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
UFAKZEKA = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
MINICPM5 = (CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
            r"|\s+(?!\S)|\s+")
JAIS2 = (CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)"
         r"|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}")
EXAONE_MOE = (CONTR + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}"
              r"| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+")
UPPER_M = r"((?=[\p{L}\p{M}])([^a-z]))"
LOWER_M = r"((?=[\p{L}\p{M}])([^A-Z]))"
GRANITE_MULTI = (r"[^\r\n\p{L}\p{N}]?" + UPPER_M + "*" + LOWER_M + "+" + CONTR
                 + r"?|[^\r\n\p{L}\p{N}]?" + UPPER_M + "+" + LOWER_M + "*" + CONTR
                 + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LINES = r"[^\n]+|[\n]+"

SEQUENCES = {
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
    "gpt-2": [GPT2],
    "mpt": [GPT2],
    "llama3": [LLAMA3],
    "qwen2": [QWEN2],
    "smollm": [r"\p{N}", GPT2],
    "starcoder": [r"\p{N}", GPT2],
    "refact": [r"\p{N}", GPT2],
    "deepseek-llm": DEEPSEEK_LLM,
    "deepseek-coder": DEEPSEEK_CODER,
    "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
    "gpt-4o": [GPT4O],
    "tekken": [TEKKEN],
    "bloom": [BLOOM],
    "viking": [BLOOM, r"\p{N}"],
    "deepseek-v3": DEEPSEEK3,
    "seed-coder": [SEED_CODER],
    "bailingmoe": [BAILINGMOE],
    "whitespace": [r"\S+"],
    "qwen35": [QWEN35],
    "ufakzeka": [UFAKZEKA],
    "minicpm5": [r"\p{N}{1,3}", MINICPM5],
    "jais-2": [JAIS2],
    "exaone-moe": [EXAONE_MOE],
    "granite-embed-multi-97m": [GRANITE_MULTI],
    "laguna": [LINES, QWEN2],
    "gemma4": [LINES],
}
COMPILED = {k: [regex.compile(r) for r in v] for k, v in SEQUENCES.items()}


# llama.cpp's std::regex fallback: non-ASCII whitespace -> U+000B (see the top).
NON_ASCII_WS = regex.compile(r"(?=\s)[^\x00-\x7F]")


def llama_cpp_view(text):
    return NON_ASCII_WS.sub("\x0b", text)


def reference_split(kind, text, llama_cpp=True):
    """The pieces of text for kind: as llama.cpp splits it, or with
    llama_cpp=False as `regex` alone does on the unchanged text."""
    view = llama_cpp_view(text) if llama_cpp else text
    assert len(view) == len(text)
    spans = [(0, len(text))] if text else []
    for rx in COMPILED[kind]:
        out = []
        for a, b in spans:
            last = 0
            for m in rx.finditer(view[a:b]):
                if m.start() > last:
                    out.append((a + last, a + m.start()))
                if m.end() > m.start():
                    out.append((a + m.start(), a + m.end()))
                last = m.end()
            if a + last < b:
                out.append((a + last, b))
        spans = out
    return [text[a:b] for a, b in spans]


# Splits where llama.cpp and `regex` on the raw text differ (non-ASCII
# whitespace before the deepseek classes), as llama.cpp gives them: checked
# against its token ids on ../shared/vocab/ggml-vocab-deepseek-{llm,coder}.gguf.
LLAMA_CPP_CASES = [
    ("deepseek-llm", ["a", "  ", "\u3000<"]),
    ("deepseek-llm", ["a", " ", "\u3000<"]),
    ("deepseek-llm", ["a", "   ", "\u3000<"]),
    ("deepseek-llm", ["a", "\u3000<"]),
    ("deepseek-llm", ["a", "\t\t", "\u3000<"]),
    ("deepseek-llm", ["a", " \t", "\u3000<"]),
    ("deepseek-llm", ["<", "  ", "\u3000<"]),
    ("deepseek-llm", ["a", "  ", "\u3000\uff01"]),
    ("deepseek-llm", ["\u3000", "\u3000<"]),
    ("deepseek-llm", ["x", "  ", "\u3000", "\u3002"]),
    ("deepseek-llm", ["a", "  ", "\u00a0<"]),
    ("deepseek-llm", ["a", "  \u2003", "\u2003<"]),
    ("deepseek-llm", ["a", "  ", "\u3000b"]),
    ("deepseek-llm", ["a", "  \u3000", "1"]),
    ("deepseek-llm", ["a", "  \u3000", "\u4e00"]),
    ("deepseek-llm", ["a", "  \u2003", "\u4e00"]),
    ("deepseek-llm", ["a", " \u3000"]),
    ("deepseek-coder", ["\u20ac", "\u3000", "\u20ac"]),
    ("deepseek-coder", ["\u20ac", "\u2003", "\u20ac"]),
    ("deepseek-coder", ["1", "\u3000", "\u3000", "\u4e00"]),
]


def cllm_split_many(kind, texts):
    data = "\0".join(texts).encode("utf-8")
    res = subprocess.run([TOOL, "--pre", kind, "--nul"], input=data, capture_output=True,
                         check=True)
    lines = res.stdout.decode("utf-8").split("\n")[:-1]  # not splitlines(): U+2028 etc.
    assert len(lines) == len(texts)
    return [json.loads(line) for line in lines]


# ---- inputs ----

CORPUS = [
    "Hello world", " Hello World!", "DON'T you dare, I'M serious. We'RE here; they'LL see; it'S fine",
    "we're they've I'd you'll it's can't 'twas ''s '' 's",
    "int main(void) {\n\treturn printf(\"%d\\n\", x->y[3] + 0x1F);\n}\n",
    "def f(a, b):\r\n    return a // b  # comment\r\n\r\n",
    "1234567 12 123 1,234,567.89 3.14159 1e-10 007",
    "numbers ١٢٣٤ ४५६ ² ½ Ⅻ ⑦",
    "你好，世界！这是一个测试。", "日本語のテキスト、カタカナとひらがな。", "한국어 텍스트입니다",
    "emoji 🦙🦙 😀👍🏽 ❤️ 🇫🇷", "مرحبا بالعالم، كيف حالك؟ ۔", "नमस्ते दुनिया। यह परीक्षण है",
    "   leading and   repeated    spaces   ", "tabs\tand\t\ttabs", "line\nfeeds\n\n\nand\r\n\r\nCRLF",
    " \n \n", "\n", " ", "  ", "\t", "\r\n", " \t \n x", "x  \n  y", "trailing   ",
    "Ünïcödé àccents: café naïve résumé Ñandú ÀÉÎÕÜ ßẞ", "e\u0301 combining a\u0300\u0301 marks",
    "mixed!!!??? punctuation... --- === +++ $$$ ^^^ ~~~ ||| ``` <<>> /// \\\\",
    "ALLCAPS camelCase PascalCase snake_case kebab-case HTTPServer iPhone XMLHttpRequest",
    "ǅungla ǈ titlecase ǋ", "ſ 'ſ 'K Kelvin Ω Ohm", "fullwidth ＡＢＣ ａｂｃ ！？ （括弧）　空白",
    "quotes ‘single’ “double” „low“ «guillemets»", "nbsp\u00a0here\u2003em\u3000ideo\u2028ls",
    "path/to/file.txt http://example.com/a?b=c&d=e", "a/\n/b //\r\n/", "$100 + 5% = <tag> ^_^",
    "Ὗ ώ ᾼ ι ῒ Ὶ", "x\u000by\u000cz\u0085w\u001cv", "private \ue000 \ufffd end",
    " " * 37 + "x" + " " * 600 + "y\t" + " " * 1030, "a" + " " * 4 + "b" + " " * 5 + "\n" * 9,
    "two words and\u0301 marks \u0301x \u0915\u093f \u0915\u093f", "\u0301\u0301 \u0301",
]


def read_inp_files():
    texts = []
    for path in sorted(glob.glob(os.path.join(VOCAB_DIR, "*.inp"))):
        with open(path, encoding="utf-8") as f:
            content = f.read()
        parts = content.split("\n__ggml_vocab_test__\n")
        if parts and parts[-1] == "":
            parts.pop()
        texts.extend(parts)
    return texts


ALPHABET_PARTS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", " \t\r\n\u000b\u000c", "    \n\n''''",
    "àéîõüÀÉÎÕÜßµÿ\u0301\u0300\u0308", "ΑΒΓαβγ\u1f5f\u1f7d\u1fbe\u1fd3\u2126\u212a\u212bſǅ",
    "абвгдАБВГД", "一二三龥\u9fa6\u4e00\u0800\u07ff", "ぁあアカー・", "가각힣\ud7a3\ud7ff\uac00ㄱ",
    "！＂（）／：＠Ａａ～\uff5f\u3000\u3001\u3002\u2018\u201c\u201f\u2020",
    "\u00a0\u2000\u200a\u2028\u2029\u202f\u205f\u0085\u1680\u200b\u180e",
    "\U0001F600\U0001F999\U0001F44D\u2764\ufe0f", "مرحبا٠١٢٣،۔", "नमस्ते०१२।\u093f\u094d",
    "²³½Ⅻ⑦", "…€£¥©®°±×÷", "\u0378\ue000\ufffd\u00ad\u200d",
    # assigned after Unicode 15.0 (regex knows them, cllm's tables do not):
    # the agreement filter must drop them
    "\u1c89\U0002ebf0\U000105c0\u2ffc\u31ef",
]
# A small alphabet whose characters interact in every expression: dense
# random strings over it reach the corner cases (lookahead, lead characters,
# case classes, digit groups, contractions).
TRICKY = " \t\r\n'sStTlLdDreREaAzZ019!/.$`À\u0301\u3000\u4e00\u00a0_"
TOKENS = ["        ", " " * 17, "\u0301", "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "  ", "\r\n",
          " '", "'", "1234567", "HTTP", "Server", "DON'T"]


def class_signature(ch):
    tests = [r"\p{L}", r"\p{Lu}", r"\p{Ll}", r"\p{Lt}", r"\p{M}", r"\p{Mn}", r"\p{N}", r"\p{Nd}",
             r"\p{P}", r"\p{S}", r"\p{Z}", r"\p{C}", r"\s"]
    return tuple(bool(regex.match(t, ch)) for t in tests)


def flags_signature(f):
    bits = [1 << 0, 1 << 9, 1 << 8, 1 << 10, 1 << 1, 1 << 12, 1 << 2, 1 << 11, 1 << 3, 1 << 4,
            1 << 5, 1 << 6, 1 << 7]
    return tuple(bool(f & b) for b in bits)


def agreed_alphabet():
    chars = sorted(set("".join(ALPHABET_PARTS)))
    res = subprocess.run([TOOL, "--flags"], input="".join(chars).encode("utf-8"),
                         capture_output=True, check=True)
    flags = json.loads(res.stdout)
    assert len(flags) == len(chars)
    agreed = [c for c, f in zip(chars, flags) if class_signature(c) == flags_signature(f)]
    return agreed, [c for c in chars if c not in agreed]


def random_strings(alphabet, count, seed=1234):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randint(0, 24)
        s = []
        for _ in range(n):
            s.append(rng.choice(TOKENS) if rng.random() < 0.15 else rng.choice(alphabet))
        out.append("".join(s))
    return out


_CACHE = {}


def all_inputs():
    if "inputs" not in _CACHE:
        alphabet, _ = agreed_alphabet()
        fixed = CORPUS + read_inp_files()
        fixed.append("".join(fixed))
        tricky = [c for c in TRICKY if c in alphabet]
        _CACHE["inputs"] = (fixed, random_strings(alphabet, 3000)
                            + random_strings(tricky, 3000, seed=99))
    return _CACHE["inputs"]


def compare(kind):
    fixed, rand = all_inputs()
    texts = fixed + rand
    got = cllm_split_many(kind, texts)
    bad = [(t, g, reference_split(kind, t)) for t, g in zip(texts, got)
           if g != reference_split(kind, t)]
    return len(texts), bad


needs_tool = pytest.mark.skipif(not os.path.exists(TOOL), reason=f"{TOOL} not built")


@needs_tool
def test_alphabet_mostly_agrees():
    agreed, disagreed = agreed_alphabet()
    assert len(agreed) > 200
    assert set(disagreed) <= set("\u1c89\U0002ebf0\U000105c0\u2ffc\u31ef"), \
        [hex(ord(c)) for c in disagreed]


@needs_tool
@pytest.mark.parametrize("kind", sorted(SEQUENCES))
def test_kind_matches_regex(kind):
    total, bad = compare(kind)
    for t, g, r in bad[:5]:
        print(f"{kind}: {t!r}\n  cllm:  {g!r}\n  regex: {r!r}")
    assert not bad, f"{len(bad)} of {total} inputs differ"


def test_llama_cpp_view():
    """The reference applies llama.cpp's whitespace replacement; without it,
    `regex` splits the headline case the way cllm used to (wrongly)."""
    assert llama_cpp_view("a\u00a0\u2003\u3000\u0085 \t\u200b") == "a\x0b\x0b\x0b\x0b \t\u200b"
    for kind, pieces in LLAMA_CPP_CASES:
        assert reference_split(kind, "".join(pieces)) == pieces, (kind, pieces)
    assert reference_split("deepseek-llm", "a  \u3000<", llama_cpp=False) == \
        ["a", " ", " ", "\u3000", "<"]


@needs_tool
@pytest.mark.parametrize("kind", ["deepseek-llm", "deepseek-coder"])
def test_llama_cpp_cases(kind):
    cases = [pieces for k, pieces in LLAMA_CPP_CASES if k == kind]
    got = cllm_split_many(kind, ["".join(p) for p in cases])
    assert got == cases


@needs_tool
def test_inp_files_found():
    assert read_inp_files(), f"no *.inp under {VOCAB_DIR}"


@needs_tool
def test_speed_1mb_english():
    para = ("The quick brown fox doesn't jump over the lazy dog; it's 1234 times lazier. "
            "We'll see what THEY'RE doing in 2024, won't we?\n")
    text = (para * (1_000_000 // len(para) + 1))[:1_000_000].encode()
    for kind in ("gpt-2", "llama3"):
        res = subprocess.run([TOOL, "--pre", kind, "--time", "5"], input=text,
                             capture_output=True, check=True)
        ms = float(res.stderr.decode().split(" ms per run")[0].rsplit(" ", 1)[1])
        print(res.stderr.decode().strip())
        assert ms < 1000  # well under 100 ms in a release build; loose for sanitizer builds


def main():
    fixed, rand = all_inputs()
    _, disagreed = agreed_alphabet()
    print(f"inputs: {len(fixed)} fixed + {len(rand)} random; left out of the alphabet "
          f"(classes differ): {[hex(ord(c)) for c in disagreed]}")
    failed = 0
    for kind in sorted(SEQUENCES):
        total, bad = compare(kind)
        print(f"{kind:15s} {total - len(bad)}/{total} identical")
        for t, g, r in bad[:3]:
            print(f"    {t!r}\n      cllm:  {g!r}\n      regex: {r!r}")
        failed += bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
