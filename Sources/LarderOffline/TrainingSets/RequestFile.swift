import LarderCore

/// One field of a request row as read: CSV bytes (with whether they were quoted) or a JSON
/// scalar. Converted to a typed ``Value`` only for the columns Larder uses; carried through
/// as they are otherwise.
enum RequestField {
    case csv(UnsafeBufferPointer<UInt8>, quoted: Bool)
    case json(JSONValue)
}

/// The rows of a request file (CSV or JSON Lines), with the columns in file order.
/// For JSON Lines, the keys of the first object are the columns; later objects may omit
/// keys (null) but not add new ones.
struct RequestFile {
    // One of the two is set. Stored apart (not in an enum) so `csv!.next()` mutates in place
    // instead of copying the reader's field arrays on every row.
    private var csv: CSVReader?
    private var jsonl: JSONLinesReader?
    let path: String
    let file: InputFile
    private(set) var columns: [String] = []
    private var jsonRow: [JSONValue] = []
    private var jsonIndex: [String: Int] = [:]
    private var pendingFirstJSON = false
    private(set) var line = 0

    init(path: String, format: InputFormat, hashing: Bool) throws {
        self.path = path
        file = try InputFile(path: path)
        if hashing { file.digest = .init() }
        switch format {
        case .csv:
            var csv = CSVReader(file: file)
            guard try csv.next() else { throw IngestError(file: path, reason: "the request file is empty; it needs a header row") }
            var names: [String] = []
            for i in 0..<csv.fieldCount {
                guard FieldParsing.isValidUTF8(csv.field(i)) else {
                    throw IngestError(file: path, line: csv.recordLine, reason: "the header is not valid UTF-8")
                }
                names.append(csv.fieldString(i))
            }
            var seen = Set<String>()
            for name in names where !seen.insert(name).inserted {
                throw IngestError(file: path, line: csv.recordLine, reason: "column '\(name)' appears twice in the header")
            }
            columns = names
            self.csv = csv
        case .parquet:
            throw IngestError(file: path, reason: "request files are read as CSV or JSON Lines, not Parquet (yet)")
        case .jsonl:
            let jsonl = JSONLinesReader(file: file)
            self.jsonl = jsonl
            if try jsonl.next() {
                columns = jsonl.members.map(\.key)  // unique: the JSON parser rejects duplicate keys
                jsonIndex = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($0.element, $0.offset) })
                pendingFirstJSON = true
            }
        }
    }

    var bytesRead: Int64 { file.bytesRead }

    /// Advances to the next row; false at the end.
    mutating func next() throws -> Bool {
        if csv != nil {
            guard try csv!.next() else { return false }
            line = csv!.recordLine
            guard csv!.fieldCount == columns.count else {
                throw IngestError(
                    file: path, line: line, reason: "expected \(columns.count) fields as in the header, found \(csv!.fieldCount)")
            }
            return true
        }
        if let jsonl {
            if pendingFirstJSON {
                pendingFirstJSON = false
            } else if try !jsonl.next() {
                return false
            }
            line = jsonl.recordLine
            jsonRow = Array(repeating: .null, count: columns.count)
            for member in jsonl.members {
                let (key, value) = (member.key, member.value)
                guard let i = jsonIndex[key] else {
                    throw IngestError(
                        file: path, line: line, reason: "key '\(key)' is not in the first line; every line must use the first line's keys")
                }
                jsonRow[i] = value
            }
            return true
        }
        return false
    }

    /// Field `i` of the current row.
    func field(_ i: Int) -> RequestField {
        if let csv { .csv(csv.field(i), quoted: csv.quoted[i]) } else { .json(jsonRow[i]) }
    }

    /// Field `i` as a typed value; empty (unquoted) CSV fields and JSON nulls are null.
    func value(_ i: Int, as type: ValueType) throws -> Value {
        let column = columns[i]
        func bad(_ shown: String, _ reason: String) -> IngestError {
            IngestError(file: path, line: line, column: column, value: shown, reason: reason)
        }
        switch field(i) {
        case .csv(let bytes, let quoted):
            if bytes.isEmpty && !quoted { return .null }
            do {
                return try FieldParsing.value(bytes, as: type)
            } catch {
                throw bad(FieldParsing.display(bytes), error.reason)
            }
        case .json(let json):
            do {
                return try json.value(as: type)
            } catch {
                switch error {
                case .mismatch: throw bad(json.text, "expected \(type.expectedJSON) (\(type)), got \(json.typeName)")
                case .timestamp(let reason): throw bad(json.text, reason.reason)
                }
            }
        }
    }
}

extension RequestFile {
    /// The hex SHA-256 of the file's bytes read so far (all of them once read to the end);
    /// only for a file opened with `hashing: true`.
    func sha256() -> String { file.digest!.finalize().map { String(format: "%02x", $0) }.joined() }
}

extension InputFormat {
    /// A training set's output format: `given`, else from the path's extension.
    static func ofOutput(_ path: String, given: InputFormat?) throws -> InputFormat {
        guard let format = given ?? infer(fromPath: path) else {
            throw OfflineStoreError("cannot tell the output format from \(path); name it .csv or .jsonl, or pass --format")
        }
        guard format != .parquet else { throw OfflineStoreError("training sets are written as CSV or JSON Lines, not Parquet (yet)") }
        return format
    }

    /// A request file's format: `given`, else from the path's extension.
    static func ofRequests(_ path: String, given: InputFormat?) throws -> InputFormat {
        guard let format = given ?? infer(fromPath: path) else {
            throw IngestError(
                file: path, reason: "cannot tell the format of the request file; name it .csv or .jsonl, or pass --entities-format")
        }
        guard format != .parquet else {
            throw IngestError(file: path, reason: "request files are read as CSV or JSON Lines, not Parquet (yet)")
        }
        return format
    }
}
