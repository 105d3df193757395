import GRDBSQLite
import LarderCore

/// Converts between ``Value`` and SQLite's C API on the bulk paths, where GRDB's row
/// decoding would allocate per column.
enum SQLiteValues {
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Reads column `index` of the current row as `type`.
    @inline(__always)
    static func read(_ statement: OpaquePointer, _ index: Int32, as type: ValueType) -> Value {
        if sqlite3_column_type(statement, index) == SQLITE_NULL { return .null }
        switch type {
        case .int64: return .int64(sqlite3_column_int64(statement, index))
        case .double: return .double(sqlite3_column_double(statement, index))
        case .bool: return .bool(sqlite3_column_int64(statement, index) != 0)
        case .timestamp: return .timestamp(Timestamp(microseconds: sqlite3_column_int64(statement, index)))
        case .string:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let bytes = sqlite3_column_text(statement, index) else { return .string("") }
            return .string(String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self))
        case .int64List, .doubleList, .stringList, .boolList, .timestampList:
            return .null  // never stored in a column
        }
    }

    /// Binds `value` to parameter `index` (1-based).
    @inline(__always)
    static func bind(_ statement: OpaquePointer, _ index: Int32, _ value: Value) {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .int64(let v): sqlite3_bind_int64(statement, index, v)
        case .double(let v): sqlite3_bind_double(statement, index, v)
        case .bool(let v): sqlite3_bind_int64(statement, index, v ? 1 : 0)
        case .timestamp(let v): sqlite3_bind_int64(statement, index, v.microseconds)
        case .string(let v): sqlite3_bind_text(statement, index, v, -1, transient)
        case .list:
            // Never bound (no column holds a list); JSON text keeps the value readable anyway.
            var json: [UInt8] = []
            JSONText.appendValue(value, to: &json)
            sqlite3_bind_text(statement, index, String(decoding: json, as: UTF8.self), -1, transient)
        }
    }

    /// The SQLite error message of the statement's connection.
    static func message(_ statement: OpaquePointer) -> String {
        String(cString: sqlite3_errmsg(sqlite3_db_handle(statement)))
    }

    // Hand-written `sqlite3_step` calls go through `step` or `execute`, so that a busy, I/O,
    // corrupt or interrupted step is an error naming what was read or written, never taken
    // for the end of the rows.

    /// Steps a row-returning statement: true with a row, false at its end. Any other result
    /// (busy, I/O, corrupt, interrupted) resets the statement and throws
    /// "reading <what>: <SQLite's message>".
    @inline(__always)
    static func step(_ statement: OpaquePointer, reading what: @autoclosure () -> String) throws(OfflineStoreError) -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw failure(statement) { OfflineStoreError("reading \(what()): \($0)") }
        }
    }

    /// Steps a statement that returns no row (an INSERT or UPDATE) and resets it for the next
    /// bindings; unless it finished, throws "writing <what>: <SQLite's message>".
    @inline(__always)
    static func execute(_ statement: OpaquePointer, writing what: @autoclosure () -> String) throws(OfflineStoreError) {
        try execute(statement) { OfflineStoreError("writing \(what()): \($0)") }
    }

    /// `execute(_:writing:)` for a caller with its own error (one that names a file and line):
    /// `error` gets SQLite's message.
    @inline(__always)
    static func execute<E: Error>(_ statement: OpaquePointer, orThrow error: (String) -> E) throws(E) {
        guard sqlite3_step(statement) == SQLITE_DONE else { throw failure(statement, error) }
        sqlite3_reset(statement)
    }

    /// The error for a failed step, with SQLite's message read before the statement is reset
    /// (a reset may replace it).
    private static func failure<E: Error>(_ statement: OpaquePointer, _ error: (String) -> E) -> E {
        let message = Self.message(statement)
        sqlite3_reset(statement)
        return error(message)
    }
}
