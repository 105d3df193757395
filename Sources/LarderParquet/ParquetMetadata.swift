// The Parquet metadata structs Larder reads and writes, with the field ids of parquet.thrift.
// Each reads its fields by (id, wire type) and skips every other field, so a footer from a
// newer writer (column orders, size statistics, bloom filter offsets) reads; fields this
// module does not model are not written back.

/// A Parquet metadata struct, read from and written to the Thrift compact protocol.
public protocol ThriftStruct: Hashable, Sendable {
    /// Reads the struct at the reader's position (its fields up to and including the stop).
    init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError)
    /// Writes the struct, its fields in id order and a stop field.
    func write(to writer: inout ThriftCompactWriter)
}

extension ThriftCompactReader {
    /// Reads a list whose elements are of `type`, each with `element`.
    mutating func readList<T>(
        of type: ThriftType, _ what: String, _ element: (inout ThriftCompactReader) throws(ThriftDecodingError) -> T
    ) throws(ThriftDecodingError) -> [T] {
        let offset = position
        let (elementType, count) = try readListHeader()
        // An empty list's element type carries nothing; some writers leave it zero-like.
        if count > 0 && elementType != type {
            throw ThriftDecodingError(
                .invalidType, offset: offset, expected: "\(what) as a list of \(type), found a list of \(elementType)")
        }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try element(&self)) }
        return result
    }

    mutating func readStructList<T: ThriftStruct>(_ what: String) throws(ThriftDecodingError) -> [T] {
        try readList(of: .struct, what) { (reader: inout ThriftCompactReader) throws(ThriftDecodingError) in try T(reading: &reader) }
    }

    mutating func readEnumList<T: ParquetEnum>(_ what: String) throws(ThriftDecodingError) -> [T] {
        try readList(of: .i32, what) { (reader: inout ThriftCompactReader) throws(ThriftDecodingError) in try T(reading: &reader) }
    }

    mutating func readStringList(_ what: String) throws(ThriftDecodingError) -> [String] {
        try readList(of: .binary, what) { (reader: inout ThriftCompactReader) throws(ThriftDecodingError) in try reader.readString() }
    }
}

extension ThriftCompactWriter {
    mutating func writeStructListField<T: ThriftStruct>(_ id: Int16, _ values: [T]) {
        writeFieldHeader(id, .list)
        writeListHeader(.struct, count: values.count)
        for value in values { value.write(to: &self) }
    }

    mutating func writeStructField<T: ThriftStruct>(_ id: Int16, _ value: T) {
        writeFieldHeader(id, .struct)
        value.write(to: &self)
    }

    mutating func writeEnumField<T: ParquetEnum>(_ id: Int16, _ value: T) {
        writeI32Field(id, value.rawValue)
    }

    /// Writes an empty struct: the stop field alone (the members of Parquet's unions of
    /// marker structs).
    mutating func writeEmptyStructField(_ id: Int16) {
        writeFieldHeader(id, .struct)
        beginStruct()
        endStruct()
    }
}

/// Throws the error for a required field that a struct did not have.
func required<T>(_ value: T?, _ field: String, _ reader: ThriftCompactReader) throws(ThriftDecodingError) -> T {
    guard let value else {
        throw ThriftDecodingError(.missingRequiredField, offset: reader.position, expected: "the required field \(field) before this stop")
    }
    return value
}

// MARK: - Key-value metadata

/// A key and optional value of file or column metadata (parquet.thrift `KeyValue`); pyarrow
/// keeps its Arrow schema under `ARROW:schema`.
public struct KeyValue: ThriftStruct {
    /// The key, unique in its list by convention.
    public var key: String
    /// The value; absent and empty are different.
    public var value: String?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(key: String, value: String?) {
        self.key = key
        self.value = value
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var key: String?
        var value: String?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .binary): key = try reader.readString()
            case (2, .binary): value = try reader.readString()
            default: try reader.skip(field.type)
            }
        }
        self.key = try required(key, "KeyValue.key (1)", reader)
        reader.endStruct()
        self.value = value
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeStringField(1, key)
        if let value { writer.writeStringField(2, value) }
        writer.endStruct()
    }
}

