import LarderCore
import LarderOffline
import Logging
import PostgresNIO

extension PostgresStore {
    /// Builds the training set `request` describes, writing `request.output` and its manifest:
    /// the SQLite store's rule, columns and bytes (see `TrainingSetBuilder`), each chunk of
    /// request rows joined in the database (``PostgresLookups``), in one snapshot.
    ///
    /// - Throws: ``OfflineStoreError`` or `IngestError` naming the problem; nothing is left at
    ///   the output path then.
    public func buildTrainingSet(
        _ request: TrainingSetRequest, repository: FeatureRepository, progress: (@Sendable (TrainingSetProgress) -> Void)? = nil
    ) async throws -> TrainingSetSummary {
        try await withTrainingSet(of: request.features, repository: repository) { join in
            try await join.build(request, progress: progress)
        }
    }

    /// The point-in-time values of `features` for request rows in memory, one array per row,
    /// as ``buildTrainingSet(_:repository:progress:)`` computes them (what `larder verify`
    /// compares).
    public func trainingSetValues(
        of features: [ResolvedFeature], for rows: RequestRows, timestampColumn: String, repository: FeatureRepository
    ) async throws -> [[Value]] {
        try await withTrainingSet(of: features, repository: repository) { join in
            try await join.values(for: rows, timestampColumn: timestampColumn)
        }
    }

    /// Runs `body` with the join of `features`, inside one read-only snapshot: the views as
    /// registered (refused unless compiled as registered), materialized, with no rows ingested
    /// since.
    func withTrainingSet<T: Sendable>(
        of features: [ResolvedFeature], repository: FeatureRepository,
        _ body: @Sendable (ChunkedTrainingSet<PostgresLookups>) async throws -> T
    ) async throws -> T {
        guard !features.isEmpty else { throw OfflineStoreError("no features requested") }
        let plan: FeaturePlan
        do {
            plan = try FeaturePlan(repository: repository, features: features)
        } catch {
            throw OfflineStoreError(error.description)
        }
        let needed = PointInTimeJoin.neededAggregations(features, plan: plan)
        return try await transaction("building a training set", readOnly: true) { connection in
            let registered = try await PostgresRegistry.definitions(connection, store: self)
            let byName = Dictionary(registered.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            for odfv in plan.onDemandViews { try OfflineStore.requireRegistered(odfv, registered: byName[odfv.name]) }
            var views: [ChunkedView] = []
            for (i, view) in plan.views.enumerated() {
                let (spec, version) = try OfflineStore.registeredView(view, registered: byName[view.name])
                let source = try RegisteredDefinition.source(named: spec.source, in: registered)
                guard let state = try await Self.state(connection, view: view.name, version: version, logger: self.logger) else {
                    throw PointInTimeJoin.notMaterialized(view: view.name, version: version)
                }
                let pending =
                    try await Self.int64(
                        connection,
                        "SELECT count(*) FROM source_\(source.name) WHERE _seq > \(state.seqWatermark) AND \(source.eventTimestamp) < \(state.end.microseconds)",
                        logger: self.logger) ?? 0
                if pending > 0 { throw PointInTimeJoin.rowsPending(Int(pending), source: source.name, view: view.name) }
                let aggregation =
                    view.aggregations.isEmpty
                    ? nil : try AggregationRead(view: view, spec: spec, source: source, needed: needed)
                views.append(
                    ChunkedView(
                        spec: spec, version: version, table: PostgresFeatureTable(view: spec, version: version).name, state: state,
                        offset: plan.viewOffsets[i], aggregation: aggregation.flatMap { $0.layout.isEmpty ? nil : $0 }))
            }
            // A second connection in the same snapshot (exported, as pg_dump's workers share
            // one) takes half of each chunk's lookups: a server process works on one core.
            var snapshot = ""
            for try await id in try await connection.query("SELECT pg_export_snapshot()", logger: self.logger).decode(String.self) {
                snapshot = id
            }
            let id = snapshot
            return try await self.client.withConnection { helper in
                try await helper.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: self.logger)
                do {
                    try await helper.query(PostgresQuery(unsafeSQL: "SET TRANSACTION SNAPSHOT '\(id)'"), logger: self.logger)
                    let lookups = PostgresLookups(connection: connection, helper: helper, logger: self.logger)
                    let result = try await body(ChunkedTrainingSet(plan: plan, views: views, lookups: lookups))
                    try await helper.query("COMMIT", logger: self.logger)
                    return result
                } catch {
                    _ = try? await helper.query("ROLLBACK", logger: self.logger)
                    throw error
                }
            }
        }
    }
}

