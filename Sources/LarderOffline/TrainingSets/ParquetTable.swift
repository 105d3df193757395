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
        /// A column without a type: its values until the first row group settles it.
        var pending: [Value] = []
    }

    private var columns: [Column]
    /// The row group being built, one builder per column (a column without a type has a
    /// placeholder until it is settled).
    private var builders: [ColumnBuilder]
    private let compression: PageCompression
    private let rowGroupRows: Int
    private let sink: ([UInt8]) throws -> Void
    private var writer: ParquetWriter?
    private var bufferedRows = 0
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
        builders = columns.map { ColumnBuilder(Self.schema($0.name, $0.type ?? .string), compression: compression) }
        self.compression = compression
        self.rowGroupRows = rowGroupRows
        self.sink = sink
    }

    private static func schema(_ name: String, _ type: ValueType) -> ParquetWriter.ColumnSchema {
        ParquetWriter.ColumnSchema(name: name, type: columnType(type), nullable: true)
    }

    /// Adds `value` to column `c` of the current row; a value of a given or settled type
    /// it does not fit is refused.
    mutating func append(_ value: Value, column c: Int) throws {
        switch value {
        case .string, .list: bufferedBytes += Self.size(of: value)
        default: bufferedBytes += 9
        }
        guard let type = columns[c].type else { return columns[c].pending.append(value) }
        guard Self.append(value, as: type, to: &builders[c]) else {
            throw OfflineStoreError(
                "row \(rowsWritten + bufferedRows + 1), column '\(columns[c].name)': the \(value.type.map { "\($0) " } ?? "")value \(value) does not fit the Parquet column's type, \(type)\(columns[c].settles ? " (settled by the first \(settlingRows) rows)" : ""); write CSV or JSON Lines, or give the column one type"
            )
        }
    }

    /// Adds a string given as its UTF-8 bytes to column `c`, a string column.
    mutating func append(utf8 bytes: UnsafeBufferPointer<UInt8>, column c: Int) {
        precondition(columns[c].type == .string, "UTF-8 bytes into the string column")
        bufferedBytes += 16 + bytes.count
        builders[c].append(utf8: bytes)
    }

    /// Ends a row: writes a row group once one is full.
    mutating func endRow() throws {
        bufferedRows += 1
        if bufferedRows >= rowGroupRows || bufferedBytes >= Self.rowGroupBytes { try writeRowGroup() }
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
        settlingRows = bufferedRows
        for c in columns.indices where columns[c].type == nil {
            let type = Self.settledType(of: columns[c].pending)
            columns[c].type = type
            builders[c] = ColumnBuilder(Self.schema(columns[c].name, type), compression: compression)
            for value in columns[c].pending {
                let fits = Self.append(value, as: type, to: &builders[c])
                precondition(fits, "a settled type fits the values that settled it")
            }
            columns[c].pending = []
        }
        writer = try ParquetWriter(columns: builders.map(\.schema), compression: compression, sink: sink)
    }

    private mutating func writeRowGroup() throws {
        guard bufferedRows > 0 else { return }
        try startIfNeeded()
        try writer!.writeRowGroup(&builders)
        rowsWritten += bufferedRows
        bufferedRows = 0
        bufferedBytes = 0
    }

    /// Appends `value` as a value of `type` (see ``convert(_:to:)``); false when it does not fit.
    private static func append(_ value: Value, as type: ValueType, to builder: inout ColumnBuilder) -> Bool {
        switch (value, type) {
        case (.null, _): builder.appendNull()
        case (.int64(let i), .int64): builder.append(i)
        case (.double(let d), .double): builder.append(d)
        case (.bool(let b), .bool): builder.append(b)
        case (.string(let s), .string): builder.append(s)
        case (.timestamp(let t), .timestamp): builder.append(t.microseconds)
        case (.list, _) where type.element != nil:
            // Converted whole first, so a list that does not fit leaves nothing behind.
            guard case .list(let converted)? = convert(value, to: type) else { return false }
            builder.beginList()
            for item in converted {
                let fits = append(item, as: type.element!, to: &builder)
                precondition(fits, "converted elements fit")
            }
            builder.endList()
        default:
            guard let converted = convert(value, to: type), converted != value else { return false }
            return append(converted, as: type, to: &builder)
        }
        return true
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

    /// About what a value holds in memory and in the page, for the row group's bound.
    private static func size(of value: Value) -> Int {
        switch value {
        case .string(let s): 16 + s.utf8.count
        case .list(let items): 16 + items.reduce(0) { $0 + size(of: $1) }
        default: 9
        }
    }
}
