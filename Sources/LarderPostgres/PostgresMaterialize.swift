import Foundation
import LarderCore
import LarderOffline
import Logging
import PostgresNIO

extension PostgresStore {
    /// The materialization state of a view version, if it was ever materialized.
    public func materializationState(view: String, version: Int) async throws -> MaterializationState? {
        try await transaction("reading the materialization of \(view) v\(version)", readOnly: true) { connection in
            try await Self.state(connection, view: view, version: version, logger: self.logger)
        }
    }

    static func state(_ connection: PostgresConnection, view: String, version: Int, logger: Logger) async throws -> MaterializationState? {
        let rows = try await connection.query(
            """
            SELECT covered_start, covered_end, seq_watermark, updated_at FROM larder_materializations
            WHERE view = \(view) AND version = \(version)
            """, logger: logger)
        var state: MaterializationState?
        for try await (start, end, seq, updated) in rows.decode((Int64, Int64, Int64, Int64).self) {
            state = MaterializationState(
                view: view, version: version, start: Timestamp(microseconds: start), end: Timestamp(microseconds: end),
                seqWatermark: seq, updatedAt: Timestamp(microseconds: updated))
        }
        return state
    }

    /// Runs the view's row transformations over its source rows into the view's feature table,
    /// and rebuilds the tiles of the hops the run touched, in one transaction, by the rules of
    /// the SQLite store (``MaterializationPlan``, `RowProjector`, `TileFolder`): the same
    /// rows, values and tile bytes.
    ///
    /// The run holds the source's lock (no ingest commits while it reads) and the view's (one
    /// run of a view at a time). It reads the source through a cursor, 10,000 rows at a time,
    /// computes in Swift, and writes each batch with `COPY` (straight into an empty table, else
    /// into a staging table moved in at the end: ``StagedMerge``): memory holds one batch.
    public func materialize(
        _ view: FeatureView, mode: MaterializationMode, now: Timestamp = .now(),
        progress: (@Sendable (MaterializationProgress) -> Void)? = nil
    ) async throws -> MaterializationSummary {
        let started = Date()
        return try await transaction("materialization of \(view.name)") { connection in
            let logger = self.logger
            let registered = try await PostgresRegistry.definitions(connection, store: self)
            let (spec, version) = try OfflineStore.registeredView(view, registered: registered.first { $0.name == view.name })
            let source = try RegisteredDefinition.source(named: spec.source, in: registered)
            try await AdvisoryLock.take("source \(source.name)", on: connection, logger: logger)
            try await AdvisoryLock.take("view \(spec.name)", on: connection, logger: logger)
            let projector: RowProjector
            do {
                projector = try RowProjector(view: view, columns: source.columns.map(\.name))
            } catch {
                throw OfflineStoreError("\(error)")
            }
            let table = PostgresFeatureTable(view: spec, version: version)
            for statement in table.createStatements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }

            let sourceTable = PostgresSourceTable(spec: source).name
            let ts = source.eventTimestamp
            let maxSeq = try await Self.int64(connection, "SELECT coalesce(max(_seq), 0) FROM \(sourceTable)", logger: logger) ?? 0
            let firstEvent = try await Self.int64(connection, "SELECT min(\(ts)) FROM \(sourceTable)", logger: logger)
            let old = try await Self.state(connection, view: spec.name, version: version, logger: logger)
            var plan = try MaterializationPlan(
                view: spec.name, version: version, mode: mode, old: old, firstEvent: firstEvent, maxSeq: maxSeq, now: now)
            if let (seq, end) = plan.lateRowsAsked {
                plan.lateRows(
                    earliest: try await Self.int64(
                        connection, "SELECT min(\(ts)) FROM \(sourceTable) WHERE _seq > \(seq) AND \(ts) < \(end)", logger: logger))
            }
            let conditions = plan.passes.map { pass in
                switch pass {
                case .eventTimes(let start, let end): "\(ts) >= \(start) AND \(ts) < \(end)"
                case .ingestedAfter(let seq, let end): "_seq > \(seq) AND \(ts) < \(end)"
                case .arrivedBetween(let seq, let start, let end): "_seq <= \(seq) AND \(ts) >= \(start) AND \(ts) < \(end)"
                }
            }
            var total = 0
            for condition in conditions {
                total += Int(
                    try await Self.int64(connection, "SELECT count(*) FROM \(sourceTable) WHERE \(condition)", logger: logger) ?? 0)
            }

            // The rows: source columns in, `_seq`, keys, times and features out.
            let stored = SourceTable(spec: source).storedColumns
            let hasCreated = source.createdTimestamp != nil
            let offset = hasCreated ? 3 : 2  // _seq, event time, created?
            let countRows = "SELECT count(*) FROM \(table.name)"
            let existing = Int(try await Self.int64(connection, countRows, logger: logger) ?? 0)
            var statistics = RunStatistics(
                view: spec, tableWasEmpty: existing == 0, incremental: plan.incremental,
                previous: plan.incremental
                    ? try await Self.lastRunStatistics(connection, view: spec.name, version: version, logger: logger) : nil)
            let statisticsIndex = projector.evaluators.indices.map { position in
                statistics.features.firstIndex { $0.position == position }
            }
            let observing = statistics.observesWrittenRows
            let target = try await Self.startCopy(into: table.name, merge: table.merge, existing: existing, on: connection, logger: logger)
            // `_seq`, then the event and created times as raw microseconds, then the declared
            // columns as their types.
            let types = [ValueType.int64] + stored.enumerated().map { i, column in i < offset - 1 ? .int64 : column.type }
            var rows = 0
            let selects = conditions.map { "SELECT _seq, \(stored.map(\.name).joined(separator: ", ")) FROM \(sourceTable) WHERE \($0)" }
            try await self.eachBatchAhead(of: selects, inSnapshotOf: connection) { batch in
                var text: [UInt8] = []
                text.reserveCapacity(batch.count * 64)
                for row in batch {
                    let read = try row.values(as: types)
                    let values = Array(read[offset...])
                    var out: [Value] = [read[0]]
                    out += projector.keyPositions.map { values[$0] }
                    out.append(read[1])
                    out.append(hasCreated ? read[2] : .null)
                    if observing, case .int64(let eventTime) = read[1] { statistics.observe(eventTime: eventTime) }
                    for (position, evaluate) in projector.evaluators.enumerated() {
                        let value = evaluate(values)
                        if observing, let index = statisticsIndex[position] { statistics.observe(value, feature: index) }
                        out.append(PostgresFeatureTable.stored(value))
                    }
                    for (i, value) in out.enumerated() {
                        if i > 0 { text.append(0x09) }
                        guard CopyText.append(value, to: &text) else {
                            throw OfflineStoreError(
                                "materialization of \(spec.name): a feature of the row with _seq \(out[0]) is a string holding the NUL character, which PostgreSQL's text cannot store"
                            )
                        }
                    }
                    text.append(0x0A)
                }
                try await connection.copyFrom(table: target, logger: logger) { writer in
                    try await writer.write(ByteBuffer(bytes: text))
                }
                rows += batch.count
                progress?(MaterializationProgress(view: spec.name, rows: rows, totalRows: total))
            }
            try await Self.finishCopy(
                into: table.name, from: target, merge: table.merge, staged: rows, existing: existing, on: connection, logger: logger)
            if statistics.basis == .previousAndWrittenRows {
                let after = Int(try await Self.int64(connection, countRows, logger: logger) ?? 0)
                statistics.written(rows: rows, addedRows: after - existing)
            }
            if statistics.basis == .tableScan {
                try await Self.scanStatistics(connection, table: table, into: &statistics, logger: logger)
            }
            let recorded = statistics.result
            // A table loaded or largely rewritten has no statistics for the training sets that
            // follow until autovacuum gets to it; sampling it now costs less than they lose.
            if rows > 0, StagedMerge.rewritesMuch(staged: rows, existing: existing) {
                try await connection.query(PostgresQuery(unsafeSQL: "ANALYZE \(table.name)"), logger: logger)
            }

            let tilesStarted = Date()
            let tiles = try await Self.materializeTiles(
                connection, view: view, spec: spec, version: version, source: source, start: plan.tileStart, end: plan.tileEnd,
                logger: logger)
            let tileSeconds = view.aggregations.isEmpty ? 0 : Date().timeIntervalSince(tilesStarted)

            let state = plan.state
            try await connection.query(
                """
                INSERT INTO larder_materializations (view, version, covered_start, covered_end, seq_watermark, updated_at)
                VALUES (\(spec.name), \(version), \(state.start.microseconds), \(state.end.microseconds), \(state.seqWatermark), \(now.microseconds))
                ON CONFLICT (view, version) DO UPDATE SET covered_start = EXCLUDED.covered_start,
                    covered_end = EXCLUDED.covered_end, seq_watermark = EXCLUDED.seq_watermark, updated_at = EXCLUDED.updated_at
                """, logger: logger)
            let inserted = try await connection.query(
                """
                INSERT INTO larder_materialization_runs
                    (view, version, incremental, range_start, range_end, rows, started_at, finished_at, newest_event)
                VALUES (\(spec.name), \(version), \(plan.incremental), \(state.start.microseconds), \(state.end.microseconds), \(rows),
                    \(now.microseconds), \(Timestamp.now().microseconds), \(recorded.newestEvent))
                RETURNING id
                """, logger: logger
            ).decode(Int64.self)
            var runID: Int64 = 0
            for try await id in inserted { runID = id }
            try await Self.insertStatistics(connection, run: runID, recorded.features, logger: logger)
            return MaterializationSummary(
                view: spec.name, version: version, rows: rows, tiles: tiles, tilesFrom: tiles > 0 ? plan.tileStart : nil,
                seconds: Date().timeIntervalSince(started), tileSeconds: tileSeconds, state: state, incremental: plan.incremental,
                runID: runID)
        }
    }

    /// Rebuilds the tiles of every hop holding an event time in `start..<end` from the source
    /// rows in (entity, event time) order, as the SQLite store does. Returns how many.
    static func materializeTiles(
        _ connection: PostgresConnection, view: FeatureView, spec: FeatureViewSpec, version: Int, source: SourceSpec, start: Int64,
        end: Int64, logger: Logger
    ) async throws -> Int {
        guard !view.tileLayout.isEmpty, start < end else { return 0 }
        let table = PostgresTileTable(view: spec, version: version)
        try await connection.query(PostgresQuery(unsafeSQL: table.createTable), logger: logger)
        let builder = try TileBuilder(view: view, spec: spec, source: source, start: start, end: end, bulk: true)
        let keyNames = spec.joinKeys.map(\.name)
        let ts = source.eventTimestamp
        let selected = ["_seq"] + keyNames + [ts, source.createdTimestamp ?? "NULL::bigint"] + builder.columns.map(\.name)
        let select = """
            SELECT \(selected.joined(separator: ", ")) FROM \(PostgresSourceTable(spec: source).name)
            WHERE \(ts) >= \(builder.firstEventTime) AND \(ts) < \(end) ORDER BY \(keyNames.joined(separator: ", ")), \(ts)
            """
        let existing = Int(try await int64(connection, "SELECT count(*) FROM \(table.name)", logger: logger) ?? 0)
        let target = try await startCopy(into: table.name, merge: table.merge, existing: existing, on: connection, logger: logger)
        let types = [ValueType.int64] + spec.joinKeys.map(\.type) + [.int64, .int64] + builder.columns.map(\.type)
        var folder = builder.makeFolder()
        var written = 0
        var pending: [TileBatch] = []
        let keyCount = keyNames.count
        var values = [Value](repeating: .null, count: keyCount + builder.columns.count)
        func write(_ batches: [TileBatch]) async throws {
            var text: [UInt8] = []
            for batch in batches {
                for i in batch.hops.indices {
                    for k in 0..<keyCount {
                        // Keys come from PostgreSQL text, which holds no NUL: append cannot refuse them.
                        _ = CopyText.append(batch.keys[i * keyCount + k], to: &text)
                        text.append(0x09)
                    }
                    text.append(contentsOf: "\(batch.hops[i])\t\(batch.hopStarts[i])\t\(batch.watermarks[i])\t".utf8)
                    CopyText.appendBytes(batch.bytes[(i == 0 ? 0 : batch.ends[i - 1])..<batch.ends[i]], to: &text)
                    text.append(0x0A)
                    written += 1
                }
            }
            guard !text.isEmpty else { return }
            try await connection.copyFrom(table: target, logger: logger) { writer in try await writer.write(ByteBuffer(bytes: text)) }
        }
        try await eachBatch(of: select, on: connection, logger: logger) { rows in
            for row in rows {
                let read = try row.values(as: types)
                for i in 0..<keyCount { values[i] = read[1 + i] }
                for i in builder.columns.indices { values[keyCount + i] = read[3 + keyCount + i] }
                let created = read[2 + keyCount]
                guard case .int64(let sequence) = read[0], case .int64(let eventTime) = read[1 + keyCount] else {
                    throw OfflineStoreError("materialization of \(spec.name): a source row without _seq or event time")
                }
                try folder.add(
                    values, sequence: sequence, eventTime: eventTime, created: created.int64, emit: { pending.append($0) })
            }
            try await write(pending)
            pending.removeAll()
        }
        try folder.finish(emit: { pending.append($0) })
        try await write(pending)
        try await finishCopy(
            into: table.name, from: target, merge: table.merge, staged: written, existing: existing, on: connection, logger: logger)
        return written
    }

    /// Where a run's rows are copied (see ``StagedMerge``): straight into an empty table, its
    /// key and indexes dropped; else into a temporary staging table.
    static func startCopy(
        into table: String, merge: StagedMerge, existing: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> String {
        if existing == 0 {
            for statement in merge.dropKeyAndIndexes { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            return table
        }
        let stage = "larder_stage_\(table)"
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE TEMP TABLE \(stage) (LIKE \(table)) ON COMMIT DROP"), logger: logger)
        return stage
    }

    /// After the copy: the key and indexes built, or the staged rows moved in.
    static func finishCopy(
        into table: String, from target: String, merge: StagedMerge, staged: Int, existing: Int, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let statements =
            target == table ? merge.buildKeyAndIndexes : merge.statements(from: target, staged: staged, existing: existing)
        for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
    }

    /// Runs `selects` in turn through a cursor on a connection of its own, in the snapshot of
    /// `connection`'s transaction (exported to it, so it reads what that transaction reads),
    /// and hands `body` their rows 10,000 at a time, fetching the next batch while `body`
    /// handles one: the server reads the source while the caller computes and writes with
    /// `COPY` on `connection`. Memory holds two batches.
    func eachBatchAhead(
        of selects: [String], inSnapshotOf connection: PostgresConnection, _ body: ([PostgresRow]) async throws -> Void
    ) async throws {
        let logger = self.logger
        var snapshot = ""
        for try await id in try await connection.query("SELECT pg_export_snapshot()", logger: logger).decode(String.self) { snapshot = id }
        let id = snapshot
        try await client.withConnection { reader in
            try await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                try await reader.query(PostgresQuery(unsafeSQL: "SET TRANSACTION SNAPSHOT '\(id)'"), logger: logger)
                for select in selects {
                    try await reader.query(PostgresQuery(unsafeSQL: "DECLARE larder_rows NO SCROLL CURSOR FOR \(select)"), logger: logger)
                    @Sendable func fetch() async throws -> [PostgresRow] {
                        var batch: [PostgresRow] = []
                        batch.reserveCapacity(10_000)
                        for try await row in try await reader.query("FETCH 10000 FROM larder_rows", logger: logger) { batch.append(row) }
                        return batch
                    }
                    var next = Task { try await fetch() }
                    while true {
                        let batch = try await next.value
                        if batch.isEmpty { break }
                        next = Task { try await fetch() }
                        do {
                            try await body(batch)
                        } catch {
                            next.cancel()
                            _ = try? await next.value
                            throw error
                        }
                    }
                    try await reader.query("CLOSE larder_rows", logger: logger)
                }
                try await reader.query("COMMIT", logger: logger)
            } catch {
                _ = try? await reader.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Runs `select` through a cursor and hands `body` its rows 10,000 at a time, so a read of
    /// any size holds one batch; other statements (a COPY) may run between batches.
    static func eachBatch(
        of select: String, on connection: PostgresConnection, logger: Logger,
        _ body: ([PostgresRow]) async throws -> Void
    ) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "DECLARE larder_rows NO SCROLL CURSOR FOR \(select)"), logger: logger)
        while true {
            var batch: [PostgresRow] = []
            batch.reserveCapacity(10_000)
            for try await row in try await connection.query("FETCH 10000 FROM larder_rows", logger: logger) {
                batch.append(row)
            }
            if batch.isEmpty { break }
            try await body(batch)
        }
        try await connection.query("CLOSE larder_rows", logger: logger)
    }

    /// The single BIGINT `sql` returns, or nil (no row, or NULL).
    static func int64(_ connection: PostgresConnection, _ sql: String, logger: Logger) async throws -> Int64? {
        var result: Int64?
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64?.self) {
            result = value
        }
        return result
    }
}

