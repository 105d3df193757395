import Foundation

/// The bins a feature's values are counted in, fixed by a reference run so that every later
/// run is counted on the same bins and can be compared with it (population stability index,
/// ``FeatureStatistics/drift(against:)``).
///
/// - Numbers and timestamps: bins cut at the reference's deciles (by default), open-ended at
///   both ends, so that values beyond the reference's range still fall in a bin.
/// - Bools: false, then true.
/// - Strings: one bin per top value of the reference, then one for every other value.
public struct HistogramBins: Sendable, Equatable {
    /// How values map to bins.
    public enum Layout: Sendable, Equatable {
        /// Bins cut at `edges`, ascending and distinct: the first bin holds the values below
        /// `edges[0]`, bin i the values in `edges[i-1] ..< edges[i]`, the last bin the values
        /// from `edges.last` up. Timestamps in microseconds since the epoch.
        case numeric(edges: [Double])
        /// Two bins: `false`, then `true`.
        case bool
        /// One bin per value, in order, then one for every other value.
        case string(values: [String])
    }

    /// The type of the feature the bins are for.
    public let type: ValueType
    /// Where the bins are cut.
    public let layout: Layout

    /// Bins for a feature of `type`; nil when the layout does not suit the type (numeric bins
    /// for an int64, double or timestamp feature, with ascending distinct edges, none NaN).
    public init?(type: ValueType, layout: Layout) {
        switch (type, layout) {
        case (.int64, .numeric(let edges)), (.double, .numeric(let edges)), (.timestamp, .numeric(let edges)):
            guard !edges.contains(where: \.isNaN), zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }) else { return nil }
        case (.bool, .bool): break
        case (.string, .string(let values)):
            guard Set(values).count == values.count else { return nil }
        default: return nil
        }
        (self.type, self.layout) = (type, layout)
    }

    /// The bins of a reference run. Numbers and timestamps: cut at the quantiles
    /// 1/`numericBinCount`, 2/`numericBinCount`, … estimated by the reference's KLL sketch,
    /// with repeated cuts merged: a value that several cuts fall on holds at least a
    /// 1/`numericBinCount` share of the values, and gets a bin of its own (from it up to the
    /// next integer for int64 and timestamps, the next double for doubles) so that a change in
    /// its share shows. So there are at most `numericBinCount` + a few bins, and at least 2.
    /// Bools: false and true. Strings: the reference's ``FeatureStatistics/topValues`` and
    /// the others. Nil when the reference has no values.
    public init?(reference: FeatureStatistics, numericBinCount: Int = 10) {
        precondition(numericBinCount >= 2, "a histogram needs at least 2 bins")
        guard reference.count > 0 else { return nil }
        switch reference.type {
        case .bool:
            self.init(type: .bool, layout: .bool)
        case .string:
            self.init(type: .string, layout: .string(values: (reference.topValues ?? []).map(\.value)))
        default:
            let probabilities = (1..<numericBinCount).map { Double($0) / Double(numericBinCount) }
            guard let cuts = reference.sampleQuantiles(probabilities) else { return nil }
            let integral = reference.type != .double
            var edges: [Double] = []
            var previousCut: Double?
            for cut in cuts {
                defer { previousCut = cut }
                if cut == previousCut {
                    // A repeated cut: `cut` is an atom. Close its own bin just above it.
                    let above = integral ? cut + 1 : cut.nextUp
                    if edges.last! < above { edges.append(above) }
                } else if edges.last.map({ $0 < cut }) ?? true {
                    edges.append(cut)
                }
            }
            self.init(type: reference.type, layout: .numeric(edges: edges))
        }
    }

    /// The number of bins.
    public var count: Int {
        switch layout {
        case .numeric(let edges): edges.count + 1
        case .bool: 2
        case .string(let values): values.count + 1
        }
    }

    /// How many of the values counted by `statistics` (a feature of the bins' type) fall in
    /// each bin; the counts add up to `statistics.count` (nulls and NaNs are in no bin).
    ///
    /// Numbers and timestamps: estimated from the KLL sketch's weighted sample (each item
    /// counts for its weight in the bin it falls in), so each bin's share is within
    /// ``FeatureStatistics/binShareError`` of the true share with 99 % confidence.
    /// Bools: exact. Strings: the top-value counters, exact while the feature has at most 100
    /// distinct values, otherwise lower bounds (``FeatureStatistics/topValueMaxUndercount``),
    /// a value absent from the counters counting 0; the last bin takes the rest.
    public func counts(of statistics: FeatureStatistics) -> [Int] {
        precondition(statistics.type == type, "a \(statistics.type) feature counted on bins for a \(type) feature")
        switch layout {
        case .numeric(let edges):
            var counts = [Int](repeating: 0, count: edges.count + 1)
            for item in statistics.sample.weightedItems() {
                // The bin is the number of edges at or below the value (binary search).
                var low = 0
                var high = edges.count
                while low < high {
                    let middle = (low + high) / 2
                    if edges[middle] <= item.value { low = middle + 1 } else { high = middle }
                }
                counts[low] += item.weight
            }
            return counts
        case .bool:
            return [statistics.count - statistics.trueCount, statistics.trueCount]
        case .string(let values):
            let counts = values.map { statistics.frequent.counters[$0] ?? 0 }
            return counts + [statistics.count - counts.reduce(0, +)]
        }
    }

    /// The share below which a bin's share is raised to it: 1e-4, the usual choice. An empty
    /// bin would otherwise make the logarithm of the population stability index infinite.
    public static let minimumBinShare = 1e-4

    /// The population stability index of two distributions over the same bins:
    /// Σ (cᵢ − rᵢ) · ln(cᵢ / rᵢ), where rᵢ and cᵢ are bin i's shares of the reference and
    /// current totals (counts or shares may be given: each side is normalized), each raised to
    /// at least ``minimumBinShare``. 0 for identical distributions; by common rule of thumb
    /// below 0.1 is stable, 0.1–0.25 a moderate shift, above 0.25 a significant one.
    /// NaN when either side has a zero total.
    public static func populationStabilityIndex(reference: [Double], current: [Double]) -> Double {
        precondition(reference.count == current.count, "the population stability index compares distributions over the same bins")
        let referenceTotal = reference.reduce(0, +)
        let currentTotal = current.reduce(0, +)
        guard referenceTotal > 0, currentTotal > 0 else { return .nan }
        var index = 0.0
        for (r, c) in zip(reference, current) {
            let expected = Swift.max(r / referenceTotal, minimumBinShare)
            let actual = Swift.max(c / currentTotal, minimumBinShare)
            index += (actual - expected) * log(actual / expected)
        }
        return index
    }
}

