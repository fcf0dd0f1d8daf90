#!/usr/bin/env python3
"""tokenizer-diff.py - differential check of cllm-tokenize against llama.cpp
(llama-cpp-python, the reference environment only) on random mixed text:
letters, CJK, emoji, combining marks, invalid UTF-8 and special-token texts,
with add_special and parse_special on and off. A development tool; tests use
the committed vectors instead.

    /work/ref/venv/bin/python scripts/tokenizer-diff.py MODEL.gguf [SEED] [N]
"""
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ALPHABET = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789     \n\n\t\r.,;:!?'\"()[]{}<>|/\\-_=+*&^%$#@~`") + [
    "é", "ü", "ß", "日", "本", "語", "の", "한", "국", "Ж", "щ", "م", "ر", "न", "\u094d", "\u0301", "🦙",
    "😀", "👍🏽", "\u200d", "\u00a0", "\u3000", "'s", "'ll", "'RE", "  ", "\n\n", "▁", "Ġ"]
SPECIAL = ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<start_of_turn>",
           "<end_of_turn>", "<bos>", "<eos>", "<think>", "[CLS]", "[SEP]", "<|end|>", "<|user|>"]
BAD = [b"\xff", b"\xc3", b"\xe6\x97", b"\x80", b"\xf0\x9f", b"\xc0\xaf", b"\xed\xa0\x80"]


def random_text(rng):
    out = b""
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.05:
            out += rng.choice(BAD)
        elif r < 0.12:
            out += rng.choice(SPECIAL).encode()
        else:
            out += rng.choice(ALPHABET).encode()
    return out


def main():
    import llama_cpp

    path = sys.argv[1]
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    exe = os.path.join(ROOT, os.environ.get("CLLM_BUILD", "build"), "cllm-tokenize")
    texts = [random_text(rng) for _ in range(n)]
    llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    bad = 0
    for add in (False, True):
        for parse in (False, True):
            args = [exe, "-m", path, "--hex-lines"] + ([] if add else ["--no-bos"]) + \
                   ([] if parse else ["--no-parse-special"])
            r = subprocess.run(args, input="".join(t.hex() + "\n" for t in texts),
                               capture_output=True, text=True, check=True)
            for text, line in zip(texts, r.stdout.split("\n")):
                want = llm.tokenize(text, add_bos=add, special=parse)
                got = [int(x) for x in line.split()]
                if got != want:
                    bad += 1
                    if bad <= 4:
                        print("MISMATCH", add, parse, text, want, got)
    print(f"{os.path.basename(path)}: {4 * n - bad}/{4 * n} match")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
