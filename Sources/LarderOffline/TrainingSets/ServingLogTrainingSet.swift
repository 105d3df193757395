import Foundation
import GRDB
import LarderCore
import LarderParquet

/// A training set built from the serving log: what the service actually served, rather than
/// what the offline store says it would have (`larder training-set --from-log`).
public struct ServingLogTrainingSetRequest: Sendable {
    /// Entries served at or after this instant (nil: from the first).
    public var since: Timestamp?
    /// Entries served before this instant (nil: to the last).
    public var until: Timestamp?
    /// The `view:feature` references to write, one column each; nil: the features of the
    /// first entry in the range.
    public var features: [String]?
    public var output: String
    public var outputFormat: InputFormat?
    /// A Parquet output's codec (nil: zstd); only for Parquet.
    public var compression: PageCompression?
    /// The types of features by `view:feature` reference, for a Parquet output's columns;
    /// a feature not in it gets the type its logged values settle (see ``ParquetTable``).
    public var featureTypes: [String: ValueType]
    /// Name feature columns `view__feature` (automatic for names that would collide).
    public var fullNames: Bool
    /// Recorded in the manifest.
    public var commandLine: [String]

    public init(
        since: Timestamp? = nil, until: Timestamp? = nil, features: [String]? = nil, output: String, outputFormat: InputFormat? = nil,
        compression: PageCompression? = nil, featureTypes: [String: ValueType] = [:], fullNames: Bool = false,
        commandLine: [String] = []
    ) {
        self.since = since
        self.until = until
        self.features = features
        self.output = output
        self.outputFormat = outputFormat
        self.compression = compression
        self.featureTypes = featureTypes
        self.fullNames = fullNames
        self.commandLine = commandLine
    }
}

extension OfflineStore {
    /// Writes one row per serving log entry served in `[since, until)`, in log order: the
    /// entity's join keys, `event_timestamp` (the served instant), the request fields, then
    /// the served value of each feature (null when the entry does not have it). Statuses and
    /// event times stay in the log; the table holds values only. A manifest
    /// (`OUT.manifest.json`, `"source": "serving_log"`) is written beside it.
    ///
    /// Key and request-field columns are every name the range's entries carry, in order of
    /// first appearance (a row without one has null there), so the log is read twice, within
    /// one snapshot. Nothing is left at the output path on failure.
    public func buildTrainingSetFromServingLog(_ request: ServingLogTrainingSetRequest) async throws -> TrainingSetSummary {
        try await reading { try self.buildTrainingSetFromServingLog(request) }
    }

    /// The blocking body of the async ``buildTrainingSetFromServingLog(_:)``, run on ``Blocking``'s pool.
    func buildTrainingSetFromServingLog(_ request: ServingLogTrainingSetRequest) throws -> TrainingSetSummary {
        var table = try ServingLogTable(request)
        return try db.read { db in
            try Self.forEachServingLogEntry(db, since: request.since, until: request.until, features: false) { table.observe($0) }
            let firstID = try table.firstEntry()
            let references = try request.features ?? Self.servingLogFeatures(db, entry: firstID)
            try table.start(features: references)
            try Self.forEachServingLogEntry(db, since: request.since, until: request.until) { try table.write($0) }
            return try table.finish()
        }
    }

    /// The `view:feature` references logged in one entry, in their logged order.
    private static func servingLogFeatures(_ db: Database, entry id: Int64) throws -> [String] {
        var references: [String] = []
        try forEachServingLogEntry(db, since: nil, until: nil, id: id) { references = $0.features.map(\.reference) }
        return references
    }

    /// The rule of ``ResolvedFeature/columnNames(_:fullNames:taken:)`` for `view:feature`
    /// references: the short name, or `view__feature` with `fullNames` or on a collision.
    package static func columnNames(_ references: [String], fullNames: Bool, taken: Set<String>) -> [String] {
        let parts = references.map { reference -> (view: Substring, feature: Substring) in
            guard let colon = reference.firstIndex(of: ":") else { return ("", reference[...]) }
            return (reference[..<colon], reference[reference.index(after: colon)...])
        }
        var counts: [Substring: Int] = [:]
        for part in parts { counts[part.feature, default: 0] += 1 }
        return parts.map { part in
            fullNames || counts[part.feature]! > 1 || taken.contains(String(part.feature))
                ? "\(part.view)__\(part.feature)" : String(part.feature)
        }
    }
}

