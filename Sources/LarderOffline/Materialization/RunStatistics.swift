import Foundation
import LarderCore

/// The statistics a materialization run records for a view's row features: each feature's
/// ``FeatureStatistics`` over the feature table as it stands after the run, and the newest
/// event time in it. The one rule, for both stores, of how a run gets them without reading the
/// whole table when it need not:
///
/// - into an empty table, the rows the run writes are the table: it observes them as it
///   writes them;
/// - an incremental run that only adds rows merges the statistics of the rows it writes into
///   those the previous run recorded (the sketches are mergeable). Whether it only added rows
///   is checked after writing, by counting the table: a row written again (a late row a
///   disjoint range run had already materialized) would be counted twice, so then it scans;
/// - any other run (a range written over existing rows) scans the table after writing.
///
/// Lists have no statistics; their features are left out.
package struct RunStatistics: Sendable {
    /// How a run gets its statistics.
    package enum Basis: Sendable, Equatable {
        /// The table was empty: the written rows are all of it.
        case writtenRows
        /// The previous run's statistics plus the written rows, if they were all new.
        case previousAndWrittenRows
        /// The table, read after the run.
        case tableScan
    }

    /// The statistics a run stored: per feature name, and the newest event time (microseconds).
    package struct Stored: Sendable {
        package var features: [String: FeatureStatistics]
        package var newestEvent: Int64?

        package init(features: [String: FeatureStatistics], newestEvent: Int64?) {
            self.features = features
            self.newestEvent = newestEvent
        }
    }

    package private(set) var basis: Basis
    /// The names of the view's row features with statistics, and their position among the
    /// view's features (the order of the feature table's columns and of the evaluators).
    package let features: [(name: String, position: Int)]
    private var statistics: [FeatureStatistics]
    private let empty: [FeatureStatistics]
    private var newestEvent: Int64?
    private let previous: Stored?

    /// - Parameters:
    ///   - existingRows: whether the feature table held rows before the run.
    ///   - previous: what the view version's last run stored, if it stored statistics.
    package init(view: FeatureViewSpec, tableWasEmpty: Bool, incremental: Bool, previous: Stored?) {
        var features: [(String, Int)] = []
        var statistics: [FeatureStatistics] = []
        for (position, feature) in view.features.enumerated() {
            guard let empty = FeatureStatistics(type: feature.type) else { continue }
            features.append((feature.name, position))
            statistics.append(empty)
        }
        self.features = features
        self.statistics = statistics
        self.empty = statistics
        let previousCovers = previous.map { stored in features.allSatisfy { stored.features[$0.0] != nil } } ?? false
        if tableWasEmpty {
            basis = .writtenRows
        } else if incremental && previousCovers {
            basis = .previousAndWrittenRows
        } else {
            basis = .tableScan
        }
        self.previous = previous
    }

    /// Whether the run observes the rows it writes (else it scans the table afterwards).
    package var observesWrittenRows: Bool { basis != .tableScan }

    /// Counts one row's event time.
    @inline(__always)
    package mutating func observe(eventTime: Int64) {
        if newestEvent == nil || eventTime > newestEvent! { newestEvent = eventTime }
    }

    /// Counts the value of the `index`-th feature of ``features``, as the feature table keeps
    /// it: both stores store a NaN as NULL, so observing a written row and reading it back
    /// count the same.
    @inline(__always)
    package mutating func observe(_ value: Value, feature index: Int) {
        if case .double(let d) = value, d.isNaN {
            statistics[index].observe(.null)
        } else {
            statistics[index].observe(value)
        }
    }

    /// Settles the basis once the rows are written: an incremental run whose rows were not all
    /// new (`addedRows < writtenRows`) falls back to a table scan.
    package mutating func written(rows writtenRows: Int, addedRows: Int?) {
        if basis == .previousAndWrittenRows && addedRows != writtenRows { startScan() }
    }

    /// Forgets what was observed, for a scan of the whole table.
    package mutating func startScan() {
        basis = .tableScan
        statistics = empty
        newestEvent = nil
    }

    /// The statistics to store with the run.
    package var result: Stored {
        var byName: [String: FeatureStatistics] = [:]
        for (index, feature) in features.enumerated() { byName[feature.name] = statistics[index] }
        var newest = newestEvent
        if basis == .previousAndWrittenRows, let previous {
            for (name, stored) in previous.features where byName[name] != nil { byName[name]!.merge(stored) }
            if let old = previous.newestEvent { newest = max(newest ?? old, old) }
        }
        return Stored(features: byName, newestEvent: newest)
    }
}

/// One committed materialization run of a view version, with what it recorded.
public struct MaterializationRun: Sendable, Identifiable {
    public var id: Int64
    public var view: String
    public var version: Int
    public var incremental: Bool
    /// The view version's materialized range after the run.
    public var rangeStart: Timestamp
    public var rangeEnd: Timestamp
    /// Source rows the run transformed and wrote.
    public var rows: Int
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    /// The newest event time in the feature table after the run; nil for runs recorded before
    /// Larder kept it.
    public var newestEvent: Timestamp?
    /// The statistics of every feature after the run, by feature name: row features over the
    /// feature table, aggregation features over the values served at the run's end for every
    /// entity. Empty for runs recorded before Larder kept them.
    public var statistics: [String: FeatureStatistics]

    package init(
        id: Int64, view: String, version: Int, incremental: Bool, rangeStart: Timestamp, rangeEnd: Timestamp, rows: Int,
        startedAt: Timestamp, finishedAt: Timestamp, newestEvent: Timestamp?, statistics: [String: FeatureStatistics]
    ) {
        self.id = id
        self.view = view
        self.version = version
        self.incremental = incremental
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
        self.rows = rows
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.newestEvent = newestEvent
        self.statistics = statistics
    }
}

/// The JSON text of statistics as the registry stores them, and back: a damaged row is
/// refused, naming its run and feature, rather than merged into later runs.
package enum StatisticsText {
    package static func encode(_ statistics: FeatureStatistics) throws -> String {
        String(decoding: try JSONEncoder().encode(statistics), as: UTF8.self)
    }

    package static func decode(_ text: String, run: Int64, feature: String) throws -> FeatureStatistics {
        do {
            return try JSONDecoder().decode(FeatureStatistics.self, from: Data(text.utf8))
        } catch {
            throw OfflineStoreError("the stored statistics of feature \(feature) in materialization run \(run) are damaged: \(error)")
        }
    }
}
