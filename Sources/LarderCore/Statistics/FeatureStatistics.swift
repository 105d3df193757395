import Foundation

/// Statistics of one scalar feature's values, gathered by a materialization run in bounded
/// memory and mergeable, so that an incremental run adds its rows' statistics to the stored
/// ones instead of reading every row again.
///
/// Observe values with ``observe(_:)``, combine partial statistics with ``merge(_:)``, and read
/// the summary: ``count``, ``nullCount``, ``nanCount``, ``min``, ``max``, ``mean``,
/// ``standardDeviation``, ``distinctCount``, ``quantiles``, ``histogram`` and, for strings,
/// ``topValues``. ``drift(against:)`` compares a run with a reference run.
///
/// What is exact and what is estimated:
/// - `count`, `nullCount`, `nanCount`, `min`, `max` are exact, and so are bool counts.
/// - `mean` and `standardDeviation` come from exact sums of the values and their squares:
///   the mean is within an ulp of the exact mean, the standard deviation within two, and both
///   are the same, bit for bit, whatever the order in which values are observed and
///   statistics merged. That holds for values of magnitude between about 1e-140 and 1e140,
///   whose squares are doubles: beyond 1e150 the standard deviation is infinite (pandas, which
///   squares deviations from the mean instead, may still give a finite one).
/// - `distinctCount` is a HyperLogLog estimate with a relative standard error of 0.81 %
///   (``distinctCountRelativeStandardError``): within 2.4 % with 99.7 % confidence.
/// - `quantiles` come from a KLL sketch (k = 200): the true rank of the value returned for
///   probability p is within (p ± 0.0133) · count with 99 % confidence
///   (``quantileRankError``). Int64 values and timestamps go through doubles there, which is
///   exact up to 2^53 (microsecond timestamps reach it in the year 2255): beyond, quantiles
///   are rounded to 53 bits, which is no concern for feature data.
/// - Numeric `histogram` counts are estimated from the KLL sample: each bin's share is within
///   ±0.0165 of the true share with 99 % confidence (``binShareError``).
/// - `topValues` (strings) come from 100 Misra–Gries counters: exact while a feature has at
///   most 100 distinct values; otherwise each count is a lower bound, short by at most
///   ``topValueMaxUndercount`` ≤ count / 101, and a value left out of the list is at most
///   that much more frequent than the last one listed.
///
/// Doubles: `-0.0` is counted as `0.0`. NaN is counted in ``nanCount`` and in nothing else:
/// it has no place in an order, a mean or a histogram. pandas treats NaN as missing, so its
/// `count()` is ``count`` and its `isna().sum()` is ``nullCount`` + ``nanCount``.
/// An infinite value makes the mean infinite (NaN with both infinities) and the standard
/// deviation NaN, as in pandas.
///
/// Memory, at most, whatever the number of values: 16 KiB of HyperLogLog registers (int64,
/// double, string, timestamp; allocated at the first value), about 8 KiB of KLL items (under
/// 1,000 doubles, numeric types), 1 KiB for the exact sums, and 100 strings with their counts
/// (strings). A merge holds the items of both KLL sketches until it compacts them.
/// Encoded (``Codable``), statistics take at most about 30 KB of JSON plus the strings: the
/// registers are packed in 6 bits (or listed sparsely when few are set) and base64-encoded,
/// as are the KLL items and the exact sums.
public struct FeatureStatistics: Sendable, Equatable {
    /// The feature's type: a scalar type.
    public let type: ValueType
    /// The number of values that are neither null nor NaN: the values the other statistics
    /// describe.
    public internal(set) var count = 0
    /// The number of nulls.
    public internal(set) var nullCount = 0
    /// The number of NaN doubles (always 0 for other types).
    public internal(set) var nanCount = 0

    // Each type uses only some of the parts below; the others stay empty and cost nothing.
    /// The least and greatest values (not bools, whose range follows from their counts);
    /// `.null` before the first value.
    var minimum: Value = .null
    var maximum: Value = .null
    /// int64, double, timestamp.
    var moments = ExactMoments()
    /// For bools, the number of `true` values (the others of ``count`` are `false`).
    public internal(set) var trueCount = 0
    /// int64, double, string, timestamp.
    var distinct = DistinctSketch()
    /// int64, double, timestamp (as doubles; timestamps in microseconds).
    var sample = QuantileSketch()
    /// string.
    var frequent = FrequentValues()

    /// Empty statistics for a feature of a scalar type; nil for a list type, which has no
    /// statistics.
    public init?(type: ValueType) {
        guard ValueType.scalars.contains(type) else { return nil }
        self.type = type
    }

    // MARK: - Gathering

