import GRDB
import GRDBSQLite
import LarderCore

// The materialization runs as the SQLite registry records them, with their statistics, and
// the statistics reference each view version's drift is measured against.

extension OfflineStore {
    /// The view version's runs, newest first, at most `limit`, with their statistics unless
    /// `withStatistics` is false.
    public func materializationRuns(view: String, version: Int, limit: Int, withStatistics: Bool) async throws -> [MaterializationRun] {
        try await reading {
            try self.db.read { db in
                try Self.runs(db, where: "view = ? AND version = ?", [view, version], limit: limit, withStatistics: withStatistics)
            }
        }
    }

    /// The run drift is measured against: the pinned one, else the view version's first run
    /// with statistics; nil when it has none.
    public func statisticsReference(view: String, version: Int) async throws -> (run: MaterializationRun, pinned: Bool)? {
        try await reading {
            try self.db.read { db in
                if let pinned = try Int64.fetchOne(
                    db, sql: "SELECT run_id FROM larder_statistics_references WHERE view = ? AND version = ?", arguments: [view, version])
                {
                    return try Self.runs(db, where: "id = ?", [pinned], limit: 1).first.map { ($0, true) }
                }
                let first = try Self.runs(
                    db, where: "view = ? AND version = ? AND newest_event IS NOT NULL", [view, version], limit: 1, oldestFirst: true)
                return first.first.map { ($0, false) }
            }
        }
    }

    /// Pins `run` as the view version's statistics reference, or with nil unpins it (back to
    /// the first run). Refuses a run of another view version or one without statistics.
    public func pinStatisticsReference(view: String, version: Int, run: Int64?, at now: Timestamp = .now()) async throws {
        try await writing {
            try self.writeTransaction("pinning the statistics reference of \(view) v\(version)") { db in
                guard let run else {
                    try db.execute(
                        sql: "DELETE FROM larder_statistics_references WHERE view = ? AND version = ?", arguments: [view, version])
                    return
                }
                let owner = try Row.fetchOne(
                    db, sql: "SELECT view, version, newest_event FROM larder_materialization_runs WHERE id = ?", arguments: [run])
                try RunReference.check(
                    run: run, view: view, version: version, owner: owner.map { ($0["view"], $0["version"], $0["newest_event"] != nil) })
                try db.execute(
                    sql: """
                        INSERT INTO larder_statistics_references (view, version, run_id, pinned_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (view, version) DO UPDATE SET run_id = excluded.run_id, pinned_at = excluded.pinned_at
                        """,
                    arguments: [view, version, run, now.microseconds])
            }
        }
    }

    /// Adds statistics to a committed run (its aggregation features', computed after it).
    public func recordStatistics(run: Int64, _ statistics: [String: FeatureStatistics]) async throws {
        try await writing {
            try self.writeTransaction("recording the statistics of materialization run \(run)") { db in
                try Self.insertStatistics(db, run: run, statistics)
            }
        }
    }

    static func insertStatistics(_ db: Database, run: Int64, _ statistics: [String: FeatureStatistics]) throws {
        let insert = try db.makeStatement(
            sql: "INSERT OR REPLACE INTO larder_feature_statistics (run_id, feature, statistics) VALUES (?, ?, ?)")
        for (feature, stats) in statistics.sorted(by: { $0.key < $1.key }) {
            try insert.execute(arguments: [run, feature, try StatisticsText.encode(stats)])
        }
    }

    /// What the view version's last run stored, if it stored statistics (a run recorded before
    /// Larder kept them did not: then there is nothing to merge into).
    static func lastRunStatistics(_ db: Database, view: String, version: Int) throws -> RunStatistics.Stored? {
        guard let last = try runs(db, where: "view = ? AND version = ?", [view, version], limit: 1).first, last.newestEvent != nil
        else { return nil }
        return RunStatistics.Stored(features: last.statistics, newestEvent: last.newestEvent?.microseconds)
    }

    /// Reads the whole feature table into `statistics`, after a run that could not observe it.
    static func scanStatistics(_ db: Database, table: FeatureTable, into statistics: inout RunStatistics) throws {
        statistics.startScan()
        let features = statistics.features.map { table.view.features[$0.position] }
        let select = try db.makeStatement(
            sql: "SELECT _event_ts\(features.map { ", " + $0.name }.joined()) FROM \(table.name)")
        let s = select.sqliteStatement
        try withExtendedLifetime(select) {
            while try SQLiteValues.step(s, reading: "feature table \(table.name)") {
                statistics.observe(eventTime: sqlite3_column_int64(s, 0))
                for (index, feature) in features.enumerated() {
                    statistics.observe(SQLiteValues.read(s, Int32(index + 1), as: feature.type), feature: index)
                }
            }
        }
    }

    static func runs(
        _ db: Database, where condition: String, _ arguments: StatementArguments, limit: Int, oldestFirst: Bool = false,
        withStatistics: Bool = true
    ) throws -> [MaterializationRun] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM larder_materialization_runs WHERE \(condition)
                ORDER BY id \(oldestFirst ? "ASC" : "DESC") LIMIT \(max(limit, 0))
                """,
            arguments: arguments)
        return try rows.map { row in
            let id: Int64 = row["id"]
            var statistics: [String: FeatureStatistics] = [:]
            for stored in try !withStatistics
                ? []
                : Row.fetchAll(
                    db, sql: "SELECT feature, statistics FROM larder_feature_statistics WHERE run_id = ?", arguments: [id])
            {
                statistics[stored["feature"]] = try StatisticsText.decode(stored["statistics"], run: id, feature: stored["feature"])
            }
            return MaterializationRun(
                id: id, view: row["view"], version: row["version"], incremental: (row["incremental"] as Int) != 0,
                rangeStart: Timestamp(microseconds: row["range_start"]), rangeEnd: Timestamp(microseconds: row["range_end"]),
                rows: row["rows"], startedAt: Timestamp(microseconds: row["started_at"]),
                finishedAt: Timestamp(microseconds: row["finished_at"]),
                newestEvent: (row["newest_event"] as Int64?).map(Timestamp.init(microseconds:)), statistics: statistics)
        }
    }
}

/// The one check of a pinned statistics reference, for both stores.
package enum RunReference {
    /// - Parameter owner: the run's view, version and whether it recorded statistics; nil when
    ///   there is no such run.
    package static func check(run: Int64, view: String, version: Int, owner: (view: String, version: Int, hasStatistics: Bool)?) throws {
        guard let owner else { throw OfflineStoreError("there is no materialization run \(run)") }
        guard owner.view == view && owner.version == version else {
            throw OfflineStoreError(
                "materialization run \(run) is a run of \(owner.view) v\(owner.version), not of \(view) v\(version)")
        }
        guard owner.hasStatistics else {
            throw OfflineStoreError("materialization run \(run) was recorded before Larder kept statistics: it cannot be a reference")
        }
    }
}
