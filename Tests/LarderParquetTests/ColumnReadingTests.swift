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
