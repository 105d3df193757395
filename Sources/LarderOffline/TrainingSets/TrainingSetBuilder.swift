import Foundation
import GRDB
import GRDBSQLite
import LarderCore

/// What a training set is built from and where it goes.
public struct TrainingSetRequest: Sendable {
    /// Where the request rows come from.
    public enum Rows: Sendable {
        /// A request file: entity keys, an event timestamp column, other columns carried through.
        case file(path: String, format: InputFormat?, timestampColumn: String)
        /// Every entity known to the selected views at instant `at`.
        case snapshot(at: Timestamp)
    }

    public var features: [ResolvedFeature]
    public var rows: Rows
    public var output: String
    public var outputFormat: InputFormat?
    /// Name feature columns `view__feature` (automatic for names that would collide).
    public var fullNames: Bool
    /// Recorded in the manifest.
    public var commandLine: [String]

    public init(
        features: [ResolvedFeature], rows: Rows, output: String, outputFormat: InputFormat? = nil, fullNames: Bool = false,
        commandLine: [String] = []
    ) {
        self.features = features
        self.rows = rows
        self.output = output
        self.outputFormat = outputFormat
        self.fullNames = fullNames
        self.commandLine = commandLine
    }
}

/// How far a build has got, for a progress bar.
public struct TrainingSetProgress: Sendable {
    public var rows: Int
    public var bytesRead: Int64
    public var totalBytes: Int64
}

/// The result of a successful build: rows written, the output and manifest paths, columns.
public struct TrainingSetSummary: Sendable {
    public var rows: Int
    public var seconds: Double
    public var output: String
    public var manifest: String
    public var columns: [String]
}

/// Builds point-in-time correct training sets: for each request row (key, T), each view's
/// row with the greatest event time `<= T` (ties: greatest created time, then latest
/// ingested), null when none or when older than the view's ttl; on-demand features computed
/// on the joined row by their compiled Swift closures. One output row per request row, in
/// request order, duplicates kept.
///
/// It streams: request rows are read, joined (one index seek per view) and written one at a
/// time, so memory does not grow with the request file or the feature history.
public struct TrainingSetBuilder {
    let store: OfflineStore
    let repository: FeatureRepository

    /// A builder over `store`, computing on-demand features with `repository`'s closures.
    public init(store: OfflineStore, repository: FeatureRepository) {
        self.store = store
        self.repository = repository
    }

    /// A feature view taking part, with its lookup statement.
    private struct ViewJoin {
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
        /// Their values per request row (`row * count + a`), computed before rows are written.
        var aggregates: [Value] = []

        /// Where the aggregation values start in the joined row.
        var aggregationOffset: Int { offset + spec.features.count }
    }

