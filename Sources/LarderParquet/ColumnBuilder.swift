/// One column's values for the row group being built, encoded as they arrive: PLAIN value
/// bytes, repetition and definition levels, and the statistics (min, max, null count).
/// ``ParquetWriter/writeRowGroup(_:)-([ColumnBuilder])`` writes it out and empties it,
/// keeping its buffers for the next row group.
///
/// A flat column takes one `append` or ``appendNull()`` per row. A list column takes
/// ``appendNull()`` (a null list) or ``beginList()``, the elements' `append`s and
/// `appendNull()`s, then ``endList()``.
public struct ColumnBuilder: Sendable {
    public let schema: ParquetWriter.ColumnSchema
    /// The type of the values appended: the column's, or its elements'.
    let valueType: ParquetWriter.ColumnType
    private(set) var rows = 0
    /// PLAIN bytes of the non-null values (booleans are packed when the page is made).
    private(set) var values: [UInt8] = []
    private(set) var booleans: [Bool] = []
    /// One entry per value or null (and per null or empty list): only for a nullable or a
    /// list column.
    private(set) var definition: [UInt32] = []
    private(set) var repetition: [UInt32] = []
    private(set) var nulls = 0
    private var inList = false
    private var listLength = 0
    private var low: Bound?
    private var high: Bound?

    private enum Bound: Sendable {
        case integer(Int64), double(Double), bytes([UInt8]), bool(Bool)
    }

    public init(_ schema: ParquetWriter.ColumnSchema) {
        self.schema = schema
        if case .list(let element) = schema.type { valueType = element } else { valueType = schema.type }
    }

    var isList: Bool { if case .list = schema.type { true } else { false } }

    /// The level entries so far: the page's `num_values`.
    var levelCount: Int { isList || schema.nullable ? definition.count : rows }

    // MARK: Values

    public mutating func append(_ value: Int64) {
        precondition(valueType == .int64 || valueType == .timestamp, "an integer in a \(valueType) column")
        ByteWriter.littleEndian(UInt64(bitPattern: value), width: 8, to: &values)
        widen(.integer(value))
        present()
    }

    public mutating func append(_ value: Double) {
        precondition(valueType == .double, "a double in a \(valueType) column")
        ByteWriter.littleEndian(value.bitPattern, width: 8, to: &values)
        // NaN is in no order: it is left out of the bounds, as the format asks.
        if !value.isNaN { widen(.double(value)) }
        present()
    }

    public mutating func append(_ value: Bool) {
        precondition(valueType == .bool, "a boolean in a \(valueType) column")
        booleans.append(value)
        widen(.bool(value))
        present()
    }

    /// A string's UTF-8 bytes (any bytes for a BYTE_ARRAY).
    public mutating func append<Bytes: Collection<UInt8>>(utf8 bytes: Bytes) {
        precondition(valueType == .string, "a string in a \(valueType) column")
        ByteWriter.littleEndian(UInt64(bytes.count), width: 4, to: &values)
        let start = values.count
        values.append(contentsOf: bytes)
        // Unsigned byte order, as the STRING annotation asks; a copy only when a bound moves.
        let added = values[start...]
        if case .bytes(let l)? = low {
            if added.lexicographicallyPrecedes(l) { low = .bytes(Array(added)) }
        } else {
            low = .bytes(Array(added))
        }
        if case .bytes(let h)? = high {
            if h.lexicographicallyPrecedes(added) { high = .bytes(Array(added)) }
        } else {
            high = .bytes(Array(added))
        }
        present()
    }

    /// A null value (a null list, outside a list; a null element, inside one).
    public mutating func appendNull() {
        precondition(schema.nullable || inList, "column \(schema.name) is not nullable but was given a null")
        nulls += 1
        if inList {
            repetition.append(listLength == 0 ? 0 : 1)
            definition.append(2)
            listLength += 1
        } else {
            if isList { repetition.append(0) }
            definition.append(0)
            rows += 1
        }
    }

    // MARK: Lists

    public mutating func beginList() {
        precondition(isList && !inList, "beginList in column \(schema.name), which is not a list or is in one")
        inList = true
        listLength = 0
    }

    public mutating func endList() {
        precondition(inList, "endList without beginList")
        inList = false
        if listLength == 0 {
            repetition.append(0)
            definition.append(1)
        }
        rows += 1
    }

    private mutating func present() {
        if inList {
            repetition.append(listLength == 0 ? 0 : 1)
            definition.append(3)
            listLength += 1
        } else {
            precondition(!isList, "a value outside a list in list column \(schema.name)")
            if schema.nullable { definition.append(1) }
            rows += 1
        }
    }

    private mutating func widen(_ bound: Bound) {
        switch (bound, low, high) {
        case (.integer(let v), .integer(let l)?, .integer(let h)?):
            if v < l { low = bound }
            if v > h { high = bound }
        case (.double(let v), .double(let l)?, .double(let h)?):
            if v < l { low = bound }
            if v > h { high = bound }
        case (.bool(let v), .bool(let l)?, .bool(let h)?):
            if !v && l { low = bound }
            if v && !h { high = bound }
        default:
            low = bound
            high = bound
        }
    }

    // MARK: The page

    /// The page's bytes (repetition levels, definition levels, values) and the statistics;
    /// then empties the builder.
    mutating func takePage() -> (bytes: [UInt8], levelCount: Int, statistics: Statistics) {
        precondition(!inList, "a list begun but not ended in column \(schema.name)")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count + definition.count / 2 + 16)
        func appendLevels(_ levels: [UInt32], bitWidth: Int) {
            let encoded = RLEHybrid.encode(levels, bitWidth: bitWidth)
            ByteWriter.littleEndian(UInt64(encoded.count), width: 4, to: &bytes)
            bytes += encoded
        }
        if isList {
            appendLevels(repetition, bitWidth: 1)
            appendLevels(definition, bitWidth: 2)
        } else if schema.nullable {
            appendLevels(definition, bitWidth: 1)
        }
        if valueType == .bool {
            PlainEncoding.append(booleans: booleans, to: &bytes)
        } else {
            bytes += values
        }
        let statistics = Statistics(nullCount: Int64(nulls), maxValue: Self.plain(high), minValue: Self.plain(low, minimum: true))
        let levelCount = levelCount
        rows = 0
        nulls = 0
        low = nil
        high = nil
        values.removeAll(keepingCapacity: true)
        booleans.removeAll(keepingCapacity: true)
        definition.removeAll(keepingCapacity: true)
        repetition.removeAll(keepingCapacity: true)
        return (bytes, levelCount, statistics)
    }

    /// A bound's PLAIN bytes; a zero double bound is -0.0 as a minimum and +0.0 as a maximum
    /// (the format's rule).
    private static func plain(_ bound: Bound?, minimum: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        switch bound {
        case nil: return nil
        case .integer(let v): ByteWriter.littleEndian(UInt64(bitPattern: v), width: 8, to: &out)
        case .double(let v): ByteWriter.littleEndian((v == 0 ? (minimum ? -0.0 : 0.0) : v).bitPattern, width: 8, to: &out)
        case .bytes(let b): out = b
        case .bool(let b): out = [b ? 1 : 0]
        }
        return out
    }
}
