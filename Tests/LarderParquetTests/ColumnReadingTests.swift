import Foundation
import Testing

@testable import LarderParquet

/// Column values read from files pyarrow wrote (Fixtures/make_fixtures.py) with every page
/// version, encoding and codec Larder reads, equal to the rows the script wrote.
@Suite struct ColumnReadingTests {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        return Array(try Data(contentsOf: url))
    }

    static func file(_ name: String) throws -> ParquetFile { try ParquetFile(bytes: try bytes(name)) }

    /// The `flat` table of make_fixtures.py, row `i`.
    static let rows = 0..<300
    static let driverID = rows.map { Int64(1001 + $0 % 7) }
    static let trips = rows.map { $0 % 11 == 0 ? nil : Int64($0 - 150) }
    static let rate = rows.map { $0 % 13 == 0 ? nil : Double($0) / 7 }
    static let ratio = rows.map { Double(Float($0) / 4) }
    static let name = rows.map { $0 % 5 == 0 ? nil : Array("name-\($0 % 17)".utf8) }
    static let ok = rows.map { $0 % 9 == 0 ? nil : $0 % 3 == 0 }
    static let ts = rows.map { (1_704_067_200 + 37 * Int64($0)) * 1_000_000 }

    /// A column's values over every row group.
    static func all(_ file: ParquetFile, _ name: String) throws -> ColumnValues {
        let column = try #require(file.columns.first { $0.name == name })
        var integers: [Int64?] = []
        var doubles: [Double?] = []
        var booleans: [Bool?] = []
        var bytes: [[UInt8]?] = []
        var int96: [Int64?] = []
        for group in 0..<file.rowGroupCount {
            switch try file.values(of: column, inRowGroup: group) {
            case .integers(let v): integers += v
            case .doubles(let v): doubles += v
            case .booleans(let v): booleans += v
            case .byteArrays(let v): bytes += v
            case .int96Timestamps(let v): int96 += v
            }
        }
        if !integers.isEmpty { return .integers(integers) }
        if !doubles.isEmpty { return .doubles(doubles) }
        if !booleans.isEmpty { return .booleans(booleans) }
        if !int96.isEmpty { return .int96Timestamps(int96) }
        return .byteArrays(bytes)
    }

    @Test(
        arguments: [
            "flat_snappy_v1_dict", "flat_snappy_v2_plain", "flat_gzip_v1_dict", "flat_gzip_v2_plain", "flat_zstd_v1_dict",
            "flat_zstd_v2_plain", "flat_delta", "flat_int96",
        ])
    func everyEncodingAndCodecReadsTheSameRows(name: String) throws {
        let file = try Self.file("\(name).parquet")
        #expect(file.columns.map(\.name) == ["driver_id", "trips", "rate", "ratio", "name", "ok", "ts"])
        #expect(try Self.all(file, "driver_id") == .integers(Self.driverID))
        #expect(try Self.all(file, "trips") == .integers(Self.trips))
        #expect(try Self.all(file, "rate") == .doubles(Self.rate))
        #expect(try Self.all(file, "ratio") == .doubles(Self.ratio))
        #expect(try Self.all(file, "name") == .byteArrays(Self.name))
        #expect(try Self.all(file, "ok") == .booleans(Self.ok))
        let ts = try Self.all(file, "ts")
        #expect(ts == (name == "flat_int96" ? .int96Timestamps(Self.ts) : .integers(Self.ts)))
    }

    @Test func theFilesUseWhatTheyClaimTo() throws {
        // The fixtures exercise what their names say (else the test above proves less).
        func encodings(_ name: String, _ column: String) throws -> Set<String> {
            let file = try Self.file("\(name).parquet")
            let index = try #require(file.columns.first { $0.name == column }).leafIndex
            return Set(file.metadata.rowGroups.flatMap { $0.columns[index].metaData!.encodings.map { "\($0)" } })
        }
        #expect(try encodings("flat_delta", "driver_id").contains("deltaBinaryPacked"))
        #expect(try encodings("flat_snappy_v1_dict", "name").contains { $0.contains("ictionary") })
        #expect(try Self.file("flat_zstd_v2_plain.parquet").rowGroupCount == 3)
    }

    /// Read through ranges, the footer and each row group are separate reads, and the whole
    /// file is never asked for.
    @Test func aFileIsReadARowGroupAtATime() throws {
        let bytes = try Self.bytes("flat_zstd_v2_plain.parquet")
        var reads: [Range<Int>] = []
        let file = try ParquetFile(size: bytes.count) { range in
            reads.append(range)
            return Array(bytes[range])
        }
        #expect(reads.count == 3 && reads.map(\.count).reduce(0, +) < bytes.count / 2, "\(reads)")
        reads = []
        let values = try file.values(of: file.columns, inRowGroup: 1)
        #expect(values.count == 7 && values.allSatisfy { $0.count == 128 })
        #expect(reads.count == 1 && reads[0].count < bytes.count / 2)
        #expect(values[0] == .integers(Array(Self.driverID[128..<256])))
    }

    @Test func groupsAreNamedNotRead() throws {
        let file = try Self.file("basic.parquet")
        let hist = try #require(file.columns.first { $0.name == "hist" })
        #expect(hist.physicalType == nil)
        #expect(throws: ParquetDecodingError.self) { try file.values(of: hist, inRowGroup: 0) }
        // The columns before and after a group still find their chunks.
        #expect(try file.values(of: file.columns[0], inRowGroup: 0) == .integers([0, 1, 2, 3, 4]))
        #expect(
            try file.values(of: file.columns[2], inRowGroup: 0)
                == .byteArrays([Array("n0".utf8), nil, Array("n2".utf8), Array("n3".utf8), nil]))
    }

    @Test func aCorruptPageNamesTheColumnAndItsOffset() throws {
        let file = try Self.file("flat_zstd_v1_dict.parquet")
        let column = try #require(file.columns.first { $0.name == "rate" })
        let chunk = try #require(file.metadata.rowGroups[0].columns[column.leafIndex].metaData)
        var bytes = try Self.bytes("flat_zstd_v1_dict.parquet")
        // Overwrite the middle of the chunk: a header or a zstd frame breaks.
        let middle = Int(chunk.dataPageOffset) + 20
        for i in middle..<middle + 16 { bytes[i] ^= 0x5A }
        let broken = try ParquetFile(bytes: bytes)
        #expect {
            _ = try broken.values(of: column, inRowGroup: 0)
        } throws: { error in
            "\(error)".contains("column rate")
        }
    }
}