// MARK: - Logical types

/// The unit of a TIMESTAMP logical type (parquet.thrift `TimeUnit`, a union of empty structs).
public enum TimeUnit: Hashable, Sendable {
    case millis, micros, nanos

    init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        let start = reader.position
        try reader.beginStruct()
        var unit: TimeUnit?
        while let field = try reader.readFieldHeader() {
            let member: TimeUnit
            switch (field.id, field.type) {
            case (1, .struct): member = .millis
            case (2, .struct): member = .micros
            case (3, .struct): member = .nanos
            default:
                // A unit this module does not know cannot be read as any of these.
                throw ThriftDecodingError(
                    .invalidValue, offset: field.offset,
                    expected: "a TimeUnit of MILLIS (1), MICROS (2) or NANOS (3), found field \(field.id)")
            }
            if unit != nil {
                throw ThriftDecodingError(.invalidValue, offset: field.offset, expected: "one member of the TimeUnit union")
            }
            try reader.skip(.struct)
            unit = member
        }
        guard let unit else {
            throw ThriftDecodingError(.missingRequiredField, offset: start, expected: "a member of the TimeUnit union")
        }
        reader.endStruct()
        self = unit
    }

    func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        switch self {
        case .millis: writer.writeEmptyStructField(1)
        case .micros: writer.writeEmptyStructField(2)
        case .nanos: writer.writeEmptyStructField(3)
        }
        writer.endStruct()
    }
}

/// A column's logical type (parquet.thrift `LogicalType`, a union), in the subset Larder uses.
///
/// Members outside that subset are kept as ``unsupported(fieldID:encoded:)``: the member's
/// field id and its struct's compact bytes, which are independent of where they sit (field
/// ids inside a struct count from zero), so they are written back unchanged.
public enum LogicalType: Hashable, Sendable {
    /// STRING (1): UTF-8 text in a BYTE_ARRAY.
    case string
    /// LIST (3): the three-level list annotation on a group.
    case list
    /// TIMESTAMP (8).
    case timestamp(isAdjustedToUTC: Bool, unit: TimeUnit)
    /// INTEGER (10): the width and signedness of an INT32 or INT64.
    case integer(bitWidth: Int8, isSigned: Bool)
    /// Any other member, kept whole.
    case unsupported(fieldID: Int16, encoded: [UInt8])

