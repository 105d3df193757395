// Parquet's Thrift enums. A value this module does not know is kept as `.unknown(n)` rather
// than rejected: newer writers add encodings and codecs (ALP, for one), and a footer that lists
// one for a column Larder never reads must still load. Whoever reads the data rejects an
// unknown value where it matters, and writing one back writes the same number.

/// A Parquet enum: a Swift enum whose cases have the Int32 values of parquet.thrift, plus
/// `.unknown` for values a newer format version added.
public protocol ParquetEnum: Hashable, Sendable {
    /// The case for a wire value; a value with no case becomes `.unknown(value)`.
    init(rawValue: Int32)
    /// The wire value.
    var rawValue: Int32 { get }
}

extension ParquetEnum {
    init(reading reader: inout ThriftCompactReader) throws(ThriftDecodingError) {
        self.init(rawValue: try reader.readI32())
    }

    func write(to writer: inout ThriftCompactWriter) { writer.writeI32(rawValue) }
}

/// The physical type of a column (parquet.thrift `Type`).
public enum PhysicalType: ParquetEnum {
    case boolean, int32, int64, int96, float, double, byteArray, fixedLenByteArray
    case unknown(Int32)

    public init(rawValue: Int32) {
        switch rawValue {
        case 0: self = .boolean
        case 1: self = .int32
        case 2: self = .int64
        case 3: self = .int96
        case 4: self = .float
        case 5: self = .double
        case 6: self = .byteArray
        case 7: self = .fixedLenByteArray
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: Int32 {
        switch self {
        case .boolean: 0
        case .int32: 1
        case .int64: 2
        case .int96: 3
        case .float: 4
        case .double: 5
        case .byteArray: 6
        case .fixedLenByteArray: 7
        case .unknown(let value): value
        }
    }
}

/// The legacy logical type annotation (parquet.thrift `ConvertedType`); writers still write
/// it beside ``LogicalType`` for older readers.
public enum ConvertedType: ParquetEnum {
    case utf8, map, mapKeyValue, list, `enum`, decimal, date, timeMillis, timeMicros
    case timestampMillis, timestampMicros, uint8, uint16, uint32, uint64, int8, int16, int32, int64
    case json, bson, interval
    case unknown(Int32)

    public init(rawValue: Int32) {
        switch rawValue {
        case 0: self = .utf8
        case 1: self = .map
        case 2: self = .mapKeyValue
        case 3: self = .list
        case 4: self = .enum
        case 5: self = .decimal
        case 6: self = .date
        case 7: self = .timeMillis
        case 8: self = .timeMicros
        case 9: self = .timestampMillis
        case 10: self = .timestampMicros
        case 11: self = .uint8
        case 12: self = .uint16
        case 13: self = .uint32
        case 14: self = .uint64
        case 15: self = .int8
        case 16: self = .int16
        case 17: self = .int32
        case 18: self = .int64
        case 19: self = .json
        case 20: self = .bson
        case 21: self = .interval
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: Int32 {
        switch self {
        case .utf8: 0
        case .map: 1
        case .mapKeyValue: 2
        case .list: 3
        case .enum: 4
        case .decimal: 5
        case .date: 6
        case .timeMillis: 7
        case .timeMicros: 8
        case .timestampMillis: 9
        case .timestampMicros: 10
        case .uint8: 11
        case .uint16: 12
        case .uint32: 13
        case .uint64: 14
        case .int8: 15
        case .int16: 16
        case .int32: 17
        case .int64: 18
        case .json: 19
        case .bson: 20
        case .interval: 21
        case .unknown(let value): value
        }
    }
}

/// Whether a schema field is required, optional or repeated (parquet.thrift
/// `FieldRepetitionType`).
public enum FieldRepetitionType: ParquetEnum {
    case required, optional, repeated
    case unknown(Int32)

    public init(rawValue: Int32) {
        switch rawValue {
        case 0: self = .required
        case 1: self = .optional
        case 2: self = .repeated
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: Int32 {
        switch self {
        case .required: 0
        case .optional: 1
        case .repeated: 2
        case .unknown(let value): value
        }
    }
}

/// How page values or levels are encoded (parquet.thrift `Encoding`; 1 is unused there).
public enum Encoding: ParquetEnum {
    case plain, plainDictionary, rle, bitPacked, deltaBinaryPacked, deltaLengthByteArray, deltaByteArray
    case rleDictionary, byteStreamSplit
    case unknown(Int32)

    public init(rawValue: Int32) {
        switch rawValue {
        case 0: self = .plain
        case 2: self = .plainDictionary
        case 3: self = .rle
        case 4: self = .bitPacked
        case 5: self = .deltaBinaryPacked
        case 6: self = .deltaLengthByteArray
        case 7: self = .deltaByteArray
        case 8: self = .rleDictionary
        case 9: self = .byteStreamSplit
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: Int32 {
        switch self {
        case .plain: 0
        case .plainDictionary: 2
        case .rle: 3
        case .bitPacked: 4
        case .deltaBinaryPacked: 5
        case .deltaLengthByteArray: 6
        case .deltaByteArray: 7
        case .rleDictionary: 8
        case .byteStreamSplit: 9
        case .unknown(let value): value
        }
    }
}

/// The compression of a column chunk's pages (parquet.thrift `CompressionCodec`).
public enum CompressionCodec: ParquetEnum {
    case uncompressed, snappy, gzip, lzo, brotli, lz4, zstd, lz4Raw
    case unknown(Int32)

    public init(rawValue: Int32) {
        switch rawValue {
        case 0: self = .uncompressed
        case 1: self = .snappy
        case 2: self = .gzip
        case 3: self = .lzo
        case 4: self = .brotli
        case 5: self = .lz4
        case 6: self = .zstd
        case 7: self = .lz4Raw
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: Int32 {
        switch self {
        case .uncompressed: 0
        case .snappy: 1
        case .gzip: 2
        case .lzo: 3
        case .brotli: 4
        case .lz4: 5
        case .zstd: 6
        case .lz4Raw: 7
        case .unknown(let value): value
        }
    }
}

/// The kind of a page (parquet.thrift `PageType`).
public enum PageType: ParquetEnum {
    case dataPage, indexPage, dictionaryPage, dataPageV2
    case unknown(Int32)

    public init(rawValue: Int32) {
        switch rawValue {
        case 0: self = .dataPage
        case 1: self = .indexPage
        case 2: self = .dictionaryPage
        case 3: self = .dataPageV2
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: Int32 {
        switch self {
        case .dataPage: 0
        case .indexPage: 1
        case .dictionaryPage: 2
        case .dataPageV2: 3
        case .unknown(let value): value
        }
    }
}
