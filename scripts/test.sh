#!/usr/bin/env bash
# Runs Larder's tests: installs missing Debian packages, then `swift test`.
# The suite uses a real SQLite file and starts its own redis-server on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec swift test "$@"
