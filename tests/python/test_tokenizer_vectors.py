"""test_tokenizer_vectors.py - cllm-tokenize against llama.cpp's published
tokenizer test vectors (../shared/vocab/ggml-vocab-*.gguf.inp/.out, read at
test time, never copied): every case of every vocabulary, tokenized without
BOS/EOS and with special-token parsing off, must give exactly the expected ids."""
import glob
import os

import pytest

from tok_common import SHARED, tokenize_many

MARKER = b"\n__ggml_vocab_test__\n"
INPUTS = sorted(glob.glob(os.path.join(SHARED, "vocab", "ggml-vocab-*.gguf.inp")))


def cases(inp):
    with open(inp, "rb") as f:
        texts = f.read().split(MARKER)[:-1]
    with open(inp[:-4] + ".out") as f:
        expected = [[int(x) for x in line.split()] for line in f.read().split("\n")[: len(texts)]]
    return texts, expected


@pytest.mark.skipif(not INPUTS, reason=f"no vectors under {SHARED}/vocab")
@pytest.mark.parametrize("inp", INPUTS, ids=lambda p: os.path.basename(p)[11:-9])
def test_vocab_vectors(inp):
    texts, expected = cases(inp)
    got = tokenize_many(inp[:-4], texts, add_special=False, parse_special=False)
    bad = [(t, e, g) for t, e, g in zip(texts, expected, got) if e != g]
    for t, e, g in bad[:5]:
        print("MISMATCH", t, "want", e, "got", g)
    print(f"{os.path.basename(inp[:-4])}: {len(texts) - len(bad)}/{len(texts)} cases match")
    assert len(texts) == len(expected) > 0
    assert not bad
