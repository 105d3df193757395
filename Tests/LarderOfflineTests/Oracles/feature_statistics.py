"""pandas' statistics of a Larder feature table, for the Swift tests (and `bench.py stats`) to
compare with the statistics Larder's materialization recorded.

Reads the table from the SQLite store with pandas, and for each feature column prints
  count (non-null), nulls, min, max, mean, std (n - 1), nunique (exact distinct count), and
  the ranks of Larder's quantile estimates: for each [p, value] given, the share of values
  below it and at or below it (its true rank is between the two).

Usage: python feature_statistics.py STORE.sqlite TABLE QUANTILES.json
where QUANTILES.json is {"feature": [[p, value], ...], ...}; prints one JSON object by feature.
"""
import json
import sqlite3
import sys

import numpy as np
import pandas as pd

store, table, quantiles_file = sys.argv[1:4]
with open(quantiles_file) as f:
    quantiles = json.load(f)
connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
frame = pd.read_sql_query(f"SELECT {', '.join(quantiles)} FROM {table}", connection)
connection.close()

out = {}
for feature, estimates in quantiles.items():
    column = frame[feature]
    values = np.sort(column.dropna().to_numpy(dtype="float64"))
    n = len(values)
    ranks = []
    for p, v in estimates:
        ranks.append([p, float(np.searchsorted(values, v, side="left")) / n, float(np.searchsorted(values, v, side="right")) / n])
    out[feature] = {
        "count": int(column.count()),
        "nulls": int(column.isna().sum()),
        "min": float(column.min()),
        "max": float(column.max()),
        "mean": float(column.mean()),
        "std": float(column.std()),
        "nunique": int(column.nunique()),
        "ranks": ranks,
    }
print(json.dumps(out))
