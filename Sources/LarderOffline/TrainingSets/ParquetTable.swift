import LarderCore
import LarderParquet

/// A training set's rows buffered by column and written as Parquet row groups of a bounded
/// size (``rowGroupRows`` rows, or fewer when the values pass ``rowGroupBytes``), so memory
/// holds one row group whatever the number of rows.
///
/// Every column is nullable. A column's type is given when Larder knows it (join keys, the
/// instant, features, request columns of a typed file); otherwise (JSON Lines request
/// fields, the serving log's values) the first row group's values settle it: integers and
/// doubles make a double column, values of one type that type, no value or values of
/// several types a string column (each value's text). A later value that does not fit the
/// settled type is refused, naming its row.
struct ParquetTable {
    static let rowGroupRows = 65_536
    static let rowGroupBytes = 64 << 20

    private struct Column {
        let name: String
        /// The type written: given, or settled at the first row group.
        var type: ValueType?
        /// Whether the values settled the type (nil given).
        let settles: Bool
        var values: [Value] = []
    }

    private var columns: [Column]
    private let compression: PageCompression
    private let rowGroupRows: Int
    private let sink: ([UInt8]) throws -> Void
    private var writer: ParquetWriter?
    private var bufferedBytes = 0
    /// Rows written to row groups so far.
    private var rowsWritten = 0
    /// The rows of the first row group, whose values settled the types not given.
    private var settlingRows = 0

    /// A table of `columns` (name and type, nil: settled by the values) writing its bytes to
    /// `sink`, in row groups of at most `rowGroupRows` rows.
    init(
        columns: [(name: String, type: ValueType?)], compression: PageCompression, rowGroupRows: Int = Self.rowGroupRows,
        sink: @escaping ([UInt8]) throws -> Void
    ) {
        self.columns = columns.map { Column(name: $0.name, type: $0.type, settles: $0.type == nil) }
        self.compression = compression
        self.rowGroupRows = rowGroupRows
        self.sink = sink
    }

    /// Adds `value` to column `c` of the current row; a value of a given or settled type
    /// it does not fit is refused.
    mutating func append(_ value: Value, column c: Int) throws {
        var value = value
        if let type = columns[c].type, !value.isNull {
            guard let converted = Self.convert(value, to: type) else {
                throw OfflineStoreError(
                    "row \(rowsWritten + columns[c].values.count + 1), column '\(columns[c].name)': the \(value.type.map { "\($0) " } ?? "")value \(value) does not fit the Parquet column's type, \(type)\(columns[c].settles ? " (settled by the first \(settlingRows) rows)" : ""); write CSV or JSON Lines, or give the column one type"
                )
            }
            value = converted
        }
        bufferedBytes += Self.size(of: value)
        columns[c].values.append(value)
    }

    /// Ends a row: writes a row group once one is full.
    mutating func endRow() throws {
        if columns[0].values.count >= rowGroupRows || bufferedBytes >= Self.rowGroupBytes { try writeRowGroup() }
    }

    /// Writes the buffered rows and the footer.
    mutating func finish() throws {
        try writeRowGroup()
        try startIfNeeded()
        try writer!.finish()
    }

    // MARK: Row groups

    private mutating func startIfNeeded() throws {
        guard writer == nil else { return }
        settlingRows = columns[0].values.count
        for c in columns.indices where columns[c].type == nil {
            columns[c].type = Self.settledType(of: columns[c].values)
            columns[c].values = columns[c].values.map { $0.isNull ? $0 : Self.convert($0, to: columns[c].type!)! }
        }
        writer = try ParquetWriter(
            columns: columns.map { .init(name: $0.name, type: Self.columnType($0.type!), nullable: true) }, compression: compression,
            sink: sink)
    }

    private mutating func writeRowGroup() throws {
        let rows = columns[0].values.count
        guard rows > 0 else { return }
        try startIfNeeded()
        let inputs = columns.map { Self.input($0.values, as: $0.type!) }
        try writer!.writeRowGroup(inputs)
        for c in columns.indices { columns[c].values.removeAll(keepingCapacity: true) }
        rowsWritten += rows
        bufferedBytes = 0
    }

