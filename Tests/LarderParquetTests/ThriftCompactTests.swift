import Testing

@testable import LarderParquet

/// Reads `bytes` as one struct with `body`, and checks that nothing is left.
private func readStruct(
    _ bytes: [UInt8], _ body: (inout ThriftCompactReader, ThriftFieldHeader) throws(ThriftDecodingError) -> Void
) throws {
    var reader = ThriftCompactReader(bytes)
    try reader.beginStruct()
    while let field = try reader.readFieldHeader() { try body(&reader, field) }
    reader.endStruct()
    #expect(reader.remaining == 0)
}

private func decodingError(_ body: () throws -> Void) -> ThriftDecodingError? {
    do {
        try body()
        return nil
    } catch let error as ThriftDecodingError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

@Suite struct ThriftCompactTests {
    @Test func knownEncodings() {
        // Field 1, i32 1: one header byte (delta 1, type 5), zigzag 2, stop.
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        writer.writeI32Field(1, 1)
        writer.writeBoolField(2, true)
        writer.writeBoolField(3, false)
        writer.writeI64Field(20, -1)
        writer.endStruct()
        #expect(writer.bytes == [0x15, 0x02, 0x11, 0x12, 0x06, 0x28, 0x01, 0x00])
    }

    @Test func scalarsRoundTrip() throws {
        let i16s: [Int16] = [0, 1, -1, 63, -64, 64, .min, .max]
        let i32s: [Int32] = [0, 1, -1, 1 << 20, -(1 << 20), .min, .max]
        let i64s: [Int64] = [0, 1, -1, 1 << 40, -(1 << 40), .min, .max, .min + 1, .max - 1]
        let doubles: [Double] = [0, -0.0, .pi, -1e300, .infinity, -.infinity, .leastNonzeroMagnitude]
        let binaries: [[UInt8]] = [[], [0, 255, 128], Array(repeating: 7, count: 300)]
        let strings = ["", "plain", "naïve ☕ 日本"]
        let uuid: [UInt8] = Array(0..<16)

        var writer = ThriftCompactWriter()
        writer.beginStruct()
        var id: Int16 = 0
        func next() -> Int16 {
            id += 1
            return id
        }
        writer.writeBoolField(next(), true)
        writer.writeBoolField(next(), false)
        for value in [Int8.min, -1, 0, 1, .max] {
            writer.writeFieldHeader(next(), .byte)
            writer.writeByte(value)
        }
        for value in i16s { writer.writeI16Field(next(), value) }
        for value in i32s { writer.writeI32Field(next(), value) }
        for value in i64s { writer.writeI64Field(next(), value) }
        for value in doubles {
            writer.writeFieldHeader(next(), .double)
            writer.writeDouble(value)
        }
        writer.writeFieldHeader(next(), .double)
        writer.writeDouble(.nan)
        for value in binaries { writer.writeBinaryField(next(), value) }
        for value in strings { writer.writeStringField(next(), value) }
        writer.writeFieldHeader(next(), .uuid)
        writer.writeUUID(uuid)
        writer.endStruct()

        var bools: [Bool] = []
        var bytes: [Int8] = []
        var readI16s: [Int16] = []
        var readI32s: [Int32] = []
        var readI64s: [Int64] = []
        var readDoubles: [Double] = []
        var readBinaries: [[UInt8]] = []
        var readStrings: [String] = []
        var readUUID: [UInt8] = []
        var ids: [Int16] = []
        var stringFields = 0
        try readStruct(writer.bytes) { reader, field throws(ThriftDecodingError) in
            ids.append(field.id)
            switch field.type {
            case .bool: bools.append(try reader.readBool())
            case .byte: bytes.append(try reader.readByte())
            case .i16: readI16s.append(try reader.readI16())
            case .i32: readI32s.append(try reader.readI32())
            case .i64: readI64s.append(try reader.readI64())
            case .double: readDoubles.append(try reader.readDouble())
            case .binary:
                if stringFields < binaries.count {
                    readBinaries.append(try reader.readBinary())
                } else {
                    readStrings.append(try reader.readString())
                }
                stringFields += 1
            case .uuid: readUUID = try reader.readUUID()
            default: Issue.record("unexpected \(field.type)")
            }
        }
        #expect(ids == Array(1...id))
        #expect(bools == [true, false])
        #expect(bytes == [Int8.min, -1, 0, 1, .max])
        #expect(readI16s == i16s)
        #expect(readI32s == i32s)
        #expect(readI64s == i64s)
        #expect(readDoubles.dropLast().map(\.bitPattern) == doubles.map(\.bitPattern))
        #expect(readDoubles.last?.isNaN == true)
        #expect(readBinaries == binaries)
        #expect(readStrings == strings)
        #expect(readUUID == uuid)
    }

    @Test func zigzagVarintBytes() {
        // Zigzag maps -1 to 1 and Int64.min to the largest unsigned value: ten bytes.
        var writer = ThriftCompactWriter()
        writer.writeI64(-1)
        #expect(writer.bytes == [0x01])
        writer = ThriftCompactWriter()
        writer.writeI64(.min)
        #expect(writer.bytes == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        writer = ThriftCompactWriter()
        writer.writeI32(.max)
        #expect(writer.bytes == [0xFE, 0xFF, 0xFF, 0xFF, 0x0F])
    }

    @Test func longFormFieldIDs() throws {
        // Deltas over 15, decreasing ids, negative ids and zero need the long form.
        let ids: [Int16] = [1, 16, 17, 40, 2, 3, -5, 0, 300, Int16.max, 7]
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        for (index, id) in ids.enumerated() {
            if index % 2 == 0 {
                writer.writeI32Field(id, Int32(index))
            } else {
                writer.writeBoolField(id, index % 4 == 1)
            }
        }
        writer.endStruct()
        // 16 is 15 past 1: still the short form.
        #expect(Array(writer.bytes[2...2]) == [0xF1])
        var read: [(Int16, Int)] = []
        try readStruct(writer.bytes) { reader, field throws(ThriftDecodingError) in
            switch field.type {
            case .i32: read.append((field.id, Int(try reader.readI32())))
            case .bool: read.append((field.id, try reader.readBool() ? 1 : 0))
            default: Issue.record("unexpected \(field.type)")
            }
        }
        #expect(read.map(\.0) == ids)
        #expect(read.map(\.1) == ids.indices.map { $0 % 2 == 0 ? $0 : ($0 % 4 == 1 ? 1 : 0) })
    }

    @Test func nestedStructsKeepTheirFieldIDs() throws {
        // The outer field after a nested struct is a delta from the outer struct's last id
        // (2), not from the inner struct's (20).
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        writer.writeI32Field(1, 10)
        writer.writeFieldHeader(2, .struct)
        writer.beginStruct()
        writer.writeI32Field(1, 20)
        writer.writeFieldHeader(20, .struct)
        writer.beginStruct()
        writer.writeStringField(5, "deep")
        writer.endStruct()
        writer.writeBoolField(21, true)
        writer.endStruct()
        writer.writeI32Field(3, 30)
        writer.endStruct()

        var reader = ThriftCompactReader(writer.bytes)
        try reader.beginStruct()
        #expect(try reader.readFieldHeader()?.id == 1)
        #expect(try reader.readI32() == 10)
        #expect(try reader.readFieldHeader() == ThriftFieldHeader(id: 2, type: .struct, offset: 2))
        try reader.beginStruct()
        #expect(try reader.readFieldHeader()?.id == 1)
        #expect(try reader.readI32() == 20)
        #expect(try reader.readFieldHeader()?.id == 20)
        try reader.beginStruct()
        #expect(try reader.readFieldHeader()?.id == 5)
        #expect(try reader.readString() == "deep")
        #expect(try reader.readFieldHeader() == nil)
        reader.endStruct()
        let bool = try reader.readFieldHeader()
        #expect(bool?.id == 21 && bool?.type == .bool)
        #expect(try reader.readBool())
        #expect(try reader.readFieldHeader() == nil)
        reader.endStruct()
        #expect(try reader.readFieldHeader()?.id == 3)
        #expect(try reader.readI32() == 30)
        #expect(try reader.readFieldHeader() == nil)
        reader.endStruct()
        #expect(reader.remaining == 0)
    }

    @Test func listsShortAndLongForm() throws {
        for count in [0, 1, 14, 15, 16, 1000] {
            var writer = ThriftCompactWriter()
            writer.writeListHeader(.i64, count: count)
            for index in 0..<count { writer.writeI64(Int64(index) * -1_000_003) }
            writer.writeSetHeader(.bool, count: count)
            for index in 0..<count { writer.writeBool(index % 3 == 0) }
            writer.writeListHeader(.binary, count: count)
            for index in 0..<count { writer.writeString("s\(index)") }
            // The header byte holds counts up to 14; 15 and more are 0xF_ and a varint.
            #expect(writer.bytes[0] == (count < 15 ? UInt8(count) << 4 | 6 : 0xF6))

            var reader = ThriftCompactReader(writer.bytes)
            let (type, readCount) = try reader.readListHeader()
            #expect(type == .i64 && readCount == count)
            for index in 0..<count { #expect(try reader.readI64() == Int64(index) * -1_000_003) }
            let (setType, setCount) = try reader.readSetHeader()
            #expect(setType == .bool && setCount == count)
            for index in 0..<count { #expect(try reader.readBool() == (index % 3 == 0)) }
            let (stringType, stringCount) = try reader.readListHeader()
            #expect(stringType == .binary && stringCount == count)
            for index in 0..<count { #expect(try reader.readString() == "s\(index)") }
            #expect(reader.remaining == 0)
        }
    }

    @Test func listsOfStructsAndListsAndMaps() throws {
        var writer = ThriftCompactWriter()
        writer.writeListHeader(.struct, count: 20)
        for index in 0..<20 {
            writer.beginStruct()
            writer.writeI32Field(Int16(index + 1), Int32(index))
            writer.endStruct()
        }
        writer.writeListHeader(.list, count: 2)
        writer.writeListHeader(.double, count: 1)
        writer.writeDouble(1.5)
        writer.writeListHeader(.double, count: 0)
        writer.writeMapHeader(.binary, .i32, count: 2)
        writer.writeString("a")
        writer.writeI32(1)
        writer.writeString("b")
        writer.writeI32(-2)
        writer.writeMapHeader(.binary, .i32, count: 0)

        var reader = ThriftCompactReader(writer.bytes)
        #expect(try reader.readListHeader() == (.struct, 20))
        for index in 0..<20 {
            try reader.beginStruct()
            #expect(try reader.readFieldHeader()?.id == Int16(index + 1))
            #expect(try reader.readI32() == Int32(index))
            #expect(try reader.readFieldHeader() == nil)
            reader.endStruct()
        }
        #expect(try reader.readListHeader() == (.list, 2))
        #expect(try reader.readListHeader() == (.double, 1))
        #expect(try reader.readDouble() == 1.5)
        #expect(try reader.readListHeader().count == 0)
        let map = try reader.readMapHeader()
        #expect(map.keyType == .binary && map.valueType == .i32 && map.count == 2)
        #expect(try reader.readString() == "a")
        #expect(try reader.readI32() == 1)
        #expect(try reader.readString() == "b")
        #expect(try reader.readI32() == -2)
        #expect(try reader.readMapHeader().count == 0)
        #expect(reader.remaining == 0)
    }

    @Test func unknownFieldsOfEveryTypeAreSkipped() throws {
        // A KeyValue as a newer writer might send it: the two known fields around fields of
        // every type this reader does not know.
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        writer.writeStringField(1, "k")
        writer.writeBoolField(3, true)
        writer.writeBoolField(4, false)
        writer.writeFieldHeader(5, .byte)
        writer.writeByte(-3)
        writer.writeI16Field(6, -300)
        writer.writeI32Field(7, .min)
        writer.writeI64Field(8, .max)
        writer.writeFieldHeader(9, .double)
        writer.writeDouble(2.5)
        writer.writeBinaryField(10, Array(repeating: 1, count: 200))
        writer.writeFieldHeader(11, .list)
        writer.writeListHeader(.struct, count: 16)
        for index in 0..<16 {
            writer.beginStruct()
            writer.writeBoolField(1, index % 2 == 0)
            writer.writeFieldHeader(40, .list)
            writer.writeListHeader(.bool, count: 2)
            writer.writeBool(true)
            writer.writeBool(false)
            writer.endStruct()
        }
        writer.writeFieldHeader(12, .set)
        writer.writeSetHeader(.i32, count: 3)
        for value: Int32 in [1, 2, 3] { writer.writeI32(value) }
        writer.writeFieldHeader(13, .map)
        writer.writeMapHeader(.binary, .list, count: 2)
        for key in ["x", "y"] {
            writer.writeString(key)
            writer.writeListHeader(.i64, count: 1)
            writer.writeI64(-9)
        }
        writer.writeFieldHeader(14, .struct)
        writer.beginStruct()
        writer.writeFieldHeader(1, .struct)
        writer.beginStruct()
        writer.writeBoolField(1, true)
        writer.endStruct()
        writer.endStruct()
        writer.writeFieldHeader(15, .uuid)
        writer.writeUUID(Array(repeating: 9, count: 16))
        writer.writeFieldHeader(16, .map)
        writer.writeMapHeader(.i32, .i32, count: 0)
        writer.writeI64Field(1000, 5)
        writer.writeStringField(2, "v")
        writer.endStruct()

        var reader = ThriftCompactReader(writer.bytes)
        #expect(try KeyValue(reading: &reader) == KeyValue(key: "k", value: "v"))
        #expect(reader.remaining == 0)
    }

    @Test func truncatedVarint() {
        // An i32 field whose varint has its continuation bit set on the last byte.
        let error = decodingError {
            try readStruct([0x15, 0x80, 0x80]) { reader, _ throws(ThriftDecodingError) in _ = try reader.readI32() }
        }
        #expect(error?.kind == .truncated)
        #expect(error?.offset == 3)
        #expect(error?.description.contains("an i32") == true)
    }

    @Test func varintTooLong() {
        // Six bytes, or a fifth byte with bits past 32, are no i32.
        for bytes: [UInt8] in [[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0xFF, 0xFF, 0xFF, 0xFF, 0x1F]] {
            var reader = ThriftCompactReader(bytes)
            let error = decodingError { _ = try reader.readI32() }
            #expect(error == ThriftDecodingError(.varintTooLong, offset: 0, expected: "an i32 of at most 32 bits"))
        }
        var reader = ThriftCompactReader(Array(repeating: 0xFF, count: 10) + [0x01])
        #expect(decodingError { _ = try reader.readI64() }?.kind == .varintTooLong)
    }

    @Test func lengthPastEnd() {
        // A binary of 5 bytes with 2 left; a list of 200 elements with 1 byte left.
        var reader = ThriftCompactReader([0x05, 0x61, 0x62])
        let error = decodingError { _ = try reader.readBinary() }
        #expect(error?.kind == .lengthPastEnd)
        #expect(error?.offset == 0)
        #expect(error?.description.contains("found 5") == true)

        var list = ThriftCompactReader([0xF5, 0xC8, 0x01, 0x02])
        #expect(decodingError { _ = try list.readListHeader() }?.kind == .lengthPastEnd)

        // A huge map count must not be trusted either.
        var map = ThriftCompactReader([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x55])
        #expect(decodingError { _ = try map.readMapHeader() }?.kind == .lengthPastEnd)

        var double = ThriftCompactReader([1, 2, 3])
        #expect(decodingError { _ = try double.readDouble() }?.kind == .truncated)
    }

    @Test func offsetsAreInTheWholeBuffer() {
        // A reader of a range reports offsets in the buffer, so in the file.
        let bytes: [UInt8] = Array(repeating: 0, count: 100) + [0x15, 0x80]
        let error = decodingError {
            var reader = try ThriftCompactReader(bytes, range: 100..<102)
            try reader.beginStruct()
            _ = try reader.readFieldHeader()
            _ = try reader.readI32()
        }
        #expect(error?.offset == 102)
        // A range outside the buffer (an offset from a corrupt file) is an error too.
        #expect(decodingError { _ = try ThriftCompactReader(bytes, range: 90..<200) }?.kind == .lengthPastEnd)
    }

    @Test func invalidInput() {
        var badType = ThriftCompactReader([0x1E])
        #expect(decodingError { _ = try badType.readFieldHeader() }?.kind == .invalidType)

        var badBool = ThriftCompactReader([0x07])
        #expect(decodingError { _ = try badBool.readBool() }?.kind == .invalidValue)

        var badUTF8 = ThriftCompactReader([0x02, 0xC3, 0x28])
        #expect(decodingError { _ = try badUTF8.readString() }?.kind == .invalidValue)

        // A field id pushed past Int16.max by a delta.
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        writer.writeI32Field(.max - 1, 0)
        var overflow = ThriftCompactReader(writer.bytes + [0xF5, 0x00])
        let error = decodingError {
            try overflow.beginStruct()
            _ = try overflow.readFieldHeader()
            _ = try overflow.readI32()
            _ = try overflow.readFieldHeader()
        }
        #expect(error?.kind == .invalidValue)

        // A KeyValue without its required key.
        var empty = ThriftCompactReader([0x00])
        let missing = decodingError { _ = try KeyValue(reading: &empty) }
        #expect(missing?.kind == .missingRequiredField)
        #expect(missing?.description.contains("KeyValue.key") == true)
    }

    @Test func listOfTheWrongElementType() {
        // FileMetaData.schema (2) as a list of i32 instead of structs.
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        writer.writeI32Field(1, 2)
        writer.writeFieldHeader(2, .list)
        writer.writeListHeader(.i32, count: 1)
        writer.writeI32(5)
        writer.endStruct()
        var reader = ThriftCompactReader(writer.bytes)
        let error = decodingError { _ = try FileMetaData(reading: &reader) }
        #expect(error?.kind == .invalidType)
        #expect(error?.offset == 3)
        #expect(error?.description.contains("FileMetaData.schema as a list of struct, found a list of i32") == true)
    }

    @Test func deepNestingIsRejectedNotRecursed() {
        // 10,000 nested structs (field 1 of each) must not overflow the stack when skipped.
        let bytes = Array(repeating: UInt8(0x1C), count: 10_000) + Array(repeating: 0, count: 10_001)
        var reader = ThriftCompactReader(bytes)
        #expect(decodingError { try reader.skip(.struct) }?.kind == .nestingTooDeep)
        var lists = ThriftCompactReader(Array(repeating: UInt8(0x19), count: 10_000))
        #expect(decodingError { try lists.skip(.list) }?.kind == .nestingTooDeep)
    }

    @Test func everyPrefixOfAStructFailsCleanly() throws {
        // Cutting a valid encoding anywhere gives a typed error, never a trap.
        let metadata = sampleMetadata()
        var writer = ThriftCompactWriter()
        metadata.write(to: &writer)
        for length in 0..<writer.bytes.count {
            var reader = ThriftCompactReader(Array(writer.bytes[0..<length]))
            #expect(throws: ThriftDecodingError.self) { try FileMetaData(reading: &reader) }
        }
        var reader = ThriftCompactReader(writer.bytes)
        #expect(try FileMetaData(reading: &reader) == metadata)
    }

    @Test func unknownEnumValuesArePreserved() throws {
        // ALP (10) is newer than this module; the value survives a round trip.
        #expect(Encoding(rawValue: 10) == .unknown(10))
        #expect(Encoding(rawValue: 8) == .rleDictionary)
        #expect(CompressionCodec(rawValue: 99).rawValue == 99)
        var column = sampleMetadata().rowGroups[0].columns[0].metaData!
        column.encodings = [.plain, .unknown(10)]
        column.codec = .unknown(42)
        var writer = ThriftCompactWriter()
        column.write(to: &writer)
        var reader = ThriftCompactReader(writer.bytes)
        #expect(try ColumnMetaData(reading: &reader) == column)
    }

    @Test func unsupportedLogicalTypesArePreserved() throws {
        // DECIMAL (5) { 1: scale 2, 2: precision 10 } is kept as bytes and written back.
        var writer = ThriftCompactWriter()
        writer.beginStruct()
        writer.writeStringField(4, "amount")
        writer.writeFieldHeader(10, .struct)
        writer.beginStruct()
        writer.writeFieldHeader(5, .struct)
        writer.beginStruct()
        writer.writeI32Field(1, 2)
        writer.writeI32Field(2, 10)
        writer.endStruct()
        writer.endStruct()
        writer.endStruct()
        var reader = ThriftCompactReader(writer.bytes)
        let element = try SchemaElement(reading: &reader)
        #expect(element.logicalType == .unsupported(fieldID: 5, encoded: [0x15, 0x04, 0x15, 0x14, 0x00]))
        var again = ThriftCompactWriter()
        element.write(to: &again)
        #expect(again.bytes == writer.bytes)
    }

    @Test func pageHeadersRoundTrip() throws {
        let statistics = Statistics(nullCount: 3, distinctCount: 7, maxValue: [9], minValue: [1])
        let headers = [
            PageHeader(
                type: .dataPage, uncompressedPageSize: 100, compressedPageSize: 80, crc: -12345,
                dataPageHeader: DataPageHeader(
                    numValues: 10, encoding: .rleDictionary, definitionLevelEncoding: .rle, repetitionLevelEncoding: .rle,
                    statistics: statistics)),
            PageHeader(
                type: .dictionaryPage, uncompressedPageSize: 40, compressedPageSize: 40,
                dictionaryPageHeader: DictionaryPageHeader(numValues: 5, encoding: .plain, isSorted: false)),
            PageHeader(
                type: .dataPageV2, uncompressedPageSize: 1 << 30, compressedPageSize: .max,
                dataPageHeaderV2: DataPageHeaderV2(
                    numValues: 4, numNulls: 1, numRows: 4, encoding: .deltaBinaryPacked, definitionLevelsByteLength: 2,
                    repetitionLevelsByteLength: 0, isCompressed: true, statistics: statistics)),
        ]
        for header in headers {
            var writer = ThriftCompactWriter()
            header.write(to: &writer)
            var reader = ThriftCompactReader(writer.bytes + [0xAA])
            #expect(try PageHeader(reading: &reader) == header)
            // The page's bytes start right after the header.
            #expect(reader.remaining == 1)
        }
    }
}

/// A FileMetaData that uses every field this module models.
func sampleMetadata() -> FileMetaData {
    let statistics = Statistics(
        max: [1], min: [0], nullCount: 2, distinctCount: 5, maxValue: [4, 0, 0, 0, 0, 0, 0, 0], minValue: [0, 0, 0, 0, 0, 0, 0, 0])
    let column = ColumnMetaData(
        type: .int64, encodings: [.plain, .rle, .rleDictionary], pathInSchema: ["hist", "list", "element"], codec: .zstd,
        numValues: 1 << 33, totalUncompressedSize: 123_456_789_012, totalCompressedSize: 1,
        keyValueMetadata: [KeyValue(key: "a", value: nil)],
        dataPageOffset: 4_000_000_000, indexPageOffset: 7, dictionaryPageOffset: 4, statistics: statistics)
    return FileMetaData(
        version: 2,
        schema: [
            SchemaElement(name: "schema", numChildren: 3),
            SchemaElement(type: .byteArray, repetitionType: .optional, name: "name", convertedType: .utf8, logicalType: .string),
            SchemaElement(
                type: .int64, repetitionType: .required, name: "ts", convertedType: .timestampMicros,
                logicalType: .timestamp(isAdjustedToUTC: true, unit: .micros)),
            SchemaElement(
                type: .fixedLenByteArray, typeLength: 16, repetitionType: .repeated, name: "i",
                logicalType: .integer(bitWidth: 64, isSigned: false)),
        ],
        numRows: 1 << 40,
        rowGroups: [
            RowGroup(
                columns: [
                    ColumnChunk(
                        filePath: "other.parquet", fileOffset: 4, metaData: column, offsetIndexOffset: 10, offsetIndexLength: 20,
                        columnIndexOffset: 30, columnIndexLength: 40)
                ], totalByteSize: 99, numRows: 3, fileOffset: 4, totalCompressedSize: 90, ordinal: 0),
            RowGroup(columns: [], totalByteSize: 0, numRows: 0),
        ],
        keyValueMetadata: [KeyValue(key: "ARROW:schema", value: "xyz"), KeyValue(key: "empty", value: "")],
        createdBy: "larder")
}
