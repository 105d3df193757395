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
