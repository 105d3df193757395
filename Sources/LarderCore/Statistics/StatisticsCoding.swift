import Foundation

// The encodings of statistics and bins, for registry rows: a JSON object with readable counts
// and range, and the sketches as base64 bytes. Decoding checks that the parts are consistent,
// so that a damaged row is refused rather than merged into later runs.

extension FeatureStatistics: Codable {
    /// The version of the encoding, written as "format"; decoding refuses any other.
    static let encodingFormat = 1

    private enum CodingKeys: String, CodingKey {
        case format, type, count, nullCount, nanCount, min, max, sum, sumOfSquares, trueCount, distinct, sample, counters
    }

    /// The KLL sketch: its level sizes, items (little-endian doubles, level after level) and
    /// coin state.
    private struct EncodedSample: Codable {
        var levels: [Int]
        var items: String
        var coins: UInt64
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.encodingFormat, forKey: .format)
        try container.encode(type, forKey: .type)
        try container.encode(count, forKey: .count)
        try container.encode(nullCount, forKey: .nullCount)
        try container.encode(nanCount, forKey: .nanCount)
        if count > 0 && type != .bool {
            try encode(minimum, forKey: .min, in: &container)
            try encode(maximum, forKey: .max, in: &container)
        }
        switch type {
        case .bool:
            try container.encode(trueCount, forKey: .trueCount)
        case .string:
            try container.encode(Data(distinct.encoded()).base64EncodedString(), forKey: .distinct)
            let counters = frequent.top(FrequentValues.capacity).map { TopValue(value: $0.value, count: $0.count) }
            try container.encode(counters, forKey: .counters)
        default:
            try container.encode(Data(moments.sum.encoded()).base64EncodedString(), forKey: .sum)
            try container.encode(Data(moments.sumOfSquares.encoded()).base64EncodedString(), forKey: .sumOfSquares)
            try container.encode(Data(distinct.encoded()).base64EncodedString(), forKey: .distinct)
            let parts = sample.parts
            try container.encode(
                EncodedSample(levels: parts.levelSizes, items: Data(parts.items).base64EncodedString(), coins: parts.coins),
                forKey: .sample)
        }
    }

    private func encode(_ value: Value, forKey key: CodingKeys, in container: inout KeyedEncodingContainer<CodingKeys>) throws {
        switch value {
        case .int64(let v): try container.encode(v, forKey: key)
        case .double(let v): try container.encode(JSONDouble(v), forKey: key)
        case .string(let v): try container.encode(v, forKey: key)
        case .timestamp(let t): try container.encode(t.microseconds, forKey: key)
        case .null, .bool, .list: preconditionFailure("no range is stored for \(value)")
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func corrupt(_ key: CodingKeys, _ reason: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: container, debugDescription: reason)
        }
        func bytes(_ key: CodingKeys) throws -> [UInt8] {
            guard let data = Data(base64Encoded: try container.decode(String.self, forKey: key)) else {
                throw corrupt(key, "not base64")
            }
            return [UInt8](data)
        }
        let format = try container.decode(Int.self, forKey: .format)
        guard format == Self.encodingFormat else { throw corrupt(.format, "unknown statistics format \(format)") }
        let type = try container.decode(ValueType.self, forKey: .type)
        guard var statistics = FeatureStatistics(type: type) else { throw corrupt(.type, "no statistics for a \(type) feature") }
        statistics.count = try container.decode(Int.self, forKey: .count)
        statistics.nullCount = try container.decode(Int.self, forKey: .nullCount)
        statistics.nanCount = try container.decode(Int.self, forKey: .nanCount)
        guard statistics.count >= 0, statistics.nullCount >= 0, statistics.nanCount >= 0 else {
            throw corrupt(.count, "negative counts")
        }
        guard type == .double || statistics.nanCount == 0 else { throw corrupt(.nanCount, "NaNs counted for a \(type) feature") }
        if statistics.count > 0 && type != .bool {
            statistics.minimum = try Self.decodeValue(of: type, forKey: .min, in: container)
            statistics.maximum = try Self.decodeValue(of: type, forKey: .max, in: container)
            guard !Self.precedes(statistics.maximum, statistics.minimum) else { throw corrupt(.max, "max below min") }
        }
        switch type {
        case .bool:
            statistics.trueCount = try container.decode(Int.self, forKey: .trueCount)
            guard (0...statistics.count).contains(statistics.trueCount) else { throw corrupt(.trueCount, "more trues than values") }
        case .string:
            guard let distinct = DistinctSketch(encoded: try bytes(.distinct)) else { throw corrupt(.distinct, "bad registers") }
            statistics.distinct = distinct
            let counters = try container.decode([TopValue].self, forKey: .counters)
            let table = Dictionary(counters.map { ($0.value, $0.count) }, uniquingKeysWith: { a, _ in a })
            guard table.count == counters.count, counters.count <= FrequentValues.capacity,
                counters.allSatisfy({ $0.count > 0 }), counters.reduce(0, { $0 + $1.count }) <= statistics.count
            else { throw corrupt(.counters, "inconsistent counters") }
            statistics.frequent = FrequentValues(counters: table)
        default:
            guard let sum = ExactSum(encoded: try bytes(.sum)[...]), let squares = ExactSum(encoded: try bytes(.sumOfSquares)[...])
            else { throw corrupt(.sum, "bad exact sums") }
            statistics.moments = ExactMoments(sum: sum, sumOfSquares: squares)
            guard let distinct = DistinctSketch(encoded: try bytes(.distinct)) else { throw corrupt(.distinct, "bad registers") }
            statistics.distinct = distinct
            let encoded = try container.decode(EncodedSample.self, forKey: .sample)
            guard let items = Data(base64Encoded: encoded.items),
                let sample = QuantileSketch(levelSizes: encoded.levels, items: [UInt8](items), coins: encoded.coins),
                sample.count == statistics.count
            else { throw corrupt(.sample, "bad quantile sketch") }
            statistics.sample = sample
        }
        guard statistics.distinct.registers.isEmpty == (statistics.count == 0 || type == .bool) else {
            throw corrupt(.distinct, "registers do not match the count")
        }
        self = statistics
    }

    private static func decodeValue(
        of type: ValueType, forKey key: CodingKeys, in container: KeyedDecodingContainer<CodingKeys>
    ) throws -> Value {
        switch type {
        case .int64: return .int64(try container.decode(Int64.self, forKey: key))
        case .double: return .double(try container.decode(JSONDouble.self, forKey: key).value)
        case .string: return .string(try container.decode(String.self, forKey: key))
        case .timestamp: return .timestamp(Timestamp(microseconds: try container.decode(Int64.self, forKey: key)))
        default: throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "no range for \(type)")
        }
    }
}