/// BYTE_STREAM_SPLIT pages (DuckDB's doubles in its Parquet version 2 files; pyarrow's on
/// request) of every physical type the encoding has, nulls put back from the levels. The
/// oracle tests read such files whole (LarderOfflineTests' ParquetOracleIngestTests).
@Suite struct ByteStreamSplitColumnTests {
    /// An uncompressed chunk of one data page v1: the definition levels of `defined` (when
    /// the column is optional), then `values` BYTE_STREAM_SPLIT at `width` bytes.
    static func read(_ type: PhysicalType, width: Int, _ values: [UInt64], defined: [UInt32]?) throws -> ColumnValues {
        var body: [UInt8] = []
        if let defined {
            let levels = RLEHybrid.encode(defined, bitWidth: 1)
            ByteWriter.littleEndian(UInt64(levels.count), width: 4, to: &body)
            body += levels
        }
        body += ByteStreamSplit.encode(values, width: width)
        let count = defined?.count ?? values.count
        var header = ThriftCompactWriter()
        PageHeader(
            type: .dataPage, uncompressedPageSize: Int32(body.count), compressedPageSize: Int32(body.count),
            dataPageHeader: DataPageHeader(
                numValues: Int32(count), encoding: .byteStreamSplit, definitionLevelEncoding: .rle, repetitionLevelEncoding: .rle)
        ).write(to: &header)
        let region = header.bytes + body
        let metadata = ColumnMetaData(
            type: type, encodings: [.byteStreamSplit, .rle], pathInSchema: ["x"], codec: .uncompressed, numValues: Int64(count),
            totalUncompressedSize: Int64(region.count), totalCompressedSize: Int64(region.count), dataPageOffset: 4)
        return try ColumnChunkReader(metadata: metadata, maxDefinitionLevel: defined == nil ? 0 : 1).read(region: region, base: 4)
    }

