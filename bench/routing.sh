#!/usr/bin/env bash
# Routing benchmarks side by side in one run (root): see bench/routing.py.
#   bash bench/routing.sh [--seconds 5] [--latency-samples 20]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.routing "$@"
