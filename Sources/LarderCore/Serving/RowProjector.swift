/// A source row as stored: the declared columns' values in source order, its times and its
/// ingest sequence.
public struct SourceRow: Sendable {
    public var values: [Value]
    public var eventTime: Timestamp
    public var createdTime: Timestamp?
    public var sequence: Int64

    public init(values: [Value], eventTime: Timestamp, createdTime: Timestamp?, sequence: Int64) {
        self.values = values
        self.eventTime = eventTime
        self.createdTime = createdTime
        self.sequence = sequence
    }
}

/// One event for a view's aggregation tiles: its entity, its place in time and its
/// aggregation inputs (in ``TileLayout/inputs`` order).
public struct TileEvent: Sendable {
    public var keys: [Value]
    public var order: EventOrder
    public var inputs: [Value]

    public init(keys: [Value], order: EventOrder, inputs: [Value]) {
        self.keys = keys
        self.order = order
        self.inputs = inputs
    }
}

/// A feature view reads something the rows it is given lack: names the view, the key,
/// feature or aggregation, and the column.
public struct ProjectionError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// How one feature view turns rows of its source into feature rows and tile events: the one
/// rule materialization, the aggregation tiles, training sets and the service's push share.
///
/// Strict: a join key, a feature input or an aggregation input that is not among the
/// columns is an error when the projector is made, never a null value, a wrong key or a
/// skipped aggregation later. (`larder apply` validates definitions against their source, so
/// this fails only when the caller's columns and the definitions disagree.)
///
/// Everything is bound by name once; the hot loops use ``keyPositions``, ``evaluators`` and
/// ``tileInputs`` directly.
public struct RowProjector: Sendable {
    public let view: FeatureView
    /// The names of a row's values, in order.
    public let columns: [String]
    /// For each of the entity's join keys, its position in a row.
    public let keyPositions: [Int]
    /// The row features' evaluators, in `view.features` order; empty for a projector of
    /// aggregations only.
    public let evaluators: [Evaluator]
    /// The aggregations projected: the view's, or a subset (training sets).
    public let tiles: TileLayout
    /// The evaluators of the aggregation inputs, in ``TileLayout/inputs`` order: a column is
    /// read as it is, a row feature through its compiled transformation (the same closure the
    /// row features use).
    public let tileInputs: [Evaluator]
    /// False for a projector of aggregations only (``featureRow(_:)`` is not available).
    public let projectsFeatures: Bool

    /// A projector of the view's row features and all its aggregations.
    ///
    /// - Parameter columns: the names of a row's values, in order (a source row: the source's
    ///   declared columns).
    public init(view: FeatureView, columns: [String]) throws(ProjectionError) {
        try self.init(view: view, columns: columns, tiles: view.tileLayout, features: true)
    }

    /// A projector of aggregations only: the row features are not bound, except those an
    /// aggregation reads, so `columns` need only hold the keys and what the aggregations read.
    ///
    /// - Parameters:
    ///   - tiles: the aggregations to project: the view's (nil) or a restriction of them.
    ///   - columns: the names of a row's values, in order.
    public init(aggregationsOf view: FeatureView, tiles: TileLayout? = nil, columns: [String]) throws(ProjectionError) {
        try self.init(view: view, columns: columns, tiles: tiles ?? view.tileLayout, features: false)
    }

    private init(view: FeatureView, columns: [String], tiles: TileLayout, features: Bool) throws(ProjectionError) {
        self.view = view
        self.columns = columns
        self.tiles = tiles
        self.projectsFeatures = features
        let layout = RowLayout(keys: columns)
        let source = view.source.name
        var keyPositions: [Int] = []
        for key in view.entity.joinKeys {
            guard let position = layout.position(of: key.name) else {
                throw ProjectionError("feature view \(view.name) is keyed by \(key.name), which \(Self.lacking(source))")
            }
            keyPositions.append(position)
        }
        self.keyPositions = keyPositions

        var evaluators: [Evaluator] = []
        if features {
            for feature in view.features {
                evaluators.append(try Self.evaluator(of: feature, layout, what: "feature \(view.name):\(feature.name)", source: source))
            }
        }
        self.evaluators = evaluators

        var tileInputs: [Evaluator] = []
        for input in tiles.inputs {
            // Name the first aggregation that reads the input (several may share it).
            let aggregation = tiles.aggregations.first { $0.input == input }?.name ?? "?"
            let what = "aggregation \(view.name):\(aggregation)"
            switch input {
            case .events:
                continue  // not an input (TileLayout.inputs holds none)
            case .column(let column):
                guard let p = layout.position(of: column.name) else {
                    throw ProjectionError("\(what) reads column '\(column.name)', which \(Self.lacking(source))")
                }
                tileInputs.append { $0[p] }
            case .feature(let name):
                guard let feature = view.features.first(where: { $0.name == name }) else {
                    throw ProjectionError("\(what) reads feature '\(name)', which feature view \(view.name) does not define")
                }
                tileInputs.append(try Self.evaluator(of: feature, layout, what: "\(what) reads feature '\(name)', which", source: source))
            }
        }
        self.tileInputs = tileInputs
    }

    /// The feature's compiled transformation bound to `layout`, or an error naming the first
    /// input the layout lacks.
    private static func evaluator(of feature: Feature, _ layout: RowLayout, what: String, source: String) throws(ProjectionError)
        -> Evaluator
    {
        if let evaluator = feature.transformation.evaluator(for: layout) { return evaluator }
        let missing = feature.transformation.inputs.first { layout.position(of: $0.key) == nil }?.key ?? "?"
        throw ProjectionError("\(what) reads column '\(missing)', which \(lacking(source))")
    }

    /// The end of every message: the columns given may be all of the source's or only those
    /// an index holds, so say what was looked at.
    private static func lacking(_ source: String) -> String { "is not among the columns read from source \(source)" }

    /// The entity's join key values of a row laid out as ``columns``.
    @inline(__always)
    public func keys(of values: [Value]) -> [Value] { keyPositions.map { values[$0] } }

    /// The feature row of a source row (laid out as ``columns``).
    public func featureRow(_ row: SourceRow) -> FeatureRow {
        precondition(projectsFeatures, "a projector of aggregations only makes no feature rows")
        return FeatureRow(
            keys: keys(of: row.values), eventTime: row.eventTime, createdTime: row.createdTime, sequence: row.sequence,
            values: evaluators.map { $0(row.values) })
    }

    /// The tile event of a source row (laid out as ``columns``).
    public func tileEvent(_ row: SourceRow) -> TileEvent {
        TileEvent(
            keys: keys(of: row.values),
            order: EventOrder(eventTime: row.eventTime.microseconds, createdTime: row.createdTime?.microseconds, sequence: row.sequence),
            inputs: tileInputs.map { $0(row.values) })
    }
}
