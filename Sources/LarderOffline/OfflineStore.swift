import Foundation
import GRDB
import LarderCore

/// How an ``OfflineStore`` is opened: the rules that govern every write to it.
public struct OfflineStoreOptions: Sendable {
    /// The rule for event times in the future, applied by ingest and push alike.
    public var eventTimePolicy: EventTimePolicy
    /// How long a write waits for another write (another process's ingest, materialization,
    /// apply or push) before it fails naming that write.
    public var busyTimeout: Duration
    /// Called once per wait that lasts over a second, with a line saying what it waits for.
    public var onWait: (@Sendable (String) -> Void)?
    /// Open read-only even when the file is writable. A store whose file or directory is not
    /// writable is opened read-only anyway.
    public var readOnly: Bool

    /// 5 minutes: a materialization or a large ingest can hold the store that long.
    public static let defaultBusyTimeout: Duration = .minutes(5)

    public init(
        eventTimePolicy: EventTimePolicy = EventTimePolicy(), busyTimeout: Duration = OfflineStoreOptions.defaultBusyTimeout,
        onWait: (@Sendable (String) -> Void)? = nil, readOnly: Bool = false
    ) {
        self.eventTimePolicy = eventTimePolicy
        self.busyTimeout = busyTimeout
        self.onWait = onWait
        self.readOnly = readOnly
    }
}

/// The offline store: one SQLite file holding the registry, the source tables and (later)
/// the materialized feature tables.
///
/// Opened in WAL mode so readers (the service, `larder list`) never wait for a long ingest.
/// Writes go through ``writeTransaction(_:_:)`` (WriteAccess.swift), which waits its turn
/// behind another process's write and records which operation holds the store.
public final class OfflineStore: Sendable {
    public let path: String
    public let eventTimePolicy: EventTimePolicy
    public let busyTimeout: Duration
    /// Why the store is read-only (nil when it is writable): reads work, writes fail saying so.
    public let readOnlyReason: String?
    let db: DatabasePool
    /// What ``openReader()`` opens: the pool's path and how it waits for a lock.
    private let openPath: String
    private let busyWait: BusyWait

    /// Opens (creating if needed) the store at `path`, and its parent directory.
    public init(path: String, options: OfflineStoreOptions = OfflineStoreOptions()) throws(OfflineStoreError) {
        self.path = path
        self.eventTimePolicy = options.eventTimePolicy
        self.busyTimeout = options.busyTimeout
        let access = StoreAccess(path: path)
        let readOnlyReason = options.readOnly ? "opened read-only" : access.readOnlyReason
        self.readOnlyReason = readOnlyReason
        if readOnlyReason == nil {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw OfflineStoreError("cannot create the directory \(directory) for the offline store: \(error.localizedDescription)")
                }
            }
        } else if !access.exists {
            throw OfflineStoreError("there is no offline store at \(path), and it cannot be created (\(readOnlyReason!))")
        }
        openPath = readOnlyReason == nil ? path : access.readOnlyOpenPath
        busyWait = BusyWait(limit: options.busyTimeout, storePath: path, onWait: options.onWait)
        let configuration = Self.configuration(readOnly: readOnlyReason != nil, busyWait: busyWait)
        do {
            db = try DatabasePool(path: openPath, configuration: configuration)
        } catch {
            throw OfflineStoreError("cannot open the offline store at \(path): \(Self.describe(error))")
        }
        // Checked by a read first: opening a store that is up to date takes no write lock, so
        // it neither waits for another process's write nor needs write access.
        let upToDate: Bool
        do {
            upToDate = try db.read { db in try OfflineSchema.migrator.hasCompletedMigrations(db) }
        } catch {
            throw OfflineStoreError("cannot read the offline store at \(path): \(Self.describe(error))")
        }
        guard !upToDate else { return }
        if let readOnlyReason {
            throw OfflineStoreError(
                "the offline store at \(path) is read-only (\(readOnlyReason)) and its schema needs an upgrade that this "
                    + "version of Larder makes when it opens the store; open it once with write access (for example `larder list`)")
        }
        do {
            try OfflineSchema.migrator.migrate(db)
        } catch let error as DatabaseError {
            throw OfflineStoreError(describe(error, operation: "the upgrade of the store's schema"))
        } catch {
            throw OfflineStoreError("cannot upgrade the schema of the offline store at \(path): \(error)")
        }
    }

    /// How every connection to the store is opened.
    private static func configuration(readOnly: Bool, busyWait wait: BusyWait) -> Configuration {
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .callback { tries in wait.retry(tries) }
        configuration.prepareDatabase { db in
            // NORMAL is durable in WAL mode except for the last transactions on power loss,
            // and keeps bulk ingestion fast.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -32768")  // 32 MiB
            try db.execute(sql: "PRAGMA mmap_size = 134217728")
            // The sorts behind CREATE INDEX (a large ingest or materialization builds its
            // indexes after the rows) and ORDER BY may use a second core.
            try db.execute(sql: "PRAGMA threads = 2")
        }
        return configuration
    }

    /// One more read-only connection, outside the pool, for work that reads on two cores at
    /// once (see ``SecondReader``); closed when released.
    func openReader() throws -> DatabaseQueue {
        try DatabaseQueue(path: openPath, configuration: Self.configuration(readOnly: true, busyWait: busyWait))
    }

    /// The registry of applied definitions.
    public var registry: Registry { Registry(db: db, store: self) }

    /// Closes the store's connections, so that SQLite checkpoints its write-ahead log and
    /// removes the `-wal` and `-shm` files. Commands close the store before they exit: the
    /// work they ran on ``Blocking``'s threads may still hold a reference to it then, so its
    /// release cannot be relied on to close it. (A store left open is recovered by the next
    /// open, but a directory its next user cannot write then needs those files.) Calling the
    /// store afterwards fails.
    public func close() {
        // Readers first (releaseMemory closes the idle ones), then the writer: only the last
        // connection to close removes the files, and a reader cannot (GRDB's close() closes
        // the writer first).
        db.releaseMemory()
        try? db.close()
    }
}

