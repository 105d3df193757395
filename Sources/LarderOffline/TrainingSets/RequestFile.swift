import LarderCore
import LarderParquet

/// One field of a request row as read: CSV bytes (with whether they were quoted), a JSON
/// scalar, or a Parquet column's value. Converted to a typed ``Value`` only for the columns
/// Larder uses; carried through as they are otherwise.
enum RequestField {
    case csv(UnsafeBufferPointer<UInt8>, quoted: Bool)
    case json(JSONValue)
    case value(Value)
}

/// The rows of a request file (CSV, JSON Lines or Parquet), with the columns in file order.
/// For JSON Lines, the keys of the first object are the columns; later objects may omit
/// keys (null) but not add new ones.
struct RequestFile {
    // One of the three is set. Stored apart (not in an enum) so `csv!.next()` mutates in place
    // instead of copying the reader's field arrays on every row.
    private var csv: CSVReader?
    private var jsonl: JSONLinesReader?
    private var parquet: ParquetRequestRows?
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
            let rows = try ParquetRequestRows(file, path: path)
            columns = rows.columns
            parquet = rows
            // Read by ranges, not from first byte to last: hashed whole, for the manifest.
            if hashing { try file.hashEveryByte() }
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
        if parquet != nil {
            guard try parquet!.next() else { return false }
            line = parquet!.row
            return true
        }
        return false
    }

    /// Field `i` of the current row.
    func field(_ i: Int) -> RequestField {
        if let csv { .csv(csv.field(i), quoted: csv.quoted[i]) } else if let parquet { .value(parquet.value(i)) } else { .json(jsonRow[i]) }
    }

    /// Where the current row is: its line, or its row in a Parquet file.
    var location: RequestLocation {
        parquet == nil ? RequestLocation(file: path, line: line) : RequestLocation(file: path, row: line)
    }

    /// The type of each column as the file has it, for a typed output: string in a CSV file,
    /// the column's own in a Parquet file, nil (settled by the values) in a JSON Lines file.
    var fileTypes: [ValueType?] {
        if let parquet { return parquet.types }
        return Array(repeating: csv == nil ? nil : .string, count: columns.count)
    }

    /// The types of a typed output's request columns: the instant's and the join keys' as the
    /// join reads them, on-demand request fields' as declared, the file's own for the rest
    /// (``fileTypes``).
    func outputTypes(timestampColumn: String, keys: [ColumnSpec], requestFields: [InputSpec]) -> [ValueType?] {
        var types = fileTypes
        for (c, name) in columns.enumerated() {
            if name == timestampColumn {
                types[c] = .timestamp
            } else if let key = keys.first(where: { $0.name == name }) {
                types[c] = key.type
            } else if let field = requestFields.first(where: { $0.key == name }) {
                types[c] = field.type
            }
        }
        return types
    }

    /// Field `i` as a value to carry through into a typed output: as `type` when given (see
    /// ``value(_:as:)``), else a JSON scalar as the value it reads as.
    func carriedValue(_ i: Int, as type: ValueType?) throws -> Value {
        if let type { return try value(i, as: type) }
        switch field(i) {
        case .json(let json): return json.untypedValue
        case .value(let value): return value
        case .csv: return try value(i, as: .string)
        }
    }

    /// Field `i` as a typed value; empty (unquoted) CSV fields and JSON nulls are null.
    func value(_ i: Int, as type: ValueType) throws -> Value {
        let column = columns[i]
        func bad(_ shown: String, _ reason: String) -> IngestError { location.error(column: column, value: shown, reason) }
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
        case .value(let value):
            switch (value, type) {
            case (.null, _): return .null
            case (.int64(let i), .double): return .double(Double(i))
            case (.string(let s), _):
                // A string column holding the type's text, as a CSV field would.
                let parsed = Array(s.utf8).withUnsafeBufferPointer { bytes in
                    Result { () throws(FieldParsing.Invalid) in try FieldParsing.value(bytes, as: type) }
                }
                do {
                    return try parsed.get()
                } catch {
                    throw bad(s, error.reason)
                }
            default:
                guard value.type == type else { throw bad(value.description, "expected \(type), got the Parquet column's \(value.type!)") }
                return value
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
    /// A training set's output format: `given`, else from the path's extension. A Parquet
    /// codec is only for Parquet output.
    static func ofOutput(_ path: String, given: InputFormat?, compression: PageCompression? = nil) throws -> InputFormat {
        guard let format = given ?? infer(fromPath: path) else {
            throw OfflineStoreError("cannot tell the output format from \(path); name it .csv, .jsonl or .parquet, or pass --format")
        }
        if let compression, format != .parquet {
            throw OfflineStoreError("--compression \(compression) is for Parquet output; \(path) is written as \(format)")
        }
        return format
    }

    /// A request file's format: `given`, else from the path's extension.
    static func ofRequests(_ path: String, given: InputFormat?) throws -> InputFormat {
        guard let format = given ?? infer(fromPath: path) else {
            throw IngestError(
                file: path,
                reason: "cannot tell the format of the request file; name it .csv, .jsonl or .parquet, or pass --entities-format")
        }
        return format
    }
}
