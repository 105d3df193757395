import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import LarderServer
import Testing

/// A deliberate skew: a transformation's code changes and is applied, but not materialized.
/// The service must not serve the old values as present.
@Suite struct DefinitionSkewTests {
    static let id = Column<Int64>("account_id")
    static let amount = Column<Double>("amount")
    static let account = Entity("account", joinKeys: [id])
    static let source = Source("payments", columns: [id, amount])

    /// The same repository, its closure's code taken from `file`: the registered texts below
    /// stand for two builds of `features/` that differ in one transformation.
    static func repository(_ file: String) -> FeatureRepository {
        TransformationCode.register([
            "Skew/v1.swift": "Feature(\"doubled\", from: amount) { $0 * 2 }",
            "Skew/v2.swift": "Feature(\"doubled\", from: amount) { $0 * 2.5 }",
        ])
        let view = FeatureView("payments_view", entity: account, source: source, ttl: .zero) {
            Feature("doubled", from: amount, fileID: file, line: 1, column: 1) { $0 * 2 }
        } aggregations: {
            Aggregate(.count, windows: .hours(1))
        }
        return FeatureRepository {
            account
            source
            view
        }
    }

    func lookUp(_ server: ServerHarness) async throws -> [String: [String: Any]] {
        let reply = try await server.post(
            "/v1/features", #"{"features": ["payments_view:doubled", "payments_view:count_1h"], "entities": [{"account_id": 7}]}"#)
        #expect(reply.status == 200, "\(reply.text)")
        let features = (((reply.json as? [String: Any])?["rows"] as? [[String: Any]])?.first?["features"] as? [String: Any]) ?? [:]
        return features.compactMapValues { $0 as? [String: Any] }
    }

    @Test func changedCodeAppliedButNotMaterializedIsStale() async throws {
        let v1 = Self.repository("Skew/v1.swift")
        let server = try await ServerHarness(repository: v1) { $0.definitionCheckInterval = .zero }
        defer { Task { await server.stop() } }
        let view = try #require(v1.featureView(named: "payments_view"))
        _ = try await server.offline.append(
            source: "payments",
            rows: [["account_id": .int(7), "event_timestamp": .string(server.at(minutes: -5)), "amount": .double(10)]], origin: "test")
        let end = Timestamp(microseconds: server.now.microseconds + 1)
        let summary = try await server.offline.materialize(view, mode: .range(start: nil, end: end))
        let (spec, version) = try await server.offline.registeredView(view)
        let layout = OnlineViewLayout(project: "test", spec: spec, version: version)
        for try await batch in server.offline.latestRows(of: view, end: summary.state.end) {
            try await server.online.write(batch, layout: layout)
        }
        for try await batch in server.offline.retainedTiles(of: view, from: nil) {
            try await server.online.writeTiles(batch, layout: OnlineTiles(view: layout, tiles: view.tileLayout))
        }
        var served = try await lookUp(server)
        #expect(served["doubled"]?["value"] as? Double == 20)
        #expect(served["doubled"]?["status"] as? String == "present")
        #expect(served["doubled"]?["age_seconds"] as? Double == 300)
        #expect(served["count_1h"]?["value"] as? Int == 1)

        // The new code is applied while the service (still the old build) runs.
        let v2 = Self.repository("Skew/v2.swift")
        let plan = try await server.offline.registry.plan(for: v2)
        #expect(plan.changes.contains { $0.details.contains("feature changed: doubled (transformation code)") })
        try await server.offline.registry.apply(plan)
        // The service notices in the background (every request here, interval zero); lookups
        // never wait for the registry read.
        for _ in 0..<100 {
            served = try await lookUp(server)
            if served["doubled"]?["status"] as? String == "stale-definition" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        for name in ["doubled", "count_1h"] {
            #expect(served[name]?["status"] as? String == "stale-definition", "\(name): \(served[name] ?? [:])")
            #expect(served[name]?["value"] is NSNull)
        }

        // A service built from the new code, before the new version is materialized: stale too.
        #expect(try await Deployment.load(repository: v2, offline: server.offline, project: "test").staleViews == ["payments_view"])
        // Materializing the new version clears it.
        let newView = try #require(v2.featureView(named: "payments_view"))
        _ = try await server.offline.materialize(newView, mode: .range(start: nil, end: end))
        #expect(try await Deployment.load(repository: v2, offline: server.offline, project: "test").staleViews.isEmpty)
        // ... while the old build stays stale: the registry is not its definition any more.
        #expect(try await Deployment.load(repository: v1, offline: server.offline, project: "test").staleViews == ["payments_view"])
    }
}
