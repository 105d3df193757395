import Foundation
import GRDB
import LarderCore

/// The offline store: one SQLite file holding the registry, the source tables and (later)
/// the materialized feature tables.
///
/// Opened in WAL mode so readers (the service, `larder list`) never wait for a long ingest.
public final class OfflineStore: Sendable {
    public let path: String
    let db: DatabasePool

    /// Opens (creating if needed) the store at `path`, and its parent directory.
    public init(path: String) throws(OfflineStoreError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw OfflineStoreError("cannot create the directory \(directory) for the offline store: \(error.localizedDescription)")
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // NORMAL is durable in WAL mode except for the last transactions on power loss,
            // and keeps bulk ingestion fast.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -32768")  // 32 MiB
            try db.execute(sql: "PRAGMA mmap_size = 134217728")
        }
        do {
            db = try DatabasePool(path: path, configuration: configuration)
            try OfflineSchema.migrator.migrate(db)
        } catch {
            throw OfflineStoreError("cannot open the offline store at \(path): \(error)")
        }
    }

    /// The registry of applied definitions.
    public var registry: Registry { Registry(db: db) }
}

/// A failure of the offline store, with what was being done.
public struct OfflineStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Larder's own tables. `schemas/offline.sql` documents the schema the migrations produce and
/// a test keeps the two identical.
enum OfflineSchema {
    /// Applied in order, each once per store (GRDB records them in `grdb_migrations`). A schema
    /// change is a new migration appended here, never an edit of an applied one, so stores
    /// made by earlier versions upgrade when opened.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: registry, ingests, materializations") { db in try db.execute(sql: v1) }
        migrator.registerMigration("v2: online push marker") { db in
            try db.execute(sql: "ALTER TABLE larder_materializations ADD COLUMN online_marker TEXT")
        }
        migrator.registerMigration("v3: serving log") { db in try db.execute(sql: servingLog) }  // ServingLog.swift
        return migrator
    }

    static let v1 = """
        CREATE TABLE IF NOT EXISTS larder_registry (
            name        TEXT    NOT NULL PRIMARY KEY,
            kind        TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            fingerprint TEXT    NOT NULL,
            definition  TEXT    NOT NULL,
            created_at  INTEGER NOT NULL,
            updated_at  INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS larder_registry_history (
            id          INTEGER PRIMARY KEY,
            applied_at  INTEGER NOT NULL,
            kind        TEXT    NOT NULL,
            name        TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            change      TEXT    NOT NULL,
            details     TEXT    NOT NULL,
            fingerprint TEXT    NOT NULL,
            definition  TEXT    NOT NULL
        ) STRICT;
        CREATE INDEX IF NOT EXISTS larder_registry_history_by_name ON larder_registry_history (name, id);
        CREATE TABLE IF NOT EXISTS larder_ingests (
            id          INTEGER PRIMARY KEY,
            source      TEXT    NOT NULL,
            file        TEXT    NOT NULL,
            rows        INTEGER NOT NULL,
            first_seq   INTEGER,
            last_seq    INTEGER,
            started_at  INTEGER NOT NULL,
            finished_at INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS larder_materializations (
            view          TEXT    NOT NULL,
            version       INTEGER NOT NULL,
            covered_start INTEGER NOT NULL,
            covered_end   INTEGER NOT NULL,
            seq_watermark INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            online_seq_watermark INTEGER,
            online_end    INTEGER,
            PRIMARY KEY (view, version)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS larder_materialization_runs (
            id            INTEGER PRIMARY KEY,
            view          TEXT    NOT NULL,
            version       INTEGER NOT NULL,
            incremental   INTEGER NOT NULL,
            range_start   INTEGER NOT NULL,
            range_end     INTEGER NOT NULL,
            rows          INTEGER NOT NULL,
            started_at    INTEGER NOT NULL,
            finished_at   INTEGER NOT NULL
        ) STRICT;
        """
}
