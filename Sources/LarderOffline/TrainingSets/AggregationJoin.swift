import GRDB
import GRDBSQLite
import LarderCore

/// The aggregation features of one view for a training set, computed from the source's raw
/// events by the window rule: per entity, its events in time order (one index range read)
/// and its request instants in increasing order, through a ``WindowSweep``.
///
/// The sweep needs a key's instants sorted, and a request file is in any order, so the
/// builder first collects (key, instant, row) for every request row, computes every value,
/// then writes rows in request order. Memory: one entry per request row and one value per
/// (row, aggregation), plus one entity's events at a time; never the source.
struct AggregationJoin {
    let read: AggregationRead
    private let statement: Statement

    /// The request instants of each entity, with their row numbers.
    typealias Requests = AggregationRead.Requests

    var layout: TileLayout { read.layout }
    var positions: [Int?] { read.positions }

    /// - Parameter needed: the names of the aggregations to compute.
    init(_ db: Database, view: FeatureView, spec: FeatureViewSpec, source: SourceSpec, needed: Set<String>) throws {
        read = try AggregationRead(view: view, spec: spec, source: source, needed: needed)
        let ts = source.eventTimestamp
        let keys = spec.joinKeys.map { "\($0.name) = ?" }.joined(separator: " AND ")
        let selected = ([ts] + [source.createdTimestamp ?? "NULL"] + read.columns.map(\.name)).joined(separator: ", ")
        let order = source.createdTimestamp.map { "\(ts), \($0), _seq" } ?? "\(ts), _seq"
        statement = try db.makeStatement(
            sql: "SELECT _seq, \(selected) FROM source_\(source.name) WHERE \(keys) AND \(ts) >= ? AND \(ts) <= ? ORDER BY \(order)")
    }

    /// The values of the computed aggregations for every request: `results[row * count + a]`,
    /// `a` indexing ``layout``.
    func compute(_ requests: Requests, rows: Int) throws -> [Value] {
        var results = read.emptyResults(rows: rows)
        var sweep = WindowSweep(layout: layout)
        var events = KeyEvents(inputCount: layout.inputs.count)
        for (keys, instants) in requests {
            let sorted = instants.sorted { $0.t < $1.t }
            try load(keys, from: read.earliestStart(sorted.first!.t), through: sorted.last!.t, into: &events)
            read.sweep(&sweep, events, at: sorted, into: &results)
        }
        return results
    }

    /// The values of the computed aggregations at one instant for one entity (`--at`).
    func values(keys: [Value], at t: Int64) throws -> [Value] {
        var events = KeyEvents(inputCount: layout.inputs.count)
        try load(keys, from: read.earliestStart(t), through: t, into: &events)
        var sweep = WindowSweep(layout: layout)
        sweep.reset(events)
        return sweep.values(at: t)
    }

    /// The entity's events with event times in `from...through`, in event order.
    private func load(_ keys: [Value], from: Int64, through: Int64, into events: inout KeyEvents) throws {
        events.removeAll()
        let s = statement.sqliteStatement
        for (i, key) in keys.enumerated() { SQLiteValues.bind(s, Int32(i + 1), key) }
        sqlite3_bind_int64(s, Int32(keys.count + 1), from)
        sqlite3_bind_int64(s, Int32(keys.count + 2), through)
        defer { sqlite3_reset(s) }
        let hasCreated = read.source.createdTimestamp != nil
        let offset: Int32 = 3
        var event = read.eventBuffer(keys: keys)
        try withExtendedLifetime(statement) {
            while try SQLiteValues.step(s, reading: "source \(read.source.name)") {
                for (i, column) in read.columns.enumerated() { event.row[i] = SQLiteValues.read(s, offset + Int32(i), as: column.type) }
                let created: Int64? = hasCreated && sqlite3_column_type(s, 2) != SQLITE_NULL ? sqlite3_column_int64(s, 2) : nil
                read.append(
                    &event,
                    order: EventOrder(eventTime: sqlite3_column_int64(s, 1), createdTime: created, sequence: sqlite3_column_int64(s, 0)),
                    to: &events)
            }
        }
    }
}
