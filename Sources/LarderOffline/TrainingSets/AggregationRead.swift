import LarderCore

/// What a training set reads from a source to compute a view's aggregations, whatever the
/// store: the aggregations it needs (``layout``), the source columns their inputs read, and
/// how one source row becomes a ``WindowSweep`` event. The SQLite store reads each entity's
/// rows with one statement (``AggregationJoin``); the PostgreSQL store reads many entities'
/// rows per query. Both then sweep each entity's request instants the same way
/// (``sweep(_:_:at:into:)``), so both compute the same values.
package struct AggregationRead: Sendable {
    package let view: FeatureView
    package let spec: FeatureViewSpec
    package let source: SourceSpec
    /// The aggregations computed: the ones the training set needs.
    package let layout: TileLayout
    /// For each of the view's aggregations, its position in ``layout`` (nil: not computed).
    package let positions: [Int?]
    /// The source columns read, in select order after `_seq`, event time and created time.
    package let columns: [ColumnSpec]
    /// The join keys (indexes into the entity's keys) laid out after ``columns`` in a row.
    private let keyTail: [Int]
    private let inputs: [Evaluator]

    /// The request instants of each entity, with their row numbers.
    package typealias Requests = [[Value]: [(t: Int64, row: Int)]]

    /// - Parameter needed: the names of the aggregations to compute.
    package init(view: FeatureView, spec: FeatureViewSpec, source: SourceSpec, needed: Set<String>) throws {
        self.view = view
        self.spec = spec
        self.source = source
        let layout = view.tileLayout.restricted(to: needed)
        self.layout = layout
        positions = view.aggregations.map { a in layout.aggregations.firstIndex { $0.name == a.name } }
        // Only the columns the computed aggregations read: with the covering index `apply`
        // made, the read never touches the table itself.
        let read = spec.aggregationColumns(of: needed)
        let columns = source.columns.filter { read.contains($0.name) }
        self.columns = columns
        // Rows are laid out as the columns read, then the join keys not among them: those are
        // known, not read, and filled once per entity (``eventBuffer(keys:)``).
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
    }

    /// The first event time any window reaches at instant `t`.
    package func earliestStart(_ t: Int64) -> Int64 {
        layout.aggregations.map { WindowRule.windowStart(at: t, window: $0.window, hop: $0.hop) }.min() ?? t
    }

    /// One entity's source row being read: fill `row[0..<columns.count]` with the columns
    /// read, then ``append(_:order:to:)`` it.
    package struct EventBuffer {
        package var row: [Value]
        fileprivate var inputs: [Value]
    }

    /// A buffer for the rows of the entity `keys`.
    package func eventBuffer(keys: [Value]) -> EventBuffer {
        var row = [Value](repeating: .null, count: columns.count + keyTail.count)
        for (i, k) in keyTail.enumerated() { row[columns.count + i] = keys[k] }
        return EventBuffer(row: row, inputs: [Value](repeating: .null, count: inputs.count))
    }

    /// Adds the row in `event` to `events` as the event `order`; rows must come in event order.
    package func append(_ event: inout EventBuffer, order: EventOrder, to events: inout KeyEvents) {
        for (i, evaluate) in inputs.enumerated() { event.inputs[i] = evaluate(event.row) }
        events.append(order: order, inputs: event.inputs)
    }

    /// Room for the values of every request row: `results[row * count + a]`, `a` indexing
    /// ``layout``.
    package func emptyResults(rows: Int) -> [Value] {
        [Value](repeating: .null, count: rows * layout.aggregations.count)
    }

    /// The values at each of one entity's request instants (ascending), from its `events`.
    package func sweep(_ sweep: inout WindowSweep, _ events: KeyEvents, at instants: [(t: Int64, row: Int)], into results: inout [Value]) {
        let count = layout.aggregations.count
        sweep.reset(events)
        for (t, row) in instants {
            let values = sweep.values(at: t)
            for a in 0..<count { results[row * count + a] = values[a] }
        }
    }
}
