#!/usr/bin/env bash
# The example feature repo end to end: build, register features/, ingest generated data,
# look around. Starts from an empty store in data/ each time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --product larder
larder() { .build/debug/larder "$@"; }
step() { printf '\n\033[1m$ larder %s\033[0m\n' "$*"; larder "$@"; }

rm -f data/offline.sqlite data/offline.sqlite-wal data/offline.sqlite-shm
mkdir -p data
# Hourly stats for 5 drivers over the last two days, and a week of their trips, up to now.
python3 scripts/generate_data.py driver_stats data/driver_stats.csv --drivers 5 --hours 48 --end now
python3 scripts/generate_data.py trips data/trips.csv --drivers 5 --events 2000 --days 7 --end now

step apply --dry-run
step apply
step apply
step list
step describe driver_hourly_stats
step ingest driver_stats data/driver_stats.csv
step ingest trips data/trips.csv
step describe driver_stats
step materialize
# Requests: instants over the last two days (labels ride along), plus the request fields
# the on-demand view reads.
python3 scripts/generate_data.py requests data/requests.csv --drivers 5 --rows 8 --unknown 0.1 \
  --start "$(date -u -d '-47 hours' +%Y-%m-%dT%H:%M:%SZ)" --end "$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)"
sed -i '1s/$/,val_to_add,val_to_add_2/; 2,$s/$/,1,2/' data/requests.csv
step training-set --entities data/requests.csv --service driver_ranking --out data/train.csv
cat data/train.csv
step training-set --at "$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)" --features driver_hourly_stats --out data/snapshot.jsonl
cat data/snapshot.jsonl
printf '\n\033[1mA bad file is rejected whole, naming the line, column and value:\033[0m\n'
printf 'driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,2026-01-01T00:00:00Z,,0.5,0.5,3\n1002,2026-01-01 00:00:00,,0.5,0.5,3\n' > data/bad.csv
if larder ingest driver_stats data/bad.csv; then echo "expected a failure" >&2; exit 1; fi
echo
echo "Quickstart done: the registry, sources and feature tables are in data/offline.sqlite;"
echo "the training set is data/train.csv, with data/train.csv.manifest.json beside it."
