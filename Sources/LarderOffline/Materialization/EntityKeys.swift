import GRDB
import GRDBSQLite
import LarderCore

extension OfflineStore {
    /// The entity keys a feature view has materialized, in the join keys' order: each
    /// distinct key of its feature table `features_<view>_v<version>`, then, for a view with
    /// aggregations, each distinct key of its tile table `tiles_<view>_v<version>`. A key in
    /// both tables is visited twice; callers that need distinct keys deduplicate (a sample
    /// does anyway, across views).
    ///
    /// Streams by a skip scan on each table's key index: one index seek per entity, never a
    /// read of every row, and memory for one key at a time. Reads one snapshot. A view never
    /// materialized has no keys. The keys come in batches of `batchSize`.
    public func entityKeys(of view: FeatureView, batchSize: Int = 1000) -> BlockingStream<[[Value]]> {
        streaming { emit in
            let (spec, version) = try self.registeredView(view)
            let tables =
                [FeatureTable(view: spec, version: version).name]
                + (view.aggregations.isEmpty ? [] : [TileTable(view: spec, version: version).name])
            try self.db.read { db in
                try inBatches(of: batchSize, to: emit) { add in
                    for table in tables where try db.tableExists(table) {
                        try Self.skipScanKeys(db, table: table, keys: spec.joinKeys, add)
                    }
                }
            }
        }
    }

    /// Each distinct value of `keys` in `table`, in key order: the first key, then repeatedly
    /// the least key greater than the previous one, each an index seek on a table whose index
    /// (or primary key) starts with the keys. The one skip scan: verify's sampling, the push's
    /// latest rows and its retained tiles all visit entities through it.
    ///
    /// `body` runs between two seeks, with no statement of the scan in progress, so it may
    /// read the same table.
    static func skipScanKeys(_ db: Database, table: String, keys: [ColumnSpec], _ body: ([Value]) throws -> Void) throws {
        let columns = keys.map(\.name).joined(separator: ", ")
        let placeholders = keys.map { _ in "?" }.joined(separator: ", ")
        let first = try db.makeStatement(sql: "SELECT \(columns) FROM \(table) ORDER BY \(columns) LIMIT 1")
        let next = try db.makeStatement(
            sql: "SELECT \(columns) FROM \(table) WHERE (\(columns)) > (\(placeholders)) ORDER BY \(columns) LIMIT 1")
        try withExtendedLifetime((first, next)) {
            var step = first.sqliteStatement
            while try SQLiteValues.step(step, reading: "the entity keys of \(table)") {
                let key = keys.enumerated().map { i, column in SQLiteValues.read(step, Int32(i), as: column.type) }
                sqlite3_reset(step)
                try body(key)
                step = next.sqliteStatement
                for (i, value) in key.enumerated() { SQLiteValues.bind(step, Int32(i + 1), value) }
            }
        }
    }
}
