/// Writes a Parquet file of flat columns, a row group at a time, to a byte sink: the file
/// streams out, and memory holds one row group.
///
/// Each column chunk is one data page v1: definition levels (RLE/bit-packing hybrid) for a
/// nullable column, then PLAIN values, compressed by the file's codec. Every chunk carries
/// statistics (min, max, null count). Strings are BYTE_ARRAY annotated STRING, timestamps INT64
/// annotated TIMESTAMP(MICROS, isAdjustedToUTC=true), as pandas, Polars, DuckDB and Spark read
/// them.
public struct ParquetWriter {
    /// A column's type as Larder writes it.
    public enum ColumnType: Sendable, Equatable {
        case int64, double, bool, string, timestamp
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

    public let columns: [ColumnSchema]
    public let compression: PageCompression
    private let sink: ([UInt8]) throws -> Void
    private var offset = 0
    private var rowGroups: [RowGroup] = []
    private var rows: Int64 = 0

    /// Starts a file: writes the leading magic to `sink`.
    public init(columns: [ColumnSchema], compression: PageCompression = .zstd, sink: @escaping ([UInt8]) throws -> Void) throws {
        self.columns = columns
        self.compression = compression
        self.sink = sink
        try emit(ParquetFooter.magic)
    }

    private mutating func emit(_ bytes: [UInt8]) throws {
        try sink(bytes)
        offset += bytes.count
    }

    /// Writes one row group: one value array per column, in column order, all of one length.
    /// `.integers` for int64 and timestamp (microseconds), `.doubles`, `.booleans`,
    /// `.byteArrays` (UTF-8) for string; nil is null and only allowed in a nullable column.
    public mutating func writeRowGroup(_ values: [ColumnValues]) throws {
        precondition(values.count == columns.count, "one value array per column")
        let count = values.first?.count ?? 0
        guard count > 0 else { return }
        var chunks: [ColumnChunk] = []
        var groupBytes: Int64 = 0
        var groupCompressed: Int64 = 0
        let groupStart = offset
        for (column, data) in zip(columns, values) {
            precondition(data.count == count, "every column of a row group has its rows")
            let page = try Self.page(column, data)
            let compressed = compression.compress(page.bytes)
            var header = ThriftCompactWriter()
            PageHeader(
                type: .dataPage, uncompressedPageSize: Int32(page.bytes.count), compressedPageSize: Int32(compressed.count),
                dataPageHeader: DataPageHeader(
                    numValues: Int32(count), encoding: .plain, definitionLevelEncoding: .rle, repetitionLevelEncoding: .rle)
            ).write(to: &header)
            let pageOffset = offset
            try emit(header.bytes)
            try emit(compressed)
            let uncompressedSize = Int64(header.bytes.count + page.bytes.count)
            let compressedSize = Int64(header.bytes.count + compressed.count)
            groupBytes += uncompressedSize
            groupCompressed += compressedSize
            let metadata = ColumnMetaData(
                type: Self.physicalType(column.type), encodings: [.plain, .rle], pathInSchema: [column.name],
                codec: Self.codec(compression), numValues: Int64(count), totalUncompressedSize: uncompressedSize,
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
            schema.append(
                SchemaElement(
                    type: Self.physicalType(column.type), repetitionType: column.nullable ? .optional : .required, name: column.name,
                    convertedType: column.type == .string ? .utf8 : column.type == .timestamp ? .timestampMicros : nil,
                    logicalType: column.type == .string
                        ? .string : column.type == .timestamp ? .timestamp(isAdjustedToUTC: true, unit: .micros) : nil))
        }
        let metadata = FileMetaData(
            version: 1, schema: schema, numRows: rows, rowGroups: rowGroups, createdBy: "larder",
            columnOrders: Array(repeating: .typeDefined, count: columns.count))
        try emit(ParquetFooter.encode(metadata))
    }

    // MARK: - Pages

    static func physicalType(_ type: ColumnType) -> PhysicalType {
        switch type {
        case .int64, .timestamp: .int64
        case .double: .double
        case .bool: .boolean
        case .string: .byteArray
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

    /// The page's bytes (levels, then values) and the chunk's statistics.
    static func page(_ column: ColumnSchema, _ data: ColumnValues) throws -> (bytes: [UInt8], statistics: Statistics) {
        var levels: [UInt32] = []
        var values: [UInt8] = []
        var nulls: Int64 = 0
        var minimum: [UInt8]?
        var maximum: [UInt8]?
        func level(_ present: Bool) throws {
            if !present {
                guard column.nullable else { throw ParquetWriteError("column \(column.name) is not nullable but has a null") }
                nulls += 1
            }
            levels.append(present ? 1 : 0)
        }
        switch (column.type, data) {
        case (.int64, .integers(let v)), (.timestamp, .integers(let v)):
            var low: Int64?
            var high: Int64?
            for x in v {
                try level(x != nil)
                guard let x else { continue }
                ByteWriter.littleEndian(UInt64(bitPattern: x), width: 8, to: &values)
                low = min(low ?? x, x)
                high = max(high ?? x, x)
            }
            minimum = low.map { Self.plain($0) }
            maximum = high.map { Self.plain($0) }
        case (.double, .doubles(let v)):
            var low: Double?
            var high: Double?
            for x in v {
                try level(x != nil)
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
            var present: [Bool] = []
            for x in v {
                try level(x != nil)
                if let x { present.append(x) }
            }
            PlainEncoding.append(booleans: present, to: &values)
            if !present.isEmpty {
                minimum = [present.contains(false) ? 0 : 1]
                maximum = [present.contains(true) ? 1 : 0]
            }
        case (.string, .byteArrays(let v)):
            for x in v {
                try level(x != nil)
                guard let x else { continue }
                PlainEncoding.append(byteArray: x, to: &values)
                // Unsigned byte order, as the STRING annotation asks.
                if minimum == nil || x.lexicographicallyPrecedes(minimum!) { minimum = x }
                if maximum == nil || maximum!.lexicographicallyPrecedes(x) { maximum = x }
            }
        default:
            throw ParquetWriteError("column \(column.name) is \(column.type) but was given \(data)")
        }
        var bytes: [UInt8] = []
        if column.nullable {
            let encoded = RLEHybrid.encode(levels, bitWidth: 1)
            ByteWriter.littleEndian(UInt64(encoded.count), width: 4, to: &bytes)
            bytes += encoded
        }
        bytes += values
        return (bytes, Statistics(nullCount: nulls, maxValue: maximum, minValue: minimum))
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
