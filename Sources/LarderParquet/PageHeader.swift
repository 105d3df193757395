// Page headers: the Thrift struct before every page of a column chunk.

/// The header of a data page, version 1 (parquet.thrift `DataPageHeader`): levels and values
/// compressed together.
public struct DataPageHeader: ThriftStruct {
    /// Values in the page, nulls included.
    public var numValues: Int32
    /// The encoding of the values.
    public var encoding: Encoding
    /// The encoding of the definition levels (RLE).
    public var definitionLevelEncoding: Encoding
    /// The encoding of the repetition levels (RLE).
    public var repetitionLevelEncoding: Encoding
    /// The page's statistics, if the writer wrote them per page.
    public var statistics: Statistics?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        numValues: Int32, encoding: Encoding, definitionLevelEncoding: Encoding, repetitionLevelEncoding: Encoding,
        statistics: Statistics? = nil
    ) {
        self.numValues = numValues
        self.encoding = encoding
        self.definitionLevelEncoding = definitionLevelEncoding
        self.repetitionLevelEncoding = repetitionLevelEncoding
        self.statistics = statistics
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var numValues: Int32?
        var encoding: Encoding?
        var definitionLevelEncoding: Encoding?
        var repetitionLevelEncoding: Encoding?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): numValues = try reader.readI32()
            case (2, .i32): encoding = try Encoding(reading: &reader)
            case (3, .i32): definitionLevelEncoding = try Encoding(reading: &reader)
            case (4, .i32): repetitionLevelEncoding = try Encoding(reading: &reader)
            case (5, .struct): statistics = try Statistics(reading: &reader)
            default: try reader.skip(field.type)
            }
        }
        self.numValues = try required(numValues, "DataPageHeader.num_values (1)", reader)
        self.encoding = try required(encoding, "DataPageHeader.encoding (2)", reader)
        self.definitionLevelEncoding = try required(definitionLevelEncoding, "DataPageHeader.definition_level_encoding (3)", reader)
        self.repetitionLevelEncoding = try required(repetitionLevelEncoding, "DataPageHeader.repetition_level_encoding (4)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeI32Field(1, numValues)
        writer.writeEnumField(2, encoding)
        writer.writeEnumField(3, definitionLevelEncoding)
        writer.writeEnumField(4, repetitionLevelEncoding)
        if let statistics { writer.writeStructField(5, statistics) }
        writer.endStruct()
    }
}

/// The header of a data page, version 2 (parquet.thrift `DataPageHeaderV2`): levels come
/// first, uncompressed, with their byte lengths here.
public struct DataPageHeaderV2: ThriftStruct {
    /// Values in the page, nulls included.
    public var numValues: Int32
    /// Nulls in the page.
    public var numNulls: Int32
    /// Rows in the page (a page v2 starts at a row boundary).
    public var numRows: Int32
    /// The encoding of the values.
    public var encoding: Encoding
    /// The byte lengths of the definition and repetition levels, which precede the values.
    public var definitionLevelsByteLength: Int32
    public var repetitionLevelsByteLength: Int32
    /// Whether the values section is compressed; absent means true.
    public var isCompressed: Bool?
    /// The page's statistics, if the writer wrote them per page.
    public var statistics: Statistics?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        numValues: Int32, numNulls: Int32, numRows: Int32, encoding: Encoding, definitionLevelsByteLength: Int32,
        repetitionLevelsByteLength: Int32, isCompressed: Bool? = nil, statistics: Statistics? = nil
    ) {
        self.numValues = numValues
        self.numNulls = numNulls
        self.numRows = numRows
        self.encoding = encoding
        self.definitionLevelsByteLength = definitionLevelsByteLength
        self.repetitionLevelsByteLength = repetitionLevelsByteLength
        self.isCompressed = isCompressed
        self.statistics = statistics
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var numValues: Int32?
        var numNulls: Int32?
        var numRows: Int32?
        var encoding: Encoding?
        var definitionLevelsByteLength: Int32?
        var repetitionLevelsByteLength: Int32?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): numValues = try reader.readI32()
            case (2, .i32): numNulls = try reader.readI32()
            case (3, .i32): numRows = try reader.readI32()
            case (4, .i32): encoding = try Encoding(reading: &reader)
            case (5, .i32): definitionLevelsByteLength = try reader.readI32()
            case (6, .i32): repetitionLevelsByteLength = try reader.readI32()
            case (7, .bool): isCompressed = try reader.readBool()
            case (8, .struct): statistics = try Statistics(reading: &reader)
            default: try reader.skip(field.type)
            }
        }
        self.numValues = try required(numValues, "DataPageHeaderV2.num_values (1)", reader)
        self.numNulls = try required(numNulls, "DataPageHeaderV2.num_nulls (2)", reader)
        self.numRows = try required(numRows, "DataPageHeaderV2.num_rows (3)", reader)
        self.encoding = try required(encoding, "DataPageHeaderV2.encoding (4)", reader)
        self.definitionLevelsByteLength = try required(
            definitionLevelsByteLength, "DataPageHeaderV2.definition_levels_byte_length (5)", reader)
        self.repetitionLevelsByteLength = try required(
            repetitionLevelsByteLength, "DataPageHeaderV2.repetition_levels_byte_length (6)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeI32Field(1, numValues)
        writer.writeI32Field(2, numNulls)
        writer.writeI32Field(3, numRows)
        writer.writeEnumField(4, encoding)
        writer.writeI32Field(5, definitionLevelsByteLength)
        writer.writeI32Field(6, repetitionLevelsByteLength)
        if let isCompressed { writer.writeBoolField(7, isCompressed) }
        if let statistics { writer.writeStructField(8, statistics) }
        writer.endStruct()
    }
}

