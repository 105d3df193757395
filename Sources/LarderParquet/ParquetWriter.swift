/// Writes a Parquet file a row group at a time to a byte sink: the file streams out, and
/// memory holds one row group.
///
/// Each column chunk is one data page v1: repetition levels (a list column), definition
/// levels (a nullable or list column), both RLE/bit-packing hybrid, then PLAIN values,
/// compressed by the file's codec. Every chunk carries statistics (min, max, null count).
/// Strings are BYTE_ARRAY annotated STRING, timestamps INT64 annotated
/// TIMESTAMP(MICROS, isAdjustedToUTC=true), lists the standard three-level LIST group, as
/// pandas, Polars, DuckDB and Spark read them.
public struct ParquetWriter {
    /// A column's type as Larder writes it.
    public indirect enum ColumnType: Sendable, Equatable {
        case int64, double, bool, string, timestamp
        /// A list of elements of a flat type: always nullable, its elements too
        /// (`optional group NAME (LIST) { repeated group list { optional T element; } }`).
        case list(ColumnType)
    }

    /// One column of the file.
    public struct ColumnSchema: Sendable, Equatable {
        public var name: String
        public var type: ColumnType
        public var nullable: Bool

        public init(name: String, type: ColumnType, nullable: Bool) {
            self.name = name
            self.type = type
            self.nullable = nullable
        }
    }

    /// One column's values in a row group.
    public enum ColumnInput: Sendable {
        /// A flat column's values, nil for null.
        case flat(ColumnValues)
        /// A list column: each row's list length (nil: a null list), and the elements of
        /// every row's list, in row order (nil: a null element).
        case lists(lengths: [Int?], elements: ColumnValues)

        var rows: Int {
            switch self {
            case .flat(let values): values.count
            case .lists(let lengths, _): lengths.count
            }
        }
    }

    public let columns: [ColumnSchema]
    public let compression: PageCompression
    private let sink: ([UInt8]) throws -> Void
    private var offset = 0
    private var rowGroups: [RowGroup] = []
    private var rows: Int64 = 0

    /// Starts a file: writes the leading magic to `sink`.
    public init(columns: [ColumnSchema], compression: PageCompression = .zstd, sink: @escaping ([UInt8]) throws -> Void) throws {
        for column in columns {
            if case .list(let element) = column.type {
                precondition(column.nullable, "list columns are nullable")
                if case .list = element { preconditionFailure("a list's elements are of a flat type") }
            }
        }
        self.columns = columns
        self.compression = compression
        self.sink = sink
        try emit(ParquetFooter.magic)
    }

    private mutating func emit(_ bytes: [UInt8]) throws {
        try sink(bytes)
        offset += bytes.count
    }

    /// Writes one row group of flat columns: one value array per column, in column order,
    /// all of one length (see ``writeRowGroup(_:)-([ColumnInput])``).
    public mutating func writeRowGroup(_ values: [ColumnValues]) throws {
        try writeRowGroup(values.map(ColumnInput.flat))
    }

    /// Writes one row group: one input per column, in column order, all of one row count.
    /// `.integers` for int64 and timestamp (microseconds), `.doubles`, `.booleans`,
    /// `.byteArrays` (UTF-8) for string; nil is null and only allowed in a nullable column.
    public mutating func writeRowGroup(_ values: [ColumnInput]) throws {
        precondition(values.count == columns.count, "one input per column")
        let count = values.first?.rows ?? 0
        guard count > 0 else { return }
        var chunks: [ColumnChunk] = []
        var groupBytes: Int64 = 0
        var groupCompressed: Int64 = 0
        let groupStart = offset
        for (column, data) in zip(columns, values) {
            precondition(data.rows == count, "every column of a row group has its rows")
            let page = try Self.page(column, data)
            let compressed = compression.compress(page.bytes)
            var header = ThriftCompactWriter()
            PageHeader(
                type: .dataPage, uncompressedPageSize: Int32(page.bytes.count), compressedPageSize: Int32(compressed.count),
                dataPageHeader: DataPageHeader(
                    numValues: Int32(page.levelCount), encoding: .plain, definitionLevelEncoding: .rle,
                    repetitionLevelEncoding: .rle)
            ).write(to: &header)
            let pageOffset = offset
            try emit(header.bytes)
            try emit(compressed)
            let uncompressedSize = Int64(header.bytes.count + page.bytes.count)
            let compressedSize = Int64(header.bytes.count + compressed.count)
            groupBytes += uncompressedSize
            groupCompressed += compressedSize
            let metadata = ColumnMetaData(
                type: Self.physicalType(column.type), encodings: [.plain, .rle], pathInSchema: Self.path(column),
                codec: Self.codec(compression), numValues: Int64(page.levelCount), totalUncompressedSize: uncompressedSize,
                totalCompressedSize: compressedSize, dataPageOffset: Int64(pageOffset), statistics: page.statistics)
            chunks.append(ColumnChunk(fileOffset: Int64(pageOffset), metaData: metadata))
        }
        rowGroups.append(
            RowGroup(
                columns: chunks, totalByteSize: groupBytes, numRows: Int64(count), fileOffset: Int64(groupStart),
                totalCompressedSize: groupCompressed, ordinal: Int16(truncatingIfNeeded: rowGroups.count)))
        rows += Int64(count)
    }

