import Foundation
import GRDB
import GRDBSQLite
import LarderCore

/// Which source rows a materialization run covers.
public enum MaterializationMode: Sendable {
    /// Source rows with an event time in `start..<end`; `nil` start means the source's
    /// first event, `nil` end means now.
    case range(start: Timestamp?, end: Timestamp?)
    /// Rows ingested since the last run (any event time: late arrivals included) and rows
    /// whose event time has come since, up to `end` (now by default).
    case incremental(end: Timestamp?)
}

/// How far a materialization got, for a progress bar.
public struct MaterializationProgress: Sendable {
    public var view: String
    public var rows: Int
    public var totalRows: Int

    package init(view: String, rows: Int, totalRows: Int) {
        self.view = view
        self.rows = rows
        self.totalRows = totalRows
    }
}

/// One view's materialization run.
public struct MaterializationSummary: Sendable {
    public var view: String
    public var version: Int
    public var rows: Int
    /// Aggregation tiles (re)built.
    public var tiles: Int
    /// The earliest event time whose hop's tiles the run rebuilt (nil: none).
    public var tilesFrom: Int64?
    public var seconds: Double
    /// Of ``seconds``, the time the tiles took (zero for a view without aggregations).
    public var tileSeconds: Double
    public var state: MaterializationState
    public var incremental: Bool
    /// The run's id in the registry (``MaterializationRun/id``): aggregation statistics are
    /// recorded under it after the run.
    public var runID: Int64

    package init(
        view: String, version: Int, rows: Int, tiles: Int, tilesFrom: Int64?, seconds: Double, tileSeconds: Double,
        state: MaterializationState, incremental: Bool, runID: Int64
    ) {
        self.view = view
        self.version = version
        self.rows = rows
        self.tiles = tiles
        self.tilesFrom = tilesFrom
        self.seconds = seconds
        self.tileSeconds = tileSeconds
        self.state = state
        self.incremental = incremental
        self.runID = runID
    }
}

extension OfflineStore {
    /// The materialization state of a view version, if it was ever materialized.
    public func materializationState(view: String, version: Int) async throws -> MaterializationState? {
        try await reading { try self.materializationState(view: view, version: version) }
    }

    /// The blocking body of the async ``materializationState(view:version:)``, run on ``Blocking``'s pool.
    func materializationState(view: String, version: Int) throws -> MaterializationState? {
        try db.read { db in try Self.state(db, view: view, version: version) }
    }

    static func state(_ db: Database, view: String, version: Int) throws -> MaterializationState? {
        try Row.fetchOne(db, sql: "SELECT * FROM larder_materializations WHERE view = ? AND version = ?", arguments: [view, version]).map {
            MaterializationState(
                view: $0["view"], version: $0["version"], start: Timestamp(microseconds: $0["covered_start"]),
                end: Timestamp(microseconds: $0["covered_end"]), seqWatermark: $0["seq_watermark"],
                updatedAt: Timestamp(microseconds: $0["updated_at"]))
        }
    }

    /// Runs the view's row transformations over its source rows and stores the results in the
    /// view's offline feature table, in one transaction: a run that is interrupted leaves
    /// nothing, and running it again gives the same table.
    public func materialize(
        _ view: FeatureView,
        mode: MaterializationMode,
        now: Timestamp = .now(),
        progress: (@Sendable (MaterializationProgress) -> Void)? = nil
    ) async throws -> MaterializationSummary {
        try await writing { try self.materialize(view, mode: mode, now: now, progress: progress) }
    }

