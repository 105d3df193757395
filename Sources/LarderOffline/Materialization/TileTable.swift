import GRDB
import GRDBSQLite
import LarderCore

/// The offline tiles of one feature view version: `tiles_<view>_v<version>`, one row per
/// (entity, hop, hop start) with the encoded partial aggregates of that hop's events
/// (``TileLayout``) and `_watermark`, the largest ingest sequence among them.
///
/// The watermark orders tile writes online: a materialized tile replaces an online one
/// unless the online one holds a later event (one pushed through the service since the
/// run read the source), and the next run brings that event offline too.
struct TileTable: Sendable {
    let view: FeatureViewSpec
    let version: Int

    var name: String { "tiles_\(view.name)_v\(version)" }
    var keyNames: [String] { view.joinKeys.map(\.name) }

    var createTable: String {
        let columns =
            view.joinKeys.map { SourceTable.columnDefinition($0) } + [
                "_hop INTEGER NOT NULL", "_hop_start INTEGER NOT NULL", "_watermark INTEGER NOT NULL", "_tile BLOB NOT NULL",
                "PRIMARY KEY (\((keyNames + ["_hop", "_hop_start"]).joined(separator: ", ")))",
            ]
        return "CREATE TABLE IF NOT EXISTS \(name) (\n    \(columns.joined(separator: ",\n    "))\n) STRICT, WITHOUT ROWID"
    }

    var upsertSQL: String {
        let columns = keyNames + ["_hop", "_hop_start", "_watermark", "_tile"]
        return
            "INSERT OR REPLACE INTO \(name) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
    }
}

extension OfflineStore {
    /// Rebuilds the tiles of every hop that holds an event time in `start..<end`, from the
    /// source rows with event times in that range (whole hops, from the hop containing
    /// `start`). One pass over the source in event-time order: a hop's tiles are written as
    /// soon as the pass moves past it, so memory holds one hop's entities per hop size.
    /// Runs inside the materialization's transaction. Returns the number of tiles written.
    static func materializeTiles(
        _ db: Database, view: FeatureView, spec: FeatureViewSpec, version: Int, source: SourceSpec, start: Int64, end: Int64
    ) throws -> Int {
        let layout = view.tileLayout
        guard !layout.isEmpty, start < end else { return 0 }
        let table = TileTable(view: spec, version: version)
        let sourceTable = SourceTable(spec: source)
        try db.execute(sql: table.createTable)

        let rowLayout = RowLayout(keys: source.columns.map(\.name))
        guard let inputs = layout.inputEvaluators(features: view.features, layout: rowLayout) else {
            throw OfflineStoreError("an aggregation of \(view.name) reads an input that source \(source.name) lacks")
        }
        let keyPositions = spec.joinKeys.map { key in source.columns.firstIndex { $0.name == key.name }! }
        let firstHop = layout.groups.map { WindowRule.hopStart(start, hop: $0.hop) }
        let scanStart = firstHop.min()!

        // Per hop size: the hop being filled and its tiles by entity.
        struct Pending {
            var hopStart = Int64.min
            var tiles: [[Value]: (tile: [AggregationState], watermark: Int64)] = [:]
        }
        var pending = [Pending](repeating: Pending(), count: layout.groups.count)
        let upsertStatement = try db.makeStatement(sql: table.upsertSQL)
        let upsert = upsertStatement.sqliteStatement
        var written = 0
        func flush(_ g: Int) throws {
            let hop = layout.groups[g].hop
            for (keys, entry) in pending[g].tiles {
                var p: Int32 = 1
                for key in keys {
                    SQLiteValues.bind(upsert, p, key)
                    p += 1
                }
                sqlite3_bind_int64(upsert, p, hop)
                sqlite3_bind_int64(upsert, p + 1, pending[g].hopStart)
                sqlite3_bind_int64(upsert, p + 2, entry.watermark)
                let bytes = layout.encode(entry.tile, group: g)
                _ = bytes.withUnsafeBytes { sqlite3_bind_blob(upsert, p + 3, $0.baseAddress, Int32($0.count), SQLiteValues.transient) }
                let rc = sqlite3_step(upsert)
                sqlite3_reset(upsert)
                guard rc == SQLITE_DONE else { throw OfflineStoreError("writing \(table.name): \(SQLiteValues.message(upsert))") }
                written += 1
            }
            pending[g].tiles.removeAll(keepingCapacity: true)
        }

        let stored = sourceTable.storedColumns
        let hasCreated = source.createdTimestamp != nil
        let columnOffset: Int32 = hasCreated ? 3 : 2
        let ts = source.eventTimestamp
        let select = try db.makeStatement(
            sql: """
                SELECT _seq, \(stored.map(\.name).joined(separator: ", ")) FROM \(sourceTable.name)
                WHERE \(ts) >= ? AND \(ts) < ? ORDER BY \(ts)
                """)
        try select.setArguments([scanStart, end])
        let s = select.sqliteStatement
        var values = [Value](repeating: .null, count: source.columns.count)
        var eventInputs = [Value](repeating: .null, count: layout.inputs.count)
        try withExtendedLifetime((select, upsertStatement)) {
            while true {
                let rc = sqlite3_step(s)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else { throw OfflineStoreError("reading source \(source.name): \(SQLiteValues.message(s))") }
                let sequence = sqlite3_column_int64(s, 0)
                let eventTime = sqlite3_column_int64(s, 1)
                let created: Int64? = hasCreated && sqlite3_column_type(s, 2) != SQLITE_NULL ? sqlite3_column_int64(s, 2) : nil
                for (i, column) in source.columns.enumerated() {
                    values[i] = SQLiteValues.read(s, columnOffset + Int32(i), as: column.type)
                }
                for (i, evaluate) in inputs.enumerated() { eventInputs[i] = evaluate(values) }
                let keys = keyPositions.map { values[$0] }
                let order = EventOrder(eventTime: eventTime, createdTime: created, sequence: sequence)
                for g in layout.groups.indices where eventTime >= firstHop[g] {
                    let hopStart = WindowRule.hopStart(eventTime, hop: layout.groups[g].hop)
                    if hopStart != pending[g].hopStart {
                        try flush(g)
                        pending[g].hopStart = hopStart
                    }
                    // In place (the `default:` subscript), so the states are not copied per event.
                    layout.add(
                        eventInputs, order: order, to: &pending[g].tiles[keys, default: (layout.emptyTile(group: g), .min)].tile, group: g)
                    pending[g].tiles[keys]!.watermark = max(pending[g].tiles[keys]!.watermark, sequence)
                }
            }
            for g in layout.groups.indices { try flush(g) }
        }
        return written
    }
}