    @Test func doublesFloatsAndIntegersWithNulls() throws {
        let doubles = [0.1, -2.5, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        #expect(
            try Self.read(.double, width: 8, doubles.map(\.bitPattern), defined: [1, 0, 1, 1, 0, 1])
                == .doubles([0.1, nil, -2.5, .greatestFiniteMagnitude, nil, .leastNonzeroMagnitude]))
        let floats: [Float] = [1.5, -0.125, .leastNonzeroMagnitude]
        #expect(
            try Self.read(.float, width: 4, floats.map { UInt64($0.bitPattern) }, defined: nil)
                == .doubles(floats.map { Double($0) }))
        let int64s: [Int64] = [1_767_225_600_000_000, -1, .min, .max]
        #expect(
            try Self.read(.int64, width: 8, int64s.map { UInt64(bitPattern: $0) }, defined: [1, 1, 0, 1, 1])
                == .integers([1_767_225_600_000_000, -1, nil, .min, .max]))
        // INT32 sign-extends.
        let int32s: [Int32] = [7, -7, .min]
        #expect(
            try Self.read(.int32, width: 4, int32s.map { UInt64(UInt32(bitPattern: $0)) }, defined: nil)
                == .integers([7, -7, Int64(Int32.min)]))
    }

    @Test func otherTypesAndShortStreamsAreRefused() {
        #expect(throws: ParquetDecodingError.self) { try Self.read(.boolean, width: 1, [1, 0], defined: nil) }
        // A page of 4 doubles whose streams hold 3: refused, not read past.
        #expect {
            try Self.read(.double, width: 8, [1, 2, 3], defined: [1, 1, 1, 1])
        } throws: { error in
            "\(error)".contains("column x") && "\(error)".contains("BYTE_STREAM_SPLIT")
        }
    }
}

/// Counts in headers are the file's word: a page or a delta header that promises billions of
/// values is refused before anything is allocated for them.
@Suite struct HostileCountTests {
    @Test func aPageMayNotPromiseMoreValuesThanItsChunk() throws {
        // A required INT64 column chunk of 3 values whose one page claims a billion (as RLE
        // definition levels could describe in a few bytes).
        var header = ThriftCompactWriter()
        PageHeader(
            type: .dataPage, uncompressedPageSize: 24, compressedPageSize: 24,
            dataPageHeader: DataPageHeader(
                numValues: 1_000_000_000, encoding: .plain, definitionLevelEncoding: .rle, repetitionLevelEncoding: .rle)
        ).write(to: &header)
        let region = header.bytes + [UInt8](repeating: 0, count: 24)
        let metadata = ColumnMetaData(
            type: .int64, encodings: [.plain], pathInSchema: ["id"], codec: .uncompressed, numValues: 3,
            totalUncompressedSize: Int64(region.count), totalCompressedSize: Int64(region.count), dataPageOffset: 4)
        #expect {
            _ = try ColumnChunkReader(metadata: metadata, maxDefinitionLevel: 0).read(region: region, base: 4)
        } throws: { error in
            "\(error)".contains("a page of 1000000000 values where the column chunk has 3 left")
        }
    }

    @Test func aDeltaHeaderMustPromiseThePagesCount() {
        // Block 128, 4 miniblocks, 2^31 - 1 values, first value 0: all widths 0 would cost nothing.
        var bytes: [UInt8] = [0x80, 0x01, 0x04]
        ByteWriter.uleb128(UInt64(Int32.max), to: &bytes)
        bytes += [0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        #expect(throws: ParquetDecodingError.self) { try DeltaBinaryPacked.decode(bytes, count: 5) }
    }
}
