import GRDB
import GRDBSQLite
import LarderCore

/// What the last successful push of a view version to the online store covered, and the
/// marker it left in Redis (so a Redis that lost its data is noticed).
public struct OnlinePushState: Sendable, Equatable {
    public var seqWatermark: Int64
    public var end: Timestamp
    public var marker: String?
    /// Where the marker was left: `nil` for one Redis server (one marker key), else one slot
    /// of each primary of the cluster (a marker key in each).
    public var markerSlots: [Int]?

    package init(seqWatermark: Int64, end: Timestamp, marker: String?, markerSlots: [Int]? = nil) {
        self.seqWatermark = seqWatermark
        self.end = end
        self.marker = marker
        self.markerSlots = markerSlots
    }

    /// The text the offline stores keep `markerSlots` as: slots separated by spaces.
    package static func slotsText(_ slots: [Int]?) -> String? {
        slots.map { $0.map(String.init).joined(separator: " ") }
    }

    /// `markerSlots` from ``slotsText(_:)``.
    package static func slots(fromText text: String?) -> [Int]? {
        text.map { $0.split(separator: " ").compactMap { Int($0) } }
    }
}

extension OfflineStore {
    /// The last successful online push of a view version, if any.
    public func onlinePushState(view: String, version: Int) async throws -> OnlinePushState? {
        try await reading { try self.onlinePushState(view: view, version: version) }
    }

    /// The blocking body of the async ``onlinePushState(view:version:)``, run on ``Blocking``'s pool.
    func onlinePushState(view: String, version: Int) throws -> OnlinePushState? {
        try db.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql:
                        """
                        SELECT online_seq_watermark, online_end, online_marker, online_marker_slots
                        FROM larder_materializations WHERE view = ? AND version = ?
                        """,
                    arguments: [view, version]),
                let seq = row["online_seq_watermark"] as Int64?, let end = row["online_end"] as Int64?
            else { return nil }
            return OnlinePushState(
                seqWatermark: seq, end: Timestamp(microseconds: end), marker: row["online_marker"],
                markerSlots: OnlinePushState.slots(fromText: row["online_marker_slots"]))
        }
    }

    /// Records that the rows a materialization state covers are now online, under `marker`
    /// left at `markerSlots` (see ``OnlinePushState/markerSlots``).
    public func recordOnlinePush(_ state: MaterializationState, marker: String, markerSlots: [Int]?) async throws {
        try await writing { try self.recordOnlinePush(state, marker: marker, markerSlots: markerSlots) }
    }

    /// The blocking body of the async ``recordOnlinePush(_:marker:markerSlots:)``, run on ``Blocking``'s pool.
    func recordOnlinePush(_ state: MaterializationState, marker: String, markerSlots: [Int]?) throws {
        try writeTransaction("push of \(state.view) v\(state.version) to Redis (recording it)") { db in
            try db.execute(
                sql: """
                    UPDATE larder_materializations
                    SET online_seq_watermark = ?, online_end = ?, online_marker = ?, online_marker_slots = ?
                    WHERE view = ? AND version = ?
                    """,
                arguments: [
                    state.seqWatermark, state.end.microseconds, marker, OnlinePushState.slotsText(markerSlots), state.view, state.version,
                ])
        }
    }

    /// Each entity's latest row with an event time before `end`, in batches of `batchSize`:
    /// every entity of the view, or with `changedSince`, only entities with rows materialized
    /// after that push (later `_seq`) or whose event time reached `[changedSince.end, end)`.
    ///
    /// One read of one snapshot. Memory: two batches, plus (for `changedSince`) nothing more:
    /// changed keys are read in key order from SQLite.
    public func latestRows(
        of view: FeatureView, end: Timestamp, changedSince: OnlinePushState? = nil, batchSize: Int = 1000
    ) -> BlockingStream<[FeatureRow]> {
        streaming { emit in
            try self.latestRows(of: view, end: end, changedSince: changedSince, batchSize: batchSize, emit)
        }
    }

    /// The blocking body of ``latestRows(of:end:changedSince:batchSize:)``: `body` gets each batch.
    func latestRows(
        of view: FeatureView, end: Timestamp, changedSince: OnlinePushState?, batchSize: Int,
        _ body: ([FeatureRow]) throws -> Void
    ) throws {
        let (spec, version) = try registeredView(view)
        let table = FeatureTable(view: spec, version: version)
        try db.read { db in
            guard try db.tableExists(table.name) else { return }
            let latestStatement = try db.makeStatement(sql: table.latestSQL)
            let latest = latestStatement.sqliteStatement
            // One entity: its latest row, if it has one before `end`. A failed read throws
            // rather than skip the entity, so a push never records entities it did not write.
            func visit(_ key: [Value], _ add: (FeatureRow) throws -> Void) throws {
                for (i, k) in key.enumerated() { SQLiteValues.bind(latest, Int32(i + 1), k) }
                sqlite3_bind_int64(latest, Int32(key.count + 1), end.microseconds)
                guard try SQLiteValues.step(latest, reading: table.name) else {
                    sqlite3_reset(latest)
                    return
                }
                let created =
                    sqlite3_column_type(latest, 1) == SQLITE_NULL ? nil : Timestamp(microseconds: sqlite3_column_int64(latest, 1))
                let values = spec.features.enumerated().map { i, f in SQLiteValues.read(latest, Int32(i + 3), as: f.type) }
                let row = FeatureRow(
                    keys: key, eventTime: Timestamp(microseconds: sqlite3_column_int64(latest, 0)), createdTime: created,
                    sequence: sqlite3_column_int64(latest, 2), values: values)
                sqlite3_reset(latest)
                try add(row)
            }
            try withExtendedLifetime(latestStatement) {
                try inBatches(of: batchSize, to: body) { add in
                    if let since = changedSince {
                        // The changed entities, in key order.
                        let columns = table.keyNames.joined(separator: ", ")
                        let changed = try db.makeStatement(
                            sql: """
                                SELECT DISTINCT \(columns) FROM \(table.name)
                                WHERE _seq > ? OR (_event_ts >= ? AND _event_ts < ?) ORDER BY \(columns)
                                """)
                        try changed.setArguments([since.seqWatermark, since.end.microseconds, end.microseconds])
                        let keyTypes = spec.joinKeys.map(\.type)
                        try withExtendedLifetime(changed) {
                            let s = changed.sqliteStatement
                            while try SQLiteValues.step(s, reading: "the changed entity keys of \(table.name)") {
                                try visit(keyTypes.enumerated().map { i, type in SQLiteValues.read(s, Int32(i), as: type) }, add)
                            }
                        }
                    } else {
                        // Every entity, by the skip scan of the key index.
                        try Self.skipScanKeys(db, table: table.name, keys: spec.joinKeys) { try visit($0, add) }
                    }
                }
            }
        }
    }
}
