/// A feature of a ``FeatureView``: a source column passed through, or a typed Swift
/// closure over source columns (a row transformation).
///
/// ```swift
/// Feature(convRate)                                      // passes `conv_rate` through
/// Feature("fare_per_km", from: fare, distanceKm) { fare, km in fare / max(km, 0.1) }
/// ```
public struct Feature: Sendable {
    public let name: String
    public let transformation: Transformation
    /// False for a column passed through unchanged.
    public let isComputed: Bool
    /// Where a computed feature's closure is declared: its code is part of the fingerprint.
    public let location: CodeLocation?
    /// What the feature means, who owns it, and labels for the catalog: none of it counts in
    /// the fingerprint, so editing it makes no new version.
    public let description: String
    public let owner: String
    public let tags: [String: String]

    /// A source column passed through under its own name.
    public init<T: ColumnValue>(
        _ column: Column<T>, description: String = "", owner: String = "", tags: [String: String] = [:]
    ) {
        self.init(column.name, from: column, description: description, owner: owner, tags: tags)
    }

    /// A source column passed through under another name.
    public init<T: ColumnValue>(
        _ name: String, from column: Column<T>, description: String = "", owner: String = "", tags: [String: String] = [:]
    ) {
        self.name = name
        self.transformation = Transformation(passthrough: column)
        self.isComputed = false
        self.location = nil
        self.description = description
        self.owner = owner
        self.tags = tags
    }

    /// A feature computed from one row of the source by a Swift closure. If a column the
    /// closure takes as non-optional is null, the feature is null.
    ///
    /// `fileID`, `line` and `column` locate the closure's code for the fingerprint; leave
    /// them to their defaults.
    public init<each C: ColumnValue, Output: ColumnValue>(
        _ name: String,
        from columns: repeat Column<each C>,
        description: String = "", owner: String = "", tags: [String: String] = [:],
        fileID: String = #fileID, line: Int = #line, column: Int = #column,
        transform: @escaping @Sendable (repeat each C) -> Output
    ) {
        self.name = name
        self.transformation = Transformation(inputs: repeat each columns, body: transform)
        self.isComputed = true
        self.location = CodeLocation(fileID: fileID, line: line, column: column)
        self.description = description
        self.owner = owner
        self.tags = tags
    }

    public var type: ValueType { transformation.outputType }
}

/// Features of one entity computed from one source: row features (the latest row's values,
/// valid for `ttl` after their event time) and windowed aggregations over the events.
///
/// ```swift
/// let driverHourlyStats = FeatureView(
///     "driver_hourly_stats", entity: driver, source: DriverStats.source, ttl: .hours(2)
/// ) {
///     Feature(DriverStats.convRate)
///     Feature(DriverStats.accRate)
/// }
///
/// let driverTrips = FeatureView("driver_trips", entity: driver, source: Trips.source, ttl: .days(1)) {
///     Feature("fare_per_km", from: Trips.fare, Trips.distanceKm) { fare, km in fare / max(km, 0.1) }
/// } aggregations: {
///     Aggregate(.count, windows: .hours(1), name: "trips")     // trips_1h
///     Aggregate(.sum, of: Trips.fare, windows: .hours(24))     // fare_sum_24h
/// }
/// ```
public struct FeatureView: Sendable {
    public let name: String
    public let entity: Entity
    public let source: Source
    /// How long a row feature's value stays valid after its event time; zero means forever.
    /// Aggregations are not subject to it: their window says which events count.
    public let ttl: Duration
    /// Row features: computed from each source row, served from the latest row.
    public let features: [Feature]
    /// Windowed aggregations, one per (function, input, window).
    public let aggregations: [Aggregation]
    public let description: String
    public let owner: String
    public let tags: [String: String]

    public init(
        _ name: String,
        entity: Entity,
        source: Source,
        ttl: Duration,
        description: String = "",
        owner: String = "",
        tags: [String: String] = [:],
        @ListBuilder<Feature> features: () -> [Feature] = { [] },
        @ListBuilder<Aggregate> aggregations: () -> [Aggregate] = { [] }
    ) {
        self.name = name
        self.entity = entity
        self.source = source
        self.ttl = ttl
        self.features = features()
        self.aggregations = Aggregation.expand(aggregations(), features: self.features)
        self.description = description
        self.owner = owner
        self.tags = tags
    }

    /// The names of every feature, row features first, then aggregations: the order of the
    /// view's values in a joined row.
    public var featureNames: [String] { features.map(\.name) + aggregations.map(\.name) }

    /// The type of every feature, in ``featureNames`` order.
    public var featureTypes: [ValueType] { features.map(\.type) + aggregations.map(\.type) }

    /// A typed reference to one of this view's features, for on-demand views.
    /// `larder apply` checks that the feature exists with this type.
    public func feature<T: ColumnValue>(_ name: String, as type: T.Type = T.self) -> FeatureReference<T> {
        FeatureReference(view: self.name, feature: name)
    }

    /// All features, for a ``FeatureService``.
    public var allFeatures: FeatureSelection { FeatureSelection(view: name, features: nil) }

    /// Some features, for a ``FeatureService``.
    public func select(_ names: String...) -> FeatureSelection { FeatureSelection(view: name, features: names) }
}

/// A typed reference to a feature of a view (`view:feature`), read by an on-demand view.
/// Its value may be missing or expired, so a non-optional input makes the output null then.
public struct FeatureReference<T: ColumnValue>: TransformationInput {
    public typealias Value = T
    public let view: String
    public let feature: String

    public init(view: String, feature: String) {
        self.view = view
        self.feature = feature
    }

    public var input: InputSpec { InputSpec(key: "\(view):\(feature)", type: T.valueType, nullable: T.isNullable) }
}
