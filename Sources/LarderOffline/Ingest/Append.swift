import Foundation
import GRDB
import GRDBSQLite
import LarderCore

/// Why pushed rows were rejected: the row (0-based), the column and what is wrong.
public struct AppendError: Error, Sendable, CustomStringConvertible {
    public var row: Int
    public var column: String?
    public var reason: String

    package init(row: Int, column: String?, reason: String) {
        self.row = row
        self.column = column
        self.reason = reason
    }

    /// Control characters from the request are escaped, as in ``IngestError``.
    public var description: String {
        MessageText.escaped("row \(row)" + (column.map { ": column '\($0)'" } ?? "") + ": " + reason)
    }
}

extension OfflineStore {
    /// Appends rows given as column name to JSON value to a registered source, with the same
    /// checks as `ingest` (the store's ``EventTimePolicy`` included) and in one transaction:
    /// all rows or none.
    public func append(source name: String, rows: [[String: JSONValue]], origin: String) async throws -> [SourceRow] {
        try await writing { try self.append(source: name, rows: rows, origin: origin) }
    }

    /// The blocking body of the async ``append(source:rows:origin:)``, run on ``Blocking``'s pool.
    func append(source name: String, rows: [[String: JSONValue]], origin: String) throws -> [SourceRow] {
        let spec = try registry.source(named: name)
        let table = SourceTable(spec: spec)
        let stored = table.storedColumns
        let typed = try Self.checkedRows(rows, columns: stored, eventTimes: eventTimePolicy.limit(at: .now()))
        let placeholders = Array(repeating: "?", count: stored.count + 1).joined(separator: ", ")
        let sql = "INSERT INTO \(table.name) (_ingest, \(stored.map(\.name).joined(separator: ", "))) VALUES (\(placeholders))"
        let hasCreated = spec.createdTimestamp != nil
        return try writeTransaction("\(origin) of \(rows.count) rows to \(name)", recorded: false) { db in
            let now = Timestamp.now().microseconds
            try db.execute(
                sql: "INSERT INTO larder_ingests (source, file, rows, started_at, finished_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [name, origin, rows.count, now, now])
            let ingestID = db.lastInsertedRowID
            let statement = try db.makeStatement(sql: sql)
            let s = statement.sqliteStatement
            var out: [SourceRow] = []
            out.reserveCapacity(typed.count)
            try withExtendedLifetime(statement) {
                for values in typed {
                    sqlite3_bind_int64(s, 1, ingestID)
                    for (i, v) in values.enumerated() { SQLiteValues.bind(s, Int32(i + 2), v) }
                    try SQLiteValues.execute(s) { OfflineStoreError("appending to \(table.name): \($0)") }
                    guard case .timestamp(let event) = values[0] else { continue }
                    let created: Timestamp? = if hasCreated, case .timestamp(let c) = values[1] { c } else { nil }
                    out.append(
                        SourceRow(
                            values: Array(values.dropFirst(hasCreated ? 2 : 1)), eventTime: event, createdTime: created,
                            sequence: db.lastInsertedRowID))
                }
            }
            if let first = out.first, let last = out.last {
                try db.execute(
                    sql: "UPDATE larder_ingests SET first_seq = ?, last_seq = ? WHERE id = ?",
                    arguments: [first.sequence, last.sequence, ingestID])
            }
            return out
        }
    }

    /// Pushed rows as values of the source's stored columns (event time first), checked as
    /// `ingest` checks a file's (either store): unknown columns, types, nulls, event times.
    package static func checkedRows(
        _ rows: [[String: JSONValue]], columns stored: [ColumnSpec], eventTimes: EventTimeLimit
    ) throws -> [[Value]] {
        var typed: [[Value]] = []
        typed.reserveCapacity(rows.count)
        for (r, row) in rows.enumerated() {
            for key in row.keys where !stored.contains(where: { $0.name == key }) {
                throw AppendError(
                    row: r, column: key, reason: "unknown column; the source's columns are \(stored.map(\.name).joined(separator: ", "))")
            }
            let values = try stored.map { column throws(AppendError) in
                try Self.convert(row[column.name] ?? .null, to: column, row: r)
            }
            // The event time is stored column 0.
            if case .timestamp(let t) = values[0], !eventTimes.admits(t) {
                throw AppendError(
                    row: r, column: stored[0].name, reason: "\"\(row[stored[0].name]?.text ?? "\(t)")\": \(eventTimes.rejection(of: t))")
            }
            typed.append(values)
        }
        return typed
    }

    static func convert(_ json: JSONValue, to column: ColumnSpec, row: Int) throws(AppendError) -> Value {
        func bad(_ reason: String) -> AppendError { AppendError(row: row, column: column.name, reason: reason) }
        let value: Value
        do {
            value = try json.value(as: column.type)
        } catch {
            switch error {
            case .mismatch: throw bad("expected \(column.type.expectedJSON) (\(column.type)), got \(json.typeName)")
            case .timestamp(let reason): throw bad("\"\(json.text)\": \(reason.reason)")
            }
        }
        guard !value.isNull || column.nullable else { throw bad("missing or null, but the column is not nullable") }
        return value
    }
}