    /// Builds the training set `request` describes, writing `request.output` and its manifest.
    ///
    /// - Throws: ``OfflineStoreError`` or ``IngestError`` naming the problem; nothing is left at
    ///   the output path then.
    public func build(_ request: TrainingSetRequest, progress: (@Sendable (TrainingSetProgress) -> Void)? = nil) throws
        -> TrainingSetSummary
    {
        let started = Date()
        guard let format = request.outputFormat ?? InputFormat.infer(fromPath: request.output) else {
            throw OfflineStoreError("cannot tell the output format from \(request.output); name it .csv or .jsonl, or pass --format")
        }
        guard !request.features.isEmpty else { throw OfflineStoreError("no features requested") }

        let plan: FeaturePlan
        do {
            plan = try FeaturePlan(repository: repository, features: request.features)
        } catch {
            throw OfflineStoreError(error.description)
        }
        let onDemand = plan.onDemandViews
        for odfv in onDemand { try store.requireRegistered(odfv) }

        // Each view as registered, with its source (the registry is read outside the snapshot below).
        let registered = try plan.views.map { view in
            let (spec, version) = try store.registeredView(view)
            return (view, spec, version, try store.registry.source(named: spec.source))
        }

        // One read transaction: a consistent snapshot even if a materialization commits meanwhile.
        return try store.db.read { db in
            // Each view must be materialized, with no rows waiting to be.
            var joins: [ViewJoin] = []
            // The features the set reads: requested ones and on-demand features' inputs.
            var needed = Set(request.features.filter { !$0.isOnDemand }.map(\.feature))
            for odfv in onDemand {
                for feature in odfv.features {
                    for input in feature.transformation.inputs { needed.insert(String(input.key.split(separator: ":").last!)) }
                }
            }
            for (i, (view, spec, version, source)) in registered.enumerated() {
                let name = view.name
                guard let state = try OfflineStore.state(db, view: name, version: version) else {
                    throw OfflineStoreError(
                        "feature view \(name) (v\(version)) has not been materialized; run `larder materialize --views \(name)`")
                }
                let pending =
                    try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM source_\(source.name) WHERE _seq > ? AND \(source.eventTimestamp) < ?",
                        arguments: [state.seqWatermark, state.end.microseconds]) ?? 0
                if pending > 0 {
                    throw OfflineStoreError(
                        "\(pending) rows were ingested into \(source.name) after feature view \(name) was last materialized; run `larder materialize --incremental`"
                    )
                }
                joins.append(
                    ViewJoin(
                        spec: spec, version: version, table: FeatureTable(view: spec, version: version), state: state,
                        offset: plan.viewOffsets[i],
                        aggregation: view.aggregations.isEmpty
                            ? nil
                            : Optional(try AggregationJoin(db, view: view, spec: spec, source: source, needed: needed)).flatMap {
                                $0.layout.isEmpty ? nil : $0
                            }))
            }
            let featureCount = plan.viewValueCount
            let requestFields = plan.requestFields

            for i in joins.indices {
                joins[i].statement = try db.makeStatement(sql: joins[i].table.lookupSQL)
            }

            switch request.rows {
            case .file(let path, let fileFormat, let timestampColumn):
                guard let inputFormat = fileFormat ?? InputFormat.infer(fromPath: path) else {
                    throw IngestError(
                        file: path, reason: "cannot tell the format of the request file; name it .csv or .jsonl, or pass --entities-format")
                }
                var requests = try RequestFile(path: path, format: inputFormat, hashing: true)
                let columns = requests.columns
                guard let tsColumn = columns.firstIndex(of: timestampColumn) else {
                    throw IngestError(
                        file: path, line: 1,
                        reason:
                            "no '\(timestampColumn)' column: the request file needs the instant of each row (or pass --timestamp-column NAME)"
                    )
                }
                for i in joins.indices {
                    joins[i].keyColumns = try joins[i].spec.joinKeys.map { key in
                        guard let c = columns.firstIndex(of: key.name) else {
                            throw IngestError(
                                file: path, line: 1,
                                reason:
                                    "no '\(key.name)' column: feature view \(joins[i].spec.name) is keyed by \(joins[i].spec.joinKeys.map(\.name).joined(separator: ", "))"
                            )
                        }
                        return c
                    }
                }
                let fieldColumns = try requestFields.map { field in
                    guard let c = columns.firstIndex(of: field.key) else {
                        throw IngestError(
                            file: path, line: 1,
                            reason: "no '\(field.key)' column: on-demand features read the request field \(field.key) (\(field.type))")
                    }
                    return c
                }
                // Aggregations first: they need each entity's instants in order (see AggregationJoin).
                if joins.contains(where: { $0.aggregation != nil }) {
                    var collected = [AggregationJoin.Requests](repeating: [:], count: joins.count)
                    var pass = try RequestFile(path: path, format: inputFormat, hashing: false)
                    var rows = 0
                    while try pass.next() {
                        let t = try Self.instant(&pass, column: tsColumn, name: timestampColumn, file: path)
                        for (j, join) in joins.enumerated() where join.aggregation != nil {
                            try Self.checkCovered(join, at: t, line: pass.line, file: path)
                            let keys = try Self.keys(&pass, join: join, file: path)
                            collected[j][keys, default: []].append((t.microseconds, rows))
                        }
                        rows += 1
                    }
                    for j in joins.indices { joins[j].aggregates = try joins[j].aggregation?.compute(collected[j], rows: rows) ?? [] }
                }
                let names = ResolvedFeature.columnNames(request.features, fullNames: request.fullNames, taken: Set(columns))
                let writer = try TableWriter(destination: request.output, format: format, columns: columns + names)
                var row = plan.emptyRow()
                var rowNumber = 0
                while try requests.next() {
                    let t = try Self.instant(&requests, column: tsColumn, name: timestampColumn, file: path)
                    for join in joins {
                        try Self.checkCovered(join, at: t, line: requests.line, file: path)
                        let keys = try Self.keys(&requests, join: join, file: path)
                        try Self.lookUp(join, keys: keys, at: t, into: &row)
                        if let aggregation = join.aggregation {
                            let count = aggregation.layout.aggregations.count
                            for (a, p) in aggregation.positions.enumerated() {
                                row[join.aggregationOffset + a] = p.map { join.aggregates[rowNumber * count + $0] } ?? .null
                            }
                        }
                    }
                    rowNumber += 1
                    for (k, c) in fieldColumns.enumerated() {
                        row[featureCount + k] = try requests.value(c, as: requestFields[k].type)
                    }
                    writer.beginRow()
                    for c in columns.indices { writer.write(requests.field(c)) }
                    for i in plan.outputs.indices { writer.write(plan.value(i, in: row)) }
                    try writer.endRow()
                    if writer.rows & 0x3FFF == 0 {
                        progress?(TrainingSetProgress(rows: writer.rows, bytesRead: requests.bytesRead, totalBytes: requests.file.size))
                    }
                }
                let requestHash = requests.file.digest!.finalize().map { String(format: "%02x", $0) }.joined()
                let outputHash = try writer.commit()
                let manifest = try Self.writeManifest(
                    request, format: format, joins: joins, onDemand: onDemand, columns: columns + names,
                    requestInfo: ["file": path, "rows": writer.rows, "sha256": requestHash, "timestamp_column": timestampColumn],
                    outputRows: writer.rows, outputHash: outputHash)
                return TrainingSetSummary(
                    rows: writer.rows, seconds: Date().timeIntervalSince(started), output: request.output, manifest: manifest,
                    columns: columns + names)

            case .snapshot(let at):
                let keySpecs = joins[0].spec.joinKeys
                for join in joins where join.spec.joinKeys != keySpecs {
                    throw OfflineStoreError(
                        "--at needs views of one entity: \(joins[0].spec.name) is keyed by \(keySpecs.map(\.name).joined(separator: ", ")), \(join.spec.name) by \(join.spec.joinKeys.map(\.name).joined(separator: ", "))"
                    )
                }
                for join in joins { try Self.checkCovered(join, at: at, line: nil, file: nil) }
                let keyNames = keySpecs.map(\.name)
                let columns = keyNames + ["event_timestamp"]
                let names = ResolvedFeature.columnNames(request.features, fullNames: request.fullNames, taken: Set(columns))
                let writer = try TableWriter(destination: request.output, format: format, columns: columns + names)
                // Entities known at `at`: with at least one materialized row at or before it.
                let union = joins.map { "SELECT DISTINCT \(keyNames.joined(separator: ", ")) FROM \($0.table.name) WHERE _event_ts <= ?" }
                    .joined(separator: " UNION ")
                let keysStatement = try db.makeStatement(sql: union + " ORDER BY \(keyNames.joined(separator: ", "))")
                try keysStatement.setArguments(StatementArguments(Array(repeating: at.microseconds, count: joins.count)))
                let s = keysStatement.sqliteStatement
                var row = plan.emptyRow()
                try withExtendedLifetime(keysStatement) {
                    while try SQLiteValues.step(s, reading: "entity keys") {
                        let keys = keySpecs.enumerated().map { i, key in SQLiteValues.read(s, Int32(i), as: key.type) }
                        for join in joins {
                            try Self.lookUp(join, keys: keys, at: at, into: &row)
                            if let aggregation = join.aggregation {
                                let values = try aggregation.values(keys: keys, at: at.microseconds)
                                for (a, p) in aggregation.positions.enumerated() {
                                    row[join.aggregationOffset + a] = p.map { values[$0] } ?? .null
                                }
                            }
                        }
                        for k in requestFields.indices { row[featureCount + k] = .null }
                        writer.beginRow()
                        for key in keys { writer.write(key) }
                        writer.write(.timestamp(at))
                        for i in plan.outputs.indices { writer.write(plan.value(i, in: row)) }
                        try writer.endRow()
                    }
                }
                let outputHash = try writer.commit()
                let manifest = try Self.writeManifest(
                    request, format: format, joins: joins, onDemand: onDemand, columns: columns + names,
                    requestInfo: ["at": at.description], outputRows: writer.rows, outputHash: outputHash)
                return TrainingSetSummary(
                    rows: writer.rows, seconds: Date().timeIntervalSince(started), output: request.output, manifest: manifest,
                    columns: columns + names)
            }
        }
    }

    /// The request row's instant.
    private static func instant(_ requests: inout RequestFile, column: Int, name: String, file: String) throws -> Timestamp {
        guard case .timestamp(let t) = try requests.value(column, as: .timestamp) else {
            throw IngestError(file: file, line: requests.line, column: name, reason: "empty; every request row needs an instant")
        }
        return t
    }

    /// The request row's entity keys for a view.
    private static func keys(_ requests: inout RequestFile, join: ViewJoin, file: String) throws -> [Value] {
        try join.spec.joinKeys.enumerated().map { k, key in
            let v = try requests.value(join.keyColumns[k], as: key.type)
            if v.isNull {
                throw IngestError(
                    file: file, line: requests.line, column: key.name, reason: "empty; every request row needs its entity key")
            }
            return v
        }
    }

    /// The point-in-time values of one view's row features for `keys` at `t`, written into `row`.
    private static func lookUp(_ join: ViewJoin, keys: [Value], at t: Timestamp, into row: inout [Value]) throws {
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

    /// Refuses an instant the view's materialization does not cover.
    private static func checkCovered(_ join: ViewJoin, at t: Timestamp, line: Int?, file: String?) throws {
        guard t >= join.state.end else { return }
        let message =
            "the request instant \(t) is at or after the end of what feature view \(join.spec.name) has materialized (\(join.state.end)); run `larder materialize --incremental`, or `larder materialize --end T` past it"
        if let file { throw IngestError(file: file, line: line, reason: message) }
        throw OfflineStoreError(message)
    }

    private static func writeManifest(
        _ request: TrainingSetRequest, format: InputFormat, joins: [ViewJoin], onDemand: [OnDemandFeatureView],
        columns: [String], requestInfo: [String: Any], outputRows: Int, outputHash: String
    ) throws -> String {
        let path = request.output + ".manifest.json"
        let names = columns.suffix(request.features.count)
        var features: [[String: Any]] = []
        for (feature, column) in zip(request.features, names) {
            let spec: DefinitionSpec
            if feature.isOnDemand, let odfv = onDemand.first(where: { $0.name == feature.view }) {
                spec = .onDemandView(odfv.spec)
            } else if let join = joins.first(where: { $0.spec.name == feature.view }) {
                spec = .featureView(join.spec)
            } else {
                continue
            }
            var entry: [String: Any] = [
                "feature": feature.reference, "column": column, "type": feature.type.rawValue, "fingerprint": spec.fingerprint,
            ]
            if let join = joins.first(where: { $0.spec.name == feature.view }) { entry["view_version"] = join.version }
            features.append(entry)
        }
        let materializations: [[String: Any]] = joins.map { join in
            [
                "view": join.spec.name, "version": join.version, "table": join.table.name,
                "covered_start": join.state.start.description, "covered_end": join.state.end.description,
                "seq_watermark": join.state.seqWatermark, "materialized_at": join.state.updatedAt.description,
            ]
        }
        let manifest: [String: Any] = [
            "larder_manifest_version": 1,
            "created_at": Timestamp.now().description,
            "command_line": request.commandLine,
            "request": requestInfo,
            "features": features,
            "materializations": materializations,
            "output": ["file": request.output, "format": format.rawValue, "rows": outputRows, "sha256": outputHash, "columns": columns],
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data), rename(temporary, path) == 0 else {
            throw OfflineStoreError("cannot write the manifest \(path)")
        }
        return path
    }
}
