/// The byte encoding of aggregation tiles: zigzag varints, and values of a known type
/// behind a one-byte null flag. Tiles are stored in SQLite and Redis in this form.
public enum Binary {
    /// A signed integer as a zigzag varint (small magnitudes take one byte).
    @inline(__always)
    public static func appendVarint(_ v: Int64, to out: inout [UInt8]) {
        var n = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while n >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: n) | 0x80)
            n >>= 7
        }
        out.append(UInt8(n))
    }

    /// A value whose type the reader knows: 0 for null, or 1 then the value (int64 and
    /// timestamps as varints, doubles as 8 bytes of IEEE bits, bools as a byte, strings as a
    /// length and UTF-8).
    public static func appendValue(_ value: Value, to out: inout [UInt8]) {
        if value.isNull {
            out.append(0)
            return
        }
        out.append(1)
        switch value {
        case .null: break
        case .int64(let v): appendVarint(v, to: &out)
        case .timestamp(let t): appendVarint(t.microseconds, to: &out)
        case .double(let d): withUnsafeBytes(of: d.bitPattern.littleEndian) { out += $0 }
        case .bool(let b): out.append(b ? 1 : 0)
        case .string(let s):
            appendVarint(Int64(s.utf8.count), to: &out)
            out += s.utf8
        case .list(let items):
            appendVarint(Int64(items.count), to: &out)
            for item in items { appendValue(item, to: &out) }
        }
    }
}

/// Reads what ``Binary`` wrote, failing (never trapping) on truncated or malformed bytes.
public struct BinaryReader {
    public let bytes: ArraySlice<UInt8>
    public private(set) var position: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    public var isAtEnd: Bool { position == bytes.endIndex }

    public mutating func byte() throws(TileDecodingError) -> UInt8 {
        guard position < bytes.endIndex else { throw TileDecodingError("truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func varint() throws(TileDecodingError) -> Int64 {
        var n: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw TileDecodingError("varint too long") }
            n |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        return Int64(bitPattern: n >> 1) ^ -Int64(bitPattern: n & 1)
    }

    /// A non-negative count that fits in the remaining bytes (each counted item takes at
    /// least one byte), so a corrupt length cannot make a reader allocate without bound.
    public mutating func length() throws(TileDecodingError) -> Int {
        let n = try varint()
        guard n >= 0, n <= bytes.endIndex - position else { throw TileDecodingError("bad length \(n)") }
        return Int(n)
    }

    public mutating func bytes(_ n: Int) throws(TileDecodingError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.endIndex - position else { throw TileDecodingError("truncated") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    public mutating func value(_ type: ValueType) throws(TileDecodingError) -> Value {
        switch try byte() {
        case 0: return .null
        case 1: break
        default: throw TileDecodingError("bad null flag")
        }
        switch type {
        case .int64: return .int64(try varint())
        case .timestamp: return .timestamp(Timestamp(microseconds: try varint()))
        case .double:
            let raw = try bytes(8)
            var bits: UInt64 = 0
            for (k, b) in raw.enumerated() { bits |= UInt64(b) << UInt64(8 * k) }
            return .double(Double(bitPattern: bits))
        case .bool: return .bool(try byte() != 0)
        case .string: return .string(String(decoding: try bytes(try length()), as: UTF8.self))
        case .int64List, .doubleList, .stringList, .boolList, .timestampList:
            let n = try length()
            var items: [Value] = []
            for _ in 0..<n { items.append(try value(type.element!)) }
            return .list(items)
        }
    }
}
