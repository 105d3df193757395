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
        guard let format = format ?? InputFormat.infer(fromPath: path) else {
            throw IngestError(
                file: path, reason: "cannot tell the format from the file name; name it .csv or .jsonl, or pass --format csv|jsonl")
        }
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
            let writer = RowWriter(owner: statement, path: path, columns: columns, eventTimes: eventTimes)
            writer.bindInt64(1, ingestID)

            func changed(_ change: String) -> IngestError {
                IngestError(file: path, reason: "\(change); nothing was ingested: ingest it again once whatever writes it has finished")
            }
            let rows: Int
            do {
                switch format {
                case .csv: rows = try writer.copyCSV(CSVReader(file: file), progress: progress, totalBytes: file.size)
                case .jsonl: rows = try writer.copyJSONLines(JSONLinesReader(file: file), progress: progress, totalBytes: file.size)
                }
            } catch let error as IngestError {
                // A bad record in a file that changed under the reader is the change's doing.
                throw file.change().map(changed) ?? error
            }
            if let change = file.change() { throw changed(change) }
            for sql in rebuild { try db.execute(sql: sql) }
            if rows == 0 && !allowEmpty {
                throw IngestError(
                    file: path, reason: "the file has no data rows; nothing was ingested (pass --allow-empty to accept an empty file)")
            }
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

/// Binds parsed fields to the prepared INSERT and steps it, one row at a time.
/// Parameter 1 is `_ingest`; parameter `k + 2` is stored column `k`.
private struct RowWriter {
    /// Keeps the GRDB statement (and so the SQLite statement) alive while the writer is.
    let owner: Statement
    let statement: OpaquePointer
    let path: String
    let columns: [ColumnSpec]
    /// The store's rule for event times in the future, at the start of the ingest.
    let eventTimes: EventTimeLimit
    /// The event time is stored column 0.
    static let eventTimeParameter: Int32 = 2

    init(owner: Statement, path: String, columns: [ColumnSpec], eventTimes: EventTimeLimit) {
        self.owner = owner
        self.statement = owner.sqliteStatement
        self.path = path
        self.columns = columns
        self.eventTimes = eventTimes
    }

    func bindInt64(_ parameter: Int32, _ value: Int64) { sqlite3_bind_int64(statement, parameter, value) }

    func step(line: Int) throws {
        try SQLiteValues.execute(statement) { IngestError(file: path, line: line, reason: "SQLite refused the row: \($0)") }
    }

    /// Maps file columns (header names or JSON keys) to stored columns: every required column
    /// must be present, no unknown column may be.
    func columnIndex(for names: [String], line: Int) throws(IngestError) -> [Int] {
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
        // Nullable columns absent from the file stay bound to null for every row.
        for (k, column) in columns.enumerated() where !seen.contains(column.name) {
            sqlite3_bind_null(statement, Int32(k + 2))
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
        var rows = 0
        while try reader.next() {
            let line = reader.recordLine
            guard reader.fieldCount == expected else {
                throw IngestError(
                    file: path, line: line, reason: "expected \(expected) fields as in the header, found \(reader.fieldCount)")
            }
            for f in 0..<expected {
                let bytes = reader.field(f)
                let parameter = Int32(targets[f] + 2)
                if bytes.isEmpty && !reader.quoted[f] {
                    guard nullable[f] else {
                        throw IngestError(file: path, line: line, column: names[f], reason: "empty, but the column is not nullable")
                    }
                    sqlite3_bind_null(statement, parameter)
                    continue
                }
                try bind(bytes, type: types[f], parameter: parameter, line: line, column: names[f])
            }
            try step(line: line)
            rows += 1
            if rows & 0x3FFF == 0, let progress {
                progress(IngestProgress(bytesRead: reader.bytesRead, totalBytes: totalBytes, rows: rows))
            }
        }
        progress?(IngestProgress(bytesRead: reader.bytesRead, totalBytes: totalBytes, rows: rows))
        return rows
    }

    @inline(__always)
    func bind(_ bytes: UnsafeBufferPointer<UInt8>, type: ValueType, parameter: Int32, line: Int, column: String) throws {
        let value: Value
        do {
            value = try FieldParsing.value(bytes, as: type)
        } catch {
            throw IngestError(file: path, line: line, column: column, value: FieldParsing.display(bytes), reason: error.reason)
        }
        if parameter == Self.eventTimeParameter, case .timestamp(let t) = value, !eventTimes.admits(t) {
            throw IngestError(
                file: path, line: line, column: column, value: FieldParsing.display(bytes), reason: eventTimes.rejection(of: t))
        }
        SQLiteValues.bind(statement, parameter, value)
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
                try bind(value, column: columns[k], parameter: Int32(k + 2), line: line) { reader.text(ofMember: m) }
            }
            for (k, column) in columns.enumerated() where !present[k] {
                guard column.nullable else {
                    throw IngestError(file: path, line: line, column: column.name, reason: "missing, and the column is not nullable")
                }
                sqlite3_bind_null(statement, Int32(k + 2))
            }
            try step(line: line)
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
    func bind(_ json: JSONValue, column: ColumnSpec, parameter: Int32, line: Int, text: () -> String) throws {
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
        if parameter == Self.eventTimeParameter, case .timestamp(let t) = value, !eventTimes.admits(t) {
            throw bad(eventTimes.rejection(of: t))
        }
        SQLiteValues.bind(statement, parameter, value)
    }
}