    /// The blocking body of the async ``materialize(_:mode:now:progress:)``, run on ``Blocking``'s pool.
    ///
    /// - Parameter tilesOnSecondConnection: whether the tiles are built on a second connection
    ///   (tests force it either way); by default when the run reads 100,000 rows or more.
    func materialize(
        _ view: FeatureView,
        mode: MaterializationMode,
        now: Timestamp = .now(),
        progress: (@Sendable (MaterializationProgress) -> Void)? = nil,
        tilesOnSecondConnection: Bool? = nil
    ) throws -> MaterializationSummary {
        let (spec, version) = try registeredView(view)
        let source = try registry.source(named: spec.source)
        let table = FeatureTable(view: spec, version: version)
        let sourceTable = SourceTable(spec: source)
        let started = Date()

        // Bound to the source row layout (the declared columns, in order), once: the loop
        // below uses the key positions and evaluators directly.
        let projector: RowProjector
        do {
            projector = try RowProjector(view: view, columns: source.columns.map(\.name))
        } catch {
            throw OfflineStoreError(error.description)
        }
        let evaluators = projector.evaluators
        let keyPositions = projector.keyPositions

        return try writeTransaction("materialization of \(spec.name) v\(version)") { db in
            try db.execute(sql: table.createTable)
            let ts = source.eventTimestamp
            let maxSeq = try Int64.fetchOne(db, sql: "SELECT max(_seq) FROM \(sourceTable.name)") ?? 0
            let firstEvent = try Int64.fetchOne(db, sql: "SELECT min(\(ts)) FROM \(sourceTable.name)")
            let old = try Self.state(db, view: spec.name, version: version)

            var plan = try MaterializationPlan(
                view: spec.name, version: version, mode: mode, old: old, firstEvent: firstEvent, maxSeq: maxSeq, now: now)
            if let (seq, end) = plan.lateRowsAsked {
                plan.lateRows(
                    earliest: try Int64.fetchOne(
                        db, sql: "SELECT min(\(ts)) FROM \(sourceTable.name) NOT INDEXED WHERE _seq > ? AND \(ts) < ?",
                        arguments: [seq, end]))
            }
            // Each pass: its condition, and whether it reads by `_seq` (the rowid) rather than
            // by event time. Without `NOT INDEXED`, SQLite prefers the event-time index for
            // `_seq > ? AND ts < ?` and scans all of it to find the few late rows.
            let passes: [(sql: String, arguments: StatementArguments, bySeq: Bool)] = plan.passes.map { pass in
                switch pass {
                case .eventTimes(let start, let end): ("\(ts) >= ? AND \(ts) < ?", [start, end], false)
                case .ingestedAfter(let seq, let end): ("_seq > ? AND \(ts) < ?", [seq, end], true)
                case .arrivedBetween(let seq, let start, let end): ("_seq <= ? AND \(ts) >= ? AND \(ts) < ?", [seq, start, end], false)
                }
            }
            let (newState, incremental) = (plan.state, plan.incremental)
            let tileRange = (start: plan.tileStart, end: plan.tileEnd)

            var total = 0
            for pass in passes {
                total +=
                    try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM \(sourceTable.name) \(pass.bySeq ? "NOT INDEXED" : "") WHERE \(pass.sql)",
                        arguments: pass.arguments) ?? 0
            }
            // When the run rewrites a large part of the table (a first run, a full re-run), write
            // without the index and rebuild it after, from sorted data: several times faster
            // than updating it row by row in key-random order. Small runs keep it.
            let existing = try Int.fetchOne(db, sql: "SELECT max(_seq) FROM \(table.name)") ?? 0
            var statistics = RunStatistics(
                view: spec, tableWasEmpty: existing == 0, incremental: incremental,
                previous: incremental ? try Self.lastRunStatistics(db, view: spec.name, version: version) : nil)
            let countRows = "SELECT count(*) FROM \(table.name)"
            let rowsBefore = statistics.basis == .previousAndWrittenRows ? try Int.fetchOne(db, sql: countRows) : nil
            // For each evaluator, the index of its feature's statistics (nil: a list).
            let statisticsIndex = evaluators.indices.map { position in statistics.features.firstIndex { $0.position == position } }
            let observing = statistics.observesWrittenRows
            if total * 4 >= existing {
                try db.execute(sql: "DROP INDEX IF EXISTS \(table.indexName)")
            } else {
                try db.execute(sql: table.createIndex)
            }
            // The GRDB statements own the SQLite statements: keep them alive while in use.
            let upsertStatement = try db.makeStatement(sql: table.upsertSQL)
            let upsert = upsertStatement.sqliteStatement
            let stored = sourceTable.storedColumns
            let hasCreated = source.createdTimestamp != nil
            let columnOffset: Int32 = hasCreated ? 3 : 2  // _seq, event time, created?
            var rows = 0
            var values = [Value](repeating: .null, count: source.columns.count)
            // A run that reads a large part of the source reads it in table (ingest) order, not
            // through the event-time index: each page is then read once, sequentially, whatever
            // order the rows were ingested in (through the index, an export grouped by entity is
            // read page-randomly), and the feature table, keyed by `_seq`, is appended in order.
            let inTableOrder = total * 4 >= maxSeq
            for pass in passes {
                let from = "\(sourceTable.name) \(inTableOrder || pass.bySeq ? "NOT INDEXED" : "")"
                let select = try db.makeStatement(
                    sql: "SELECT _seq, \(stored.map(\.name).joined(separator: ", ")) FROM \(from) WHERE \(pass.sql)")
                try select.setArguments(pass.arguments)
                let s = select.sqliteStatement
                try withExtendedLifetime((select, upsertStatement)) {
                    while try SQLiteValues.step(s, reading: "source \(source.name)") {
                        for (i, column) in source.columns.enumerated() {
                            values[i] = SQLiteValues.read(s, columnOffset + Int32(i), as: column.type)
                        }
                        sqlite3_bind_int64(upsert, 1, sqlite3_column_int64(s, 0))
                        var p: Int32 = 2
                        for position in keyPositions {
                            SQLiteValues.bind(upsert, p, values[position])
                            p += 1
                        }
                        let eventTime = sqlite3_column_int64(s, 1)
                        sqlite3_bind_int64(upsert, p, eventTime)
                        if hasCreated && sqlite3_column_type(s, 2) != SQLITE_NULL {
                            sqlite3_bind_int64(upsert, p + 1, sqlite3_column_int64(s, 2))
                        } else {
                            sqlite3_bind_null(upsert, p + 1)
                        }
                        p += 2
                        if observing { statistics.observe(eventTime: eventTime) }
                        for (position, evaluate) in evaluators.enumerated() {
                            let value = evaluate(values)
                            SQLiteValues.bind(upsert, p, value)
                            if observing, let index = statisticsIndex[position] { statistics.observe(value, feature: index) }
                            p += 1
                        }
                        try SQLiteValues.execute(upsert, writing: table.name)
                        rows += 1
                        if rows & 0x3FFF == 0 { progress?(MaterializationProgress(view: spec.name, rows: rows, totalRows: total)) }
                    }
                }
            }
            progress?(MaterializationProgress(view: spec.name, rows: rows, totalRows: total))
            try db.execute(sql: table.createIndex)
            statistics.written(rows: rows, addedRows: try rowsBefore.map { try (Int.fetchOne(db, sql: countRows) ?? 0) - $0 })
            if statistics.basis == .tableScan { try Self.scanStatistics(db, table: table, into: &statistics) }
            let recorded = statistics.result
            // A large run builds its tiles on a second connection, on the other core.
            let secondConnection = !view.tileLayout.isEmpty && (tilesOnSecondConnection ?? (total >= 100_000))
            let reader = secondConnection ? try? openReader() : nil
            let tilesStarted = Date()
            let tiles = try Self.materializeTiles(
                db, view: view, spec: spec, version: version, source: source, start: tileRange.start, end: tileRange.end,
                bulk: total * 4 >= maxSeq, maxSeq: maxSeq, reader: reader)
            let tileSeconds = view.aggregations.isEmpty ? 0 : Date().timeIntervalSince(tilesStarted)

            try db.execute(
                sql: """
                    INSERT INTO larder_materializations (view, version, covered_start, covered_end, seq_watermark, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (view, version) DO UPDATE SET covered_start = excluded.covered_start,
                        covered_end = excluded.covered_end, seq_watermark = excluded.seq_watermark, updated_at = excluded.updated_at
                    """,
                arguments: [
                    spec.name, version, newState.start.microseconds, newState.end.microseconds, newState.seqWatermark, now.microseconds,
                ])
            try db.execute(
                sql: """
                    INSERT INTO larder_materialization_runs
                        (view, version, incremental, range_start, range_end, rows, started_at, finished_at, newest_event)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    spec.name, version, incremental ? 1 : 0, newState.start.microseconds, newState.end.microseconds, rows, now.microseconds,
                    Timestamp.now().microseconds, recorded.newestEvent,
                ])
            let runID = db.lastInsertedRowID
            try Self.insertStatistics(db, run: runID, recorded.features)
            return MaterializationSummary(
                view: spec.name, version: version, rows: rows, tiles: tiles, tilesFrom: tiles > 0 ? tileRange.start : nil,
                seconds: Date().timeIntervalSince(started), tileSeconds: tileSeconds, state: newState,
                incremental: incremental, runID: runID)
        }
    }
}
