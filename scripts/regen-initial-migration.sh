#!/usr/bin/env bash
# Development only, until the first release: rewrite the initial migration
# from the models (autogenerate against an empty SQLite database). After a
# release, schema changes get new migration files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rm -f kumo/db/migrations/versions/0001_initial.py
PYTHONPATH="$PWD" .venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from kumo.db.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/empty.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001_initial")
PY
f=$(ls kumo/db/migrations/versions/0001_initial*.py)
[ "$f" = kumo/db/migrations/versions/0001_initial.py ] || mv "$f" kumo/db/migrations/versions/0001_initial.py
.venv/bin/ruff format -q kumo/db/migrations/versions/0001_initial.py
.venv/bin/ruff check -q --fix kumo/db/migrations/versions/0001_initial.py || true
echo "wrote kumo/db/migrations/versions/0001_initial.py"
