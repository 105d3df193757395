import LarderCore

/// The offline feature table of one feature view version: `features_<view>_v<version>`.
///
/// One row per source row, keyed by the source row's `_seq`, so materializing a row again
/// replaces it (re-runs converge, never duplicate). Columns: `_seq`, the join keys,
/// `_event_ts`, `_created_ts`, then one nullable column per feature. The index on
/// (keys, `_event_ts`, `_created_ts`) makes a point-in-time lookup one backwards seek: its
/// implicit last column is the rowid `_seq`, which breaks the remaining ties (latest ingested).
struct FeatureTable: Sendable {
    let view: FeatureViewSpec
    let version: Int

    var name: String { "features_\(view.name)_v\(version)" }

    var keyNames: [String] { view.joinKeys.map(\.name) }

    var createTable: String {
        var columns = ["_seq INTEGER PRIMARY KEY"]
        columns += view.joinKeys.map { SourceTable.columnDefinition($0) }
        columns += ["_event_ts INTEGER NOT NULL", "_created_ts INTEGER"]
        columns += view.features.map { "\($0.name) \(SourceTable.sqlType($0.type))" }
        return "CREATE TABLE IF NOT EXISTS \(name) (\n    \(columns.joined(separator: ",\n    "))\n) STRICT"
    }

    var indexName: String { "\(name)_by_key_time" }

    /// The point-in-time lookup index (see `Materializer` for when it is built after the rows).
    var createIndex: String {
        "CREATE INDEX IF NOT EXISTS \(indexName) ON \(name) (\(keyNames.joined(separator: ", ")), _event_ts, _created_ts)"
    }

    /// `INSERT OR REPLACE` of one row: `_seq`, keys, event time, created time, features.
    var upsertSQL: String {
        let columns = ["_seq"] + keyNames + ["_event_ts", "_created_ts"] + view.features.map(\.name)
        return
            "INSERT OR REPLACE INTO \(name) (\(columns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))"
    }

    /// The latest row of one entity before an end: parameters are the keys then the end
    /// (exclusive); the row is `_event_ts`, `_created_ts`, `_seq`, then the features.
    var latestSQL: String {
        let keys = keyNames.map { "\($0) = ?" }.joined(separator: " AND ")
        return """
            SELECT _event_ts, _created_ts, _seq, \(view.features.map(\.name).joined(separator: ", ")) FROM \(name)
            WHERE \(keys) AND _event_ts < ?
            ORDER BY _event_ts DESC, _created_ts DESC, _seq DESC LIMIT 1
            """
    }

    /// The point-in-time lookup: parameters are the keys then T; the row is
    /// `_event_ts`, then the features.
    var lookupSQL: String {
        let keys = keyNames.map { "\($0) = ?" }.joined(separator: " AND ")
        return """
            SELECT _event_ts, \(view.features.map(\.name).joined(separator: ", ")) FROM \(name)
            WHERE \(keys) AND _event_ts <= ?
            ORDER BY _event_ts DESC, _created_ts DESC, _seq DESC LIMIT 1
            """
    }
}

/// What a feature view version's offline table covers: every source row with an event time
/// in `start..<end` and an ingest sequence up to `seqWatermark` has been materialized.
public struct MaterializationState: Sendable, Equatable {
    public var view: String
    public var version: Int
    public var start: Timestamp
    public var end: Timestamp
    public var seqWatermark: Int64
    public var updatedAt: Timestamp

    package init(view: String, version: Int, start: Timestamp, end: Timestamp, seqWatermark: Int64, updatedAt: Timestamp) {
        self.view = view
        self.version = version
        self.start = start
        self.end = end
        self.seqWatermark = seqWatermark
        self.updatedAt = updatedAt
    }
}
