import Dispatch
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
package struct PointInTimeJoin {
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

    /// A feature view taking part, with its lookup statement. A class: the join's loops visit
    /// every view for every request row, and copying a struct of this size cost a retain and a
    /// release per field each time (13% of an aggregation training set).
    final class ViewJoin {
        let spec: FeatureViewSpec
        let version: Int
        let table: FeatureTable
        let state: MaterializationState
        /// Where the view's features start in the joined row.
        let offset: Int
        var keyColumns: [Int] = []
        /// The prepared lookup of one row; holding the GRDB statement keeps the SQLite one alive.
        var statement: Statement? = nil
        /// The lookup of many rows at once (a chunk's).
        var finder: FeatureRowFinder? = nil
        /// The view's aggregations, when it has any.
        let aggregation: AggregationJoin?
        /// Their values per request row (`row * count + a`), computed before rows are emitted.
        var aggregates: [Value] = []

        init(
            spec: FeatureViewSpec, version: Int, table: FeatureTable, state: MaterializationState, offset: Int,
            aggregation: AggregationJoin?
        ) {
            self.spec = spec
            self.version = version
            self.table = table
            self.state = state
            self.offset = offset
            self.aggregation = aggregation
        }

        /// Where the aggregation values start in the joined row.
        var aggregationOffset: Int { offset + spec.features.count }
    }

    /// Where the join finds its inputs among the request columns (``bind(columns:file:timestampColumn:)``).
    package struct Binding: Sendable {
        let timestamp: Int
        let timestampName: String
        /// The column of each of the plan's request fields.
        package let fields: [Int]
        /// Per view, the column of each join key.
        package let keyColumns: [[Int]]
    }

    let plan: FeaturePlan
    private(set) var joins: [ViewJoin]
    /// Request rows looked up together (``Chunk``); tests make it small to cross chunks.
    var chunkSize = Chunk.size
    /// Takes half of each chunk's lookups, when the caller opened one.
    var secondReader: SecondReader? = nil
    /// The finders' ``FeatureRowFinder/stepLimit`` (tests set it small; a second reader
    /// opened afterwards takes it too).
    var stepLimit = FeatureRowFinder.defaultStepLimit {
        didSet { for join in joins { join.finder?.stepLimit = stepLimit } }
    }

    /// Each view must be materialized, with no rows waiting to be; prepares its lookup and
    /// its aggregations (only those `features` need, directly or through on-demand features).
    init(_ db: Database, _ registered: Registered, features: [ResolvedFeature]) throws {
        let plan = registered.plan
        self.plan = plan
        let needed = Self.neededAggregations(features, plan: plan)
        joins = []
        for (i, (view, spec, version, source)) in registered.views.enumerated() {
            let name = view.name
            guard let state = try OfflineStore.state(db, view: name, version: version) else {
                throw Self.notMaterialized(view: name, version: version)
            }
            let pending =
                try Int.fetchOne(
                    // By `_seq` (the rowid): through the event-time index SQLite would scan all of it.
                    db, sql: "SELECT count(*) FROM source_\(source.name) NOT INDEXED WHERE _seq > ? AND \(source.eventTimestamp) < ?",
                    arguments: [state.seqWatermark, state.end.microseconds]) ?? 0
            if pending > 0 { throw Self.rowsPending(pending, source: source.name, view: name) }
            let join = ViewJoin(
                spec: spec, version: version, table: FeatureTable(view: spec, version: version), state: state,
                offset: plan.viewOffsets[i],
                aggregation: view.aggregations.isEmpty
                    ? nil
                    : Optional(try AggregationJoin(db, view: view, spec: spec, source: source, needed: needed)).flatMap {
                        $0.layout.isEmpty ? nil : $0
                    })
            join.statement = try db.makeStatement(sql: join.table.lookupSQL)
            if !spec.features.isEmpty { join.finder = try FeatureRowFinder(db, table: join.table) }
            joins.append(join)
        }
    }

    /// The names of the aggregations `features` need, directly or through on-demand features.
    package static func neededAggregations(_ features: [ResolvedFeature], plan: FeaturePlan) -> Set<String> {
        var needed = Set(features.filter { !$0.isOnDemand }.map(\.feature))
        for odfv in plan.onDemandViews {
            for feature in odfv.features {
                for input in feature.transformation.inputs { needed.insert(String(input.key.split(separator: ":").last!)) }
            }
        }
        return needed
    }

    /// The refusal of a view version never materialized.
    package static func notMaterialized(view: String, version: Int) -> OfflineStoreError {
        OfflineStoreError("feature view \(view) (v\(version)) has not been materialized; run `larder materialize --views \(view)`")
    }

    /// The refusal of a view whose source received rows its materialization has not seen.
    package static func rowsPending(_ pending: Int, source: String, view: String) -> OfflineStoreError {
        OfflineStoreError(
            "\(pending) rows were ingested into \(source) after feature view \(view) was last materialized; run `larder materialize --incremental`"
        )
    }

    /// Finds the instant, each view's join keys and each request field among `columns`.
    ///
    /// - Parameter file: the request file, named by a missing column's error (nil in memory).
    func bind(columns: [String], file: String?, timestampColumn: String) throws -> Binding {
        let binding = try Self.bind(columns: columns, file: file, timestampColumn: timestampColumn, views: joins.map(\.spec), plan: plan)
        for (join, keyColumns) in zip(joins, binding.keyColumns) { join.keyColumns = keyColumns }
        return binding
    }

    /// Finds the instant, each of `views`' join keys and each of `plan`'s request fields among
    /// `columns` (either store's join).
    package static func bind(
        columns: [String], file: String?, timestampColumn: String, views: [FeatureViewSpec], plan: FeaturePlan
    ) throws -> Binding {
        func missing(_ reason: String) -> any Error {
            if let file { return IngestError(file: file, line: 1, reason: reason) }
            return OfflineStoreError(reason)
        }
        guard let timestamp = columns.firstIndex(of: timestampColumn) else {
            throw missing(
                "no '\(timestampColumn)' column: the request file needs the instant of each row (or pass --timestamp-column NAME)")
        }
        let keyColumns = try views.map { spec in
            try spec.joinKeys.map { key in
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
        return Binding(timestamp: timestamp, timestampName: timestampColumn, fields: fields, keyColumns: keyColumns)
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
                    try Self.checkCovered(join, at: t, location: pass.requestLocation)
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
        // The row features are looked up a chunk of rows ahead, by a second reader of the same
        // rows, in key and time order (see ``Chunk``), on a thread of their own while the
        // previous chunk is emitted here, in request order (see ``ChunkPrefetch``).
        let prefetch = ChunkPrefetch(ahead: try rewind(), join: self, binding: binding)
        defer { prefetch.finish() }  // before the read transaction ends
        prefetch.start(from: 0)
        var chunk = Chunk(views: joins.count)
        while try requests.next() {
            // A chunk that failed ends at its failing row, where its error is thrown.
            if rowNumber == chunk.end, chunk.failure == nil {
                chunk = try prefetch.wait()
                guard chunk.end > rowNumber || chunk.failure != nil else {
                    throw OfflineStoreError("the request rows ended at row \(rowNumber) for the lookups but not for the output")
                }
                if chunk.failure == nil { prefetch.start(from: chunk.end) }
            }
            if let failure = chunk.failure, failure.row == rowNumber { throw failure.error }
            let local = rowNumber - chunk.start
            for (j, join) in joins.enumerated() {
                let count = join.spec.features.count
                for i in 0..<count { row[join.offset + i] = chunk.values[j][local * count + i] }
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

    /// The row features of a chunk of request rows, looked up before the rows are emitted.
    ///
    /// A chunk is looked up entity by entity, in key and time order (``FeatureRowFinder``), so
    /// each entity's index entries are walked once per chunk rather than sought once per
    /// request. The chunk bounds the memory, whatever the number of requests.
    struct Chunk {
        /// Rows per chunk, unless the join says otherwise (``PointInTimeJoin/chunkSize``).
        static let size = 262_144

        /// Rows per chunk for views with `features` row features in all: at most ``size``,
        /// fewer when many features would make a chunk's values outgrow about 40 MiB (two
        /// chunks are alive at once).
        static func rows(features: Int) -> Int {
            let bytesPerRow = 64 + MemoryLayout<Value>.stride * features
            return max(16_384, min(size, (40 << 20) / bytesPerRow))
        }
        /// The request rows it holds: `start..<end`.
        var start = 0
        var end = 0
        /// Per view, the row features of each row of the chunk (`row * featureCount + f`).
        var values: [[Value]]
        /// The first row of the chunk whose lookup failed (a missing key or instant, an instant
        /// past the materialized end, a malformed row), and why: the rows before it are emitted
        /// first, so errors come in request order as before.
        var failure: (row: Int, error: any Error)? = nil

        init(views: Int) { values = Array(repeating: [], count: views) }
    }

    /// Looks up the next chunk of a join on a thread of its own while the current one is
    /// emitted, so that the seeks (SQLite, most of a training set's time) and reading and
    /// writing the rows use both cores. It uses the join's prepared statements through the C
    /// API, which the emitting thread does not touch meanwhile: one thread at a time, as
    /// SQLite requires. `@unchecked Sendable`: `ahead` and `pending` are only touched by the
    /// lookup while it runs, and read after `done` is signalled.
    final class ChunkPrefetch<Source: TrainingRequestSource>: @unchecked Sendable {
        private var ahead: Source
        private let join: PointInTimeJoin
        private let binding: Binding
        private let queue = DispatchQueue(label: "larder.training-set.lookups")
        private let done = DispatchSemaphore(value: 0)
        private var pending: Result<Chunk, any Error>? = nil
        private var running = false

        init(ahead: Source, join: PointInTimeJoin, binding: Binding) {
            self.ahead = ahead
            self.join = join
            self.binding = binding
        }

        /// Starts looking up the chunk that begins at row `first` (where `ahead` is).
        func start(from first: Int) {
            running = true
            queue.async {
                var chunk = Chunk(views: self.join.joins.count)
                self.pending = Result {
                    try self.join.lookUpChunk(&self.ahead, from: first, self.binding, into: &chunk)
                    return chunk
                }
                self.done.signal()
            }
        }

        /// The chunk started last, once looked up.
        func wait() throws -> Chunk {
            done.wait()
            running = false
            return try pending!.get()
        }

        /// Waits for a lookup still running: the join's statements must be idle before its
        /// read transaction ends.
        func finish() {
            if running { _ = try? wait() }
        }
    }

    /// Reads the next ``chunkSize`` rows from `ahead` (which is at row `first`) and looks up
    /// each view's row features for them, in key and time order.
    func lookUpChunk<Source: TrainingRequestSource>(
        _ ahead: inout Source, from first: Int, _ binding: Binding, into chunk: inout Chunk
    ) throws {
        chunk.start = first
        chunk.failure = nil
        var entities = [ChunkEntities](repeating: ChunkEntities(), count: joins.count)
        var instants: [Timestamp] = []
        do {
            let size = min(chunkSize, Chunk.rows(features: joins.reduce(0) { $0 + $1.spec.features.count }))
            while instants.count < size, try ahead.next() {
                let row = first + instants.count
                let t = try Self.instant(ahead, binding, row: row)
                for (j, join) in joins.enumerated() {
                    try Self.checkCovered(join, at: t, location: ahead.requestLocation)
                    entities[j].add(try Self.keys(ahead, join: join, row: row))
                }
                instants.append(t)
            }
        } catch {
            chunk.failure = (first + instants.count, error)
        }
        chunk.end = first + instants.count
        for (j, join) in joins.enumerated() {
            let count = join.spec.features.count
            chunk.values[j] = Array(repeating: .null, count: instants.count * count)
            guard count > 0 else { continue }
            let groups = entities[j].rowsByEntity(instants: instants)
            let finder = join.finder!
            // With a second reader, each connection takes half the entities, then half the
            // rows; without one, this thread takes both halves.
            let other = secondReader?.finders[j]
            func halves(_ first: () throws -> Void, _ second: @escaping () throws -> Void) throws {
                guard let helper = secondReader, other != nil else {
                    try first()
                    try second()
                    return
                }
                helper.run(second)
                let mine = Result { try first() }
                try helper.wait()
                try mine.get()
            }
            var half = 0
            var rows = 0
            while half < groups.count, rows * 2 < instants.count {
                rows += groups[half].rows.count
                half += 1
            }
            var answers = [Int64](repeating: FeatureRowFinder.noRow, count: instants.count)
            try answers.withUnsafeMutableBufferPointer { buffer in
                let answers = buffer  // each half writes its own rows
                func find(_ finder: FeatureRowFinder, _ groups: ArraySlice<(keys: [Value], rows: ArraySlice<Int>)>) throws {
                    for (keys, rows) in groups { try finder.findRows(keys: keys, group: rows, instants: instants, into: answers) }
                }
                try halves({ try find(finder, groups[..<half]) }, { try find(other ?? finder, groups[half...]) })
            }
            let wanted = FeatureRowFinder.wanted(answers)
            var middle = wanted.count / 2  // not between two requests answered by one row
            while middle > 0, middle < wanted.count, wanted[middle].seq == wanted[middle - 1].seq { middle += 1 }
            try chunk.values[j].withUnsafeMutableBufferPointer { buffer in
                let values = buffer
                try halves(
                    { try finder.readFeatures(wanted[..<middle], into: values) },
                    { try (other ?? finder).readFeatures(wanted[middle...], into: values) })
            }
        }
    }

    /// The entities of a chunk's request rows for one view: their keys, numbered as first
    /// met, and each row's. Sorting numbers, not arrays of keys, keeps the sort cheap.
    struct ChunkEntities {
        private var keys: [[Value]] = []
        private var numbers: [[Value]: Int32] = [:]
        /// Each request row's entity number, in request order.
        private var rowEntity: [Int32] = []

        mutating func add(_ key: [Value]) {
            if let n = numbers[key] {
                rowEntity.append(n)
            } else {
                let n = Int32(keys.count)
                keys.append(key)
                numbers[key] = n
                rowEntity.append(n)
            }
        }

        /// Each entity's keys with its rows in ascending instant order, entities in key order
        /// (so neighbouring entities' seeks share index pages).
        func rowsByEntity(instants: [Timestamp]) -> [(keys: [Value], rows: ArraySlice<Int>)] {
            var rank = [Int32](repeating: 0, count: keys.count)
            for (r, n) in keys.indices.sorted(by: { PointInTimeJoin.compare(keys[$0], keys[$1]) < 0 }).enumerated() {
                rank[n] = Int32(r)
            }
            // Rows by entity rank (a counting sort), then each entity's rows by instant.
            var starts = [Int](repeating: 0, count: keys.count + 1)
            for n in rowEntity { starts[Int(rank[Int(n)]) + 1] += 1 }
            for r in keys.indices { starts[r + 1] += starts[r] }
            var rows = [Int](repeating: 0, count: rowEntity.count)
            var next = starts
            for (row, n) in rowEntity.enumerated() {
                let r = Int(rank[Int(n)])
                rows[next[r]] = row
                next[r] += 1
            }
            for r in keys.indices { rows[starts[r]..<starts[r + 1]].sort { instants[$0] < instants[$1] } }
            return keys.indices.map { r in (keys[Int(rowEntity[rows[starts[r]]])], rows[starts[r]..<starts[r + 1]]) }
        }
    }

    /// Join key values in order: negative, zero or positive as `a` sorts before, with or after
    /// `b`. A view's key columns have one type each, so only like values meet.
    package static func compare(_ a: [Value], _ b: [Value]) -> Int {
        for (x, y) in zip(a, b) {
            switch (x, y) {
            case (.int64(let x), .int64(let y)) where x != y: return x < y ? -1 : 1
            case (.string(let x), .string(let y)) where x != y: return x < y ? -1 : 1
            case (.timestamp(let x), .timestamp(let y)) where x != y: return x < y ? -1 : 1
            case (.bool(let x), .bool(let y)) where x != y: return x ? 1 : -1
            case (.double(let x), .double(let y)) where x != y: return x < y ? -1 : 1
            default: continue
            }
        }
        return 0
    }

    /// An error in a request row: the file and line for a file, the row number in memory.
    private static func rowError(_ location: RequestLocation?, row: Int, column: String, _ reason: String) -> any Error {
        if let location { return location.error(column: column, reason) }
        return OfflineStoreError("request row \(row + 1), column '\(column)': \(reason)")
    }

    /// The request row's instant.
    package static func instant<Source: TrainingRequestSource>(_ requests: Source, _ binding: Binding, row: Int) throws -> Timestamp {
        guard case .timestamp(let t) = try requests.value(binding.timestamp, as: .timestamp) else {
            throw rowError(requests.requestLocation, row: row, column: binding.timestampName, "empty; every request row needs an instant")
        }
        return t
    }

    /// The request row's entity keys for a view.
    private static func keys<Source: TrainingRequestSource>(_ requests: Source, join: ViewJoin, row: Int) throws -> [Value] {
        try keys(requests, of: join.spec, columns: join.keyColumns, row: row)
    }

    /// The request row's entity keys for the view `spec`, whose keys are in `columns`.
    package static func keys<Source: TrainingRequestSource>(_ requests: Source, of spec: FeatureViewSpec, columns: [Int], row: Int) throws
        -> [Value]
    {
        try spec.joinKeys.enumerated().map { k, key in
            let v = try requests.value(columns[k], as: key.type)
            if v.isNull {
                throw rowError(requests.requestLocation, row: row, column: key.name, "empty; every request row needs its entity key")
            }
            return v
        }
    }

    /// The point-in-time values of one view's row features for `keys` at `t`, written into `row`
    /// (one seek: for a single instant, as `--at` snapshots are; a chunk of request rows goes
    /// through ``FeatureRowFinder``).
    static func lookUp(_ join: ViewJoin, keys: [Value], at t: Timestamp, into row: inout [Value]) throws {
        let offset = join.offset
        let s = join.statement!.sqliteStatement
        for (i, key) in keys.enumerated() { SQLiteValues.bind(s, Int32(i + 1), key) }
        sqlite3_bind_int64(s, Int32(keys.count + 1), t.microseconds)
        defer { sqlite3_reset(s) }
        if try SQLiteValues.step(s, reading: join.table.name),
            FeatureRow.isFresh(eventTime: sqlite3_column_int64(s, 0), at: t.microseconds, ttl: join.spec.ttlMicroseconds)
        {
            for (i, feature) in join.spec.features.enumerated() {
                row[offset + i] = SQLiteValues.read(s, Int32(i + 1), as: feature.type)
            }
        } else {
            for i in join.spec.features.indices { row[offset + i] = .null }
        }
    }

    /// Refuses an instant the view's materialization does not cover; the error names the
    /// request file's line when there is one.
    static func checkCovered(_ join: ViewJoin, at t: Timestamp, location: RequestLocation?) throws {
        try checkCovered(view: join.spec.name, end: join.state.end, at: t, location: location)
    }

    /// Refuses an instant at or after `end`, the end of what `view` has materialized.
    package static func checkCovered(view: String, end: Timestamp, at t: Timestamp, location: RequestLocation?) throws {
        guard t >= end else { return }
        let message =
            "the request instant \(t) is at or after the end of what feature view \(view) has materialized (\(end)); run `larder materialize --incremental`, or `larder materialize --end T` past it"
        if let location { throw location.error(message) }
        throw OfflineStoreError(message)
    }
}
