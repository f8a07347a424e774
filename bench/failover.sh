#!/usr/bin/env bash
# HA gateway failover on a real lab (root): see bench/failover.py.
#   bash bench/failover.sh [--trials 10] [--soak 300] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.failover "$@"