extension OfflineStore {
    /// The tiles of a view worth holding online, by entity: for each entity and hop, the
    /// tiles no window can leave out from its newest tile on (hop start at least the newest's
    /// minus the longest window on that hop), and only those with a hop start from `from` on
    /// when given (the tiles a run rebuilt). Streamed in batches of up to 1,000 entities.
    public func retainedTiles(
        of view: FeatureView, from: Int64?, batch: ([(keys: [Value], tiles: [StoredTile])]) throws -> Void
    ) throws {
        let (spec, version) = try registeredView(view)
        let layout = view.tileLayout
        guard !layout.isEmpty else { return }
        let table = TileTable(view: spec, version: version)
        try db.read { db in
            guard try db.tableExists(table.name) else { return }
            let keys = table.keyNames.joined(separator: ", ")
            let sameKeys = table.keyNames.map { "u.\($0) = t.\($0)" }.joined(separator: " AND ")
            for (g, group) in layout.groups.enumerated() {
                let select = try db.makeStatement(
                    sql: """
                        SELECT \(keys), _hop_start, _watermark, _tile FROM \(table.name) t
                        WHERE _hop = ? AND _hop_start >= ?
                          AND _hop_start >= (SELECT max(u._hop_start) FROM \(table.name) u WHERE \(sameKeys) AND u._hop = t._hop) - ?
                        ORDER BY \(keys), _hop_start
                        """)
                try select.setArguments([group.hop, from ?? Int64.min, group.span])
                let s = select.sqliteStatement
                let keyCount = Int32(spec.joinKeys.count)
                var entities: [(keys: [Value], tiles: [StoredTile])] = []
                try withExtendedLifetime(select) {
                    while true {
                        let rc = sqlite3_step(s)
                        if rc == SQLITE_DONE { break }
                        guard rc == SQLITE_ROW else { throw OfflineStoreError("reading \(table.name): \(SQLiteValues.message(s))") }
                        let entity = spec.joinKeys.enumerated().map { i, key in SQLiteValues.read(s, Int32(i), as: key.type) }
                        let count = Int(sqlite3_column_bytes(s, keyCount + 2))
                        let bytes =
                            count == 0 ? [] : Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(s, keyCount + 2), count: count))
                        let tile = StoredTile(
                            group: g, hopStart: sqlite3_column_int64(s, keyCount), watermark: sqlite3_column_int64(s, keyCount + 1),
                            bytes: bytes)
                        if entities.last?.keys == entity {
                            entities[entities.count - 1].tiles.append(tile)
                        } else {
                            if entities.count == 1000 {
                                try batch(entities)
                                entities.removeAll(keepingCapacity: true)
                            }
                            entities.append((entity, [tile]))
                        }
                    }
                }
                if !entities.isEmpty { try batch(entities) }
            }
        }
    }
}
