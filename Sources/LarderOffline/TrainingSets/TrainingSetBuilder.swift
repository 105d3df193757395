import Foundation
import GRDB
import GRDBSQLite
import LarderCore
import LarderParquet

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
    /// A Parquet output's codec (nil: zstd); only for Parquet.
    public var compression: PageCompression?
    /// Name feature columns `view__feature` (automatic for names that would collide).
    public var fullNames: Bool
    /// Recorded in the manifest.
    public var commandLine: [String]

    public init(
        features: [ResolvedFeature], rows: Rows, output: String, outputFormat: InputFormat? = nil, compression: PageCompression? = nil,
        fullNames: Bool = false, commandLine: [String] = []
    ) {
        self.features = features
        self.rows = rows
        self.output = output
        self.outputFormat = outputFormat
        self.compression = compression
        self.fullNames = fullNames
        self.commandLine = commandLine
    }

    /// Output format for this request, checked against the compression.
    func format() throws -> InputFormat { try InputFormat.ofOutput(output, given: outputFormat, compression: compression) }

    /// A writer of the output: `leading` columns (request columns, or keys and the instant)
    /// with their types, then a column per feature named `names`.
    func writer(_ leading: [String], types: [ValueType?], names: [String]) throws -> TableWriter {
        try TableWriter(
            destination: output, format: format(), columns: leading + names, types: types + features.map(\.type),
            compression: compression)
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
///
/// The join is ``PointInTimeJoin``: `build` runs it from a request file into a file,
/// ``values(of:for:timestampColumn:)`` from rows in memory into values (what `larder verify`
/// compares).
public struct TrainingSetBuilder: Sendable {
    let store: OfflineStore
    let repository: FeatureRepository
    /// The join's ``PointInTimeJoin/chunkSize`` and ``PointInTimeJoin/stepLimit`` (tests set them small).
    var chunkSize = PointInTimeJoin.Chunk.size
    var stepLimit = FeatureRowFinder.defaultStepLimit

    /// A builder over `store`, computing on-demand features with `repository`'s closures.
    public init(store: OfflineStore, repository: FeatureRepository) {
        self.store = store
        self.repository = repository
    }

    /// Builds the training set `request` describes, writing `request.output` and its manifest.
    ///
    /// - Throws: ``OfflineStoreError`` or ``IngestError`` naming the problem; nothing is left at
    ///   the output path then.
    public func build(_ request: TrainingSetRequest, progress: (@Sendable (TrainingSetProgress) -> Void)? = nil) async throws
        -> TrainingSetSummary
    {
        try await store.reading { try self.build(request, progress: progress) }
    }

    /// The blocking body of the async ``build(_:progress:)``, run on ``Blocking``'s pool.
    func build(_ request: TrainingSetRequest, progress: (@Sendable (TrainingSetProgress) -> Void)? = nil) throws
        -> TrainingSetSummary
    {
        let started = Date()
        let format = try request.format()
        guard !request.features.isEmpty else { throw OfflineStoreError("no features requested") }
        // The registry is read outside the snapshot below.
        let registered = try PointInTimeJoin.Registered(store: store, repository: repository, features: request.features)

        // One read transaction: a consistent snapshot even if a materialization commits meanwhile.
        return try store.db.read { db in
            var join = try PointInTimeJoin(db, registered, features: request.features)
            join.chunkSize = chunkSize
            join.stepLimit = stepLimit
            let plan = join.plan
            join.secondReader = SecondReader(store: store, joins: join.joins)
            defer { join.secondReader?.close() }
            switch request.rows {
            case .file(let path, let fileFormat, let timestampColumn):
                let inputFormat = try InputFormat.ofRequests(path, given: fileFormat)
                var requests = try RequestFile(path: path, format: inputFormat, hashing: true)
                let columns = requests.columns
                let binding = try join.bind(columns: columns, file: path, timestampColumn: timestampColumn)
                let names = ResolvedFeature.columnNames(request.features, fullNames: request.fullNames, taken: Set(columns))
                let writer = try request.writer(
                    columns,
                    types: requests.outputTypes(
                        timestampColumn: timestampColumn, keys: join.joins.flatMap(\.spec.joinKeys), requestFields: plan.requestFields),
                    names: names)
                try join.join(&requests, binding, rewind: { try RequestFile(path: path, format: inputFormat, hashing: false) }) {
                    requests, row in
                    try writer.writeRow(requests, plan: plan, joined: row, progress: progress)
                }
                let requestHash = requests.sha256()
                let outputHash = try writer.commit()
                let manifest = try Self.writeManifest(
                    request, format: format, joins: join.joins, onDemand: plan.onDemandViews, columns: columns + names,
                    requestInfo: .file(path: path, rows: writer.rows, sha256: requestHash, timestampColumn: timestampColumn),
                    outputRows: writer.rows, outputHash: outputHash)
                return TrainingSetSummary(
                    rows: writer.rows, seconds: Date().timeIntervalSince(started), output: request.output, manifest: manifest,
                    columns: columns + names)

            case .snapshot(let at):
                let joins = join.joins
                let keySpecs = joins[0].spec.joinKeys
                for join in joins where join.spec.joinKeys != keySpecs {
                    throw OfflineStoreError(
                        "--at needs views of one entity: \(joins[0].spec.name) is keyed by \(keySpecs.map(\.name).joined(separator: ", ")), \(join.spec.name) by \(join.spec.joinKeys.map(\.name).joined(separator: ", "))"
                    )
                }
                for join in joins { try PointInTimeJoin.checkCovered(join, at: at, location: nil) }
                let featureCount = plan.viewValueCount
                let keyNames = keySpecs.map(\.name)
                let columns = keyNames + ["event_timestamp"]
                let names = ResolvedFeature.columnNames(request.features, fullNames: request.fullNames, taken: Set(columns))
                let writer = try request.writer(columns, types: keySpecs.map(\.type) + [.timestamp], names: names)
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
                            try PointInTimeJoin.lookUp(join, keys: keys, at: at, into: &row)
                            if let aggregation = join.aggregation {
                                let values = try aggregation.values(keys: keys, at: at.microseconds)
                                for (a, p) in aggregation.positions.enumerated() {
                                    row[join.aggregationOffset + a] = p.map { values[$0] } ?? .null
                                }
                            }
                        }
                        for k in plan.requestFields.indices { row[featureCount + k] = .null }
                        writer.beginRow()
                        for key in keys { try writer.write(key) }
                        try writer.write(.timestamp(at))
                        for i in plan.outputs.indices { try writer.write(plan.value(i, in: row)) }
                        try writer.endRow()
                    }
                }
                let outputHash = try writer.commit()
                let manifest = try Self.writeManifest(
                    request, format: format, joins: joins, onDemand: plan.onDemandViews, columns: columns + names,
                    requestInfo: .snapshot(at: at), outputRows: writer.rows, outputHash: outputHash)
                return TrainingSetSummary(
                    rows: writer.rows, seconds: Date().timeIntervalSince(started), output: request.output, manifest: manifest,
                    columns: columns + names)
            }
        }
    }

    private static func writeManifest(
        _ request: TrainingSetRequest, format: InputFormat, joins: [PointInTimeJoin.ViewJoin], onDemand: [OnDemandFeatureView],
        columns: [String], requestInfo: TrainingSetManifest.Request, outputRows: Int, outputHash: String
    ) throws -> String {
        try writeManifest(
            request, format: format, views: joins.map { .init(spec: $0.spec, version: $0.version, table: $0.table.name, state: $0.state) },
            onDemand: onDemand, columns: columns, requestInfo: requestInfo, outputRows: outputRows, outputHash: outputHash)
    }

    /// A feature view a training set read, as its manifest records it.
    package struct ManifestView {
        let spec: FeatureViewSpec
        let version: Int
        let table: String
        let state: MaterializationState

        package init(spec: FeatureViewSpec, version: Int, table: String, state: MaterializationState) {
            self.spec = spec
            self.version = version
            self.table = table
            self.state = state
        }
    }

    /// Writes the manifest beside the output (either store): the features with their
    /// fingerprints, the materializations read, the request and the output with their hashes.
    static func writeManifest(
        _ request: TrainingSetRequest, format: InputFormat, views joins: [ManifestView], onDemand: [OnDemandFeatureView],
        columns: [String], requestInfo: TrainingSetManifest.Request, outputRows: Int, outputHash: String
    ) throws -> String {
        let names = columns.suffix(request.features.count)
        var features: [TrainingSetManifest.Feature] = []
        for (feature, column) in zip(request.features, names) {
            let join = joins.first { $0.spec.name == feature.view }
            let spec: DefinitionSpec
            if feature.isOnDemand, let odfv = onDemand.first(where: { $0.name == feature.view }) {
                spec = .onDemandView(odfv.spec)
            } else if let join {
                spec = .featureView(join.spec)
            } else {
                continue
            }
            features.append(
                .init(
                    feature: feature.reference, column: column, type: feature.type.rawValue, fingerprint: spec.fingerprint,
                    viewVersion: join?.version))
        }
        let materializations = joins.map { join in
            TrainingSetManifest.Materialization(
                view: join.spec.name, version: join.version, table: join.table, coveredStart: join.state.start.description,
                coveredEnd: join.state.end.description, seqWatermark: join.state.seqWatermark,
                materializedAt: join.state.updatedAt.description)
        }
        let manifest = TrainingSetManifest(
            commandLine: request.commandLine, request: requestInfo, features: features, materializations: materializations,
            output: .init(file: request.output, format: format.rawValue, rows: outputRows, sha256: outputHash, columns: columns))
        return try manifest.write(besideOutput: request.output)
    }
}
