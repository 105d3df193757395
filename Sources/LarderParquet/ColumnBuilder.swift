/// One column's values for the row group being built, encoded as they arrive: PLAIN value
/// bytes, repetition and definition levels, and the statistics (min, max, null count). Every
/// ``pageLevels`` entries (or ``pageBytes`` of values) it cuts a data page and compresses it
/// then, so compression keeps pace with the rows instead of waiting for the row group's end.
/// ``ParquetWriter/writeRowGroup(_:)-([ColumnBuilder])`` writes the pages out and empties it,
/// keeping its buffers for the next row group.
///
/// A flat column takes one `append` or ``appendNull()`` per row. A list column takes
/// ``appendNull()`` (a null list) or ``beginList()``, the elements' `append`s and
/// `appendNull()`s, then ``endList()``.
public struct ColumnBuilder: Sendable {
    /// A page is cut at the first row end past this many level entries...
    static let pageLevels = 16_384
    /// ... or past this many bytes of values.
    static let pageBytes = 1 << 20

    /// A data page, compressed: its header's fields and its bytes.
    struct Page: Sendable {
        var uncompressedSize: Int
        var levelCount: Int
        var bytes: [UInt8]
    }

    public let schema: ParquetWriter.ColumnSchema
    public let compression: PageCompression
    /// The type of the values appended: the column's, or its elements'.
    let valueType: ParquetWriter.ColumnType
    // Checked for every value, so kept as plain values rather than read from the (indirect)
    // column type each time.
    private let physical: PhysicalType
    let isList: Bool
    private let nullable: Bool
    /// Rows in the row group.
    private(set) var rows = 0
    /// The row group's pages cut so far.
    private(set) var pages: [Page] = []
    /// The current page's level entries (its `num_values`).
    private var pageLevelCount = 0
    /// PLAIN bytes of the current page's non-null values (booleans are packed when the page
    /// is cut).
    private(set) var values: [UInt8] = []
    private(set) var booleans: [Bool] = []
    /// The current page's levels, one entry per value or null (and per null or empty list):
    /// only for a nullable or a list column.
    private(set) var definition: [UInt32] = []
    private(set) var repetition: [UInt32] = []
    private(set) var nulls = 0
    private var inList = false
    private var listLength = 0
    // The statistics' bounds, kept by type: this runs for every value, so no enum of arrays.
    private var lowInteger = Int64.max, highInteger = Int64.min
    private var lowDouble = Double.infinity, highDouble = -Double.infinity
    private var lowBytes: [UInt8]?, highBytes: [UInt8]?
    private var sawFalse = false, sawTrue = false
    /// Whether any value counted towards the bounds (NaN does not).
    private var bounded = false

    /// A builder of a column of `schema` whose pages are compressed with `compression`.
    public init(_ schema: ParquetWriter.ColumnSchema, compression: PageCompression) {
        self.schema = schema
        self.compression = compression
        if case .list(let element) = schema.type { valueType = element } else { valueType = schema.type }
        physical = ParquetWriter.physicalType(schema.type)
        isList = valueType != schema.type
        nullable = schema.nullable
    }

    // MARK: Values

    public mutating func append(_ value: Int64) {
        precondition(physical == .int64, "an integer in a \(valueType) column")
        ByteWriter.littleEndian(UInt64(bitPattern: value), width: 8, to: &values)
        lowInteger = min(lowInteger, value)
        highInteger = max(highInteger, value)
        bounded = true
        present()
    }

    public mutating func append(_ value: Double) {
        precondition(physical == .double, "a double in a \(valueType) column")
        ByteWriter.littleEndian(value.bitPattern, width: 8, to: &values)
        // NaN is in no order: it is left out of the bounds, as the format asks.
        if !value.isNaN {
            lowDouble = min(lowDouble, value)
            highDouble = max(highDouble, value)
            bounded = true
        }
        present()
    }

    public mutating func append(_ value: Bool) {
        precondition(physical == .boolean, "a boolean in a \(valueType) column")
        booleans.append(value)
        if value { sawTrue = true } else { sawFalse = true }
        bounded = true
        present()
    }

