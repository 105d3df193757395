import Foundation
import LarderTestSupport
import Testing

@testable import LarderParquet

/// The bytes of a fixture written by pyarrow (Tests/LarderParquetTests/Fixtures; how they
/// were made is in Fixtures/README.md).
private func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    return Array(try Data(contentsOf: url))
}

private func footerError(_ bytes: [UInt8]) -> ParquetFooterError? {
    do {
        _ = try ParquetFooter.read(fileBytes: bytes)
        return nil
    } catch {
        return error
    }
}

private func littleEndian64(_ value: Int64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * Int64($0))) }
}

/// The page header at `offset` of the file.
private func pageHeader(_ bytes: [UInt8], at offset: Int64) throws -> PageHeader {
    var reader = try ThriftCompactReader(bytes, range: Int(offset)..<bytes.count)
    return try PageHeader(reading: &reader)
}

@Suite struct ParquetFooterTests {
    /// The schema pyarrow writes for the columns of basic.parquet and row_groups_v2.parquet.
    static let expectedSchema: [SchemaElement] = [
        SchemaElement(repetitionType: .required, name: "schema", numChildren: 6),
        SchemaElement(type: .int64, repetitionType: .optional, name: "id"),
        SchemaElement(type: .double, repetitionType: .optional, name: "score"),
        SchemaElement(type: .byteArray, repetitionType: .optional, name: "name", convertedType: .utf8, logicalType: .string),
        SchemaElement(type: .boolean, repetitionType: .optional, name: "flag"),
        SchemaElement(
            type: .int64, repetitionType: .optional, name: "ts", convertedType: .timestampMicros,
            logicalType: .timestamp(isAdjustedToUTC: true, unit: .micros)),
        SchemaElement(repetitionType: .optional, name: "hist", numChildren: 1, convertedType: .list, logicalType: .list),
        SchemaElement(repetitionType: .repeated, name: "list", numChildren: 1),
        SchemaElement(type: .int64, repetitionType: .optional, name: "element"),
    ]

    @Test func basicFileFromPyarrow() throws {
        let bytes = try fixture("basic.parquet")
        let metadata = try ParquetFooter.read(fileBytes: bytes)
        #expect(metadata.version == 2)
        #expect(metadata.numRows == 5)
        #expect(metadata.createdBy == "parquet-cpp-arrow version 26.0.1")
        #expect(metadata.keyValueMetadata?.contains { $0.key == "ARROW:schema" } == true)
        #expect(metadata.schema == Self.expectedSchema)
        #expect(metadata.rowGroups.count == 1)
        let group = metadata.rowGroups[0]
        #expect(group.numRows == 5)
        #expect(group.columns.count == 6)
        let columns = group.columns.compactMap(\.metaData)
        #expect(columns.count == 6)
        #expect(columns.map(\.pathInSchema) == [["id"], ["score"], ["name"], ["flag"], ["ts"], ["hist", "list", "element"]])
        #expect(columns.map(\.type) == [.int64, .double, .byteArray, .boolean, .int64, .int64])
        #expect(columns.allSatisfy { $0.codec == .uncompressed })
        // 5 rows; the list column counts its 9 entries and one null list.
        #expect(columns.map(\.numValues) == [5, 5, 5, 5, 5, 9])
        // Rows 1 and 4 have no name; row 3 has no list.
        #expect(columns.map { $0.statistics?.nullCount } == [0, 0, 2, 0, 0, 1])
        #expect(columns[0].statistics?.minValue == littleEndian64(0))
        #expect(columns[0].statistics?.maxValue == littleEndian64(4))
        #expect(columns[2].statistics?.minValue == Array("n0".utf8))
        #expect(columns[2].statistics?.maxValue == Array("n3".utf8))
        // pyarrow's default: a dictionary for every column but the bools.
        #expect(columns[0].encodings.contains(.rleDictionary))
        #expect(columns[3].dictionaryPageOffset == nil)
        #expect(columns.map(\.dataPageOffset) == [58, 186, 292, 333, 429, 565])

        // The page headers the offsets point at.
        let dictionary = try pageHeader(bytes, at: columns[2].dictionaryPageOffset!)
        #expect(dictionary.type == .dictionaryPage)
        #expect(dictionary.dictionaryPageHeader?.numValues == 3)
        #expect(dictionary.dictionaryPageHeader?.encoding == .plain)
        let data = try pageHeader(bytes, at: columns[2].dataPageOffset)
        #expect(data.type == .dataPage)
        #expect(data.dataPageHeader?.numValues == 5)
        #expect(data.dataPageHeader?.encoding == .rleDictionary)
        #expect(data.dataPageHeader?.definitionLevelEncoding == .rle)
        #expect(data.compressedPageSize == data.uncompressedPageSize)
    }

