import Crypto
import Foundation

/// The kinds of definition the registry holds.
public enum DefinitionKind: String, Sendable, Codable, CaseIterable, Comparable {
    case entity
    case source
    case featureView = "feature_view"
    case onDemandView = "on_demand_view"
    case featureService = "feature_service"

    /// `feature view`, for messages.
    public var label: String {
        switch self {
        case .entity: "entity"
        case .source: "source"
        case .featureView: "feature view"
        case .onDemandView: "on-demand view"
        case .featureService: "feature service"
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The registrable description of an ``Entity``.
public struct EntitySpec: Sendable, Hashable, Codable {
    public var name: String
    public var joinKeys: [ColumnSpec]
    public var description: String
    public var owner: String
    public var tags: [String: String]
}

/// The registrable description of a ``Source``.
public struct SourceSpec: Sendable, Hashable, Codable {
    public var name: String
    public var eventTimestamp: String
    public var createdTimestamp: String?
    public var columns: [ColumnSpec]
    public var description: String
    public var owner: String
    public var tags: [String: String]
}

/// A feature as registered: its output type, and what it is computed from.
public struct FeatureSpec: Sendable, Hashable, Codable {
    public var name: String
    public var type: ValueType
    /// `passthrough` or `swift` (a compiled closure).
    public var transformation: String
    public var inputs: [InputSpec]
    /// The hash of the closure's code (``TransformationCode``); absent for passthroughs and
    /// when the definition's source text is unknown.
    public var code: String?
    /// The feature's metadata, absent when empty (so specs written before features had any
    /// keep their JSON); not in the fingerprint.
    public var description: String?
    public var owner: String?
    public var tags: [String: String]?

    public init(
        name: String, type: ValueType, transformation: String, inputs: [InputSpec], code: String?, description: String = "",
        owner: String = "", tags: [String: String] = [:]
    ) {
        self.name = name
        self.type = type
        self.transformation = transformation
        self.inputs = inputs
        self.code = code
        self.description = description.isEmpty ? nil : description
        self.owner = owner.isEmpty ? nil : owner
        self.tags = tags.isEmpty ? nil : tags
    }
}

/// A windowed aggregation as registered. Times in microseconds.
public struct AggregationSpec: Sendable, Hashable, Codable {
    public var name: String
    public var type: ValueType
    /// `count`, `sum`, `mean`, `min`, `max`, `last(n)` or `distinct_count`.
    public var function: String
    /// `events`, `column:<name>` or `feature:<name>`.
    public var input: String
    public var windowMicroseconds: Int64
    public var hopMicroseconds: Int64
    /// As ``FeatureSpec``'s: absent when empty; not in the fingerprint.
    public var description: String?
    public var owner: String?
    public var tags: [String: String]?
}

/// The registrable description of a ``FeatureView``; the ttl in microseconds (0: no limit).
public struct FeatureViewSpec: Sendable, Hashable, Codable {
    public var name: String
    public var entity: String
    public var joinKeys: [ColumnSpec]
    public var source: String
    public var ttlMicroseconds: Int64
    public var features: [FeatureSpec]
    /// Absent (not empty) for a view without aggregations, so such views keep the
    /// fingerprints they had before aggregations existed.
    public var aggregations: [AggregationSpec]?
    public var description: String
    public var owner: String
    public var tags: [String: String]
}

/// The registrable description of an ``OnDemandFeatureView``.
public struct OnDemandViewSpec: Sendable, Hashable, Codable {
    public var name: String
    public var featureInputs: [InputSpec]
    public var requestFields: [InputSpec]
    public var features: [FeatureSpec]
    public var description: String
    public var owner: String
    public var tags: [String: String]
}

/// The registrable description of a ``FeatureService``: its features resolved in order.
public struct FeatureServiceSpec: Sendable, Hashable, Codable {
    public var name: String
    /// `view:feature`, in order.
    public var features: [String]
    public var description: String
    public var owner: String
    public var tags: [String: String]
}

/// The registrable description of a definition: what the registry stores (as JSON), compares
/// and fingerprints. Closures are described by their inputs and output type.
public enum DefinitionSpec: Sendable, Hashable {
    case entity(EntitySpec)
    case source(SourceSpec)
    case featureView(FeatureViewSpec)
    case onDemandView(OnDemandViewSpec)
    case featureService(FeatureServiceSpec)

    public var kind: DefinitionKind {
        switch self {
        case .entity: .entity
        case .source: .source
        case .featureView: .featureView
        case .onDemandView: .onDemandView
        case .featureService: .featureService
        }
    }

    public var name: String {
        switch self {
        case .entity(let s): s.name
        case .source(let s): s.name
        case .featureView(let s): s.name
        case .onDemandView(let s): s.name
        case .featureService(let s): s.name
        }
    }

    /// The definition as canonical JSON: snake_case keys, sorted. This is the stored form
    /// and the documented `--json` shape.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain Codable structs of strings and integers cannot fail.
        switch self {
        case .entity(let s): return try! encoder.encode(s)
        case .source(let s): return try! encoder.encode(s)
        case .featureView(let s): return try! encoder.encode(s)
        case .onDemandView(let s): return try! encoder.encode(s)
        case .featureService(let s): return try! encoder.encode(s)
        }
    }

    /// Reads a stored definition of the given kind.
    public init(kind: DefinitionKind, json: Data) throws {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        switch kind {
        case .entity: self = .entity(try decoder.decode(EntitySpec.self, from: json))
        case .source: self = .source(try decoder.decode(SourceSpec.self, from: json))
        case .featureView: self = .featureView(try decoder.decode(FeatureViewSpec.self, from: json))
        case .onDemandView: self = .onDemandView(try decoder.decode(OnDemandViewSpec.self, from: json))
        case .featureService: self = .featureService(try decoder.decode(FeatureServiceSpec.self, from: json))
        }
    }

    /// The first 16 hex digits of the SHA-256 of the kind and the canonical JSON of the
    /// computation: the spec ``withoutMetadata``, so a description, an owner or tags can be
    /// edited without making a new version (`larder apply` records them in place).
    public var fingerprint: String {
        var hasher = SHA256()
        hasher.update(data: Data(kind.rawValue.utf8))
        hasher.update(data: withoutMetadata.json())
        return hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The spec with every description, owner and tags emptied, its own and its features'.
    public var withoutMetadata: DefinitionSpec {
        func bare(_ features: [FeatureSpec]) -> [FeatureSpec] {
            features.map { feature in
                var feature = feature
                (feature.description, feature.owner, feature.tags) = (nil, nil, nil)
                return feature
            }
        }
        switch self {
        case .entity(var s):
            (s.description, s.owner, s.tags) = ("", "", [:])
            return .entity(s)
        case .source(var s):
            (s.description, s.owner, s.tags) = ("", "", [:])
            return .source(s)
        case .featureView(var s):
            (s.description, s.owner, s.tags) = ("", "", [:])
            s.features = bare(s.features)
            s.aggregations = s.aggregations?.map { aggregation in
                var aggregation = aggregation
                (aggregation.description, aggregation.owner, aggregation.tags) = (nil, nil, nil)
                return aggregation
            }
            return .featureView(s)
        case .onDemandView(var s):
            (s.description, s.owner, s.tags) = ("", "", [:])
            s.features = bare(s.features)
            return .onDemandView(s)
        case .featureService(var s):
            (s.description, s.owner, s.tags) = ("", "", [:])
            return .featureService(s)
        }
    }
}

extension FeatureRepository {
    /// Every definition as a spec, sorted by kind then name.
    public var specs: [DefinitionSpec] {
        let all: [DefinitionSpec] =
            entities.map { .entity($0.spec) } + sources.map { .source($0.spec) }
            + featureViews.map { .featureView($0.spec) } + onDemandViews.map { .onDemandView($0.spec) }
            + services.compactMap { service in (try? resolve(service: service)).map { .featureService(service.spec(features: $0)) } }
        return all.sorted { ($0.kind, $0.name) < ($1.kind, $1.name) }
    }
}

extension Entity {
    public var spec: EntitySpec {
        EntitySpec(name: name, joinKeys: joinKeys, description: description, owner: owner, tags: tags)
    }
}

extension Source {
    public var spec: SourceSpec {
        SourceSpec(
            name: name, eventTimestamp: eventTimestamp, createdTimestamp: createdTimestamp, columns: columns,
            description: description, owner: owner, tags: tags)
    }
}

extension Feature {
    public var spec: FeatureSpec {
        FeatureSpec(
            name: name, type: type, transformation: isComputed ? "swift" : "passthrough", inputs: transformation.inputs,
            code: location.flatMap(TransformationCode.hash(at:)), description: description, owner: owner, tags: tags)
    }
}

extension FeatureView {
    public var spec: FeatureViewSpec {
        FeatureViewSpec(
            name: name, entity: entity.name, joinKeys: entity.joinKeys, source: source.name,
            ttlMicroseconds: ttl.microseconds, features: features.map(\.spec),
            aggregations: aggregations.isEmpty ? nil : aggregations.map(\.spec),
            description: description, owner: owner, tags: tags)
    }
}

extension Aggregation {
    public var spec: AggregationSpec {
        let inputText: String =
            switch input {
            case .events: "events"
            case .column(let c): "column:\(c.name)"
            case .feature(let name): "feature:\(name)"
            }
        return AggregationSpec(
            name: name, type: type, function: function.description, input: inputText, windowMicroseconds: window,
            hopMicroseconds: hop, description: metadata.description.isEmpty ? nil : metadata.description,
            owner: metadata.owner.isEmpty ? nil : metadata.owner, tags: metadata.tags.isEmpty ? nil : metadata.tags)
    }
}

extension FeatureViewSpec {
    /// The source columns the aggregations read (those named, or all), in first-use order: a
    /// column input itself, a row feature input its transformation's inputs. What the
    /// aggregation index covers and what training sets and tile builds select.
    public func aggregationColumns(of names: Set<String>? = nil) -> [String] {
        var out: [String] = []
        for aggregation in aggregations ?? [] where names?.contains(aggregation.name) ?? true {
            let read: [String] =
                if aggregation.input.hasPrefix("column:") {
                    [String(aggregation.input.dropFirst("column:".count))]
                } else if aggregation.input.hasPrefix("feature:") {
                    features.first { $0.name == aggregation.input.dropFirst("feature:".count) }?.inputs.map(\.key) ?? []
                } else {
                    []
                }
            for column in read where !out.contains(column) { out.append(column) }
        }
        return out
    }

    /// Row features then aggregations, as (name, type): the view's values in order.
    public var outputs: [(name: String, type: ValueType)] {
        features.map { ($0.name, $0.type) } + (aggregations ?? []).map { ($0.name, $0.type) }
    }
}

extension OnDemandFeatureView {
    public var spec: OnDemandViewSpec {
        OnDemandViewSpec(
            name: name, featureInputs: featureInputs, requestFields: requestFields,
            features: features.map {
                FeatureSpec(
                    name: $0.name, type: $0.type, transformation: "swift", inputs: $0.transformation.inputs,
                    code: TransformationCode.hash(at: $0.location), description: $0.description, owner: $0.owner, tags: $0.tags)
            },
            description: description, owner: owner, tags: tags)
    }
}

extension FeatureService {
    func spec(features: [ResolvedFeature]) -> FeatureServiceSpec {
        FeatureServiceSpec(name: name, features: features.map(\.reference), description: description, owner: owner, tags: tags)
    }
}

extension DefinitionSpec {
    /// A definition's metadata and its features' (names, descriptions, owners, tags), for
    /// filtering and search: the definition's own first.
    public var metadata: [(name: String, description: String, owner: String, tags: [String: String])] {
        func features(_ specs: [FeatureSpec]) -> [(String, String, String, [String: String])] {
            specs.map { ($0.name, $0.description ?? "", $0.owner ?? "", $0.tags ?? [:]) }
        }
        switch self {
        case .entity(let s): return [(s.name, s.description, s.owner, s.tags)]
        case .source(let s): return [(s.name, s.description, s.owner, s.tags)]
        case .featureView(let s):
            return [(s.name, s.description, s.owner, s.tags)] + features(s.features)
                + (s.aggregations ?? []).map { ($0.name, $0.description ?? "", $0.owner ?? "", $0.tags ?? [:]) }
        case .onDemandView(let s): return [(s.name, s.description, s.owner, s.tags)] + features(s.features)
        case .featureService(let s): return [(s.name, s.description, s.owner, s.tags)]
        }
    }

    /// Whether the definition, or one of its features, has every tag of `tags` (key and
    /// value), the owner `owner` when given, and `search` (case-insensitive) in its name or
    /// description when given. Each condition may be met by a different one of them.
    public func matches(tags: [String: String] = [:], owner: String? = nil, search: String? = nil) -> Bool {
        Self.matches(metadata, tags: tags, owner: owner, search: search)
    }

    /// The rule of ``matches(tags:owner:search:)`` over any metadata entries (the catalog's
    /// feature search gives one entry per feature): each tag of `tags` (key and value) is held
    /// by some entry, some entry has the owner `owner`, and some entry's name or description
    /// contains `search` (case-insensitive); conditions not given are met.
    public static func matches(
        _ entries: [(name: String, description: String, owner: String, tags: [String: String])], tags: [String: String] = [:],
        owner: String? = nil, search: String? = nil
    ) -> Bool {
        for (key, value) in tags where !entries.contains(where: { $0.tags[key] == value }) { return false }
        if let owner, !entries.contains(where: { $0.owner == owner }) { return false }
        if let search, !search.isEmpty,
            !entries.contains(where: {
                $0.name.localizedCaseInsensitiveContains(search) || $0.description.localizedCaseInsensitiveContains(search)
            })
        {
            return false
        }
        return true
    }
}
