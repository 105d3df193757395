"""DuckDB baseline for the training-set benchmark: the same point-in-time join as an ASOF LEFT JOIN.

  python duckdb_asof.py load DB STATS.csv            load the source rows into a DuckDB table (not timed)
  python duckdb_asof.py join DB REQUESTS.csv OUT.csv  time the join from request CSV to output CSV
  python duckdb_asof.py compare LARDER.csv DUCKDB.csv check both outputs agree

Prints the seconds the join took (inside DuckDB, excluding interpreter start-up).
"""
import csv
import sys
import time

import duckdb


def load(db, stats):
    con = duckdb.connect(db)
    con.execute("DROP TABLE IF EXISTS stats")
    con.execute(f"""
        CREATE TABLE stats AS SELECT driver_id, event_timestamp::TIMESTAMPTZ AS event_timestamp,
            conv_rate, acc_rate, avg_daily_trips FROM read_csv('{stats}', header = true)""")
    con.close()


def join(db, requests, out):
    con = duckdb.connect(db)
    con.execute("SET TimeZone = 'UTC'")
    start = time.perf_counter()
    # ttl 2 hours: a value older than that is null, as in Larder.
    con.execute(f"""
        COPY (
            SELECT r.driver_id, r.event_timestamp, r.label,
                CASE WHEN r.ts - s.event_timestamp <= INTERVAL 2 HOUR THEN s.conv_rate END AS conv_rate,
                CASE WHEN r.ts - s.event_timestamp <= INTERVAL 2 HOUR THEN s.acc_rate END AS acc_rate,
                CASE WHEN r.ts - s.event_timestamp <= INTERVAL 2 HOUR THEN s.avg_daily_trips END AS avg_daily_trips
            FROM (SELECT *, event_timestamp::TIMESTAMPTZ AS ts, row_number() OVER () AS n
                  FROM read_csv('{requests}', header = true, all_varchar = true,
                                types = {{'driver_id': 'BIGINT'}})) r
            ASOF LEFT JOIN stats s ON r.driver_id = s.driver_id AND r.ts >= s.event_timestamp
            ORDER BY r.n
        ) TO '{out}' (HEADER, DELIMITER ',')""")
    print(f"{time.perf_counter() - start:.3f}")


def compare(a, b):
    with open(a) as fa, open(b) as fb:
        ra, rb = list(csv.reader(fa)), list(csv.reader(fb))
    if len(ra) != len(rb):
        sys.exit(f"row counts differ: {len(ra)} vs {len(rb)}")
    mismatches = 0
    for x, y in zip(ra[1:], rb[1:]):
        if x[0] != y[0] or x[2] != y[2]:
            sys.exit(f"rows out of order: {x} vs {y}")
        for u, v in zip(x[3:], y[3:]):
            if (u == "") != (v == "") or (u and float(u) != float(v)):
                mismatches += 1
    print(mismatches)


if __name__ == "__main__":
    {"load": load, "join": join, "compare": compare}[sys.argv[1]](*sys.argv[2:])
