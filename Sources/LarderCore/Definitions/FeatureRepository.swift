/// One definition in a repository block.
public enum RepositoryItem: Sendable {
    case entity(Entity)
    case source(Source)
    case featureView(FeatureView)
    case onDemandView(OnDemandFeatureView)
    case service(FeatureService)
}

/// Builds a ``FeatureRepository`` from a block listing its definitions.
@resultBuilder
public enum RepositoryBuilder {
    public static func buildExpression(_ e: Entity) -> [RepositoryItem] { [.entity(e)] }
    public static func buildExpression(_ s: Source) -> [RepositoryItem] { [.source(s)] }
    public static func buildExpression(_ v: FeatureView) -> [RepositoryItem] { [.featureView(v)] }
    public static func buildExpression(_ v: OnDemandFeatureView) -> [RepositoryItem] { [.onDemandView(v)] }
    public static func buildExpression(_ s: FeatureService) -> [RepositoryItem] { [.service(s)] }
    public static func buildBlock(_ parts: [RepositoryItem]...) -> [RepositoryItem] { parts.flatMap { $0 } }
}

/// Every definition of a project: what `features/` declares and `larder apply` registers.
public struct FeatureRepository: Sendable {
    public let entities: [Entity]
    public let sources: [Source]
    public let featureViews: [FeatureView]
    public let onDemandViews: [OnDemandFeatureView]
    public let services: [FeatureService]

    /// - Parameter sources: the definition files' text by `#fileID`, so fingerprints cover
    ///   transformation code (the `Features` target's build embeds them as
    ///   `featureSourceTexts`). Registered process-wide (``TransformationCode``).
    public init(sources: [String: String] = [:], @RepositoryBuilder _ content: () -> [RepositoryItem]) {
        if !sources.isEmpty { TransformationCode.register(sources) }
        var entities: [Entity] = [], sources: [Source] = [], views: [FeatureView] = []
        var onDemand: [OnDemandFeatureView] = [], services: [FeatureService] = []
        for item in content() {
            switch item {
            case .entity(let e): entities.append(e)
            case .source(let s): sources.append(s)
            case .featureView(let v): views.append(v)
            case .onDemandView(let v): onDemand.append(v)
            case .service(let s): services.append(s)
            }
        }
        self.init(entities: entities, sources: sources, featureViews: views, onDemandViews: onDemand, services: services)
    }

    public init(
        entities: [Entity] = [],
        sources: [Source] = [],
        featureViews: [FeatureView] = [],
        onDemandViews: [OnDemandFeatureView] = [],
        services: [FeatureService] = []
    ) {
        self.entities = entities
        self.sources = sources
        self.featureViews = featureViews
        self.onDemandViews = onDemandViews
        self.services = services
    }

    /// The definitions named `name`, of each kind.
    public func entity(named name: String) -> Entity? { entities.first { $0.name == name } }
    public func source(named name: String) -> Source? { sources.first { $0.name == name } }
    public func featureView(named name: String) -> FeatureView? { featureViews.first { $0.name == name } }
    public func onDemandView(named name: String) -> OnDemandFeatureView? { onDemandViews.first { $0.name == name } }
    public func service(named name: String) -> FeatureService? { services.first { $0.name == name } }
}
