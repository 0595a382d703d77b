#!/usr/bin/env bash
# Set up (or update) .venv and run the demo: sample data -> pipeline -> published warehouse.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh "$root/.venv"
export OPENBLAS_NUM_THREADS=1
# cached bytecode: without it every start recompiles dagster, scipy and the rest
unset PYTHONDONTWRITEBYTECODE
exec "$root/.venv/bin/cliffhanger" demo "$@"
