import Testing

@testable import LarderCore

/// Descriptions, owners and tags of features, aggregations and views: kept in the spec,
/// reported by plans, found by `matches`, never part of a fingerprint.
@Suite struct FeatureMetadataTests {
    static let key = Column<Int64>("id")
    static let fare = Column<Double>("fare")
    static let entity = Entity("driver", joinKeys: [key])
    static let source = Source("trips", columns: [key, fare])

    static func view(_ description: String, tags: [String: String] = [:], window: Duration = .hours(1)) -> DefinitionSpec {
        .featureView(
            FeatureView("trips_view", entity: entity, source: source, ttl: .zero, tags: tags) {
                Feature(fare, description: description)
            } aggregations: {
                Aggregate(.sum, of: fare, windows: window, description: description, owner: "pricing@", tags: tags)
            }.spec)
    }

    @Test func metadataIsKeptReportedAndSearchableButNotFingerprinted() {
        let bare = Self.view("")
        let described = Self.view("Fares in EUR", tags: ["unit": "EUR"])
        #expect(bare.fingerprint == described.fingerprint)
        #expect(bare != described)
        #expect(bare.fingerprint != Self.view("", window: .hours(2)).fingerprint)
        let changes = described.changes(from: bare)
        #expect(changes.contains(#"feature changed: fare (description "" -> "Fares in EUR")"#))
        #expect(changes.contains(#"aggregation changed: fare_sum_1h (description "" -> "Fares in EUR"; tags none -> unit=EUR)"#))
        #expect(changes.contains("tags: none -> unit=EUR"))
        guard case .featureView(let spec) = described else { return }
        #expect(spec.aggregations?.first?.owner == "pricing@")
        // matches: by the view, a feature or an aggregation; every condition must be met.
        #expect(described.matches(tags: ["unit": "EUR"], owner: "pricing@", search: "eur"))
        #expect(described.matches(search: "fare_sum"))
        #expect(!described.matches(tags: ["unit": "USD"]))
        #expect(!bare.matches(owner: "risk@"))
        #expect(bare.matches())
    }
}
