import Foundation
import LarderCore
import LarderOffline

/// The statistics of a view's aggregation features after a materialization run: over the
/// values every entity would be served at the run's end, from the tiles the online store holds
/// and by the online window rule (``WindowMerge``), so they describe what a model sees.
public enum AggregationStatistics {
    /// Gathers them and adds them to the run. Streams the view's tiles one batch of entities
    /// at a time. Returns the number of entities; 0 for a view without aggregations (or with
    /// only list-valued ones, which have no statistics).
    @discardableResult
    public static func record(for view: FeatureView, run summary: MaterializationSummary, offline: some OfflineBackend) async throws -> Int
    {
        let layout = view.tileLayout
        var statistics = layout.aggregations.map { FeatureStatistics(type: $0.type) }
        guard statistics.contains(where: { $0 != nil }) else { return 0 }
        // The last instant the run materialized: the end is exclusive.
        let instant = summary.state.end.microseconds - 1
        var entities = 0
        for try await batch in offline.retainedTiles(of: view, from: nil) {
            for entity in batch {
                var merge = WindowMerge(layout: layout, at: instant)
                for tile in entity.tiles {
                    do {
                        try merge.add(encoded: tile.bytes[...], group: tile.group, hopStart: tile.hopStart)
                    } catch {
                        throw EngineError(.failed, "an aggregation tile of \(view.name) for \(entity.keys) is damaged: \(error)")
                    }
                }
                for (index, value) in merge.values.enumerated() { statistics[index]?.observe(value) }
                entities += 1
            }
        }
        var byName: [String: FeatureStatistics] = [:]
        for (aggregation, stats) in zip(layout.aggregations, statistics) { byName[aggregation.name] = stats }
        try await offline.recordStatistics(run: summary.runID, byName.compactMapValues { $0 })
        return entities
    }
}

/// A view version's statistics as `larder describe --stats`, `GET /v1/catalog/...` and the
/// catalog pages show them: its recent runs, and per feature the latest run's summary and
/// histogram and each run's drift against the reference run.
public struct ViewStatisticsReport: Sendable, Codable {
    public var view: String
    public var version: Int
    /// The run drift is measured against; nil before the first run with statistics.
    public var reference: Reference?
    /// The recent runs, newest first.
    public var runs: [Run]
    /// Every feature with statistics, row features then aggregations, in declaration order.
    public var features: [Feature]

    public struct Reference: Sendable, Codable {
        public var run: Int64
        /// Whether the user pinned it (`larder statistics-reference`); else it is the first run.
        public var pinned: Bool
        public var finishedAt: String
    }

    public struct Run: Sendable, Codable {
        public var id: Int64
        public var finishedAt: String
        public var incremental: Bool
        /// Source rows the run transformed and wrote.
        public var rows: Int
        public var rangeEnd: String
        /// The newest event time materialized after the run (nil for runs before Larder kept it).
        public var newestEvent: String?
        /// How old the newest event was when the run finished, in seconds: the view's freshness.
        public var newestEventAgeSeconds: Double?
    }

    public struct Feature: Sendable, Codable {
        public var name: String
        public var type: String
        /// `row` (over the feature table) or `aggregation` (over the values served at the run's end).
        public var kind: String
        /// The newest run's statistics; nil when it has none for this feature.
        public var latest: Summary?
        /// The newest run's histogram on bins of its own.
        public var histogram: [Bin]?
        /// Each recent run's population stability index against the reference, newest first.
        public var drift: [Drift]
    }

    public struct Summary: Sendable, Codable {
        /// Values that are neither null nor NaN.
        public var count: Int
        public var nullCount: Int
        public var nanCount: Int
        public var min: ReportValue?
        public var max: ReportValue?
        public var mean: ReportValue?
        public var standardDeviation: ReportValue?
        /// Exact for bools and for strings with at most 100 values; else a HyperLogLog
        /// estimate (relative standard error 0.81 %).
        public var distinctCount: Int
        /// p1 … p99 (KLL estimates, rank error 1.33 % at 99 % confidence); numbers and instants.
        public var quantiles: [Quantile]?
        /// The most frequent strings, most frequent first.
        public var topValues: [FeatureStatistics.TopValue]?
        /// For bools.
        public var trueCount: Int?
        public var falseCount: Int?
    }

