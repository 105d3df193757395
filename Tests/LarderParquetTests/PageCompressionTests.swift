import LarderTestSupport
import Testing

@testable import LarderParquet

/// The page codecs through Debian's libraries: round trips, bytes other writers produce, and
/// corrupt pages that must throw rather than yield garbage.
@Suite struct PageCompressionTests {
    static let text = Array("larder larder larder".utf8)

    @Test(arguments: PageCompression.allCases)
    func roundTrips(codec: PageCompression) throws {
        var generator = SeededGenerator(seed: 11)
        let random = (0..<10_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let repetitive = Array(repeating: Self.text, count: 500).flatMap { $0 }
        for data in [[], [0x00], Self.text, random, repetitive] {
            let compressed = codec.compress(data)
            #expect(try codec.decompress(compressed[...], uncompressedSize: data.count) == data, "\(codec), \(data.count) bytes")
        }
        if codec != .uncompressed { #expect(codec.compress(repetitive).count < repetitive.count / 10) }
    }

    @Test func bytesOtherWritersProduce() throws {
        // Python's gzip.compress(..., mtime=0) and zlib.compress (GZIP pages of some writers
        // carry a zlib header).
        let gzip: [UInt8] = [
            31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 73, 44, 74, 73, 45, 82, 200, 65, 166, 0, 196, 242, 179, 62, 20, 0, 0, 0,
        ]
        let zlib: [UInt8] = [120, 156, 203, 73, 44, 74, 73, 45, 82, 200, 65, 166, 0, 80, 141, 7, 175]
        #expect(try PageCompression.gzip.decompress(gzip[...], uncompressedSize: Self.text.count) == Self.text)
        #expect(try PageCompression.gzip.decompress(zlib[...], uncompressedSize: Self.text.count) == Self.text)
        // Two gzip members one after the other.
        #expect(try PageCompression.gzip.decompress((gzip + gzip)[...], uncompressedSize: 2 * Self.text.count) == Self.text + Self.text)
        // A raw Snappy block: the length (6), a literal of 6 bytes (tag (6 - 1) << 2).
        #expect(try PageCompression.snappy.decompress([0x06, 0x14] + Array("larder".utf8), uncompressedSize: 6) == Array("larder".utf8))
        // Zstandard frames start with their magic number, 0xFD2FB528 little-endian.
        #expect(PageCompression.zstd.compress(Self.text).prefix(4) == [0x28, 0xB5, 0x2F, 0xFD])
        // Two frames one after the other.
        let frames = PageCompression.zstd.compress(Self.text) + PageCompression.zstd.compress(Self.text)
        #expect(try PageCompression.zstd.decompress(frames[...], uncompressedSize: 2 * Self.text.count) == Self.text + Self.text)
    }

    @Test(arguments: PageCompression.allCases)
    func corruptOrMisdescribedPagesThrow(codec: PageCompression) throws {
        let compressed = codec.compress(Self.text)
        // The header says another size.
        #expect(throws: ParquetDecodingError.self) { try codec.decompress(compressed[...], uncompressedSize: Self.text.count + 1) }
        guard codec != .uncompressed else { return }
        // Cut short.
        #expect(throws: ParquetDecodingError.self) {
            try codec.decompress(compressed.dropLast(3), uncompressedSize: Self.text.count)
        }
        // Garbage.
        #expect(throws: ParquetDecodingError.self) {
            try codec.decompress([0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF9, 0xF8], uncompressedSize: Self.text.count)
        }
    }
}
