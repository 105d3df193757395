# Sourced by the compatibility checks: builds `larder`, then runs the example feature repo
# against a temporary store of its own: a redis-server on a free port, driver_stats data
# generated up to now, applied, ingested and materialized, and `larder serve` on a free port.
# Sets LARDER_URL, COMPAT_DIR (the temporary folder, with stats.csv) and larder() (the CLI on
# it); stops what it started and removes the folder when the calling script exits.
#
# Environment: LARDER_BUILD_PATH, the scratch path of the build (default .build).

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

compat_pids=()
compat_cleanup() {
  for p in "${compat_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${compat_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${COMPAT_DIR:-}" ] && rm -rf "$COMPAT_DIR"
}
trap compat_cleanup EXIT

build_path="${LARDER_BUILD_PATH:-.build}"
echo "building larder ($build_path)" >&2
swift build --product larder --scratch-path "$build_path" >&2
larder_binary="$(swift build --product larder --scratch-path "$build_path" --show-bin-path)/larder"

COMPAT_DIR="$(mktemp -d -t larder-compat-XXXXXX)"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --dir "$COMPAT_DIR" \
  > "$COMPAT_DIR/redis.log" 2>&1 &
compat_pids+=($!)
for _ in $(seq 50); do (echo PING > /dev/tcp/127.0.0.1/"$redis_port") 2>/dev/null && break; sleep 0.1; done
cat > "$COMPAT_DIR/larder.yaml" <<YAML
project: compat
offline:
  path: offline.sqlite
online:
  redis_url: redis://127.0.0.1:$redis_port/0
YAML
larder() { "$larder_binary" "$@" --config "$COMPAT_DIR/larder.yaml"; }

# Hourly stats for 5 drivers over the last 6 hours, up to now: the latest row of each is
# within the view's 2-hour ttl, except where the generator leaves gaps.
python3 scripts/generate_data.py driver_stats "$COMPAT_DIR/stats.csv" --drivers 5 --hours 6 --end now >&2
larder apply >&2
larder ingest driver_stats "$COMPAT_DIR/stats.csv" >&2
larder materialize >&2

larder_port=$(free_port)
# The binary itself in the background (not the function), so that $! is the process to stop.
"$larder_binary" serve --port "$larder_port" --config "$COMPAT_DIR/larder.yaml" > "$COMPAT_DIR/serve.log" 2>&1 &
compat_pids+=($!)
LARDER_URL="http://127.0.0.1:$larder_port"
for _ in $(seq 100); do curl -sf "$LARDER_URL/health" > /dev/null && break; sleep 0.1; done
curl -sf "$LARDER_URL/health" > /dev/null || { echo "larder serve did not start:" >&2; cat "$COMPAT_DIR/serve.log" >&2; exit 1; }
echo "larder serve at $LARDER_URL (store in $COMPAT_DIR)" >&2
