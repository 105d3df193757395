#!/usr/bin/env bash
# Runs Larder's tests: installs missing Debian packages, then `swift test`.
# The suite uses real SQLite files and starts its own redis-server, Redis Cluster and
# PostgreSQL servers on free ports. Then the suites that touch the online store (online,
# service, engine, CLI) run a second time against a six-node Redis Cluster instead of one
# server (LARDER_TEST_REDIS=cluster), so every one of their tests runs against both.
# Arguments go to both runs (e.g. --filter).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift test "$@"
echo "== the online store's, service, engine and online CLI suites again, against a Redis Cluster =="
# (The catalog's suites are left out of this pass: its pages read the offline store, and the
# browser test's chromium would only load the machine under the timing tests.)
LARDER_TEST_REDIS=cluster swift test --skip-build \
  --filter 'LarderOnlineTests\.OnlineStoreTests|LarderServerTests|LarderEngineTests|LarderCLITests\.(OnlineCommandTests|VerifyTests|ServingLogCommandTests|PushReadErrorTests|PostgresCommandTests)' \
  --skip 'LarderServerTests\.(CatalogTests|CatalogBrowserTests)' "$@"
