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
    let view: FeatureView
    let spec: FeatureViewSpec
    let source: SourceSpec
    /// The aggregations computed: the ones the training set needs.
    let layout: TileLayout
    /// For each of the view's aggregations, its position in ``layout`` (nil: not computed).
    let positions: [Int?]
    /// The source columns read, in select order after `_seq`, event time and created time.
    private let columns: [ColumnSpec]
    /// The join keys (indexes into the entity's keys) laid out after ``columns`` in a row.
    private let keyTail: [Int]
    private let inputs: [Evaluator]
    private let statement: Statement

    /// The request instants of each entity, with their row numbers.
    typealias Requests = [[Value]: [(t: Int64, row: Int)]]

    /// - Parameter needed: the names of the aggregations to compute.
    init(_ db: Database, view: FeatureView, spec: FeatureViewSpec, source: SourceSpec, needed: Set<String>) throws {
        self.view = view
        self.spec = spec
        self.source = source
        let layout = view.tileLayout.restricted(to: needed)
        self.layout = layout
        positions = view.aggregations.map { a in layout.aggregations.firstIndex { $0.name == a.name } }
        // Only the columns the computed aggregations read: with the covering index `apply`
        // made (SourceTable.aggregationIndex), the read never touches the table itself.
        let read = spec.aggregationColumns(of: needed)
        let columns = source.columns.filter { read.contains($0.name) }
        self.columns = columns
        // Rows are laid out as the columns read, then the join keys not among them: those are
        // bound, not read, and filled once per entity (``load``).
        let keyNames = spec.joinKeys.map(\.name)
        let keyTail = keyNames.indices.filter { k in !columns.contains { $0.name == keyNames[k] } }
        self.keyTail = keyTail
        do {
            inputs =
                try RowProjector(
                    aggregationsOf: view, tiles: layout, columns: columns.map(\.name) + keyTail.map { keyNames[$0] }
                ).tileInputs
        } catch {
            throw OfflineStoreError(error.description)
        }
        let ts = source.eventTimestamp
        let keys = spec.joinKeys.map { "\($0.name) = ?" }.joined(separator: " AND ")
        let selected = ([ts] + [source.createdTimestamp ?? "NULL"] + columns.map(\.name)).joined(separator: ", ")
        let order = source.createdTimestamp.map { "\(ts), \($0), _seq" } ?? "\(ts), _seq"
        statement = try db.makeStatement(
            sql: "SELECT _seq, \(selected) FROM source_\(source.name) WHERE \(keys) AND \(ts) >= ? AND \(ts) <= ? ORDER BY \(order)")
    }

    /// The values of the computed aggregations for every request: `results[row * count + a]`,
    /// `a` indexing ``layout``.
    func compute(_ requests: Requests, rows: Int) throws -> [Value] {
        let count = layout.aggregations.count
        var results = [Value](repeating: .null, count: rows * count)
        var sweep = WindowSweep(layout: layout)
        var events = KeyEvents(inputCount: layout.inputs.count)
        for (keys, instants) in requests {
            let sorted = instants.sorted { $0.t < $1.t }
            try load(keys, from: earliestStart(sorted.first!.t), through: sorted.last!.t, into: &events)
            sweep.reset(events)
            for (t, row) in sorted {
                let values = sweep.values(at: t)
                for a in 0..<count { results[row * count + a] = values[a] }
            }
        }
        return results
    }

    /// The values of the computed aggregations at one instant for one entity (`--at`).
    func values(keys: [Value], at t: Int64) throws -> [Value] {
        var events = KeyEvents(inputCount: layout.inputs.count)
        try load(keys, from: earliestStart(t), through: t, into: &events)
        var sweep = WindowSweep(layout: layout)
        sweep.reset(events)
        return sweep.values(at: t)
    }

    /// The first event time any window reaches at instant `t`.
    private func earliestStart(_ t: Int64) -> Int64 {
        layout.aggregations.map { WindowRule.windowStart(at: t, window: $0.window, hop: $0.hop) }.min() ?? t
    }

    /// The entity's events with event times in `from...through`, in event order.
    private func load(_ keys: [Value], from: Int64, through: Int64, into events: inout KeyEvents) throws {
        events.removeAll()
        let s = statement.sqliteStatement
        for (i, key) in keys.enumerated() { SQLiteValues.bind(s, Int32(i + 1), key) }
        sqlite3_bind_int64(s, Int32(keys.count + 1), from)
        sqlite3_bind_int64(s, Int32(keys.count + 2), through)
        defer { sqlite3_reset(s) }
        let hasCreated = source.createdTimestamp != nil
        let offset: Int32 = 3
        var row = [Value](repeating: .null, count: columns.count + keyTail.count)
        for (i, k) in keyTail.enumerated() { row[columns.count + i] = keys[k] }
        var eventInputs = [Value](repeating: .null, count: inputs.count)
        try withExtendedLifetime(statement) {
            while try SQLiteValues.step(s, reading: "source \(source.name)") {
                for (i, column) in columns.enumerated() { row[i] = SQLiteValues.read(s, offset + Int32(i), as: column.type) }
                for (i, evaluate) in inputs.enumerated() { eventInputs[i] = evaluate(row) }
                let created: Int64? = hasCreated && sqlite3_column_type(s, 2) != SQLITE_NULL ? sqlite3_column_int64(s, 2) : nil
                events.append(
                    order: EventOrder(eventTime: sqlite3_column_int64(s, 1), createdTime: created, sequence: sqlite3_column_int64(s, 0)),
                    inputs: eventInputs)
            }
        }
    }
}
