# Writes the LarderParquetTests fixtures (run once; the files are committed).
import datetime as dt
import pyarrow as pa
import pyarrow.parquet as pq

import os
out = os.path.dirname(os.path.abspath(__file__)) + "/"
utc = dt.timezone.utc
schema = pa.schema([
    ("id", pa.int64()),
    ("score", pa.float64()),
    ("name", pa.string()),
    ("flag", pa.bool_()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("hist", pa.list_(pa.int64())),
])

def rows(n):
    return pa.table({
        "id": [i for i in range(n)],
        "score": [i * 0.5 for i in range(n)],
        "name": [None if i % 3 == 1 else f"n{i}" for i in range(n)],
        "flag": [i % 2 == 0 for i in range(n)],
        "ts": [dt.datetime(2024, 1, 1, 0, 0, i, tzinfo=utc) for i in range(n)],
        "hist": [[i, i + 1] if i % 4 != 3 else None for i in range(n)],
    }, schema=schema)

# 5 rows, one row group, data page v1, dictionary pages (pyarrow's default).
pq.write_table(rows(5), out + "basic.parquet", compression="none")
# 10 rows in row groups of 4 (3 groups), data page v2, no dictionary.
pq.write_table(rows(10), out + "row_groups_v2.parquet", compression="none",
               row_group_size=4, data_page_version="2.0", use_dictionary=False)
# Other logical types: timestamps in millis and nanos, a naive one, small integers.
pq.write_table(pa.table({
    "ts_ms": pa.array([dt.datetime(2024, 1, 1, tzinfo=utc), None], pa.timestamp("ms", tz="UTC")),
    "ts_ns": pa.array([dt.datetime(2024, 1, 1, tzinfo=utc), None], pa.timestamp("ns", tz="UTC")),
    "naive": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)], pa.timestamp("us")),
    "i8": pa.array([1, -1], pa.int8()),
    "u16": pa.array([1, 65535], pa.uint16()),
}), out + "logical_types.parquet", compression="none", version="2.6")

# Flat columns as a source would have them, each encoding and codec Larder reads: pages v1
# and v2, dictionary or not, DELTA_BINARY_PACKED integers, Spark's INT96 timestamps.
flat = pa.table({
    "driver_id": pa.array([1001 + (i % 7) for i in range(300)], pa.int64()),
    "trips": pa.array([None if i % 11 == 0 else i - 150 for i in range(300)], pa.int32()),
    "rate": pa.array([None if i % 13 == 0 else i / 7 for i in range(300)], pa.float64()),
    "ratio": pa.array([i / 4 for i in range(300)], pa.float32()),
    "name": pa.array([None if i % 5 == 0 else f"name-{i % 17}" for i in range(300)], pa.string()),
    "ok": pa.array([None if i % 9 == 0 else i % 3 == 0 for i in range(300)], pa.bool_()),
    "ts": pa.array([dt.datetime(2024, 1, 1, tzinfo=utc) + dt.timedelta(seconds=37 * i) for i in range(300)],
                   pa.timestamp("us", tz="UTC")),
})
for codec in ["snappy", "gzip", "zstd"]:
    pq.write_table(flat, out + f"flat_{codec}_v1_dict.parquet", compression=codec, row_group_size=128)
    pq.write_table(flat, out + f"flat_{codec}_v2_plain.parquet", compression=codec, data_page_version="2.0",
                   use_dictionary=False, row_group_size=128)
pq.write_table(flat, out + "flat_delta.parquet", compression="none", use_dictionary=False,
               column_encoding={"driver_id": "DELTA_BINARY_PACKED", "trips": "DELTA_BINARY_PACKED"})
pq.write_table(flat, out + "flat_int96.parquet", compression="snappy", use_deprecated_int96_timestamps=True)
# The same rows as CSV, what the tests compare every file with.
import csv
with open(out + "flat.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(flat.column_names)
    for row in flat.to_pylist():
        w.writerow(["" if v is None else (v.isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else
                    repr(v) if isinstance(v, float) else v) for v in row.values()])