/// The header of a dictionary page (parquet.thrift `DictionaryPageHeader`).
public struct DictionaryPageHeader: ThriftStruct {
    /// Entries in the dictionary.
    public var numValues: Int32
    /// PLAIN, or PLAIN_DICTIONARY from format 1.0 writers.
    public var encoding: Encoding
    /// Whether the entries are sorted.
    public var isSorted: Bool?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(numValues: Int32, encoding: Encoding, isSorted: Bool? = nil) {
        self.numValues = numValues
        self.encoding = encoding
        self.isSorted = isSorted
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var numValues: Int32?
        var encoding: Encoding?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): numValues = try reader.readI32()
            case (2, .i32): encoding = try Encoding(reading: &reader)
            case (3, .bool): isSorted = try reader.readBool()
            default: try reader.skip(field.type)
            }
        }
        self.numValues = try required(numValues, "DictionaryPageHeader.num_values (1)", reader)
        self.encoding = try required(encoding, "DictionaryPageHeader.encoding (2)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeI32Field(1, numValues)
        writer.writeEnumField(2, encoding)
        if let isSorted { writer.writeBoolField(3, isSorted) }
        writer.endStruct()
    }
}

/// The header before every page (parquet.thrift `PageHeader`); the page's bytes follow it.
///
/// The index page header (6) is skipped: no writer produces index pages.
public struct PageHeader: ThriftStruct {
    /// Which of the page headers below is set.
    public var type: PageType
    /// The page's size after decompression.
    public var uncompressedPageSize: Int32
    /// The page's size on disk after this header.
    public var compressedPageSize: Int32
    /// The CRC-32 of the page's bytes, if the writer wrote one.
    public var crc: Int32?
    /// Set for a ``PageType/dataPage``.
    public var dataPageHeader: DataPageHeader?
    /// Set for a ``PageType/dictionaryPage``.
    public var dictionaryPageHeader: DictionaryPageHeader?
    /// Set for a ``PageType/dataPageV2``.
    public var dataPageHeaderV2: DataPageHeaderV2?

    /// Creates the struct from its fields; optional ones default to absent.
    public init(
        type: PageType, uncompressedPageSize: Int32, compressedPageSize: Int32, crc: Int32? = nil,
        dataPageHeader: DataPageHeader? = nil, dictionaryPageHeader: DictionaryPageHeader? = nil,
        dataPageHeaderV2: DataPageHeaderV2? = nil
    ) {
        self.type = type
        self.uncompressedPageSize = uncompressedPageSize
        self.compressedPageSize = compressedPageSize
        self.crc = crc
        self.dataPageHeader = dataPageHeader
        self.dictionaryPageHeader = dictionaryPageHeader
        self.dataPageHeaderV2 = dataPageHeaderV2
    }

    public init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        try reader.beginStruct()
        var type: PageType?
        var uncompressedPageSize: Int32?
        var compressedPageSize: Int32?
        while let field = try reader.readFieldHeader() {
            switch (field.id, field.type) {
            case (1, .i32): type = try PageType(reading: &reader)
            case (2, .i32): uncompressedPageSize = try reader.readI32()
            case (3, .i32): compressedPageSize = try reader.readI32()
            case (4, .i32): crc = try reader.readI32()
            case (5, .struct): dataPageHeader = try DataPageHeader(reading: &reader)
            case (7, .struct): dictionaryPageHeader = try DictionaryPageHeader(reading: &reader)
            case (8, .struct): dataPageHeaderV2 = try DataPageHeaderV2(reading: &reader)
            default: try reader.skip(field.type)
            }
        }
        self.type = try required(type, "PageHeader.type (1)", reader)
        self.uncompressedPageSize = try required(uncompressedPageSize, "PageHeader.uncompressed_page_size (2)", reader)
        self.compressedPageSize = try required(compressedPageSize, "PageHeader.compressed_page_size (3)", reader)
        reader.endStruct()
    }

    public func write(to writer: inout ThriftCompactWriter) {
        writer.beginStruct()
        writer.writeEnumField(1, type)
        writer.writeI32Field(2, uncompressedPageSize)
        writer.writeI32Field(3, compressedPageSize)
        if let crc { writer.writeI32Field(4, crc) }
        if let dataPageHeader { writer.writeStructField(5, dataPageHeader) }
        if let dictionaryPageHeader { writer.writeStructField(7, dictionaryPageHeader) }
        if let dataPageHeaderV2 { writer.writeStructField(8, dataPageHeaderV2) }
        writer.endStruct()
    }
}