    /// Counts one value. `null` counts as a null whatever the type; any other value must be of
    /// the feature's type (a mismatch is a programming error and stops the process).
    public mutating func observe(_ value: Value) {
        switch value {
        case .null:
            nullCount += 1
        case .int64(let x):
            requireType(.int64, of: value)
            count += 1
            moments.add(x)
            distinct.insert(hash: StableHash.of(word: UInt64(bitPattern: x)))
            sample.insert(Double(x))
            extendRange(with: value)
        case .double(let x):
            requireType(.double, of: value)
            guard !x.isNaN else {
                nanCount += 1
                return
            }
            let canonical = x.canonical
            count += 1
            moments.add(canonical)
            distinct.insert(hash: StableHash.of(word: canonical.bitPattern))
            sample.insert(canonical)
            extendRange(with: .double(canonical))
        case .string(let s):
            requireType(.string, of: value)
            count += 1
            distinct.insert(hash: StableHash.of(s))
            frequent.insert(s)
            extendRange(with: value)
        case .bool(let b):
            requireType(.bool, of: value)
            count += 1
            if b { trueCount += 1 }
        case .timestamp(let t):
            requireType(.timestamp, of: value)
            count += 1
            moments.add(t.microseconds)
            distinct.insert(hash: StableHash.of(word: UInt64(bitPattern: t.microseconds)))
            sample.insert(Double(t.microseconds))
            extendRange(with: value)
        case .list:
            preconditionFailure("a list value observed for a \(type) feature: lists have no statistics")
        }
    }

    /// Adds the values counted by `other`, statistics of a feature of the same type, as if
    /// they had been observed here. Exact parts (counts, range, sums, distinct registers, and
    /// top values while exact) end up identical to observing all values at once; the quantile
    /// sample ends up different but within the same error.
    public mutating func merge(_ other: FeatureStatistics) {
        precondition(type == other.type, "statistics of a \(other.type) feature merged into those of a \(type) feature")
        count += other.count
        nullCount += other.nullCount
        nanCount += other.nanCount
        if !other.minimum.isNull {
            extendRange(with: other.minimum)
            extendRange(with: other.maximum)
        }
        moments.merge(other.moments)
        trueCount += other.trueCount
        distinct.merge(other.distinct)
        sample.merge(other.sample)
        frequent.merge(other.frequent)
    }

    @inline(__always)
    private func requireType(_ expected: ValueType, of value: Value) {
        precondition(type == expected, "a \(expected) value observed for a \(type) feature")
    }

    private mutating func extendRange(with value: Value) {
        if minimum.isNull || Self.precedes(value, minimum) { minimum = value }
        if maximum.isNull || Self.precedes(maximum, value) { maximum = value }
    }

