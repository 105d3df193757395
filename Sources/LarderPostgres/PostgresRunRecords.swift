import LarderCore
import LarderOffline
import Logging
import PostgresNIO

// The materialization runs as the PostgreSQL registry records them, with their statistics,
// and the statistics references: the SQLite store's rules (RunRecords.swift) in PostgreSQL.

extension PostgresStore {
    /// The view version's runs, newest first, at most `limit`, with their statistics unless
    /// `withStatistics` is false.
    public func materializationRuns(view: String, version: Int, limit: Int, withStatistics: Bool) async throws -> [MaterializationRun] {
        try await transaction("reading the materialization runs of \(view) v\(version)", readOnly: true) { connection in
            try await Self.runs(
                connection, "WHERE view = $1 AND version = $2 ORDER BY id DESC LIMIT \(max(limit, 0))", [view, version],
                withStatistics: withStatistics, logger: self.logger)
        }
    }

    /// The run drift is measured against: the pinned one, else the view version's first run
    /// with statistics; nil when it has none.
    public func statisticsReference(view: String, version: Int) async throws -> (run: MaterializationRun, pinned: Bool)? {
        try await transaction("reading the statistics reference of \(view) v\(version)", readOnly: true) { connection in
            let pinned = try await Self.runs(
                connection,
                "WHERE id = (SELECT run_id FROM larder_statistics_references WHERE view = $1 AND version = $2)", [view, version],
                logger: self.logger)
            if let run = pinned.first { return (run, true) }
            let first = try await Self.runs(
                connection, "WHERE view = $1 AND version = $2 AND newest_event IS NOT NULL ORDER BY id LIMIT 1", [view, version],
                logger: self.logger)
            return first.first.map { ($0, false) }
        }
    }

    /// Pins `run` as the view version's statistics reference, or with nil unpins it.
    public func pinStatisticsReference(view: String, version: Int, run: Int64?, at now: Timestamp = .now()) async throws {
        try await transaction("pinning the statistics reference of \(view) v\(version)") { connection in
            let logger = self.logger
            guard let run else {
                try await connection.query(
                    "DELETE FROM larder_statistics_references WHERE view = \(view) AND version = \(version)", logger: logger)
                return
            }
            var owner: (view: String, version: Int, hasStatistics: Bool)?
            for try await (ownerView, ownerVersion, newest) in try await connection.query(
                "SELECT view, version, newest_event FROM larder_materialization_runs WHERE id = \(run)", logger: logger
            ).decode((String, Int, Int64?).self) {
                owner = (ownerView, ownerVersion, newest != nil)
            }
            try RunReference.check(run: run, view: view, version: version, owner: owner)
            try await connection.query(
                """
                INSERT INTO larder_statistics_references (view, version, run_id, pinned_at)
                VALUES (\(view), \(version), \(run), \(now.microseconds))
                ON CONFLICT (view, version) DO UPDATE SET run_id = EXCLUDED.run_id, pinned_at = EXCLUDED.pinned_at
                """, logger: logger)
        }
    }

    /// Adds statistics to a committed run (its aggregation features', computed after it).
    public func recordStatistics(run: Int64, _ statistics: [String: FeatureStatistics]) async throws {
        try await transaction("recording the statistics of materialization run \(run)") { connection in
            try await Self.insertStatistics(connection, run: run, statistics, logger: self.logger)
        }
    }

    static func insertStatistics(
        _ connection: PostgresConnection, run: Int64, _ statistics: [String: FeatureStatistics], logger: Logger
    ) async throws {
        for (feature, stats) in statistics.sorted(by: { $0.key < $1.key }) {
            let text = try StatisticsText.encode(stats)
            try await connection.query(
                """
                INSERT INTO larder_feature_statistics (run_id, feature, statistics) VALUES (\(run), \(feature), \(text))
                ON CONFLICT (run_id, feature) DO UPDATE SET statistics = EXCLUDED.statistics
                """, logger: logger)
        }
    }

    /// What the view version's last run stored, if it stored statistics.
    static func lastRunStatistics(
        _ connection: PostgresConnection, view: String, version: Int, logger: Logger
    ) async throws -> RunStatistics.Stored? {
        let last = try await runs(connection, "WHERE view = $1 AND version = $2 ORDER BY id DESC LIMIT 1", [view, version], logger: logger)
        guard let run = last.first, let newest = run.newestEvent else { return nil }
        return RunStatistics.Stored(features: run.statistics, newestEvent: newest.microseconds)
    }

    /// Reads the whole feature table into `statistics`, after a run that could not observe it.
    static func scanStatistics(
        _ connection: PostgresConnection, table: PostgresFeatureTable, into statistics: inout RunStatistics, logger: Logger
    ) async throws {
        statistics.startScan()
        let features = statistics.features.map { table.view.features[$0.position] }
        let types = [ValueType.int64] + features.map(\.type)
        var scanned = statistics
        try await eachBatch(
            of: "SELECT _event_ts\(features.map { ", " + $0.name }.joined()) FROM \(table.name)", on: connection, logger: logger
        ) { rows in
            for row in rows {
                let values = try row.values(as: types)
                if case .int64(let eventTime) = values[0] { scanned.observe(eventTime: eventTime) }
                for index in features.indices { scanned.observe(values[index + 1], feature: index) }
            }
        }
        statistics = scanned
    }

    /// The runs a condition (with `$1`, `$2` for `arguments`) selects, with their statistics.
    static func runs(
        _ connection: PostgresConnection, _ condition: String, _ arguments: [any PostgresEncodable & Sendable],
        withStatistics: Bool = true, logger: Logger
    ) async throws -> [MaterializationRun] {
        var bindings = PostgresBindings()
        for argument in arguments { try bindings.append(argument) }
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT id, view, version, incremental, range_start, range_end, rows, started_at, finished_at, newest_event
                    FROM larder_materialization_runs \(condition)
                    """, binds: bindings), logger: logger)
        var runs: [MaterializationRun] = []
        for try await (id, view, version, incremental, start, end, count, started, finished, newest) in rows.decode(
            (Int64, String, Int, Bool, Int64, Int64, Int, Int64, Int64, Int64?).self)
        {
            runs.append(
                MaterializationRun(
                    id: id, view: view, version: version, incremental: incremental, rangeStart: Timestamp(microseconds: start),
                    rangeEnd: Timestamp(microseconds: end), rows: count, startedAt: Timestamp(microseconds: started),
                    finishedAt: Timestamp(microseconds: finished), newestEvent: newest.map(Timestamp.init(microseconds:)), statistics: [:]))
        }
        for index in runs.indices where withStatistics {
            let id = runs[index].id
            for try await (feature, text) in try await connection.query(
                "SELECT feature, statistics FROM larder_feature_statistics WHERE run_id = \(id)", logger: logger
            ).decode((String, String).self) {
                runs[index].statistics[feature] = try StatisticsText.decode(text, run: id, feature: feature)
            }
        }
        return runs
    }
}
