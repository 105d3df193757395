-- Larder offline store (SQLite), the tables Larder creates for itself.
-- Instants are INTEGER microseconds since the Unix epoch, UTC.
-- The code's migrations (OfflineSchema in Sources/LarderOffline/OfflineStore.swift, recorded in
-- GRDB's grdb_migrations table) create exactly these; a test checks it.

-- One row per registered definition: what `larder apply` last applied.
CREATE TABLE IF NOT EXISTS larder_registry (
    name        TEXT    NOT NULL PRIMARY KEY,  -- unique across all kinds
    kind        TEXT    NOT NULL,              -- entity | source | feature_view | on_demand_view | feature_service
    version     INTEGER NOT NULL,              -- 1 when first added, +1 on every change
    fingerprint TEXT    NOT NULL,              -- 16 hex digits of SHA-256(kind, definition without description/owner/tags)
    definition  TEXT    NOT NULL,              -- canonical JSON (snake_case keys, sorted), see docs/CLI.md
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Every applied change, oldest first. A removed definition keeps its history; added back,
-- it continues from its last version.
CREATE TABLE IF NOT EXISTS larder_registry_history (
    id          INTEGER PRIMARY KEY,
    applied_at  INTEGER NOT NULL,              -- one value per `larder apply`
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,              -- the version after the change (for removed: the last one)
    change      TEXT    NOT NULL,              -- added | changed | removed | described (metadata only, same version)
    details     TEXT    NOT NULL,              -- JSON array of readable lines ("ttl: 2h -> 3h")
    fingerprint TEXT    NOT NULL,
    definition  TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS larder_registry_history_by_name ON larder_registry_history (name, id);

-- One row per `larder ingest` that committed (a failed ingest leaves no row).
CREATE TABLE IF NOT EXISTS larder_ingests (
    id          INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    rows        INTEGER NOT NULL,
    first_seq   INTEGER,                       -- the _seq range the rows received
    last_seq    INTEGER,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
) STRICT;

-- Per feature view version: what its offline feature table covers. Every source row with an
-- event time in [covered_start, covered_end) and _seq <= seq_watermark has been materialized.
CREATE TABLE IF NOT EXISTS larder_materializations (
    view          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    covered_start INTEGER NOT NULL,
    covered_end   INTEGER NOT NULL,
    seq_watermark INTEGER NOT NULL,            -- the source's max _seq when the run started
    updated_at    INTEGER NOT NULL,
    online_seq_watermark INTEGER,              -- what the last successful push to Redis covered:
    online_end    INTEGER,                     --   rows up to this _seq, latest values as of this end
    online_marker TEXT,                        -- the marker that push left in Redis (migration v2)
    online_marker_slots TEXT,                  -- where: NULL for one server, else one slot per
                                               --   cluster primary, space-separated (migration v4)
    PRIMARY KEY (view, version)
) STRICT;

-- One row per committed materialization run of one view.
CREATE TABLE IF NOT EXISTS larder_materialization_runs (
    id            INTEGER PRIMARY KEY,
    view          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    incremental   INTEGER NOT NULL,            -- 0 or 1
    range_start   INTEGER NOT NULL,
    range_end     INTEGER NOT NULL,
    rows          INTEGER NOT NULL,            -- source rows transformed and written
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    newest_event  INTEGER                      -- migration v6: the newest event time in the feature
                                               -- table after the run; NULL for runs before v6
) STRICT;

-- Migration v6: the statistics of every feature of a view version after each run (row features:
-- over the whole feature table; aggregation features: over the values served at the run's end
-- for every entity), one row per feature, as JSON (FeatureStatistics' Codable encoding: counts,
-- range, exact sums, and the HyperLogLog, KLL and top-value sketches in base64).
CREATE TABLE IF NOT EXISTS larder_feature_statistics (
    run_id      INTEGER NOT NULL,            -- larder_materialization_runs.id
    feature     TEXT    NOT NULL,
    statistics  TEXT    NOT NULL,
    PRIMARY KEY (run_id, feature)
) STRICT;

-- Migration v6: the run a view version's drift is measured against, when the user pinned one
-- (`larder statistics-reference`); without a row, its first run with statistics.
CREATE TABLE IF NOT EXISTS larder_statistics_references (
    view        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    run_id      INTEGER NOT NULL,            -- larder_materialization_runs.id
    pinned_at   INTEGER NOT NULL,
    PRIMARY KEY (view, version)
) STRICT;

-- The serving log (migration v3): what `larder serve` answered, one row per logged entity row,
-- sampled by entity (`serve.log.sample_rate`). Written in batches by a background task;
-- `larder training-set --from-log` reads it. JSON columns are compact JSON with doubles in
-- shortest round-trip form, so values read back to the same bits.
CREATE TABLE IF NOT EXISTS larder_serving_log (
    id          INTEGER PRIMARY KEY,           -- the order entries were written in
    served_at   INTEGER NOT NULL,              -- the lookup instant (the ttl rule was applied at it)
    endpoint    TEXT    NOT NULL,              -- '/v1/features' or '/get-online-features'
    service     TEXT,                          -- the feature service the request named, NULL for a feature list
    entity      TEXT    NOT NULL,              -- JSON object of join keys: {"driver_id":1001}
    request     TEXT,                          -- JSON object of the row's request fields, NULL when none
    features    TEXT    NOT NULL               -- JSON object: {"view:feature": {"value": v, "status": "present",
                                               --   "event_timestamp": "RFC 3339" | null}, ...}
) STRICT;
CREATE INDEX IF NOT EXISTS larder_serving_log_by_served_at ON larder_serving_log (served_at);

-- Each registered source gets a table `source_<name>`, for example for driver_stats:
--
-- CREATE TABLE source_driver_stats (
--     _seq INTEGER PRIMARY KEY,              -- ingest sequence: grows with every appended row
--     _ingest INTEGER NOT NULL,              -- larder_ingests.id
--     event_timestamp INTEGER NOT NULL,      -- the source's event timestamp column
--     created INTEGER,                       -- the created timestamp column, if declared
--     driver_id INTEGER NOT NULL,            -- declared columns: int64/bool/timestamp INTEGER,
--     conv_rate REAL NOT NULL,               --   double REAL, string TEXT;
--     acc_rate REAL NOT NULL,                --   NOT NULL unless declared Optional
--     avg_daily_trips INTEGER NOT NULL
-- ) STRICT;
-- CREATE INDEX source_driver_stats_by_event_time ON source_driver_stats (event_timestamp);

-- Each feature view version gets an offline feature table `features_<view>_v<version>`: one row
-- per source row (same _seq, so re-materializing a row replaces it), for driver_hourly_stats:
--
-- CREATE TABLE features_driver_hourly_stats_v1 (
--     _seq INTEGER PRIMARY KEY,              -- the source row's _seq
--     driver_id INTEGER NOT NULL,            -- the entity's join keys
--     _event_ts INTEGER NOT NULL,            -- the source row's event time
--     _created_ts INTEGER,                   -- its created time, if the source declares one
--     conv_rate REAL,                        -- one nullable column per feature
--     acc_rate REAL,
--     avg_daily_trips INTEGER
-- ) STRICT;
-- CREATE INDEX features_driver_hourly_stats_v1_by_key_time
--     ON features_driver_hourly_stats_v1 (driver_id, _event_ts, _created_ts);
--
-- The point-in-time value at T for key k is the row with the greatest (_event_ts, _created_ts,
-- _seq) among rows with _event_ts <= T: one backwards seek of the first index (rowid = _seq is
-- its implicit last column). NULL created times sort lowest.
