/// A strict JSON parser (RFC 8259) producing ``JSONValue``, for JSON Lines input and the
/// service's request bodies. Foundation's decoder would cost more than the Redis round trip
/// on the service's hot path, and would not keep object members in order.
public struct JSONParser {
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        /// 0-based byte offset.
        public var offset: Int
        public var reason: String
        public var description: String { "malformed JSON at character \(offset + 1): \(reason)" }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0

    /// Parses one JSON value (with nothing after it but white space).
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        let result = bytes.withUnsafeBufferPointer { buffer in Result { () throws(SyntaxError) in try parse(buffer) } }
        return try result.get()
    }

    /// Parses one JSON value from bytes, without copying them.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.i == bytes.count else { throw parser.fail("unexpected text after the value") }
        return value
    }

    /// Parses one JSON value like ``parse(_:)-(UnsafeBufferPointer<UInt8>)``; when it is an
    /// object, `memberRanges` receives the byte range of each member's value as written, in
    /// order, so that a message can quote the text of the input rather than a re-rendering.
    public static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>, memberRanges: inout [Range<Int>]
    ) throws(SyntaxError) -> JSONValue {
        memberRanges.removeAll(keepingCapacity: true)
        var parser = JSONParser(bytes: bytes)
        parser.recordsMembers = true
        swap(&parser.memberRanges, &memberRanges)
        defer { swap(&parser.memberRanges, &memberRanges) }
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.i == bytes.count else { throw parser.fail("unexpected text after the value") }
        return value
    }

    /// Set by ``parse(_:memberRanges:)``: the value ranges of the top-level object's members.
    private var recordsMembers = false
    private var memberRanges: [Range<Int>] = []

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func fail(_ reason: String) -> SyntaxError { SyntaxError(offset: i, reason: reason) }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value() throws(SyntaxError) -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case 0x7B: return try object()
        case 0x5B: return try array()
        case 0x22: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func nest() throws(SyntaxError) {
        depth += 1
        guard depth <= 64 else { throw fail("nested too deeply") }
    }

    private mutating func object() throws(SyntaxError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        i += 1
        var members: [JSONMember] = []
        var seen = Set<String>()
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a quoted key") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':' after a key") }
            i += 1
            skipSpace()
            guard seen.insert(key).inserted else { throw fail("duplicate key \"\(MessageText.escaped(key))\"") }
            let valueStart = i
            members.append(JSONMember(key: key, value: try value()))
            if recordsMembers && depth == 1 { memberRanges.append(valueStart..<i) }
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of input in an object") }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x7D { i += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func array() throws(SyntaxError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == 0x5D { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array") }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x5D { i += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func literal(_ word: String) throws(SyntaxError) {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, bytes[i..<(i + w.count)].elementsEqual(w) else { throw fail("expected \(word)") }
        i += w.count
    }

    private mutating func number() throws(SyntaxError) -> JSONValue {
        let start = i
        var integral = true
        if i < bytes.count, bytes[i] == 0x2D { i += 1 }
        let digitsStart = i
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
        guard i > digitsStart else { throw fail("expected a value") }
        guard !(bytes[digitsStart] == 0x30 && i - digitsStart > 1) else { throw fail("a number with a leading zero") }
        if i < bytes.count, bytes[i] == 0x2E {
            integral = false
            i += 1
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            guard i > s else { throw fail("expected digits after '.'") }
        }
        if i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            guard i > s else { throw fail("expected digits in the exponent") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else { throw fail("number out of range: \(text)") }
        return .double(d)
    }

    private mutating func string() throws(SyntaxError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != 0x22, bytes[i] != 0x5C, bytes[i] >= 0x20 { i += 1 }
        if i < bytes.count, bytes[i] == 0x22 {
            defer { i += 1 }
            guard let s = String(validating: bytes[start..<i], as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
            return s
        }
        var out = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("a string is never closed") }
            let c = bytes[i]
            if c == 0x22 { i += 1; break }
            guard c >= 0x20 else { throw fail("a control character inside a string") }
            guard c == 0x5C else { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw fail("a string is never closed") }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == 0x5C, bytes[i + 1] == 0x75 else { throw fail("an unpaired surrogate") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("an unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("an invalid \\u escape") }
                out += Array(String(Character(u)).utf8)
            default: throw fail("an invalid escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
        return s
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("an invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("an invalid \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }
}
