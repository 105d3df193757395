# Writes the Parquet ingest fixtures (run once; the files are committed), with pyarrow 26.0.1:
#   python3 -m venv /tmp/pq-venv && /tmp/pq-venv/bin/pip install pyarrow==26.0.1
#   /tmp/pq-venv/bin/python Tests/LarderOfflineTests/Fixtures/make_parquet_sources.py
# driver_stats rows as Parquet the way writers' defaults make them, and the same rows as CSV.
import csv
import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq

out = os.path.dirname(os.path.abspath(__file__)) + "/"
utc = dt.timezone.utc
n = 2000
start = dt.datetime(2026, 1, 1, tzinfo=utc)
rows = {
    # Columns in another order than the source's.
    "avg_daily_trips": pa.array([(i * 7) % 50 for i in range(n)], pa.int32()),  # INT32, widened
    "event_timestamp": pa.array([start + dt.timedelta(minutes=13 * i) for i in range(n)], pa.timestamp("us", tz="UTC")),
    "driver_id": pa.array([1000 + i % 97 for i in range(n)], pa.int64()),
    "conv_rate": pa.array([(i % 101) / 101 for i in range(n)], pa.float64()),
    "acc_rate": pa.array([(i % 8) / 8 for i in range(n)], pa.float32()),  # FLOAT, widened exactly
    "created": pa.array([None if i % 5 == 0 else start + dt.timedelta(minutes=13 * i, seconds=30) for i in range(n)],
                        pa.timestamp("ms", tz="UTC")),  # millis
}
table = pa.table(rows)
# pyarrow's defaults: snappy, dictionary, data page v1; and row groups of 512 rows.
pq.write_table(table, out + "driver_stats.parquet", row_group_size=512)
# Spark's: INT96 timestamps; and zstd with data page v2.
pq.write_table(table, out + "driver_stats_int96.parquet", use_deprecated_int96_timestamps=True, compression="gzip")
pq.write_table(table, out + "driver_stats_v2.parquet", compression="zstd", data_page_version="2.0", use_dictionary=False)
# A naive timestamp (no time zone): rejected, as in CSV.
pq.write_table(table.set_column(1, "event_timestamp", pa.array([dt.datetime(2026, 1, 1)] * n, pa.timestamp("us"))),
               out + "driver_stats_naive.parquet")
# A null in a column the source does not allow nulls in (conv_rate, row 3).
pq.write_table(table.set_column(3, "conv_rate", pa.array([None if i == 2 else 0.5 for i in range(n)], pa.float64())),
               out + "driver_stats_null.parquet")
with open(out + "driver_stats.csv", "w", newline="") as f:
    w = csv.writer(f)
    names = ["driver_id", "event_timestamp", "created", "conv_rate", "acc_rate", "avg_daily_trips"]
    w.writerow(names)
    for row in table.to_pylist():
        def text(v):
            if v is None:
                return ""
            if isinstance(v, dt.datetime):
                return v.isoformat().replace("+00:00", "Z")
            return repr(v) if isinstance(v, float) else v
        w.writerow([text(row[c]) for c in names])
