import GRDB
import GRDBSQLite
import LarderCore

/// The core of a training set, whatever its request rows come from and wherever its rows go:
/// for each request row (keys, T), each view's row with the greatest event time `<= T` (ties:
/// greatest created time, then latest ingested), null when none or older than the view's ttl;
/// the view's aggregations at T; on-demand features on the joined row. Request rows come from
/// a ``TrainingRequestSource`` (a file, or rows in memory); each joined row goes to an `emit`
/// closure (a ``TableWriter``, or an array).
///
/// It lives inside one read transaction (``init(_:_:features:)`` takes its `Database`), so a
/// materialization committing meanwhile is not seen half-way.
struct PointInTimeJoin {
    /// What the join reads from the registry, outside its snapshot: the plan of the features
    /// and each view as registered, with its source.
    struct Registered {
        let plan: FeaturePlan
        let views: [(view: FeatureView, spec: FeatureViewSpec, version: Int, source: SourceSpec)]

        /// Refuses on-demand views and feature views whose compiled definition is not the
        /// registered one.
        init(store: OfflineStore, repository: FeatureRepository, features: [ResolvedFeature]) throws {
            do {
                plan = try FeaturePlan(repository: repository, features: features)
            } catch {
                throw OfflineStoreError(error.description)
            }
            for odfv in plan.onDemandViews { try store.requireRegistered(odfv) }
            views = try plan.views.map { view in
                let (spec, version) = try store.registeredView(view)
                return (view: view, spec: spec, version: version, source: try store.registry.source(named: spec.source))
            }
        }
    }

    /// A feature view taking part, with its lookup statement.
    struct ViewJoin {
        let spec: FeatureViewSpec
        let version: Int
        let table: FeatureTable
        let state: MaterializationState
        /// Where the view's features start in the joined row.
        let offset: Int
        var keyColumns: [Int] = []
        /// The prepared lookup; holding the GRDB statement keeps the SQLite one alive.
        var statement: Statement? = nil
        /// The view's aggregations, when it has any.
        var aggregation: AggregationJoin? = nil
        /// Their values per request row (`row * count + a`), computed before rows are emitted.
        var aggregates: [Value] = []

        /// Where the aggregation values start in the joined row.
        var aggregationOffset: Int { offset + spec.features.count }
    }

    /// Where the join finds its inputs among the request columns (``bind(columns:file:timestampColumn:)``).
    struct Binding {
        let timestamp: Int
        let timestampName: String
        /// The column of each of the plan's request fields.
        let fields: [Int]
    }

    let plan: FeaturePlan
    private(set) var joins: [ViewJoin]

    /// Each view must be materialized, with no rows waiting to be; prepares its lookup and
    /// its aggregations (only those `features` need, directly or through on-demand features).
    init(_ db: Database, _ registered: Registered, features: [ResolvedFeature]) throws {
        let plan = registered.plan
        self.plan = plan
        var needed = Set(features.filter { !$0.isOnDemand }.map(\.feature))
        for odfv in plan.onDemandViews {
            for feature in odfv.features {
                for input in feature.transformation.inputs { needed.insert(String(input.key.split(separator: ":").last!)) }
            }
        }
        joins = []
        for (i, (view, spec, version, source)) in registered.views.enumerated() {
            let name = view.name
            guard let state = try OfflineStore.state(db, view: name, version: version) else {
                throw OfflineStoreError(
                    "feature view \(name) (v\(version)) has not been materialized; run `larder materialize --views \(name)`")
            }
            let pending =
                try Int.fetchOne(
                    // By `_seq` (the rowid): through the event-time index SQLite would scan all of it.
                    db, sql: "SELECT count(*) FROM source_\(source.name) NOT INDEXED WHERE _seq > ? AND \(source.eventTimestamp) < ?",
                    arguments: [state.seqWatermark, state.end.microseconds]) ?? 0
            if pending > 0 {
                throw OfflineStoreError(
                    "\(pending) rows were ingested into \(source.name) after feature view \(name) was last materialized; run `larder materialize --incremental`"
                )
            }
            var join = ViewJoin(
                spec: spec, version: version, table: FeatureTable(view: spec, version: version), state: state,
                offset: plan.viewOffsets[i],
                aggregation: view.aggregations.isEmpty
                    ? nil
                    : Optional(try AggregationJoin(db, view: view, spec: spec, source: source, needed: needed)).flatMap {
                        $0.layout.isEmpty ? nil : $0
                    })
            join.statement = try db.makeStatement(sql: join.table.lookupSQL)
            joins.append(join)
        }
    }

    /// Finds the instant, each view's join keys and each request field among `columns`.
    ///
    /// - Parameter file: the request file, named by a missing column's error (nil in memory).
    mutating func bind(columns: [String], file: String?, timestampColumn: String) throws -> Binding {
        func missing(_ reason: String) -> any Error {
            if let file { return IngestError(file: file, line: 1, reason: reason) }
            return OfflineStoreError(reason)
        }
        guard let timestamp = columns.firstIndex(of: timestampColumn) else {
            throw missing(
                "no '\(timestampColumn)' column: the request file needs the instant of each row (or pass --timestamp-column NAME)")
        }
        for i in joins.indices {
            let spec = joins[i].spec
            joins[i].keyColumns = try spec.joinKeys.map { key in
                guard let c = columns.firstIndex(of: key.name) else {
                    throw missing(
                        "no '\(key.name)' column: feature view \(spec.name) is keyed by \(spec.joinKeys.map(\.name).joined(separator: ", "))"
                    )
                }
                return c
            }
        }
        let fields = try plan.requestFields.map { field in
            guard let c = columns.firstIndex(of: field.key) else {
                throw missing("no '\(field.key)' column: on-demand features read the request field \(field.key) (\(field.type))")
            }
            return c
        }
        return Binding(timestamp: timestamp, timestampName: timestampColumn, fields: fields)
    }

