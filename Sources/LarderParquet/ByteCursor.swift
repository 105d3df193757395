/// Reads a byte buffer front to back, with bounds checks that throw instead of trapping:
/// every Parquet decoder reads files written by someone else.
struct ByteCursor {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    func failure(_ reason: String) -> ParquetDecodingError { ParquetDecodingError(offset: offset, reason) }

    mutating func byte() throws(ParquetDecodingError) -> UInt8 {
        guard offset < end else { throw failure("expected a byte, found the end of the data") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// `count` bytes, as a range of ``bytes``.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws(ParquetDecodingError) -> Range<Int> {
        guard count >= 0, count <= remaining else {
            throw failure("\(what()) needs \(count) bytes, \(remaining) remain")
        }
        defer { offset += count }
        return offset..<offset + count
    }

    /// An unsigned LEB128 varint of at most 64 bits.
    mutating func uleb128() throws(ParquetDecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let start = offset
            let b = try byte()
            guard shift < 64, shift < 63 || b <= 1 else {
                throw ParquetDecodingError(offset: start, "a varint longer than 64 bits")
            }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// A zigzag-encoded signed LEB128 varint.
    mutating func zigzag() throws(ParquetDecodingError) -> Int64 {
        let raw = try uleb128()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A little-endian integer of `width` bytes (1 to 8).
    mutating func littleEndian(width: Int) throws(ParquetDecodingError) -> UInt64 {
        let range = try take(width, "a \(width)-byte integer")
        var value: UInt64 = 0
        for (i, index) in range.enumerated() { value |= UInt64(bytes[index]) << (8 * UInt64(i)) }
        return value
    }
}

/// Writes the same forms ``ByteCursor`` reads.
enum ByteWriter {
    static func uleb128(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func zigzag(_ value: Int64, to out: inout [UInt8]) {
        uleb128(UInt64(bitPattern: (value << 1) ^ (value >> 63)), to: &out)
    }

    @inline(__always)
    static func littleEndian(_ value: UInt64, width: Int, to out: inout [UInt8]) {
        // One append of the bytes, not one per byte: this runs for every value written.
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0.prefix(width))) }
    }
}
