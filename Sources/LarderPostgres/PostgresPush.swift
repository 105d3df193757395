import LarderCore
import LarderOffline
import PostgresNIO

/// What the push after a materialization reads from a PostgreSQL store: the same as from the
/// SQLite store (each entity's latest row, the tiles worth holding online, the last push's
/// record), so `MaterializedPush` runs on either.
extension PostgresStore {
    /// The registered spec and version of a compiled view, or the refusal when it is not
    /// registered as compiled.
    public func registeredView(_ view: FeatureView) async throws -> (spec: FeatureViewSpec, version: Int) {
        try OfflineStore.registeredView(view, registered: try await registry.definition(named: view.name))
    }

    /// The materialization state, newest materialized event, last run and last push of a
    /// view version, as the SQLite store reports them.
    public func freshness(of view: FeatureViewSpec, version: Int) async throws -> ViewFreshness {
        let state = try await materializationState(view: view.name, version: version)
        let online = try await onlinePushState(view: view.name, version: version)
        return try await transaction("reading the freshness of \(view.name) v\(version)", readOnly: true) { connection in
            var newest: Int64?
            let features = PostgresFeatureTable(view: view, version: version).name
            if !view.features.isEmpty, try await !PostgresRegistry.columns(connection, table: features, store: self).isEmpty {
                newest = try await Self.int64(connection, "SELECT max(_event_ts) FROM \(features)", logger: self.logger)
            }
            let tiles = PostgresTileTable(view: view, version: version).name
            if !(view.aggregations ?? []).isEmpty, try await !PostgresRegistry.columns(connection, table: tiles, store: self).isEmpty,
                let hopStart = try await Self.int64(connection, "SELECT max(_hop_start) FROM \(tiles)", logger: self.logger)
            {
                newest = max(newest ?? .min, hopStart)  // tiles know their hop, not their newest event
            }
            var lastRun: (finishedAt: Timestamp, rows: Int, incremental: Bool)?
            for try await (finished, rows, incremental) in try await connection.query(
                """
                SELECT finished_at, rows, incremental FROM larder_materialization_runs
                WHERE view = \(view.name) AND version = \(version) ORDER BY finished_at DESC LIMIT 1
                """, logger: self.logger
            ).decode((Int64, Int, Bool).self) {
                lastRun = (Timestamp(microseconds: finished), rows, incremental)
            }
            return ViewFreshness(
                state: state, newestEvent: newest.map(Timestamp.init(microseconds:)), lastRun: lastRun, online: online)
        }
    }

    /// The last successful online push of a view version, if any.
    public func onlinePushState(view: String, version: Int) async throws -> OnlinePushState? {
        try await transaction("reading the online push of \(view) v\(version)", readOnly: true) { connection in
            let rows = try await connection.query(
                """
                SELECT online_seq_watermark, online_end, online_marker, online_marker_slots FROM larder_materializations
                WHERE view = \(view) AND version = \(version)
                """, logger: self.logger)
            var state: OnlinePushState?
            for try await (seq, end, marker, slots) in rows.decode((Int64?, Int64?, String?, String?).self) {
                if let seq, let end {
                    state = OnlinePushState(
                        seqWatermark: seq, end: Timestamp(microseconds: end), marker: marker,
                        markerSlots: OnlinePushState.slots(fromText: slots))
                }
            }
            return state
        }
    }

    /// Records that the rows a materialization state covers are now online, under `marker`
    /// left at `markerSlots` (see ``OnlinePushState/markerSlots``).
    public func recordOnlinePush(_ state: MaterializationState, marker: String, markerSlots: [Int]?) async throws {
        try await transaction("push of \(state.view) v\(state.version) to Redis (recording it)") { connection in
            try await connection.query(
                """
                UPDATE larder_materializations SET online_seq_watermark = \(state.seqWatermark),
                    online_end = \(state.end.microseconds), online_marker = \(marker),
                    online_marker_slots = \(OnlinePushState.slotsText(markerSlots))
                WHERE view = \(state.view) AND version = \(state.version)
                """, logger: self.logger)
        }
    }

    /// Each entity's latest row with an event time before `end`, in batches of `batchSize`:
    /// every entity of the view, or with `changedSince`, only entities with rows materialized
    /// after that push (later `_seq`) or whose event time reached `[changedSince.end, end)`.
    ///
    /// "Latest" is the SQLite store's order: event time, then created time with no created
    /// time last, then `_seq`. (PostgreSQL puts NULL first in a descending order, SQLite last:
    /// hence `NULLS LAST`.)
    public func latestRows(
        of view: FeatureView, end: Timestamp, changedSince: OnlinePushState? = nil, batchSize: Int = 1000
    ) -> CursorBatches<LatestRowBatcher> {
        CursorBatches(store: self) { connection in
            let (spec, version) = try OfflineStore.registeredView(
                view, registered: try await PostgresRegistry.definitions(connection, store: self, named: view.name).first)
            let table = PostgresFeatureTable(view: spec, version: version)
            guard try await !PostgresRegistry.columns(connection, table: table.name, store: self).isEmpty else { return nil }
            let keys = table.keyNames.joined(separator: ", ")
            var condition = "_event_ts < \(end.microseconds)"
            if let since = changedSince {
                condition += """
                     AND (\(keys)) IN (SELECT \(keys) FROM \(table.name) WHERE _seq > \(since.seqWatermark)
                    OR (_event_ts >= \(since.end.microseconds) AND _event_ts < \(end.microseconds)))
                    """
            }
            let sql = """
                SELECT DISTINCT ON (\(keys)) \(keys), _event_ts, _created_ts, _seq, \(spec.features.map(\.name).joined(separator: ", "))
                FROM \(table.name) WHERE \(condition)
                ORDER BY \(keys), _event_ts DESC, _created_ts DESC NULLS LAST, _seq DESC
                """
            return (sql, LatestRowBatcher(spec: spec, size: batchSize))
        }
    }

