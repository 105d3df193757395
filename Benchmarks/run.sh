#!/usr/bin/env bash
# Runs Larder's benchmarks (release build) and prints the figures. Usage: Benchmarks/run.sh [NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh sqlite3 wrk redis-tools
swift build -c release --product larder >&2
exec python3 Benchmarks/bench.py "$@"