extension HistogramBins: Codable {
    private enum CodingKeys: String, CodingKey { case type, edges, values }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch layout {
        case .numeric(let edges): try container.encode(edges.map(JSONDouble.init), forKey: .edges)
        case .bool: break
        case .string(let values): try container.encode(values, forKey: .values)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(ValueType.self, forKey: .type)
        let layout: Layout =
            switch type {
            case .bool: .bool
            case .string: .string(values: try container.decode([String].self, forKey: .values))
            default: .numeric(edges: try container.decode([JSONDouble].self, forKey: .edges).map(\.value))
            }
        guard let bins = HistogramBins(type: type, layout: layout) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "bins that do not suit a \(type) feature")
        }
        self = bins
    }
}

extension Histogram: Codable {
    private enum CodingKeys: String, CodingKey { case bins, counts }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(bins, forKey: .bins)
        try container.encode(counts, forKey: .counts)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let bins = try container.decode(HistogramBins.self, forKey: .bins)
        let counts = try container.decode([Int].self, forKey: .counts)
        guard counts.count == bins.count, counts.allSatisfy({ $0 >= 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .counts, in: container, debugDescription: "not one count per bin")
        }
        self.init(bins: bins, counts: counts)
    }
}

/// A double in JSON, which has no infinities: a number when finite, otherwise the string
/// "Infinity" or "-Infinity" (statistics hold no NaN).
struct JSONDouble: Codable, Equatable {
    var value: Double

    init(_ value: Double) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if value.isFinite { try container.encode(value) } else { try container.encode(value < 0 ? "-Infinity" : "Infinity") }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            value = number
            return
        }
        switch try container.decode(String.self) {
        case "Infinity": value = .infinity
        case "-Infinity": value = -.infinity
        default: throw DecodingError.dataCorruptedError(in: container, debugDescription: "neither a number nor an infinity")
        }
    }
}
