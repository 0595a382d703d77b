#!/usr/bin/env bash
# Create a virtual environment at $1 with Cliffhanger and its dev tools installed.
# Needs only python3 (>= 3.11) with venv and pip; uv is installed into the venv and does the rest.
set -euo pipefail
venv="$1"
fresh="${2:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
"$python" - <<'PY' || { echo "cliffhanger: Python 3.11 or newer is required" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
if [ "$fresh" = "--fresh" ] && [ -d "$venv" ]; then
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
if [ ! -x "$venv/bin/uv" ]; then
  echo "==> installing uv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
echo "==> installing cliffhanger and its dependencies" >&2
"$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -e "$root[dev]"
