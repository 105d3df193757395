"""Writes a training-set request file as Parquet the way pyarrow users do: INT32 keys,
millisecond timestamps (UTC), FLOAT weights, row groups of 50 rows.

Usage: python write_requests.py REQUESTS.csv OUT.parquet
(CSV columns: driver_id, event_timestamp (RFC 3339), weight, flag (true/false), note (empty: null))
"""
import csv
import datetime as dt
import sys

import pyarrow as pa
import pyarrow.parquet as pq

with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))


def instant(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


table = pa.table({
    "driver_id": pa.array([int(r["driver_id"]) for r in rows], pa.int32()),
    "event_timestamp": pa.array([instant(r["event_timestamp"]) for r in rows], pa.timestamp("ms", tz="UTC")),
    "weight": pa.array([float(r["weight"]) for r in rows], pa.float32()),
    "flag": pa.array([r["flag"] == "true" for r in rows], pa.bool_()),
    "note": pa.array([r["note"] or None for r in rows], pa.string()),
})
pq.write_table(table, sys.argv[2], row_group_size=50)
