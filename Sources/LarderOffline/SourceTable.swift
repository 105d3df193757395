import Crypto
import Foundation
import LarderCore

/// The SQLite table that holds a source's events: `source_<name>`.
///
/// Columns: `_seq` (the ingest sequence: rowid, grows with every row appended, so later work
/// can tell late-arriving rows from old ones), `_ingest` (the `larder_ingests` row that brought
/// it), the event timestamp, the created timestamp if declared, then the declared columns.
/// Timestamps are INTEGER microseconds since the epoch, bools INTEGER 0/1.
package struct SourceTable: Sendable {
    package let spec: SourceSpec

    package init(spec: SourceSpec) { self.spec = spec }

    package var name: String { "source_\(spec.name)" }

    /// Every column name in table order: `_seq`, `_ingest`, then ``storedColumns``.
    package var columnNames: [String] { ["_seq", "_ingest"] + storedColumns.map(\.name) }

    /// The stored columns after `_seq` and `_ingest`, in table order.
    package var storedColumns: [ColumnSpec] {
        var columns = [ColumnSpec(name: spec.eventTimestamp, type: .timestamp, nullable: false)]
        if let created = spec.createdTimestamp {
            columns.append(ColumnSpec(name: created, type: .timestamp, nullable: true))
        }
        return columns + spec.columns
    }

    static func sqlType(_ type: ValueType) -> String {
        switch type {
        case .int64, .bool, .timestamp: "INTEGER"
        case .double: "REAL"
        case .string: "TEXT"
        // No column has a list type (only `last(n)` aggregations produce lists).
        case .int64List, .doubleList, .stringList, .boolList, .timestampList: "BLOB"
        }
    }

    static func columnDefinition(_ column: ColumnSpec) -> String {
        "\(column.name) \(sqlType(column.type))\(column.nullable ? "" : " NOT NULL")"
    }

    var createStatements: [String] {
        let columns = ["_seq INTEGER PRIMARY KEY", "_ingest INTEGER NOT NULL"] + storedColumns.map(Self.columnDefinition)
        return [
            "CREATE TABLE \(name) (\n    \(columns.joined(separator: ",\n    "))\n) STRICT",
            "CREATE INDEX \(name)_by_event_time ON \(name) (\(spec.eventTimestamp))",
        ]
    }

    /// The index a view's aggregations need, for training sets: a key's events in event
    /// order (time, created, `_seq`), covering every column the aggregations read, so reading an entity's history is
    /// one index range scan with no table lookups. Named by a hash of its columns, so a
    /// definition that reads other columns gets a new index (`apply` drops unused ones).
    package static func aggregationIndex(source: SourceSpec, view: FeatureViewSpec) -> (name: String, sql: String) {
        let table = "source_\(source.name)"
        var columns = view.joinKeys.map(\.name) + [source.eventTimestamp]
        if let created = source.createdTimestamp { columns.append(created) }
        // `_seq` (the rowid) before the inputs: the events' order (time, created, `_seq`) is
        // then the index's, and reading an entity's history needs no sort.
        columns.append("_seq")
        for column in view.aggregationColumns() where !columns.contains(column) { columns.append(column) }
        let hash = SHA256.hash(data: Data(columns.joined(separator: ",").utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        let name = "\(table)_agg_\(hash)"
        return (name, "CREATE INDEX IF NOT EXISTS \(name) ON \(table) (\(columns.joined(separator: ", ")))")
    }

    /// The aggregation indexes the registered definitions need, by source name, then index
    /// name: each source read by an aggregation view gets that view's index.
    package static func aggregationIndexes(_ registered: [DefinitionSpec]) -> [String: [String: String]] {
        var wanted: [String: [String: String]] = [:]
        for case .featureView(let view) in registered where !(view.aggregations ?? []).isEmpty {
            guard case .source(let source)? = registered.first(where: { $0.kind == .source && $0.name == view.source }) else { continue }
            let index = aggregationIndex(source: source, view: view)
            wanted[source.name, default: [:]][index.name] = index.sql
        }
        return wanted
    }

    /// How an existing table changes to hold `new`'s rows.
    package enum Migration: Equatable, Sendable {
        case none
        /// Nullable columns appended: existing rows read them as null.
        case addColumns([ColumnSpec])
        /// Anything else: only possible on an empty table.
        case rebuild(reasons: [String])
    }

    package static func migration(from old: SourceSpec, to new: SourceSpec) -> Migration {
        let before = SourceTable(spec: old).storedColumns
        let after = SourceTable(spec: new).storedColumns
        if before == after { return .none }
        if after.count > before.count, Array(after.prefix(before.count)) == before,
            after.dropFirst(before.count).allSatisfy(\.nullable)
        {
            return .addColumns(Array(after.dropFirst(before.count)))
        }
        var reasons: [String] = []
        let beforeByName = Dictionary(before.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let afterByName = Dictionary(after.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for column in before where afterByName[column.name] == nil { reasons.append("column \(column.name) removed") }
        for column in after {
            if let previous = beforeByName[column.name] {
                if previous != column { reasons.append("column \(previous) changed to \(column)") }
            } else if !column.nullable {
                reasons.append("non-nullable column \(column) added")
            }
        }
        if reasons.isEmpty { reasons.append("columns reordered") }
        return .rebuild(reasons: reasons)
    }
}