/// The table `--from-log` writes, from the entries of the serving log read twice in one
/// snapshot (either store reads them): ``observe(_:)`` each entry (the columns are every key
/// and request field the range's entries carry, in order of first appearance), then
/// ``start(features:)``, ``write(_:)`` each entry again, and ``finish()``.
package struct ServingLogTable {
    let request: ServingLogTrainingSetRequest
    let format: InputFormat
    let started = Date()
    private var keyNames: [String] = []
    private var fieldNames: [String] = []
    private var count = 0
    private var firstID: Int64?
    private var lastID: Int64?
    private var references: [String] = []
    private var names: [String] = []
    private var columns: [String] = []
    private var featureColumn: [String: Int] = [:]
    private var writer: TableWriter?

    /// Checks the request: its output format, its range and its features.
    package init(_ request: ServingLogTrainingSetRequest) throws {
        let format = try InputFormat.ofOutput(request.output, given: request.outputFormat, compression: request.compression)
        if let since = request.since, let until = request.until, until <= since {
            throw OfflineStoreError("the range is empty: --until \(until) is not after --since \(since)")
        }
        if let features = request.features, features.isEmpty { throw OfflineStoreError("no features requested") }
        self.request = request
        self.format = format
    }

    /// First pass: the columns, and the entries' id range for the manifest.
    package mutating func observe(_ entry: ServingLogEntry) {
        for key in entry.entity where !keyNames.contains(key.key) { keyNames.append(key.key) }
        for field in entry.request where !fieldNames.contains(field.key) { fieldNames.append(field.key) }
        count += 1
        firstID = firstID ?? entry.id
        lastID = entry.id
    }

    /// The id of the first entry in the range; throws when there is none.
    package func firstEntry() throws -> Int64 {
        guard let firstID else {
            let range = [request.since.map { "since \($0)" }, request.until.map { "before \($0)" }].compactMap { $0 }
            throw OfflineStoreError(
                "the serving log has no entries\(range.isEmpty ? "" : " served " + range.joined(separator: " and ")); is the service logging (serve.log.sample_rate above 0)?"
            )
        }
        return firstID
    }

    /// Between the passes: opens the output with a column per feature of `references`.
    package mutating func start(features references: [String]) throws {
        guard !references.isEmpty else { throw OfflineStoreError("serving log entry \(try firstEntry()) has no features") }
        let leading = keyNames + ["event_timestamp"]
        for name in fieldNames where leading.contains(name) {
            throw OfflineStoreError(
                "the request field '\(name)' has the name of another column (a join key or event_timestamp); it cannot be written")
        }
        self.references = references
        columns = leading + fieldNames
        names = OfflineStore.columnNames(references, fullNames: request.fullNames, taken: Set(columns))
        featureColumn = Dictionary(references.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        // Keys and request fields are typed by their values (the log keeps JSON), the instant
        // and the features by what they are.
        let types: [ValueType?] =
            Array(repeating: nil, count: keyNames.count) + [.timestamp] + Array(repeating: nil, count: fieldNames.count)
            + references.map { request.featureTypes[$0] }
        writer = try TableWriter(
            destination: request.output, format: format, columns: columns + names, types: types, compression: request.compression)
    }

    /// Second pass: one row per entry.
    package func write(_ entry: ServingLogEntry) throws {
        let writer = writer!
        var keys = [Value](repeating: .null, count: keyNames.count)
        var fields = [Value](repeating: .null, count: fieldNames.count)
        var values = [Value](repeating: .null, count: references.count)
        for key in entry.entity { if let i = keyNames.firstIndex(of: key.key) { keys[i] = key.value.untypedValue } }
        for field in entry.request { if let i = fieldNames.firstIndex(of: field.key) { fields[i] = field.value.untypedValue } }
        for feature in entry.features {
            if let i = featureColumn[feature.reference] { values[i] = feature.value.untypedValue }
        }
        writer.beginRow()
        for key in keys { try writer.write(key) }
        try writer.write(.timestamp(entry.servedAt))
        for field in fields { try writer.write(field) }
        for value in values { try writer.write(value) }
        try writer.endRow()
    }

    /// Commits the output and writes its manifest.
    package func finish() throws -> TrainingSetSummary {
        let writer = writer!
        let outputHash = try writer.commit()
        let manifest = TrainingSetManifest(
            commandLine: request.commandLine, source: "serving_log",
            request: .servingLog(since: request.since, until: request.until, rows: count, firstID: firstID!, lastID: lastID!),
            features: zip(references, names).map { .init(feature: $0, column: $1) },
            output: .init(file: request.output, format: format.rawValue, rows: writer.rows, sha256: outputHash, columns: columns + names))
        let path = try manifest.write(besideOutput: request.output)
        return TrainingSetSummary(
            rows: writer.rows, seconds: Date().timeIntervalSince(started), output: request.output, manifest: path,
            columns: columns + names)
    }
}
