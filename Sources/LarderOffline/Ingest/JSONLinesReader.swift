import LarderCore

/// A streaming JSON Lines reader: one flat JSON object per line (keys to strings, numbers,
/// booleans or null), parsed by ``JSONParser``. Blank lines are skipped; nested objects and
/// arrays are rejected.
final class JSONLinesReader {
    private let file: InputFile
    private var pos = 0
    private var line = 0
    private var started = false

    private(set) var recordLine = 0
    /// The current record's members, in the order written (scalars only).
    private(set) var members: [JSONMember] = []
    /// Where the current line starts in the file's buffer, and its members' values within it.
    private var lineStart = 0
    private var memberRanges: [Range<Int>] = []

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
            lineStart = pos
            pos = atEnd ? i : i + 1
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            recordLine = line
            let value: JSONValue
            do {
                value = try JSONParser.parse(bytes, memberRanges: &memberRanges)
            } catch {
                throw IngestError(file: file.path, line: line, reason: error.description)
            }
            guard case .object(let object) = value else {
                throw IngestError(file: file.path, line: line, reason: "each line must be one JSON object, got \(value.typeName)")
            }
            for member in object where member.value.scalar == nil {
                throw IngestError(
                    file: file.path, line: line, column: member.key,
                    reason: "\(member.value.typeName): values must be strings, numbers, booleans or null")
            }
            members = object
            return true
        }
    }

    /// Member `i`'s value as written on the current line: a number's own text, a string's
    /// contents (escapes decoded). Valid until the next call of ``next()``.
    func text(ofMember i: Int) -> String {
        if case .string(let s) = members[i].value { return s }
        let range = memberRanges[i]
        return String(decoding: UnsafeBufferPointer(start: file.buffer + lineStart + range.lowerBound, count: range.count), as: UTF8.self)
    }
}
