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


BENCHES = {"ingest": bench_ingest}


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
