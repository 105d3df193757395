#!/usr/bin/env python3
"""Generates benchmark and example data for Larder (stdlib only, deterministic by seed).

  scripts/generate_data.py driver_stats OUT.csv --drivers 10000 --hours 100 [--missing 0.02] [--end now|RFC3339]
  scripts/generate_data.py trips OUT.csv --drivers 10000 --events 1000000 [--days 8] [--end ...]
  scripts/generate_data.py requests OUT.csv --drivers 10000 --rows 100000 --start T --end T [--unknown 0.05]
"""
import argparse
import datetime as dt
import random

UTC = dt.timezone.utc


def parse_end(text):
    if text == "now":
        return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def fmt(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def driver_stats(args, rnd):
    end = parse_end(args.end)
    start = end - dt.timedelta(hours=args.hours - 1)
    with open(args.out, "w") as f:
        f.write("driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n")
        for h in range(args.hours):
            ts = start + dt.timedelta(hours=h)
            created = fmt(ts + dt.timedelta(minutes=5))
            stamp = fmt(ts)
            for d in range(args.drivers):
                if rnd.random() < args.missing:
                    continue
                f.write(f"{1001 + d},{stamp},{created},{rnd.random():.6f},{rnd.random():.6f},{rnd.randint(0, 1000)}\n")


def trips(args, rnd):
    end = parse_end(args.end)
    span = args.days * 86400
    start = end - dt.timedelta(seconds=span)
    with open(args.out, "w") as f:
        f.write("driver_id,event_timestamp,fare,distance_km\n")
        for _ in range(args.events):
            t = start + dt.timedelta(seconds=rnd.randrange(span))
            f.write(f"{1001 + rnd.randrange(args.drivers)},{fmt(t)},{rnd.uniform(3, 80):.2f},{rnd.uniform(0, 40):.2f}\n")


def requests(args, rnd):
    start = parse_end(args.start)
    end = parse_end(args.end)
    span = int((end - start).total_seconds())
    with open(args.out, "w") as f:
        f.write("driver_id,event_timestamp,label\n")
        for _ in range(args.rows):
            if rnd.random() < args.unknown:
                driver = 900_000 + rnd.randrange(1000)
            else:
                driver = 1001 + rnd.randrange(args.drivers)
            t = start + dt.timedelta(seconds=rnd.randrange(span))
            f.write(f"{driver},{fmt(t)},{rnd.randint(0, 1)}\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["driver_stats", "trips", "requests"])
    p.add_argument("out")
    p.add_argument("--drivers", type=int, default=10000)
    p.add_argument("--hours", type=int, default=100)
    p.add_argument("--missing", type=float, default=0.0)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--unknown", type=float, default=0.05)
    p.add_argument("--start", default="2026-01-01T00:00:00Z")
    p.add_argument("--end", default="2026-01-05T04:00:00Z")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    rnd = random.Random(args.seed)
    {"driver_stats": driver_stats, "trips": trips, "requests": requests}[args.kind](args, rnd)


if __name__ == "__main__":
    main()