    /// Writes the footer; the file is complete.
    public mutating func finish() throws {
        var schema = [SchemaElement(name: "schema", numChildren: Int32(columns.count))]
        for column in columns {
            guard case .list(let element) = column.type else {
                schema.append(Self.leaf(column.name, column.type, repetition: column.nullable ? .optional : .required))
                continue
            }
            schema.append(
                SchemaElement(repetitionType: .optional, name: column.name, numChildren: 1, convertedType: .list, logicalType: .list))
            schema.append(SchemaElement(repetitionType: .repeated, name: "list", numChildren: 1))
            schema.append(Self.leaf("element", element, repetition: .optional))
        }
        let metadata = FileMetaData(
            version: 1, schema: schema, numRows: rows, rowGroups: rowGroups, createdBy: "larder",
            columnOrders: Array(repeating: .typeDefined, count: columns.count))
        try emit(ParquetFooter.encode(metadata))
    }

    // MARK: - Schema

    static func leaf(_ name: String, _ type: ColumnType, repetition: FieldRepetitionType) -> SchemaElement {
        SchemaElement(
            type: physicalType(type), repetitionType: repetition, name: name,
            convertedType: type == .string ? .utf8 : type == .timestamp ? .timestampMicros : nil,
            logicalType: type == .string ? .string : type == .timestamp ? .timestamp(isAdjustedToUTC: true, unit: .micros) : nil)
    }

    /// The leaf's path: the column, or for a list its `list.element`.
    static func path(_ column: ColumnSchema) -> [String] {
        if case .list = column.type { [column.name, "list", "element"] } else { [column.name] }
    }

    static func physicalType(_ type: ColumnType) -> PhysicalType {
        switch type {
        case .int64, .timestamp: .int64
        case .double: .double
        case .bool: .boolean
        case .string: .byteArray
        case .list(let element): physicalType(element)
        }
    }

    static func codec(_ compression: PageCompression) -> CompressionCodec {
        switch compression {
        case .uncompressed: .uncompressed
        case .snappy: .snappy
        case .gzip: .gzip
        case .zstd: .zstd
        }
    }

    // MARK: - Pages

    /// The page's bytes (levels, then values), its count of level entries (the page's and
    /// chunk's `num_values`: rows for a flat column, elements and empty or null lists for a
    /// list column) and the chunk's statistics.
    static func page(_ column: ColumnSchema, _ data: ColumnInput) throws -> (
        bytes: [UInt8], levelCount: Int, statistics: Statistics
    ) {
        var bytes: [UInt8] = []
        func appendLevels(_ levels: [UInt32], bitWidth: Int) {
            let encoded = RLEHybrid.encode(levels, bitWidth: bitWidth)
            ByteWriter.littleEndian(UInt64(encoded.count), width: 4, to: &bytes)
            bytes += encoded
        }
        switch (column.type, data) {
        case (.list(let element), .lists(let lengths, let elements)):
            let encoded = try plainValues(of: elements, as: element, column: column.name)
            // Levels: repetition 0 starts a row, 1 continues its list; definition 0 is a null
            // list, 1 an empty one, 2 a null element, 3 an element.
            var repetition: [UInt32] = []
            var definition: [UInt32] = []
            var e = 0
            for length in lengths {
                guard let length else {
                    repetition.append(0)
                    definition.append(0)
                    continue
                }
                guard length > 0 else {
                    repetition.append(0)
                    definition.append(1)
                    continue
                }
                precondition(e + length <= encoded.present.count, "list lengths past the elements given")
                for i in 0..<length {
                    repetition.append(i == 0 ? 0 : 1)
                    definition.append(encoded.present[e] ? 3 : 2)
                    e += 1
                }
            }
            precondition(e == encoded.present.count, "elements left over past the list lengths")
            appendLevels(repetition, bitWidth: 1)
            appendLevels(definition, bitWidth: 2)
            bytes += encoded.values
            let nulls = Int64(definition.count) - Int64(encoded.present.count { $0 })
            return (bytes, definition.count, Statistics(nullCount: nulls, maxValue: encoded.maximum, minValue: encoded.minimum))
        case (.list, .flat), (_, .lists):
            throw ParquetWriteError("column \(column.name) is \(column.type) but was given \(data)")
        case (_, .flat(let values)):
            let encoded = try plainValues(of: values, as: column.type, column: column.name)
            let nulls = encoded.present.count { !$0 }
            if column.nullable {
                appendLevels(encoded.present.map { $0 ? 1 : 0 }, bitWidth: 1)
            } else if nulls > 0 {
                throw ParquetWriteError("column \(column.name) is not nullable but has a null")
            }
            bytes += encoded.values
            return (
                bytes, values.count, Statistics(nullCount: Int64(nulls), maxValue: encoded.maximum, minValue: encoded.minimum)
            )
        }
    }

