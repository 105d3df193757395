import Foundation
import LarderTestSupport
import Testing

@testable import LarderCore

/// FeatureStatistics against exact computations on seeded data of every scalar type: each data
/// set has about 200,000 values with nulls, gathered at once and in uneven chunks merged in a
/// scrambled order. Exact statistics must match exactly, sketches within their stated error.
@Suite struct StatisticsTests {
    // MARK: - Data

    static let size = 200_000

    static func normal(_ g: inout SeededGenerator) -> Double {
        // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
        let u = 1 - Double.random(in: 0..<1, using: &g)
        let v = Double.random(in: 0..<1, using: &g)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// Doubles far from zero relative to their spread (mean² / variance ≈ 10^11, where a naive
    /// or running computation loses digits), a skewed component, 3 % nulls and 0.5 % NaNs.
    static func doubleValues(seed: UInt64, shift: Double = 0) -> [Value] {
        var g = SeededGenerator(seed: seed)
        return (0..<size).map { _ in
            let u = Double.random(in: 0..<1, using: &g)
            if u < 0.03 { return .null }
            if u < 0.035 { return .double(.nan) }
            let x =
                u < 0.8
                ? 1_000_000 + 1.5 * normal(&g) : 1_000_000 - 20 * log(1 - Double.random(in: 0..<1, using: &g))
            return .double(x + shift * 5)
        }
    }

    /// Int64s: 30 % zeros (an atom), the rest uniform in ±10^9, 2 % nulls.
    static func int64Values(seed: UInt64) -> [Value] {
        var g = SeededGenerator(seed: seed)
        return (0..<size).map { _ in
            let u = Double.random(in: 0..<1, using: &g)
            if u < 0.02 { return .null }
            if u < 0.3 { return .int64(0) }
            return .int64(Int64.random(in: -1_000_000_000...1_000_000_000, using: &g))
        }
    }

    /// Timestamps in a 30-day window of 2026 (microseconds near 1.8e15, std near 7.5e11), 5 % nulls.
    static func timestampValues(seed: UInt64) -> [Value] {
        var g = SeededGenerator(seed: seed)
        let start: Int64 = 1_767_225_600_000_000  // 2026-01-01T00:00:00Z
        return (0..<size).map { _ in
            if Double.random(in: 0..<1, using: &g) < 0.05 { return .null }
            return .timestamp(Timestamp(microseconds: start + Int64.random(in: 0..<2_592_000_000_000, using: &g)))
        }
    }

    /// Bools, true with probability `p`, 4 % nulls.
    static func boolValues(seed: UInt64, p: Double = 0.3) -> [Value] {
        var g = SeededGenerator(seed: seed)
        return (0..<size).map { _ in
            if Double.random(in: 0..<1, using: &g) < 0.04 { return .null }
            return .bool(Double.random(in: 0..<1, using: &g) < p)
        }
    }

    /// Strings drawn from `distinct` values with Zipf(`exponent`) frequencies, 3 % nulls.
    static func stringValues(seed: UInt64, distinct: Int, exponent: Double, prefix: String = "v") -> [Value] {
        var g = SeededGenerator(seed: seed)
        var cumulative: [Double] = []
        var total = 0.0
        for rank in 1...distinct {
            total += 1 / pow(Double(rank), exponent)
            cumulative.append(total)
        }
        return (0..<size).map { _ in
            if Double.random(in: 0..<1, using: &g) < 0.03 { return .null }
            let u = Double.random(in: 0..<total, using: &g)
            var low = 0
            var high = distinct - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] > u { high = middle } else { low = middle + 1 }
            }
            return .string("\(prefix)\(low)")
        }
    }

    static let doubleData = doubleValues(seed: 1)
    static let int64Data = int64Values(seed: 2)
    static let timestampData = timestampValues(seed: 3)
    static let boolData = boolValues(seed: 4)
    static let fewStrings = stringValues(seed: 5, distinct: 60, exponent: 1.0)
    static let manyStrings = stringValues(seed: 6, distinct: 50_000, exponent: 1.2)

    // Gathered once for all the tests that read them (debug builds observe about a million
    // values a second).
    static let doubleStatistics = gather(.double, doubleData)
    static let int64Statistics = gather(.int64, int64Data)
    static let timestampStatistics = gather(.timestamp, timestampData)
    static let boolStatistics = gather(.bool, boolData)
    static let fewStringStatistics = gather(.string, fewStrings)
    static let manyStringStatistics = gather(.string, manyStrings)

    /// The statistics of `values` observed at once, and observed in 7 uneven chunks whose
    /// statistics are merged in a scrambled order.
    static func gather(_ type: ValueType, _ values: [Value]) -> (whole: FeatureStatistics, merged: FeatureStatistics) {
        var whole = FeatureStatistics(type: type)!
        for value in values { whole.observe(value) }
        return (whole, gatherInChunks(type, values))
    }

    static func gatherInChunks(_ type: ValueType, _ values: [Value]) -> FeatureStatistics {
        let cuts = [0, 1, 1_000, 31_000, 32_500, 90_000, 150_000, values.count]
        var chunks: [FeatureStatistics] = []
        for (start, end) in zip(cuts, cuts.dropFirst()) {
            var chunk = FeatureStatistics(type: type)!
            for value in values[start..<end] { chunk.observe(value) }
            chunks.append(chunk)
        }
        var merged = chunks[4]
        for i in [1, 6, 0, 3, 5, 2] {
            var other = chunks[i]
            if i.isMultiple(of: 2) {
                other.merge(merged)  // merge both ways round
                merged = other
            } else {
                merged.merge(other)
            }
        }
        return merged
    }

    // MARK: - Exact references

    /// A number's double, for the numeric types.
    static func number(_ value: Value) -> Double? {
        switch value {
        case .int64(let v): Double(v)
        case .double(let v): v.isNaN ? nil : v
        case .timestamp(let t): Double(t.microseconds)
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// The exact mean and sample standard deviation of doubles, by two passes: the exact sum
    /// rounded and divided, then the exact sum of the squared deviations from that mean (each
    /// deviation exact as a two-double sum, each square exact as products and their FMA
    /// errors). A different formula from FeatureStatistics' n·Q − S², and exact up to
    /// n · (mean's rounding)², which is negligible here.
    static func exactMeanAndDeviation(_ xs: [Double]) -> (mean: Double, standardDeviation: Double) {
        var sum = ExactSum()
        for x in xs { sum.add(x) }
        let mean = sum.value / Double(xs.count)
        var squares = ExactSum()
        func addProduct(_ a: Double, _ b: Double) {
            let p = a * b
            squares.add(p)
            squares.add((-p).addingProduct(a, b))
        }
        for x in xs {
            // TwoSum: x − mean = high + low exactly.
            let high = x - mean
            let virtual = high - x
            let low = (x - (high - virtual)) + (-mean - virtual)
            addProduct(high, high)
            addProduct(2 * high, low)
            addProduct(low, low)
        }
        return (mean, (squares.value / Double(xs.count - 1)).squareRoot())
    }

    /// The index of the first element of `sorted` that satisfies `predicate`, false then true
    /// along the array (its count if none does).
    static func partition(_ sorted: [Double], _ predicate: (Double) -> Bool) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if predicate(sorted[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }

    static func relativeError(_ a: Double?, _ b: Double) -> Double {
        guard let a else { return .infinity }
        return abs(a - b) / abs(b)
    }

    /// Checks count, nulls, NaNs, min, max against the raw values, and that the merged
    /// statistics agree exactly with the whole.
    static func checkExactParts(_ stats: (whole: FeatureStatistics, merged: FeatureStatistics), _ values: [Value]) {
        let present = values.filter { value in
            switch value {
            case .null: false
            case .double(let d): !d.isNaN
            default: true
            }
        }
        for s in [stats.whole, stats.merged] {
            #expect(s.count == present.count)
            #expect(s.nullCount == values.count { $0.isNull })
            #expect(s.nanCount == values.count { if case .double(let d) = $0 { d.isNaN } else { false } })
            #expect(s.min == present.min(by: FeatureStatistics.precedesForTests))
            #expect(s.max == present.max(by: FeatureStatistics.precedesForTests))
        }
        // The exact parts do not depend on how values were split and merged: same bits.
        #expect(stats.merged.mean?.bitPattern == stats.whole.mean?.bitPattern)
        #expect(stats.merged.standardDeviation?.bitPattern == stats.whole.standardDeviation?.bitPattern)
        #expect(stats.merged.distinctCount == stats.whole.distinctCount)
        #expect(stats.merged.moments == stats.whole.moments)
        #expect(stats.merged.distinct == stats.whole.distinct)
    }

    /// The exact figures of a numeric data set, computed once.
    struct Truth {
        var sorted: [Double]
        var mean: Double
        var standardDeviation: Double

        init(_ values: [Value]) {
            let xs = values.compactMap(StatisticsTests.number)
            sorted = xs.sorted()
            (mean, standardDeviation) = StatisticsTests.exactMeanAndDeviation(xs)
        }
    }

    static let doubleTruth = Truth(doubleData)
    static let int64Truth = Truth(int64Data)
    static let timestampTruth = Truth(timestampData)

    /// Checks mean and standard deviation within 1e-12 relative of the exact two-pass values.
    static func checkMoments(_ s: FeatureStatistics, _ truth: Truth) throws {
        try #require(truth.sorted.count > 1000)
        #expect(relativeError(s.mean, truth.mean) <= 1e-12, "mean \(String(describing: s.mean)) vs \(truth.mean)")
        #expect(
            relativeError(s.standardDeviation, truth.standardDeviation) <= 1e-12,
            "std \(String(describing: s.standardDeviation)) vs \(truth.standardDeviation)")
    }

    /// Checks that the true rank of each quantile estimate is within the documented error of
    /// p · n (with ties, any rank between the counts below and at the estimate will do).
    static func checkQuantiles(_ s: FeatureStatistics, _ truth: Truth) throws {
        let sorted = truth.sorted
        let n = Double(sorted.count)
        let quantiles = try #require(s.quantiles)
        try #require(quantiles.count == 9)
        for quantile in quantiles {
            let estimate = try #require(number(quantile.value))
            let below = Double(Self.partition(sorted) { $0 >= estimate })
            let atOrBelow = Double(Self.partition(sorted) { $0 > estimate })
            let target = quantile.probability * n
            let error = target < below ? (below - target) / n : target > atOrBelow ? (target - atOrBelow) / n : 0
            #expect(error <= FeatureStatistics.quantileRankError, "p\(quantile.probability): rank error \(error)")
        }
    }

    /// Checks each numeric bin's estimated count against the true count, within the bin error.
    static func checkHistogram(_ s: FeatureStatistics, _ truth: Truth) throws {
        let histogram = try #require(s.histogram)
        guard case .numeric(let edges) = histogram.bins.layout else {
            Issue.record("numeric bins expected")
            return
        }
        try #require(edges.count >= 3)
        // Bin i holds the values from edges[i-1] (inclusive) to edges[i] (exclusive).
        let bounds = [0] + edges.map { edge in Self.partition(truth.sorted) { $0 >= edge } } + [truth.sorted.count]
        let exact = zip(bounds, bounds.dropFirst()).map { $1 - $0 }
        #expect(histogram.counts.reduce(0, +) == truth.sorted.count)
        for (estimate, exact) in zip(histogram.counts, exact) {
            let error = abs(Double(estimate - exact)) / Double(truth.sorted.count)
            #expect(error <= FeatureStatistics.binShareError, "\(estimate) vs \(exact)")
        }
    }

    static func exactDistinctCount(_ values: [Value]) -> Int {
        Set(values.filter { !$0.isNull }.map(Aggregation.distinctKey)).count
    }

    static func checkDistinct(_ s: FeatureStatistics, exact: Int) {
        let tolerance = 3 * FeatureStatistics.distinctCountRelativeStandardError * Double(exact)
        #expect(abs(Double(s.distinctCount - exact)) <= tolerance, "\(s.distinctCount) distinct, exactly \(exact)")
    }

    // MARK: - Per type

    @Test func doubles() throws {
        let stats = Self.doubleStatistics
        Self.checkExactParts(stats, Self.doubleData)
        let distinct = Self.exactDistinctCount(Self.doubleData.filter { Self.number($0) != nil })
        for s in [stats.whole, stats.merged] {
            try Self.checkMoments(s, Self.doubleTruth)
            try Self.checkQuantiles(s, Self.doubleTruth)
            try Self.checkHistogram(s, Self.doubleTruth)
            Self.checkDistinct(s, exact: distinct)
        }
        #expect(stats.whole.topValues == nil)
    }

    @Test func int64s() throws {
        let stats = Self.int64Statistics
        Self.checkExactParts(stats, Self.int64Data)
        let distinct = Self.exactDistinctCount(Self.int64Data)
        for s in [stats.whole, stats.merged] {
            try Self.checkMoments(s, Self.int64Truth)
            try Self.checkQuantiles(s, Self.int64Truth)
            try Self.checkHistogram(s, Self.int64Truth)
            Self.checkDistinct(s, exact: distinct)
            // The zeros, 28.6 % of the values, are an atom: a bin of their own, [0, 1).
            let histogram = try #require(s.histogram)
            guard case .numeric(let edges) = histogram.bins.layout, let zero = edges.firstIndex(of: 0) else {
                Issue.record("no edge at 0 in \(histogram.bins)")
                continue
            }
            #expect(edges[zero + 1] == 1)
            let zeros = Self.int64Data.count { $0 == .int64(0) }
            #expect(abs(histogram.counts[zero + 1] - zeros) <= Int(FeatureStatistics.binShareError * Double(s.count)))
            #expect(s.quantiles?.allSatisfy { if case .int64 = $0.value { true } else { false } } == true)
        }
    }

    @Test func timestamps() throws {
        let stats = Self.timestampStatistics
        Self.checkExactParts(stats, Self.timestampData)
        let distinct = Self.exactDistinctCount(Self.timestampData)
        for s in [stats.whole, stats.merged] {
            try Self.checkMoments(s, Self.timestampTruth)
            try Self.checkQuantiles(s, Self.timestampTruth)
            try Self.checkHistogram(s, Self.timestampTruth)
            Self.checkDistinct(s, exact: distinct)
            #expect(s.quantiles?.allSatisfy { if case .timestamp = $0.value { true } else { false } } == true)
        }
    }

    @Test func bools() throws {
        let stats = Self.boolStatistics
        Self.checkExactParts(stats, Self.boolData)
        let trues = Self.boolData.count { $0 == .bool(true) }
        let falses = Self.boolData.count { $0 == .bool(false) }
        try #require(trues > 50_000 && falses > 100_000)
        let exact = Self.exactMeanAndDeviation(Self.boolData.compactMap(Self.number))
        for s in [stats.whole, stats.merged] {
            #expect(Self.relativeError(s.mean, exact.mean) <= 1e-12)
            #expect(Self.relativeError(s.standardDeviation, exact.standardDeviation) <= 1e-12)
            #expect(s.distinctCount == 2)
            #expect(s.quantiles == nil)
            let histogram = try #require(s.histogram)
            #expect(histogram.bins.layout == .bool)
            #expect(histogram.counts == [falses, trues])
        }
        #expect(stats.merged == stats.whole)
    }

    @Test func stringsWithFewValuesAreExact() throws {
        let stats = Self.fewStringStatistics
        Self.checkExactParts(stats, Self.fewStrings)
        var counts: [String: Int] = [:]
        for case .string(let s) in Self.fewStrings { counts[s, default: 0] += 1 }
        try #require(counts.count == 60)
        let expected = counts.map { FeatureStatistics.TopValue(value: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
        for s in [stats.whole, stats.merged] {
            #expect(s.topValues == Array(expected.prefix(20)))
            #expect(s.topValueMaxUndercount == 0)
            #expect(s.distinctCount == 60)
            #expect(s.mean == nil && s.standardDeviation == nil && s.quantiles == nil)
            let histogram = try #require(s.histogram)
            #expect(histogram.bins.layout == .string(values: expected.prefix(20).map(\.value)))
            #expect(histogram.counts == expected.prefix(20).map(\.count) + [expected.dropFirst(20).reduce(0) { $0 + $1.count }])
        }
        #expect(stats.merged == stats.whole)  // no sketch is approximate here but the registers, which merge exactly
    }

    @Test func stringsWithManyValuesFindTheHeavyHitters() throws {
        let stats = Self.manyStringStatistics
        Self.checkExactParts(stats, Self.manyStrings)
        var counts: [String: Int] = [:]
        for case .string(let s) in Self.manyStrings { counts[s, default: 0] += 1 }
        try #require(counts.count > 10_000)
        let distinct = Self.exactDistinctCount(Self.manyStrings)
        for s in [stats.whole, stats.merged] {
            Self.checkDistinct(s, exact: distinct)
            let bound = try #require(s.topValueMaxUndercount)
            #expect(bound > 0 && bound <= s.count / 101)
            // Every reported count is a lower bound within the stated undercount.
            let top = try #require(s.topValues)
            try #require(top.count == 20)
            for entry in top {
                let exact = try #require(counts[entry.value])
                #expect(entry.count <= exact && entry.count >= exact - bound, "\(entry.value): \(entry.count) of \(exact)")
            }
            // Every value more frequent than the bound holds a counter, and the order of the
            // reported values is the true order wherever counts differ by more than the bound.
            let heavy = counts.filter { $0.value > bound }
            #expect(heavy.count >= 10)
            for (value, _) in heavy { #expect(s.frequent.counters[value] != nil, "\(value) missing") }
            for (a, b) in zip(top, top.dropFirst()) { #expect(counts[b.value]! <= counts[a.value]! + bound) }
            let trueTop3 = counts.sorted { $0.value > $1.value }.prefix(3).map(\.key)
            #expect(top.prefix(3).map(\.value) == trueTop3)
        }
    }

    // MARK: - Sketch accuracy

    @Test(arguments: [100, 3_000, 30_000, 45_000, 150_000])
    func distinctCountsAreWithinThreeStandardErrors(distinct: Int) throws {
        // Sequential ids, a tenth of them seen twice; strings, half of them seen twice.
        var ints = try #require(FeatureStatistics(type: .int64))
        var strings = try #require(FeatureStatistics(type: .string))
        for i in 0..<distinct {
            ints.observe(.int64(Int64(i)))
            strings.observe(.string("user-\(i)"))
        }
        for i in 0..<distinct {
            if i % 10 == 0 { ints.observe(.int64(Int64(i))) }
            if i % 2 == 0 { strings.observe(.string("user-\(i)")) }
        }
        let tolerance = 3 * FeatureStatistics.distinctCountRelativeStandardError * Double(distinct)
        #expect(abs(Double(ints.distinctCount - distinct)) <= tolerance, "\(ints.distinctCount) for \(distinct)")
        #expect(abs(Double(strings.distinctCount - distinct)) <= tolerance, "\(strings.distinctCount) for \(distinct)")
    }

    @Test func bigInt64sAreExact() throws {
        // Past 2^53 an Int64 is not a double: the sums split it. Int128 gives the truth.
        var g = SeededGenerator(seed: 7)
        let base: Int64 = 1 << 62
        let values = (0..<5_000).map { _ in base + Int64.random(in: 0..<(1 << 40), using: &g) }
        var stats = try #require(FeatureStatistics(type: .int64))
        for v in values { stats.observe(.int64(v)) }
        let n = Int128(values.count)
        let sum = values.reduce(Int128(0)) { $0 + Int128($1) }
        // Σ (n·x − S)² = n² · Σ (x − mean)², all in Int128 (n·x − S stays below 2^53 here).
        let scaledSquares = values.reduce(Int128(0)) { total, x in
            let deviation = n * Int128(x) - sum
            return total + deviation * deviation
        }
        let mean = Double(sum) / Double(n)
        let variance = Double(scaledSquares) / Double(n * n * (n - 1))
        #expect(Self.relativeError(stats.mean, mean) <= 1e-15)
        #expect(Self.relativeError(stats.standardDeviation, variance.squareRoot()) <= 1e-14)
        // A naive double computation is off by far more: the check can fail.
        let naiveMean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let naiveVariance = values.reduce(0.0) { $0 + (Double($1) - naiveMean) * (Double($1) - naiveMean) } / Double(values.count - 1)
        #expect(Self.relativeError(naiveVariance.squareRoot(), variance.squareRoot()) > 1e-13)

        // The extremes: range and quantiles stay in Int64, however the doubles round.
        stats.observe(.int64(.max))
        stats.observe(.int64(.min))
        #expect(stats.min == .int64(.min) && stats.max == .int64(.max))
        let quantiles = try #require(stats.quantiles(at: [0, 0.001, 0.5, 0.999, 1]))
        #expect(quantiles.first?.value == .int64(.min) && quantiles.last?.value == .int64(.max))
        #expect(quantiles.allSatisfy { if case .int64 = $0.value { true } else { false } })
        let exactMean = Double(sum + Int128(Int64.max) + Int128(Int64.min)) / Double(n + 2)
        #expect(Self.relativeError(stats.mean, exactMean) <= 1e-15)
    }

    @Test func smallAndSpecialCases() throws {
        #expect(FeatureStatistics(type: .doubleList) == nil)
        #expect(FeatureStatistics(type: .stringList) == nil)

        var empty = try #require(FeatureStatistics(type: .double))
        #expect(empty.count == 0 && empty.min == nil && empty.max == nil && empty.mean == nil)
        #expect(empty.standardDeviation == nil && empty.quantiles == nil && empty.histogram == nil && empty.distinctCount == 0)
        empty.observe(.null)
        empty.observe(.double(.nan))
        #expect(empty.nullCount == 1 && empty.nanCount == 1 && empty.count == 0 && empty.mean == nil)

        var one = try #require(FeatureStatistics(type: .double))
        one.observe(.double(-0.0))
        #expect(one.mean == 0 && one.standardDeviation == nil && one.min == .double(0) && one.distinctCount == 1)
        #expect(one.min.map { ValueComparison.identical($0, .double(0)) } == true)  // -0.0 counted as 0.0
        one.observe(.double(0.0))
        #expect(one.standardDeviation == 0 && one.distinctCount == 1)

        var infinite = try #require(FeatureStatistics(type: .double))
        for x in [1.0, .infinity, 2.0, -.infinity] { infinite.observe(.double(x)) }
        #expect(infinite.min == .double(-.infinity) && infinite.max == .double(.infinity))
        #expect(infinite.mean?.isNaN == true && infinite.standardDeviation?.isNaN == true)  // as pandas
        #expect(infinite.quantiles?.count == 9)

        var bools = try #require(FeatureStatistics(type: .bool))
        bools.observe(.bool(true))
        #expect(bools.min == .bool(true) && bools.max == .bool(true) && bools.distinctCount == 1 && bools.mean == 1)
        bools.observe(.bool(false))
        #expect(bools.min == .bool(false) && bools.standardDeviation == 0.5.squareRoot())

        // Merging with empty statistics changes nothing.
        var strings = try #require(FeatureStatistics(type: .string))
        for s in ["b", "a", "b", "é"] { strings.observe(.string(s)) }
        var merged = strings
        merged.merge(try #require(FeatureStatistics(type: .string)))
        #expect(merged == strings)
        #expect(strings.min == .string("a") && strings.max == .string("é") && strings.distinctCount == 3)
        #expect(strings.topValues == [.init(value: "b", count: 2), .init(value: "a", count: 1), .init(value: "é", count: 1)])
    }

    // MARK: - Drift

    @Test func populationStabilityIndex() throws {
        let psi = HistogramBins.populationStabilityIndex
        #expect(psi([1, 2, 3], [1, 2, 3]) == 0)
        #expect(abs(psi([10, 20, 30], [0.1, 0.2, 0.3])) <= 1e-9)  // counts or shares alike
        // By hand: (0.5 − 0.25)·ln 2 + (0.5 − 0.75)·ln(2/3).
        #expect(abs(psi([1, 3], [1, 1]) - (0.25 * log(2.0) - 0.25 * log(2.0 / 3))) <= 1e-12)
        // An empty bin counts as a share of 1e-4.
        #expect(abs(psi([1, 0], [1, 1]) - ((0.5 - 1) * log(0.5) + (0.5 - 1e-4) * log(0.5 / 1e-4))) <= 1e-12)
        #expect(psi([0, 0], [1, 1]).isNaN)
    }

    @Test func driftOfNumbers() throws {
        let reference = Self.doubleStatistics.whole
        #expect(try #require(reference.drift(against: reference)) == 0)
        // The same data gathered differently: another sample, the same distribution.
        let regathered = Self.doubleStatistics.merged
        #expect(try #require(regathered.drift(against: reference)) < 0.01)
        let resample = Self.gatherInChunks(.double, Self.doubleValues(seed: 11))
        let resampled = try #require(resample.drift(against: reference))
        #expect(resampled < 0.02, "resample: \(resampled)")
        // Shifted by 5: about 3 standard deviations of the bulk of the values, 0.4 of all.
        let shifted = Self.gatherInChunks(.double, Self.doubleValues(seed: 12, shift: 1))
        let drifted = try #require(shifted.drift(against: reference))
        #expect(drifted > 0.25, "shifted: \(drifted)")

        // A feature going missing is drift too.
        var missing = resample
        for _ in 0..<resample.count { missing.observe(.null) }
        #expect(try #require(missing.drift(against: reference)) > 0.25)

        // The bins are the reference's: stored with it, they count any later run.
        let bins = try #require(HistogramBins(reference: reference))
        let decoded = try JSONDecoder().decode(HistogramBins.self, from: JSONEncoder().encode(bins))
        #expect(decoded == bins)
        #expect(decoded.counts(of: shifted) == bins.counts(of: shifted))
        #expect(bins.counts(of: reference) == reference.histogram?.counts)
        let reference64 = Self.int64Statistics.whole
        #expect(reference64.drift(against: reference) == nil)  // another type
    }

    @Test func driftOfBoolsAndStrings() throws {
        let bools = Self.boolStatistics.whole
        #expect(bools.drift(against: bools) == 0)
        #expect(try #require(Self.gatherInChunks(.bool, Self.boolValues(seed: 21)).drift(against: bools)) < 0.01)
        #expect(try #require(Self.gatherInChunks(.bool, Self.boolValues(seed: 22, p: 0.6)).drift(against: bools)) > 0.25)

        let strings = Self.manyStringStatistics.whole
        #expect(strings.drift(against: strings) == 0)
        let resample = Self.gatherInChunks(.string, Self.stringValues(seed: 23, distinct: 50_000, exponent: 1.2))
        #expect(try #require(resample.drift(against: strings)) < 0.01)
        // Other values become the frequent ones.
        let renamed = Self.gatherInChunks(.string, Self.stringValues(seed: 24, distinct: 50_000, exponent: 1.2, prefix: "w"))
        #expect(try #require(renamed.drift(against: strings)) > 0.25)
    }

    // MARK: - Encoding

    @Test func codableRoundTrip() throws {
        var all: [FeatureStatistics] = [
            Self.doubleStatistics.merged,
            Self.int64Statistics.merged,
            Self.timestampStatistics.merged,
            Self.boolStatistics.merged,
            Self.fewStringStatistics.merged,
            Self.manyStringStatistics.merged,
        ]
        for type in ValueType.scalars { all.append(try #require(FeatureStatistics(type: type))) }
        var awkward = try #require(FeatureStatistics(type: .double))
        for x in [0.1 + 0.2, .leastNonzeroMagnitude, -.infinity, .greatestFiniteMagnitude, .nan, -Double.leastNormalMagnitude / 3] {
            awkward.observe(.double(x))
        }
        all.append(awkward)
        var bigs = try #require(FeatureStatistics(type: .int64))
        for x in [Int64.min, .max, 0, 1 << 60] { bigs.observe(.int64(x)) }
        all.append(bigs)

        for statistics in all {
            let data = try JSONEncoder().encode(statistics)
            #expect(data.count < 32_000, "\(statistics.type): \(data.count) bytes")
            let decoded = try JSONDecoder().decode(FeatureStatistics.self, from: data)
            #expect(decoded == statistics)
            #expect(decoded.histogram == statistics.histogram)
            // Decoded statistics keep gathering like the original.
            var (a, b) = (statistics, decoded)
            a.merge(statistics)
            b.merge(decoded)
            #expect(a == b)
        }
    }

    @Test func damagedEncodingsAreRefused() throws {
        let statistics = Self.int64Statistics.merged
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(statistics)) as? [String: Any])
        func decodes(_ change: (inout [String: Any]) -> Void) -> Bool {
            var object = json
            change(&object)
            guard let data = try? JSONSerialization.data(withJSONObject: object) else { return false }
            return (try? JSONDecoder().decode(FeatureStatistics.self, from: data)) != nil
        }
        #expect(decodes { _ in })
        #expect(!decodes { $0["format"] = 2 })
        #expect(!decodes { $0["count"] = statistics.count + 1 })  // disagrees with the sample
        #expect(!decodes { $0["type"] = "list<int64>" })
        #expect(!decodes { $0["distinct"] = "AQ==" })  // a sparse header without entries
        #expect(!decodes { $0["min"] = statistics.max.map { if case .int64(let v) = $0 { v + 1 } else { 0 } } })
    }
}

extension FeatureStatistics {
    /// The order min and max follow, for the tests' own min and max.
    static func precedesForTests(_ a: Value, _ b: Value) -> Bool {
        if case .bool(let x) = a, case .bool(let y) = b { return !x && y }
        return precedes(a, b)
    }
}
