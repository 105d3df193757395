import Foundation
import GRDB
import GRDBSQLite
import LarderCore

/// How far an ingest has got, for a progress bar.
public struct IngestProgress: Sendable {
    public var bytesRead: Int64
    public var totalBytes: Int64
    public var rows: Int
}

/// The result of a successful ingest.
public struct IngestSummary: Sendable {
    public var source: String
    public var file: String
    public var rows: Int
    public var seconds: Double
    /// The ingest sequence numbers given to the rows (`_seq`), nil for an empty file.
    public var sequences: ClosedRange<Int64>?

    public var rowsPerSecond: Double { seconds > 0 ? Double(rows) / seconds : 0 }

    package init(source: String, file: String, rows: Int, seconds: Double, sequences: ClosedRange<Int64>?) {
        self.source = source
        self.file = file
        self.rows = rows
        self.seconds = seconds
        self.sequences = sequences
    }
}

extension OfflineStore {
    /// Appends the rows of `file` to the table of the registered source `source`, in one
    /// transaction: every row, or (on the first bad value anywhere, an event time beyond the
    /// store's ``EventTimePolicy``, or a file that changes while it is read) none.
    ///
    /// - Parameters:
    ///   - format: the file format; inferred from the extension when nil.
    ///   - allowEmpty: accept a file with a header (CSV) but no rows, ingesting nothing.
    ///   - progress: called every few thousand rows.
    public func ingest(
        source: String,
        file path: String,
        format: InputFormat? = nil,
        allowEmpty: Bool = false,
        progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) async throws -> IngestSummary {
        try await writing { try self.ingest(source: source, file: path, format: format, allowEmpty: allowEmpty, progress: progress) }
    }

