/// Appends JSON text to a byte buffer: the service's responses and JSON Lines output are
/// written this way, without building intermediate objects.
public enum JSONText {
    /// A JSON string literal, escaped.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        // Fast path: nothing to escape, copy the bytes at once.
        let plain = s.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain {
            out.append(0x22)
            return
        }
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20:
                out += [0x5C, 0x75, 0x30, 0x30]
                out.append(hex(b >> 4))
                out.append(hex(b & 0xF))
            default: out.append(b)
            }
        }
        out.append(0x22)
    }

    /// A value: null, a number (doubles in shortest round-trip form; non-finite as null),
    /// a boolean, a string, or a timestamp as an RFC 3339 UTC string.
    public static func appendValue(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case .null: out += "null".utf8
        case .int64(let v): appendInteger(v, to: &out)
        case .double(let v): if v.isFinite { out += v.description.utf8 } else { out += "null".utf8 }
        case .bool(let v): out += (v ? "true" : "false").utf8
        case .string(let s): appendString(s, to: &out)
        case .timestamp(let t):
            out.append(0x22)
            t.appendRFC3339(to: &out)
            out.append(0x22)
        case .list(let items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                appendValue(item, to: &out)
            }
            out.append(0x5D)
        }
    }

    /// Decimal digits of an integer, without building a String.
    public static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(0x2D) }
        var magnitude = v.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = 0x30 + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }

    private static func hex(_ n: UInt8) -> UInt8 { n < 10 ? 0x30 + n : 0x57 + n }
}