    public struct Quantile: Sendable, Codable {
        public var probability: Double
        public var value: ReportValue
    }

    public struct Bin: Sendable, Codable {
        /// The bin's range or value, as text.
        public var label: String
        public var count: Int
    }

    public struct Drift: Sendable, Codable {
        public var run: Int64
        public var finishedAt: String
        /// Nil when the run has no values for the feature, or the reference none.
        public var populationStabilityIndex: Double?
    }

    /// Reads the view version's last `runs` runs and its reference from the store.
    public static func load(
        view: FeatureViewSpec, version: Int, offline: some OfflineBackend, runs limit: Int = 20
    ) async throws -> ViewStatisticsReport {
        let runs = try await offline.materializationRuns(view: view.name, version: version, limit: limit)
        let reference = try await offline.statisticsReference(view: view.name, version: version)
        return ViewStatisticsReport(view: view, version: version, runs: runs, reference: reference)
    }

    /// The report of `runs` (newest first) against `reference`.
    public init(view: FeatureViewSpec, version: Int, runs: [MaterializationRun], reference: (run: MaterializationRun, pinned: Bool)?) {
        self.view = view.name
        self.version = version
        self.reference = reference.map { Reference(run: $0.run.id, pinned: $0.pinned, finishedAt: "\($0.run.finishedAt)") }
        self.runs = runs.map { run in
            Run(
                id: run.id, finishedAt: "\(run.finishedAt)", incremental: run.incremental, rows: run.rows, rangeEnd: "\(run.rangeEnd)",
                newestEvent: run.newestEvent.map { "\($0)" },
                newestEventAgeSeconds: run.newestEvent.map { Double(run.finishedAt.microseconds - $0.microseconds) / 1e6 })
        }
        let declared =
            view.features.map { (name: $0.name, type: $0.type, kind: "row") }
            + (view.aggregations ?? []).map { (name: $0.name, type: $0.type, kind: "aggregation") }
        features = declared.filter { FeatureStatistics(type: $0.type) != nil }.map { feature in
            let latest = runs.first?.statistics[feature.name]
            let referenceStatistics = reference?.run.statistics[feature.name]
            return Feature(
                name: feature.name, type: feature.type.rawValue, kind: feature.kind, latest: latest.map(Summary.init),
                histogram: latest?.histogram.map(Self.labelledBins),
                drift: runs.map { run in
                    Drift(
                        run: run.id, finishedAt: "\(run.finishedAt)",
                        populationStabilityIndex: referenceStatistics.flatMap { run.statistics[feature.name]?.drift(against: $0) }
                            .flatMap { $0.isFinite ? $0 : nil })
                })
        }
    }

    /// A histogram's bins with readable labels.
    public static func labelledBins(_ histogram: Histogram) -> [Bin] {
        let labels: [String]
        switch histogram.bins.layout {
        case .bool:
            labels = ["false", "true"]
        case .string(let values):
            labels = values + ["(other)"]
        case .numeric(let edges) where histogram.bins.type == .int64:
            // Integer bins as the values they hold: `a – b` inclusive, or `a` alone.
            let cuts = edges.map { ReportValue.integer($0.rounded(.up)) }
            labels =
                ["< \(cuts[0])"]
                + zip(cuts, cuts.dropFirst()).map { low, high in
                    // (`high == low + 1`, without overflowing for edges near the extremes.)
                    high &- 1 == low ? "\(low)" : "\(low) – \(high &- 1)"
                }
                + ["≥ \(cuts[cuts.count - 1])"]
        case .numeric(let edges):
            let type = histogram.bins.type
            let text = edges.map { ReportValue.edge($0, type: type) }
            // A bin holding one value alone (an atom: from it to the next double or
            // microsecond) is labelled by that value.
            let atom = { (i: Int) in type == .double ? edges[i + 1] == edges[i].nextUp : edges[i + 1] == edges[i] + 1 }
            labels =
                ["< \(text[0])"] + text.indices.dropLast().map { i in atom(i) ? text[i] : "\(text[i]) – \(text[i + 1])" }
                + ["≥ \(text[text.count - 1])"]
        }
        return zip(labels, histogram.counts).map { Bin(label: $0, count: $1) }
    }
}

