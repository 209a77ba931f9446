#!/usr/bin/env bash
# Static checks, from the venv (`make bootstrap` first; `make lint` does both), configured in pyproject.toml:
#   lint-imports          the rooms of ARCHITECTURE.md ("folder | owns | may import") as import-linter contracts
#   ruff check .          pycodestyle, pyflakes, import order, bugbear
#   ruff format --check . the formatting `ruff format .` would produce
#   mypy                  snmpwire/, store/, api/ ([tool.mypy] files)
# Every check runs; the script fails if any of them failed. .venv and build folders are excluded
# (.gitignore and [tool.ruff] extend-exclude; mypy and import-linter look only at Pantau's packages).
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=.venv/bin
if [ ! -x "$VENV/ruff" ] || [ ! -x "$VENV/mypy" ] || [ ! -x "$VENV/lint-imports" ]; then
  echo "scripts/lint.sh: ruff, mypy or lint-imports missing from .venv: run 'make bootstrap'" >&2
  exit 2
fi

failed=()
run() {
  echo "==> $*"
  "$VENV/$1" "${@:2}" || failed+=("$*")
}
run lint-imports
run ruff check .
run ruff format --check .
run mypy

if [ ${#failed[@]} -gt 0 ]; then
  printf 'lint failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "==> lint: all checks passed"
