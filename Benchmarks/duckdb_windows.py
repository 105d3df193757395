"""DuckDB baseline for the aggregation benchmark: the windowed aggregations of driver_trips in SQL.

  python duckdb_windows.py load DB TRIPS.csv              load the trips into a DuckDB table (not timed)
  python duckdb_windows.py join DB REQUESTS.csv OUT.csv   time the aggregation from request CSV to output CSV
  python duckdb_windows.py compare LARDER.csv DUCKDB.csv  check both outputs agree

The window rule, as Larder states it: at instant T a window w with hop h covers the events
with floor((T - w) / h) * h <= event time <= T. Times are integer microseconds since the
epoch, so the hop floors are exact. `join` prints the seconds the query took (inside DuckDB,
excluding interpreter start-up); `compare` prints the number of differing values, then a
summary and up to 10 examples of differences.
"""
import csv
import sys
import time

import duckdb

HOUR = 3_600_000_000
# (feature, window, hop) in microseconds, as features/Trips.swift declares them.
TRIPS_1H = (HOUR, 5 * 60_000_000)
FARE_SUM_24H = (24 * HOUR, HOUR)
FARE_MEAN_7D = (7 * 24 * HOUR, HOUR)


def load(db, trips):
    con = duckdb.connect(db)
    con.execute("DROP TABLE IF EXISTS trips")
    con.execute(f"""
        CREATE TABLE trips AS SELECT driver_id, epoch_us(event_timestamp::TIMESTAMPTZ) AS ts, fare
        FROM read_csv('{trips}', header = true, types = {{'driver_id': 'BIGINT', 'fare': 'DOUBLE'}})""")
    con.close()


def window_start(t, window, hop):
    """SQL for floor((t - window) / hop) * hop, exact for negative values too (% truncates)."""
    x = f"({t} - {window})"
    return f"({x} - ((({x} % {hop}) + {hop}) % {hop}))"


def join(db, requests, out):
    con = duckdb.connect(db)
    con.execute("SET TimeZone = 'UTC'")
    start = time.perf_counter()
    # One row per request row (duplicates kept apart by their row number); the join reaches
    # back to the earliest window start (the 7-day one), each aggregate filters its own window.
    con.execute(f"""
        COPY (
            WITH r AS (
                SELECT n, driver_id, event_timestamp, label, t,
                    {window_start('t', *TRIPS_1H)} AS s_1h,
                    {window_start('t', *FARE_SUM_24H)} AS s_24h,
                    {window_start('t', *FARE_MEAN_7D)} AS s_7d
                FROM (SELECT *, epoch_us(event_timestamp::TIMESTAMPTZ) AS t, row_number() OVER () AS n
                      FROM read_csv('{requests}', header = true, all_varchar = true,
                                    types = {{'driver_id': 'BIGINT'}}))
            ), a AS (
                SELECT r.n,
                    count(e.ts) FILTER (WHERE e.ts >= r.s_1h) AS trips_1h,
                    coalesce(sum(e.fare) FILTER (WHERE e.ts >= r.s_24h), 0.0) AS fare_sum_24h,
                    avg(e.fare) FILTER (WHERE e.ts >= r.s_7d) AS fare_mean_7d
                FROM r LEFT JOIN trips e
                    ON e.driver_id = r.driver_id AND e.ts >= least(r.s_1h, r.s_24h, r.s_7d) AND e.ts <= r.t
                GROUP BY r.n
            )
            SELECT r.driver_id, r.event_timestamp, r.label, a.trips_1h, a.fare_sum_24h, a.fare_mean_7d
            FROM r JOIN a USING (n)
            ORDER BY r.n
        ) TO '{out}' (HEADER, DELIMITER ',')""")
    print(f"{time.perf_counter() - start:.3f}")


def close(u, v):
    """Within 1e-9 relative (Larder rounds an exact sum once; DuckDB adds in some order)."""
    a, b = float(u), float(v)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare(a, b):
    with open(a) as fa, open(b) as fb:
        ra, rb = list(csv.reader(fa)), list(csv.reader(fb))
    if len(ra) != len(rb):
        sys.exit(f"row counts differ: {len(ra)} vs {len(rb)}")
    if ra[0] != rb[0]:
        sys.exit(f"headers differ: {ra[0]} vs {rb[0]}")
    mismatches, examples = 0, []
    exact, empty_counts, null_means = 0, 0, 0
    for line, (x, y) in enumerate(zip(ra[1:], rb[1:]), start=2):
        if x[:3] != y[:3]:
            sys.exit(f"line {line}: rows out of order: {x} vs {y}")
        for i, (u, v) in enumerate(zip(x[3:], y[3:]), start=3):
            if (u == "") != (v == ""):
                ok = False
            elif u == "":
                ok = True
            elif i == 3:  # trips_1h: a count, equal exactly
                ok = int(u) == int(v)
            else:
                ok = close(u, v)
                exact += float(u) == float(v)
            if not ok:
                mismatches += 1
                if len(examples) < 10:
                    examples.append(f"line {line}, {ra[0][i]}: larder {u!r}, duckdb {v!r} ({', '.join(x[:3])})")
        empty_counts += x[3] == "0"
        null_means += x[5] == ""
    print(mismatches)
    print(f"{len(ra) - 1} rows; trips_1h = 0 in {empty_counts}; fare_mean_7d null in {null_means}; "
          f"non-null sums and means bit-identical: {exact}")
    for e in examples:
        print(e)


if __name__ == "__main__":
    {"load": load, "join": join, "compare": compare}[sys.argv[1]](*sys.argv[2:])
