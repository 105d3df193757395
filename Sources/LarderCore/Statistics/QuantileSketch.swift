/// A KLL quantile sketch (Karnin, Lang and Liberty, "Optimal quantile approximation in
/// streams", 2016) with k = 200, laid out as Apache DataSketches lays out its KLL sketch.
///
/// The sketch keeps a weighted sample of the values: level h holds items of weight 2^h. New
/// values enter level 0. When the sketch is full, the lowest level at or over its capacity is
/// compacted: its items, in order, are cut into adjacent pairs, and one item of each pair (the
/// lower or the upper one, by a coin flip per compaction) moves up a level with twice the
/// weight. The top level may hold k items; each level below 2/3 of the one above, at least 8.
/// A full sketch compacts one level and goes on (DataSketches' "lazy" compaction): the space
/// the upper levels leave free serves level 0, which makes compactions rarer and the error
/// smaller than compacting every level as soon as it reaches its capacity.
///
/// Error: DataSketches measures, for this layout and k = 200, a normalized rank error of
/// 1.33 % for a single quantile and 1.65 % for the mass of a bin (a difference of two ranks),
/// both at 99 % confidence. That is, the value returned for probability p has a true rank
/// within (p ± 0.0133) · n. The tests check this sketch against those figures.
///
/// Determinism: the coin is a SplitMix64 generator kept in the sketch (and in its encoding),
/// so that the same values observed and merged in the same order give the same sketch, in any
/// process. Different merge orders give different, equally accurate, sketches.
///
/// Size: the capacities of the top nine levels sum to 589 items, and every level below adds
/// 8; the number of levels grows with log₂(n / k): 621 items at most for 10⁶ values
/// (13 levels), about 700 for 10⁹, fewer than 1,000 for any count below 2⁶³. A merge holds
/// both sketches' items until it compacts them.
struct QuantileSketch: Sendable, Equatable {
    static let k = 200
    /// Levels far below the top would get fewer than 8 items; compacting tiny levels costs
    /// more error than it saves memory.
    static let minimumLevelCapacity = 8
    static let singleRankError = 0.0133
    static let binRankError = 0.0165

    /// The capacity of a level `depth` levels below the top: k · (2/3)^depth rounded up
    /// step by step, at least 8. Integer arithmetic, so that every platform agrees.
    static let capacities: [Int] = {
        var capacities = [k]
        while capacities.count < 64 { capacities.append(Swift.max(minimumLevelCapacity, (2 * capacities.last! + 2) / 3)) }
        return capacities
    }()

    /// levels[h] holds items of weight 2^h: level 0 in arrival order (sorted when compacted),
    /// the levels above in ascending order, so that a compaction merges rather than sorts.
    /// Never empty: level 0 always exists.
    private(set) var levels: [[Double]] = [[]]
    /// The number of values observed: the sum of the items' weights.
    private(set) var count = 0
    /// The number of items held, Σ levels[h].count.
    private(set) var retained = 0
    /// The state of the coin's generator.
    private var coins: UInt64 = 0
    /// The sum of the levels' capacities, kept rather than summed at every insertion.
    private var totalCapacity = Self.k

    init() {}

    private func capacity(ofLevel h: Int) -> Int { Self.capacities[levels.count - 1 - h] }

    /// Adds a level on top, which lowers every other level's capacity by one step.
    private mutating func addLevel() {
        levels.append([])
        totalCapacity = Self.capacities[..<levels.count].reduce(0, +)
    }

    mutating func insert(_ x: Double) {
        if retained >= totalCapacity { compressOnce() }
        levels[0].append(x)
        retained += 1
        count += 1
    }

    /// Adds the other sketch's items, level by level, then compacts until the capacity holds.
    mutating func merge(_ other: QuantileSketch) {
        guard other.count > 0 else { return }
        guard count > 0 else {
            self = other
            return
        }
        while levels.count < other.levels.count { addLevel() }
        levels[0] += other.levels[0]
        for h in other.levels.indices.dropFirst() { levels[h] = Self.mergeSorted(levels[h], other.levels[h]) }
        count += other.count
        retained += other.retained
        coins = StableHash.finalize(coins ^ StableHash.finalize(other.coins))
        while retained > totalCapacity { compressOnce() }
    }