/// A training set's lookups in PostgreSQL, on the connection of its snapshot (and a helper in
/// the same snapshot): one query per view per chunk of request rows (per half, on each
/// connection), the request rows sent as arrays (`unnest`), so the point-in-time join runs in
/// the database over the view's (keys, event time) index.
package struct PostgresLookups: ChunkedLookups, Sendable {
    let connection: PostgresConnection
    /// Takes half of each large chunk's row lookups.
    let helper: PostgresConnection?
    let logger: Logger

    /// Chunks smaller than this are looked up on one connection.
    static let splitAt = 2_000

    /// For each request row, a `LATERAL` subquery takes the view's last row at or before its
    /// instant in the SQLite store's order: event time, created time (PostgreSQL puts NULL
    /// first in a descending order, SQLite last: hence `NULLS LAST`), `_seq`. Rows without
    /// one are absent from the answer (null); freshness is decided here, by the one rule.
    package func rowFeatures(of view: ChunkedView, keys: [[Value]], instants: [Int64]) async throws -> [Value] {
        let count = view.spec.features.count
        // Sent in key and time order, so neighbouring lookups share index pages.
        let order = keys.indices.sorted { a, b in
            let c = PointInTimeJoin.compare(keys[a], keys[b])
            return c != 0 ? c < 0 : instants[a] < instants[b]
        }
        guard let helper, order.count >= Self.splitAt else {
            var values = [Value](repeating: .null, count: instants.count * count)
            try await lookUp(view, order[...], keys: keys, instants: instants, on: connection, into: &values)
            return values
        }
        let half = order.count / 2
        async let second = lookUp(view, order[half...], keys: keys, instants: instants, on: helper)
        var values = [Value](repeating: .null, count: instants.count * count)
        try await lookUp(view, order[..<half], keys: keys, instants: instants, on: connection, into: &values)
        let theirs = try await second
        for i in order[half...] {
            for f in 0..<count { values[i * count + f] = theirs[i * count + f] }
        }
        return values
    }

    /// ``lookUp(_:_:keys:instants:on:into:)`` into values of its own.
    private func lookUp(
        _ view: ChunkedView, _ rows: ArraySlice<Int>, keys: [[Value]], instants: [Int64], on connection: PostgresConnection
    ) async throws -> [Value] {
        var values = [Value](repeating: .null, count: instants.count * view.spec.features.count)
        try await lookUp(view, rows, keys: keys, instants: instants, on: connection, into: &values)
        return values
    }

    /// The lookups of request rows `rows` (indexes into `keys` and `instants`) on `connection`,
    /// written into `values[i * featureCount + f]`.
    private func lookUp(
        _ view: ChunkedView, _ rows: ArraySlice<Int>, keys: [[Value]], instants: [Int64], on connection: PostgresConnection,
        into values: inout [Value]
    ) async throws {
        let spec = view.spec
        let count = spec.features.count
        var bindings = PostgresBindings()
        bindings.append(rows.map { Int32($0) })
        bindings.append(rows.map { instants[$0] })
        for (k, key) in spec.joinKeys.enumerated() { try Self.appendArray(rows.map { keys[$0][k] }, of: key, to: &bindings) }
        let keyNames = spec.joinKeys.map(\.name)
        let arrays = ["$1::int4[]", "$2::int8[]"] + spec.joinKeys.enumerated().map { k, key in "$\(k + 3)::\(Self.arrayType(key.type))" }
        let features = spec.features.map { "f.\($0.name)" }.joined(separator: ", ")
        let sql = """
            SELECT r._row, f._event_ts\(count > 0 ? ", " + features : "")
            FROM unnest(\(arrays.joined(separator: ", "))) AS r(_row, _at, \(keyNames.map { "_k_\($0)" }.joined(separator: ", ")))
            CROSS JOIN LATERAL (
                SELECT * FROM \(view.table)
                WHERE \(keyNames.map { "\($0) = r._k_\($0)" }.joined(separator: " AND ")) AND _event_ts <= r._at
                ORDER BY _event_ts DESC, _created_ts DESC NULLS LAST, _seq DESC LIMIT 1
            ) f
            """
        let types = spec.features.map(\.type)
        let ttl = spec.ttlMicroseconds
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await row in result {
            let cells = row.makeRandomAccess()
            let i = Int(try cells[0].decode(Int32.self))
            let eventTime = try cells[1].decode(Int64.self)
            guard FeatureRow.isFresh(eventTime: eventTime, at: instants[i], ttl: ttl) else { continue }
            for f in 0..<count { values[i * count + f] = try cells[2 + f].value(as: types[f]) }
        }
    }

    /// Each entity's source rows in its windows' reach, `[earliest window start, last
    /// instant]`, read for up to 10,000 entities per query in entity then event order, and
    /// swept in Swift (the sums are exact, which SQL's are not).
    package func aggregates(of view: ChunkedView, requests: AggregationRead.Requests, rows: Int) async throws -> [Value] {
        let read = view.aggregation!
        let source = read.source
        var results = read.emptyResults(rows: rows)
        var sweep = WindowSweep(layout: read.layout)
        var events = KeyEvents(inputCount: read.layout.inputs.count)
        let entities = requests.map { (keys: $0.key, instants: $0.value.sorted { $0.t < $1.t }) }
        let keyNames = read.spec.joinKeys.map(\.name)
        let ts = source.eventTimestamp
        let created = source.createdTimestamp.map { "s.\($0)" } ?? "NULL::int8"
        let order = source.createdTimestamp.map { "r._n, s.\(ts), s.\($0) NULLS FIRST, s._seq" } ?? "r._n, s.\(ts), s._seq"
        let arrays =
            ["$1::int4[]", "$2::int8[]", "$3::int8[]"]
            + read.spec.joinKeys.enumerated().map { k, key in "$\(k + 4)::\(Self.arrayType(key.type))" }
        let sql = """
            SELECT r._n, s._seq, s.\(ts), \(created)\(read.columns.map { ", s.\($0.name)" }.joined())
            FROM unnest(\(arrays.joined(separator: ", "))) AS r(_n, _from, _through, \(keyNames.map { "_k_\($0)" }.joined(separator: ", ")))
            JOIN source_\(source.name) s ON \(keyNames.map { "s.\($0) = r._k_\($0)" }.joined(separator: " AND "))
                AND s.\(ts) >= r._from AND s.\(ts) <= r._through
            ORDER BY \(order)
            """
        for batchStart in stride(from: 0, to: entities.count, by: 10_000) {
            let batch = entities[batchStart..<min(batchStart + 10_000, entities.count)]
            var bindings = PostgresBindings()
            bindings.append(batch.indices.map { Int32($0 - batchStart) })
            bindings.append(batch.map { read.earliestStart($0.instants.first!.t) })
            bindings.append(batch.map { $0.instants.last!.t })
            for (k, key) in read.spec.joinKeys.enumerated() { try Self.appendArray(batch.map { $0.keys[k] }, of: key, to: &bindings) }
            // Entities are swept in order; one without rows is swept with no events.
            var next = 0
            var current = -1
            var event: AggregationRead.EventBuffer? = nil
            func finish(through last: Int) {
                while next <= last {
                    if next != current { events.removeAll() }
                    read.sweep(&sweep, events, at: batch[batchStart + next].instants, into: &results)
                    next += 1
                }
            }
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            for try await row in rows {
                let cells = row.makeRandomAccess()
                let n = Int(try cells[0].decode(Int32.self))
                if n != current {
                    finish(through: n - 1)
                    current = n
                    events.removeAll()
                    event = read.eventBuffer(keys: batch[batchStart + n].keys)
                }
                for (i, column) in read.columns.enumerated() { event!.row[i] = try cells[4 + i].value(as: column.type) }
                let createdTime: Int64? = try cells[3].decode(Int64?.self)
                read.append(
                    &event!,
                    order: EventOrder(
                        eventTime: try cells[2].decode(Int64.self), createdTime: createdTime, sequence: try cells[1].decode(Int64.self)),
                    to: &events)
            }
            finish(through: batch.count - 1)
        }
        return results
    }

    /// The union of the views' keys with a row at or before `at`, through a cursor, 10,000 at
    /// a time, in SQLite's order (`COLLATE "C"`: strings by their bytes).
    package func entities(of views: [ChunkedView], at: Timestamp, _ body: ([[Value]]) async throws -> Void) async throws {
        let keys = views[0].spec.joinKeys
        let names = keys.map(\.name).joined(separator: ", ")
        let union = views.map { "SELECT DISTINCT \(names) FROM \($0.table) WHERE _event_ts <= \(at.microseconds)" }
            .joined(separator: " UNION ")
        let order = keys.map { $0.type == .string ? "\($0.name) COLLATE \"C\"" : $0.name }.joined(separator: ", ")
        try await connection.query(
            PostgresQuery(unsafeSQL: "DECLARE larder_entities NO SCROLL CURSOR FOR SELECT * FROM (\(union)) e ORDER BY \(order)"),
            logger: logger)
        while true {
            var batch: [[Value]] = []
            for try await row in try await connection.query("FETCH 10000 FROM larder_entities", logger: logger) {
                let cells = row.makeRandomAccess()
                batch.append(try keys.enumerated().map { k, key in try cells[k].value(as: key.type) })
            }
            if batch.isEmpty { break }
            try await body(batch)
        }
        try await connection.query("CLOSE larder_entities", logger: logger)
    }

    /// The PostgreSQL array type a key column's values are sent as.
    static func arrayType(_ type: ValueType) -> String {
        switch type {
        case .int64, .timestamp: "int8[]"
        case .double: "float8[]"
        case .bool: "bool[]"
        default: "text[]"
        }
    }

    /// Appends `values` (one key column's, never null) as one array parameter.
    static func appendArray(_ values: [Value], of key: ColumnSpec, to bindings: inout PostgresBindings) throws {
        func fail(_ value: Value) -> OfflineStoreError {
            OfflineStoreError("join key \(key.name) is a \(key.type), got \(value)")
        }
        switch key.type {
        case .int64, .timestamp:
            bindings.append(
                try values.map { v -> Int64 in
                    switch v {
                    case .int64(let x): return x
                    case .timestamp(let t): return t.microseconds
                    default: throw fail(v)
                    }
                })
        case .double: bindings.append(try values.map { v -> Double in if case .double(let x) = v { return x } else { throw fail(v) } })
        case .bool: bindings.append(try values.map { v -> Bool in if case .bool(let x) = v { return x } else { throw fail(v) } })
        case .string: bindings.append(try values.map { v -> String in if case .string(let x) = v { return x } else { throw fail(v) } })
        default: throw OfflineStoreError("join key \(key.name) has the list type \(key.type)")
        }
    }
}
