#!/usr/bin/env python3
"""Larder's benchmarks: each measures a Larder command against a baseline in the same run.

  Benchmarks/run.sh [ingest ...]      (builds the release binary first)

Prints wall time (median of --repeat runs) and peak memory (max RSS) per command.
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LARDER = os.path.join(ROOT, ".build", "release", "larder")
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


def fresh_project(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "larder.yaml"), "w") as f:
        f.write("project: bench\noffline:\n  path: offline.sqlite\n")
    return d


def bench_ingest(repeat):
    """1,000,000 driver_stats rows: larder ingest vs sqlite3 .import (same columns and index)."""
    csv = generate("driver_stats", os.path.join(WORK, "driver_stats_1m.csv"), "--drivers", "10000", "--hours", "100")
    rows = sum(1 for _ in open(csv)) - 1
    size = os.path.getsize(csv) / 1e6
    sqlite_times, sqlite_mem, larder_times, larder_mem = [], [], [], []
    ddl = """
CREATE TABLE driver_stats (driver_id INTEGER NOT NULL, event_timestamp TEXT NOT NULL, created TEXT,
  conv_rate REAL NOT NULL, acc_rate REAL NOT NULL, avg_daily_trips INTEGER NOT NULL);
CREATE INDEX driver_stats_by_event_time ON driver_stats (event_timestamp);
"""
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
    print(f"\n## ingest: {rows:,} rows of driver_stats ({size:.0f} MB CSV), median of {repeat}")
    print(f"| command | seconds | rows/s | peak MiB |")
    print(f"|---|---|---|---|")
    print(f"| sqlite3 .import (baseline) | {median(sqlite_times):.2f} | {rows / median(sqlite_times):,.0f} | {max(sqlite_mem):.0f} |")
    print(f"| larder ingest | {median(larder_times):.2f} | {rows / median(larder_times):,.0f} | {max(larder_mem):.0f} |")
    print(f"ratio larder / sqlite3: {median(larder_times) / median(sqlite_times):.2f} (floor: <= 1.00); peak memory floor: < 100 MiB")


def duckdb_python():
    """A virtualenv with DuckDB from PyPI, made once under Benchmarks/work."""
    venv = os.path.join(WORK, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "duckdb"], check=True)
    return python


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
        d = fresh_project("offline")
        run([LARDER, "apply"], d)
        run([LARDER, "ingest", "driver_stats", stats], d)
        s, m, out = run([LARDER, "materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z"], d)
        mat_t.append(s)
        mat_m.append(m)
        s, m, _ = run([LARDER, "training-set", "--entities", requests, "--features", features, "--out", "train.csv"], d)
        ts_t.append(s)
        ts_m.append(m)
        s, _, _ = run([LARDER, "materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z"], d)
        rerun_t.append(s)
    larder_out = os.path.join(d, "train.csv")

    python = duckdb_python()
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

    print(f"\n## offline: {rows:,} driver_stats rows (10,000 drivers x 100 hours, 2% missing), 100,000 requests, median of {repeat}")
    print("| step | seconds | peak MiB | floor |")
    print("|---|---|---|---|")
    print(f"| larder materialize (into an empty table) | {median(mat_t):.2f} | {max(mat_m):.0f} | < 2 s, < 200 MB |")
    print(f"| larder materialize again (same range, replaces every row) | {median(rerun_t):.2f} | | |")
    print(f"| larder training-set, 3 features, CSV to CSV | {median(ts_t):.2f} | {max(ts_m):.0f} | < 1 s, < 200 MB |")
    print(f"| DuckDB ASOF LEFT JOIN, CSV to CSV, in-process time (baseline) | {median(duck_t):.2f} | {max(duck_m):.0f} (whole python process) | |")
    print(f"ratio larder training-set / DuckDB ASOF: {median(ts_t) / median(duck_t):.2f}")
    print(f"values differing between Larder's and DuckDB's outputs: {mismatches.strip()} (of {100000 * 3:,})")


BENCHES = {"ingest": bench_ingest, "offline": bench_offline}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=list(BENCHES), help=f"benchmarks to run: {', '.join(BENCHES)}")
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
