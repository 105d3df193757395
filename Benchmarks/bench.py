#!/usr/bin/env python3
"""Larder's benchmarks: each measures a Larder command against a baseline in the same run.

  Benchmarks/run.sh [ingest ...]      (builds the release binary first)

Prints wall time (median of --repeat runs) and peak memory (max RSS) per command.
"""
import argparse
import filecmp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LARDER = os.environ.get("LARDER_BINARY", os.path.join(ROOT, ".build", "release", "larder"))
WORK = os.path.join(ROOT, "Benchmarks", "work")


def run(cmd, cwd, stdin=None):
    """Runs cmd; returns (seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE if stdin else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if stdin:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    if status != 0:
        sys.exit(f"command failed ({status}): {' '.join(cmd)}\n{out}\n{err}")
    return seconds, usage.ru_maxrss / 1024, out


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def generate(kind, out, *args):
    if not os.path.exists(out):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate_data.py"), kind, out, *args], check=True)
    return out


def reordered(csv, order):
    """The same rows as `csv` in another order, in a file beside it: "entity" groups them by the
    first column (the join key, numerically), then time, as exports per entity arrive; "time"
    sorts them by the second column (the event time), then entity."""
    out = f"{csv[:-4]}_by_{order}.csv"
    if not os.path.exists(out):
        # In a child process: this one forks every measured command, and a child's peak
        # resident set counts the parent's memory until it execs.
        subprocess.run([sys.executable, "-c", """
import sys
with open(sys.argv[1]) as f:
    header = f.readline()
    rows = f.readlines()
def key(line):
    entity, time, _ = line.split(",", 2)
    return (int(entity), time) if sys.argv[3] == "entity" else (time, int(entity))
rows.sort(key=key)
with open(sys.argv[2], "w") as f:
    f.write(header)
    f.writelines(rows)
""", csv, out, order], check=True)
    return out


def by_entity(csv):
    """`csv` grouped by entity (see ``reordered``)."""
    return reordered(csv, "entity")


def fresh_project(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "larder.yaml"), "w") as f:
        f.write("project: bench\noffline:\n  path: offline.sqlite\n")
    return d


def bench_ingest(repeat):
    """1,000,000 driver_stats rows, time-ordered and grouped by entity: larder ingest vs
    sqlite3 .import into a table with the same columns and index."""
    time_ordered = generate("driver_stats", os.path.join(WORK, "driver_stats_1m.csv"), "--drivers", "10000", "--hours", "100")
    rows = sum(1 for _ in open(time_ordered)) - 1
    size = os.path.getsize(time_ordered) / 1e6
    ddl = """
CREATE TABLE driver_stats (driver_id INTEGER NOT NULL, event_timestamp TEXT NOT NULL, created TEXT,
  conv_rate REAL NOT NULL, acc_rate REAL NOT NULL, avg_daily_trips INTEGER NOT NULL);
