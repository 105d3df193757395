/// One flat column's values in one row group, decoded: `nil` where the row's value is null.
///
/// INT32 is widened to Int64 and FLOAT to Double (exactly); INT96 timestamps become
/// microseconds since the Unix epoch, as Spark means them (UTC).
public enum ColumnValues: Sendable, Equatable {
    case integers([Int64?])
    case doubles([Double?])
    case booleans([Bool?])
    case byteArrays([[UInt8]?])
    case int96Timestamps([Int64?])

    public var count: Int {
        switch self {
        case .integers(let v): v.count
        case .doubles(let v): v.count
        case .booleans(let v): v.count
        case .byteArrays(let v): v.count
        case .int96Timestamps(let v): v.count
        }
    }
}

/// Reads the pages of one column chunk of a flat (not nested) column: a dictionary page if
/// there is one, then data pages v1 or v2, each compressed by the chunk's codec; values PLAIN,
/// dictionary-encoded (PLAIN_DICTIONARY, RLE_DICTIONARY), DELTA_BINARY_PACKED (integers),
/// BYTE_STREAM_SPLIT (FLOAT, DOUBLE, INT32, INT64) or RLE (booleans); nulls from the
/// definition levels (RLE/bit-packed hybrid).
///
/// Every defect throws ``ParquetDecodingError`` at the file offset of the page concerned,
/// naming the column.
public struct ColumnChunkReader {
    /// The column's dotted path, for errors.
    let path: String
    let metadata: ColumnMetaData
    /// 1 for an optional column, 0 for a required one.
    let maxDefinitionLevel: Int

    /// - Parameter maxDefinitionLevel: 0 (required) or 1 (optional); nested columns are not
    ///   read here.
    public init(metadata: ColumnMetaData, maxDefinitionLevel: Int) {
        self.metadata = metadata
        self.maxDefinitionLevel = maxDefinitionLevel
        self.path = metadata.pathInSchema.joined(separator: ".")
    }

    /// The file range the chunk's pages occupy, checked against the file's size.
    public func byteRange(fileSize: Int) throws(ParquetDecodingError) -> Range<Int> {
        // Some writers set the dictionary page offset to 0 when there is none.
        let dictionaryOffset = metadata.dictionaryPageOffset.flatMap { $0 > 0 ? $0 : nil }
        let start = min(dictionaryOffset ?? metadata.dataPageOffset, metadata.dataPageOffset)
        let (end, overflow) = start.addingReportingOverflow(metadata.totalCompressedSize)
        guard start >= 4, metadata.totalCompressedSize >= 0, !overflow, end <= Int64(fileSize) else {
            throw ParquetDecodingError(
                offset: Int(clamping: start),
                "column \(path): its pages [\(start), \(end)) are not within the file (\(fileSize) bytes)")
        }
        return Int(start)..<Int(end)
    }

