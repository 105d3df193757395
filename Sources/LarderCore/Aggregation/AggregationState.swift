/// Where an event sits in time: event time, then created time, then ingest sequence. The
/// order `last(n)` keeps, the same as the point-in-time rule's tie-break.
public struct EventOrder: Sendable, Hashable, Comparable {
    public var eventTime: Int64
    /// `Int64.min` for a source without created times.
    public var createdTime: Int64
    public var sequence: Int64

    public init(eventTime: Int64, createdTime: Int64?, sequence: Int64) {
        self.eventTime = eventTime
        self.createdTime = createdTime ?? .min
        self.sequence = sequence
    }

    @inline(__always)
    public static func < (a: Self, b: Self) -> Bool {
        (a.eventTime, a.createdTime, a.sequence) < (b.eventTime, b.createdTime, b.sequence)
    }
}

/// The partial aggregate of some events for one aggregation: what a tile holds per hop, and
/// what tiles merge into. Every field is order-independent (counts, exact sums, extremes in
/// a total order, the most recent values by ``EventOrder``, distinct sets), so a tile built
/// from events in arrival order equals one built in time order, and merging tiles in any
/// grouping gives the same result: what makes online and offline agree to the bit.
///
/// Only the fields the aggregation's function uses are set.
public struct AggregationState: Sendable, Equatable {
    /// Events (or non-null input values) counted.
    public var count: Int64 = 0
    var intSum: Int128 = 0
    var doubleSum: ExactSum? = nil
    /// The minimum or maximum so far; null when none.
    var extreme: Value = .null
    /// The most recent non-null values, oldest first, at most n.
    var recent: [RecentValue] = []
    /// Distinct values, doubles and timestamps by canonical bits (see ``distinctKey(_:)``).
    var distinct: Set<Value> = []

    public init() {}
}

/// One value kept by `last(n)`, with its place in time.
struct RecentValue: Sendable, Equatable {
    var order: EventOrder
    var value: Value
}

extension Aggregation {
    /// The state of no events.
    public func emptyState() -> AggregationState {
        var state = AggregationState()
        if inputType == .double, function == .sum || function == .mean { state.doubleSum = ExactSum() }
        return state
    }

    /// Adds one event's input value (ignored for `count` of events).
    @inline(__always)
    public func add(_ value: Value, order: EventOrder, to state: inout AggregationState) {
        if input == .events {
            state.count += 1
            return
        }
        if value.isNull { return }
        switch function {
        case .count:
            state.count += 1
        case .sum, .mean:
            state.count += 1
            switch value {
            case .int64(let v): state.intSum += Int128(v)
            case .double(let v): state.doubleSum!.add(v)
            default: break
            }
        case .min:
            if state.extreme.isNull || Self.precedes(value, state.extreme) { state.extreme = value }
        case .max:
            if state.extreme.isNull || Self.precedes(state.extreme, value) { state.extreme = value }
        case .last(let n):
            let item = RecentValue(order: order, value: value)
            if let newest = state.recent.last, item.order < newest.order {
                // Out of order (online arrivals): insert in place.
                let at = state.recent.firstIndex { item.order < $0.order }!
                state.recent.insert(item, at: at)
            } else {
                state.recent.append(item)
            }
            if state.recent.count > n { state.recent.removeFirst(state.recent.count - n) }
        case .distinctCount:
            state.distinct.insert(Self.distinctKey(value))
        }
    }

    /// Merges `other` (the state of other events) into `state`.
    public func merge(_ other: AggregationState, into state: inout AggregationState) {
        state.count += other.count
        switch function {
        case .count: break
        case .sum, .mean:
            state.intSum += other.intSum
            if let sum = other.doubleSum { state.doubleSum!.add(sum) }
        case .min:
            if !other.extreme.isNull, state.extreme.isNull || Self.precedes(other.extreme, state.extreme) {
                state.extreme = other.extreme
            }
        case .max:
            if !other.extreme.isNull, state.extreme.isNull || Self.precedes(state.extreme, other.extreme) {
                state.extreme = other.extreme
            }
        case .last(let n):
            guard !other.recent.isEmpty else { return }
            var merged = state.recent + other.recent
            merged.sort { $0.order < $1.order }
            state.recent = Array(merged.suffix(n))
        case .distinctCount:
            state.distinct.formUnion(other.distinct)
        }
    }

    /// The feature value of a state: the one finalization both sides use.
    /// Empty windows give 0 for `count`, `sum` and `distinctCount`, null otherwise.
    public func result(of state: AggregationState) -> Value {
        switch function {
        case .count: return .int64(state.count)
        case .sum:
            if let sum = state.doubleSum { return .double(sum.value) }
            // An Int64 sum that overflows has no Int64 value: null rather than a wrapped one.
            return Int64(exactly: state.intSum).map(Value.int64) ?? .null
        case .mean:
            guard state.count > 0 else { return .null }
            if let sum = state.doubleSum { return .double(sum.value / Double(state.count)) }
            return .double(Double(state.intSum) / Double(state.count))
        case .min, .max:
            return state.extreme
        case .last:
            return state.recent.isEmpty ? .null : .list(state.recent.map(\.value))
        case .distinctCount:
            return .int64(Int64(state.distinct.count))
        }
    }

