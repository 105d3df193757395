#!/usr/bin/env bash
# The example feature repo end to end: build, register features/, ingest generated data,
# materialize (offline and to Redis), a training set, online lookups through the CLI and the
# service. Starts from an empty store in data/ each time, with a Redis of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh curl
swift build --product larder
larder() { .build/debug/larder "$@"; }
step() { printf '\n\033[1m$ larder %s\033[0m\n' "$*"; larder "$@"; }

rm -f data/offline.sqlite data/offline.sqlite-wal data/offline.sqlite-shm
mkdir -p data
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
# A Redis of its own on a free port, unless LARDER_REDIS_URL points at one.
if [ -z "${LARDER_REDIS_URL:-}" ]; then
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no > data/redis.log 2>&1 &
  pids+=($!)
  export LARDER_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  for _ in $(seq 50); do (echo PING > /dev/tcp/127.0.0.1/"$redis_port") 2>/dev/null && break; sleep 0.1; done
fi
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
# What the run recorded: per feature statistics (aggregations: what every driver is served).
step describe driver_trips --stats --runs 1
# Requests: instants over the last two days (labels ride along), plus the request fields
# the on-demand view reads.
python3 scripts/generate_data.py requests data/requests.csv --drivers 5 --rows 8 --unknown 0.1 \
  --start "$(date -u -d '-47 hours' +%Y-%m-%dT%H:%M:%SZ)" --end "$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)"
sed -i '1s/$/,val_to_add,val_to_add_2/; 2,$s/$/,1,2/' data/requests.csv
step training-set --entities data/requests.csv --service driver_ranking --out data/train.csv
cat data/train.csv
# The same training set as Parquet (typed, zstd), read by pandas when it is installed (or
# in the tests' virtualenv, .build/oracle-venv).
step training-set --entities data/requests.csv --service driver_ranking --out data/train.parquet
py=python3
[ -x .build/oracle-venv/bin/python ] && py=.build/oracle-venv/bin/python
if "$py" -c 'import pandas, pyarrow' 2>/dev/null; then
  "$py" -c 'import pandas; t = pandas.read_parquet("data/train.parquet"); print(t.dtypes.to_string()); print(t.head(3).to_string())'
else
  echo "(pandas with pyarrow is not installed here; pandas.read_parquet(\"data/train.parquet\") reads the file as is)"
fi
step training-set --at "$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)" --features driver_hourly_stats --out data/snapshot.jsonl
cat data/snapshot.jsonl
step get --service driver_ranking --entity driver_id=1001 --entity driver_id=1002 --request val_to_add=1 --request val_to_add_2=2
# Training and serving agree: online values against their offline recomputation.
step verify --service driver_ranking --sample 5

# The service, on a free port; stopped with SIGTERM (graceful) at the end.
port=$(free_port)
.build/debug/larder serve --port "$port" > data/serve.log 2>&1 &
serve_pid=$!
pids+=($serve_pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.1; done
printf '\n\033[1m$ curl -s localhost:%s/health\033[0m\n' "$port"
curl -s "http://127.0.0.1:$port/health"; echo
printf '\n\033[1m$ curl -s -X POST localhost:%s/v1/features -d ...\033[0m\n' "$port"
curl -s -X POST "http://127.0.0.1:$port/v1/features" \
  -d '{"service": "driver_ranking", "entities": [{"driver_id": 1001}], "request": {"val_to_add": 1, "val_to_add_2": 2}}'; echo
printf '\n\033[1m$ curl -s -X POST localhost:%s/get-online-features -d ...   (Feast'"'"'s JSON)\033[0m\n' "$port"
curl -s -X POST "http://127.0.0.1:$port/get-online-features" \
  -d '{"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"], "entities": {"driver_id": [1001, 1002, 9999]}}'; echo
aggregates() {
  curl -s -X POST "http://127.0.0.1:$port/v1/features" \
    -d '{"features": ["driver_trips:trips_1h", "driver_trips:fare_sum_24h"], "entities": [{"driver_id": 1001}]}'; echo
}
printf '\n\033[1mWindowed aggregations, then a trip pushed through the service counts at once:\033[0m\n'
aggregates
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -s -X POST "http://127.0.0.1:$port/v1/push" \
  -d '{"source": "trips", "rows": [{"driver_id": 1001, "event_timestamp": "'"$now"'", "fare": 12.5, "distance_km": 3.1}]}'; echo
aggregates
kill -TERM "$serve_pid"; wait "$serve_pid" || true
printf '\n\033[1mA bad file is rejected whole, naming the line, column and value:\033[0m\n'
printf 'driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,2026-01-01T00:00:00Z,,0.5,0.5,3\n1002,2026-01-01 00:00:00,,0.5,0.5,3\n' > data/bad.csv
if larder ingest driver_stats data/bad.csv; then echo "expected a failure" >&2; exit 1; fi
echo
echo "Quickstart done: the registry, sources and feature tables are in data/offline.sqlite;"
echo "the training set is data/train.csv (and as Parquet data/train.parquet), each with its manifest beside it;"
echo "the latest values were served from Redis by larder serve."