    /// The tiles of a view worth holding online, by entity: for each entity and hop, the tiles
    /// no window can leave out from its newest tile on, and only those with a hop start from
    /// `from` on when given (the tiles a run rebuilt); batches of up to 1,000 entities.
    public func retainedTiles(of view: FeatureView, from: Int64?) -> CursorBatches<EntityTileBatcher> {
        CursorBatches(store: self) { connection in
            let layout = view.tileLayout
            guard !layout.isEmpty else { return nil }
            let (spec, version) = try OfflineStore.registeredView(
                view, registered: try await PostgresRegistry.definitions(connection, store: self, named: view.name).first)
            let table = PostgresTileTable(view: spec, version: version)
            guard try await !PostgresRegistry.columns(connection, table: table.name, store: self).isEmpty else { return nil }
            let keys = spec.joinKeys.map(\.name)
            let joined = keys.map { "t.\($0)" }.joined(separator: ", ")
            // The oldest hop start kept: the newest minus the group's span (TileLayout.oldestKept).
            let span = "CASE t._hop " + layout.groups.map { "WHEN \($0.hop) THEN \($0.span)" }.joined(separator: " ") + " END"
            let sql = """
                SELECT \(joined), t._hop, t._hop_start, t._watermark, t._tile FROM \(table.name) t
                JOIN (SELECT \(keys.joined(separator: ", ")), _hop, max(_hop_start) AS newest FROM \(table.name)
                      GROUP BY \(keys.joined(separator: ", ")), _hop) n USING (\(keys.joined(separator: ", ")), _hop)
                WHERE t._hop_start >= n.newest - \(span) AND t._hop_start >= \(from ?? Int64.min)
                ORDER BY \(joined), t._hop, t._hop_start
                """
            return (sql, EntityTileBatcher(spec: spec, layout: layout))
        }
    }
}

/// Rows of `latestRows`: keys, event time, created time, `_seq`, features.
public struct LatestRowBatcher: RowBatcher {
    let spec: FeatureViewSpec
    let size: Int
    var batch: [FeatureRow] = []

    public mutating func add(_ row: PostgresRandomAccessRow) throws -> [FeatureRow]? {
        let k = spec.joinKeys.count
        let keys = try spec.joinKeys.enumerated().map { i, key in try row[i].value(as: key.type) }
        let created = try row[k + 1].value(as: .timestamp)
        guard case .timestamp(let eventTime) = try row[k].value(as: .timestamp),
            case .int64(let sequence) = try row[k + 2].value(as: .int64)
        else { throw OfflineStoreError("a feature row of \(spec.name) without event time or _seq") }
        let values = try spec.features.enumerated().map { i, feature in try row[k + 3 + i].value(as: feature.type) }
        batch.append(
            FeatureRow(
                keys: keys, eventTime: eventTime, createdTime: created == .null ? nil : created.timestamp, sequence: sequence,
                values: values))
        guard batch.count >= size else { return nil }
        defer { batch.removeAll(keepingCapacity: true) }
        return batch
    }

    public mutating func finish() -> [FeatureRow]? { batch.isEmpty ? nil : batch }
}

/// Rows of `retainedTiles`, in (keys, hop, hop start) order, gathered by entity.
public struct EntityTileBatcher: RowBatcher {
    let spec: FeatureViewSpec
    let layout: TileLayout
    var batch: [EntityTiles] = []
    var current: EntityTiles?

    public mutating func add(_ row: PostgresRandomAccessRow) throws -> [EntityTiles]? {
        let k = spec.joinKeys.count
        let keys = try spec.joinKeys.enumerated().map { i, key in try row[i].value(as: key.type) }
        let hop = try row[k].decode(Int64.self)
        guard let group = layout.groups.firstIndex(where: { $0.hop == hop }) else {
            throw OfflineStoreError("a tile of \(spec.name) has hop \(hop), which the view's aggregations do not use")
        }
        var bytes = try row[k + 3].decode(ByteBuffer.self)
        let tile = StoredTile(
            group: group, hopStart: try row[k + 1].decode(Int64.self), watermark: try row[k + 2].decode(Int64.self),
            bytes: bytes.readBytes(length: bytes.readableBytes) ?? [])
        var full: [EntityTiles]?
        if current?.keys != keys {
            if let done = current {
                batch.append(done)
                if batch.count >= 1000 {
                    full = batch
                    batch.removeAll(keepingCapacity: true)
                }
            }
            current = EntityTiles(keys: keys, tiles: [])
        }
        current!.tiles.append(tile)
        return full
    }

    public mutating func finish() -> [EntityTiles]? {
        if let done = current { batch.append(done) }
        current = nil
        return batch.isEmpty ? nil : batch
    }
}

extension Value {
    fileprivate var timestamp: Timestamp? {
        if case .timestamp(let t) = self { return t }
        return nil
    }
}