extension ViewStatisticsReport.Summary {
    /// The summary of one feature's statistics.
    public init(_ statistics: FeatureStatistics) {
        count = statistics.count
        nullCount = statistics.nullCount
        nanCount = statistics.nanCount
        min = statistics.min.map(ReportValue.init)
        max = statistics.max.map(ReportValue.init)
        let instant = statistics.type == .timestamp
        // Timestamps' mean is an instant; their standard deviation a duration in seconds.
        mean = statistics.mean.map {
            instant ? ReportValue(.timestamp(Timestamp(microseconds: ReportValue.integer($0.rounded())))) : .number($0)
        }
        standardDeviation = statistics.standardDeviation.map { .number(instant ? $0 / 1e6 : $0) }
        distinctCount = statistics.distinctCount
        quantiles = statistics.quantiles?.map { ViewStatisticsReport.Quantile(probability: $0.probability, value: ReportValue($0.value)) }
        topValues = statistics.topValues
        if statistics.type == .bool {
            trueCount = statistics.trueCount
            falseCount = statistics.count - statistics.trueCount
        }
    }
}

/// A statistic's value in JSON: integers and finite doubles as numbers, NaN and infinities
/// as the strings "NaN", "Infinity" and "-Infinity" (JSON has no such numbers), instants as
/// RFC 3339 text, strings and bools as themselves.
public enum ReportValue: Sendable, Codable, Equatable, CustomStringConvertible {
    case integer(Int64)
    case number(Double)
    case text(String)
    case bool(Bool)

    public init(_ value: Value) {
        switch value {
        case .int64(let v): self = .integer(v)
        case .double(let v): self = .number(v)
        case .string(let s): self = .text(s)
        case .bool(let b): self = .bool(b)
        case .timestamp(let t): self = .text("\(t)")
        case .null, .list: self = .text("\(value)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let v): try container.encode(v)
        case .number(let v) where v.isNaN: try container.encode("NaN")
        case .number(let v) where v.isInfinite: try container.encode(v > 0 ? "Infinity" : "-Infinity")
        case .number(let v): try container.encode(v)
        case .text(let s): try container.encode(s)
        case .bool(let b): try container.encode(b)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let v = try? container.decode(Int64.self) {
            self = .integer(v)
        } else if let v = try? container.decode(Double.self) {
            self = .number(v)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    /// As `describe` and the pages print it: doubles to 6 significant digits.
    public var description: String {
        switch self {
        case .integer(let v): "\(v)"
        case .number(let v): Self.short(v)
        case .text(let s): s
        case .bool(let b): "\(b)"
        }
    }

    static func short(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : v > 0 ? "Infinity" : "-Infinity" }
        return String(format: "%.6g", v)
    }

    /// A whole double as an Int64, clamped: the quantile sketch holds integers as doubles, and
    /// `Int64.max` becomes 2^63, which `Int64(_:)` would trap on.
    static func integer(_ value: Double) -> Int64 {
        if value >= 0x1p63 { return .max }
        if value < -0x1p63 { return .min }
        return Int64(value)
    }

    /// A numeric bin edge, as text of the feature's type.
    static func edge(_ edge: Double, type: ValueType) -> String {
        switch type {
        case .timestamp: "\(Timestamp(microseconds: integer(edge.rounded(.up))))"
        default: short(edge)
        }
    }
}
