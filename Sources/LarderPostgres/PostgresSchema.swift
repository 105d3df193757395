import Foundation
import LarderOffline
import Logging
import PostgresNIO

/// Larder's own tables in PostgreSQL. `schemas/offline.postgres.sql` documents the schema the
/// migrations produce and a test keeps the two identical.
///
/// Instants are BIGINT microseconds since the Unix epoch, as in the SQLite store, so both
/// stores hold and compare the same numbers.
enum PostgresSchema {
    /// Applied in order, each once per database, in one transaction with its record in
    /// `larder_schema_migrations`. A schema change is a new migration appended here, never an
    /// edit of an applied one.
    static let migrations: [(name: String, sql: String)] = [
        ("v1: registry", registry),
        ("v2: ingests", ingests),
        ("v3: materializations", materializations),
        ("v4: serving log", servingLog),
        ("v5: a push marker per Redis Cluster primary", "ALTER TABLE larder_materializations ADD COLUMN online_marker_slots TEXT"),
        (fingerprintsMigration, ""),  // recomputeFingerprints, in Swift
        ("v7: feature statistics per materialization run", statistics),
    ]

    /// Each run's newest materialized event time, every feature's statistics after each run,
    /// and pinned statistics references, as in SQLite's v6.
    static let statistics = """
        ALTER TABLE larder_materialization_runs ADD COLUMN newest_event BIGINT;
        CREATE TABLE larder_feature_statistics (
            run_id      BIGINT NOT NULL,
            feature     TEXT   NOT NULL,
            statistics  TEXT   NOT NULL,
            PRIMARY KEY (run_id, feature)
        );
        CREATE TABLE larder_statistics_references (
            view        TEXT   NOT NULL,
            version     BIGINT NOT NULL,
            run_id      BIGINT NOT NULL,
            pinned_at   BIGINT NOT NULL,
            PRIMARY KEY (view, version)
        );
        """

    /// Descriptions, owners and tags no longer count in fingerprints: every stored one is
    /// recomputed by the new rule, as in SQLite's v5.
    static let fingerprintsMigration = "v6: fingerprints of the computation only"

