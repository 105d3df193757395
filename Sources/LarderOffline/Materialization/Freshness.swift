import GRDB
import LarderCore

/// How fresh a view version's materialized data is, for `larder describe`.
public struct ViewFreshness: Sendable {
    /// The covered interval and watermark; nil when never materialized.
    public var state: MaterializationState?
    /// The newest event time among the materialized rows (row features) or tiles
    /// (aggregations); nil when there are none.
    public var newestEvent: Timestamp?
    /// The last materialization run: when it finished and how many source rows it read.
    public var lastRun: (finishedAt: Timestamp, rows: Int, incremental: Bool)?
    /// The last successful push to Redis, if any.
    public var online: OnlinePushState?

    package init(
        state: MaterializationState?, newestEvent: Timestamp?, lastRun: (finishedAt: Timestamp, rows: Int, incremental: Bool)?,
        online: OnlinePushState?
    ) {
        self.state = state
        self.newestEvent = newestEvent
        self.lastRun = lastRun
        self.online = online
    }
}

extension OfflineStore {
    /// The materialization state, newest materialized event, last run and last push of a
    /// view version.
    public func freshness(of view: FeatureViewSpec, version: Int) async throws -> ViewFreshness {
        try await reading { try self.freshness(of: view, version: version) }
    }

    /// The blocking body of the async ``freshness(of:version:)``, run on ``Blocking``'s pool.
    func freshness(of view: FeatureViewSpec, version: Int) throws -> ViewFreshness {
        let state = try materializationState(view: view.name, version: version)
        let online = try onlinePushState(view: view.name, version: version)
        return try db.read { db in
            var newest: Int64? = nil
            let features = FeatureTable(view: view, version: version)
            if !view.features.isEmpty, try db.tableExists(features.name) {
                // The index leads with the keys: max over every key, one seek each would be
                // faster on huge tables, but describe is interactive and rare.
                newest = try Int64.fetchOne(db, sql: "SELECT max(_event_ts) FROM \(features.name)")
            }
            let tiles = TileTable(view: view, version: version)
            if !(view.aggregations ?? []).isEmpty, try db.tableExists(tiles.name),
                let hopStart = try Int64.fetchOne(db, sql: "SELECT max(_hop_start) FROM \(tiles.name)")
            {
                newest = max(newest ?? .min, hopStart)  // tiles know their hop, not their newest event
            }
            let run = try Row.fetchOne(
                db,
                sql: """
                    SELECT finished_at, rows, incremental FROM larder_materialization_runs
                    WHERE view = ? AND version = ? ORDER BY finished_at DESC LIMIT 1
                    """,
                arguments: [view.name, version])
            return ViewFreshness(
                state: state, newestEvent: newest.map(Timestamp.init(microseconds:)),
                lastRun: run.map { (Timestamp(microseconds: $0["finished_at"]), $0["rows"], ($0["incremental"] as Int) != 0) },
                online: online)
        }
    }
}
