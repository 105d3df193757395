/// The most frequent strings of a feature, by the Misra–Gries algorithm with 100 counters.
///
/// Each counter is a lower bound of its value's count, short by at most
/// ``maxUndercount(total:)`` = (n − Σ counters) / 101 ≤ n / 101, and every value more
/// frequent than that holds a counter. While a feature has at most 100 distinct values no
/// counter is ever decremented, and the counts are exact.
///
/// Merging adds the counters and, when more than 100 remain, subtracts the 101st largest from
/// all and drops those left at zero or below (Agarwal et al., "Mergeable summaries", 2012):
/// the same bound then holds for the merged counts.
///
/// Size: 100 strings and their counts.
struct FrequentValues: Sendable, Equatable {
    static let capacity = 100

    private(set) var counters: [String: Int] = [:]

    init() {}

    init(counters: [String: Int]) { self.counters = counters }

    mutating func insert(_ value: String) {
        if let index = counters.index(forKey: value) {
            counters.values[index] += 1
        } else if counters.count < Self.capacity {
            counters[value] = 1
        } else {
            // Full: the new value and every counter each lose one occurrence, capacity + 1
            // occurrences in all. That can happen at most n / (capacity + 1) times, which is
            // the undercount bound, and keeps this O(capacity) step O(1) amortized.
            counters = counters.compactMapValues { $0 > 1 ? $0 - 1 : nil }
        }
    }

    mutating func merge(_ other: FrequentValues) {
        counters.merge(other.counters, uniquingKeysWith: +)
        guard counters.count > Self.capacity else { return }
        let cut = counters.values.sorted(by: >)[Self.capacity]
        counters = counters.compactMapValues { $0 > cut ? $0 - cut : nil }
    }

    /// Whether the counters hold every value seen with its exact count: no decrement ever
    /// happened, since each one leaves the counters' sum short of the values seen.
    func isExact(total: Int) -> Bool { counters.values.reduce(0, +) == total }

    /// The most an occurrence count can be short of the true count, for `total` values seen.
    func maxUndercount(total: Int) -> Int { (total - counters.values.reduce(0, +)) / (Self.capacity + 1) }

    /// The `limit` largest counters, most frequent first, ties in ascending value order.
    func top(_ limit: Int) -> [(value: String, count: Int)] {
        counters.map { (value: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
            .prefix(limit).map { $0 }
    }
}
