/// A streaming RFC 4180 CSV reader: a header row, fields separated by commas, records by
/// CRLF or LF; quoted fields may hold commas, newlines and doubled quotes. A UTF-8 byte order
/// mark is skipped. Blank lines are skipped.
///
/// It parses in place in the ``InputFile`` buffer: a field is a byte range, and quoted
/// fields are unescaped where they lie. Field ranges stay valid until the next call.
struct CSVReader {
    // A struct, not a class: its state is checked for exclusive access at compile time
    // rather than on every access in the hot loop.
    private let file: InputFile
    /// `file.buffer`, cached: it changes only on refill.
    private var buffer: UnsafeMutablePointer<UInt8>
    /// `file.end`, cached likewise.
    private var limit = 0
    private var pos = 0
    private var line = 1
    private var pendingCR = false
    private var started = false

    /// Line (1-based) where the current record starts.
    private(set) var recordLine = 0
    private(set) var starts: [Int] = []
    private(set) var ends: [Int] = []
    private(set) var quoted: [Bool] = []

    init(file: InputFile) {
        self.file = file
        self.buffer = file.buffer
        starts.reserveCapacity(64)
        ends.reserveCapacity(64)
        quoted.reserveCapacity(64)
    }

    var fieldCount: Int { starts.count }
    var bytesRead: Int64 { file.bytesRead }

    /// Field `i` of the current record (unescaped bytes, without quotes).
    @inline(__always)
    func field(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: buffer + starts[i], count: ends[i] - starts[i])
    }

    func fieldString(_ i: Int) -> String {
        String(decoding: field(i), as: UTF8.self)
    }

    private enum State { case start, unquoted, quoted, quoteSeen }

    private func error(_ line: Int, _ reason: String) -> IngestError {
        IngestError(file: file.path, line: line, reason: reason)
    }

    /// Reads the next record. Returns false at the end of the file.
    mutating func next() throws(IngestError) -> Bool {
        starts.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)

        var i = pos
        var recordStart = pos
        var fieldStart = pos
        var write = pos
        var quoteLine = line
        var state = State.start
        recordLine = line

        @inline(__always) func shiftAll(_ d: Int) {
            i -= d; recordStart -= d; fieldStart -= d; write -= d
            for k in 0..<starts.count { starts[k] -= d; ends[k] -= d }
        }

        while true {
            if i == limit {
                let (shift, readAny) = try file.refill(keepingFrom: recordStart)
                buffer = file.buffer
                limit = file.end
                shiftAll(shift)
                if !started {
                    started = true
                    // Skip a UTF-8 byte order mark.
                    if file.end >= 3, file.buffer[0] == 0xEF, file.buffer[1] == 0xBB, file.buffer[2] == 0xBF {
                        i = 3; recordStart = 3; fieldStart = 3; write = 3
                    }
                }
                if !readAny && i == limit {
                    pos = i
                    switch state {
                    case .start:
                        if starts.isEmpty { return false }
                        starts.append(i); ends.append(i); quoted.append(false)
                    case .unquoted:
                        starts.append(fieldStart); ends.append(i); quoted.append(false)
                    case .quoted:
                        throw error(quoteLine, "a quoted field starting on this line is never closed")
                    case .quoteSeen:
                        starts.append(fieldStart); ends.append(write); quoted.append(true)
                    }
                    return true
                }
                continue
            }
            let p = buffer
            let c = p[i]
            if pendingCR {
                pendingCR = false
                if c == 0x0A { i += 1; recordStart = i; continue }
            }
            switch state {
            case .start:
                if c == 0x22 {
                    state = .quoted
                    i += 1
                    fieldStart = i
                    write = i
                    quoteLine = line
                    continue
                }
                if (c == 0x0A || c == 0x0D) && starts.isEmpty {
                    // A blank line.
                    line += 1
                    i += 1
                    pendingCR = c == 0x0D
                    recordStart = i
                    recordLine = line
                    continue
                }
                fieldStart = i
                state = .unquoted
                fallthrough
            case .unquoted:
                // The hot loop: scan an unquoted field.
                var j = i
                let end = limit
                while j < end {
                    let b = p[j]
                    if b == 0x2C || b == 0x0A || b == 0x0D || b == 0x22 { break }
                    j += 1
                }
                i = j
                if j == end { continue }
                let b = p[j]
                if b == 0x22 {
                    throw error(line, "a quote inside an unquoted field; quote the whole field and double the quotes inside it")
                }
                starts.append(fieldStart); ends.append(j); quoted.append(false)
                i = j + 1
                state = .start
                if b == 0x2C { continue }
                line += 1
                pendingCR = b == 0x0D
                pos = i
                return true
            case .quoted:
                if c == 0x22 {
                    state = .quoteSeen
                } else {
                    if c == 0x0A { line += 1 }
                    p[write] = c
                    write += 1
                }
                i += 1
            case .quoteSeen:
                if c == 0x22 {
                    p[write] = 0x22
                    write += 1
                    i += 1
                    state = .quoted
                    continue
                }
                guard c == 0x2C || c == 0x0A || c == 0x0D else {
                    throw error(line, "unexpected text after a closing quote; double a quote inside a quoted field (\"\")")
                }
                starts.append(fieldStart); ends.append(write); quoted.append(true)
                i += 1
                state = .start
                if c == 0x2C { continue }
                line += 1
                pendingCR = c == 0x0D
                pos = i
                return true
            }
        }
    }
}