    init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        let start = reader.position
        try reader.beginStruct()
        var result: LogicalType?
        while let field = try reader.readFieldHeader() {
            if result != nil {
                throw ThriftDecodingError(.invalidValue, offset: field.offset, expected: "one member of the LogicalType union")
            }
            guard field.type == .struct else {
                throw ThriftDecodingError(
                    .invalidType, offset: field.offset, expected: "a struct as LogicalType member \(field.id), found \(field.type)")
            }
            switch field.id {
            case 1:
                try reader.skip(.struct)
                result = .string
            case 3:
                try reader.skip(.struct)
                result = .list
            case 8: result = try Self.readTimestamp(&reader)
            case 10: result = try Self.readInteger(&reader)
            default:
                let memberStart = reader.position
                try reader.skip(.struct)
                result = .unsupported(fieldID: field.id, encoded: Array(reader.bytes[memberStart..<reader.position]))
            }
        }
        guard let result else {
            throw ThriftDecodingError(.missingRequiredField, offset: start, expected: "a member of the LogicalType union")
        }
        reader.endStruct()
        self = result
    }

    private static func readTimestamp(_ reader: inout ThriftCompactReader) throws(ThriftDecodingError) -> LogicalType {
        try reader.beginStruct()
        var isAdjustedToUTC: Bool?
        var unit: TimeUnit?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .bool): isAdjustedToUTC = try reader.readBool()
            case (2, .struct): unit = try TimeUnit(reading: &reader)
            default: try reader.skip(field.type)
            }
        }
        let result = LogicalType.timestamp(
            isAdjustedToUTC: try required(isAdjustedToUTC, "TimestampType.isAdjustedToUTC (1)", reader),
            unit: try required(unit, "TimestampType.unit (2)", reader))
        reader.endStruct()
        return result
    }

    private static func readInteger(_ reader: inout ThriftCompactReader) throws(ThriftDecodingError) -> LogicalType {
        try reader.beginStruct()
        var bitWidth: Int8?
        var isSigned: Bool?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .byte): bitWidth = try reader.readByte()
            case (2, .bool): isSigned = try reader.readBool()
            default: try reader.skip(field.type)
            }
        }
        let result = LogicalType.integer(
            bitWidth: try required(bitWidth, "IntType.bitWidth (1)", reader),
            isSigned: try required(isSigned, "IntType.isSigned (2)", reader))
        reader.endStruct()
        return result
    }

    func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        switch self {
        case .string: writer.writeEmptyStructField(1)
        case .list: writer.writeEmptyStructField(3)
        case .timestamp(let isAdjustedToUTC, let unit):
            writer.writeFieldHeader(8, .struct)
            writer.beginStruct()
            writer.writeBoolField(1, isAdjustedToUTC)
            writer.writeFieldHeader(2, .struct)
            unit.write(to: &writer)
            writer.endStruct()
        case .integer(let bitWidth, let isSigned):
            writer.writeFieldHeader(10, .struct)
            writer.beginStruct()
            writer.writeFieldHeader(1, .byte)
            writer.writeByte(bitWidth)
            writer.writeBoolField(2, isSigned)
            writer.endStruct()
        case .unsupported(let fieldID, let encoded):
            writer.writeFieldHeader(fieldID, .struct)
            writer.writeRaw(encoded)
        }
        writer.endStruct()
    }
}

// MARK: - Schema

/// One node of the flattened schema tree (parquet.thrift `SchemaElement`): the root, groups
/// (with ``numChildren``) and leaf columns (with ``type``), depth first.
public struct SchemaElement: ThriftStruct {
    /// The physical type of a leaf; nil for a group.
    public var type: PhysicalType?
    /// The byte width of a FIXED_LEN_BYTE_ARRAY.
    public var typeLength: Int32?
    /// Nil only for the root.
    public var repetitionType: FieldRepetitionType?
    /// The field's name (the root's is the writer's choice, often `schema`).
    public var name: String
    /// The number of children of a group; nil for a leaf.
    public var numChildren: Int32?
    /// The legacy annotation, which writers still write beside ``logicalType``.
    public var convertedType: ConvertedType?
    /// The logical type (STRING, TIMESTAMP, LIST, INTEGER, ...).
    public var logicalType: LogicalType?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        type: PhysicalType? = nil, typeLength: Int32? = nil, repetitionType: FieldRepetitionType? = nil, name: String,
        numChildren: Int32? = nil, convertedType: ConvertedType? = nil, logicalType: LogicalType? = nil
    ) {
        self.type = type
        self.typeLength = typeLength
        self.repetitionType = repetitionType
        self.name = name
        self.numChildren = numChildren
        self.convertedType = convertedType
        self.logicalType = logicalType
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var name: String?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): type = try PhysicalType(reading: &reader)
            case (2, .i32): typeLength = try reader.readI32()
            case (3, .i32): repetitionType = try FieldRepetitionType(reading: &reader)
            case (4, .binary): name = try reader.readString()
            case (5, .i32): numChildren = try reader.readI32()
            case (6, .i32): convertedType = try ConvertedType(reading: &reader)
            case (10, .struct): logicalType = try LogicalType(reading: &reader)
            default: try reader.skip(field.type)
            }
        }
        self.name = try required(name, "SchemaElement.name (4)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        if let type { writer.writeEnumField(1, type) }
        if let typeLength { writer.writeI32Field(2, typeLength) }
        if let repetitionType { writer.writeEnumField(3, repetitionType) }
        writer.writeStringField(4, name)
        if let numChildren { writer.writeI32Field(5, numChildren) }
        if let convertedType { writer.writeEnumField(6, convertedType) }
        if let logicalType {
            writer.writeFieldHeader(10, .struct)
            logicalType.write(to: &writer)
        }
        writer.endStruct()
    }
}

