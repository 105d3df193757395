import Dispatch
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
    /// `start`). One pass over the source in (entity, event time) order, through the covering
    /// index `apply` made (`SourceTable.aggregationIndex`): tiles come out in the tile table's
    /// key order (appends, not random B-tree inserts), and memory holds one tile per hop size.
    /// Runs inside the materialization's transaction. Returns the number of tiles written.
    ///
    /// - Parameter bulk: the range holds a large part of the source: read it all through the
    ///   covering index in order. Otherwise SQLite reads the range by event time and sorts it.
    ///
    /// - Parameter reader: a second connection (``OfflineStore/openReader()``): the tiles are
    ///   then computed on a thread of their own, reading the source there, while this one
    ///   writes them. Its snapshot must hold the same source rows (`maxSeq` checks it); the
    ///   run holds the write lock, so no ingest commits meanwhile.
    static func materializeTiles(
        _ db: Database, view: FeatureView, spec: FeatureViewSpec, version: Int, source: SourceSpec, start: Int64, end: Int64,
        bulk: Bool, maxSeq: Int64, reader: DatabaseQueue?
    ) throws -> Int {
        let layout = view.tileLayout
        guard !layout.isEmpty, start < end else { return 0 }
        let table = TileTable(view: spec, version: version)
        try db.execute(sql: table.createTable)
        let builder = try TileBuilder(view: view, spec: spec, source: source, start: start, end: end, bulk: bulk)

        let upsertStatement = try db.makeStatement(sql: table.upsertSQL)
        let upsert = upsertStatement.sqliteStatement
        var written = 0
        func write(_ batch: TileBatch) throws {
            let keyCount = spec.joinKeys.count
            for i in batch.hops.indices {
                var p: Int32 = 1
                for k in 0..<keyCount {
                    SQLiteValues.bind(upsert, p, batch.keys[i * keyCount + k])
                    p += 1
                }
                sqlite3_bind_int64(upsert, p, batch.hops[i])
                sqlite3_bind_int64(upsert, p + 1, batch.hopStarts[i])
                sqlite3_bind_int64(upsert, p + 2, batch.watermarks[i])
                let from = i == 0 ? 0 : batch.ends[i - 1]
                _ = batch.bytes[from..<batch.ends[i]].withUnsafeBytes {
                    sqlite3_bind_blob(upsert, p + 3, $0.baseAddress, Int32($0.count), SQLiteValues.transient)
                }
                try SQLiteValues.execute(upsert, writing: table.name)
                written += 1
            }
        }
        try withExtendedLifetime(upsertStatement) {
            if let reader, try pipelined(reader, builder: builder, maxSeq: maxSeq, write: write) { return }
            try builder.build(db, emit: write)
        }
        return written
    }

    /// Builds the tiles on `reader`'s connection, on a thread of its own, and writes each
    /// batch here as it comes; false (nothing written) when the reader's snapshot differs.
    private static func pipelined(
        _ reader: DatabaseQueue, builder: TileBuilder, maxSeq: Int64, write: (TileBatch) throws -> Void
    ) throws -> Bool {
        let pipe = BatchPipe<TileBatch>(capacity: 2)
        let done = DispatchSemaphore(value: 0)
        let sourceTable = SourceTable(spec: builder.source).name
        DispatchQueue(label: "larder.materialize.tiles").async {
            do {
                try reader.read { db in
                    guard try Int64.fetchOne(db, sql: "SELECT max(_seq) FROM \(sourceTable)") ?? 0 == maxSeq else {
                        throw SnapshotMismatch()
                    }
                    try builder.build(db) { try pipe.send($0) }
                }
                pipe.finish()
            } catch {
                pipe.finish(throwing: error)
            }
            done.signal()
        }
        defer {
            pipe.stop()
            done.wait()
        }
        var received = false
        do {
            while let batch = try pipe.receive() {
                received = true
                try write(batch)
            }
        } catch is SnapshotMismatch where !received {
            return false
        }
        return true
    }

    private struct SnapshotMismatch: Error {}
}

/// Tiles built and encoded, ready to write: tile `i`'s keys are `keys[i * keyCount ..<
/// (i + 1) * keyCount]`, its encoded bytes `bytes[ends[i - 1] ..< ends[i]]`.
package struct TileBatch: Sendable {
    package var keys: [Value] = []
    package var hops: [Int64] = []
    package var hopStarts: [Int64] = []
    package var watermarks: [Int64] = []
    package var bytes: [UInt8] = []
    package var ends: [Int] = []

    static let size = 4096
}