    /// Compacts the lowest level at or over its capacity. There is one whenever the sketch is
    /// full, since the items then number at least the capacities' sum.
    private mutating func compressOnce() {
        guard let h = levels.indices.first(where: { levels[$0].count >= capacity(ofLevel: $0) }) else { return }
        if h == levels.count - 1 { addLevel() }
        var items = levels[h]
        if h == 0 { items.sort() }  // the levels above are kept sorted
        // With an odd count the smallest item stays behind, so that every pair is complete.
        let start = items.count % 2
        coins &+= 0x9E37_79B9_7F4A_7C15
        let offset = Int(StableHash.finalize(coins) >> 63)
        var promoted: [Double] = []
        promoted.reserveCapacity(items.count / 2)
        for i in stride(from: start + offset, to: items.count, by: 2) { promoted.append(items[i]) }
        levels[h] = start == 1 ? [items[0]] : []
        levels[h + 1] = Self.mergeSorted(levels[h + 1], promoted)
        retained -= promoted.count
    }

    private static func mergeSorted(_ a: [Double], _ b: [Double]) -> [Double] {
        guard !a.isEmpty else { return b }
        guard !b.isEmpty else { return a }
        var merged: [Double] = []
        merged.reserveCapacity(a.count + b.count)
        var (i, j) = (0, 0)
        while i < a.count && j < b.count {
            if b[j] < a[i] {
                merged.append(b[j])
                j += 1
            } else {
                merged.append(a[i])
                i += 1
            }
        }
        merged += a[i...]
        merged += b[j...]
        return merged
    }

    /// The items in ascending order with their weights: the sample the estimates read.
    func weightedItems() -> [(value: Double, weight: Int)] {
        var items: [(value: Double, weight: Int)] = []
        items.reserveCapacity(retained)
        for (h, level) in levels.enumerated() {
            for x in level { items.append((x, 1 << h)) }
        }
        items.sort { $0.value < $1.value }
        return items
    }

    /// For each probability p, the least item whose cumulative weight reaches p · n: its rank
    /// estimates p · n. Nil for an empty sketch.
    func quantiles(_ probabilities: [Double]) -> [Double]? {
        guard count > 0 else { return nil }
        let items = weightedItems()
        var cumulative: [Int] = []
        cumulative.reserveCapacity(items.count)
        var total = 0
        for item in items {
            total += item.weight
            cumulative.append(total)
        }
        return probabilities.map { p in
            let target = p * Double(count)
            // Binary search for the first cumulative weight ≥ target.
            var low = 0
            var high = items.count - 1
            while low < high {
                let middle = (low + high) / 2
                if Double(cumulative[middle]) >= target { high = middle } else { low = middle + 1 }
            }
            return items[low].value
        }
    }

    // MARK: - Encoding

    /// The sketch in parts for ``FeatureStatistics``'s encoding: the level sizes, the items
    /// level after level as little-endian doubles, and the coin's state.
    var parts: (levelSizes: [Int], items: [UInt8], coins: UInt64) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 * retained)
        for level in levels {
            for x in level {
                let bits = x.bitPattern
                for shift in stride(from: UInt64(0), to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> shift)) }
            }
        }
        return (levels.map(\.count), bytes, coins)
    }

    /// Rebuilds a sketch from ``parts``; nil when they cannot come from a sketch (sizes and
    /// bytes disagree, NaN items, an unsorted level above 0, more items than the capacity,
    /// too many levels).
    init?(levelSizes: [Int], items bytes: [UInt8], coins: UInt64) {
        guard !levelSizes.isEmpty, levelSizes.count < 63, levelSizes.allSatisfy({ $0 >= 0 }),
            bytes.count == 8 * levelSizes.reduce(0, +)
        else { return nil }
        var offset = 0
        var levels: [[Double]] = []
        var count = 0
        for (h, size) in levelSizes.enumerated() {
            var level: [Double] = []
            level.reserveCapacity(size)
            for _ in 0..<size {
                var bits: UInt64 = 0
                for j in 0..<8 { bits |= UInt64(bytes[offset + j]) << (8 * UInt64(j)) }
                offset += 8
                let x = Double(bitPattern: bits)
                guard !x.isNaN, h == 0 || level.last.map({ $0 <= x }) ?? true else { return nil }
                level.append(x)
            }
            let (weight, overflow) = size.multipliedReportingOverflow(by: 1 << h)
            let (total, overflowToo) = count.addingReportingOverflow(weight)
            guard !overflow && !overflowToo else { return nil }
            count = total
            levels.append(level)
        }
        self.levels = levels
        self.totalCapacity = Self.capacities[..<levels.count].reduce(0, +)
        self.count = count
        self.retained = levelSizes.reduce(0, +)
        self.coins = coins
        guard retained <= totalCapacity else { return nil }
    }
}
