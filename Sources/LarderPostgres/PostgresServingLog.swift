import LarderCore
import LarderOffline
import Logging
import PostgresNIO

extension PostgresStore {
    /// Appends entries to the serving log in one statement (all or none), in order; their ids
    /// are assigned by the table's identity. No advisory lock: appends do not conflict.
    public func appendServingLog(_ entries: [ServingLogEntry]) async throws {
        guard !entries.isEmpty else { return }
        let texts = entries.map(\.columnTexts)
        var bindings = PostgresBindings()
        bindings.append(entries.map(\.servedAt.microseconds))
        bindings.append(entries.map(\.endpoint))
        // PostgresNIO sends no NULL inside an array: an empty text stands for it (a service
        // name and a JSON object are never empty).
        bindings.append(entries.map { $0.service ?? "" })
        bindings.append(texts.map(\.entity))
        bindings.append(texts.map { $0.request ?? "" })
        bindings.append(texts.map(\.features))
        let binds = bindings
        try await transaction("serving log of larder serve (\(entries.count) entries)") { connection in
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO larder_serving_log (served_at, endpoint, service, entity, request, features)
                        SELECT served_at, endpoint, NULLIF(service, ''), entity, NULLIF(request, ''), features
                        FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
                            AS e(served_at, endpoint, service, entity, request, features, n)
                        ORDER BY n
                        """, binds: binds), logger: self.logger)
        }
    }

    /// Every entry served in `[since, until)` (nil: unbounded), in id order, from one snapshot,
    /// in batches of `batchSize`.
    public func servingLogEntries(since: Timestamp? = nil, until: Timestamp? = nil, batchSize: Int = 256) -> CursorBatches<
        ServingLogBatcher
    > {
        CursorBatches(store: self) { _ in
            (Self.servingLogQuery(since: since, until: until, features: true), ServingLogBatcher(size: batchSize))
        }
    }

    /// The serving log as a training set (see `OfflineStore.buildTrainingSetFromServingLog`):
    /// the same table from the same entries, read twice in one snapshot.
    public func buildTrainingSetFromServingLog(_ request: ServingLogTrainingSetRequest) async throws -> TrainingSetSummary {
        _ = try ServingLogTable(request)  // checks the request before connecting
        return try await transaction("building a training set from the serving log", readOnly: true) { connection in
            var table = try ServingLogTable(request)
            try await self.forEachServingLogEntry(connection, since: request.since, until: request.until, features: false) {
                table.observe($0)
            }
            let firstID = try table.firstEntry()
            var references = request.features ?? []
            if request.features == nil {
                try await self.forEachServingLogEntry(connection, since: nil, until: nil, id: firstID, features: true) {
                    references = $0.features.map(\.reference)
                }
            }
            try table.start(features: references)
            try await self.forEachServingLogEntry(connection, since: request.since, until: request.until, features: true) {
                try table.write($0)
            }
            return try table.finish()
        }
    }

    private static func servingLogQuery(since: Timestamp?, until: Timestamp?, id: Int64? = nil, features: Bool) -> String {
        var conditions: [String] = []
        if let id { conditions.append("id = \(id)") }
        if let since { conditions.append("served_at >= \(since.microseconds)") }
        if let until { conditions.append("served_at < \(until.microseconds)") }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return
            "SELECT id, served_at, endpoint, service, entity, request, \(features ? "features" : "NULL::text") FROM larder_serving_log\(filter) ORDER BY id"
    }

    private func forEachServingLogEntry(
        _ connection: PostgresConnection, since: Timestamp?, until: Timestamp?, id: Int64? = nil, features: Bool,
        _ body: (ServingLogEntry) throws -> Void
    ) async throws {
        let sql = Self.servingLogQuery(since: since, until: until, id: id, features: features)
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) {
            try body(try ServingLogBatcher.entry(row.makeRandomAccess()))
        }
    }
}

/// Rows of the serving log, as entries, in batches.
public struct ServingLogBatcher: RowBatcher {
    let size: Int
    var batch: [ServingLogEntry] = []

    static func entry(_ row: PostgresRandomAccessRow) throws -> ServingLogEntry {
        try ServingLogEntry(
            id: try row[0].decode(Int64.self), servedAt: Timestamp(microseconds: try row[1].decode(Int64.self)),
            endpoint: try row[2].decode(String.self), service: try row[3].decode(String?.self), entity: try row[4].decode(String.self),
            request: try row[5].decode(String?.self), features: try row[6].decode(String?.self))
    }

    public mutating func add(_ row: PostgresRandomAccessRow) throws -> [ServingLogEntry]? {
        batch.append(try Self.entry(row))
        guard batch.count >= size else { return nil }
        defer { batch.removeAll(keepingCapacity: true) }
        return batch
    }

    public mutating func finish() -> [ServingLogEntry]? { batch.isEmpty ? nil : batch }
}

extension PostgresStore {
    /// The distinct join keys of a view's feature table, then of its tile table (an entity in
    /// both comes twice), each in key order (SQLite's: strings by bytes), in batches; none for a view never materialized. What `larder verify`
    /// samples.
    public func entityKeys(of view: FeatureView, batchSize: Int = 1000) -> CursorBatches<EntityKeyBatcher> {
        CursorBatches(store: self) { connection in
            let (spec, version) = try OfflineStore.registeredView(
                view, registered: try await PostgresRegistry.definitions(connection, store: self, named: view.name).first)
            var tables = [PostgresFeatureTable(view: spec, version: version).name]
            if !view.aggregations.isEmpty { tables.append(PostgresTileTable(view: spec, version: version).name) }
            var selects: [String] = []
            let keys = spec.joinKeys.map(\.name).joined(separator: ", ")
            let order = spec.joinKeys.map { $0.type == .string ? "\($0.name) COLLATE \"C\"" : $0.name }.joined(separator: ", ")
            for table in tables where try await !PostgresRegistry.columns(connection, table: table, store: self).isEmpty {
                selects.append("(SELECT DISTINCT \(keys) FROM \(table) ORDER BY \(order))")
            }
            guard !selects.isEmpty else { return nil }
            return (selects.joined(separator: " UNION ALL "), EntityKeyBatcher(keys: spec.joinKeys, size: batchSize))
        }
    }
}

/// Rows of join keys, in batches.
public struct EntityKeyBatcher: RowBatcher {
    let keys: [ColumnSpec]
    let size: Int
    var batch: [[Value]] = []

    public mutating func add(_ row: PostgresRandomAccessRow) throws -> [[Value]]? {
        batch.append(try keys.enumerated().map { k, key in try row[k].value(as: key.type) })
        guard batch.count >= size else { return nil }
        defer { batch.removeAll(keepingCapacity: true) }
        return batch
    }

    public mutating func finish() -> [[Value]]? { batch.isEmpty ? nil : batch }
}