// MARK: - Statistics

/// A column chunk's or page's statistics (parquet.thrift `Statistics`). Values are in the
/// column's PLAIN encoding (without a length prefix for BYTE_ARRAY).
public struct Statistics: ThriftStruct {
    /// The deprecated max (1) and min (2): old writers' only statistics, whose sort order
    /// is signed bytes and so wrong for strings; kept for reading such files.
    public var max: [UInt8]?
    /// The deprecated min (2); see ``max``.
    public var min: [UInt8]?
    /// Null values (not rows) in the chunk or page.
    public var nullCount: Int64?
    /// Distinct values, if the writer counted them (few do).
    public var distinctCount: Int64?
    /// The largest value in the column's sort order.
    public var maxValue: [UInt8]?
    /// The smallest value in the column's sort order.
    public var minValue: [UInt8]?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        max: [UInt8]? = nil, min: [UInt8]? = nil, nullCount: Int64? = nil, distinctCount: Int64? = nil, maxValue: [UInt8]? = nil,
        minValue: [UInt8]? = nil
    ) {
        self.max = max
        self.min = min
        self.nullCount = nullCount
        self.distinctCount = distinctCount
        self.maxValue = maxValue
        self.minValue = minValue
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .binary): max = try reader.readBinary()
            case (2, .binary): min = try reader.readBinary()
            case (3, .i64): nullCount = try reader.readI64()
            case (4, .i64): distinctCount = try reader.readI64()
            case (5, .binary): maxValue = try reader.readBinary()
            case (6, .binary): minValue = try reader.readBinary()
            default: try reader.skip(field.type)
            }
        }
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        if let max { writer.writeBinaryField(1, max) }
        if let min { writer.writeBinaryField(2, min) }
        if let nullCount { writer.writeI64Field(3, nullCount) }
        if let distinctCount { writer.writeI64Field(4, distinctCount) }
        if let maxValue { writer.writeBinaryField(5, maxValue) }
        if let minValue { writer.writeBinaryField(6, minValue) }
        writer.endStruct()
    }
}

// MARK: - Column chunks and row groups

/// The metadata of one column chunk (parquet.thrift `ColumnMetaData`).
public struct ColumnMetaData: ThriftStruct {
    /// The physical type of the column's values.
    public var type: PhysicalType
    /// Every encoding used in the chunk's pages, levels included.
    public var encodings: [Encoding]
    /// The leaf's path from the root, without the root (`["hist", "list", "element"]`).
    public var pathInSchema: [String]
    /// The compression of every page of the chunk.
    public var codec: CompressionCodec
    /// Values including nulls (and, for repeated columns, list entries rather than rows).
    public var numValues: Int64
    /// The chunk's size before compression, page headers included.
    public var totalUncompressedSize: Int64
    /// The chunk's size in the file, page headers included.
    public var totalCompressedSize: Int64
    /// Free-form metadata of the chunk.
    public var keyValueMetadata: [KeyValue]?
    /// The file offset of the first data page.
    public var dataPageOffset: Int64
    /// The file offset of an index page (no known writer writes one).
    public var indexPageOffset: Int64?
    /// The file offset of the dictionary page, before the data pages.
    public var dictionaryPageOffset: Int64?
    /// The chunk's statistics.
    public var statistics: Statistics?

