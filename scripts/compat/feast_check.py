#!/usr/bin/env python3
"""Feast's own SDK against a running `larder serve`: answers compared with the data.

  feast_check.py push-trips --url URL --out trips.json
      Pushes a few trips (relative to now) through /v1/push and records them (stdlib only).
  feast_check.py check --url URL --stats stats.csv --trips trips.json --workdir DIR
      Declares the example feature repo to Feast (online store of type `remote` at URL),
      reads features through FeatureStore.get_online_features (a feature list, full names,
      the driver_ranking feature service, version metadata where the SDK asks for it) and
      compares every value with what was ingested (stats.csv) and pushed (trips.json).
      Also checks that Larder's error message reaches the Feast client.

Exits non-zero on any difference. scripts/compat/feast_check.sh runs both.
"""
import argparse
import csv
import datetime as dt
import json
import math
import sys
import urllib.request

UTC = dt.timezone.utc
STATS_TTL = dt.timedelta(hours=2)  # driver_hourly_stats (features/driver_stats.swift)
TRIPS_TTL = dt.timedelta(days=1)  # driver_trips (features/trips.swift)
UNKNOWN_DRIVER = 9999

# (driver, minutes before now, fare, distance_km): well inside or outside every window.
TRIPS = [(1001, 10, 10.5, 2.0), (1001, 30, 4.0, 1.0), (1001, 180, 100.0, 50.0), (1002, 20 * 60, 7.0, 3.5)]
# driver_trips aggregations: name -> (function, input, window, hop) as declared in features/trips.swift.
AGGREGATIONS = {
    "trips_1h": ("count", None, dt.timedelta(hours=1), dt.timedelta(minutes=5)),
    "fare_sum_24h": ("sum", "fare", dt.timedelta(hours=24), dt.timedelta(hours=1)),
    "fare_mean_7d": ("mean", "fare", dt.timedelta(days=7), dt.timedelta(hours=1)),
    "fare_per_km_max_24h": ("max", "fare_per_km", dt.timedelta(hours=24), dt.timedelta(hours=1)),
}


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def push_trips(args):
    now = dt.datetime.now(UTC).replace(microsecond=0)
    rows = [
        {"driver_id": d, "event_timestamp": rfc3339(now - dt.timedelta(minutes=m)), "fare": fare, "distance_km": km}
        for d, m, fare, km in TRIPS
    ]
    request = urllib.request.Request(
        args.url + "/v1/push",
        data=json.dumps({"source": "trips", "rows": rows}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    if answer.get("rows") != len(rows):
        sys.exit(f"push of trips failed: {answer}")
    with open(args.out, "w") as f:
        json.dump(rows, f)


class Expected:
    """What Larder must serve, computed from the ingested and pushed rows at instant `now`."""

    def __init__(self, stats_path, trips_path, now):
        self.now = now
        self.stats = {}  # driver -> latest row (greatest event time, then created, then file order)
        with open(stats_path) as f:
            for row in csv.DictReader(f):
                d = int(row["driver_id"])
                order = (parse_time(row["event_timestamp"]), parse_time(row["created"]) if row["created"] else None)
                best = self.stats.get(d)
                if best is None or (order[0], order[1] or order[0]) >= (best[0][0], best[0][1] or best[0][0]):
                    self.stats[d] = (order, row)
        with open(trips_path) as f:
            self.trips = [
                dict(r, event_timestamp=parse_time(r["event_timestamp"]), fare_per_km=r["fare"] / max(r["distance_km"], 0.1))
                for r in json.load(f)
            ]

    def drivers(self):
        return sorted(self.stats) + [UNKNOWN_DRIVER]

    def stat(self, driver, name):
        if driver not in self.stats:
            return None
        (event_time, _), row = self.stats[driver]
        if self.now - event_time > STATS_TTL:
            return None  # expired: Larder withholds it
        return int(row[name]) if name == "avg_daily_trips" else float(row[name])

    def trip_feature(self, driver, name):
        trips = [t for t in self.trips if t["driver_id"] == driver]
        if name == "fare_per_km":
            if not trips:
                return None
            latest = max(trips, key=lambda t: t["event_timestamp"])
            return None if self.now - latest["event_timestamp"] > TRIPS_TTL else latest["fare_per_km"]
        function, field, window, hop = AGGREGATIONS[name]
        # The window rule: floor((T - w) / h) * h <= event time <= T.
        epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
        start = epoch + math.floor((self.now - window - epoch) / hop) * hop
        values = [t[field] if field else 1 for t in trips if start <= t["event_timestamp"] <= self.now]
        if function == "count":
            return len(values)
        if function == "sum":
            return float(sum(values))
        if not values:
            return None
        return sum(values) / len(values) if function == "mean" else max(values)

    def value(self, column, driver, request):
        """The expected value of a response column (`feature` or `view__feature`)."""
        feature = column.split("__")[-1]
        if feature in ("conv_rate", "acc_rate", "avg_daily_trips"):
            return self.stat(driver, feature)
        if feature in ("conv_rate_plus_val1", "conv_rate_plus_val2"):
            rate = self.stat(driver, "conv_rate")
            add = request["val_to_add" if feature.endswith("1") else "val_to_add_2"]
            return None if rate is None else rate + add
        return self.trip_feature(driver, feature)


def feast_repo(workdir, url):
    """The example feature repo as Feast objects, and a FeatureStore whose online store is Larder."""
    import pandas as pd
    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, RepoConfig, RequestSource, ValueType
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64, Int64

    # Empty files of the sources' shape: Feast's file offline store is never read here.
    pd.DataFrame(
        {"driver_id": pd.Series(dtype="int64"), "event_timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
         "created": pd.Series(dtype="datetime64[ns, UTC]"), "conv_rate": pd.Series(dtype="float64"),
         "acc_rate": pd.Series(dtype="float64"), "avg_daily_trips": pd.Series(dtype="int64")}
    ).to_parquet(f"{workdir}/driver_stats.parquet")
    pd.DataFrame(
        {"driver_id": pd.Series(dtype="int64"), "event_timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
         "fare": pd.Series(dtype="float64"), "distance_km": pd.Series(dtype="float64")}
    ).to_parquet(f"{workdir}/trips.parquet")

    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    stats_source = FileSource(
        name="driver_stats", path=f"{workdir}/driver_stats.parquet", timestamp_field="event_timestamp",
        created_timestamp_column="created")
    trips_source = FileSource(name="trips", path=f"{workdir}/trips.parquet", timestamp_field="event_timestamp")
    driver_hourly_stats = FeatureView(
        name="driver_hourly_stats", entities=[driver], ttl=STATS_TTL, source=stats_source, online=True,
        schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
                Field(name="acc_rate", dtype=Float64), Field(name="avg_daily_trips", dtype=Int64)])
    driver_trips = FeatureView(
        name="driver_trips", entities=[driver], ttl=TRIPS_TTL, source=trips_source, online=True,
        schema=[Field(name="driver_id", dtype=Int64), Field(name="fare_per_km", dtype=Float64),
                Field(name="trips_1h", dtype=Int64), Field(name="fare_sum_24h", dtype=Float64),
                Field(name="fare_mean_7d", dtype=Float64), Field(name="fare_per_km_max_24h", dtype=Float64)])
    # A view Feast knows and Larder does not: asking for it must bring Larder's error to the client.
    not_in_larder = FeatureView(
        name="not_in_larder", entities=[driver], ttl=STATS_TTL, source=stats_source, online=True,
        schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64)])
    request_source = RequestSource(
        name="vals_to_add", schema=[Field(name="val_to_add", dtype=Int64), Field(name="val_to_add_2", dtype=Int64)])

    @on_demand_feature_view(
        sources=[driver_hourly_stats, request_source],
        schema=[Field(name="conv_rate_plus_val1", dtype=Float64), Field(name="conv_rate_plus_val2", dtype=Float64)])
    def transformed_conv_rate(inputs: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame()
        out["conv_rate_plus_val1"] = inputs["conv_rate"] + inputs["val_to_add"]
        out["conv_rate_plus_val2"] = inputs["conv_rate"] + inputs["val_to_add_2"]
        return out

    driver_ranking = FeatureService(name="driver_ranking", features=[driver_hourly_stats, transformed_conv_rate, driver_trips])
    config = RepoConfig(
        project="larder_compat", provider="local", registry=f"{workdir}/registry.db",
        online_store={"type": "remote", "path": url}, offline_store={"type": "file"},
        entity_key_serialization_version=3, repo_path=workdir)
    store = FeatureStore(config=config)
    store.apply([driver, stats_source, trips_source, request_source, driver_hourly_stats, driver_trips, not_in_larder,
                 transformed_conv_rate, driver_ranking])
    return store


def check(args):
    import os

    import feast

    os.makedirs(args.workdir, exist_ok=True)
    version = feast.__version__
    store = feast_repo(args.workdir, args.url)
    failures = []
    cases = 0

    def compare(what, response, columns, rows, expected):
        nonlocal cases
        got = response.to_dict()
        for column in columns:
            if column not in got:
                failures.append(f"{what}: no column '{column}' in the answer (columns: {sorted(got)})")
                continue
            for i, row in enumerate(rows):
                want = expected.value(column, row["driver_id"], row)
                have = got[column][i]
                cases += 1
                # Exact, but for a mean (a division whose operands Larder sums exactly).
                if column.endswith("fare_mean_7d") and want is not None and have is not None:
                    same = math.isclose(have, want, rel_tol=1e-12)
                else:
                    same = want == have
                if not same:
                    failures.append(f"{what}: {column} of driver {row['driver_id']}: expected {want!r}, got {have!r}")
        if got.get("driver_id") != [r["driver_id"] for r in rows]:
            failures.append(f"{what}: driver_id column {got.get('driver_id')}")

    stats = ["conv_rate", "acc_rate", "avg_daily_trips"]

    # A feature list, with request data among the entity columns (as Feast sends it).
    features = [f"driver_hourly_stats:{f}" for f in stats] + ["transformed_conv_rate:conv_rate_plus_val1"]
    expected = Expected(args.stats, args.trips, dt.datetime.now(UTC))
    rows = [{"driver_id": d, "val_to_add": k, "val_to_add_2": 10 * k} for k, d in enumerate(expected.drivers(), start=1)]
    response = store.get_online_features(features=features, entity_rows=rows)
    compare("feature list", response, stats + ["conv_rate_plus_val1"], rows, expected)

    # Full feature names.
    response = store.get_online_features(features=features[:2], entity_rows=rows, full_feature_names=True)
    compare("full names", response, ["driver_hourly_stats__conv_rate", "driver_hourly_stats__acc_rate"], rows, expected)

    # The feature service: every feature of driver_ranking, aggregations included.
    service = store.get_feature_service("driver_ranking")
    expected = Expected(args.stats, args.trips, dt.datetime.now(UTC))
    response = store.get_online_features(features=service, entity_rows=rows)
    compare("feature service", response,
            stats + ["conv_rate_plus_val1", "conv_rate_plus_val2", "fare_per_km"] + list(AGGREGATIONS), rows, expected)

    # Version metadata, in the SDKs whose remote store reads it from the server's answer (0.64
    # sends the flag but drops the answer's metadata; earlier SDKs read view by view and fill
    # it in from their own registry).
    import inspect

    from feast.infra.online_stores.remote import RemoteOnlineStore

    reader = getattr(RemoteOnlineStore, "_build_online_response_from_json", None)
    if reader is not None and "feature_view_metadata" in inspect.getsource(reader):
        response = store.get_online_features(
            features=features[:1], entity_rows=rows, include_feature_view_version_metadata=True)
        metadata = {m.name: m.version for m in response.proto.metadata.feature_view_metadata}
        cases += 1
        # A fresh store registers each view at version 1.
        if metadata != {"driver_hourly_stats": 1}:
            failures.append(f"version metadata: expected {{'driver_hourly_stats': 1}}, got {metadata}")

    # An error of Larder's reaches the client with its message.
    cases += 1
    try:
        store.get_online_features(features=["not_in_larder:conv_rate"], entity_rows=rows)
        failures.append("a view unknown to Larder was answered without an error")
    except Exception as error:  # the client raises the Feast exception class Larder names
        message = str(error)
        if "unknown feature view 'not_in_larder'" not in message:
            failures.append(f"Larder's error message did not reach the client: {type(error).__name__}: {message}")
        else:
            print(f"feast {version}: error reached the client as {type(error).__module__}.{type(error).__name__}: {message}")

    for failure in failures:
        print(f"feast {version}: DIFFERENCE: {failure}", file=sys.stderr)
    print(f"feast {version}: {cases} values and checks compared, {len(failures)} differences")
    sys.exit(1 if failures else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push-trips")
    push.add_argument("--url", required=True)
    push.add_argument("--out", required=True)
    run = commands.add_parser("check")
    run.add_argument("--url", required=True)
    run.add_argument("--stats", required=True)
    run.add_argument("--trips", required=True)
    run.add_argument("--workdir", required=True)
    args = parser.parse_args()
    push_trips(args) if args.command == "push-trips" else check(args)


if __name__ == "__main__":
    main()
