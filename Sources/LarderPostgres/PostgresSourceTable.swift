import LarderCore
import LarderOffline

/// The PostgreSQL table that holds a source's events: `source_<name>`, with the columns of the
/// SQLite store's (``SourceTable``) in the same order, in PostgreSQL's types.
///
/// `_seq` is assigned by Larder, not by a sequence: the ingest that holds the source's lock
/// numbers its rows after the largest one, so `_seq` grows in commit order, which incremental
/// materialization relies on (a sequence's numbers are handed out before commit, so a slower
/// ingest could commit numbers below a watermark already read). It has an index, not a primary
/// key: a distributed PostgreSQL (Citus) requires a table's unique keys to include the column
/// it is distributed by.
struct PostgresSourceTable {
    let spec: SourceSpec
    private var shared: SourceTable { SourceTable(spec: spec) }

    var name: String { shared.name }
    var columnNames: [String] { shared.columnNames }

    /// Instants are BIGINT microseconds since the epoch, as in SQLite, so both stores compare
    /// the same numbers.
    static func sqlType(_ type: ValueType) -> String {
        switch type {
        case .int64, .timestamp: "BIGINT"
        case .bool: "BOOLEAN"
        case .double: "DOUBLE PRECISION"
        case .string: "TEXT"
        // No column has a list type (only `last(n)` aggregations produce lists).
        case .int64List, .doubleList, .stringList, .boolList, .timestampList: "BYTEA"
        }
    }

    static func columnDefinition(_ column: ColumnSpec) -> String {
        "\(column.name) \(sqlType(column.type))\(column.nullable ? "" : " NOT NULL")"
    }

    var createStatements: [String] {
        let columns = ["_seq BIGINT NOT NULL", "_ingest BIGINT NOT NULL"] + shared.storedColumns.map(Self.columnDefinition)
        return [
            "CREATE TABLE \(name) (\n    \(columns.joined(separator: ",\n    "))\n)",
            "CREATE INDEX \(name)_by_seq ON \(name) (_seq)",
            "CREATE INDEX \(name)_by_event_time ON \(name) (\(spec.eventTimestamp))",
        ]
    }
}