CREATE INDEX driver_stats_by_event_time ON driver_stats (event_timestamp);
"""
    results = {}
    for order, csv in (("time-ordered", time_ordered), ("entity-ordered", by_entity(time_ordered))):
        sqlite_times, sqlite_mem, larder_times, larder_mem = [], [], [], []
        for _ in range(repeat):
            d = fresh_project("ingest_sqlite")
            db = os.path.join(d, "import.sqlite")
            subprocess.run(["sqlite3", db], input=ddl, text=True, check=True)
            s, m, _ = run(["sqlite3", db, "-cmd", ".mode csv", f".import --skip 1 {csv} driver_stats"], d)
            sqlite_times.append(s)
            sqlite_mem.append(m)

            d = fresh_project("ingest_larder")
            run([LARDER, "apply"], d)
            s, m, out = run([LARDER, "ingest", "driver_stats", csv], d)
            if f"ingested {rows:,} rows" not in out:
                sys.exit(f"unexpected output: {out}")
            larder_times.append(s)
            larder_mem.append(m)
        results[order] = (median(sqlite_times), max(sqlite_mem), median(larder_times), max(larder_mem))
    print(f"\n## ingest: {rows:,} rows of driver_stats ({size:.0f} MB CSV), median of {repeat}")
    print("| file order | sqlite3 .import (baseline) s | larder ingest s | rows/s | ratio larder / sqlite3 (floor <= 1.00) | peak MiB sqlite3 / larder |")
    print("|---|---|---|---|---|---|")
    for order, (st, sm, lt, lm) in results.items():
        print(f"| {order} | {st:.2f} | {lt:.2f} | {rows / lt:,.0f} | {lt / st:.2f} | {sm:.0f} / {lm:.0f} |")
    print(f"ratio larder ingest entity-ordered / time-ordered: {results['entity-ordered'][2] / results['time-ordered'][2]:.2f} (floor <= 1.25)")

    # A source with an aggregation view: trips keeps a second, covering index (driver, time, _seq,
    # fare, distance) for the view's windows; a large ingest builds it after the rows.
    trips = generate("trips", os.path.join(WORK, "trips_1m.csv"), "--drivers", "10000", "--events", "1000000",
                     "--days", "8", "--end", "2026-01-05T04:00:00Z")
    trips_times, trips_mem = [], []
    for _ in range(repeat):
        d = fresh_project("ingest_trips")
        run([LARDER, "apply"], d)
        s, m, _ = run([LARDER, "ingest", "trips", trips], d)
        trips_times.append(s)
        trips_mem.append(m)
    print(f"larder ingest of 1,000,000 trips (a source with an aggregation index): {median(trips_times):.2f} s, "
          f"peak {max(trips_mem):.0f} MiB")


def bench_python(*packages):
    """A virtualenv under Benchmarks/work with the PyPI packages the baselines need (duckdb,
    pyarrow), made on first use and given whatever package it lacks."""
    venv = os.path.join(WORK, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    missing = [p for p in packages if subprocess.run([python, "-c", f"import {p}"], capture_output=True).returncode != 0]
    if missing:
        subprocess.run([python, "-m", "pip", "install", "-q", *missing], check=True)
    return python


MATERIALIZE_STATS = [LARDER, "materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z", "--offline-only"]


def materialized_stats(name, csv):
    """A fresh project with `csv` ingested into driver_stats, then materialized offline:
    (its folder, the materialization's seconds and peak MiB)."""
    d = fresh_project(name)
    run([LARDER, "apply"], d)
    run([LARDER, "ingest", "driver_stats", csv], d)
    s, m, _ = run(MATERIALIZE_STATS, d)
    return d, s, m


def bench_offline(repeat):
    """Materialization of ~1M driver_stats rows and a 100k-request training set, vs DuckDB ASOF."""
    stats = generate("driver_stats", os.path.join(WORK, "driver_stats_1m_missing.csv"),
                     "--drivers", "10000", "--hours", "100", "--missing", "0.02", "--end", "2026-01-05T03:00:00Z")
    requests = generate("requests", os.path.join(WORK, "requests_100k.csv"), "--drivers", "10000", "--rows", "100000",
                        "--unknown", "0.05", "--start", "2025-12-31T20:00:00Z", "--end", "2026-01-05T08:00:00Z")
    rows = sum(1 for _ in open(stats)) - 1
    features = "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips"
    mat_t, mat_m, ts_t, ts_m, rerun_t = [], [], [], [], []
    for _ in range(repeat):
        d, s, m = materialized_stats("offline", stats)
        mat_t.append(s)
        mat_m.append(m)
        s, m, _ = run([LARDER, "training-set", "--entities", requests, "--features", features, "--out", "train.csv"], d)
        ts_t.append(s)
        ts_m.append(m)
        s, _, _ = run(MATERIALIZE_STATS, d)
        rerun_t.append(s)
    time_store = os.path.join(d, "offline.sqlite")
    # The same rows grouped by entity, and the physical floor: sqlite3 copying the rows' columns
    # into a table with the feature table's columns and index (INSERT INTO ... SELECT).
    ent_t, copy_t = [], []
    entity_csv = by_entity(stats)
    copy_sql = """
CREATE TABLE copy (_seq INTEGER PRIMARY KEY, driver_id INTEGER NOT NULL, _event_ts INTEGER NOT NULL, _created_ts INTEGER,
  conv_rate REAL, acc_rate REAL, avg_daily_trips INTEGER) STRICT;
CREATE INDEX copy_by_key_time ON copy (driver_id, _event_ts, _created_ts);
INSERT INTO copy SELECT _seq, driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips FROM source_driver_stats;
"""
    for _ in range(repeat):
        e, s, _ = materialized_stats("offline_by_entity", entity_csv)
        ent_t.append(s)
        for store in (time_store, os.path.join(e, "offline.sqlite")):
            subprocess.run(["sqlite3", store, "DROP TABLE IF EXISTS copy"], check=True)
            s, _, _ = run(["sqlite3", store], os.path.dirname(store), stdin=copy_sql)
            copy_t.append(s)
            subprocess.run(["sqlite3", store, "DROP TABLE copy"], check=True)
    larder_out = os.path.join(d, "train.csv")

    python = bench_python("duckdb")
    bench = os.path.join(ROOT, "Benchmarks", "duckdb_asof.py")
    db = os.path.join(WORK, "duckdb.db")
    if os.path.exists(db):
        os.remove(db)
    subprocess.run([python, bench, "load", db, stats], check=True)
    duck_t, duck_m = [], []
    duck_out = os.path.join(WORK, "duckdb_train.csv")
    for _ in range(repeat):
        _, m, out = run([python, bench, "join", db, requests, duck_out], WORK)
        duck_t.append(float(out.strip()))
        duck_m.append(m)
    _, _, mismatches = run([python, bench, "compare", larder_out, duck_out], WORK)

    # The training set from the store whose rows were ingested grouped by entity.
    ent_ts = []
    for _ in range(repeat):
        s, _, _ = run([LARDER, "training-set", "--entities", requests, "--features", features, "--out", "train.csv"], e)
        ent_ts.append(s)
    same_ts = open(os.path.join(e, "train.csv")).read() == open(larder_out).read()

    # Ten times the requests, same store.
    requests_1m = generate("requests", os.path.join(WORK, "requests_1m.csv"), "--drivers", "10000", "--rows", "1000000",
                           "--unknown", "0.05", "--start", "2025-12-31T20:00:00Z", "--end", "2026-01-05T08:00:00Z")
    ts10_t, ts10_m, duck10_t = [], [], []
    for _ in range(repeat):
        s, m, _ = run([LARDER, "training-set", "--entities", requests_1m, "--features", features, "--out", "train_1m.csv"], d)
        ts10_t.append(s)
        ts10_m.append(m)
        _, _, out = run([python, bench, "join", db, requests_1m, os.path.join(WORK, "duckdb_train_1m.csv")], WORK)
        duck10_t.append(float(out.strip()))

    print(f"\n## offline: {rows:,} driver_stats rows (10,000 drivers x 100 hours, 2% missing), 100,000 requests, median of {repeat}")
    print("| step | seconds | peak MiB | floor |")
    print("|---|---|---|---|")
    print(f"| larder materialize (into an empty table) | {median(mat_t):.2f} | {max(mat_m):.0f} | < 2 s, < 200 MB |")
    print(f"| larder materialize again (same range, replaces every row) | {median(rerun_t):.2f} | | |")
    print(f"| larder materialize, the same rows ingested grouped by entity | {median(ent_t):.2f} | | <= 1.25x time-ordered |")
    print(f"| sqlite3 INSERT INTO ... SELECT of the rows' columns into the feature table's layout (baseline, both orders) | {median(copy_t):.2f} | | |")
    print(f"| larder training-set, 3 features, CSV to CSV | {median(ts_t):.2f} | {max(ts_m):.0f} | < 1 s, < 200 MB |")
    print(f"| DuckDB ASOF LEFT JOIN, CSV to CSV, in-process time (baseline) | {median(duck_t):.2f} | {max(duck_m):.0f} (whole python process) | |")
    print(f"ratio larder materialize entity-ordered / time-ordered: {median(ent_t) / median(mat_t):.2f} (floor <= 1.25)")
    print(f"ratio larder materialize / sqlite3 INSERT INTO ... SELECT: time-ordered {median(mat_t) / median(copy_t):.2f}, "
          f"entity-ordered {median(ent_t) / median(copy_t):.2f} (floor <= 2.00)")
    print(f"| larder training-set, 1,000,000 requests | {median(ts10_t):.2f} | {max(ts10_m):.0f} | |")
    print(f"| DuckDB ASOF LEFT JOIN, 1,000,000 requests (baseline) | {median(duck10_t):.2f} | | |")
    print(f"ratio larder training-set / DuckDB ASOF: {median(ts_t) / median(duck_t):.2f} (floor <= 1.00); "
          f"at 1,000,000 requests: {median(ts10_t) / median(duck10_t):.2f} (floor <= 1.00)")
    print(f"values differing between Larder's and DuckDB's outputs: {mismatches.strip()} (of {100000 * 3:,})")
    print(f"training set from the rows ingested grouped by entity: {median(ent_ts):.2f} s (ratio to DuckDB "
          f"{median(ent_ts) / median(duck_t):.2f}); same output as from the time-ordered rows: {same_ts}")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(port, path, entities, seconds=10, connections=8, features=None, drivers=None, token=None):
    """Runs wrk; returns (requests/s, p50 ms, p99 ms, non-2xx count). `features` (comma-separated)
    and `drivers` (ids 1001..1000+drivers) default to the Lua script's: driver_hourly_stats, 10,000.
    `token` is sent as a bearer token."""
    env = dict(os.environ, LARDER_PATH=path, LARDER_ENTITIES=str(entities), LARDER_TOKEN=token or "")
    if features:
        env["LARDER_FEATURES"] = features
    if drivers:
        env["LARDER_DRIVERS"] = str(drivers)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          os.path.join(ROOT, "Benchmarks", "wrk_features.lua"), f"http://127.0.0.1:{port}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return wrk_figures(out)[:4]


def wrk_figures(out):
    """wrk --latency's report: (requests/s, p50 ms, p99 ms, non-2xx count, requests)."""
    def ms(label):
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == label:
                v = parts[1]
                return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
        return float("nan")
    rps = next(float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec"))
    errors = sum(int(l.split()[-1]) for l in out.splitlines() if "Non-2xx" in l)
    total = next(int(l.split()[0]) for l in out.splitlines() if "requests in" in l)
    return rps, ms("50%"), ms("99%"), errors, total


def redis_benchmark(port):
    """redis-benchmark GET with 8 clients: (requests/s, p50 ms, p99 ms)."""
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-c", "8", "-n", "200000", "--csv"],
                         capture_output=True, text=True, check=True).stdout
    import csv as _csv
    rows = list(_csv.reader(out.strip().splitlines()))
    header, values = rows[0], rows[1]
    row = dict(zip(header, values))
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def bench_online(repeat):
    """Push of 10,000 entities; lookups through the service under wrk; redis-benchmark GET as the baseline."""
    import datetime as dt
    end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    stats = os.path.join(WORK, "driver_stats_recent.csv")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate_data.py"), "driver_stats", stats,
                    "--drivers", "10000", "--hours", "3", "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ")], check=True)
    d = fresh_project("online")
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    server = None
    try:
        def larder(*args):
            out = subprocess.run([LARDER, *args], cwd=d, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"larder {' '.join(args)} failed: {out.stderr}")
            return out.stdout
        larder("apply")
        larder("ingest", "driver_stats", stats)
        push_times = []
        for _ in range(repeat):
            subprocess.run(["redis-cli", "-p", str(redis_port), "FLUSHALL"], check=True, capture_output=True)
            out = larder("materialize", "--views", "driver_hourly_stats")
            line = next(l for l in out.splitlines() if "pushed" in l)
            entities = int(line.split("pushed ")[1].split(" ")[0].replace(",", ""))
            push_times.append(float(line.split(" in ")[1].split(" s")[0]))
        port = free_port()
        server = subprocess.Popen([LARDER, "serve", "--port", str(port)], cwd=d, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import urllib.request
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health")
                break
            except Exception:
                time.sleep(0.1)
        wrk(port, "/v1/features", 1, seconds=3)  # warm-up
        rows = []
        for label, path, n in [("POST /v1/features, 1 entity x 3 features", "/v1/features", 1),
                               ("POST /get-online-features, 1 entity x 3 features", "/get-online-features", 1),
                               ("POST /v1/features, 100 entities x 3 features", "/v1/features", 100)]:
            # The VM's throughput varies by about 10% run to run: the median of `repeat` runs.
            runs = [wrk(port, path, n) for _ in range(repeat)]
            rows.append((label, median([r[0] for r in runs]), median([r[1] for r in runs]),
                         median([r[2] for r in runs]), sum(r[3] for r in runs)))
        # Where a lookup's time goes: the service's CPU per request for the 1-entity lookup, and
        # for a route that answers 404 before any lookup (the HTTP stack's own floor).
        cost = []
        for label, path in [("POST /v1/features, 1 entity x 3 features", "/v1/features"),
                            ("POST /no-such-route (404: the HTTP stack alone)", "/no-such-route")]:
            before = cpu_seconds(server.pid)
            rps, p50, p99, _ = wrk(port, path, 1, seconds=5)
            cost.append((label, rps, p50, p99, (cpu_seconds(server.pid) - before) / (rps * 5) * 1e6))
        # The same 1-entity load with the serving log on for every entity (rate 1).
        server.terminate()
        server.wait()
        port = free_port()
        server = subprocess.Popen([LARDER, "serve", "--port", str(port)], cwd=d,
                                  env=dict(env, LARDER_SERVE_LOG_SAMPLE_RATE="1"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health")
                break
            except Exception:
                time.sleep(0.1)
        runs = [wrk(port, "/v1/features", 1) for _ in range(repeat)]
        rows.append(("POST /v1/features, 1 entity x 3 features, serving log on (every entity)",
                     median([r[0] for r in runs]), median([r[1] for r in runs]), median([r[2] for r in runs]),
                     sum(r[3] for r in runs)))
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        dropped = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("larder_serving_log_dropped_total"))
        server.terminate()  # graceful: the writer flushes what is queued
        server.wait()
        server = None
        logged = int(subprocess.run(["sqlite3", os.path.join(d, "offline.sqlite"), "SELECT count(*) FROM larder_serving_log"],
                                    capture_output=True, text=True, check=True).stdout.strip())
        rb = redis_benchmark(redis_port)
    finally:
        if server:
            server.terminate()
            server.wait()
        redis.terminate()
        redis.wait()
    print(f"\n## online: 10,000 drivers materialized; wrk -t2 -c8 -d10s, random drivers, median of {repeat} runs; release build")
    print(f"materialize push of {entities:,} entities to Redis: {median(push_times):.3f} s (median of {repeat}; floor < 0.3 s)")
    print("| load | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    for label, rps, p50, p99, errors in rows:
        print(f"| {label} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {errors} |")
    print(f"| redis-benchmark GET, 8 clients (baseline) | {rb[0]:,.0f} | {rb[1]:.3f} | {rb[2]:.3f} | |")
    print(f"ratio of p50 latency, /v1/features 1 entity / redis-benchmark GET: {rows[0][2] / rb[1]:.2f}")
    print(f"ratio of requests/s, /v1/features 1 entity / redis-benchmark GET: {rows[0][1] / rb[0]:.3f} (floor >= 0.15)")
    print("| load, 5 s | requests/s | p50 ms | p99 ms | service CPU per request, µs |")
    print("|---|---|---|---|---|")
    for label, rps, p50, p99, us in cost:
        print(f"| {label} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {us:.0f} |")
    print(f"serving log: {logged:,} vectors written, {dropped:,.0f} dropped (queue full) during the logged runs")

AGGREGATION_FEATURES = "driver_trips:trips_1h,driver_trips:fare_sum_24h,driver_trips:fare_mean_7d"
# (name, window, hop) in seconds, as features/Trips.swift declares them.
AGGREGATION_WINDOWS = [("trips_1h", 3600, 300), ("fare_sum_24h", 86400, 3600), ("fare_mean_7d", 7 * 86400, 3600)]


def aggregations_offline(repeat):
    """1M trips: materialize (rows and tiles) and a 100k-request training set of 3 windowed
    aggregations, vs the same aggregations as a DuckDB range join; then compares the values."""
    trips = generate("trips", os.path.join(WORK, "trips_1m.csv"), "--drivers", "10000", "--events", "1000000",
                     "--days", "8", "--end", "2026-01-05T04:00:00Z")
    # Instants in the last day of the data: every 7-day window (starting at a whole hour) lies inside it.
    requests = generate("requests", os.path.join(WORK, "requests_agg_100k.csv"), "--drivers", "10000", "--rows", "100000",
                        "--unknown", "0.05", "--start", "2026-01-04T05:00:00Z", "--end", "2026-01-05T04:00:00Z")
    rows = sum(1 for _ in open(trips)) - 1
    mat_t, mat_m, ts_t, ts_m, rows_t = [], [], [], [], []
    for _ in range(repeat):
        d = fresh_project("aggregations")
        run([LARDER, "apply"], d)
        run([LARDER, "ingest", "trips", trips], d)
        s, m, out = run([LARDER, "materialize", "--views", "driver_trips", "--end", "2026-01-06T00:00:00Z", "--offline-only"], d)
        if f"{rows:,} rows" not in out:
            sys.exit(f"unexpected output: {out}")
        # The run's own split: its tiles took "T s of it"; the rest is what the same trips
        # cost without aggregations (their rows and index).
        total = float(out.split(" rows in ")[1].split(" s")[0])
        tile_s = float(out.split(" tiles in ")[1].split(" s")[0])
        rows_t.append(s * (total - tile_s) / total)
        mat_t.append(s)
        mat_m.append(m)
        s, m, _ = run([LARDER, "training-set", "--entities", requests, "--features", AGGREGATION_FEATURES, "--out", "train.csv"], d)
        ts_t.append(s)
        ts_m.append(m)
    tiles = subprocess.run(["sqlite3", os.path.join(d, "offline.sqlite"),
                            "SELECT count(*), sum(_hop = 300000000) FROM tiles_driver_trips_v1"],
                           capture_output=True, text=True, check=True).stdout.strip().split("|")
    larder_out = os.path.join(d, "train.csv")

    python = bench_python("duckdb")
    bench = os.path.join(ROOT, "Benchmarks", "duckdb_windows.py")
    db = os.path.join(WORK, "duckdb_trips.db")
    if os.path.exists(db):
        os.remove(db)
    subprocess.run([python, bench, "load", db, trips], check=True)
    duck_t, duck_m = [], []
    duck_out = os.path.join(WORK, "duckdb_aggregations.csv")
    for _ in range(repeat):
        _, m, out = run([python, bench, "join", db, requests, duck_out], WORK)
        duck_t.append(float(out.strip()))
        duck_m.append(m)
    _, _, compared = run([python, bench, "compare", larder_out, duck_out], WORK)
    mismatches, summary, *examples = compared.strip().splitlines()

    print(f"\n## aggregations, offline: {rows:,} trips (10,000 drivers x 8 days), 100,000 requests in the last day "
          f"(5% unknown drivers), median of {repeat}")
    print("| step | seconds | peak MiB | floor |")
    print("|---|---|---|---|")
    print(f"| larder materialize driver_trips ({rows:,} rows; {int(tiles[0]):,} tiles, {int(tiles[1]):,} of them 5-minute) "
          f"| {median(mat_t):.2f} | {max(mat_m):.0f} | |")
    print(f"| larder training-set, 3 aggregations (trips_1h, fare_sum_24h, fare_mean_7d), CSV to CSV "
          f"| {median(ts_t):.2f} | {max(ts_m):.0f} | < 2 s |")
    print(f"| DuckDB range join + GROUP BY per request row, CSV to CSV, in-process time (baseline) "
          f"| {median(duck_t):.2f} | {max(duck_m):.0f} (whole python process) | |")
    print(f"ratio larder training-set / DuckDB: {median(ts_t) / median(duck_t):.2f} (floor <= 1.50)")
    print(f"ratio larder materialize with tiles / the same trips' rows alone (the run's time less its tiles'): "
          f"{median(mat_t) / median(rows_t):.2f} (floor <= 2.50)")
    for order in ("time", "entity"):
        ordered = reordered(trips, order)
        o_mat, o_ts = [], []
        for _ in range(repeat):
            e = fresh_project(f"aggregations_by_{order}")
            run([LARDER, "apply"], e)
            run([LARDER, "ingest", "trips", ordered], e)
            s, _, _ = run([LARDER, "materialize", "--views", "driver_trips", "--end", "2026-01-06T00:00:00Z", "--offline-only"], e)
            o_mat.append(s)
            s, _, _ = run([LARDER, "training-set", "--entities", requests, "--features", AGGREGATION_FEATURES, "--out", "train.csv"], e)
            o_ts.append(s)
        same = open(os.path.join(e, "train.csv")).read() == open(larder_out).read()
        print(f"the same trips ordered by {order}: materialize {median(o_mat):.2f} s, training set {median(o_ts):.2f} s "
              f"(ratio to DuckDB {median(o_ts) / median(duck_t):.2f}); same training set as the generator's order: {same}")
    print(f"values differing between Larder's and DuckDB's outputs: {mismatches} (of {100000 * 3:,}; counts exact, "
          f"sums and means within 1e-9 relative, nulls in the same places); {summary}")
    for e in examples:
        print(f"- {e}")


def start_redis():
    """A redis-server on a free loopback port, without persistence: (process, port)."""
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return redis, port


def start_server(d, env, binary=None):
    """`larder serve` on a free port in project d, once /health answers: (process, port)."""
    import urllib.request
    port = free_port()
    server = subprocess.Popen([binary or LARDER, "serve", "--port", str(port)], cwd=d, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health")
            break
        except Exception:
            time.sleep(0.1)
    return server, port


def window_values(events, t):
    """The 3 aggregations of AGGREGATION_WINDOWS at instant t (seconds) over (time, fare) events,
    by the window rule: floor((t - w) / h) * h <= event time <= t."""
    out = {}
    for name, w, h in AGGREGATION_WINDOWS:
        fares = [fare for ts, fare in events if (t - w) // h * h <= ts <= t]
        out[name] = len(fares) if name == "trips_1h" else sum(fares) if name == "fare_sum_24h" else \
            (sum(fares) / len(fares) if fares else None)
    return out


def sample_lookup(port, trips_csv, end):
    """Looks up the driver with the most trips in the last hour; returns (response body, whether
    its values match the window rule over the generated CSV at the time of the request)."""
    import csv as _csv
    import datetime as dt
    import json
    import urllib.request
    by_driver = {}
    with open(trips_csv) as f:
        for row in _csv.DictReader(f):
            t = dt.datetime.fromisoformat(row["event_timestamp"].replace("Z", "+00:00")).timestamp()
            by_driver.setdefault(int(row["driver_id"]), []).append((int(t), float(row["fare"])))
    recent = end.timestamp() - 3600
    driver = max(by_driver, key=lambda k: (sum(ts > recent for ts, _ in by_driver[k]), -k))
    body = json.dumps({"features": AGGREGATION_FEATURES.split(","), "entities": [{"driver_id": driver}]}).encode()
    before = int(time.time())
    response = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/features", data=body,
                                                             headers={"Content-Type": "application/json"})).read().decode()
    after = int(time.time()) + 1
    got = {name: v["value"] for name, v in json.loads(response)["rows"][0]["features"].items()}
    def same(expected):
        return all(got[k] == v if not isinstance(v, float) else got[k] is not None and abs(got[k] - v) <= 1e-9 * abs(v)
                   for k, v in expected.items())
    # The server's instant lies between `before` and `after`: any instant there is a right answer.
    matches = any(same(window_values(by_driver[driver], t)) for t in range(before, after + 1))
    return response, matches


def aggregations_online_case(redis_port, drivers, events, repeat):
    """Recent trips of `drivers` drivers over 7 days up to now, pushed as tiles and looked up
    through the service: a dict of the figures."""
    import datetime as dt
    end = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    trips = os.path.join(WORK, f"trips_recent_{drivers}.csv")
    # Ending at this minute (not the hour), so the 1-hour window holds a full hour of trips.
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate_data.py"), "trips", trips, "--drivers", str(drivers),
                    "--events", str(events), "--days", "7", "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ")], check=True)
    d = fresh_project(f"aggregations_online_{drivers}")
    env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    def larder(*args):
        out = subprocess.run([LARDER, *args], cwd=d, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"larder {' '.join(args)} failed: {out.stderr}")
        return out.stdout
    def redis_cli(*args):
        return subprocess.run(["redis-cli", "-p", str(redis_port), *args], check=True, capture_output=True, text=True).stdout
    larder("apply")
    larder("ingest", "trips", trips)
    push_times, mat_times = [], []
    for _ in range(repeat):
        redis_cli("FLUSHALL")
        out = larder("materialize", "--views", "driver_trips")
        mat_times.append(float(out.split(" rows in ")[1].split(" s")[0]))
        line = next(l for l in out.splitlines() if "pushed" in l)
        entities = int(line.split("pushed ")[1].split(" ")[0].replace(",", ""))
        updated = int(line.split("(")[1].split(" ")[0].replace(",", ""))
        push_times.append(float(line.split(" in ")[1].split(" s")[0]))
    tiles = int(redis_cli("EVAL", "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                          "n = n + redis.call('HLEN', k) end return n", "0", "larder:*:_tiles:*").strip())
    hour_tiles = int(redis_cli("EVAL", "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                               "for _, f in ipairs(redis.call('HKEYS', k)) do if string.sub(f, 1, 11) == '3600000000:' "
                               "then n = n + 1 end end end return n", "0", "larder:*:_tiles:*").strip())
    server, port = start_server(d, env)
    try:
        wrk(port, "/v1/features", 1, seconds=3, features=AGGREGATION_FEATURES, drivers=drivers)  # warm-up
        # The VM's throughput varies by about 10% run to run: the median of `repeat` runs.
        runs = [wrk(port, "/v1/features", 1, features=AGGREGATION_FEATURES, drivers=drivers) for _ in range(repeat)]
        sample, matches = sample_lookup(port, trips, end)
    finally:
        server.terminate()
        server.wait()
    return dict(drivers=drivers, events=events, entities=entities, updated=updated, tiles=tiles, hour_tiles=hour_tiles,
                push=median(push_times), materialize=median(mat_times),
                rps=median([r[0] for r in runs]), p50=median([r[1] for r in runs]), p99=median([r[2] for r in runs]),
                errors=sum(r[3] for r in runs), sample=sample, matches=matches)


def aggregations_online(repeat):
    """Tiles pushed on materialize; 1 entity x 3 aggregations through the service under wrk, for
    10,000 drivers x ~30 trips (few tiles each) and 1,000 drivers x ~1,000 trips (a tile in nearly
    every hour of the 7-day window); redis-benchmark GET as the baseline."""
    redis, redis_port = start_redis()
    try:
        cases = [aggregations_online_case(redis_port, 10000, 300000, repeat),
                 aggregations_online_case(redis_port, 1000, 1000000, repeat)]
        rb = redis_benchmark(redis_port)
    finally:
        redis.terminate()
        redis.wait()
    print(f"\n## aggregations, online: trips over the last 7 days, tiles pushed by materialize; wrk -t2 -c8 -d10s, "
          f"random drivers, median of {repeat} runs; release build")
    print("| data | materialize s | push s | entities (as reported) | Redis writes | tiles in Redis (1-hour hop) | tiles per driver |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        print(f"| {c['drivers']:,} drivers, {c['events']:,} trips | {c['materialize']:.2f} | {c['push']:.2f} | {c['entities']:,} "
              f"| {c['updated']:,} | {c['tiles']:,} ({c['hour_tiles']:,}) | {c['tiles'] / c['drivers']:.1f} |")
    if any(c["entities"] != c["drivers"] for c in cases):
        print("(larder reports each entity once per hop size with tiles: 2 hop sizes, so twice the drivers)")
    print()
    print("| load | requests/s | p50 ms | p99 ms | non-2xx | floor |")
    print("|---|---|---|---|---|---|")
    for c in cases:
        print(f"| `POST /v1/features`, 1 entity x 3 aggregations, {c['drivers']:,} drivers x ~{c['events'] // c['drivers']:,} trips "
              f"| {c['rps']:,.0f} | {c['p50']:.3f} | {c['p99']:.3f} | {c['errors']} | p99 < 3 ms, non-2xx 0 |")
    print(f"| redis-benchmark GET, 8 clients (baseline) | {rb[0]:,.0f} | {rb[1]:.3f} | {rb[2]:.3f} | | |")
    for c in cases:
        print(f"\nsample response ({c['drivers']:,}-driver data, the driver with the most trips in the last hour; "
              f"matches the window rule over the generated CSV: {'yes' if c['matches'] else 'NO'}):")
        print(f"```json\n{c['sample']}\n```")


def bench_aggregations(repeat):
    """driver_trips' windowed aggregations: a training set vs DuckDB SQL, and lookups through the service."""
    aggregations_offline(repeat)
    aggregations_online(repeat)


def cpu_seconds(pid):
    """User and system CPU time a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    """(current, peak) resident set of a process, in MiB, from /proc."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def post_json(port, path, body, timeout=60):
    """(status, response bytes, seconds) of one POST."""
    import http.client
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, len(data), time.perf_counter() - start


def health_latency(port):
    """Seconds for GET /health on a new connection, or None if it does not answer within 5 s."""
    import http.client
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return time.perf_counter() - start if ok else None
    except Exception:
        return None


def bench_limits(repeat):
    """What one client can cost the service: large lookups (memory) and slow clients (sockets)."""
    import concurrent.futures
    import json
    import resource
    import socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    d = fresh_project("limits")
    redis, redis_port = start_redis()
    env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    server = None
    try:
        import datetime as dt
        end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        stats = os.path.join(WORK, "driver_stats_limits.csv")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate_data.py"), "driver_stats", stats,
                        "--drivers", "10000", "--hours", "1", "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ")], check=True)
        for args in (["apply"], ["ingest", "driver_stats", stats], ["materialize", "--views", "driver_hourly_stats"]):
            subprocess.run([LARDER, *args], cwd=d, env=env, check=True, capture_output=True)
        features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]

        def lookups(port, pid, entities, clients=8):
            # Feast's columnar form: 100,000 entities fit in 0.51 MB, under the 1 MiB body limit.
            body = json.dumps({"features": features, "entities": {"driver_id": [1001 + i % 10_000 for i in range(entities)]}},
                              separators=(",", ":")).encode()
            before = rss_mib(pid)[0]
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(lambda _: post_json(port, "/get-online-features", body), range(clients)))
            time.sleep(1)
            after, peak = rss_mib(pid)
            return len(body), results, before, peak, after

        print("\n## Service limits (issue 10)\n")
        print("8 concurrent `/get-online-features` lookups of 3 features (columnar entities), one after the other "
              "in the same service; resident set of the service. The baseline is the previous release "
              "(LARDER_BASELINE_BINARY), which has no limits.\n")
        print("| service | lookup | body | status | response | slowest | RSS before | peak | after |")
        print("|---|---|---|---|---|---|---|---|---|")
        binaries = [("larder", LARDER)]
        if os.environ.get("LARDER_BASELINE_BINARY"):
            binaries.insert(0, ("previous release (baseline)", os.environ["LARDER_BASELINE_BINARY"]))
        for label, binary in binaries:
            server, port = start_server(d, env, binary)
            for entities in (10_000, 100_000):
                size, results, before, peak, after = lookups(port, server.pid, entities)
                statuses = sorted({r[0] for r in results})
                print(f"| {label} | {entities:,} entities | {size / 1e6:.2f} MB | {','.join(map(str, statuses))} | "
                      f"{max(r[1] for r in results) / 1e6:.2f} MB | {max(r[2] for r in results):.2f} s | "
                      f"{before:.0f} MiB | {peak:.0f} MiB | {after:.0f} MiB |")
            if binary != LARDER:
                server.terminate()
                server.wait()
                server = None

        # Slow clients: 1,000 connections each trickling one header byte every 2 s.
        clients = []
        for _ in range(1000):
            c = socket.create_connection(("127.0.0.1", port))
            c.setblocking(False)
            clients.append(c)
        request = b"POST /v1/features HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        start = time.perf_counter()
        open_clients = set(range(len(clients)))
        closed_at = {}
        health = []
        step = 0
        while open_clients and time.perf_counter() - start < 30:
            for i in list(open_clients):
                try:
                    data = clients[i].recv(4096)
                    if data == b"" or data.startswith(b"HTTP/1.1 408"):
                        closed_at[i] = time.perf_counter() - start
                        open_clients.discard(i)
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[i] = time.perf_counter() - start
                    open_clients.discard(i)
                    continue
                if step < len(request):
                    try:
                        clients[i].send(request[step:step + 1])
                    except OSError:
                        closed_at[i] = time.perf_counter() - start
                        open_clients.discard(i)
            step += 1
            health.append(health_latency(port))
            time.sleep(max(0.0, 2.0 - (time.perf_counter() - start) % 2.0))
        for c in clients:
            c.close()
        answered = [h for h in health if h is not None]
        times = sorted(closed_at.values())
        print(f"\n1,000 clients each sending one header byte every 2 s (header_timeout_seconds 10): "
              f"{len(closed_at):,} closed by the service, the last after {times[-1] if times else float('nan'):.1f} s; "
              f"{len(open_clients):,} still open after 30 s. `GET /health` on a new connection meanwhile: "
              f"{len(answered)} of {len(health)} answered, slowest {max(answered) * 1000 if answered else float('nan'):.0f} ms.")
    finally:
        if server:
            server.terminate()
            server.wait()
        redis.terminate()
        redis.wait()