/// Computes a view's tiles over a range of source rows: one pass over the source in (entity,
/// event time) order (see ``OfflineStore/materializeTiles(_:view:spec:version:source:start:end:bulk:maxSeq:reader:)``),
/// holding one tile per hop size. The folding (``TileFolder``) is the same for both stores;
/// each reads the rows with its own SQL.
package struct TileBuilder: Sendable {
    package let view: FeatureView
    package let spec: FeatureViewSpec
    package let source: SourceSpec
    package let start: Int64
    package let end: Int64
    let bulk: Bool
    /// The source columns read besides the keys.
    package let columns: [ColumnSpec]
    private let inputs: [Evaluator]

    package init(view: FeatureView, spec: FeatureViewSpec, source: SourceSpec, start: Int64, end: Int64, bulk: Bool) throws {
        self.view = view
        self.spec = spec
        self.source = source
        self.start = start
        self.end = end
        self.bulk = bulk
        let read = spec.aggregationColumns()
        let keyNames = spec.joinKeys.map(\.name)
        columns = source.columns.filter { read.contains($0.name) && !keyNames.contains($0.name) }
        // Rows are laid out as the keys, then the other columns read.
        do {
            inputs = try RowProjector(aggregationsOf: view, columns: keyNames + columns.map(\.name)).tileInputs
        } catch {
            throw OfflineStoreError(error.description)
        }
    }

    /// The earliest event time a tile of the run holds: the start of the hop of each size that
    /// contains ``start``. The rows to read are those from it to ``end``.
    package var firstEventTime: Int64 { view.tileLayout.groups.map { WindowRule.hopStart(start, hop: $0.hop) }.min()! }

    /// A fold of the run's rows into tiles.
    package func makeFolder() -> TileFolder { TileFolder(view: view, keyCount: spec.joinKeys.count, start: start, inputs: inputs) }

    /// Reads the source rows on `db` and hands the tiles to `emit`, a batch at a time.
    func build(_ db: Database, emit: (TileBatch) throws -> Void) throws {
        let keyNames = spec.joinKeys.map(\.name)
        let ts = source.eventTimestamp
        let selected = keyNames + [ts, source.createdTimestamp ?? "NULL"] + columns.map(\.name)
        let index = SourceTable.aggregationIndex(source: source, view: spec).name
        let useIndex = try bulk && db.indexes(on: SourceTable(spec: source).name).contains { $0.name == index }
        let select = try db.makeStatement(
            sql: """
                SELECT _seq, \(selected.joined(separator: ", ")) FROM \(SourceTable(spec: source).name)
                \(useIndex ? "INDEXED BY \(index)" : "")
                WHERE \(ts) >= ? AND \(ts) < ? ORDER BY \(keyNames.joined(separator: ", ")), \(ts)
                """)
        try select.setArguments([firstEventTime, end])
        let s = select.sqliteStatement
        let keyCount = Int32(keyNames.count)
        var folder = makeFolder()
        var values = [Value](repeating: .null, count: keyNames.count + columns.count)
        try withExtendedLifetime(select) {
            while try SQLiteValues.step(s, reading: "source \(source.name)") {
                for (i, key) in spec.joinKeys.enumerated() { values[i] = SQLiteValues.read(s, 1 + Int32(i), as: key.type) }
                for (i, column) in columns.enumerated() {
                    values[keyNames.count + i] = SQLiteValues.read(s, 3 + keyCount + Int32(i), as: column.type)
                }
                let created: Int64? = sqlite3_column_type(s, 2 + keyCount) != SQLITE_NULL ? sqlite3_column_int64(s, 2 + keyCount) : nil
                try folder.add(
                    values, sequence: sqlite3_column_int64(s, 0), eventTime: sqlite3_column_int64(s, 1 + keyCount), created: created,
                    emit: emit)
            }
        }
        try folder.finish(emit: emit)
    }
}

/// Folds source rows, given in (entity, event time) order, into tiles: per hop size, the tile
/// being filled for the current entity, handed on in batches as each is complete.
package struct TileFolder {
    let layout: TileLayout
    let keyCount: Int
    let inputs: [Evaluator]
    /// Per hop size, the start of the first hop the run rebuilds.
    let firstHop: [Int64]
    private var batch = TileBatch()
    private var current: [(hopStart: Int64, tile: [AggregationState], watermark: Int64)?]
    private var currentKeys: [Value] = []
    private var eventInputs: [Value]

    init(view: FeatureView, keyCount: Int, start: Int64, inputs: [Evaluator]) {
        layout = view.tileLayout
        self.keyCount = keyCount
        self.inputs = inputs
        firstHop = layout.groups.map { WindowRule.hopStart(start, hop: $0.hop) }
        current = Array(repeating: nil, count: layout.groups.count)
        eventInputs = Array(repeating: .null, count: layout.inputs.count)
    }

    /// Adds one source row: `values` holds the keys, then ``TileBuilder/columns``.
    package mutating func add(
        _ values: [Value], sequence: Int64, eventTime: Int64, created: Int64?, emit: (TileBatch) throws -> Void
    ) throws {
        if !currentKeys.elementsEqual(values.prefix(keyCount)) {
            for g in layout.groups.indices { try flush(g, emit: emit) }
            currentKeys = Array(values.prefix(keyCount))
        }
        for (i, evaluate) in inputs.enumerated() { eventInputs[i] = evaluate(values) }
        let order = EventOrder(eventTime: eventTime, createdTime: created, sequence: sequence)
        for g in layout.groups.indices where eventTime >= firstHop[g] {
            let hopStart = WindowRule.hopStart(eventTime, hop: layout.groups[g].hop)
            if current[g]?.hopStart != hopStart {
                try flush(g, emit: emit)
                current[g] = (hopStart, layout.emptyTile(group: g), .min)
            }
            layout.add(eventInputs, order: order, to: &current[g]!.tile, group: g)
            current[g]!.watermark = max(current[g]!.watermark, sequence)
        }
    }

    /// Hands on the tiles still being filled, and the last batch.
    package mutating func finish(emit: (TileBatch) throws -> Void) throws {
        for g in layout.groups.indices { try flush(g, emit: emit) }
        if !batch.hops.isEmpty { try emit(batch) }
        batch = TileBatch()
    }

    private mutating func flush(_ g: Int, emit: (TileBatch) throws -> Void) throws {
        guard let pending = current[g] else { return }
        current[g] = nil
        batch.keys += currentKeys
        batch.hops.append(layout.groups[g].hop)
        batch.hopStarts.append(pending.hopStart)
        batch.watermarks.append(pending.watermark)
        batch.bytes += layout.encode(pending.tile, group: g)
        batch.ends.append(batch.bytes.count)
        if batch.hops.count == TileBatch.size {
            try emit(batch)
            batch = TileBatch()
        }
    }
}

