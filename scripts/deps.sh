#!/usr/bin/env bash
# deps.sh - install everything a fresh Debian machine needs to build and test
# cllm: the Debian packages below and a Python venv (.venv) with the test
# requirements from PyPI. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(cmake ninja-build pkg-config gcc libcmocka-dev libmicrohttpd-dev libjansson-dev
      python3-venv clang-14 libclang-rt-14-dev
      # docs/openapi.yaml -> /openapi.json at build time (scripts/embed-openapi.py)
      python3-yaml
      # the web front end's browser libraries (embedded at build time) and the
      # headless browser its tests drive
      libjs-marked libjs-highlight.js libjs-katex fonts-katex node-dompurify chromium chromium-driver)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "deps: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "deps: installing Python test requirements"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r tests/requirements.txt
  echo "$want" > "$stamp"
fi
echo "deps: ok"