extension PostgresRow {
    /// The row's cells as Larder values, one type per column in order.
    func values(as types: [ValueType]) throws -> [Value] {
        var values: [Value] = []
        values.reserveCapacity(types.count)
        for (cell, type) in zip(self, types) { values.append(try cell.value(as: type)) }
        return values
    }
}

extension PostgresCell {
    /// The cell as a Larder value of `type`: BIGINT for int64 and timestamps (microseconds),
    /// DOUBLE PRECISION, BOOLEAN, TEXT; NULL as ``Value/null``.
    ///
    /// Binary cells of those types are read straight from their bytes (big-endian integers
    /// and IEEE doubles, as PostgreSQL sends them): a materialization reads millions, and
    /// PostgresNIO's general decoding costs several times more.
    func value(as type: ValueType) throws -> Value {
        guard let bytes else { return .null }
        if format == .binary {
            switch (type, dataType) {
            case (.int64, .int8):
                if let v = bytes.getInteger(at: bytes.readerIndex, as: Int64.self) { return .int64(v) }
            case (.timestamp, .int8):
                if let v = bytes.getInteger(at: bytes.readerIndex, as: Int64.self) { return .timestamp(Timestamp(microseconds: v)) }
            case (.double, .float8):
                if let v = bytes.getInteger(at: bytes.readerIndex, as: UInt64.self) { return .double(Double(bitPattern: v)) }
            case (.bool, .bool):
                if let v = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) { return .bool(v != 0) }
            case (.string, .text), (.string, .varchar):
                return .string(String(buffer: bytes))
            default: break
            }
        }
        switch type {
        case .int64: return .int64(try decode(Int64.self))
        case .timestamp: return .timestamp(Timestamp(microseconds: try decode(Int64.self)))
        case .double: return .double(try decode(Double.self))
        case .bool: return .bool(try decode(Bool.self))
        case .string: return .string(try decode(String.self))
        case .int64List, .doubleList, .stringList, .boolList, .timestampList:
            throw OfflineStoreError("a list column cannot be read from PostgreSQL")
        }
    }
}

extension Value {
    fileprivate var int64: Int64? {
        switch self {
        case .int64(let v): v
        case .timestamp(let t): t.microseconds
        default: nil
        }
    }
}