    /// Creates column metadata; the optional fields default to absent.
    public init(
        type: PhysicalType, encodings: [Encoding], pathInSchema: [String], codec: CompressionCodec, numValues: Int64,
        totalUncompressedSize: Int64, totalCompressedSize: Int64, keyValueMetadata: [KeyValue]? = nil, dataPageOffset: Int64,
        indexPageOffset: Int64? = nil, dictionaryPageOffset: Int64? = nil, statistics: Statistics? = nil
    ) {
        self.type = type
        self.encodings = encodings
        self.pathInSchema = pathInSchema
        self.codec = codec
        self.numValues = numValues
        self.totalUncompressedSize = totalUncompressedSize
        self.totalCompressedSize = totalCompressedSize
        self.keyValueMetadata = keyValueMetadata
        self.dataPageOffset = dataPageOffset
        self.indexPageOffset = indexPageOffset
        self.dictionaryPageOffset = dictionaryPageOffset
        self.statistics = statistics
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var type: PhysicalType?
        var encodings: [Encoding]?
        var pathInSchema: [String]?
        var codec: CompressionCodec?
        var numValues: Int64?
        var totalUncompressedSize: Int64?
        var totalCompressedSize: Int64?
        var dataPageOffset: Int64?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): type = try PhysicalType(reading: &reader)
            case (2, .list): encodings = try reader.readEnumList("ColumnMetaData.encodings")
            case (3, .list): pathInSchema = try reader.readStringList("ColumnMetaData.path_in_schema")
            case (4, .i32): codec = try CompressionCodec(reading: &reader)
            case (5, .i64): numValues = try reader.readI64()
            case (6, .i64): totalUncompressedSize = try reader.readI64()
            case (7, .i64): totalCompressedSize = try reader.readI64()
            case (8, .list): keyValueMetadata = try reader.readStructList("ColumnMetaData.key_value_metadata")
            case (9, .i64): dataPageOffset = try reader.readI64()
            case (10, .i64): indexPageOffset = try reader.readI64()
            case (11, .i64): dictionaryPageOffset = try reader.readI64()
            case (12, .struct): statistics = try Statistics(reading: &reader)
            default: try reader.skip(field.type)
            }
        }
        self.type = try required(type, "ColumnMetaData.type (1)", reader)
        self.encodings = try required(encodings, "ColumnMetaData.encodings (2)", reader)
        self.pathInSchema = try required(pathInSchema, "ColumnMetaData.path_in_schema (3)", reader)
        self.codec = try required(codec, "ColumnMetaData.codec (4)", reader)
        self.numValues = try required(numValues, "ColumnMetaData.num_values (5)", reader)
        self.totalUncompressedSize = try required(totalUncompressedSize, "ColumnMetaData.total_uncompressed_size (6)", reader)
        self.totalCompressedSize = try required(totalCompressedSize, "ColumnMetaData.total_compressed_size (7)", reader)
        self.dataPageOffset = try required(dataPageOffset, "ColumnMetaData.data_page_offset (9)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeEnumField(1, type)
        writer.writeFieldHeader(2, .list)
        writer.writeListHeader(.i32, count: encodings.count)
        for encoding in encodings { encoding.write(to: &writer) }
        writer.writeFieldHeader(3, .list)
        writer.writeListHeader(.binary, count: pathInSchema.count)
        for name in pathInSchema { writer.writeString(name) }
        writer.writeEnumField(4, codec)
        writer.writeI64Field(5, numValues)
        writer.writeI64Field(6, totalUncompressedSize)
        writer.writeI64Field(7, totalCompressedSize)
        if let keyValueMetadata { writer.writeStructListField(8, keyValueMetadata) }
        writer.writeI64Field(9, dataPageOffset)
        if let indexPageOffset { writer.writeI64Field(10, indexPageOffset) }
        if let dictionaryPageOffset { writer.writeI64Field(11, dictionaryPageOffset) }
        if let statistics { writer.writeStructField(12, statistics) }
        writer.endStruct()
    }
}

