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
        var builders = columns.map { ColumnBuilder($0, compression: compression) }
        for (c, input) in values.enumerated() {
            switch (columns[c].type, input) {
            case (.list, .lists(let lengths, let elements)):
                var e = 0
                for length in lengths {
                    guard let length else {
                        builders[c].appendNull()
                        continue
                    }
                    builders[c].beginList()
                    for i in e..<(e + length) { try Self.append(elements, i, to: &builders[c]) }
                    e += length
                    builders[c].endList()
                }
            case (.list, .flat), (_, .lists):
                throw ParquetWriteError("column \(columns[c].name) is \(columns[c].type) but was given \(input)")
            case (_, .flat(let data)):
                for i in 0..<data.count { try Self.append(data, i, to: &builders[c]) }
            }
        }
        try writeRowGroup(&builders)
    }

    /// Value `i` of `data` into `builder`, checking its type and nullability.
    private static func append(_ data: ColumnValues, _ i: Int, to builder: inout ColumnBuilder) throws {
        func mismatch() -> ParquetWriteError {
            ParquetWriteError("column \(builder.schema.name) is \(builder.schema.type) but was given \(data)")
        }
        let isNull: Bool
        switch (builder.valueType, data) {
        case (.int64, .integers(let v)), (.timestamp, .integers(let v)):
            isNull = v[i] == nil
            if let x = v[i] { builder.append(x) }
        case (.double, .doubles(let v)):
            isNull = v[i] == nil
            if let x = v[i] { builder.append(x) }
        case (.bool, .booleans(let v)):
            isNull = v[i] == nil
            if let x = v[i] { builder.append(x) }
        case (.string, .byteArrays(let v)):
            isNull = v[i] == nil
            if let x = v[i] { builder.append(utf8: x) }
        default:
            throw mismatch()
        }
        if isNull {
            guard builder.schema.nullable || builder.isList else {
                throw ParquetWriteError("column \(builder.schema.name) is not nullable but has a null")
            }
            builder.appendNull()
        }
    }

    /// Writes one row group from builders (one per column, in column order, each holding the
    /// same number of rows) and empties them for the next.
    public mutating func writeRowGroup(_ builders: inout [ColumnBuilder]) throws {
        precondition(builders.map(\.schema) == columns, "one builder per column, in order")
        let count = builders.first?.rows ?? 0
        guard count > 0 else { return }
        var chunks: [ColumnChunk] = []
        var groupBytes: Int64 = 0
        var groupCompressed: Int64 = 0
        let groupStart = offset
        for c in builders.indices {
            let column = columns[c]
            precondition(builders[c].rows == count, "every column of a row group has its rows")
            precondition(builders[c].compression == compression, "builders compress with the file's codec")
            let chunk = builders[c].takeChunk()
            let chunkStart = offset
            var uncompressedSize: Int64 = 0
            var levels: Int64 = 0
            for page in chunk.pages {
                var header = ThriftCompactWriter()
                PageHeader(
                    type: .dataPage, uncompressedPageSize: Int32(page.uncompressedSize), compressedPageSize: Int32(page.bytes.count),
                    dataPageHeader: DataPageHeader(
                        numValues: Int32(page.levelCount), encoding: .plain, definitionLevelEncoding: .rle,
                        repetitionLevelEncoding: .rle)
                ).write(to: &header)
                try emit(header.bytes)
                try emit(page.bytes)
                uncompressedSize += Int64(header.bytes.count + page.uncompressedSize)
                levels += Int64(page.levelCount)
            }
            let compressedSize = Int64(offset - chunkStart)
            groupBytes += uncompressedSize
            groupCompressed += compressedSize
            let metadata = ColumnMetaData(
                type: Self.physicalType(column.type), encodings: [.plain, .rle], pathInSchema: Self.path(column),
                codec: Self.codec(compression), numValues: levels, totalUncompressedSize: uncompressedSize,
                totalCompressedSize: compressedSize, dataPageOffset: Int64(chunkStart), statistics: chunk.statistics)
            chunks.append(ColumnChunk(fileOffset: Int64(chunkStart), metaData: metadata))
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
}

/// Values that do not fit the columns a ``ParquetWriter`` was given.
public struct ParquetWriteError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