    /// Joins every row of `requests` and passes it to `emit` with its joined row (read the
    /// requested features from it with ``FeaturePlan/value(_:in:)``), in request order.
    ///
    /// - Parameter rewind: the same rows from the first again. Aggregations need each
    ///   entity's instants in order (see ``AggregationJoin``), so with any they are read
    ///   twice: a first pass collects the instants, the second emits.
    mutating func join<Source: TrainingRequestSource>(
        _ requests: inout Source, _ binding: Binding, rewind: () throws -> Source, emit: (Source, [Value]) throws -> Void
    ) throws {
        if joins.contains(where: { $0.aggregation != nil }) {
            var collected = [AggregationJoin.Requests](repeating: [:], count: joins.count)
            var pass = try rewind()
            var rows = 0
            while try pass.next() {
                let t = try Self.instant(pass, binding, row: rows)
                for (j, join) in joins.enumerated() where join.aggregation != nil {
                    try Self.checkCovered(join, at: t, location: pass.location)
                    let keys = try Self.keys(pass, join: join, row: rows)
                    collected[j][keys, default: []].append((t.microseconds, rows))
                }
                rows += 1
            }
            for j in joins.indices { joins[j].aggregates = try joins[j].aggregation?.compute(collected[j], rows: rows) ?? [] }
        }
        let featureCount = plan.viewValueCount
        let requestFields = plan.requestFields
        var row = plan.emptyRow()
        var rowNumber = 0
        while try requests.next() {
            let t = try Self.instant(requests, binding, row: rowNumber)
            for join in joins {
                try Self.checkCovered(join, at: t, location: requests.location)
                let keys = try Self.keys(requests, join: join, row: rowNumber)
                try Self.lookUp(join, keys: keys, at: t, into: &row)
                if let aggregation = join.aggregation {
                    let count = aggregation.layout.aggregations.count
                    for (a, p) in aggregation.positions.enumerated() {
                        row[join.aggregationOffset + a] = p.map { join.aggregates[rowNumber * count + $0] } ?? .null
                    }
                }
            }
            for (k, c) in binding.fields.enumerated() {
                row[featureCount + k] = try requests.value(c, as: requestFields[k].type)
            }
            try emit(requests, row)
            rowNumber += 1
        }
    }

    /// An error in a request row: the file and line for a file, the row number in memory.
    private static func rowError(_ location: (file: String, line: Int)?, row: Int, column: String, _ reason: String) -> any Error {
        if let location { return IngestError(file: location.file, line: location.line, column: column, reason: reason) }
        return OfflineStoreError("request row \(row + 1), column '\(column)': \(reason)")
    }

    /// The request row's instant.
    private static func instant<Source: TrainingRequestSource>(_ requests: Source, _ binding: Binding, row: Int) throws -> Timestamp {
        guard case .timestamp(let t) = try requests.value(binding.timestamp, as: .timestamp) else {
            throw rowError(requests.location, row: row, column: binding.timestampName, "empty; every request row needs an instant")
        }
        return t
    }

    /// The request row's entity keys for a view.
    private static func keys<Source: TrainingRequestSource>(_ requests: Source, join: ViewJoin, row: Int) throws -> [Value] {
        try join.spec.joinKeys.enumerated().map { k, key in
            let v = try requests.value(join.keyColumns[k], as: key.type)
            if v.isNull {
                throw rowError(requests.location, row: row, column: key.name, "empty; every request row needs its entity key")
            }
            return v
        }
    }

    /// The point-in-time values of one view's row features for `keys` at `t`, written into `row`.
    static func lookUp(_ join: ViewJoin, keys: [Value], at t: Timestamp, into row: inout [Value]) throws {
        let s = join.statement!.sqliteStatement
        for (i, key) in keys.enumerated() { SQLiteValues.bind(s, Int32(i + 1), key) }
        sqlite3_bind_int64(s, Int32(keys.count + 1), t.microseconds)
        defer { sqlite3_reset(s) }
        if try SQLiteValues.step(s, reading: join.table.name),
            FeatureRow.isFresh(eventTime: sqlite3_column_int64(s, 0), at: t.microseconds, ttl: join.spec.ttlMicroseconds)
        {
            for (i, feature) in join.spec.features.enumerated() {
                row[join.offset + i] = SQLiteValues.read(s, Int32(i + 1), as: feature.type)
            }
        } else {
            for i in join.spec.features.indices { row[join.offset + i] = .null }
        }
    }

    /// Refuses an instant the view's materialization does not cover; the error names the
    /// request file's line when there is one.
    static func checkCovered(_ join: ViewJoin, at t: Timestamp, location: (file: String, line: Int)?) throws {
        guard t >= join.state.end else { return }
        let message =
            "the request instant \(t) is at or after the end of what feature view \(join.spec.name) has materialized (\(join.state.end)); run `larder materialize --incremental`, or `larder materialize --end T` past it"
        if let location { throw IngestError(file: location.file, line: location.line, reason: message) }
        throw OfflineStoreError(message)
    }
}
