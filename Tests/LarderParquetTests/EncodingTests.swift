import LarderTestSupport
import Testing

@testable import LarderParquet

/// The value encodings against byte sequences worked out from the Parquet format's
/// description (Encodings.md), and round trips over awkward values.
@Suite struct EncodingTests {
    /// The specification's example: 0 to 7 at bit width 3 packs into 0x88 0xC6 0xFA.
    @Test func bitPackingIsLeastSignificantBitFirst() throws {
        var out: [UInt8] = []
        BitPacking.pack([0, 1, 2, 3, 4, 5, 6, 7], bitWidth: 3, to: &out)
        #expect(out == [0x88, 0xC6, 0xFA])
        // As a bit-packed run of one group: header (1 << 1 | 1) = 3.
        #expect(try RLEHybrid.decode([0x03, 0x88, 0xC6, 0xFA], bitWidth: 3, count: 8) == [0, 1, 2, 3, 4, 5, 6, 7])
        // Padding past `count` is dropped.
        #expect(try RLEHybrid.decode([0x03, 0x88, 0xC6, 0xFA], bitWidth: 3, count: 5) == [0, 1, 2, 3, 4])
    }

    @Test func repeatedRunsStoreTheValueInWholeBytes() throws {
        // 300 copies of 5 at width 3: header 600 as ULEB128 (0xD8 0x04), then one byte.
        #expect(try RLEHybrid.decode([0xD8, 0x04, 0x05], bitWidth: 3, count: 300) == Array(repeating: 5, count: 300))
        // Width 10: two bytes, little-endian.
        #expect(try RLEHybrid.decode([0x08, 0xE8, 0x03], bitWidth: 10, count: 4) == [1000, 1000, 1000, 1000])
        #expect(RLEHybrid.encode(Array(repeating: 5, count: 300), bitWidth: 3) == [0xD8, 0x04, 0x05])
    }

    @Test(arguments: [0, 1, 2, 3, 7, 8, 13, 20, 31, 32])
    func hybridRoundTrips(bitWidth: Int) throws {
        var generator = SeededGenerator(seed: UInt64(bitWidth))
        let maximum = bitWidth == 32 ? UInt64(UInt32.max) : (1 << UInt64(bitWidth)) - 1
        for _ in 0..<20 {
            // Runs of random lengths, some long enough to repeat, some not.
            var values: [UInt32] = []
            while values.count < 500 {
                let value = UInt32(generator.next() % (maximum + 1))
                values += repeatElement(value, count: Int(generator.next() % 20) + 1)
            }
            let encoded = RLEHybrid.encode(values, bitWidth: bitWidth)
            #expect(try RLEHybrid.decode(encoded, bitWidth: bitWidth, count: values.count) == values)
        }
        #expect(RLEHybrid.bitWidth(of: maximum) == bitWidth)
    }