    /// The PLAIN bytes of the non-null values, which values are present, and the bounds of
    /// the statistics.
    static func plainValues(of data: ColumnValues, as type: ColumnType, column: String) throws -> (
        values: [UInt8], present: [Bool], minimum: [UInt8]?, maximum: [UInt8]?
    ) {
        var values: [UInt8] = []
        var present: [Bool] = []
        present.reserveCapacity(data.count)
        var minimum: [UInt8]?
        var maximum: [UInt8]?
        switch (type, data) {
        case (.int64, .integers(let v)), (.timestamp, .integers(let v)):
            values.reserveCapacity(v.count * 8)
            var low: Int64?
            var high: Int64?
            for x in v {
                present.append(x != nil)
                guard let x else { continue }
                ByteWriter.littleEndian(UInt64(bitPattern: x), width: 8, to: &values)
                low = min(low ?? x, x)
                high = max(high ?? x, x)
            }
            minimum = low.map { Self.plain($0) }
            maximum = high.map { Self.plain($0) }
        case (.double, .doubles(let v)):
            values.reserveCapacity(v.count * 8)
            var low: Double?
            var high: Double?
            for x in v {
                present.append(x != nil)
                guard let x else { continue }
                ByteWriter.littleEndian(x.bitPattern, width: 8, to: &values)
                // NaN is in no order: it is left out of the bounds, as the format asks.
                guard !x.isNaN else { continue }
                low = min(low ?? x, x)
                high = max(high ?? x, x)
            }
            // A zero bound is written -0.0 as a minimum and +0.0 as a maximum (the format's rule).
            minimum = low.map { Self.plain($0 == 0 ? -0.0 : $0) }
            maximum = high.map { Self.plain($0 == 0 ? 0.0 : $0) }
        case (.bool, .booleans(let v)):
            var booleans: [Bool] = []
            for x in v {
                present.append(x != nil)
                if let x { booleans.append(x) }
            }
            PlainEncoding.append(booleans: booleans, to: &values)
            if !booleans.isEmpty {
                minimum = [booleans.contains(false) ? 0 : 1]
                maximum = [booleans.contains(true) ? 1 : 0]
            }
        case (.string, .byteArrays(let v)):
            for x in v {
                present.append(x != nil)
                guard let x else { continue }
                PlainEncoding.append(byteArray: x, to: &values)
                // Unsigned byte order, as the STRING annotation asks.
                if minimum == nil || x.lexicographicallyPrecedes(minimum!) { minimum = x }
                if maximum == nil || maximum!.lexicographicallyPrecedes(x) { maximum = x }
            }
        default:
            throw ParquetWriteError("column \(column) is \(type) but was given \(data)")
        }
        return (values, present, minimum, maximum)
    }

    static func plain(_ value: Int64) -> [UInt8] {
        var out: [UInt8] = []
        ByteWriter.littleEndian(UInt64(bitPattern: value), width: 8, to: &out)
        return out
    }

    static func plain(_ value: Double) -> [UInt8] {
        var out: [UInt8] = []
        ByteWriter.littleEndian(value.bitPattern, width: 8, to: &out)
        return out
    }
}

/// Values that do not fit the columns a ``ParquetWriter`` was given.
public struct ParquetWriteError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