    // MARK: Types

    /// The type of a column without one, from its first values (see the type's doc).
    static func settledType(of values: [Value]) -> ValueType {
        var types = Set<ValueType>()
        var elements = Set<ValueType>()
        for value in values {
            guard case .list(let items) = value else {
                if let type = value.type { types.insert(type) }
                continue
            }
            types.insert(.stringList)  // a placeholder for "a list"; its elements decide below
            for item in items { if let type = item.type { elements.insert(type) } }
        }
        if types == [.stringList] { return (scalarType(of: elements) ?? .string).list }
        return scalarType(of: types) ?? .string
    }

    private static func scalarType(of types: Set<ValueType>) -> ValueType? {
        if types == [.int64, .double] { return .double }
        if types.count == 1, let type = types.first, type.element == nil { return type }
        return nil
    }

    /// `value` as a value of `type`: itself, an integer widened to a double, an RFC 3339
    /// string read as a timestamp, any scalar as its text for a string column, a list
    /// element by element; nil when it does not fit.
    static func convert(_ value: Value, to type: ValueType) -> Value? {
        switch (value, type) {
        case (.null, _): return value
        case (.int64, .int64), (.double, .double), (.bool, .bool), (.string, .string), (.timestamp, .timestamp): return value
        case (.int64(let i), .double): return .double(Double(i))
        case (.string(let s), .timestamp): return (try? Timestamp(rfc3339: s)).map(Value.timestamp)
        case (.list(let items), _):
            guard let element = type.element else {
                return type == .string ? .string(jsonText(value)) : nil
            }
            var converted: [Value] = []
            converted.reserveCapacity(items.count)
            for item in items {
                guard let c = convert(item, to: element) else { return nil }
                converted.append(c)
            }
            return .list(converted)
        case (_, .string): return .string(value.description)
        default: return nil
        }
    }

    private static func jsonText(_ value: Value) -> String {
        var bytes: [UInt8] = []
        JSONText.appendValue(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func columnType(_ type: ValueType) -> ParquetWriter.ColumnType {
        switch type {
        case .int64: .int64
        case .double: .double
        case .bool: .bool
        case .string: .string
        case .timestamp: .timestamp
        case .int64List, .doubleList, .stringList, .boolList, .timestampList: .list(columnType(type.element!))
        }
    }

    /// A column's buffered values (every one of `type` or null) as the writer takes them.
    static func input(_ values: [Value], as type: ValueType) -> ParquetWriter.ColumnInput {
        guard let element = type.element else { return .flat(flat(values, as: type)) }
        var lengths: [Int?] = []
        lengths.reserveCapacity(values.count)
        var items: [Value] = []
        for value in values {
            guard case .list(let list) = value else {
                lengths.append(nil)
                continue
            }
            lengths.append(list.count)
            items += list
        }
        return .lists(lengths: lengths, elements: flat(items, as: element))
    }

    private static func flat(_ values: [Value], as type: ValueType) -> ColumnValues {
        switch type {
        case .int64, .timestamp:
            .integers(
                values.map {
                    switch $0 {
                    case .int64(let i): i
                    case .timestamp(let t): t.microseconds
                    default: nil
                    }
                })
        case .double: .doubles(values.map { if case .double(let d) = $0 { d } else { nil } })
        case .bool: .booleans(values.map { if case .bool(let b) = $0 { b } else { nil } })
        default: .byteArrays(values.map { if case .string(let s) = $0 { Array(s.utf8) } else { nil } })
        }
    }

    /// About what a value holds in memory and in the page, for the row group's bound.
    private static func size(of value: Value) -> Int {
        switch value {
        case .string(let s): 16 + s.utf8.count
        case .list(let items): 16 + items.reduce(0) { $0 + size(of: $1) }
        default: 9
        }
    }
}
