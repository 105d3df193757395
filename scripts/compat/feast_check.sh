#!/usr/bin/env bash
# Feast's own Python SDK against `larder serve`: the example feature repo declared to Feast with
# an online store of type `remote` pointed at Larder, read through FeatureStore.get_online_features
# and compared with the ingested data (see feast_check.py). Exits non-zero on any difference.
#
#   scripts/compat/feast_check.sh [FEAST_VERSION ...]     # default: the latest release on PyPI
#
# Each version is installed from PyPI into .venv-feast/VERSION (kept between runs). Needs
# python3, redis-server and network access to PyPI. Not part of `swift test`: slow, and PyPI.
# LARDER_BUILD_PATH sets the build's scratch path (default .build).
set -euo pipefail
cd "$(dirname "$0")/../.."
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(latest)

for version in "${versions[@]}"; do
  venv=".venv-feast/$version"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if [ "$version" = latest ]; then
    "$venv/bin/pip" install --quiet --upgrade feast
  else
    "$venv/bin/pip" install --quiet "feast==$version"
  fi
done

source scripts/compat/serve_example.sh
python3 scripts/compat/feast_check.py push-trips --url "$LARDER_URL" --out "$COMPAT_DIR/trips.json"

status=0
for version in "${versions[@]}"; do
  ".venv-feast/$version/bin/python" scripts/compat/feast_check.py check --url "$LARDER_URL" \
    --stats "$COMPAT_DIR/stats.csv" --trips "$COMPAT_DIR/trips.json" --workdir "$COMPAT_DIR/feast-$version" || status=1
done
exit $status
