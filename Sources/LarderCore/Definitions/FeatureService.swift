/// Features of one view chosen for a service: all of them (`features == nil`) or a list.
public struct FeatureSelection: Sendable, Hashable {
    public let view: String
    public let features: [String]?

    public init(view: String, features: [String]?) {
        self.view = view
        self.features = features
    }
}

/// Builds the feature list of a service from views, on-demand views and selections.
@resultBuilder
public enum FeatureSelectionBuilder {
    public static func buildExpression(_ view: FeatureView) -> [FeatureSelection] { [view.allFeatures] }
    public static func buildExpression(_ view: OnDemandFeatureView) -> [FeatureSelection] { [view.allFeatures] }
    public static func buildExpression(_ selection: FeatureSelection) -> [FeatureSelection] { [selection] }
    public static func buildBlock(_ parts: [FeatureSelection]...) -> [FeatureSelection] { parts.flatMap { $0 } }
}

/// A named list of features that one model consumes. Its version in the registry changes
/// whenever the list changes.
///
/// ```swift
/// let driverRanking = FeatureService("driver_ranking") {
///     driverHourlyStats
///     transformedConvRate
///     driverTrips.select("trips_1h")
/// }
/// ```
public struct FeatureService: Sendable {
    public let name: String
    public let selections: [FeatureSelection]
    public let description: String
    public let owner: String
    public let tags: [String: String]

    public init(
        _ name: String,
        description: String = "",
        owner: String = "",
        tags: [String: String] = [:],
        @FeatureSelectionBuilder features: () -> [FeatureSelection]
    ) {
        self.name = name
        self.selections = features()
        self.description = description
        self.owner = owner
        self.tags = tags
    }
}
