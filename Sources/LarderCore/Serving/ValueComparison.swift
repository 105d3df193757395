/// How an online value of a feature and its offline recomputation compare.
public enum ValueAgreement: String, Sendable, CaseIterable {
    /// Both non-null and identical (see ``ValueComparison/identical(_:_:)``).
    case equal
    /// Both null: consistent (no value on either side).
    case bothNull = "both_null"
    /// Online null (missing, expired or stale-definition), offline not.
    case onlineNull = "online_null"
    /// Offline null, online not.
    case offlineNull = "offline_null"
    /// Both non-null, and different.
    case mismatched
}

/// The comparison rules of train/serve consistency checks (`larder verify`, serving logs).
///
/// Equality is exact, never approximate: the promise is that both sides run the same code on
/// the same rows, so any difference, even in the last bit of a double, is a defect worth
/// reporting. The size of a numeric difference is measured separately (``smape(_:_:)``).
public enum ValueComparison {
    /// Whether two values are identical: same type and same value, doubles bit for bit (so
    /// `0.0` and `-0.0` differ, and a NaN equals a NaN only with the same payload), lists
    /// element by element with the same rule. `null` is identical only to `null`.
    public static func identical(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.int64(let x), .int64(let y)): x == y
        // `==` on doubles says 0.0 == -0.0 and NaN != NaN; the bits say what was computed.
        case (.double(let x), .double(let y)): x.bitPattern == y.bitPattern
        case (.string(let x), .string(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.timestamp(let x), .timestamp(let y)): x == y
        case (.list(let x), .list(let y)): x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
        default: false
        }
    }

    /// The category of one (online, offline) pair.
    public static func classify(online: Value, offline: Value) -> ValueAgreement {
        switch (online.isNull, offline.isNull) {
        case (true, true): .bothNull
        case (true, false): .onlineNull
        case (false, true): .offlineNull
        case (false, false): identical(online, offline) ? .equal : .mismatched
        }
    }

    /// The symmetric relative error of two numbers (int64 or double):
    /// `|a - b| / ((|a| + |b|) / 2)`, between 0 and 2, whichever side is taken as the reference.
    /// 0 when both are zero (`0.0` against `-0.0`). Nil when either is not a number or not
    /// finite (NaN, infinities): no relative error is meaningful there.
    public static func smape(_ a: Value, _ b: Value) -> Double? {
        guard let x = number(a), let y = number(b), x.isFinite, y.isFinite else { return nil }
        let sum = abs(x) + abs(y)
        guard sum > 0 else { return 0 }
        let difference = abs(x - y)
        // `difference / sum * 2` rather than `difference / (sum / 2)`: halving a subnormal sum
        // can round it to zero. min(_, 2) absorbs rounding past the mathematical bound.
        if sum.isFinite && difference.isFinite { return min(difference / sum * 2, 2) }
        // Near Double.greatestFiniteMagnitude the sum or difference overflows; the halves do
        // not, and they are far from subnormal there, so halving loses nothing.
        return min(abs(x / 2 - y / 2) / (abs(x) / 2 + abs(y) / 2) * 2, 2)
    }

    private static func number(_ value: Value) -> Double? {
        switch value {
        case .int64(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }
}

/// Percentiles of the symmetric relative error (SMAPE) of one feature's mismatches.
public struct SMAPESummary: Sendable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var max: Double

    public init(p50: Double, p90: Double, p99: Double, max: Double) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.max = max
    }

    /// The summary of `errors` (nil when empty). Percentiles by the nearest-rank method: the
    /// p-th percentile is the smallest error that at least p% of the errors do not exceed,
    /// so every reported figure is an error that actually occurred.
    public init?(_ errors: [Double]) {
        guard !errors.isEmpty else { return nil }
        let sorted = errors.sorted()
        // ceil(p * n / 100) in integers, so no rounding can move a rank.
        func rank(_ p: Int) -> Double { sorted[Swift.max(1, (p * sorted.count + 99) / 100) - 1] }
        self.init(p50: rank(50), p90: rank(90), p99: rank(99), max: sorted.last!)
    }
}