def bench_verify(repeat):
    """larder verify --service driver_ranking --sample 10000 on 10,000 drivers (3 hours of driver_stats, as bench_online,
    and 200,000 trips over 8 days for the aggregations), against the binary in LARDER_BASELINE_BINARY when set.

    Each binary gets its own project (applied, ingested, materialized and pushed by itself, from the same files, into one
    Redis under its own project name), so a store written by one is never read by the other; the verify runs alternate
    baseline and this build, so both see the same machine noise."""
    import datetime as dt
    end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    stamp = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    stats = os.path.join(WORK, "driver_stats_verify.csv")
    trips = os.path.join(WORK, "trips_verify.csv")
    generator = os.path.join(ROOT, "scripts", "generate_data.py")
    subprocess.run([sys.executable, generator, "driver_stats", stats, "--drivers", "10000", "--hours", "3", "--end", stamp],
                   check=True)
    subprocess.run([sys.executable, generator, "trips", trips, "--drivers", "10000", "--events", "200000", "--days", "8",
                    "--end", stamp], check=True)
    binaries = [("this build", LARDER)]
    baseline = os.environ.get("LARDER_BASELINE_BINARY")
    if baseline:
        binaries.insert(0, ("baseline", baseline))
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    times = {label: [] for label, _ in binaries}
    try:
        projects = {}
        for i, (label, binary) in enumerate(binaries):
            d = fresh_project(f"verify_{i}")
            with open(os.path.join(d, "larder.yaml"), "w") as f:
                f.write(f"project: bench_verify_{i}\noffline:\n  path: offline.sqlite\n")
            for args in (["apply"], ["ingest", "driver_stats", stats], ["ingest", "trips", trips], ["materialize"]):
                out = subprocess.run([binary, *args], cwd=d, env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"{label}: larder {' '.join(args)} failed: {out.stderr}")
            projects[label] = d
        for _ in range(repeat):
            for label, binary in binaries:
                cmd = [binary, "verify", "--service", "driver_ranking", "--sample", "10000"]
                start = time.perf_counter()
                proc = subprocess.run(cmd, cwd=projects[label], env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - start
                if proc.returncode != 0 or "consistent: 100,000 values of 10 features compared" not in proc.stdout:
                    sys.exit(f"{label}: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
                times[label].append(seconds)
    finally:
        redis.terminate()
        redis.wait()
    print(f"\n## verify: larder verify --service driver_ranking --sample 10000 (10,000 drivers, 10 features), median of {repeat}")
    print("| binary | seconds | runs |")
    print("|---|---|---|")
    for label, _ in binaries:
        print(f"| {label} | {median(times[label]):.3f} | {', '.join(f'{t:.3f}' for t in times[label])} |")
    if baseline:
        print(f"ratio this build / baseline: {median(times['this build']) / median(times['baseline']):.2f} (floor: <= 1.00)")


def bench_ab(repeat):
    """Two builds on the same data, alternating run by run, for differences smaller than the
    noise between benchmark runs: LARDER_BASELINE_BINARY against this build (LARDER_BINARY).
    Each build gets its own projects (a store is upgraded by the newer build), filled once."""
    baseline = os.environ.get("LARDER_BASELINE_BINARY")
    if not baseline:
        sys.exit("ab compares two builds: set LARDER_BASELINE_BINARY to the other larder binary")
    stats = generate("driver_stats", os.path.join(WORK, "driver_stats_1m_missing.csv"),
                     "--drivers", "10000", "--hours", "100", "--missing", "0.02", "--end", "2026-01-05T03:00:00Z")
    requests = generate("requests", os.path.join(WORK, "requests_100k.csv"), "--drivers", "10000", "--rows", "100000",
                        "--unknown", "0.05", "--start", "2025-12-31T20:00:00Z", "--end", "2026-01-05T08:00:00Z")
    trips = generate("trips", os.path.join(WORK, "trips_1m.csv"), "--drivers", "10000", "--events", "1000000",
                     "--days", "8", "--end", "2026-01-05T04:00:00Z")
    agg_requests = generate("requests", os.path.join(WORK, "requests_agg_100k.csv"), "--drivers", "10000", "--rows",
                            "100000", "--unknown", "0.05", "--start", "2026-01-04T05:00:00Z", "--end", "2026-01-05T04:00:00Z")
    requests_1m = generate("requests", os.path.join(WORK, "requests_1m.csv"), "--drivers", "10000", "--rows", "1000000",
                           "--unknown", "0.05", "--start", "2025-12-31T20:00:00Z", "--end", "2026-01-05T08:00:00Z")
    features = "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips"
    builds = [("baseline", baseline), ("this build", LARDER)]
    redis, port = start_redis()
    try:
        projects = []
        for b, (_, binary) in enumerate(builds):
            d = fresh_project(f"ab_{b}")
            run([binary, "apply"], d)
            run([binary, "ingest", "driver_stats", stats], d)
            run([binary, "ingest", "trips", trips], d)
            run([binary, "materialize", "--views", "driver_trips", "--end", "2026-01-06T00:00:00Z", "--offline-only"], d)
            projects.append(d)
        steps = {
            "materialize 979,847 rows (offline only)": lambda binary: [
                binary, "materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z", "--offline-only"],
            "materialize and push 10,000 entities": lambda binary: [
                binary, "materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z"],
            "training set, 100,000 requests x 3 features": lambda binary: [
                binary, "training-set", "--entities", requests, "--features", features, "--out", "train.csv"],
            "training set, 1,000,000 requests x 3 features": lambda binary: [
                binary, "training-set", "--entities", requests_1m, "--features", features, "--out", "train_1m.csv"],
            "materialize 1,000,000 trips with their tiles (offline only)": lambda binary: [
                binary, "materialize", "--views", "driver_trips", "--end", "2026-01-06T00:00:00Z", "--offline-only"],
            "aggregation training set, 100,000 requests": lambda binary: [
                binary, "training-set", "--entities", agg_requests, "--features", AGGREGATION_FEATURES, "--out", "agg.csv"],
        }
        times = {step: [[], []] for step in steps}
        for _ in range(repeat):
            for step, command in steps.items():
                for b, (_, binary) in enumerate(builds):
                    env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{port}/{b}")
                    start = time.perf_counter()
                    subprocess.run(command(binary), cwd=projects[b], env=env, check=True, capture_output=True)
                    times[step][b].append(time.perf_counter() - start)
        # Lookups through each build's service, alternating, on the entities the push stored.
        lookups = [[], []]
        for _ in range(repeat):
            for b, (_, binary) in enumerate(builds):
                env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{port}/{b}")
                server, server_port = start_server(projects[b], env, binary)
                try:
                    wrk(server_port, "/v1/features", 1, seconds=2)  # warm-up
                    lookups[b].append(wrk(server_port, "/v1/features", 1, seconds=5))
                finally:
                    server.terminate()
                    server.wait()
    finally:
        redis.terminate()
        redis.wait()
    print(f"\n## ab: {baseline} (baseline) against {LARDER}, alternating, {repeat} runs each, seconds")
    print("| step | baseline: median (range) | this build: median (range) | ratio of medians |")
    print("|---|---|---|---|")
    for step, (a, b) in times.items():
        print(f"| {step} | {median(a):.2f} ({min(a):.2f}–{max(a):.2f}) | {median(b):.2f} ({min(b):.2f}–{max(b):.2f}) "
              f"| {median(b) / median(a):.2f} |")
    a, b = ([r[0] for r in runs] for runs in lookups)
    print(f"| POST /v1/features, 1 entity x 3 features, 8 connections, requests/s | {median(a):,.0f} ({min(a):,.0f}–{max(a):,.0f}) "
          f"| {median(b):,.0f} ({min(b):,.0f}–{max(b):,.0f}) | {median(b) / median(a):.2f} |")
    a, b = ([r[1] for r in runs] for runs in lookups)
    print(f"| the same, p50 ms | {median(a):.3f} ({min(a):.3f}–{max(a):.3f}) | {median(b):.3f} ({min(b):.3f}–{max(b):.3f}) "
          f"| {median(b) / median(a):.2f} |")


def start_postgres():
    """A PostgreSQL server (Debian's postgresql package) in a fresh directory on a free loopback
    port, with its default, durable settings: (process, port, bin directory, directory). As root
    it runs as the `postgres` user through setpriv, since initdb refuses root."""
    import glob
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda b: int(b.split("/")[-2]))
    if not bins:
        sys.exit("PostgreSQL not found: apt-get install postgresql")
    bindir = bins[-1]
    directory = tempfile.mkdtemp(prefix="larder-bench-pg-")
    data = os.path.join(directory, "data")
    as_user = []
    if os.getuid() == 0:
        import pwd
        account = pwd.getpwnam("postgres")
        os.chmod(directory, 0o755)
        os.makedirs(data)
        os.chown(data, account.pw_uid, account.pw_gid)
        as_user = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", "--"]
    subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-U", "larder", "--auth=trust", "-E", "UTF8", "--locale=C"],
                   check=True, capture_output=True, cwd="/")
    port = free_port()
    server = subprocess.Popen(as_user + [f"{bindir}/postgres", "-D", data, "-p", str(port), "-k", data,
                                         "-c", "listen_addresses=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    for _ in range(100):
        if subprocess.run([f"{bindir}/psql", "-h", data, "-p", str(port), "-U", "larder", "-d", "postgres", "-c", "SELECT 1"],
                          capture_output=True).returncode == 0:
            return server, port, bindir, directory
        time.sleep(0.2)
    sys.exit("postgres did not start")


def bench_postgres(repeat):
    """The PostgreSQL offline store against the SQLite one on the same data in the same run:
    `larder ingest` of 1,000,000 driver_stats rows into each (floor: PostgreSQL at most 2x
    SQLite), and `psql \\copy` of the same file into a table with the same columns and indexes
    (PostgreSQL's own floor for loading it); then `larder materialize --offline-only` of the
    rows (floor: at most 2.5x); then `larder training-set` of 100,000 requests over them (floor:
    at most 3x), whose outputs must be the same bytes."""
    csv = generate("driver_stats", os.path.join(WORK, "driver_stats_1m.csv"), "--drivers", "10000", "--hours", "100")
    requests = generate("requests", os.path.join(WORK, "requests_100k.csv"), "--drivers", "10000", "--rows", "100000",
                        "--unknown", "0.05", "--start", "2025-12-31T20:00:00Z", "--end", "2026-01-05T08:00:00Z")
    features = "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips"
    rows = sum(1 for _ in open(csv)) - 1
    server, port, bindir, directory = start_postgres()
    data = os.path.join(directory, "data")

    def psql(database, sql):
        subprocess.run([f"{bindir}/psql", "-h", data, "-p", str(port), "-U", "larder", "-d", database, "-v", "ON_ERROR_STOP=1",
                        "-q", "-c", sql], check=True, capture_output=True)

    def ingest_and_materialize(d):
        """`larder apply`, `ingest`, `materialize --offline-only` and `training-set` in project
        d: the three timed steps' (seconds, peak MiB)."""
        run([LARDER, "apply"], d)
        timed = []
        for cmd, expected in (([LARDER, "ingest", "driver_stats", csv], f"ingested {rows:,} rows"),
                              ([LARDER, "materialize", "--offline-only", "--views", "driver_hourly_stats"], f"{rows:,} rows"),
                              ([LARDER, "training-set", "--entities", requests, "--features", features, "--out", "train.csv"],
                               "wrote 100,000 rows")):
            s, m, out = run(cmd, d)
            if expected not in out:
                sys.exit(f"unexpected output: {out}")
            timed.append((s, m))
        return timed

    try:
        sqlite_times, pg_times, copy_times, sqlite_mem, pg_mem = [], [], [], [], []
        sqlite_mat, pg_mat, sqlite_mat_mem, pg_mat_mem = [], [], [], []
        sqlite_ts, pg_ts, sqlite_ts_mem, pg_ts_mem = [], [], [], []
        for i in range(repeat):
            sqlite_project = fresh_project("postgres_sqlite")
            (s, m), (ms, mm), (ts, tm) = ingest_and_materialize(sqlite_project)
            sqlite_times.append(s)
            sqlite_mem.append(m)
            sqlite_mat.append(ms)
            sqlite_mat_mem.append(mm)
            sqlite_ts.append(ts)
            sqlite_ts_mem.append(tm)

            database = f"bench_{i}"
            psql("postgres", f"CREATE DATABASE {database}")
            d = fresh_project("postgres_pg")
            with open(os.path.join(d, "larder.yaml"), "w") as f:
                f.write(f"project: bench\noffline:\n  url: postgres://larder@127.0.0.1:{port}/{database}?sslmode=disable\n")
            (s, m), (ms, mm), (ts, tm) = ingest_and_materialize(d)
            pg_times.append(s)
            pg_mem.append(m)
            pg_mat.append(ms)
            pg_mat_mem.append(mm)
            pg_ts.append(ts)
            pg_ts_mem.append(tm)
            if not filecmp.cmp(os.path.join(sqlite_project, "train.csv"), os.path.join(d, "train.csv"), shallow=False):
                sys.exit("the training sets of the two stores differ")

            database = f"copy_{i}"
            psql("postgres", f"CREATE DATABASE {database}")
            psql(database, "CREATE TABLE driver_stats (_seq BIGINT NOT NULL, _ingest BIGINT NOT NULL, event_timestamp BIGINT NOT NULL, "
                           "created BIGINT, driver_id BIGINT NOT NULL, conv_rate DOUBLE PRECISION NOT NULL, "
                           "acc_rate DOUBLE PRECISION NOT NULL, avg_daily_trips BIGINT NOT NULL); "
                           "CREATE INDEX ON driver_stats (_seq); CREATE INDEX ON driver_stats (event_timestamp)")
            # The file into a table of its own columns, then into one with the store's columns
            # (times as microseconds, a _seq), in one session: what loading it takes in SQL.
            s, _, _ = run([f"{bindir}/psql", "-h", data, "-p", str(port), "-U", "larder", "-d", database, "-v", "ON_ERROR_STOP=1", "-q",
                           "-c", "CREATE TEMP TABLE x (driver_id BIGINT, event_timestamp TIMESTAMPTZ, created TIMESTAMPTZ, "
                                 "conv_rate DOUBLE PRECISION, acc_rate DOUBLE PRECISION, avg_daily_trips BIGINT)",
                           "-c", f"\\copy x FROM '{csv}' WITH (FORMAT csv, HEADER true)",
                           "-c", "INSERT INTO driver_stats SELECT row_number() OVER (), 1, "
                                 "(extract(epoch FROM event_timestamp) * 1000000)::bigint, "
                                 "(extract(epoch FROM created) * 1000000)::bigint, driver_id, conv_rate, acc_rate, avg_daily_trips FROM x"],
                          WORK)
            copy_times.append(s)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\n## postgres: {rows:,} driver_stats rows, the PostgreSQL offline store against SQLite, median of {repeat}")
    print("| step | SQLite store s | PostgreSQL store s | ratio PostgreSQL / SQLite (floor <= 2.00) | psql \\copy + INSERT (PostgreSQL's floor) s | peak MiB larder SQLite / PostgreSQL |")
    print("|---|---|---|---|---|---|")
    print(f"| larder ingest | {median(sqlite_times):.2f} | {median(pg_times):.2f} | {median(pg_times) / median(sqlite_times):.2f} "
          f"| {median(copy_times):.2f} | {max(sqlite_mem):.0f} / {max(pg_mem):.0f} |")
    print(f"| larder materialize --offline-only (floor <= 2.50) | {median(sqlite_mat):.2f} | {median(pg_mat):.2f} "
          f"| {median(pg_mat) / median(sqlite_mat):.2f} | | {max(sqlite_mat_mem):.0f} / {max(pg_mat_mem):.0f} |")
    print(f"| larder training-set, 100,000 requests (floor <= 3.00; same bytes) | {median(sqlite_ts):.2f} | {median(pg_ts):.2f} "
          f"| {median(pg_ts) / median(sqlite_ts):.2f} | | {max(sqlite_ts_mem):.0f} / {max(pg_ts_mem):.0f} |")


def redis_cli(port, *args):
    """`redis-cli -h 127.0.0.1 -p PORT ARGS...`: what it printed, stripped (an error reply is
    printed as its message)."""
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def start_redis_cluster(nodes=6, timeout=20):
    """A Redis Cluster on loopback: `nodes` redis-server processes with --cluster-enabled, on
    free ports, each in a temporary directory, without persistence, joined by `redis-cli
    --cluster create` as primaries (the first half of the ports) with one replica each. Returns
    once every node says cluster_state:ok and knows all the others, and every replica's link
    to its primary is up: (processes, ports, directories), for stop_redis_cluster in a
    `finally`. If starting fails, the nodes started so far are stopped and their directories
    removed, and the script exits with the reason."""
    processes, ports, directories = [], [], []
    taken = set()

    def port():
        while True:
            p = free_port()
            if p not in taken:
                taken.add(p)
                return p

    def log_tail(i):
        with open(os.path.join(directories[i], "redis.log")) as f:
            return "".join(f.readlines()[-10:])

    try:
        for i in range(nodes):
            # The cluster bus port is chosen free too: the default (port + 10000) may be taken,
            # or above 65535.
            p, bus = port(), port()
            directory = tempfile.mkdtemp(prefix=f"larder-bench-cluster-{p}-")
            directories.append(directory)
            ports.append(p)
            with open(os.path.join(directory, "redis.log"), "w") as log:
                processes.append(subprocess.Popen(
                    ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-config-file", f"nodes-{p}.conf", "--cluster-port", str(bus),
                     "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", "--dir", directory],
                    stdout=log, stderr=subprocess.STDOUT, cwd=directory))
        for i, p in enumerate(ports):
            deadline = time.monotonic() + 10
            while redis_cli(p, "PING") != "PONG":
                if processes[i].poll() is not None:
                    sys.exit(f"cluster node 127.0.0.1:{p} exited with status {processes[i].returncode}:\n{log_tail(i)}")
                if time.monotonic() > deadline:
                    sys.exit(f"cluster node 127.0.0.1:{p} did not answer PING within 10 s:\n{log_tail(i)}")
                time.sleep(0.05)
        created = subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                                  "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if created.returncode != 0:
            sys.exit(f"redis-cli --cluster create failed ({created.returncode}):\n{created.stdout}\n{created.stderr}")
        deadline = time.monotonic() + timeout
        while True:
            problem = None
            for p in ports:
                info = dict(l.split(":", 1) for l in redis_cli(p, "CLUSTER", "INFO").splitlines() if ":" in l)
                if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(nodes):
                    problem = (f"127.0.0.1:{p} says cluster_state:{info.get('cluster_state', '(no answer)')}, "
                               f"cluster_known_nodes:{info.get('cluster_known_nodes', '(no answer)')}")
                    break
                # And a replica's link to its primary is up (its first sync done), so no sync
                # runs during the measurements.
                replication = redis_cli(p, "INFO", "replication")
                if "role:slave" in replication and "master_link_status:up" not in replication:
                    problem = f"127.0.0.1:{p} is a replica whose link to its primary is not up"
                    break
            if problem is None:
                return processes, ports, directories
            if time.monotonic() > deadline:
                sys.exit(f"the Redis Cluster was not ready within {timeout} s: {problem}")
            time.sleep(0.1)
    except BaseException:
        stop_redis_cluster(processes, directories)
        raise


def stop_redis_cluster(processes, directories):
    """Stops the nodes of start_redis_cluster (terminate all, then wait for each; kill one that
    has not exited after 10 s) and removes their directories."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


def cluster_primaries(ports):
    """The ports, of those given, whose node is a primary now (ROLE)."""
    return [p for p in ports if redis_cli(p, "ROLE").splitlines()[:1] == ["master"]]


def bench_cluster(repeat):
    """The online store on a Redis Cluster of 6 nodes (3 primaries, 3 replicas) against one
    redis-server, same data, same run: the push of 10,000 entities by `larder materialize`
    (floor on the cluster: < 0.5 s), and lookups through `larder serve` under wrk as in
    `online`, single server and cluster alternating (floors on the cluster: 1 entity x 3
    features p99 <= 2 ms and requests/s >= 0.8x the single server's; 100 entities x 3
    features p99 <= 5 ms). Both services must give the same answers for 20 fixed drivers,
    and every lookup must answer 2xx."""
    import datetime as dt
    import http.client
    import json
    import urllib.request
    end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    stats = os.path.join(WORK, "driver_stats_recent.csv")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate_data.py"), "driver_stats", stats,
                    "--drivers", "10000", "--hours", "3", "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ")], check=True)
    features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]
    targets = ["single server", "cluster"]
    redis, redis_port = start_redis()
    nodes, node_ports, directories = [], [], []
    servers = {}
    try:
        nodes, node_ports, directories = start_redis_cluster()
        urls = {"single server": f"redis://127.0.0.1:{redis_port}/0",
                "cluster": "redis-cluster://" + ",".join(f"127.0.0.1:{p}" for p in node_ports[:3])}
        # A project per online store, the same rows ingested into each.
        projects = {t: fresh_project(f"cluster_{t.replace(' ', '_')}") for t in targets}
        envs = {t: dict(os.environ, LARDER_REDIS_URL=urls[t]) for t in targets}

        def larder(target, *args):
            out = subprocess.run([LARDER, *args], cwd=projects[target], env=envs[target], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"larder {' '.join(args)} on the {target} failed ({out.returncode}): {out.stdout}\n{out.stderr}")
            return out.stdout

        def flush(target):
            """Empties the online store: FLUSHALL on the single server, on every primary of the
            cluster (replicas follow); then checks that no key is left."""
            primaries = [redis_port] if target == "single server" else cluster_primaries(node_ports)
            if target == "cluster" and len(primaries) != 3:
                sys.exit(f"the cluster has {len(primaries)} primaries, not 3: {redis_cli(node_ports[0], 'CLUSTER', 'NODES')}")
            for p in primaries:
                out = redis_cli(p, "FLUSHALL")
                if out != "OK":
                    sys.exit(f"FLUSHALL on 127.0.0.1:{p} ({target}) answered: {out}")
            return primaries

        def keys(primaries):
            return [int(redis_cli(p, "DBSIZE")) for p in primaries]

        for t in targets:
            larder(t, "apply")
            larder(t, "ingest", "driver_stats", stats)
        push_times = {t: [] for t in targets}
        pushed = {}
        key_counts = {}
        for i in range(repeat):
            for t in (targets if i % 2 == 0 else targets[::-1]):
                primaries = flush(t)
                if sum(keys(primaries)):
                    sys.exit(f"FLUSHALL left keys on the {t}: {keys(primaries)}")
                out = larder(t, "materialize", "--views", "driver_hourly_stats")
                line = next((l for l in out.splitlines() if "pushed" in l), None)
                if line is None:
                    sys.exit(f"larder materialize on the {t} printed no push:\n{out}")
                pushed[t] = int(line.split("pushed ")[1].split(" ")[0].replace(",", ""))
                push_times[t].append(float(line.split(" in ")[1].split(" s")[0]))
                key_counts[t] = keys(primaries)
        for t in targets:
            if pushed[t] != 10000:
                sys.exit(f"larder materialize pushed {pushed[t]:,} entities to the {t}, not 10,000")

        def serve(target):
            log = os.path.join(projects[target], "serve.log")
            port = free_port()
            with open(log, "w") as f:
                server = subprocess.Popen([LARDER, "serve", "--port", str(port)], cwd=projects[target], env=envs[target],
                                          stdout=subprocess.DEVNULL, stderr=f)
            servers[target] = (server, port, log)
            deadline = time.monotonic() + 10
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    return
                except Exception as e:
                    if server.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"larder serve on the {target} did not become healthy ({e}; "
                                 f"exit status {server.poll()}):\n{open(log).read()[-2000:]}")
                    time.sleep(0.1)

        def alive(target):
            server, _, log = servers[target]
            if server.poll() is not None:
                sys.exit(f"larder serve on the {target} exited with status {server.returncode}:\n{open(log).read()[-2000:]}")

        for t in targets:
            serve(t)

        # The same answers from both: one lookup of 20 fixed drivers (the last unknown), the
        # values' ages (which depend on the instant of the request) left out.
        drivers = [1001 + 523 * k for k in range(19)] + [99999]
        body = json.dumps({"features": features, "entities": [{"driver_id": k} for k in drivers]})
        answers = {}
        for t in targets:
            conn = http.client.HTTPConnection("127.0.0.1", servers[t][1], timeout=30)
            conn.request("POST", "/v1/features", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read().decode()
            conn.close()
            if response.status // 100 != 2:
                sys.exit(f"POST /v1/features on the {t} answered {response.status}: {data[:2000]}")
            answer = json.loads(data)
            for row in answer["rows"]:
                for value in row["features"].values():
                    value.pop("age_seconds", None)
            answers[t] = answer
        if answers["single server"] != answers["cluster"]:
            a, b = answers["single server"], answers["cluster"]
            first = next((k for k, (x, y) in enumerate(zip(a.get("rows", []), b.get("rows", []))) if x != y), None)
            detail = (f"first differing row {first}:\n  single server: {json.dumps(a['rows'][first])}\n"
                      f"  cluster:       {json.dumps(b['rows'][first])}") if first is not None else \
                f"single server: {json.dumps(a)[:1000]}\ncluster: {json.dumps(b)[:1000]}"
            sys.exit(f"the single server's and the cluster's answers differ; {detail}")
        present = sum(v["status"] == "present" for row in answers["cluster"]["rows"] for v in row["features"].values())
        if present == 0:
            sys.exit("both answers agree but hold no present value: nothing was compared")

        for t in targets:
            wrk(servers[t][1], "/v1/features", 1, seconds=3)  # warm-up
            alive(t)
        loads = [("POST /v1/features, 1 entity x 3 features", 1), ("POST /v1/features, 100 entities x 3 features", 100)]
        runs = {(n, t): [] for _, n in loads for t in targets}
        # Alternating, the order reversed every other round: the VM's throughput drifts by
        # about 10% between runs, and each store should see the same drift.
        for i in range(repeat):
            for _, n in loads:
                for t in (targets if i % 2 == 0 else targets[::-1]):
                    runs[(n, t)].append(wrk(servers[t][1], "/v1/features", n))
                    alive(t)
    finally:
        for server, _, _ in servers.values():
            if server.poll() is None:
                server.terminate()
            server.wait()
        stop_redis_cluster(nodes, directories)
        redis.terminate()
        redis.wait()

    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2].split("=")[1]
    print(f"\n## cluster: the online store on one redis-server and on a Redis Cluster of 6 nodes (3 primaries, "
          f"3 replicas), redis {version}, loopback; 10,000 drivers materialized; wrk -t2 -c8 -d10s, random drivers, "
          f"median of {repeat} runs, the two stores alternating; release build")
    print(f"materialize push of {pushed['cluster']:,} entities (larder's figure): single server "
          f"{median(push_times['single server']):.2f} s (runs: {', '.join(f'{s:.2f}' for s in push_times['single server'])}), "
          f"cluster {median(push_times['cluster']):.2f} s (runs: {', '.join(f'{s:.2f}' for s in push_times['cluster'])})")
    print(f"keys after the push: single server {sum(key_counts['single server']):,}, cluster "
          f"{sum(key_counts['cluster']):,} ({' + '.join(f'{k:,}' for k in key_counts['cluster'])} on its primaries)")
    print(f"answers for {len(drivers)} drivers (1 unknown) x {len(features)} features: the same from both "
          f"({present} values present), ages left out")
    print("| load | online store | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|")
    figures = {}
    errors = 0
    for label, n in loads:
        for t in targets:
            r = runs[(n, t)]
            figures[(n, t)] = (median([x[0] for x in r]), median([x[1] for x in r]), median([x[2] for x in r]))
            errors += sum(x[3] for x in r)
            print(f"| {label} | {t} | {figures[(n, t)][0]:,.0f} | {figures[(n, t)][1]:.3f} | {figures[(n, t)][2]:.3f} "
                  f"| {sum(x[3] for x in r)} |")
    for label, n in loads:
        single, cluster = figures[(n, "single server")], figures[(n, "cluster")]
        print(f"ratio cluster / single server, {label}: requests/s {cluster[0] / single[0]:.2f}, p50 {cluster[1] / single[1]:.2f}, "
              f"p99 {cluster[2] / single[2]:.2f}")
    print(f"ratio cluster / single server, push: {median(push_times['cluster']) / median(push_times['single server']):.2f}")
    one, hundred = figures[(1, "cluster")], figures[(100, "cluster")]
    rps_ratio = one[0] / figures[(1, "single server")][0]
    print("| floor (on the cluster) | measured | met |")
    print("|---|---|---|")
    for floor, measured, met in [
            ("push of 10,000 entities < 0.5 s", f"{median(push_times['cluster']):.2f} s", median(push_times["cluster"]) < 0.5),
            ("1 entity x 3 features, p99 <= 2 ms", f"{one[2]:.3f} ms", one[2] <= 2),
            ("1 entity x 3 features, requests/s >= 0.8x the single server's", f"{rps_ratio:.2f}x", rps_ratio >= 0.8),
            ("100 entities x 3 features, p99 <= 5 ms", f"{hundred[2]:.3f} ms", hundred[2] <= 5)]:
        print(f"| {floor} | {measured} | {'yes' if met else 'NO'} |")
    if errors:
        sys.exit(f"{errors} lookups answered non-2xx (see the table)")


def bench_parquet(repeat):
    """The same 1,000,000 driver_stats rows (time-ordered) as CSV and as Parquet written by
    pyarrow with its defaults (snappy, dictionary pages, one row group): larder ingest of each
    into an empty store, in the same run (floor: Parquet no slower than CSV)."""
    csv = generate("driver_stats", os.path.join(WORK, "driver_stats_1m.csv"), "--drivers", "10000", "--hours", "100")
    parquet = os.path.join(WORK, "driver_stats_1m.parquet")
    subprocess.run([bench_python("pyarrow"), "-c",
                    "import sys, pyarrow.csv as c, pyarrow.parquet as p; p.write_table(c.read_csv(sys.argv[1]), sys.argv[2])",
                    csv, parquet], check=True)
    rows = sum(1 for _ in open(csv)) - 1
    times = {"CSV": [], "Parquet": []}
    memory = {"CSV": [], "Parquet": []}
    for i in range(repeat):
        for kind in (("CSV", "Parquet") if i % 2 == 0 else ("Parquet", "CSV")):
            d = fresh_project("ingest_parquet")
            run([LARDER, "apply"], d)
            s, m, out = run([LARDER, "ingest", "driver_stats", csv if kind == "CSV" else parquet], d)
            if f"ingested {rows:,} rows" not in out:
                sys.exit(f"unexpected output: {out}")
            times[kind].append(s)
            memory[kind].append(m)
    print(f"\n## parquet: larder ingest of {rows:,} driver_stats rows, CSV ({os.path.getsize(csv) / 1e6:.0f} MB) and "
          f"Parquet ({os.path.getsize(parquet) / 1e6:.0f} MB, pyarrow's defaults), median of {repeat}, alternating")
    print("| file | seconds | rows/s | peak MiB |")
    print("|---|---|---|---|")
    for kind in ("CSV", "Parquet"):
        print(f"| {kind} | {median(times[kind]):.2f} | {rows / median(times[kind]):,.0f} | {max(memory[kind]):.0f} |")
    print(f"ratio Parquet / CSV: {median(times['Parquet']) / median(times['CSV']):.2f} (floor <= 1.00)")
    bench_parquet_training_sets(repeat)


def bench_parquet_training_sets(repeat):
    """A training set of 100,000 requests x 3 features (the offline benchmark's) written as CSV
    and as Parquet (zstd, Larder's default) from one materialized store, alternating; and from
    the same requests as a Parquet request file (floor: to Parquet no slower than to CSV)."""
    stats = generate("driver_stats", os.path.join(WORK, "driver_stats_1m_missing.csv"),
                     "--drivers", "10000", "--hours", "100", "--missing", "0.02", "--end", "2026-01-05T03:00:00Z")
    requests = generate("requests", os.path.join(WORK, "requests_100k.csv"), "--drivers", "10000", "--rows", "100000",
                        "--unknown", "0.05", "--start", "2025-12-31T20:00:00Z", "--end", "2026-01-05T08:00:00Z")
    requests_parquet = os.path.join(WORK, "requests_100k.parquet")
    subprocess.run([bench_python("pyarrow"), "-c",
                    "import sys, pyarrow.csv as c, pyarrow.parquet as p; p.write_table(c.read_csv(sys.argv[1]), sys.argv[2])",
                    requests, requests_parquet], check=True)
    features = "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips"
    d, _, _ = materialized_stats("training_parquet", stats)
    kinds = {"CSV requests to CSV": (requests, "train.csv"), "CSV requests to Parquet": (requests, "train.parquet"),
             "Parquet requests to Parquet": (requests_parquet, "train_from_parquet.parquet")}
    times = {k: [] for k in kinds}
    memory = {k: [] for k in kinds}
    for i in range(repeat):
        order = list(kinds) if i % 2 == 0 else list(reversed(kinds))
        for kind in order:
            entities, out = kinds[kind]
            s, m, text = run([LARDER, "training-set", "--entities", entities, "--features", features, "--out", out], d)
            if "wrote 100,000 rows" not in text:
                sys.exit(f"unexpected output: {text}")
            times[kind].append(s)
            memory[kind].append(m)
    # The Parquet file holds the CSV's values (pyarrow reads both).
    check = ("import sys, pyarrow.csv as c, pyarrow.parquet as p\n"
             "a = c.read_csv(sys.argv[1]); b = p.read_table(sys.argv[2])\n"
             "assert a.num_rows == b.num_rows == 100000, (a.num_rows, b.num_rows)\n"
             "for n in ('conv_rate', 'acc_rate', 'avg_daily_trips'):\n"
             "    x, y = a.column(n).to_pylist(), b.column(n).to_pylist()\n"
             "    assert x == y, n\n")
    subprocess.run([bench_python("pyarrow"), "-c", check, os.path.join(d, "train.csv"), os.path.join(d, "train.parquet")],
                   check=True)
    print(f"\n## parquet: larder training-set of 100,000 requests x 3 features from one store, median of {repeat}, alternating")
    print("| requests to output | seconds | output MB | peak MiB |")
    print("|---|---|---|---|")
    for kind, (_, out) in kinds.items():
        size = os.path.getsize(os.path.join(d, out)) / 1e6
        print(f"| {kind} | {median(times[kind]):.2f} | {size:.1f} | {max(memory[kind]):.0f} |")
    ratio = median(times["CSV requests to Parquet"]) / median(times["CSV requests to CSV"])
    print(f"ratio to Parquet / to CSV: {ratio:.2f} (floor <= 1.00)")


def bench_stats(repeat):
    """Feature statistics (issue 17) on the offline benchmark's 1M driver_stats rows: what
    recording them costs each kind of materialization run, pandas computing the same
    statistics from the same table as the baseline, and Larder's figures checked against
    pandas' (the oracle of StatisticsOracleTests, on the whole data)."""
    stats = generate("driver_stats", os.path.join(WORK, "driver_stats_1m_missing.csv"),
                     "--drivers", "10000", "--hours", "100", "--missing", "0.02", "--end", "2026-01-05T03:00:00Z")
    late = generate("driver_stats", os.path.join(WORK, "driver_stats_10k_late.csv"),
                    "--drivers", "10000", "--hours", "1", "--end", "2026-01-05T04:00:00Z")
    rows = sum(1 for _ in open(stats)) - 1
    python = bench_python("pandas", "numpy")
    oracle = os.path.join(ROOT, "Tests", "LarderOfflineTests", "Oracles", "feature_statistics.py")
    copy_sql = """
CREATE TABLE copy (_seq INTEGER PRIMARY KEY, driver_id INTEGER NOT NULL, _event_ts INTEGER NOT NULL, _created_ts INTEGER,
  conv_rate REAL, acc_rate REAL, avg_daily_trips INTEGER) STRICT;
CREATE INDEX copy_by_key_time ON copy (driver_id, _event_ts, _created_ts);
INSERT INTO copy SELECT _seq, driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips FROM source_driver_stats;
"""
    first_t, rerun_t, inc_t, copy_t, pandas_t = [], [], [], [], []
    first_m = []
    for _ in range(repeat):
        d, s, m = materialized_stats("stats", stats)  # into an empty table: observed as written
        first_t.append(s)
        first_m.append(m)
        store = os.path.join(d, "offline.sqlite")
        s, _, _ = run(MATERIALIZE_STATS, d)  # the same range again: rewrites every row, reads the table after
        rerun_t.append(s)
        subprocess.run(["sqlite3", store, "DROP TABLE IF EXISTS copy"], check=True)
        s, _, _ = run(["sqlite3", store], d, stdin=copy_sql)
        copy_t.append(s)
        subprocess.run(["sqlite3", store, "DROP TABLE copy"], check=True)
        # pandas computing the statistics of the same table (read included, as Larder's run reads its rows).
        s, _, _ = run([python, "-c", """
import sqlite3, sys, pandas as pd
c = sqlite3.connect(sys.argv[1])
f = pd.read_sql_query("SELECT _event_ts, conv_rate, acc_rate, avg_daily_trips FROM features_driver_hourly_stats_v1", c)
for col in ["conv_rate", "acc_rate", "avg_daily_trips"]:
    x = f[col]
    x.count(), x.isna().sum(), x.min(), x.max(), x.mean(), x.std(), x.nunique(), x.quantile([.01, .05, .1, .25, .5, .75, .9, .95, .99])
f["_event_ts"].max()
""", store], d)
        pandas_t.append(s)
        run([LARDER, "ingest", "driver_stats", late], d)
        s, _, _ = run([LARDER, "materialize", "--views", "driver_hourly_stats", "--incremental", "--end", "2026-02-01T00:00:00Z",
                       "--offline-only"], d)  # 10,000 new rows merged into the previous run's statistics
        inc_t.append(s)

    # Larder's recorded statistics (the last run: the whole table) against pandas on the whole table.
    _, _, out = run([LARDER, "describe", "driver_hourly_stats", "--stats", "--runs", "1", "--json"], d)
    import json
    report = json.loads(out)["statistics"]["features"]
    quantiles = {f["name"]: [[q["probability"], q["value"]] for q in f["latest"]["quantiles"]] for f in report}
    qfile = os.path.join(d, "quantiles.json")
    with open(qfile, "w") as f:
        json.dump(quantiles, f)
    pandas = json.loads(subprocess.run([python, oracle, store, "features_driver_hourly_stats_v1", qfile], check=True,
                                       capture_output=True, text=True).stdout)
    worst = {"exact": 0, "relative": 0.0, "distinct": 0.0, "rank": 0.0}
    for f in report:
        got, want = f["latest"], pandas[f["name"]]
        worst["exact"] += sum(got[a] != want[b] for a, b in [("count", "count"), ("null_count", "nulls"), ("min", "min"), ("max", "max")])
        for a, b in [("mean", "mean"), ("standard_deviation", "std")]:
            worst["relative"] = max(worst["relative"], abs(got[a] - want[b]) / abs(want[b]))
        worst["distinct"] = max(worst["distinct"], abs(got["distinct_count"] - want["nunique"]) / want["nunique"])
        for p_, below, at_or_below in want["ranks"]:
            worst["rank"] = max(worst["rank"], below - p_, p_ - at_or_below, 0)

    print(f"\n## stats: feature statistics of {rows:,} driver_stats rows (3 features), median of {repeat}")
    print("| step | seconds | peak MiB |")
    print("|---|---|---|")
    print(f"| larder materialize into an empty table (statistics observed as rows are written) | {median(first_t):.2f} | {max(first_m):.0f} |")
    print(f"| larder materialize, the same range again (rows rewritten, the table read again for statistics) | {median(rerun_t):.2f} | |")
    print(f"| larder materialize --incremental, 10,000 new rows (merged into the previous run's statistics) | {median(inc_t):.2f} | |")
    print(f"| sqlite3 INSERT INTO ... SELECT of the rows into the feature table's layout (baseline) | {median(copy_t):.2f} | |")
    print(f"| pandas: read the feature table and compute the same statistics (baseline) | {median(pandas_t):.2f} | |")
    print(f"ratio larder materialize (first run, statistics included) / sqlite3 INSERT INTO ... SELECT: "
          f"{median(first_t) / median(copy_t):.2f} (issue 13's floor <= 2.00)")
    print(f"ratio larder materialize again (rows and a statistics scan) / pandas computing the statistics alone: "
          f"{median(rerun_t) / median(pandas_t):.2f}")
    print(f"ratio incremental run of 10,000 rows / full re-run: {median(inc_t) / median(rerun_t):.3f}")
    print(f"against pandas on all {rows:,} rows: {worst['exact']} differences in count, nulls, min, max; "
          f"mean and std relative error at most {worst['relative']:.1e} (bound 1e-12); distinct counts off by at most "
          f"{worst['distinct'] * 100:.2f} % (3 standard errors: 2.43 %); quantile ranks off their probability by at most "
          f"{worst['rank'] * 100:.2f} % (bound 1.33 %)")


CATALOG_BENCH = os.environ.get("LARDER_CATALOG_BENCH", os.path.join(ROOT, ".build", "release", "larder-catalog-bench"))
# Page kinds measured, in order; the bench program prints a path for each (and for /health).
CATALOG_PAGES = ["home", "search", "feature", "view", "service", "source", "entity"]


def wrk_get(port, path, seconds=5, connections=1):
    """wrk GETs of one path: (requests/s, p50 ms, p99 ms, non-2xx count, requests)."""
    out = subprocess.run(["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    return wrk_figures(out)


def bench_catalog(repeat):
    """The catalog's pages (issue 17) for a generated repository of 500 features: each page kind
    under wrk, one connection (the latency a reader sees; floor p99 <= 50 ms) and eight (under
    load), with /health in the same run as the baseline. The repository, its data and the
    service come from `larder-catalog-bench` (Benchmarks/CatalogBench, built here in release
    unless LARDER_CATALOG_BENCH names a binary): 50 views of 10 features over 5 sources, 4
    on-demand views, 6 services, applied, ingested, materialized and pushed to a redis-server
    this script starts, then served by the real FeatureServer."""
    import http.client
    import json
    import select
    if "LARDER_CATALOG_BENCH" not in os.environ:
        subprocess.run(["swift", "build", "-c", "release", "--product", "larder-catalog-bench"], cwd=ROOT, check=True,
                       stdout=sys.stderr)
    d = os.path.join(WORK, "catalog")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    redis, redis_port = start_redis()
    log_path = os.path.join(d, "bench.log")
    log = open(log_path, "w")
    server = subprocess.Popen([CATALOG_BENCH, "--directory", d, "--redis-url", f"redis://127.0.0.1:{redis_port}/0"],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 600)
        line = server.stdout.readline() if ready else ""
        if not line:
            sys.exit(f"larder-catalog-bench did not start (exit status {server.poll()}):\n{open(log_path).read()[-3000:]}")
        info = json.loads(line)
        port, pages = info["port"], info["pages"]
        setup = open(log_path).read().strip()

        # Every page answers 200 with HTML before anything is timed; its size, and its time alone.
        served, sizes, first = [], {}, {}
        for kind in CATALOG_PAGES + ["health"]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            start = time.perf_counter()
            conn.request("GET", pages[kind])
            response = conn.getresponse()
            body = response.read()
            first[kind] = (time.perf_counter() - start) * 1000
            conn.close()
            sizes[kind] = (response.status, len(body), response.getheader("Content-Type"))
            if response.status == 200:
                served.append(kind)
            elif kind == "health":
                sys.exit(f"/health answered {response.status}: {body[:300]!r}")
        missing = [k for k in CATALOG_PAGES if k not in served]
        for kind in served:
            wrk_get(port, pages[kind], seconds=1)  # warm-up
        runs = {(k, c): [] for k in served for c in (1, 8)}
        cpu = {k: [] for k in served}
        for r in range(repeat):
            # Kinds in turn, the order reversed every other round, /health among them.
            for kind in (served if r % 2 == 0 else served[::-1]):
                runs[(kind, 1)].append(wrk_get(port, pages[kind], connections=1))
                before = cpu_seconds(server.pid)
                result = wrk_get(port, pages[kind], connections=8)
                cpu[kind].append((cpu_seconds(server.pid) - before) / result[4] * 1e6)
                runs[(kind, 8)].append(result)
        if server.poll() is not None:
            sys.exit(f"larder-catalog-bench exited during the run:\n{open(log_path).read()[-3000:]}")
    finally:
        server.terminate()
        server.wait()
        log.close()
        redis.terminate()
        redis.wait()

    def med(kind, c, i):
        return median([x[i] for x in runs[(kind, c)]])

    print(f"\n## catalog: the /ui pages for a generated repository of {info['features']} view features "
          f"(+{info['on_demand_features']} on-demand), {info['rows']:,} source rows; wrk GET, 5 s per load, "
          f"median of {repeat} runs; release build")
    for l in setup.splitlines():
        print(f"- {l}")
    print("| page | path | bytes | first GET ms | 1 connection: p50 ms | p99 ms | req/s | 8 connections: p50 ms | p99 ms | req/s "
          "| service CPU µs/request | p50 / /health p50 (1 connection) | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    health_p50 = med("health", 1, 1)
    for kind in CATALOG_PAGES + ["health"]:
        status, size, _ = sizes[kind]
        if kind not in served:
            print(f"| {kind} | `{pages[kind]}` | status {status}: not served by this build | | | | | | | | | | |")
            continue
        errors = sum(x[3] for c in (1, 8) for x in runs[(kind, c)])
        print(f"| {kind} | `{pages[kind]}` | {size:,} | {first[kind]:.1f} | {med(kind, 1, 1):.2f} | {med(kind, 1, 2):.2f} "
              f"| {med(kind, 1, 0):,.0f} | {med(kind, 8, 1):.2f} | {med(kind, 8, 2):.2f} | {med(kind, 8, 0):,.0f} "
              f"| {median(cpu[kind]):,.0f} | {med(kind, 1, 1) / health_p50:.1f} | {errors} |")
    pages_served = [k for k in CATALOG_PAGES if k in served]
    if pages_served:
        worst = max(pages_served, key=lambda k: med(k, 1, 2))
        worst8 = max(pages_served, key=lambda k: med(k, 8, 2))
        print(f"slowest page p99, 1 connection: {worst} {med(worst, 1, 2):.2f} ms (floor <= 50 ms: "
              f"{'met' if med(worst, 1, 2) <= 50 else 'NOT met'}); 8 connections: {worst8} {med(worst8, 8, 2):.2f} ms")
    if missing:
        print(f"pages not served by this build (not measured; floor not checked for them): {', '.join(missing)}")


def bench_access(repeat):
    """Lookups with access control (issue 18): the service with no token, then with serve.tokens
    (eight tokens; the client's may read the view), alternating, under the same wrk load as
    `online`, with redis-benchmark GET as the baseline of the serving floors."""
    import datetime as dt
    import hashlib
    end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    stats = os.path.join(WORK, "driver_stats_recent.csv")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate_data.py"), "driver_stats", stats,
                    "--drivers", "10000", "--hours", "3", "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ")], check=True)
    d = fresh_project("access")
    redis, redis_port = start_redis()
    env = dict(os.environ, LARDER_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    secret = "bench-" + "x" * 40
    others = "".join(f"    - name: other{i}\n      sha256: \"{hashlib.sha256(f'other{i}'.encode()).hexdigest()}\"\n"
                     f"      allow: [\"push:trips\"]\n" for i in range(7))
    tokens_yaml = ("serve:\n  tokens:\n" + others + "    - name: model\n"
                   f"      sha256: \"{hashlib.sha256(secret.encode()).hexdigest()}\"\n      allow: [\"read:driver_hourly_stats\"]\n")
    base_yaml = open(os.path.join(d, "larder.yaml")).read()
    server = None
    try:
        for args in (["apply"], ["ingest", "driver_stats", stats], ["materialize", "--views", "driver_hourly_stats"]):
            subprocess.run([LARDER, *args], cwd=d, env=env, check=True, capture_output=True)

        def serve(with_tokens):
            with open(os.path.join(d, "larder.yaml"), "w") as f:
                f.write(base_yaml + (tokens_yaml if with_tokens else ""))
            return start_server(d, env)

        results = {False: [], True: []}
        refused = None
        for round_ in range(repeat):
            for with_tokens in ((False, True) if round_ % 2 == 0 else (True, False)):
                server, port = serve(with_tokens)
                wrk(port, "/v1/features", 1, seconds=2, token=secret if with_tokens else None)  # warm-up
                results[with_tokens].append(wrk(port, "/v1/features", 1, token=secret if with_tokens else None))
                if with_tokens and refused is None:
                    refused = wrk(port, "/v1/features", 1, seconds=2)[3]  # no token: every answer a 401
                server.terminate()
                server.wait()
                server = None
        rb = redis_benchmark(redis_port)
    finally:
        if server:
            server.terminate()
            server.wait()
        redis.terminate()
        redis.wait()
    print(f"\n## access: POST /v1/features, 1 entity x 3 features, 10,000 drivers; wrk -t2 -c8 -d10s; median of {repeat} runs each, alternating; release build")
    print("| service | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    rows = {}
    for with_tokens, label in ((False, "no token configured (open)"), (True, "8 tokens configured, the client's may read the view")):
        runs = results[with_tokens]
        rows[with_tokens] = (median([r[0] for r in runs]), median([r[1] for r in runs]), median([r[2] for r in runs]),
                             sum(r[3] for r in runs))
        print(f"| {label} | {rows[with_tokens][0]:,.0f} | {rows[with_tokens][1]:.3f} | {rows[with_tokens][2]:.3f} | {rows[with_tokens][3]} |")
    print(f"| redis-benchmark GET, 8 clients (baseline) | {rb[0]:,.0f} | {rb[1]:.3f} | {rb[2]:.3f} | |")
    print(f"ratio of requests/s, with tokens / open: {rows[True][0] / rows[False][0]:.3f}")
    print(f"ratio of requests/s to redis-benchmark GET: open {rows[False][0] / rb[0]:.3f}, with tokens {rows[True][0] / rb[0]:.3f} (floor >= 0.15)")
    print(f"p99 with tokens: {rows[True][2]:.3f} ms (floor <= 2 ms); p50 / GET p50: {rows[True][1] / rb[1]:.1f} (open {rows[False][1] / rb[1]:.1f})")
    print(f"the same load without a token, tokens configured: {refused:,} non-2xx answers in 2 s")


BENCHES = {"ingest": bench_ingest, "postgres": bench_postgres, "offline": bench_offline, "online": bench_online, "aggregations": bench_aggregations,
           "limits": bench_limits, "verify": bench_verify, "ab": bench_ab, "cluster": bench_cluster, "parquet": bench_parquet,
           "stats": bench_stats, "access": bench_access, "catalog": bench_catalog}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=[n for n in BENCHES if n != "ab"],
                   help=f"benchmarks to run: {', '.join(BENCHES)} (ab only when named)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    cpus = os.cpu_count()
    print(f"# Larder benchmarks — {platform.node()}, {cpus} cores, {platform.machine()}, {time.strftime('%Y-%m-%d')}")
    for name in args.names:
        if name not in BENCHES:
            sys.exit(f"unknown benchmark {name}; known: {', '.join(BENCHES)}")
        BENCHES[name](args.repeat)


if __name__ == "__main__":
    main()
