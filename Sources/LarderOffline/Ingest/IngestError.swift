import LarderCore

/// Why an input file was rejected: the file, and where known the line, column and value.
/// Nothing is written when an ingest fails.
public struct IngestError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// The row, in a file without lines (Parquet), counting from 1.
    public var row: Int?
    public var column: String?
    public var value: String?
    public var reason: String

    public init(file: String, line: Int? = nil, row: Int? = nil, column: String? = nil, value: String? = nil, reason: String) {
        self.file = file
        self.line = line
        self.row = row
        self.column = column
        self.value = value
        self.reason = reason
    }

    /// `trips.csv:42: column 'fare', value "abc": not a double`. Control characters from the
    /// input (in a value, a column name, a path) are escaped (`\n`, `\u{1B}`): a message never
    /// acts on the terminal or splits a log line.
    public var description: String {
        var out = file
        if let line { out += ":\(line)" }
        out += ": "
        if let row { out += "row \(row): " }
        if let column { out += "column '\(column)'" + (value == nil ? ": " : ", ") }
        if let value { out += "value \"\(value)\": " }
        return MessageText.escaped(out + reason)
    }
}

/// The formats `larder ingest` reads (training sets read and write CSV and JSON Lines).
public enum InputFormat: String, Sendable, CaseIterable {
    case csv
    case jsonl
    case parquet

    /// The format a file name implies: `.csv`, `.jsonl`/`.ndjson`, or `.parquet`.
    public static func infer(fromPath path: String) -> InputFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonl }
        if lower.hasSuffix(".parquet") { return .parquet }
        return nil
    }
}