/// A failure of the offline store, with what was being done.
public struct OfflineStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// The store cannot take this write now or ever from this process (busy with another
    /// write past the busy timeout, or read-only): nothing is wrong with the request, and the
    /// service answers 503 rather than 500.
    public var isUnavailable: Bool

    public init(_ description: String, isUnavailable: Bool = false) {
        self.description = description
        self.isUnavailable = isUnavailable
    }
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
        migrator.registerMigration("v4: a push marker per Redis Cluster primary") { db in
            try db.execute(sql: "ALTER TABLE larder_materializations ADD COLUMN online_marker_slots TEXT")
        }
        migrator.registerMigration("v5: fingerprints of the computation only") { db in
            // Descriptions, owners and tags no longer count: every stored fingerprint is
            // recomputed by the new rule, so no version changes number and nothing compiled
            // from the same features/ turns stale.
            for table in ["larder_registry", "larder_registry_history"] {
                let key = table == "larder_registry" ? "name" : "id"
                for row in try Row.fetchAll(db, sql: "SELECT \(key) AS key, kind, definition FROM \(table)") {
                    guard let fingerprint = RegisteredDefinition.fingerprint(kind: row["kind"], definition: row["definition"]) else {
                        continue
                    }
                    try db.execute(
                        sql: "UPDATE \(table) SET fingerprint = ? WHERE \(key) = ?", arguments: [fingerprint, row["key"] as DatabaseValue])
                }
            }
        }
        migrator.registerMigration("v6: feature statistics per materialization run") { db in try db.execute(sql: statistics) }
        return migrator
    }

    /// Each run's newest materialized event time, the statistics of every feature after each
    /// run (one row per feature: ``FeatureStatistics`` as JSON), and the run each view version's
    /// drift is measured against when the user pins one (else its first run with statistics).
    static let statistics = """
        ALTER TABLE larder_materialization_runs ADD COLUMN newest_event INTEGER;
        CREATE TABLE IF NOT EXISTS larder_feature_statistics (
            run_id      INTEGER NOT NULL,
            feature     TEXT    NOT NULL,
            statistics  TEXT    NOT NULL,
            PRIMARY KEY (run_id, feature)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS larder_statistics_references (
            view        TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            run_id      INTEGER NOT NULL,
            pinned_at   INTEGER NOT NULL,
            PRIMARY KEY (view, version)
        ) STRICT;
        """

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
