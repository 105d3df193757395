import Foundation
import LarderCore

/// A feature view taking part in a ``ChunkedTrainingSet``: as registered, what its
/// materialization covers, and where its values go in the joined row.
package struct ChunkedView: Sendable {
    package let spec: FeatureViewSpec
    package let version: Int
    /// Its feature table.
    package let table: String
    package let state: MaterializationState
    /// Where the view's features start in the joined row.
    package let offset: Int
    /// Its aggregations the training set needs, when it has any.
    package let aggregation: AggregationRead?

    package init(
        spec: FeatureViewSpec, version: Int, table: String, state: MaterializationState, offset: Int, aggregation: AggregationRead?
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

/// What a store that answers many request rows per query (PostgreSQL) provides to a
/// ``ChunkedTrainingSet``. The SQLite store, whose lookups are in-process seeks, has its own
/// join (``PointInTimeJoin``); both obey the same rule and write the same bytes.
package protocol ChunkedLookups: Sendable {
    /// The row features of `view` for request rows `(keys[i], instants[i])`, as
    /// `values[i * featureCount + f]`: the view's row with the greatest event time `<=` the
    /// instant (ties: greatest created time, no created time last, then greatest `_seq`),
    /// null when there is none or it is not fresh (``FeatureRow/isFresh(eventTime:at:ttl:)``).
    func rowFeatures(of view: ChunkedView, keys: [[Value]], instants: [Int64]) async throws -> [Value]
    /// The values of `view`'s computed aggregations (its ``AggregationRead``) for every
    /// request: `results[row * count + a]` (``AggregationRead/emptyResults(rows:)``).
    func aggregates(of view: ChunkedView, requests: AggregationRead.Requests, rows: Int) async throws -> [Value]
    /// The entities known to `views` (all keyed alike) at `at`, with at least one
    /// materialized row at or before it, in key order (SQLite's: bytes for strings), in
    /// batches passed to `body`.
    func entities(of views: [ChunkedView], at: Timestamp, _ body: ([[Value]]) async throws -> Void) async throws
}

/// A training set built a chunk of request rows at a time: each chunk's rows are looked up
/// with one query per view (``ChunkedLookups``), then written in request order, while the
/// next chunk is read and looked up (``ChunkReader``). The request file is read twice, once
/// ahead for the lookups and once for the output, so memory holds two chunks' values (fewer
/// rows per chunk for many features, by the SQLite join's rule), never the file or the history. The rules and the output are
/// ``TrainingSetBuilder``'s: the same columns, values, bytes and manifest.
package struct ChunkedTrainingSet<Lookups: ChunkedLookups> {
    package let plan: FeaturePlan
    package let views: [ChunkedView]
    package let lookups: Lookups
    /// Request rows per chunk (tests make it small to cross chunks): small enough that the
    /// first chunk's lookups, which nothing overlaps, are a small part of a large request.
    package var chunkSize = 20_000

    package init(plan: FeaturePlan, views: [ChunkedView], lookups: Lookups) {
        self.plan = plan
        self.views = views
        self.lookups = lookups
    }

    /// Builds the training set `request` describes, writing `request.output` and its manifest
    /// (see ``TrainingSetBuilder/build(_:progress:)``).
    package func build(_ request: TrainingSetRequest, progress: (@Sendable (TrainingSetProgress) -> Void)? = nil) async throws
        -> TrainingSetSummary
    {
        let started = Date()
        let format = try request.format()
        let columns: [String]
        let names: [String]
        let writer: TableWriter
        let requestInfo: TrainingSetManifest.Request
        switch request.rows {
        case .file(let path, let fileFormat, let timestampColumn):
            let inputFormat = try InputFormat.ofRequests(path, given: fileFormat)
            var requests = try RequestFile(path: path, format: inputFormat, hashing: true)
            columns = requests.columns
            let binding = try PointInTimeJoin.bind(
                columns: columns, file: path, timestampColumn: timestampColumn, views: views.map(\.spec), plan: plan)
            names = ResolvedFeature.columnNames(request.features, fullNames: request.fullNames, taken: Set(columns))
            writer = try request.writer(
                columns,
                types: requests.outputTypes(
                    timestampColumn: timestampColumn, keys: views.flatMap(\.spec.joinKeys), requestFields: plan.requestFields),
                names: names)
            try await join(&requests, binding, rewind: { try RequestFile(path: path, format: inputFormat, hashing: false) }) {
                requests, row in
                try writer.writeRow(requests, plan: plan, joined: row, progress: progress)
            }
            let requestHash = requests.sha256()
            requestInfo = .file(path: path, rows: writer.rows, sha256: requestHash, timestampColumn: timestampColumn)

        case .snapshot(let at):
            let keySpecs = views[0].spec.joinKeys
            for view in views where view.spec.joinKeys != keySpecs {
                throw OfflineStoreError(
                    "--at needs views of one entity: \(views[0].spec.name) is keyed by \(keySpecs.map(\.name).joined(separator: ", ")), \(view.spec.name) by \(view.spec.joinKeys.map(\.name).joined(separator: ", "))"
                )
            }
            for view in views { try PointInTimeJoin.checkCovered(view: view.spec.name, end: view.state.end, at: at, location: nil) }
            columns = keySpecs.map(\.name) + ["event_timestamp"]
            names = ResolvedFeature.columnNames(request.features, fullNames: request.fullNames, taken: Set(columns))
            writer = try request.writer(columns, types: keySpecs.map(\.type) + [.timestamp], names: names)
            // Each batch of entities is a request of its own, every row at `at`; request
            // fields of on-demand features are null, as in the SQLite store.
            let snapshotColumns = columns + plan.requestFields.map(\.key)
            let binding = try PointInTimeJoin.bind(
                columns: snapshotColumns, file: nil, timestampColumn: "event_timestamp", views: views.map(\.spec), plan: plan)
            try await lookups.entities(of: views, at: at) { keys in
                let batch = RequestRows(
                    columns: snapshotColumns,
                    rows: keys.map { $0 + [.timestamp(at)] + Array(repeating: Value.null, count: plan.requestFields.count) })
                var rows = batch
                try await join(&rows, binding, rewind: { batch.rewound() }) { requests, row in
                    writer.beginRow()
                    for c in columns.indices {
                        try writer.write(try requests.value(c, as: c < keySpecs.count ? keySpecs[c].type : .timestamp))
                    }
                    for i in plan.outputs.indices { try writer.write(plan.value(i, in: row)) }
                    try writer.endRow()
                }
            }
            requestInfo = .snapshot(at: at)
        }
        let outputHash = try writer.commit()
        let manifest = try TrainingSetBuilder.writeManifest(
            request, format: format,
            views: views.map { .init(spec: $0.spec, version: $0.version, table: $0.table, state: $0.state) },
            onDemand: plan.onDemandViews, columns: columns + names, requestInfo: requestInfo, outputRows: writer.rows,
            outputHash: outputHash)
        return TrainingSetSummary(
            rows: writer.rows, seconds: Date().timeIntervalSince(started), output: request.output, manifest: manifest,
            columns: columns + names)
    }

    /// The point-in-time values of the plan's outputs for request rows in memory, one array
    /// per row (see ``TrainingSetBuilder/values(of:for:timestampColumn:)``).
    package func values(for rows: RequestRows, timestampColumn: String) async throws -> [[Value]] {
        let binding = try PointInTimeJoin.bind(
            columns: rows.columns, file: nil, timestampColumn: timestampColumn, views: views.map(\.spec), plan: plan)
        var out: [[Value]] = []
        out.reserveCapacity(rows.rows.count)
        var requests = rows
        try await join(&requests, binding, rewind: { rows.rewound() }) { _, row in
            out.append(plan.outputs.indices.map { plan.value($0, in: row) })
        }
        return out
    }

    /// Joins every row of `requests` and passes it to `emit` with its joined row, in request
    /// order: aggregations first (they need each entity's instants, so a first pass collects
    /// them), then chunk by chunk, the row features looked up before the chunk's rows are
    /// emitted.
    func join<Source: TrainingRequestSource>(
        _ requests: inout Source, _ binding: PointInTimeJoin.Binding, rewind: () throws -> Source,
        emit: (Source, [Value]) throws -> Void
    ) async throws {
        var aggregates = [[Value]](repeating: [], count: views.count)
        if views.contains(where: { $0.aggregation != nil }) {
            var collected = [AggregationRead.Requests](repeating: [:], count: views.count)
            var pass = try rewind()
            var rows = 0
            while try pass.next() {
                let t = try PointInTimeJoin.instant(pass, binding, row: rows)
                for (j, view) in views.enumerated() where view.aggregation != nil {
                    try PointInTimeJoin.checkCovered(view: view.spec.name, end: view.state.end, at: t, location: pass.requestLocation)
                    let keys = try PointInTimeJoin.keys(pass, of: view.spec, columns: binding.keyColumns[j], row: rows)
                    collected[j][keys, default: []].append((t.microseconds, rows))
                }
                rows += 1
            }
            for (j, view) in views.enumerated() where view.aggregation != nil {
                aggregates[j] = try await lookups.aggregates(of: view, requests: collected[j], rows: rows)
            }
        }
        let featureCount = plan.viewValueCount
        let requestFields = plan.requestFields
        var row = plan.emptyRow()
        // The next chunk is read and looked up by a task of its own while this one's rows are
        // emitted here, so the database's work and writing the output overlap.
        let features = views.reduce(0) { $0 + $1.spec.features.count }
        let ahead = ChunkReader(
            source: try rewind(), views: views, binding: binding, size: min(chunkSize, PointInTimeJoin.Chunk.rows(features: features)))
        let lookups = self.lookups
        var next = Task { try await ahead.nextChunk(lookups) }
        var first = 0
        while true {
            let chunk = try await next.value
            guard !chunk.instants.isEmpty else { break }
            next = Task { try await ahead.nextChunk(lookups) }
            do {
                for local in chunk.instants.indices {
                    guard try requests.next() else {
                        throw OfflineStoreError("the request rows ended at row \(first + local) for the output but not for the lookups")
                    }
                    let rowNumber = first + local
                    for (j, view) in views.enumerated() {
                        let count = view.spec.features.count
                        for i in 0..<count { row[view.offset + i] = chunk.values[j][local * count + i] }
                        if let aggregation = view.aggregation {
                            let count = aggregation.layout.aggregations.count
                            for (a, p) in aggregation.positions.enumerated() {
                                row[view.aggregationOffset + a] = p.map { aggregates[j][rowNumber * count + $0] } ?? .null
                            }
                        }
                    }
                    for (k, c) in binding.fields.enumerated() {
                        row[featureCount + k] = try requests.value(c, as: requestFields[k].type)
                    }
                    try emit(requests, row)
                }
            } catch {
                // The lookup ahead must be done with the connection before the snapshot ends.
                next.cancel()
                _ = try? await next.value
                throw error
            }
            first += chunk.instants.count
        }
    }
}

/// The request rows read ahead for a ``ChunkedTrainingSet``: each chunk's keys and instants,
/// then its lookups. Used by one task at a time (each chunk's task starts after the previous
/// one ended), hence `@unchecked Sendable`.
final class ChunkReader<Source: TrainingRequestSource>: @unchecked Sendable {
    private var source: Source
    private let views: [ChunkedView]
    private let binding: PointInTimeJoin.Binding
    private let size: Int
    private var first = 0

    init(source: Source, views: [ChunkedView], binding: PointInTimeJoin.Binding, size: Int) {
        self.source = source
        self.views = views
        self.binding = binding
        self.size = size
    }

    /// The next chunk's instants and each view's row features; no instants at the end.
    func nextChunk<Lookups: ChunkedLookups>(_ lookups: Lookups) async throws -> LookedUpChunk {
        var keys = [[[Value]]](repeating: [], count: views.count)
        var instants: [Int64] = []
        while instants.count < size, try source.next() {
            let rowNumber = first + instants.count
            let t = try PointInTimeJoin.instant(source, binding, row: rowNumber)
            for (j, view) in views.enumerated() {
                try PointInTimeJoin.checkCovered(view: view.spec.name, end: view.state.end, at: t, location: source.requestLocation)
                keys[j].append(try PointInTimeJoin.keys(source, of: view.spec, columns: binding.keyColumns[j], row: rowNumber))
            }
            instants.append(t.microseconds)
        }
        first += instants.count
        var values: [[Value]] = []
        for (j, view) in views.enumerated() where !instants.isEmpty {
            try Task.checkCancellation()
            values.append(view.spec.features.isEmpty ? [] : try await lookups.rowFeatures(of: view, keys: keys[j], instants: instants))
        }
        return LookedUpChunk(instants: instants, values: values)
    }
}

/// A chunk of request rows' instants and, per view, their row features.
struct LookedUpChunk: Sendable {
    let instants: [Int64]
    let values: [[Value]]
}