    /// A string's UTF-8 bytes (any bytes for a BYTE_ARRAY).
    public mutating func append(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        precondition(physical == .byteArray, "a string in a \(valueType) column")
        ByteWriter.littleEndian(UInt64(bytes.count), width: 4, to: &values)
        let start = values.count
        values.append(contentsOf: bytes)
        // Unsigned byte order, as the STRING annotation asks; a copy only when a bound moves.
        let added = values[start...]
        if lowBytes.map({ added.lexicographicallyPrecedes($0) }) ?? true { lowBytes = Array(added) }
        if highBytes.map({ $0.lexicographicallyPrecedes(added) }) ?? true { highBytes = Array(added) }
        bounded = true
        present()
    }

    /// A string (its UTF-8 bytes).
    public mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { append(utf8: $0) }
    }

    /// Bytes (UTF-8 for a string column).
    public mutating func append(utf8 bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append(utf8: $0) }
    }

    /// A null value (a null list, outside a list; a null element, inside one).
    public mutating func appendNull() {
        precondition(nullable || inList, "column \(schema.name) is not nullable but was given a null")
        nulls += 1
        pageLevelCount += 1
        if inList {
            repetition.append(listLength == 0 ? 0 : 1)
            definition.append(2)
            listLength += 1
        } else {
            if isList { repetition.append(0) }
            definition.append(0)
            endRow()
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
            pageLevelCount += 1
        }
        endRow()
    }

    private mutating func present() {
        pageLevelCount += 1
        if inList {
            repetition.append(listLength == 0 ? 0 : 1)
            definition.append(3)
            listLength += 1
        } else {
            precondition(!isList, "a value outside a list in list column \(schema.name)")
            if nullable { definition.append(1) }
            endRow()
        }
    }

    /// A row is complete: a page ends here once it is full (pages start at a row).
    private mutating func endRow() {
        rows += 1
        if pageLevelCount >= Self.pageLevels || values.count >= Self.pageBytes { cutPage() }
    }

    // MARK: The page

    /// Makes the current page (repetition levels, definition levels, values), compresses it
    /// and keeps it.
    private mutating func cutPage() {
        guard pageLevelCount > 0 else { return }
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
        } else if nullable {
            appendLevels(definition, bitWidth: 1)
        }
        if physical == .boolean {
            PlainEncoding.append(booleans: booleans, to: &bytes)
        } else {
            bytes += values
        }
        pages.append(Page(uncompressedSize: bytes.count, levelCount: pageLevelCount, bytes: compression.compress(bytes)))
        pageLevelCount = 0
        values.removeAll(keepingCapacity: true)
        booleans.removeAll(keepingCapacity: true)
        definition.removeAll(keepingCapacity: true)
        repetition.removeAll(keepingCapacity: true)
    }

    /// The row group's pages and the chunk's statistics; then empties the builder.
    mutating func takeChunk() -> (pages: [Page], statistics: Statistics) {
        precondition(!inList, "a list begun but not ended in column \(schema.name)")
        cutPage()
        let statistics = Statistics(nullCount: Int64(nulls), maxValue: bound(maximum: true), minValue: bound(maximum: false))
        let chunk = pages
        pages.removeAll(keepingCapacity: true)
        rows = 0
        nulls = 0
        (lowInteger, highInteger, lowDouble, highDouble) = (.max, .min, .infinity, -.infinity)
        (lowBytes, highBytes, sawFalse, sawTrue, bounded) = (nil, nil, false, false, false)
        return (chunk, statistics)
    }

    /// The minimum or maximum in PLAIN bytes (nil when no value counted); a zero double is
    /// -0.0 as a minimum and +0.0 as a maximum (the format's rule).
    private func bound(maximum: Bool) -> [UInt8]? {
        guard bounded else { return nil }
        var out: [UInt8] = []
        switch valueType {
        case .int64, .timestamp:
            ByteWriter.littleEndian(UInt64(bitPattern: maximum ? highInteger : lowInteger), width: 8, to: &out)
        case .double:
            let v = maximum ? highDouble : lowDouble
            ByteWriter.littleEndian((v == 0 ? (maximum ? 0.0 : -0.0) : v).bitPattern, width: 8, to: &out)
        case .bool: out = [maximum ? (sawTrue ? 1 : 0) : (sawFalse ? 0 : 1)]
        case .string: out = (maximum ? highBytes : lowBytes) ?? []
        case .list: preconditionFailure("a list's values are its elements'")
        }
        return out
    }
}
