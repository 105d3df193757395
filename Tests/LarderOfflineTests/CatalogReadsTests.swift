import Features
import Foundation
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The two reads the catalog added to both offline stores: a source's ingests and the
/// registry's newest changes, newest first.
@Suite struct CatalogReadsTests {
    @Test(arguments: Backend.allCases)
    func ingestsOfASourceNewestFirst(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        #expect(try await store.ingests(source: "trips", limit: 10).isEmpty)

        let header = "driver_id,event_timestamp,fare,distance_km\n"
        let first = try dir.write("trips.csv", header + "1,2026-01-01T00:00:00Z,10,2\n2,2026-01-01T01:00:00Z,5,1\n")
        _ = try await store.ingest(source: "trips", file: first, format: nil, allowEmpty: false, progress: nil)
        let empty = try dir.write("none.csv", header)
        _ = try await store.ingest(source: "trips", file: empty, format: nil, allowEmpty: true, progress: nil)
        _ = try await store.append(
            source: "trips",
            rows: [["driver_id": .int(3), "event_timestamp": .string("2026-01-01T02:00:00Z"), "fare": .double(7), "distance_km": .int(3)]],
            origin: "push")
        // Another source's ingest is not listed.
        _ = try await store.ingest(
            source: "driver_stats", file: dir.write("stats.csv", IngestFixtures.header + "\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1\n"),
            format: nil, allowEmpty: false, progress: nil)

        let ingests = try await store.ingests(source: "trips", limit: 10)
        #expect(ingests.map(\.file) == ["push", empty, first])
        #expect(ingests.map(\.rows) == [1, 0, 2])
        #expect(ingests.map(\.sequences) == [3...3, nil, 1...2])
        #expect(ingests.allSatisfy { $0.source == "trips" && $0.finishedAt >= $0.startedAt })
        #expect(ingests.map(\.id) == ingests.map(\.id).sorted(by: >))
        #expect(try await store.ingests(source: "trips", limit: 1).map(\.file) == ["push"])
        #expect(try await store.ingests(source: "driver_stats", limit: 10).map(\.rows) == [1])
        #expect(try await store.ingests(source: "nope", limit: 10).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func recentHistoryAcrossDefinitionsNewestFirst(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        #expect(try await store.registry.recentHistory(limit: 10).isEmpty)
        let repository = Features.repository
        try await store.registry.apply(try await store.registry.plan(for: repository))
        // Then the service is removed: its history stays, and comes first.
        let withoutService = FeatureRepository(
            entities: repository.entities, sources: repository.sources, featureViews: repository.featureViews,
            onDemandViews: repository.onDemandViews)
        try await store.registry.apply(try await store.registry.plan(for: withoutService))

        let recent = try await store.registry.recentHistory(limit: 100)
        #expect(recent.count == 8)
        #expect(recent.first?.name == "driver_ranking" && recent.first?.change == .removed)
        #expect(recent.dropFirst().allSatisfy { $0.change == .added })
        #expect(Set(recent.dropFirst().map(\.name)) == Set(repository.specs.map(\.name)))
        #expect(recent.map(\.appliedAt) == recent.map(\.appliedAt).sorted(by: >))
        // The same entries as each definition's own history.
        var own: [HistoryEntry] = []
        for name in Set(recent.map(\.name)) { own += try await store.registry.history(named: name) }
        #expect(
            Set(own.map { "\($0.name) \($0.version) \($0.change) \($0.fingerprint)" })
                == Set(recent.map { "\($0.name) \($0.version) \($0.change) \($0.fingerprint)" }))
        let two = try await store.registry.recentHistory(limit: 2)
        #expect(two.map(\.name) == recent.prefix(2).map(\.name))
    }
}
