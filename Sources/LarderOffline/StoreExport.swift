import GRDB
import GRDBSQLite

// A read of the whole store, for copying it into another one (`larder copy-store`): every
// table as SQLite stores it, from one snapshot, without GRDB's types leaving the module.

extension OfflineStore {
    /// Runs `produce` in one read transaction of the store, on ``Blocking``'s read pool, and
    /// returns what it emits as a stream (``Blocking/stream(_:)``): at most one element ahead
    /// of the consumer, so memory holds about two however large the store. Everything
    /// `produce` reads through the ``StoreSnapshot`` comes from one snapshot, so row counts
    /// and rows agree even while another process writes to the store.
    ///
    /// Reads only: the store's file is left as it was.
    package func export<Element: Sendable>(
        _ produce: @escaping @Sendable (StoreSnapshot, _ emit: (Element) throws -> Void) throws -> Void
    ) -> BlockingStream<Element> {
        streaming { emit in
            try self.db.read { db in try produce(StoreSnapshot(db: db), emit) }
        }
    }
}

/// The store as one read transaction sees it, inside ``OfflineStore/export(_:)``: its
/// tables, their columns, and their rows through the SQLite C API. Valid only while the
/// export's body runs, on its thread.
package struct StoreSnapshot {
    let db: Database

    /// The tables, sorted by name, but SQLite's own (`sqlite_…`) and GRDB's migration record.
    package func tableNames() throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                AND name <> 'grdb_migrations' ORDER BY name
                """)
    }

    /// The table's column names in table order.
    package func columnNames(of table: String) throws -> [String] {
        try db.columns(in: table).map(\.name)
    }

    /// The number of rows of `table`.
    package func rowCount(of table: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
    }

    /// Runs `select` and hands `body` each row in turn, as SQLite stores it (``StoredRow``).
    /// A failed step is an error naming `what`, never taken for the end of the rows.
    package func forEachRow(_ select: String, reading what: String, _ body: (StoredRow) throws -> Void) throws {
        let statement = try db.makeStatement(sql: select)
        let s = statement.sqliteStatement
        try withExtendedLifetime(statement) {
            while try SQLiteValues.step(s, reading: what) { try body(StoredRow(statement: s)) }
        }
    }
}

/// The current row of a ``StoreSnapshot/forEachRow(_:reading:_:)``: its cells as SQLite
/// stores them. Valid only during the call it is handed to.
package struct StoredRow {
    let statement: OpaquePointer

    /// SQLite's storage classes.
    package enum Storage: Sendable {
        case null, integer, real, text, blob
    }

    package var count: Int { Int(sqlite3_column_count(statement)) }

    package func storage(_ column: Int) -> Storage {
        switch sqlite3_column_type(statement, Int32(column)) {
        case SQLITE_INTEGER: .integer
        case SQLITE_FLOAT: .real
        case SQLITE_TEXT: .text
        case SQLITE_BLOB: .blob
        default: .null
        }
    }

    package func integer(_ column: Int) -> Int64 { sqlite3_column_int64(statement, Int32(column)) }

    package func real(_ column: Int) -> Double { sqlite3_column_double(statement, Int32(column)) }

    /// A text cell's UTF-8 bytes, as stored.
    package func withText<R>(_ column: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        // The pointer first, then the length: sqlite3_column_bytes after sqlite3_column_text
        // measures the text without converting it again.
        let bytes = sqlite3_column_text(statement, Int32(column))
        return try body(UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, Int32(column)))))
    }

    /// A blob cell's bytes, as stored.
    package func withBlob<R>(_ column: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let bytes = sqlite3_column_blob(statement, Int32(column))
        return try body(UnsafeRawBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, Int32(column)))))
    }
}