    /// The blocking body of the async ``ingest(source:file:format:allowEmpty:progress:)``, run on ``Blocking``'s pool.
    func ingest(
        source: String,
        file path: String,
        format: InputFormat? = nil,
        allowEmpty: Bool = false,
        progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) throws -> IngestSummary {
        let spec = try registry.source(named: source)
        let format = try InputFormat.resolve(format, path: path)
        let started = Date()
        let file = try InputFile(path: path)
        let table = SourceTable(spec: spec)
        let columns = table.storedColumns
        let placeholders = Array(repeating: "?", count: columns.count + 1).joined(separator: ", ")
        let insertSQL = "INSERT INTO \(table.name) (_ingest, \(columns.map(\.name).joined(separator: ", "))) VALUES (\(placeholders))"

        var summary = IngestSummary(source: source, file: path, rows: 0, seconds: 0, sequences: nil)
        try writeTransaction("ingest into \(source) from \(path)") { db in
            // The clock once the lock is held: an ingest that waited for another write is
            // checked against the time it runs, not the time it started waiting.
            let eventTimes = eventTimePolicy.limit(at: .now())
            let startedAt = Timestamp.now().microseconds
            try db.execute(
                sql: "INSERT INTO larder_ingests (source, file, rows, started_at, finished_at) VALUES (?, ?, 0, ?, ?)",
                arguments: [source, path, startedAt, startedAt])
            let ingestID = db.lastInsertedRowID
            let firstSeq = (try Int64.fetchOne(db, sql: "SELECT max(_seq) FROM \(table.name)") ?? 0) + 1
            // A large file: inserting into the indexes (event time; key, time, inputs for
            // aggregations) row by row costs more than the ingest itself whenever the file's
            // order is not theirs (an export grouped by entity is in neither's order), so drop
            // them and build them again from the finished table, by one sort each, in the same
            // transaction (an ingest that fails restores them with everything else).
            var rebuild: [String] = []
            if file.size >= (firstSeq - 1) * 16 {  // the file adds at least about a quarter of the rows
                for index in try Row.fetchAll(
                    db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                    arguments: [table.name])
                {
                    rebuild.append(index["sql"])
                    try db.execute(sql: "DROP INDEX \(index["name"] as String)")
                }
            }
            let statement = try db.makeStatement(sql: insertSQL)
            let sink = SQLiteInsertSink(owner: statement, path: path)
            sqlite3_bind_int64(sink.statement, 1, ingestID)
            let rows = try IngestFileReader(path: path, columns: columns, eventTimes: eventTimes, sink: sink)
                .read(file, format: format, allowEmpty: allowEmpty, progress: progress)
            for sql in rebuild { try db.execute(sql: sql) }
            try db.execute(
                sql: "UPDATE larder_ingests SET rows = ?, first_seq = ?, last_seq = ?, finished_at = ? WHERE id = ?",
                arguments: [
                    rows, rows > 0 ? firstSeq : nil, rows > 0 ? firstSeq + Int64(rows) - 1 : nil, Timestamp.now().microseconds, ingestID,
                ])
            summary.rows = rows
            if rows > 0 { summary.sequences = firstSeq...(firstSeq + Int64(rows) - 1) }
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}

extension InputFormat {
    /// `format`, or the one the file name says, or an error saying how to name it.
    package static func resolve(_ format: InputFormat?, path: String) throws(IngestError) -> InputFormat {
        guard let format = format ?? infer(fromPath: path) else {
            throw IngestError(
                file: path,
                reason: "cannot tell the format from the file name; name it .csv, .jsonl or .parquet, or pass --format csv|jsonl|parquet")
        }
        return format
    }
}

/// Where an ingest's checked rows go, one row at a time: each stored column (numbered as in
/// ``SourceTable/storedColumns``, the event time first) is set once per row, then the row
/// ends. The SQLite store binds them to a prepared INSERT; the PostgreSQL store writes them
/// to a COPY.
package protocol IngestRowSink: AnyObject {
    func setNull(_ column: Int)
    func set(_ value: Value, _ column: Int)
    /// The row is complete. `line` is where it ends in the file, for errors.
    func endRow(line: Int) throws
}

/// Binds a row to the prepared INSERT and steps it. Parameter 1 is `_ingest` (bound once);
/// parameter `k + 2` is stored column `k`.
private final class SQLiteInsertSink: IngestRowSink {
    /// Keeps the GRDB statement (and so the SQLite statement) alive while the sink is.
    let owner: Statement
    let statement: OpaquePointer
    let path: String

    init(owner: Statement, path: String) {
        self.owner = owner
        self.statement = owner.sqliteStatement
        self.path = path
    }

    func setNull(_ column: Int) { sqlite3_bind_null(statement, Int32(column + 2)) }
    func set(_ value: Value, _ column: Int) { SQLiteValues.bind(statement, Int32(column + 2), value) }
    func endRow(line: Int) throws {
        try SQLiteValues.execute(statement) { IngestError(file: path, line: line, reason: "SQLite refused the row: \($0)") }
    }
}

/// Reads a source file (CSV or JSON Lines) and checks every row against the source's columns
/// and the event-time rule, handing the rows to a sink: the same rules and the same errors
/// (file, line, column, value) whichever store the rows go to.
package struct IngestFileReader<Sink: IngestRowSink> {
    let path: String
    let columns: [ColumnSpec]
    /// The store's rule for event times in the future, at the start of the ingest.
    let eventTimes: EventTimeLimit
    /// Generic rather than an existential: SQLite's ingest is specialized, and a field costs
    /// no dynamic call.
    let sink: Sink
    /// The event time is stored column 0.
    static var eventTimeColumn: Int { 0 }

    package init(path: String, columns: [ColumnSpec], eventTimes: EventTimeLimit, sink: Sink) {
        self.path = path
        self.columns = columns
        self.eventTimes = eventTimes
        self.sink = sink
    }

    /// Reads every row of `file` into the sink; returns how many. Throws on the first bad
    /// value, on a file that changed while it was read, and on a file without rows unless
    /// `allowEmpty`.
    package func read(
        _ file: InputFile, format: InputFormat, allowEmpty: Bool, progress: (@Sendable (IngestProgress) -> Void)?
    ) throws -> Int {
        func changed(_ change: String) -> IngestError {
            IngestError(file: path, reason: "\(change); nothing was ingested: ingest it again once whatever writes it has finished")
        }
        let rows: Int
        do {
            switch format {
            case .csv: rows = try copyCSV(CSVReader(file: file), progress: progress, totalBytes: file.size)
            case .jsonl: rows = try copyJSONLines(JSONLinesReader(file: file), progress: progress, totalBytes: file.size)
            case .parquet: rows = try copyParquet(file, progress: progress)
            }
        } catch let error as IngestError {
            // A bad record in a file that changed under the reader is the change's doing.
            throw file.change().map(changed) ?? error
        }
        if let change = file.change() { throw changed(change) }
        if rows == 0 && !allowEmpty {
            throw IngestError(
                file: path, reason: "the file has no data rows; nothing was ingested (pass --allow-empty to accept an empty file)")
        }
        return rows
    }

    /// Maps file columns (header names or JSON keys) to stored columns: every required column
    /// must be present, no unknown column may be.
    func columnIndex(for names: [String], line: Int?) throws(IngestError) -> [Int] {
        var seen = Set<String>()
        var out: [Int] = []
        let known = columns.map(\.name)
        for name in names {
            guard seen.insert(name).inserted else {
                throw IngestError(file: path, line: line, reason: "column '\(name)' appears twice in the header")
            }
            guard let k = known.firstIndex(of: name) else {
                throw IngestError(
                    file: path, line: line, reason: "unknown column '\(name)'; the source's columns are \(known.joined(separator: ", "))")
            }
            out.append(k)
        }
        let missing = columns.filter { !$0.nullable && !seen.contains($0.name) }.map(\.name)
        if !missing.isEmpty {
            throw IngestError(
                file: path, line: line,
                reason:
                    "missing column\(missing.count > 1 ? "s" : "") \(missing.map { "'\($0)'" }.joined(separator: ", ")); the source's columns are \(known.joined(separator: ", "))"
            )
        }
        return out
    }

    func copyCSV(_ reader: consuming CSVReader, progress: (@Sendable (IngestProgress) -> Void)?, totalBytes: Int64) throws -> Int {
        guard try reader.next() else {
            throw IngestError(file: path, reason: "the file is empty; a CSV file starts with a header row naming the columns")
        }
        var names: [String] = []
        for i in 0..<reader.fieldCount {
            guard FieldParsing.isValidUTF8(reader.field(i)) else {
                throw IngestError(
                    file: path, line: reader.recordLine, value: FieldParsing.display(reader.field(i)),
                    reason: "the header is not valid UTF-8")
            }
            names.append(reader.fieldString(i).trimmingCharacters(in: .whitespaces))
        }
        let targets = try columnIndex(for: names, line: reader.recordLine)
        let types = targets.map { columns[$0].type }
        let nullable = targets.map { columns[$0].nullable }
        let expected = names.count
        // Nullable columns absent from the file are null in every row.
        let absent = columns.indices.filter { !targets.contains($0) }
        var rows = 0
        while try reader.next() {
            let line = reader.recordLine
            guard reader.fieldCount == expected else {
                throw IngestError(
                    file: path, line: line, reason: "expected \(expected) fields as in the header, found \(reader.fieldCount)")
            }
            for f in 0..<expected {
                let bytes = reader.field(f)
                if bytes.isEmpty && !reader.quoted[f] {
                    guard nullable[f] else {
                        throw IngestError(file: path, line: line, column: names[f], reason: "empty, but the column is not nullable")
                    }
                    sink.setNull(targets[f])
                    continue
                }
                try set(bytes, type: types[f], column: targets[f], line: line, name: names[f])
            }
            for k in absent { sink.setNull(k) }
            try sink.endRow(line: line)
            rows += 1
            if rows & 0x3FFF == 0, let progress {
                progress(IngestProgress(bytesRead: reader.bytesRead, totalBytes: totalBytes, rows: rows))
            }
        }
        progress?(IngestProgress(bytesRead: reader.bytesRead, totalBytes: totalBytes, rows: rows))
        return rows
    }

    @inline(__always)
    func set(_ bytes: UnsafeBufferPointer<UInt8>, type: ValueType, column: Int, line: Int, name: String) throws {
        let value: Value
        do {
            value = try FieldParsing.value(bytes, as: type)
        } catch {
            throw IngestError(file: path, line: line, column: name, value: FieldParsing.display(bytes), reason: error.reason)
        }
        if column == Self.eventTimeColumn, case .timestamp(let t) = value, !eventTimes.admits(t) {
            throw IngestError(
                file: path, line: line, column: name, value: FieldParsing.display(bytes), reason: eventTimes.rejection(of: t))
        }
        sink.set(value, column)
    }

    func copyJSONLines(_ reader: JSONLinesReader, progress: (@Sendable (IngestProgress) -> Void)?, totalBytes: Int64) throws -> Int {
        let byName = Dictionary(columns.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        var rows = 0
        var present = [Bool](repeating: false, count: columns.count)
        while try reader.next() {
            let line = reader.recordLine
            for k in present.indices { present[k] = false }
            for (m, member) in reader.members.enumerated() {
                let (key, value) = (member.key, member.value)
                guard let k = byName[key] else {
                    throw IngestError(
                        file: path, line: line,
                        reason: "unknown column '\(key)'; the source's columns are \(columns.map(\.name).joined(separator: ", "))")
                }
                // Duplicate keys never get here: the JSON parser rejects them.
                present[k] = true
                try set(value, column: k, line: line) { reader.text(ofMember: m) }
            }
            for (k, column) in columns.enumerated() where !present[k] {
                guard column.nullable else {
                    throw IngestError(file: path, line: line, column: column.name, reason: "missing, and the column is not nullable")
                }
                sink.setNull(k)
            }
            try sink.endRow(line: line)
            rows += 1
            if rows & 0x3FFF == 0, let progress {
                progress(IngestProgress(bytesRead: reader.bytesRead, totalBytes: totalBytes, rows: rows))
            }
        }
        progress?(IngestProgress(bytesRead: reader.bytesRead, totalBytes: totalBytes, rows: rows))
        return rows
    }

    /// `text` gives the value as written in the file, for messages (a number's text is not
    /// its re-rendering: 9223372036854775808, not 9.223372036854776e+18).
    func set(_ json: JSONValue, column k: Int, line: Int, text: () -> String) throws {
        let column = columns[k]
        func bad(_ reason: String) -> IngestError {
            IngestError(file: path, line: line, column: column.name, value: text(), reason: reason)
        }
        let value: Value
        do {
            value = try json.value(as: column.type)
        } catch {
            switch error {
            case .mismatch:
                if case .double = json, column.type == .int64, !text().contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                    throw bad("an integer outside the int64 range (-9223372036854775808 to 9223372036854775807)")
                }
                throw bad("\(json.typeName), but the column is \(column.type): expected \(column.type.expectedJSON)")
            case .timestamp(let reason): throw bad(reason.reason)
            }
        }
        guard !value.isNull || column.nullable else { throw bad("null, but the column is not nullable") }
        if k == Self.eventTimeColumn, case .timestamp(let t) = value, !eventTimes.admits(t) {
            throw bad(eventTimes.rejection(of: t))
        }
        sink.set(value, k)
    }
}