/// Counts of values in bins.
public struct Histogram: Sendable, Equatable {
    /// The bins, in order.
    public var bins: HistogramBins
    /// One count per bin.
    public var counts: [Int]

    /// A histogram of `counts`, one per bin.
    public init(bins: HistogramBins, counts: [Int]) {
        precondition(counts.count == bins.count, "a histogram has one count per bin")
        (self.bins, self.counts) = (bins, counts)
    }
}

extension FeatureStatistics {
    /// The population stability index of these statistics against a reference run's (see
    /// ``HistogramBins/populationStabilityIndex(reference:current:)``), on the reference's
    /// bins (``HistogramBins/init(reference:numericBinCount:)``) plus one bin for missing
    /// values (nulls and NaNs), so that a feature going missing shows as drift too.
    ///
    /// Nil when the types differ, when the reference has no values, or when there is nothing
    /// here (no values and no nulls).
    public func drift(against reference: FeatureStatistics) -> Double? {
        guard type == reference.type, count + nullCount + nanCount > 0, let bins = HistogramBins(reference: reference) else {
            return nil
        }
        func shares(_ statistics: FeatureStatistics) -> [Double] {
            (bins.counts(of: statistics) + [statistics.nullCount + statistics.nanCount]).map(Double.init)
        }
        return HistogramBins.populationStabilityIndex(reference: shares(reference), current: shares(self))
    }
}
