#!/usr/bin/env bash
# schemathesis against `larder serve` (the example feature repo, on a temporary store): every
# check, positive data acceptance and negative data rejection included, every phase but the
# stateful one (the document declares no links). Exits non-zero on any failure.
#
#   scripts/compat/schemathesis.sh [SCHEMATHESIS_RUN_OPTION ...]   # e.g. --max-examples 500 --seed 1
#
# schemathesis is installed from PyPI into .venv-schemathesis (kept between runs); set
# SCHEMATHESIS_VERSION to pin it. Needs python3, redis-server and access to PyPI. Not part of
# `swift test`. LARDER_BUILD_PATH sets the build's scratch path (default .build).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-schemathesis
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ -n "${SCHEMATHESIS_VERSION:-}" ]; then
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
elif [ ! -x "$venv/bin/st" ]; then
  "$venv/bin/pip" install --quiet schemathesis
fi
"$venv/bin/st" --version

source scripts/compat/serve_example.sh
repo="$PWD"
# From the temporary folder: schemathesis keeps a cache (.schemathesis/) where it runs.
cd "$COMPAT_DIR"
"$repo/$venv/bin/st" --config-file "$repo/scripts/compat/schemathesis.toml" run "$repo/schemas/openapi.yaml" \
  --url "$LARDER_URL" --checks all --mode all --phases examples,coverage,fuzzing --max-examples 100 \
  --generation-database none --workers 1 --no-color "$@"