    @Test func rowGroupsAndDataPageV2FromPyarrow() throws {
        let bytes = try fixture("row_groups_v2.parquet")
        let metadata = try ParquetFooter.read(fileBytes: bytes)
        #expect(metadata.numRows == 10)
        #expect(metadata.schema == Self.expectedSchema)
        #expect(metadata.rowGroups.map(\.numRows) == [4, 4, 2])
        for group in metadata.rowGroups {
            #expect(group.columns.allSatisfy { $0.metaData?.codec == .uncompressed })
            #expect(group.columns.allSatisfy { $0.metaData?.dictionaryPageOffset == nil })
        }
        // Names are null in rows 1, 4 and 7; lists in rows 3 and 7.
        let nameNulls = metadata.rowGroups.map { $0.columns[2].metaData?.statistics?.nullCount }
        #expect(nameNulls == [1, 2, 0])
        let listNulls = metadata.rowGroups.map { $0.columns[5].metaData?.statistics?.nullCount }
        #expect(listNulls == [1, 1, 0])

        let id = try #require(metadata.rowGroups[1].columns[0].metaData)
        #expect(id.encodings == [.rle, .plain])
        let page = try pageHeader(bytes, at: id.dataPageOffset)
        #expect(page.type == .dataPageV2)
        let v2 = try #require(page.dataPageHeaderV2)
        #expect(v2.numValues == 4)
        #expect(v2.numRows == 4)
        #expect(v2.numNulls == 0)
        #expect(v2.encoding == .plain)
        #expect(v2.repetitionLevelsByteLength == 0)
        let names = try pageHeader(bytes, at: metadata.rowGroups[1].columns[2].metaData!.dataPageOffset)
        #expect(names.dataPageHeaderV2?.numNulls == 2)
    }