    /// Decodes the chunk from `region`, the file's bytes from offset `base` on, which hold
    /// the chunk's ``byteRange(fileSize:)``. Offsets in errors are the file's.
    public func read(region: [UInt8], base: Int) throws(ParquetDecodingError) -> ColumnValues {
        let codec = try compression()
        let range = try byteRange(fileSize: base + region.count)
        guard range.lowerBound >= base else {
            throw ParquetDecodingError(offset: range.lowerBound, "column \(path): its pages start before the bytes read")
        }
        let bytes = region
        let end = range.upperBound - base
        let start = range.lowerBound
        var position = start - base
        var dictionary: ColumnValues?
        let expected = Int(clamping: metadata.numValues)
        // Capped: the count comes from the file, and a wrong one must not allocate the moon.
        var values = Accumulator(type: metadata.type, count: min(expected, 1 << 24))
        while position < end, values.count < expected {
            let pageOffset = base + position
            func failure(_ reason: String) -> ParquetDecodingError {
                ParquetDecodingError(offset: pageOffset, "column \(path), page at byte \(pageOffset): \(reason)")
            }
            let header: PageHeader
            var reader: ThriftCompactReader
            do {
                reader = try ThriftCompactReader(bytes, range: position..<end)
                header = try PageHeader(reading: &reader)
            } catch {
                throw failure("its header does not decode: \(error)")
            }
            let bodyStart = reader.position
            let bodyLength = Int(header.compressedPageSize)
            guard bodyLength >= 0, header.uncompressedPageSize >= 0, bodyLength <= end - bodyStart else {
                throw failure("a page of \(bodyLength) bytes does not fit in the column chunk")
            }
            let body = bytes[bodyStart..<bodyStart + bodyLength]
            position = bodyStart + bodyLength
            // A page that carries a checksum (parquet-mr, so Spark, writes one) must match it: a
            // damaged byte is refused rather than read as another value.
            if let crc = header.crc, PageCompression.crc32(body) != UInt32(bitPattern: crc) {
                throw failure("its CRC-32 does not match its bytes: the page is damaged")
            }
            do throws(ParquetDecodingError) {
                switch header.type {
                case .dictionaryPage:
                    guard let dictionaryHeader = header.dictionaryPageHeader else { throw failure("a dictionary page without its header") }
                    let page = try codec.decompress(body, uncompressedSize: Int(header.uncompressedPageSize))
                    dictionary = try plain(page, from: 0, count: Int(dictionaryHeader.numValues)).values
                case .dataPage:
                    guard let dataHeader = header.dataPageHeader else { throw failure("a data page without its header") }
                    let count = try pageCount(dataHeader.numValues, gathered: values.count, expected: expected, failure)
                    let page = try codec.decompress(body, uncompressedSize: Int(header.uncompressedPageSize))
                    var at = 0
                    var defined: [UInt32]? = nil
                    if maxDefinitionLevel > 0 {
                        guard dataHeader.definitionLevelEncoding == .rle else {
                            throw failure("definition levels encoded \(dataHeader.definitionLevelEncoding), not RLE")
                        }
                        var cursor = ByteCursor(page)
                        let length = Int(try cursor.littleEndian(width: 4))
                        let levels = try cursor.take(length, "the definition levels")
                        defined = try RLEHybrid.decode(page, from: levels.lowerBound, to: levels.upperBound, bitWidth: 1, count: count)
                        at = levels.upperBound
                    }
                    let present = defined.map { $0.lazy.filter { $0 == 1 }.count } ?? count
                    let decoded = try self.values(page, from: at, count: present, encoding: dataHeader.encoding, dictionary: dictionary)
                    try values.append(decoded, definedBy: defined)
                case .dataPageV2:
                    guard let v2 = header.dataPageHeaderV2 else { throw failure("a data page v2 without its header") }
                    let repetitionLength = Int(v2.repetitionLevelsByteLength)
                    let definitionLength = Int(v2.definitionLevelsByteLength)
                    guard repetitionLength >= 0, definitionLength >= 0, repetitionLength + definitionLength <= body.count else {
                        throw failure("levels of \(repetitionLength) + \(definitionLength) bytes in a page of \(body.count)")
                    }
                    guard repetitionLength == 0 else { throw failure("repetition levels in a flat column") }
                    let count = try pageCount(v2.numValues, gathered: values.count, expected: expected, failure)
                    // Levels are never compressed in a v2 page; the values may be.
                    let levelsEnd = body.startIndex + definitionLength
                    var defined: [UInt32]? = nil
                    if maxDefinitionLevel > 0 {
                        defined = try RLEHybrid.decode(bytes, from: body.startIndex, to: levelsEnd, bitWidth: 1, count: count)
                    }
                    let valuesSize = Int(header.uncompressedPageSize) - definitionLength
                    let valueBytes =
                        v2.isCompressed == false
                        ? Array(bytes[levelsEnd..<body.endIndex])
                        : try codec.decompress(bytes[levelsEnd..<body.endIndex], uncompressedSize: valuesSize)
                    let present = defined.map { $0.lazy.filter { $0 == 1 }.count } ?? count
                    let decoded = try self.values(valueBytes, from: 0, count: present, encoding: v2.encoding, dictionary: dictionary)
                    try values.append(decoded, definedBy: defined)
                default:
                    continue  // index pages and pages of kinds added later: not values
                }
            } catch let error where error.reason.hasPrefix("column \(path)") {
                throw error
            } catch {
                throw failure(error.description)
            }
        }
        guard values.count == expected else {
            throw ParquetDecodingError(
                offset: start, "column \(path): its pages hold \(values.count) values, its metadata says \(expected)")
        }
        return values.result
    }

