#!/usr/bin/env bash
# Installs the Debian packages Larder needs, if any is missing (python3-venv and python3-pip: the
# tests make a virtualenv of Parquet oracles from PyPI; chromium: the catalog's browser test loads
# its pages headless). Extra package names may be given as arguments (the benchmarks add sqlite3
# and wrk).
set -euo pipefail
packages=(libsqlite3-dev libhiredis-dev redis-server postgresql libzstd-dev libsnappy-dev zlib1g-dev python3-venv python3-pip chromium "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
