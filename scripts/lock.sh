#!/usr/bin/env bash
# Regenerates requirements.lock (exact versions + sha256 hashes, base + dev extra) from pyproject.toml.
# pip-tools runs from a throwaway virtual environment, so it never enters .venv or the lock.
# Usage: scripts/lock.sh [extra pip-compile args, e.g. --upgrade-package fastapi]   (or: make lock)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PY" -m venv "$tools"
"$tools/bin/python" -m pip install -q --upgrade pip pip-tools
CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$tools/bin/pip-compile" -q --generate-hashes --extra dev \
  --no-strip-extras --no-emit-index-url --no-emit-find-links --output-file requirements.lock "$@" pyproject.toml
echo "==> wrote requirements.lock"