    @Test func logicalTypesFromPyarrow() throws {
        let metadata = try ParquetFooter.read(fileBytes: try fixture("logical_types.parquet"))
        #expect(metadata.numRows == 2)
        let leaves = metadata.schema.dropFirst()
        #expect(leaves.map(\.name) == ["ts_ms", "ts_ns", "naive", "i8", "u16"])
        #expect(leaves.map(\.type) == [.int64, .int64, .int64, .int32, .int32])
        #expect(
            leaves.map(\.logicalType) == [
                .timestamp(isAdjustedToUTC: true, unit: .millis),
                .timestamp(isAdjustedToUTC: true, unit: .nanos),
                .timestamp(isAdjustedToUTC: false, unit: .micros),
                .integer(bitWidth: 8, isSigned: true),
                .integer(bitWidth: 16, isSigned: false),
            ])
        #expect(leaves.map(\.convertedType) == [.timestampMillis, nil, .timestampMicros, .int8, .uint16])
        let nulls = metadata.rowGroups[0].columns.map { $0.metaData?.statistics?.nullCount }
        #expect(nulls == [1, 1, 0, 0, 0])
    }

    @Test(arguments: ["basic.parquet", "row_groups_v2.parquet", "logical_types.parquet"])
    func writtenBackReadsEqual(name: String) throws {
        let metadata = try ParquetFooter.read(fileBytes: try fixture(name))
        // A file of the leading magic and the footer alone: the metadata reads back equal,
        // and writing it again gives the same bytes.
        let end = ParquetFooter.encode(metadata)
        let again = try ParquetFooter.read(fileBytes: ParquetFooter.magic + end)
        #expect(again == metadata)
        #expect(ParquetFooter.encode(again) == end)
    }

    @Test func sampleMetadataRoundTrips() throws {
        let metadata = sampleMetadata()
        let file = ParquetFooter.magic + Array(repeating: 0xEE, count: 50) + ParquetFooter.encode(metadata)
        #expect(try ParquetFooter.read(fileBytes: file) == metadata)
    }

    @Test func badMagic() throws {
        var bytes = try fixture("basic.parquet")
        bytes[0] = UInt8(ascii: "X")
        #expect(footerError(bytes) == .badLeadingMagic(Array("XAR1".utf8)))
        #expect(footerError(bytes)?.description.contains("starts with XAR1") == true)

        let truncated = Array(try fixture("basic.parquet").dropLast())
        let error = footerError(truncated)
        #expect(error == .badTrailingMagic([0x00, 0x50, 0x41, 0x52]))
        #expect(error?.description.contains("truncated?") == true)
        #expect(error?.description.contains("not the magic \"PAR1\"") == true)

        #expect(footerError(Array("PAR1PAR1".utf8)) == .fileTooShort(fileSize: 8))
        #expect(footerError([]) == .fileTooShort(fileSize: 0))
    }

    @Test func footerLengthPastTheFile() {
        // 800 bytes that claim a footer of 123456.
        let length: UInt32 = 123_456
        let bytes =
            ParquetFooter.magic + Array(repeating: 0, count: 788)
            + (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * UInt32($0))) } + ParquetFooter.magic
        #expect(bytes.count == 800)
        let error = footerError(bytes)
        #expect(error == .footerLengthPastStart(footerLength: 123_456, fileSize: 800))
        #expect(error?.description == "footer length 123456 is past the start of the file (file is 800 bytes)")

        // One byte too long reaches into the leading magic.
        let tight = ParquetFooter.magic + [0x00] + [2, 0, 0, 0] + ParquetFooter.magic
        #expect(footerError(tight) == .footerLengthPastStart(footerLength: 2, fileSize: 13))
    }

    @Test func malformedFooter() throws {
        // The real footer's length over bytes that are not a FileMetaData: a typed error
        // with an offset inside the footer.
        var bytes = try fixture("basic.parquet")
        let size = bytes.count
        let length = Int(bytes[size - 8]) | Int(bytes[size - 7]) << 8
        let start = size - 8 - length
        for index in start..<(size - 8) { bytes[index] = 0xFF }
        guard case .metadata(let error) = footerError(bytes) else {
            Issue.record("expected a metadata error")
            return
        }
        #expect(error.offset >= start && error.offset < size - 8)

        // A footer cut short (the length says less than the footer is).
        var short = try fixture("basic.parquet")
        short.replaceSubrange((size - 8)..<(size - 4), with: [10, 0, 0, 0])
        guard case .metadata = footerError(short) else {
            Issue.record("expected a metadata error")
            return
        }
    }
}

@Suite struct MalformedFooterFuzzTests {
    /// Every byte of a real footer replaced by several values: each decode either succeeds
    /// or throws a typed error, and never traps (a trap would end the test process).
    @Test func corruptedFootersNeverTrap() throws {
        let original = try fixture("basic.parquet")
        let size = original.count
        let length = Int(original[size - 8]) | Int(original[size - 7]) << 8
        var failures = 0
        for index in (size - 8 - length)..<(size - 8) {
            for value: UInt8 in [0x00, 0x0F, 0x19, 0x1C, 0x7F, 0x80, 0xF9, 0xFF] where original[index] != value {
                var bytes = original
                bytes[index] = value
                do {
                    _ = try ParquetFooter.read(fileBytes: bytes)
                } catch {
                    guard case .metadata = error else {
                        Issue.record("a corrupted footer gave \(error)")
                        continue
                    }
                    failures += 1
                }
            }
        }
        // Most corruptions are caught; some (a changed digit of a size) are valid metadata.
        #expect(failures > length)
    }

    /// Random bytes as a footer, with a fixed seed so a failure repeats.
    @Test func randomFootersNeverTrap() {
        var generator = SeededGenerator(seed: 16)
        for _ in 0..<2000 {
            let count = Int(generator.next() % 200)
            let footer = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            var reader = ThriftCompactReader(footer)
            _ = try? FileMetaData(reading: &reader)
            var pageReader = ThriftCompactReader(footer)
            _ = try? PageHeader(reading: &pageReader)
            var skipReader = ThriftCompactReader(footer)
            _ = try? skipReader.skip(.struct)
        }
    }
}
