import LarderCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Parsers for field text as the ingest path reads it: from raw bytes, strictly, without
/// allocating.
enum FieldParsing {
    /// Why field text is not a value of a type.
    struct Invalid: Error { var reason: String }

    /// The value of non-empty CSV field text for a declared type: the one rule ingest and
    /// request files share.
    @inline(__always)
    static func value(_ b: UnsafeBufferPointer<UInt8>, as type: ValueType) throws(Invalid) -> Value {
        switch type {
        case .int64:
            guard let v = int64(b) else { throw Invalid(reason: "not an int64") }
            return .int64(v)
        case .double:
            guard let v = double(b) else { throw Invalid(reason: "not a finite double") }
            return .double(v.canonical)  // -0.0 is stored and served as +0.0
        case .bool:
            guard let v = bool(b) else { throw Invalid(reason: "not a bool (true, false, 1 or 0)") }
            return .bool(v)
        case .timestamp:
            do { return .timestamp(try Timestamp(rfc3339: b)) } catch { throw Invalid(reason: error.reason) }
        case .string:
            guard let s = String(validating: b, as: UTF8.self) else { throw Invalid(reason: "not valid UTF-8") }
            return .string(s)
        case .int64List, .doubleList, .stringList, .boolList, .timestampList:
            throw Invalid(reason: "lists are not read from files")  // validation keeps them out of sources
        }
    }

    /// An optional sign and decimal digits, within Int64.
    static func int64(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !b.isEmpty else { return nil }
        var i = 0
        var negative = false
        if b[0] == 0x2D || b[0] == 0x2B {
            negative = b[0] == 0x2D
            i = 1
        }
        guard i < b.count else { return nil }
        var v: Int64 = 0
        while i < b.count {
            let d = Int64(b[i]) &- 48
            guard d >= 0 && d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            guard !o1 && !o2 else { return nil }
            v = s
            i += 1
        }
        return v
    }

    private static let exactPowersOf10: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { x, _ in x * 10 } }

    /// A finite decimal number (`1`, `-0.25`, `1e-3`). Plain decimals with at most 15
    /// significant digits take an exact fast path (mantissa and power of ten are exact
    /// doubles, so one division rounds correctly); the rest go through `strtod`.
    static func double(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
        let n = b.count
        guard n > 0, n < 64 else { return nil }
        var i = 0
        var negative = false
        if b[0] == 0x2D || b[0] == 0x2B {
            negative = b[0] == 0x2D
            i = 1
        }
        var mantissa: Int64 = 0
        var digits = 0
        var fraction = 0
        var sawDot = false
        var simple = true
        while i < n {
            let c = b[i]
            if c >= 0x30 && c <= 0x39 {
                if digits < 15 {
                    mantissa = mantissa * 10 + Int64(c - 0x30)
                    if mantissa > 0 { digits += 1 }
                    if sawDot { fraction += 1 }
                } else {
                    simple = false
                    break
                }
            } else if c == 0x2E && !sawDot {
                sawDot = true
            } else {
                simple = false
                break
            }
            i += 1
        }
        if simple && fraction <= 22 {
            // At least one digit, and not a lone "." or sign.
            let hasDigit = b.contains { $0 >= 0x30 && $0 <= 0x39 }
            guard hasDigit else { return nil }
            let v = Double(mantissa) / exactPowersOf10[fraction]
            return negative ? -v : v
        }
        // strtod accepts more than we want: leading space, hex, inf and nan.
        let first = b[negative || b[0] == 0x2B ? 1 : 0]
        guard (first >= 0x30 && first <= 0x39) || first == 0x2E else { return nil }
        for c in b {
            let ok = (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2D || c == 0x2B || c == 0x65 || c == 0x45
            if !ok { return nil }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf in
            for k in 0..<n { buf[k] = CChar(bitPattern: b[k]) }
            buf[n] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(buf.baseAddress!, &end)
            guard let end, end - buf.baseAddress! == n, v.isFinite else { return nil }
            return v
        }
    }

    /// `true`/`false` in any case, or `1`/`0`.
    static func bool(_ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        if b.count == 1 {
            if b[0] == 0x31 { return true }
            if b[0] == 0x30 { return false }
            return nil
        }
        let lower = b.map { $0 | 0x20 }
        if lower == Array("true".utf8) { return true }
        if lower == Array("false".utf8) { return false }
        return nil
    }

    /// Whether the bytes are valid UTF-8 (fast path for ASCII).
    static func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        if b.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: b, as: UTF8.self) != nil
    }

    /// A field for an error message: at most 80 characters, bytes of invalid UTF-8 as `\xNN`.
    static func display(_ b: UnsafeBufferPointer<UInt8>) -> String {
        var out: String
        if let text = String(validating: b, as: UTF8.self) {
            out = text
        } else {
            out = b.map { $0 < 0x80 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16, uppercase: true) }.joined()
        }
        return out.count > 80 ? String(out.prefix(80)) + "..." : out
    }
}
