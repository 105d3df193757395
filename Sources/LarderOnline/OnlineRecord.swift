import LarderCore

/// The binary encoding of a ``FeatureRow`` in Redis, and its ordering prefix.
///
/// Value = ordering (48 ASCII hex digits: event time, created time, sequence, each as 16 hex
/// digits of the Int64 with its sign bit flipped, so byte order is numeric order) + record:
///
/// ```
/// u8     format (1)
/// i64le  event time µs | u8 has-created, i64le created µs | i64le sequence
/// bytes  null bitmap, ceil(n / 8) bytes, bit i set = feature i is null
/// values each non-null feature: int64/timestamp/double 8 bytes LE (double: IEEE bits),
///        bool 1 byte, string: uvarint byte length + UTF-8
/// ```
/// The join keys are in the Redis key, not repeated in the value.
public enum OnlineRecord {
    static let format: UInt8 = 1
    public static let orderingLength = 48

    /// A stored value that is not a valid record (corrupt, truncated, or another format).
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The ordering prefix: comparing two as byte strings compares (event, created, sequence).
    public static func ordering(of row: FeatureRow) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(orderingLength)
        for v in [row.eventTime.microseconds, row.createdTime?.microseconds ?? .min, row.sequence] {
            let biased = UInt64(bitPattern: v) ^ (1 << 63)
            for shift in stride(from: 60, through: 0, by: -4) {
                let nibble = UInt8((biased >> UInt64(shift)) & 0xF)
                out.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
            }
        }
        return out
    }

    /// The record of `row` (without the ordering prefix), for a view with feature `types`.
    public static func encode(_ row: FeatureRow, types: [ValueType]) -> [UInt8] {
        var out: [UInt8] = [format]
        out.reserveCapacity(32 + types.count * 9)
        func append(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        append(row.eventTime.microseconds)
        out.append(row.createdTime == nil ? 0 : 1)
        append(row.createdTime?.microseconds ?? 0)
        append(row.sequence)
        var bitmap = [UInt8](repeating: 0, count: (types.count + 7) / 8)
        for (i, v) in row.values.enumerated() where v.isNull { bitmap[i / 8] |= 1 << UInt8(i % 8) }
        out += bitmap
        for v in row.values {
            switch v {
            case .null: break
            case .int64(let x): append(x)
            case .timestamp(let t): append(t.microseconds)
            case .double(let d): append(Int64(bitPattern: d.bitPattern))
            case .bool(let b): out.append(b ? 1 : 0)
            case .string(let s):
                var n = UInt64(s.utf8.count)
                while n >= 0x80 {
                    out.append(UInt8(n & 0x7F) | 0x80)
                    n >>= 7
                }
                out.append(UInt8(n))
                out += s.utf8
            case .list:
                // No row feature has a list type today; lists would use the tile encoding.
                Binary.appendValue(v, to: &out)
            }
        }
        return out
    }

    /// Decodes a stored value (ordering prefix included) for an entity's `keys`.
    public static func decode(_ stored: [UInt8], keys: [Value], types: [ValueType]) throws(DecodingError) -> FeatureRow {
        var i = orderingLength
        func fail(_ what: String) -> DecodingError { DecodingError(description: "corrupt online record: \(what)") }
        func int64() throws(DecodingError) -> Int64 {
            guard i + 8 <= stored.count else { throw fail("truncated") }
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(stored[i + k]) << UInt64(8 * k) }
            i += 8
            return Int64(bitPattern: v)
        }
        guard stored.count > orderingLength, stored[i] == format else { throw fail("unknown format") }
        i += 1
        let event = try int64()
        guard i < stored.count else { throw fail("truncated") }
        let hasCreated = stored[i] == 1
        i += 1
        let created = try int64()
        let sequence = try int64()
        let bitmapLength = (types.count + 7) / 8
        guard i + bitmapLength <= stored.count else { throw fail("truncated") }
        let bitmap = Array(stored[i..<(i + bitmapLength)])
        i += bitmapLength
        var values: [Value] = []
        values.reserveCapacity(types.count)
        for (k, type) in types.enumerated() {
            if bitmap[k / 8] & (1 << UInt8(k % 8)) != 0 {
                values.append(.null)
                continue
            }
            switch type {
            case .int64: values.append(.int64(try int64()))
            case .timestamp: values.append(.timestamp(Timestamp(microseconds: try int64())))
            case .double: values.append(.double(Double(bitPattern: UInt64(bitPattern: try int64()))))
            case .bool:
                guard i < stored.count else { throw fail("truncated") }
                values.append(.bool(stored[i] != 0))
                i += 1
            case .string:
                var n: UInt64 = 0
                var shift: UInt64 = 0
                while true {
                    guard i < stored.count, shift < 64 else { throw fail("truncated") }
                    let b = stored[i]
                    i += 1
                    n |= UInt64(b & 0x7F) << shift
                    if b < 0x80 { break }
                    shift += 7
                }
                guard n <= UInt64(stored.count - i) else { throw fail("truncated") }
                values.append(.string(String(decoding: stored[i..<(i + Int(n))], as: UTF8.self)))
                i += Int(n)
            case .int64List, .doubleList, .stringList, .boolList, .timestampList:
                var reader = BinaryReader(stored[i...])
                do { values.append(try reader.value(type)) } catch { throw fail("bad list") }
                i = reader.position
            }
        }
        guard i == stored.count else { throw fail("trailing bytes") }
        return FeatureRow(
            keys: keys, eventTime: Timestamp(microseconds: event), createdTime: hasCreated ? Timestamp(microseconds: created) : nil,
            sequence: sequence, values: values)
    }
}