    /// `a` orders before `b` (values of the input type; doubles in IEEE total order, so that
    /// -0.0 and NaN give one answer whatever the arrival order).
    @inline(__always)
    static func precedes(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): x.isTotallyOrdered(belowOrEqualTo: y) && x.bitPattern != y.bitPattern
        case (.int64(let x), .int64(let y)): x < y
        case (.timestamp(let x), .timestamp(let y)): x < y
        case (.string(let x), .string(let y)): x < y
        default: false
        }
    }

    /// The identity of a value for `distinctCount`: doubles by bit pattern (all NaNs one
    /// value, and -0.0 equal to 0.0 as `==` says), timestamps by microseconds. A Set of
    /// `Value` cannot hold NaN reliably, since NaN is not equal to itself.
    @inline(__always)
    static func distinctKey(_ value: Value) -> Value {
        switch value {
        case .double(let d):
            .int64(Int64(bitPattern: d.isNaN ? Double.nan.bitPattern : d == 0 ? 0 : d.bitPattern))
        case .timestamp(let t): .int64(t.microseconds)
        default: value
        }
    }
}

// MARK: - Encoding

/// Why stored partial aggregates cannot be read.
public struct TileDecodingError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = "corrupt aggregation tile: \(description)" }
}

extension Aggregation {
    /// Appends the state's bytes: only the fields the function uses.
    public func encode(_ state: AggregationState, to out: inout [UInt8]) {
        Binary.appendVarint(state.count, to: &out)
        switch function {
        case .count: break
        case .sum, .mean:
            if let sum = state.doubleSum {
                let bytes = sum.encoded()
                Binary.appendVarint(Int64(bytes.count), to: &out)
                out += bytes
            } else {
                Binary.appendVarint(Int64(truncatingIfNeeded: state.intSum >> 64), to: &out)
                Binary.appendVarint(Int64(truncatingIfNeeded: state.intSum & 0xFFFF_FFFF_FFFF_FFFF), to: &out)
            }
        case .min, .max:
            Binary.appendValue(state.extreme, to: &out)
        case .last:
            Binary.appendVarint(Int64(state.recent.count), to: &out)
            for item in state.recent {
                Binary.appendVarint(item.order.eventTime, to: &out)
                Binary.appendVarint(item.order.createdTime, to: &out)
                Binary.appendVarint(item.order.sequence, to: &out)
                Binary.appendValue(item.value, to: &out)
            }
        case .distinctCount:
            // Sorted, so that equal states encode to equal bytes.
            let values = state.distinct.sorted { a, b in
                if case .bool(let x) = a, case .bool(let y) = b { return !x && y }
                return Self.precedes(a, b)
            }
            Binary.appendVarint(Int64(values.count), to: &out)
            for v in values { Binary.appendValue(v, to: &out) }
        }
    }

    /// Reads a state written by ``encode(_:to:)``.
    public func decodeState(_ reader: inout BinaryReader) throws(TileDecodingError) -> AggregationState {
        var state = emptyState()
        state.count = try reader.varint()
        guard state.count >= 0 else { throw TileDecodingError("negative count") }
        let elementType = inputType == nil ? ValueType.int64 : (function == .distinctCount ? Self.distinctType(inputType!) : inputType!)
        switch function {
        case .count: break
        case .sum, .mean:
            if state.doubleSum != nil {
                let n = try reader.length()
                guard let sum = ExactSum(encoded: try reader.bytes(n)) else { throw TileDecodingError("bad exact sum") }
                state.doubleSum = sum
            } else {
                let high = try reader.varint()
                let low = try reader.varint()
                state.intSum = Int128(high) << 64 | Int128(UInt64(bitPattern: low))
            }
        case .min, .max:
            state.extreme = try reader.value(elementType)
        case .last(let n):
            let k = try reader.length()
            guard k <= n else { throw TileDecodingError("\(k) values kept by last(\(n))") }
            for _ in 0..<k {
                let order = EventOrder(eventTime: try reader.varint(), createdTime: try reader.varint(), sequence: try reader.varint())
                state.recent.append(RecentValue(order: order, value: try reader.value(elementType)))
            }
        case .distinctCount:
            let k = try reader.length()
            for _ in 0..<k { state.distinct.insert(try reader.value(elementType)) }
        }
        return state
    }

    /// The stored type of distinct keys (doubles and timestamps are kept as int64 bits).
    static func distinctType(_ type: ValueType) -> ValueType {
        type == .double || type == .timestamp ? .int64 : type
    }
}