/// One column of one row group (parquet.thrift `ColumnChunk`).
public struct ColumnChunk: ThriftStruct {
    /// Set when the chunk lives in another file; Larder writes one file.
    public var filePath: String?
    /// Deprecated in the format (writers set it to the chunk's start or 0), but required.
    public var fileOffset: Int64
    /// Absent only with column encryption, which Larder does not support.
    public var metaData: ColumnMetaData?
    /// Where the chunk's offset index (page locations) is, and its length.
    public var offsetIndexOffset: Int64?
    public var offsetIndexLength: Int32?
    /// Where the chunk's column index (page statistics) is, and its length.
    public var columnIndexOffset: Int64?
    public var columnIndexLength: Int32?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        filePath: String? = nil, fileOffset: Int64, metaData: ColumnMetaData?, offsetIndexOffset: Int64? = nil,
        offsetIndexLength: Int32? = nil, columnIndexOffset: Int64? = nil, columnIndexLength: Int32? = nil
    ) {
        self.filePath = filePath
        self.fileOffset = fileOffset
        self.metaData = metaData
        self.offsetIndexOffset = offsetIndexOffset
        self.offsetIndexLength = offsetIndexLength
        self.columnIndexOffset = columnIndexOffset
        self.columnIndexLength = columnIndexLength
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var fileOffset: Int64?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .binary): filePath = try reader.readString()
            case (2, .i64): fileOffset = try reader.readI64()
            case (3, .struct): metaData = try ColumnMetaData(reading: &reader)
            case (4, .i64): offsetIndexOffset = try reader.readI64()
            case (5, .i32): offsetIndexLength = try reader.readI32()
            case (6, .i64): columnIndexOffset = try reader.readI64()
            case (7, .i32): columnIndexLength = try reader.readI32()
            default: try reader.skip(field.type)
            }
        }
        self.fileOffset = try required(fileOffset, "ColumnChunk.file_offset (2)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        if let filePath { writer.writeStringField(1, filePath) }
        writer.writeI64Field(2, fileOffset)
        if let metaData { writer.writeStructField(3, metaData) }
        if let offsetIndexOffset { writer.writeI64Field(4, offsetIndexOffset) }
        if let offsetIndexLength { writer.writeI32Field(5, offsetIndexLength) }
        if let columnIndexOffset { writer.writeI64Field(6, columnIndexOffset) }
        if let columnIndexLength { writer.writeI32Field(7, columnIndexLength) }
        writer.endStruct()
    }
}

/// A horizontal slice of the file: one chunk per leaf column (parquet.thrift `RowGroup`).
public struct RowGroup: ThriftStruct {
    /// One chunk per leaf column, in schema order.
    public var columns: [ColumnChunk]
    /// The uncompressed size of all the group's column data.
    public var totalByteSize: Int64
    /// Rows in the group.
    public var numRows: Int64
    /// The file offset of the group's first page.
    public var fileOffset: Int64?
    /// The size of the group's column chunks in the file.
    public var totalCompressedSize: Int64?
    /// The group's index in the file.
    public var ordinal: Int16?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        columns: [ColumnChunk], totalByteSize: Int64, numRows: Int64, fileOffset: Int64? = nil, totalCompressedSize: Int64? = nil,
        ordinal: Int16? = nil
    ) {
        self.columns = columns
        self.totalByteSize = totalByteSize
        self.numRows = numRows
        self.fileOffset = fileOffset
        self.totalCompressedSize = totalCompressedSize
        self.ordinal = ordinal
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var columns: [ColumnChunk]?
        var totalByteSize: Int64?
        var numRows: Int64?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .list): columns = try reader.readStructList("RowGroup.columns")
            case (2, .i64): totalByteSize = try reader.readI64()
            case (3, .i64): numRows = try reader.readI64()
            case (5, .i64): fileOffset = try reader.readI64()
            case (6, .i64): totalCompressedSize = try reader.readI64()
            case (7, .i16): ordinal = try reader.readI16()
            default: try reader.skip(field.type)
            }
        }
        self.columns = try required(columns, "RowGroup.columns (1)", reader)
        self.totalByteSize = try required(totalByteSize, "RowGroup.total_byte_size (2)", reader)
        self.numRows = try required(numRows, "RowGroup.num_rows (3)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeStructListField(1, columns)
        writer.writeI64Field(2, totalByteSize)
        writer.writeI64Field(3, numRows)
        if let fileOffset { writer.writeI64Field(5, fileOffset) }
        if let totalCompressedSize { writer.writeI64Field(6, totalCompressedSize) }
        if let ordinal { writer.writeI16Field(7, ordinal) }
        writer.endStruct()
    }
}