/// The tally of one feature's online values against their offline recomputation: how many
/// were compared, in which ``ValueAgreement`` category, the SMAPE of numeric mismatches, and
/// a few examples of disagreements to show the user.
public struct FeatureComparison: Sendable {
    /// What a disagreement looked like, for the report.
    public struct Example: Sendable, Equatable {
        /// The caller's description of the row (`driver_id=1001`).
        public var context: String
        public var agreement: ValueAgreement
        public var online: Value
        public var offline: Value
    }

    /// `view:feature`.
    public let feature: String
    public private(set) var compared = 0
    public private(set) var equal = 0
    public private(set) var bothNull = 0
    public private(set) var onlineNull = 0
    public private(set) var offlineNull = 0
    public private(set) var mismatched = 0
    /// The SMAPE of every numeric mismatch with finite values on both sides.
    public private(set) var errors: [Double] = []
    /// The first disagreements (up to ``exampleLimit``), in the order they were added.
    public private(set) var examples: [Example] = []
    public let exampleLimit: Int

    public init(feature: String, exampleLimit: Int = 3) {
        self.feature = feature
        self.exampleLimit = exampleLimit
    }

    /// Counts one (online, offline) pair and returns its category.
    ///
    /// - Parameter context: describes the row in ``examples``; an autoclosure, so it is built
    ///   only for the few disagreements kept.
    @discardableResult
    public mutating func add(online: Value, offline: Value, context: @autoclosure () -> String = "") -> ValueAgreement {
        let agreement = ValueComparison.classify(online: online, offline: offline)
        compared += 1
        switch agreement {
        case .equal: equal += 1
        case .bothNull: bothNull += 1
        case .onlineNull: onlineNull += 1
        case .offlineNull: offlineNull += 1
        case .mismatched:
            mismatched += 1
            if let error = ValueComparison.smape(online, offline) { errors.append(error) }
        }
        if agreement != .equal && agreement != .bothNull && examples.count < exampleLimit {
            examples.append(Example(context: context(), agreement: agreement, online: online, offline: offline))
        }
        return agreement
    }

    /// Adds the tallies of another comparison of the same feature (rows compared in another
    /// batch): counts and errors add up; examples are kept up to the limit, this one's first.
    public mutating func merge(_ other: FeatureComparison) {
        precondition(other.feature == feature, "merging comparisons of different features")
        compared += other.compared
        equal += other.equal
        bothNull += other.bothNull
        onlineNull += other.onlineNull
        offlineNull += other.offlineNull
        mismatched += other.mismatched
        errors += other.errors
        examples += other.examples.prefix(max(0, exampleLimit - examples.count))
    }

    /// The count of one category.
    public func count(_ agreement: ValueAgreement) -> Int {
        switch agreement {
        case .equal: equal
        case .bothNull: bothNull
        case .onlineNull: onlineNull
        case .offlineNull: offlineNull
        case .mismatched: mismatched
        }
    }

    /// The SMAPE percentiles of the numeric mismatches; nil when there are none.
    public var smape: SMAPESummary? { SMAPESummary(errors) }

    /// Every compared value was equal or null on both sides.
    public var isConsistent: Bool { mismatched == 0 && onlineNull == 0 && offlineNull == 0 }
}

extension JSONValue {
    /// A feature value of `type` read back from its JSON form (training-set JSON Lines, served
    /// responses, serving logs): a scalar by ``exactValue(as:)``, a list (`last(n)` aggregations)
    /// from an array of its element type, null as null. Doubles round-trip exactly, since
    /// Larder writes them in shortest round-trip form and ``JSONParser`` reads them correctly
    /// rounded; non-finite doubles are written as null and so come back as null.
    public func featureValue(as type: ValueType) throws(JSONTypeError) -> Value {
        guard let element = type.element else { return try exactValue(as: type) }
        switch self {
        case .null: return .null
        case .array(let items):
            var values: [Value] = []
            values.reserveCapacity(items.count)
            for item in items { values.append(try item.exactValue(as: element)) }
            return .list(values)
        default: throw .mismatch
        }
    }
}