    /// The order of `min` and `max`: numbers and instants by value, strings as Swift orders
    /// them (Unicode scalar values after canonical normalization; for the NFC text that
    /// data sources hold, code point order, as Python and pandas compare).
    static func precedes(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int64(let x), .int64(let y)): x < y
        case (.double(let x), .double(let y)): x < y
        case (.string(let x), .string(let y)): x < y
        case (.timestamp(let x), .timestamp(let y)): x < y
        default: false
        }
    }

    // MARK: - Summary

    /// The relative standard error of ``distinctCount``: 1.04 / √16384 ≈ 0.0081.
    public static let distinctCountRelativeStandardError = DistinctSketch.relativeStandardError
    /// The normalized rank error of a quantile, at 99 % confidence: 0.0133.
    public static let quantileRankError = QuantileSketch.singleRankError
    /// The error of a numeric histogram bin's share of the values, at 99 % confidence: 0.0165.
    public static let binShareError = QuantileSketch.binRankError
    /// The probabilities of ``quantiles``: p1, p5, p10, p25, p50, p75, p90, p95, p99.
    public static let quantileProbabilities: [Double] = [0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99]
    /// How many ``topValues`` are listed.
    public static let topValueLimit = 20

    /// The least value; nil when there is none.
    public var min: Value? {
        if type == .bool { return trueCount < count ? .bool(false) : count > 0 ? .bool(true) : nil }
        return minimum.isNull ? nil : minimum
    }

    /// The greatest value; nil when there is none.
    public var max: Value? {
        if type == .bool { return trueCount > 0 ? .bool(true) : count > 0 ? .bool(false) : nil }
        return maximum.isNull ? nil : maximum
    }

    /// The arithmetic mean: for bools the share of `true`, for timestamps in microseconds
    /// since the epoch. Nil for strings and when there are no values.
    public var mean: Double? {
        guard count > 0 else { return nil }
        switch type {
        case .bool: return Double(trueCount) / Double(count)  // both exact: one rounding
        case .int64, .double, .timestamp: return moments.mean(count: count)
        default: return nil
        }
    }

    /// The sample variance, with n − 1 in the denominator (pandas' default). Nil for strings
    /// and when there are fewer than two values.
    public var variance: Double? {
        guard count >= 2 else { return nil }
        switch type {
        case .bool:
            // n·Q − S² = n·t − t² for t trues.
            let n = Double(count)
            return Double(trueCount) * Double(count - trueCount) / (n * (n - 1))
        case .int64, .double, .timestamp: return moments.variance(count: count)
        default: return nil
        }
    }

    /// The sample standard deviation (n − 1), in microseconds for timestamps. Nil for strings
    /// and when there are fewer than two values.
    public var standardDeviation: Double? { variance?.squareRoot() }

    /// The number of distinct values: exact for bools, and for strings while they have at
    /// most 100 distinct values; otherwise a HyperLogLog estimate, relative standard error
    /// 0.81 %. Doubles are told apart by value (`-0.0` is `0.0`); strings as Swift's `==`
    /// does in the exact count and by their UTF-8 bytes in the estimate, which differ only for
    /// canonically equivalent spellings (a precomposed é and e + combining accent).
    public var distinctCount: Int {
        switch type {
        case .bool: return (trueCount > 0 ? 1 : 0) + (trueCount < count ? 1 : 0)
        case .string where frequent.isExact(total: count): return frequent.counters.count
        default: return Swift.min(distinct.estimate, count)
        }
    }

    /// A quantile estimate: the probability and the value, of the feature's type.
    public struct Quantile: Sendable, Hashable {
        /// The probability, in 0...1.
        public var probability: Double
        /// The estimate, of the feature's type.
        public var value: Value
        public init(probability: Double, value: Value) { (self.probability, self.value) = (probability, value) }
    }

    /// Quantile estimates at ``quantileProbabilities``. Nil for bools and strings and when
    /// there are no values.
    public var quantiles: [Quantile]? { quantiles(at: Self.quantileProbabilities) }

    /// Quantile estimates at the given probabilities (in 0...1): for each p, a value whose
    /// rank is p · count within ``quantileRankError`` · count. Probabilities 0 and 1 give the
    /// exact ``min`` and ``max``. Nil for bools and strings and when there are no values.
    public func quantiles(at probabilities: [Double]) -> [Quantile]? {
        guard let estimates = sampleQuantiles(probabilities), let min, let max else { return nil }
        return zip(probabilities, estimates).map { p, estimate in
            if p <= 0 { return Quantile(probability: p, value: min) }
            if p >= 1 { return Quantile(probability: p, value: max) }
            let value: Value =
                switch type {
                case .int64: .int64(Self.clamp(estimate, min, max))
                case .timestamp: .timestamp(Timestamp(microseconds: Self.clamp(estimate, min, max)))
                default: .double(estimate)
                }
            return Quantile(probability: p, value: value)
        }
    }

    /// The KLL estimates at `probabilities`, as doubles; nil for types without a sample.
    func sampleQuantiles(_ probabilities: [Double]) -> [Double]? {
        switch type {
        case .int64, .double, .timestamp: sample.quantiles(probabilities)
        default: nil
        }
    }

    /// An integral sample item back to Int64, within the exact range (an item past 2^53 may
    /// have been rounded past it, even past Int64's range).
    private static func clamp(_ estimate: Double, _ min: Value, _ max: Value) -> Int64 {
        func integer(_ value: Value) -> Int64 {
            switch value {
            case .int64(let v): v
            case .timestamp(let t): t.microseconds
            default: 0
            }
        }
        let (low, high) = (integer(min), integer(max))
        if estimate <= Double(low) { return low }
        if estimate >= Double(high) { return high }
        return Int64(estimate)
    }

    /// One of the most frequent string values and its count (a lower bound, see
    /// ``topValueMaxUndercount``).
    public struct TopValue: Sendable, Hashable, Codable {
        public var value: String
        /// Its occurrences, exact or a lower bound (see ``FeatureStatistics/topValueMaxUndercount``).
        public var count: Int
        public init(value: String, count: Int) { (self.value, self.count) = (value, count) }
    }

    /// For strings, the ``topValueLimit`` most frequent values, most frequent first (ties in
    /// ascending order); nil for other types.
    public var topValues: [TopValue]? {
        guard type == .string else { return nil }
        return frequent.top(Self.topValueLimit).map { TopValue(value: $0.value, count: $0.count) }
    }

    /// For strings, how many occurrences a count of ``topValues`` may miss: 0 while the
    /// counts are exact, at most count / 101. Nil for other types.
    public var topValueMaxUndercount: Int? { type == .string ? frequent.maxUndercount(total: count) : nil }

    /// The values' histogram on bins of their own (see ``HistogramBins/init(reference:numericBinCount:)``):
    /// deciles for numbers and timestamps (estimated counts), false and true for bools, the
    /// top values and all others for strings. Nil when there are no values.
    public var histogram: Histogram? {
        HistogramBins(reference: self).map { Histogram(bins: $0, counts: $0.counts(of: self)) }
    }
}