// MARK: - The file

/// The footer's content (parquet.thrift `FileMetaData`).
///
/// Encryption (8, 9) is skipped when read and not written.
public struct FileMetaData: ThriftStruct {
    /// The format version the writer claims (1 or 2; pyarrow writes 2).
    public var version: Int32
    /// The schema tree, flattened depth first; the first element is the root.
    public var schema: [SchemaElement]
    /// Rows in the file: the sum over the row groups.
    public var numRows: Int64
    /// The row groups, in file order.
    public var rowGroups: [RowGroup]
    /// Free-form metadata of the file (pyarrow's `ARROW:schema`, pandas' `pandas`).
    public var keyValueMetadata: [KeyValue]?
    /// The writer's name and version, as `parquet-cpp-arrow version 26.0.1`.
    public var createdBy: String?
    /// The order each leaf column's statistics follow, in leaf order. Without it readers
    /// must ignore `min_value` and `max_value` (pyarrow does).
    public var columnOrders: [ColumnOrder]?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        version: Int32, schema: [SchemaElement], numRows: Int64, rowGroups: [RowGroup], keyValueMetadata: [KeyValue]? = nil,
        createdBy: String? = nil, columnOrders: [ColumnOrder]? = nil
    ) {
        self.version = version
        self.schema = schema
        self.numRows = numRows
        self.rowGroups = rowGroups
        self.keyValueMetadata = keyValueMetadata
        self.createdBy = createdBy
        self.columnOrders = columnOrders
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var version: Int32?
        var schema: [SchemaElement]?
        var numRows: Int64?
        var rowGroups: [RowGroup]?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): version = try reader.readI32()
            case (2, .list): schema = try reader.readStructList("FileMetaData.schema")
            case (3, .i64): numRows = try reader.readI64()
            case (4, .list): rowGroups = try reader.readStructList("FileMetaData.row_groups")
            case (5, .list): keyValueMetadata = try reader.readStructList("FileMetaData.key_value_metadata")
            case (6, .binary): createdBy = try reader.readString()
            case (7, .list): columnOrders = try reader.readStructList("FileMetaData.column_orders")
            default: try reader.skip(field.type)
            }
        }
        self.version = try required(version, "FileMetaData.version (1)", reader)
        self.schema = try required(schema, "FileMetaData.schema (2)", reader)
        self.numRows = try required(numRows, "FileMetaData.num_rows (3)", reader)
        self.rowGroups = try required(rowGroups, "FileMetaData.row_groups (4)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeI32Field(1, version)
        writer.writeStructListField(2, schema)
        writer.writeI64Field(3, numRows)
        writer.writeStructListField(4, rowGroups)
        if let keyValueMetadata { writer.writeStructListField(5, keyValueMetadata) }
        if let createdBy { writer.writeStringField(6, createdBy) }
        if let columnOrders { writer.writeStructListField(7, columnOrders) }
        writer.endStruct()
    }
}

/// How a column's statistics are ordered (parquet.thrift `ColumnOrder`, a union).
public enum ColumnOrder: ThriftStruct, Hashable, Sendable {
    /// TYPE_ORDER (1): the order of the column's logical type (signed integers, unsigned
    /// bytes for strings, IEEE 754 order without NaN for doubles).
    case typeDefined
    /// A member added after this reader was written, by field id.
    case other(fieldID: Int16)

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var order: ColumnOrder?
        while let field = try reader.readFieldHeader() {
            if order == nil { order = field.id == 1 && field.type == .struct ? .typeDefined : .other(fieldID: field.id) }
            try reader.skip(field.type)  // TypeDefinedOrder is an empty struct
        }
        reader.endStruct()
        self = order ?? .other(fieldID: 0)
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        if case .typeDefined = self {
            writer.writeFieldHeader(1, .struct)
            writer.beginStruct()
            writer.endStruct()
        }
        writer.endStruct()
    }
}
