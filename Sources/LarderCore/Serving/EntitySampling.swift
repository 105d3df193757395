/// A stable 64-bit hash of entity keys, for sampling that repeats (`larder verify`'s sample,
/// the serving log's): FNV-1a over the seed's 8 bytes (little-endian) and then the keys'
/// text, then MurmurHash3's fmix64 avalanche, since FNV-1a leaves the low digits poorly mixed
/// for keys that differ only in their last character (sequential ids). It depends on nothing
/// but the key values and the seed: not on the platform, the process (Swift's `Hasher` is
/// randomly seeded per process), or the order keys are read in.
public enum EntityKeyHash {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of `keys` under `seed`.
    public static func hash(_ keys: [Value], seed: UInt64) -> UInt64 {
        hash(text: canonicalText(keys), seed: seed)
    }

    /// The hash of an already canonical text under `seed`.
    public static func hash(text: String, seed: UInt64) -> UInt64 {
        var h = offsetBasis
        for i in 0..<8 {
            h = (h ^ UInt64((seed >> (8 * UInt64(i))) & 0xFF)) &* prime
        }
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* prime }
        return avalanche(h)
    }

    /// MurmurHash3's fmix64.
    static func avalanche(_ value: UInt64) -> UInt64 {
        var h = value
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// The keys' canonical text: each value's JSON text (strings quoted and escaped, so
    /// `"a,b"` and two keys `a`, `b` cannot collide), separated by commas.
    public static func canonicalText(_ keys: [Value]) -> String {
        var out: [UInt8] = []
        for (i, key) in keys.enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONText.appendValue(key, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The first `limit` distinct entity keys in hash order (``EntityKeyHash`` under a seed), out
/// of candidates offered one at a time in any order and possibly more than once: the same
/// candidates and seed always give the same sample, in the same order, however they are read.
///
/// Memory holds the sample only (binary insertion into a sorted array of at most `limit`
/// keys), so candidates can stream from a table of any size.
public struct EntityKeySample: Sendable {
    public let limit: Int
    public let seed: UInt64
    /// (hash, canonical text, keys), ascending by hash, then text (hash ties are broken by
    /// the text, so even then the sample does not depend on the candidates' order).
    private var kept: [(hash: UInt64, text: String, keys: [Value])] = []
    private var members: Set<String> = []

    public init(limit: Int, seed: UInt64) {
        precondition(limit >= 0, "a sample size cannot be negative")
        self.limit = limit
        self.seed = seed
    }

    /// Offers one candidate; duplicates are ignored.
    public mutating func offer(_ keys: [Value]) {
        guard limit > 0 else { return }
        let text = EntityKeyHash.canonicalText(keys)
        let hash = EntityKeyHash.hash(text: text, seed: seed)
        if kept.count == limit, let last = kept.last, (hash, text) >= (last.hash, last.text) { return }
        guard !members.contains(text) else { return }
        // The first position whose (hash, text) is greater: binary search.
        var low = 0
        var high = kept.count
        while low < high {
            let mid = (low + high) / 2
            if (kept[mid].hash, kept[mid].text) < (hash, text) { low = mid + 1 } else { high = mid }
        }
        kept.insert((hash, text, keys), at: low)
        members.insert(text)
        if kept.count > limit { members.remove(kept.removeLast().text) }
    }

    /// The sampled keys, in hash order.
    public var keys: [[Value]] { kept.map(\.keys) }
}

/// Request field values for consistency checks, drawn deterministically: the same seed, row
/// and field always give the same value, so a check repeats exactly and both sides of it (the
/// online lookup and the offline recomputation) receive the same values.
public enum RequestFieldSample {
    /// A value of `type` for request field `field` of the row whose entity keys have the
    /// canonical text `row` (``EntityKeyHash/canonicalText(_:)``), under `seed`, relative to
    /// the instant `at` for timestamps.
    ///
    /// The ranges are deliberately modest, so that ordinary request-time arithmetic in an
    /// on-demand closure (`rate + Double(add)`, `a * b`) cannot overflow an Int64 and trap:
    /// int64 in -1,000...1,000; doubles in -1,000...1,000 with a full 52-bit fraction (so
    /// rounding differences would show); strings of 8 hex digits; timestamps within 30 days
    /// before `at`, to the microsecond.
    public static func value(of type: ValueType, field: String, row: String, seed: UInt64, at: Timestamp) -> Value {
        var generator = SplitMix64(state: EntityKeyHash.hash(text: row + "\u{1F}" + field, seed: seed))
        switch type {
        case .int64:
            return .int64(Int64(generator.next() % 2001) - 1000)
        case .double:
            // 53 random bits as a fraction in [0, 1), then scaled: exact, platform-independent.
            let unit = Double(generator.next() >> 11) / Double(UInt64(1) << 53)
            return .double(unit * 2000 - 1000)
        case .string:
            let hex = String(generator.next() >> 32, radix: 16)
            return .string(String(repeating: "0", count: 8 - hex.count) + hex)
        case .bool:
            return .bool(generator.next() & 1 == 1)
        case .timestamp:
            let span: UInt64 = 30 * 86_400 * 1_000_000
            return .timestamp(Timestamp(microseconds: at.microseconds - Int64(generator.next() % span)))
        case .int64List, .doubleList, .stringList, .boolList, .timestampList:
            return .null  // request fields are scalars
        }
    }

    /// SplitMix64 (Steele, Lea and Flood): a tiny generator whose output is fixed by its
    /// seed on every platform, unlike the standard library's.
    struct SplitMix64 {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
