/// A feature named as `view:feature`, resolved against a repository.
public struct ResolvedFeature: Sendable, Hashable {
    public let view: String
    public let feature: String
    public let type: ValueType
    public let isOnDemand: Bool

    /// `view:feature`.
    public var reference: String { "\(view):\(feature)" }

    /// Output column names for features, the same in training sets and served responses:
    /// `feature`, or `view__feature` when `fullNames` is set or the short name would collide
    /// with another feature or with one of the `taken` names (request columns, join keys).
    public static func columnNames(_ features: [ResolvedFeature], fullNames: Bool, taken: Set<String> = []) -> [String] {
        var counts: [String: Int] = [:]
        for f in features { counts[f.feature, default: 0] += 1 }
        return features.map { f in
            fullNames || counts[f.feature]! > 1 || taken.contains(f.feature) ? "\(f.view)__\(f.feature)" : f.feature
        }
    }
}

/// A feature reference or service name that does not resolve.
public struct FeatureLookupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// The reference is well formed but names a service, view or feature the repository does
    /// not define (false for a malformed reference).
    public var isUnknownName = true
}

extension FeatureRepository {
    /// The features of a service, in declaration order.
    public func resolve(service: FeatureService) throws(FeatureLookupError) -> [ResolvedFeature] {
        var out: [ResolvedFeature] = []
        for selection in service.selections {
            out += try resolve(selection: selection)
        }
        return out
    }

    /// Every feature of every feature view (row features, then aggregations), then of every
    /// on-demand view, in declaration order.
    public var allFeatures: [ResolvedFeature] {
        featureViews.flatMap { view in
            zip(view.featureNames, view.featureTypes).map { ResolvedFeature(view: view.name, feature: $0, type: $1, isOnDemand: false) }
        }
            + onDemandViews.flatMap { view in
                view.features.map { ResolvedFeature(view: view.name, feature: $0.name, type: $0.type, isOnDemand: true) }
            }
    }

    /// The features of the service named `name`.
    public func resolve(serviceNamed name: String) throws(FeatureLookupError) -> [ResolvedFeature] {
        guard let service = service(named: name) else {
            let known = services.map(\.name).joined(separator: ", ")
            throw FeatureLookupError(description: "unknown feature service '\(name)'; known services: \(known.isEmpty ? "none" : known)")
        }
        return try resolve(service: service)
    }

    /// Features named `view:feature` (or `view` for all its features), in the order given.
    public func resolve(references: [String]) throws(FeatureLookupError) -> [ResolvedFeature] {
        var out: [ResolvedFeature] = []
        for reference in references {
            let parts = reference.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
                throw FeatureLookupError(
                    description: "'\(reference)' is not a feature reference; write view:feature, e.g. driver_hourly_stats:conv_rate",
                    isUnknownName: false)
            }
            out += try resolve(selection: FeatureSelection(view: parts[0], features: parts.count == 2 ? [parts[1]] : nil))
        }
        return out
    }

    func resolve(selection: FeatureSelection) throws(FeatureLookupError) -> [ResolvedFeature] {
        let available: [(String, ValueType)]
        let onDemand: Bool
        if let view = featureView(named: selection.view) {
            available = Array(zip(view.featureNames, view.featureTypes))
            onDemand = false
        } else if let view = onDemandView(named: selection.view) {
            available = view.features.map { ($0.name, $0.type) }
            onDemand = true
        } else {
            let known = (featureViews.map(\.name) + onDemandViews.map(\.name)).joined(separator: ", ")
            throw FeatureLookupError(
                description: "unknown feature view '\(selection.view)'; known views: \(known.isEmpty ? "none" : known)")
        }
        guard let wanted = selection.features else {
            return available.map { ResolvedFeature(view: selection.view, feature: $0.0, type: $0.1, isOnDemand: onDemand) }
        }
        return try wanted.map { name throws(FeatureLookupError) in
            guard let match = available.first(where: { $0.0 == name }) else {
                throw FeatureLookupError(
                    description:
                        "view \(selection.view) has no feature '\(name)'; its features: \(available.map(\.0).joined(separator: ", "))")
            }
            return ResolvedFeature(view: selection.view, feature: name, type: match.1, isOnDemand: onDemand)
        }
    }
}