    static func recomputeFingerprints(_ connection: PostgresConnection, logger: Logger) async throws {
        for (table, key) in [("larder_registry", "name"), ("larder_registry_history", "id::text")] {
            var updates: [(key: String, fingerprint: String)] = []
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(key), kind, definition FROM \(table)"), logger: logger)
            for try await (rowKey, kind, definition) in rows.decode((String, String, String).self) {
                if let fingerprint = RegisteredDefinition.fingerprint(kind: kind, definition: definition) {
                    updates.append((rowKey, fingerprint))
                }
            }
            for update in updates {
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "UPDATE \(table) SET fingerprint = $1 WHERE \(key) = $2",
                        binds: try {
                            var b = PostgresBindings(); b.append(update.fingerprint); b.append(update.key); return b
                        }()),
                    logger: logger)
            }
        }
    }

    static let registry = """
        CREATE TABLE larder_registry (
            name        TEXT   NOT NULL PRIMARY KEY,
            kind        TEXT   NOT NULL,
            version     BIGINT NOT NULL,
            fingerprint TEXT   NOT NULL,
            definition  TEXT   NOT NULL,
            created_at  BIGINT NOT NULL,
            updated_at  BIGINT NOT NULL
        );
        CREATE TABLE larder_registry_history (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            applied_at  BIGINT NOT NULL,
            kind        TEXT   NOT NULL,
            name        TEXT   NOT NULL,
            version     BIGINT NOT NULL,
            change      TEXT   NOT NULL,
            details     TEXT   NOT NULL,
            fingerprint TEXT   NOT NULL,
            definition  TEXT   NOT NULL
        );
        CREATE INDEX larder_registry_history_by_name ON larder_registry_history (name, id);
        """

    static let ingests = """
        CREATE TABLE larder_ingests (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source      TEXT   NOT NULL,
            file        TEXT   NOT NULL,
            rows        BIGINT NOT NULL,
            first_seq   BIGINT,
            last_seq    BIGINT,
            started_at  BIGINT NOT NULL,
            finished_at BIGINT NOT NULL
        );
        """

    static let materializations = """
        CREATE TABLE larder_materializations (
            view          TEXT   NOT NULL,
            version       BIGINT NOT NULL,
            covered_start BIGINT NOT NULL,
            covered_end   BIGINT NOT NULL,
            seq_watermark BIGINT NOT NULL,
            updated_at    BIGINT NOT NULL,
            online_seq_watermark BIGINT,
            online_end    BIGINT,
            online_marker TEXT,
            PRIMARY KEY (view, version)
        );
        CREATE TABLE larder_materialization_runs (
            id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            view          TEXT    NOT NULL,
            version       BIGINT  NOT NULL,
            incremental   BOOLEAN NOT NULL,
            range_start   BIGINT  NOT NULL,
            range_end     BIGINT  NOT NULL,
            rows          BIGINT  NOT NULL,
            started_at    BIGINT  NOT NULL,
            finished_at   BIGINT  NOT NULL
        );
        """

    /// `larder_serving_log`, as in SQLite: the JSON columns hold the same text
    /// (``JSONText``), so a logged double reads back to the same bits.
    static let servingLog = """
        CREATE TABLE larder_serving_log (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            served_at   BIGINT NOT NULL,
            endpoint    TEXT   NOT NULL,
            service     TEXT,
            entity      TEXT   NOT NULL,
            request     TEXT,
            features    TEXT   NOT NULL
        );
        CREATE INDEX larder_serving_log_by_served_at ON larder_serving_log (served_at);
        """

    /// Brings the database up to date. Checked by a read first, so a role that may only read
    /// opens an up-to-date store; the upgrade itself holds ``AdvisoryLock/schema``, so two
    /// machines opening a new database at once create the tables once.
    static func migrate(_ store: PostgresStore) async throws(OfflineStoreError) {
        let names = migrations.map(\.name)
        do {
            let applied = try await store.transaction("reading the schema version", readOnly: true) { connection in
                try await appliedMigrations(connection, store: store)
            }
            if names.allSatisfy(applied.contains) { return }
            try await store.transaction("the upgrade of the store's schema") { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(AdvisoryLock.schema))", logger: store.logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS larder_schema_migrations (name TEXT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
                    logger: store.logger)
                let applied = try await appliedMigrations(connection, store: store)
                for migration in migrations where !applied.contains(migration.name) {
                    // One statement per query: PostgresNIO prepares each.
                    for statement in statements(migration.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: store.logger)
                    }
                    if migration.name == fingerprintsMigration { try await recomputeFingerprints(connection, logger: store.logger) }
                    try await connection.query(
                        "INSERT INTO larder_schema_migrations (name, applied_at) VALUES (\(migration.name), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)",
                        logger: store.logger)
                }
            }
        } catch let error as OfflineStoreError {
            throw error
        } catch {
            throw store.describe(error, operation: "opening the offline store")
        }
    }

    /// The statements of a migration's text, which ends each with `;` at the end of a line
    /// (no string in Larder's DDL holds one).
    static func statements(_ sql: String) -> [String] {
        sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
    }

    /// The names in `larder_schema_migrations`, or none when the table does not exist yet.
    private static func appliedMigrations(_ connection: PostgresConnection, store: PostgresStore) async throws -> Set<String> {
        let exists = try await connection.query("SELECT to_regclass('larder_schema_migrations') IS NOT NULL", logger: store.logger)
        var found = false
        for try await value in exists.decode(Bool.self) { found = value }
        guard found else { return [] }
        var names: Set<String> = []
        for try await name in try await connection.query("SELECT name FROM larder_schema_migrations", logger: store.logger).decode(
            String.self)
        {
            names.insert(name)
        }
        return names
    }
}

/// Keys of the transaction-scoped advisory locks that serialize Larder's writers across
/// machines (PostgreSQL's `pg_advisory_xact_lock`, released at commit or rollback).
enum AdvisoryLock {
    /// Held while the schema is upgraded.
    static let schema: Int64 = 0x4C41_5244_0000_0001  // "LARD" 1
    /// Held by `apply`, so two applies run one after the other and the second sees the first.
    static let registry: Int64 = 0x4C41_5244_0000_0002

    /// Takes the lock named `name` for the rest of the transaction: `source NAME` (held by an
    /// ingest, and by a materialization of a view of that source, so `_seq` stands still while
    /// it reads) or `view NAME` (one materialization of a view at a time).
    static func take(_ name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("larder " + name), 0))", logger: logger)
    }
}
