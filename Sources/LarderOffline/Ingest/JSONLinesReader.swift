/// A scalar value of a JSON Lines record.
enum JSONScalar {
    case null
    case bool(Bool)
    /// The number's text, as written (validated as JSON number syntax).
    case number(String)
    case string(String)
}

/// A streaming JSON Lines reader: one flat JSON object per line (keys to strings, numbers,
/// booleans or null). Blank lines are skipped; nested objects and arrays are rejected.
final class JSONLinesReader {
    private let file: InputFile
    private var pos = 0
    private var line = 0
    private var started = false

    private(set) var recordLine = 0
    /// The current record's members, in the order written.
    private(set) var members: [(key: String, value: JSONScalar)] = []

    init(file: InputFile) { self.file = file }

    var bytesRead: Int64 { file.bytesRead }

    /// Reads the next object. Returns false at the end of the file.
    func next() throws(IngestError) -> Bool {
        while true {
            // Find the end of the line, reading more as needed.
            var i = pos
            while true {
                if i == file.end {
                    let (shift, readAny) = try file.refill(keepingFrom: pos)
                    pos -= shift
                    i -= shift
                    if !started {
                        started = true
                        if file.end >= 3, file.buffer[0] == 0xEF, file.buffer[1] == 0xBB, file.buffer[2] == 0xBF {
                            pos = 3; i = 3
                        }
                    }
                    if !readAny && i == file.end { break }
                    continue
                }
                if file.buffer[i] == 0x0A { break }
                i += 1
            }
            let atEnd = i == file.end
            if atEnd && i == pos { return false }
            line += 1
            var lineEnd = i
            if lineEnd > pos && file.buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let bytes = UnsafeBufferPointer(start: file.buffer + pos, count: lineEnd - pos)
            pos = atEnd ? i : i + 1
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            recordLine = line
            var parser = FlatJSONParser(bytes: bytes)
            do {
                members = try parser.parseObject()
            } catch let reason {
                throw IngestError(file: file.path, line: line, reason: reason.message)
            }
            return true
        }
    }
}

struct JSONSyntaxError: Error { var message: String }

/// Parses one flat JSON object from bytes.
struct FlatJSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func fail(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: "invalid JSON at character \(i + 1): \(message)")
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D || bytes[i] == 0x0A { i += 1 }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws(JSONSyntaxError) {
        skipSpace()
        guard i < bytes.count, bytes[i] == c else { throw fail("expected \(what)") }
        i += 1
    }

    mutating func parseObject() throws(JSONSyntaxError) -> [(key: String, value: JSONScalar)] {
        var out: [(key: String, value: JSONScalar)] = []
        try expect(0x7B, "'{': each line must be one JSON object")
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D {
            i += 1
        } else {
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a quoted key") }
                let key = try parseString()
                try expect(0x3A, "':' after key \"\(key)\"")
                skipSpace()
                out.append((key, try parseScalar(key: key)))
                skipSpace()
                guard i < bytes.count else { throw fail("expected ',' or '}'") }
                if bytes[i] == 0x2C { i += 1; continue }
                if bytes[i] == 0x7D { i += 1; break }
                throw fail("expected ',' or '}'")
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected text after the object") }
        return out
    }

    private mutating func parseScalar(key: String) throws(JSONSyntaxError) -> JSONScalar {
        guard i < bytes.count else { throw fail("expected a value for \"\(key)\"") }
        switch bytes[i] {
        case 0x22: return .string(try parseString())
        case 0x7B, 0x5B: throw fail("the value of \"\(key)\" is an object or array; values must be strings, numbers, booleans or null")
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("expected \(word)") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("expected \(word)") }
        i += n
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = i
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            return i - s
        }
        if i < bytes.count, bytes[i] == 0x2D { i += 1 }
        let intStart = i
        guard digits() > 0 else { throw fail("expected a value") }
        if bytes[intStart] == 0x30 && i - intStart > 1 { throw fail("a number with a leading zero") }
        if i < bytes.count, bytes[i] == 0x2E {
            i += 1
            guard digits() > 0 else { throw fail("expected digits after '.'") }
        }
        if i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
            i += 1
            if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
            guard digits() > 0 else { throw fail("expected digits in the exponent") }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("a string is never closed") }
            let c = bytes[i]
            if c == 0x22 { i += 1; break }
            if c < 0x20 { throw fail("a control character inside a string") }
            if c != 0x5C {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { throw fail("a string is never closed") }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
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
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("an unpaired surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("an invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw fail("an invalid escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw JSONSyntaxError(message: "a string is not valid UTF-8")
        }
        return s
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
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
