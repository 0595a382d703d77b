#!/usr/bin/env bash
# Set up a fresh virtual environment and run lint and the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k generate`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv-test"
# a fresh environment every time, so a dependency missing from pyproject.toml fails here
bash scripts/bootstrap.sh "$venv" --fresh
export OPENBLAS_NUM_THREADS=1
# the suite starts ~100 Python processes (CLI runs, servers, dashboards); without cached
# bytecode each one recompiles dagster, scipy and the rest (~10 s a process here)
unset PYTHONDONTWRITEBYTECODE
# the dashboards' real-browser tests drive Debian's Chromium (browser downloads fail here)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "==> installing Debian's chromium" >&2
  { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || echo "warning: could not install chromium; the browser tests will be skipped" >&2
fi
# the lake tests start a PostgreSQL of their own (the DuckLake catalog) from Debian's server
# programs; the S3 server (moto) is a Python dev dependency
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null \
    && [ "$(id -u)" = 0 ]; then
  echo "==> installing Debian's postgresql" >&2
  { apt-get update -qq && apt-get install -y -qq postgresql; } >/dev/null 2>&1 \
    || echo "warning: could not install postgresql; the lake tests will fail" >&2
fi
# the celery test starts a Redis server of its own (the broker) from Debian's redis-server
if ! command -v redis-server >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "==> installing Debian's redis-server" >&2
  { apt-get update -qq && apt-get install -y -qq redis-server; } >/dev/null 2>&1 \
    || echo "warning: could not install redis-server; the celery test will fail" >&2
fi
echo "==> ruff" >&2
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "==> import contracts (pyproject.toml [tool.importlinter])" >&2
"$venv/bin/lint-imports" --no-cache
echo "==> pytest" >&2
"$venv/bin/python" -m pytest "$@"
