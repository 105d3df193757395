"""Reads a Parquet file Larder wrote with pyarrow, pandas and DuckDB, and prints what they
see as one JSON object, for the Swift tests to compare with the values they expect:

  schema      [[column, arrow type]]                      (pyarrow)
  rows        [[value, ...], ...] in file order            (pyarrow): timestamps as integer
              microseconds since the epoch, lists as lists, NaN as "NaN", null as null
  row_groups  number of row groups; codecs: the codec of each column chunk
  statistics  {column: [null count, min, max]} of the first row group (pyarrow)
  pandas      {column: dtype} and pandas_rows: the number of rows pandas read
  duckdb      {column: count of non-null values} and duckdb_rows (DuckDB)

Usage: python dump_parquet.py FILE.parquet
"""
import json
import math
import sys

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

path = sys.argv[1]
table = pq.read_table(path)


def as_micros(column):
    """Timestamps (and lists of them) as int64 microseconds; other columns as they are."""
    t = column.type
    if pa.types.is_timestamp(t):
        return column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    if pa.types.is_list(t) and pa.types.is_timestamp(t.value_type):
        return column.cast(pa.list_(pa.timestamp("us", tz="UTC"))).cast(pa.list_(pa.int64()))
    return column


def plain(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


columns = [as_micros(table.column(i)).to_pylist() for i in range(table.num_columns)]
rows = [[plain(c[r]) for c in columns] for r in range(table.num_rows)]
meta = pq.ParquetFile(path).metadata
statistics = {}
if meta.num_row_groups > 0:
    group = meta.row_group(0)
    for i in range(group.num_columns):
        chunk = group.column(i)
        s = chunk.statistics
        if s is not None and s.has_min_max:
            low, high = s.min, s.max
            if hasattr(low, "isoformat"):
                low, high = low.isoformat(), high.isoformat()
            statistics[chunk.path_in_schema] = [s.null_count, plain(low), plain(high)]
        elif s is not None:
            statistics[chunk.path_in_schema] = [s.null_count, None, None]
frame = pd.read_parquet(path)
db = duckdb.connect()
names = table.column_names
counts = db.execute(
    "SELECT count(*), " + ", ".join(f'count("{n}")' for n in names) + " FROM read_parquet(?)", [path]
).fetchone()
print(json.dumps({
    "schema": [[f.name, str(f.type)] for f in table.schema],
    "rows": rows,
    "row_groups": meta.num_row_groups,
    "codecs": sorted({meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
                      for c in range(meta.num_columns)}),
    "statistics": statistics,
    "pandas": {n: str(t) for n, t in frame.dtypes.items()},
    "pandas_rows": len(frame),
    "duckdb_rows": counts[0],
    "duckdb": dict(zip(names, counts[1:])),
}))
