-- Larder offline store (PostgreSQL), the tables Larder creates for itself: the registry,
-- its history, the ingests, the materializations and the serving log.
-- Instants are BIGINT microseconds since the Unix epoch, UTC, as in the SQLite store.
-- The code's migrations (PostgresSchema in Sources/LarderPostgres/PostgresSchema.swift,
-- recorded in larder_schema_migrations) create exactly these; a test checks it.
--
-- For a distributed PostgreSQL (Citus) these are reference tables: small, read by every
-- command, written only by `larder apply`.

-- One row per registered definition: what `larder apply` last applied.
CREATE TABLE larder_registry (
    name        TEXT   NOT NULL PRIMARY KEY,   -- unique across all kinds
    kind        TEXT   NOT NULL,               -- entity | source | feature_view | on_demand_view | feature_service
    version     BIGINT NOT NULL,               -- 1 when first added, +1 on every change
    fingerprint TEXT   NOT NULL,               -- 16 hex digits of SHA-256(kind, definition without description/owner/tags)
    definition  TEXT   NOT NULL,               -- canonical JSON (snake_case keys, sorted), see docs/CLI.md
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Every applied change, oldest first. A removed definition keeps its history; added back,
-- it continues from its last version.
CREATE TABLE larder_registry_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    applied_at  BIGINT NOT NULL,               -- one value per `larder apply`
    kind        TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    version     BIGINT NOT NULL,               -- the version after the change (for removed: the last one)
    change      TEXT   NOT NULL,               -- added | changed | removed | described (metadata only, same version)
    details     TEXT   NOT NULL,               -- JSON array of readable lines ("ttl: 2h -> 3h")
    fingerprint TEXT   NOT NULL,
    definition  TEXT   NOT NULL
);
CREATE INDEX larder_registry_history_by_name ON larder_registry_history (name, id);

-- One row per `larder ingest` that committed (a failed ingest leaves no row). A reference
-- table for Citus too: one row per file.
CREATE TABLE larder_ingests (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      TEXT   NOT NULL,
    file        TEXT   NOT NULL,
    rows        BIGINT NOT NULL,
    first_seq   BIGINT,                        -- the _seq range the rows received
    last_seq    BIGINT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);

-- Per feature view version: what its offline feature table covers (as in SQLite). A reference
-- table for Citus.
CREATE TABLE larder_materializations (
    view          TEXT   NOT NULL,
    version       BIGINT NOT NULL,
    covered_start BIGINT NOT NULL,
    covered_end   BIGINT NOT NULL,
    seq_watermark BIGINT NOT NULL,             -- the source's max _seq when the run started
    updated_at    BIGINT NOT NULL,
    online_seq_watermark BIGINT,               -- what the last successful push to Redis covered
    online_end    BIGINT,
    online_marker TEXT,
    online_marker_slots TEXT,                  -- NULL for one Redis server, else one slot per cluster primary (v5)
    PRIMARY KEY (view, version)
);

-- One row per committed materialization run of one view.
CREATE TABLE larder_materialization_runs (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view          TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    incremental   BOOLEAN NOT NULL,
    range_start   BIGINT  NOT NULL,
    range_end     BIGINT  NOT NULL,
    rows          BIGINT  NOT NULL,            -- source rows transformed and written
    started_at    BIGINT  NOT NULL,
    finished_at   BIGINT  NOT NULL,
    newest_event  BIGINT                       -- migration v7: the newest event time in the feature table
                                               -- after the run; NULL for runs before v7
);

-- Migration v7: every feature's statistics after each run, as JSON, and the pinned statistics
-- references, as in SQLite (schemas/offline.sql).
CREATE TABLE larder_feature_statistics (
    run_id      BIGINT NOT NULL,             -- larder_materialization_runs.id
    feature     TEXT   NOT NULL,
    statistics  TEXT   NOT NULL,
    PRIMARY KEY (run_id, feature)
);
CREATE TABLE larder_statistics_references (
    view        TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    run_id      BIGINT NOT NULL,             -- larder_materialization_runs.id
    pinned_at   BIGINT NOT NULL,
    PRIMARY KEY (view, version)
);

-- One row per logged entity row of a lookup `larder serve` answered (serve.log), as in
-- SQLite (schemas/offline.sql): id is the order entries were written in; entity, request
-- and features are JSON text. For Citus a distributed table would need the entity as its
-- distribution column, which is JSON here: it stays a local (coordinator) table, appended in
-- batches by the service and read in id order by --from-log.
CREATE TABLE larder_serving_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    served_at   BIGINT NOT NULL,               -- the lookup instant
    endpoint    TEXT   NOT NULL,               -- '/v1/features' or '/get-online-features'
    service     TEXT,                          -- NULL for a feature list
    entity      TEXT   NOT NULL,               -- JSON object of join keys
    request     TEXT,                          -- JSON object of request fields, NULL when none
    features    TEXT   NOT NULL                -- JSON object of served values, statuses, event times
);
CREATE INDEX larder_serving_log_by_served_at ON larder_serving_log (served_at);

-- A view version's feature table, features_<view>_v<version>, and tile table,
-- tiles_<view>_v<version>, hold the same columns as in SQLite in PostgreSQL's types. The
-- feature table's key is (join keys, _seq) rather than _seq alone, and the tile table's is
-- (join keys, _hop, _hop_start), so both can be distributed by the entity key; the feature
-- table has the point-in-time index (join keys, _event_ts, _created_ts).

-- A source's events: source_<name>, created by `larder apply`, with the SQLite table's
-- columns in the same order (schemas/offline.sql) in PostgreSQL's types: _seq and _ingest
-- BIGINT NOT NULL, int64 and timestamp BIGINT, double DOUBLE PRECISION, bool BOOLEAN,
-- string TEXT. _seq is numbered by Larder under the source's lock (so it grows in commit
-- order) and has an index, not a primary key (a distributed table's unique keys must
-- include its distribution column). Indexes: source_<name>_by_seq (_seq),
-- source_<name>_by_event_time (event time), and one source_<name>_agg_<hash> per set of
-- columns an aggregation view reads (keys, event time, created, _seq, inputs).
