#!/usr/bin/env bash
# Installs the project into ./.venv (idempotent; pip's cache makes repeat installs cheap).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "▶ creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "▶ installing the project and its dependencies (torch is large the first time)"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --progress-bar off -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
else
  .venv/bin/pip install --quiet --no-deps -e . >/dev/null
fi
