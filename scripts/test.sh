#!/usr/bin/env bash
# The whole test suite: installs what is missing, then lint (ruff), types
# (mypy) and pytest on SQLite and on a throwaway PostgreSQL cluster.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

echo "== ruff"
.venv/bin/ruff check kumo tests bench
.venv/bin/ruff format --check kumo tests bench
echo "== mypy"
.venv/bin/mypy

pgdir=""
cleanup() {
  local rc=$?
  if [ -n "$pgdir" ]; then
    bash scripts/pg.sh stop "$pgdir" || true
    rm -rf "$pgdir"
  fi
  exit "$rc"
}
trap cleanup EXIT
if [ -z "${KUMO_TEST_PG_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/kumo-test-pg.XXXXXX)
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  KUMO_TEST_PG_URL=$(bash scripts/pg.sh start "$pgdir" "$port")
  export KUMO_TEST_PG_URL
fi

echo "== pytest"
# Two workers (KUMO_TEST_WORKERS), each taking whole modules (tests/conftest.py
# groups them): most tests wait on processes and the kernel, not on a core.
.venv/bin/pytest -q -p no:cacheprovider -n "${KUMO_TEST_WORKERS:-2}" --dist loadgroup "$@"
