import LarderTestSupport
import Testing

@testable import LarderParquet

/// Files the writer makes read back through the reader: every type, nulls, several row
/// groups, every codec, statistics.
@Suite struct ParquetWriterTests {
    static let schema: [ParquetWriter.ColumnSchema] = [
        .init(name: "driver_id", type: .int64, nullable: false),
        .init(name: "rate", type: .double, nullable: true),
        .init(name: "ok", type: .bool, nullable: true),
        .init(name: "name", type: .string, nullable: true),
        .init(name: "ts", type: .timestamp, nullable: false),
    ]

    static func group(_ rows: Range<Int>) -> [ColumnValues] {
        [
            .integers(rows.map { Int64($0 - 500) }),
            .doubles(rows.map { $0 % 7 == 0 ? nil : $0 % 11 == 0 ? -0.0 : Double($0) / 3 }),
            .booleans(rows.map { $0 % 5 == 0 ? nil : $0 % 2 == 0 }),
            .byteArrays(rows.map { $0 % 3 == 0 ? nil : Array("é-\($0)".utf8) }),
            .integers(rows.map { 1_704_067_200_000_000 + Int64($0) * 1_000_000 }),
        ]
    }

    @Test(arguments: PageCompression.allCases)
    func writtenFilesReadBack(compression: PageCompression) throws {
        var bytes: [UInt8] = []
        var writer = try ParquetWriter(columns: Self.schema, compression: compression) { bytes += $0 }
        for start in stride(from: 0, to: 1000, by: 300) { try writer.writeRowGroup(Self.group(start..<min(start + 300, 1000))) }
        try writer.finish()

        let file = try ParquetFile(bytes: bytes)
        #expect(file.metadata.numRows == 1000 && file.rowGroupCount == 4)
        #expect(file.columns.map(\.name) == Self.schema.map(\.name))
        #expect(file.columns.map(\.isOptional) == Self.schema.map(\.nullable))
        #expect(file.columns[3].logicalType == .string)
        #expect(file.columns[4].logicalType == .timestamp(isAdjustedToUTC: true, unit: .micros))
        // Without column orders, readers ignore min and max (pyarrow does).
        #expect(file.metadata.columnOrders == Array(repeating: .typeDefined, count: 5))
        for g in 0..<4 {
            let rows = (g * 300)..<min(g * 300 + 300, 1000)
            let read = try file.values(of: file.columns, inRowGroup: g)
            let expected = Self.group(rows)
            for c in expected.indices {
                if case .doubles(let a) = read[c], case .doubles(let b) = expected[c] {
                    #expect(a.map { $0?.bitPattern } == b.map { $0?.bitPattern }, "-0.0 kept")
                } else {
                    #expect(read[c] == expected[c], "row group \(g), column \(Self.schema[c].name)")
                }
            }
        }
        // Statistics of the first row group: nulls counted, bounds in the format's encodings.
        let stats = file.metadata.rowGroups[0].columns.map { $0.metaData!.statistics! }
        #expect(stats[0].nullCount == 0 && stats[0].minValue == Self.plain(Int64(-500)))
        #expect(stats[0].maxValue == Self.plain(Int64(-201)))
        #expect(stats[1].nullCount == Int64((0..<300).count { $0 % 7 == 0 }))
        #expect(stats[1].minValue == Self.plain((-0.0).bitPattern), "a zero minimum is -0.0")
        #expect(stats[2].minValue == [0] && stats[2].maxValue == [1])
        #expect(stats[3].minValue == Array("é-1".utf8) && stats[3].maxValue == Array("é-98".utf8))
    }

    /// A value's PLAIN bytes (8, little-endian).
    static func plain<T: FixedWidthInteger>(_ bits: T) -> [UInt8] {
        withUnsafeBytes(of: UInt64(truncatingIfNeeded: bits).littleEndian, Array.init)
    }

    @Test func aNullInARequiredColumnIsRefused() throws {
        var writer = try ParquetWriter(columns: [.init(name: "id", type: .int64, nullable: false)]) { _ in }
        #expect(throws: ParquetWriteError.self) { try writer.writeRowGroup([.integers([1, nil])]) }
        #expect(throws: ParquetWriteError.self) { try writer.writeRowGroup([.doubles([1])]) }
    }
}