    /// A data page's value count, which must fit in what the chunk's metadata leaves: decoding
    /// is then bounded by the footer's counts, whatever a page header claims.
    private func pageCount(
        _ numValues: Int32, gathered: Int, expected: Int, _ failure: (String) -> ParquetDecodingError
    ) throws(ParquetDecodingError) -> Int {
        guard numValues >= 0, Int(numValues) <= expected - gathered else {
            throw failure("a page of \(numValues) values where the column chunk has \(expected - gathered) left")
        }
        return Int(numValues)
    }

    private func compression() throws(ParquetDecodingError) -> PageCompression {
        switch metadata.codec {
        case .uncompressed: return .uncompressed
        case .snappy: return .snappy
        case .gzip: return .gzip
        case .zstd: return .zstd
        default:
            throw ParquetDecodingError(
                offset: Int(clamping: metadata.dataPageOffset),
                "column \(path) is compressed with \(metadata.codec), which Larder does not read (it reads snappy, gzip, zstd)")
        }
    }

    /// `count` values starting at `start` in the given encoding.
    private func values(
        _ page: [UInt8], from start: Int, count: Int, encoding: Encoding, dictionary: ColumnValues?
    ) throws(ParquetDecodingError) -> ColumnValues {
        switch encoding {
        case .plain:
            return try plain(page, from: start, count: count).values
        case .plainDictionary, .rleDictionary:
            guard let dictionary else { throw ParquetDecodingError(offset: start, "dictionary-encoded values but no dictionary page") }
            var cursor = ByteCursor(page, from: start)
            let bitWidth = Int(try cursor.byte())
            let indices = try RLEHybrid.decode(page, from: cursor.offset, bitWidth: bitWidth, count: count)
            return try Self.lookUp(indices, in: dictionary)
        case .deltaBinaryPacked where metadata.type == .int32 || metadata.type == .int64:
            let (decoded, _) = try DeltaBinaryPacked.decode(page, from: start, count: count)
            return .integers(metadata.type == .int32 ? decoded.map { Int64(Int32(truncatingIfNeeded: $0)) } : decoded)
        case .byteStreamSplit:
            let width: Int
            switch metadata.type {
            case .int32, .float: width = 4
            case .int64, .double: width = 8
            default:
                throw ParquetDecodingError(
                    offset: start, "values encoded \(encoding) in a \(metadata.type) column, which Larder does not read")
            }
            let raw = try ByteStreamSplit.decode(page, from: start, width: width, count: count)
            switch metadata.type {
            case .int32: return .integers(raw.map { Int64(Int32(truncatingIfNeeded: $0)) })
            case .int64: return .integers(raw.map { Int64(bitPattern: $0) })
            case .float: return .doubles(raw.map { Double(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) })
            default: return .doubles(raw.map { Double(bitPattern: $0) })
            }
        case .rle where metadata.type == .boolean:
            var cursor = ByteCursor(page, from: start)
            let length = Int(try cursor.littleEndian(width: 4))
            let data = try cursor.take(length, "RLE booleans")
            let bits = try RLEHybrid.decode(page, from: data.lowerBound, to: data.upperBound, bitWidth: 1, count: count)
            return .booleans(bits.map { $0 == 1 })
        default:
            throw ParquetDecodingError(offset: start, "values encoded \(encoding) in a \(metadata.type) column, which Larder does not read")
        }
    }