    @Test func malformedHybridDataThrows() {
        // The runs end before the values do.
        #expect(throws: ParquetDecodingError.self) { try RLEHybrid.decode([0x04, 0x01], bitWidth: 1, count: 3) }
        // A bit-packed run longer than the data.
        #expect(throws: ParquetDecodingError.self) { try RLEHybrid.decode([0x05, 0xFF], bitWidth: 8, count: 16) }
        // A repeated value wider than the bit width.
        #expect(throws: ParquetDecodingError.self) { try RLEHybrid.decode([0x02, 0x09], bitWidth: 3, count: 1) }
        // A varint that never ends.
        #expect(throws: ParquetDecodingError.self) {
            try RLEHybrid.decode(Array(repeating: 0xFF, count: 11), bitWidth: 1, count: 1)
        }
    }

    /// The specification's example: 1, 2, 3, 4, 5 are a header (block 128, 4 miniblocks, 5
    /// values, first value 1), then a block with min delta 1 and deltas of 0 (width 0).
    @Test func deltaBinaryPackedDecodesTheSpecificationsExample() throws {
        let bytes: [UInt8] = [0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00]
        let (values, end) = try DeltaBinaryPacked.decode(bytes)
        #expect(values == [1, 2, 3, 4, 5])
        #expect(end == bytes.count)
        #expect(DeltaBinaryPacked.encode([1, 2, 3, 4, 5]) == bytes)
    }

    @Test func deltaBinaryPackedRoundTripsAnyInt64() throws {
        var generator = SeededGenerator(seed: 7)
        let cases: [[Int64]] = [
            [], [42], [.min, .max, .min, 0, -1, 1],
            (0..<1000).map { 1_700_000_000_000_000 + Int64($0) * 1_000_000 },  // timestamps a second apart
            (0..<777).map { _ in Int64(bitPattern: generator.next()) },
            (0..<129).map { Int64($0 % 3) - 1 },
        ]
        for values in cases {
            let (decoded, end) = try DeltaBinaryPacked.decode(DeltaBinaryPacked.encode(values) + [0xAB])
            #expect(decoded == values)
            #expect(end == DeltaBinaryPacked.encode(values).count, "the encoded data's end, not the buffer's")
        }
        // A header whose block size is not a multiple of 128.
        #expect(throws: ParquetDecodingError.self) { try DeltaBinaryPacked.decode([0x40, 0x04, 0x05, 0x02]) }
        // Values promised but not there.
        #expect(throws: ParquetDecodingError.self) { try DeltaBinaryPacked.decode([0x80, 0x01, 0x04, 0x05, 0x02, 0x02]) }
    }

    /// The specification's example: 4-byte values AA BB CC DD and 00 11 22 33 are stored as
    /// their first bytes, then their second bytes, and so on.
    @Test func byteStreamSplitDecodesTheSpecificationsExample() throws {
        let bytes: [UInt8] = [0xAA, 0x00, 0xBB, 0x11, 0xCC, 0x22, 0xDD, 0x33]
        #expect(try ByteStreamSplit.decode(bytes, width: 4, count: 2) == [0xDDCC_BBAA, 0x3322_1100])
        #expect(ByteStreamSplit.encode([0xDDCC_BBAA, 0x3322_1100], width: 4) == bytes)
        // The streams' stride is the data's length over the width, whatever count is wanted.
        #expect(try ByteStreamSplit.decode(bytes, width: 4, count: 1) == [0xDDCC_BBAA])
        #expect(try ByteStreamSplit.decode([0xEE] + bytes, from: 1, width: 4, count: 2) == [0xDDCC_BBAA, 0x3322_1100])
        // More values than the streams hold.
        #expect(throws: ParquetDecodingError.self) { try ByteStreamSplit.decode(bytes, width: 4, count: 3) }
        #expect(throws: ParquetDecodingError.self) { try ByteStreamSplit.decode(bytes, width: 8, count: 2) }
    }

    @Test func byteStreamSplitRoundTripsAnyBits() throws {
        var generator = SeededGenerator(seed: 11)
        for width in [4, 8] {
            for count in [0, 1, 7, 1000] {
                let mask: UInt64 = width == 8 ? .max : 0xFFFF_FFFF
                let values = (0..<count).map { _ in generator.next() & mask }
                #expect(try ByteStreamSplit.decode(ByteStreamSplit.encode(values, width: width), width: width, count: count) == values)
            }
        }
    }

    @Test func plainValuesRoundTrip() throws {
        var out: [UInt8] = []
        PlainEncoding.append(integers: [0, -1, .max, .min], width: 8, to: &out)
        #expect(try PlainEncoding.integers(out, width: 8, count: 4).values == [0, -1, .max, .min])
        out = []
        PlainEncoding.append(integers: [0, -1, Int64(Int32.max), Int64(Int32.min)], width: 4, to: &out)
        #expect(out.count == 16)
        #expect(try PlainEncoding.integers(out, width: 4, count: 4).values == [0, -1, Int64(Int32.max), Int64(Int32.min)])
        out = []
        PlainEncoding.append(doubles: [0.1, -0.0, .infinity, 5e-324], to: &out)
        let doubles = try PlainEncoding.floatingPoint(out, width: 8, count: 4).values
        #expect(doubles.map(\.bitPattern) == [0.1, -0.0, .infinity, 5e-324].map(\.bitPattern))
        // FLOAT widens exactly.
        let float: [UInt8] = [0x00, 0x00, 0xC0, 0x3F]  // 1.5
        #expect(try PlainEncoding.floatingPoint(float, width: 4, count: 1).values == [1.5])
        out = []
        PlainEncoding.append(booleans: [true, false, true, true, false, false, false, false, true], to: &out)
        #expect(out == [0x0D, 0x01])
        #expect(try PlainEncoding.booleans(out, count: 9).values == [true, false, true, true, false, false, false, false, true])
        out = []
        for text in ["", "é", "a{b}"] { PlainEncoding.append(byteArray: Array(text.utf8), to: &out) }
        let (ranges, end) = try PlainEncoding.byteArrays(out, count: 3)
        #expect(ranges.map { String(decoding: out[$0], as: UTF8.self) } == ["", "é", "a{b}"])
        #expect(end == out.count)
        #expect(throws: ParquetDecodingError.self) { try PlainEncoding.byteArrays([0x05, 0, 0, 0, 0x61], count: 1) }
        #expect(throws: ParquetDecodingError.self) { try PlainEncoding.integers([1, 2, 3], width: 4, count: 1) }
    }

    /// INT96 as Spark writes it: nanoseconds of the day, then the Julian day.
    @Test func int96TimestampsAreReadAsUTC() throws {
        func int96(day: Int32, nanos: Int64) -> [UInt8] {
            var out: [UInt8] = []
            ByteWriter.littleEndian(UInt64(bitPattern: nanos), width: 8, to: &out)
            ByteWriter.littleEndian(UInt64(UInt32(bitPattern: day)), width: 4, to: &out)
            return out
        }
        // 1970-01-01T00:00:00Z, and 2000-01-01T12:00:00.000001Z (Julian day 2451545, noon).
        let bytes = int96(day: 2_440_588, nanos: 0) + int96(day: 2_451_545, nanos: 43_200_000_001_999)
        #expect(try PlainEncoding.int96Timestamps(bytes, count: 2).values == [0, 946_728_000_000_001])
        // Before the epoch.
        #expect(try PlainEncoding.int96Timestamps(int96(day: 2_440_587, nanos: 1000), count: 1).values == [-86_399_999_999])
        #expect(throws: ParquetDecodingError.self) {
            try PlainEncoding.int96Timestamps(int96(day: 2_440_588, nanos: 86_400_000_000_000), count: 1)
        }
    }
}