extension OfflineStore {
    /// The tiles of a view worth holding online, by entity: for each entity and hop, the
    /// tiles no window can leave out from its newest tile on (hop start at least the newest's
    /// minus the longest window on that hop), and only those with a hop start from `from` on
    /// when given (the tiles a run rebuilt). Entities are visited by a skip scan of the tile
    /// table's key, each with two seeks per hop size; batches of up to 1,000 entities, from one
    /// read of one snapshot.
    public func retainedTiles(of view: FeatureView, from: Int64?) -> BlockingStream<[EntityTiles]> {
        streaming { emit in try self.retainedTiles(of: view, from: from, batch: emit) }
    }

    /// The blocking body of ``retainedTiles(of:from:)``: `batch` gets each batch.
    func retainedTiles(of view: FeatureView, from: Int64?, batch: ([EntityTiles]) throws -> Void) throws {
        let (spec, version) = try registeredView(view)
        let layout = view.tileLayout
        guard !layout.isEmpty else { return }
        let table = TileTable(view: spec, version: version)
        try db.read { db in
            guard try db.tableExists(table.name) else { return }
            let sameKeys = table.keyNames.map { "\($0) = ?" }.joined(separator: " AND ")
            let newest = try db.makeStatement(sql: "SELECT max(_hop_start) FROM \(table.name) WHERE \(sameKeys) AND _hop = ?")
            let range = try db.makeStatement(
                sql:
                    "SELECT _hop_start, _watermark, _tile FROM \(table.name) WHERE \(sameKeys) AND _hop = ? AND _hop_start >= ? ORDER BY _hop_start"
            )
            try withExtendedLifetime((newest, range)) {
                try inBatches(of: 1000, to: batch) { add in
                    try Self.skipScanKeys(db, table: table.name, keys: spec.joinKeys) { entity in
                        var tiles: [StoredTile] = []
                        for (g, group) in layout.groups.enumerated() {
                            let n = newest.sqliteStatement
                            for (i, key) in entity.enumerated() { SQLiteValues.bind(n, Int32(i + 1), key) }
                            sqlite3_bind_int64(n, Int32(entity.count + 1), group.hop)
                            // No row, or a null maximum: the entity has no tile of this hop size.
                            guard try SQLiteValues.step(n, reading: table.name), sqlite3_column_type(n, 0) != SQLITE_NULL else {
                                sqlite3_reset(n)
                                continue
                            }
                            let oldest = max(layout.oldestKept(group: g, newest: sqlite3_column_int64(n, 0)), from ?? .min)
                            sqlite3_reset(n)
                            let r = range.sqliteStatement
                            for (i, key) in entity.enumerated() { SQLiteValues.bind(r, Int32(i + 1), key) }
                            sqlite3_bind_int64(r, Int32(entity.count + 1), group.hop)
                            sqlite3_bind_int64(r, Int32(entity.count + 2), oldest)
                            while try SQLiteValues.step(r, reading: table.name) {
                                let count = Int(sqlite3_column_bytes(r, 2))
                                let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(r, 2), count: count))
                                tiles.append(
                                    StoredTile(
                                        group: g, hopStart: sqlite3_column_int64(r, 0), watermark: sqlite3_column_int64(r, 1), bytes: bytes)
                                )
                            }
                            sqlite3_reset(r)
                        }
                        guard !tiles.isEmpty else { return }
                        try add(EntityTiles(keys: entity, tiles: tiles))
                    }
                }
            }
        }
    }
}