    /// PLAIN values of the column's physical type.
    private func plain(_ page: [UInt8], from start: Int, count: Int) throws(ParquetDecodingError) -> (values: ColumnValues, end: Int) {
        switch metadata.type {
        case .int32, .int64:
            let (v, end) = try PlainEncoding.integers(page, from: start, width: metadata.type == .int32 ? 4 : 8, count: count)
            return (.integers(v), end)
        case .float, .double:
            let (v, end) = try PlainEncoding.floatingPoint(page, from: start, width: metadata.type == .float ? 4 : 8, count: count)
            return (.doubles(v), end)
        case .boolean:
            let (v, end) = try PlainEncoding.booleans(page, from: start, count: count)
            return (.booleans(v), end)
        case .byteArray:
            let (ranges, end) = try PlainEncoding.byteArrays(page, from: start, count: count)
            return (.byteArrays(ranges.map { Array(page[$0]) }), end)
        case .int96:
            let (v, end) = try PlainEncoding.int96Timestamps(page, from: start, count: count)
            return (.int96Timestamps(v), end)
        default:
            throw ParquetDecodingError(offset: start, "values of physical type \(metadata.type), which Larder does not read")
        }
    }

    private static func lookUp(_ indices: [UInt32], in dictionary: ColumnValues) throws(ParquetDecodingError) -> ColumnValues {
        func pick<T>(_ entries: [T?]) throws(ParquetDecodingError) -> [T?] {
            var out: [T?] = []
            out.reserveCapacity(indices.count)
            for index in indices {
                guard Int(index) < entries.count else {
                    throw ParquetDecodingError(offset: 0, "dictionary index \(index) past the dictionary's \(entries.count) entries")
                }
                out.append(entries[Int(index)])
            }
            return out
        }
        switch dictionary {
        case .integers(let d): return .integers(try pick(d))
        case .doubles(let d): return .doubles(try pick(d))
        case .booleans(let d): return .booleans(try pick(d))
        case .byteArrays(let d): return .byteArrays(try pick(d))
        case .int96Timestamps(let d): return .int96Timestamps(try pick(d))
        }
    }

    /// Pages' values gathered into one column, nulls put back where the levels say. One
    /// array per type, so appending a page never copies what is gathered.
    private struct Accumulator {
        let type: PhysicalType
        var integers: [Int64?] = []
        var doubles: [Double?] = []
        var booleans: [Bool?] = []
        var byteArrays: [[UInt8]?] = []

        var count: Int {
            switch type {
            case .int32, .int64, .int96: integers.count
            case .float, .double: doubles.count
            case .boolean: booleans.count
            default: byteArrays.count
            }
        }

        /// Room for the chunk's `count` values at once: growing page by page would copy them
        /// again with every page.
        init(type: PhysicalType, count: Int) {
            self.type = type
            switch type {
            case .int32, .int64, .int96: integers.reserveCapacity(count)
            case .float, .double: doubles.reserveCapacity(count)
            case .boolean: booleans.reserveCapacity(count)
            default: byteArrays.reserveCapacity(count)
            }
        }

        var result: ColumnValues {
            switch type {
            case .int32, .int64: .integers(integers)
            case .float, .double: .doubles(doubles)
            case .boolean: .booleans(booleans)
            case .int96: .int96Timestamps(integers)
            default: .byteArrays(byteArrays)
            }
        }

        mutating func append(_ page: ColumnValues, definedBy levels: [UInt32]?) throws(ParquetDecodingError) {
            func merge<T>(_ all: inout [T?], _ present: [T?]) {
                guard let levels else {
                    all += present
                    return
                }
                var next = 0
                for level in levels {
                    if level == 1 {
                        all.append(present[next])
                        next += 1
                    } else {
                        all.append(nil)
                    }
                }
            }
            switch (type, page) {
            case (.int32, .integers(let v)), (.int64, .integers(let v)), (.int96, .int96Timestamps(let v)): merge(&integers, v)
            case (.float, .doubles(let v)), (.double, .doubles(let v)): merge(&doubles, v)
            case (.boolean, .booleans(let v)): merge(&booleans, v)
            case (.byteArray, .byteArrays(let v)): merge(&byteArrays, v)
            default: throw ParquetDecodingError(offset: 0, "a page's values are not of the column's type \(type)")
            }
        }
    }
}
