import Features
import Foundation
import LarderCore
import LarderEngine
import LarderServer
import LarderTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Access control against a running service: every token × route × target answers 200, 401
/// or 403 as the table below says, written out by hand (not computed by the rule it checks).
@Suite struct AccessControlTests {
    /// The tokens: each secret is its name reversed, and what it may do.
    static let tokens: [(name: String, allow: [String])] = [
        ("ranking", ["read:driver_ranking"]),
        ("producer", ["push:trips"]),
        ("analyst", ["catalog", "read:driver_hourly_stats"]),
        ("prefix", ["read:driver_*"]),
        ("on-demand", ["read:transformed_conv_rate"]),
        ("scraper", ["metrics"]),
        ("admin", ["*"]),
    ]

    static func secret(_ name: String) -> String { String(name.reversed()) + "-s3cret" }

    static func policy(protectsMetrics: Bool) -> AccessPolicy {
        AccessPolicy(
            tokens: tokens.map {
                APIToken(name: $0.name, sha256: APIToken.digest(of: secret($0.name)), allow: $0.allow.map { Permission($0)! })
            },
            protectsMetrics: protectsMetrics)
    }

    /// One request of the matrix.
    struct Target {
        var label: String
        var method: String
        var path: String
        var body: String?
    }

    static let hourly = #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}]}"#
    static let targets: [Target] = [
        Target(
            label: "service", method: "POST", path: "/v1/features",
            body: #"{"service": "driver_ranking", "entities": [{"driver_id": 1001}], "request": {"val_to_add": 1, "val_to_add_2": 2}}"#),
        Target(label: "view feature", method: "POST", path: "/v1/features", body: hourly),
        Target(
            label: "mixed", method: "POST", path: "/v1/features",
            body: #"{"features": ["driver_hourly_stats:conv_rate", "driver_trips:trips_1h"], "entities": [{"driver_id": 1001}]}"#),
        Target(
            label: "on-demand", method: "POST", path: "/v1/features",
            body:
                #"{"features": ["transformed_conv_rate:conv_rate_plus_val1"], "entities": [{"driver_id": 1001}], "request": {"val_to_add": 1}}"#
        ),
        Target(
            label: "feast service", method: "POST", path: "/get-online-features",
            body: #"{"feature_service": "driver_ranking", "entities": {"driver_id": [1001], "val_to_add": [1], "val_to_add_2": [2]}}"#),
        Target(
            label: "push trips", method: "POST", path: "/v1/push",
            body: #"{"source": "trips", "rows": [{"driver_id": 1001, "event_timestamp": "NOW", "fare": 10.5, "distance_km": 3.0}]}"#),
        Target(
            label: "push stats", method: "POST", path: "/v1/push",
            body:
                #"{"source": "driver_stats", "rows": [{"driver_id": 1001, "event_timestamp": "NOW", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 3}]}"#
        ),
        Target(label: "catalog json", method: "GET", path: "/v1/catalog"),
        Target(label: "catalog page", method: "GET", path: "/ui/views/driver_trips"),
        Target(label: "metrics", method: "GET", path: "/metrics"),
        Target(label: "health", method: "GET", path: "/health"),
    ]

    /// token → expected status per target label, in `targets` order. "none": no token;
    /// "unknown": a secret no token has.
    static func expected(protectsMetrics: Bool) -> [String: [Int]] {
        let m = protectsMetrics
        //                 service view mixed  ond  feast pushT pushS catJ catP metrics health
        return [
            "none": [401, 401, 401, 401, 401, 401, 401, 401, 303, m ? 401 : 200, 200],
            "unknown": [401, 401, 401, 401, 401, 401, 401, 401, 303, m ? 401 : 200, 200],
            "ranking": [200, 403, 403, 403, 200, 403, 403, 403, 403, m ? 403 : 200, 200],
            "producer": [403, 403, 403, 403, 403, 200, 403, 403, 403, m ? 403 : 200, 200],
            "analyst": [403, 200, 403, 403, 403, 403, 403, 200, 200, m ? 403 : 200, 200],
            // read:driver_* covers driver_hourly_stats, driver_trips and the service
            // driver_ranking itself, but not the on-demand view transformed_conv_rate.
            "prefix": [200, 200, 200, 403, 200, 403, 403, 403, 403, m ? 403 : 200, 200],
            "on-demand": [403, 403, 403, 200, 403, 403, 403, 403, 403, m ? 403 : 200, 200],
            "scraper": [403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200],
            "admin": [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
        ]
    }

    func run(_ server: ServerHarness, _ target: Target, secret: String?) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)\(target.path)")!)
        request.httpMethod = target.method
        if let secret { request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization") }
        if let body = target.body {
            request.httpBody = Data(body.replacingOccurrences(of: "NOW", with: "\(server.now)").utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil).data(
            for: request)
        return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: [false, true])
    func everyTokenRouteAndTargetAnswersAsSpecified(protectsMetrics: Bool) async throws {
        let server = try await ServerHarness(configure: { $0.access = Self.policy(protectsMetrics: protectsMetrics) })
        defer { Task { await server.stop() } }
        let expected = Self.expected(protectsMetrics: protectsMetrics)
        var cells = 0
        for (token, statuses) in expected.sorted(by: { $0.key < $1.key }) {
            let secret: String? = token == "none" ? nil : token == "unknown" ? "not-a-token" : Self.secret(token)
            for (target, want) in zip(Self.targets, statuses) {
                let (status, body) = try await run(server, target, secret: secret)
                #expect(status == want, "\(token) → \(target.label): \(status) \(body.prefix(300))")
                cells += 1
                if status == 403 && target.path != "/ui/views/driver_trips" {
                    #expect(body.contains("token '\(token)' lacks the permission "), "\(token) → \(target.label): \(body)")
                }
                if target.path == "/get-online-features" && (status == 401 || status == 403) {
                    // Feast's client reads a JSON string holding the error document.
                    let document = try JSONSerialization.jsonObject(with: Data(body.utf8), options: .fragmentsAllowed) as? String
                    #expect(document?.contains(#""class":"FeastPermissionError""#) == true, "\(body)")
                }
            }
        }
        #expect(cells == 9 * 11)

        // A refusal names the permission lacking: the first view of a mixed lookup the token
        // may not read; the service's read for a service lookup.
        let mixed = try await run(server, Self.targets[2], secret: Self.secret("analyst"))
        #expect(mixed.body.contains("lacks the permission read:driver_trips"), "\(mixed.body)")
        let service = try await run(server, Self.targets[0], secret: Self.secret("producer"))
        #expect(service.body.contains("lacks the permission read:driver_ranking"), "\(service.body)")
        let push = try await run(server, Self.targets[6], secret: Self.secret("producer"))
        #expect(push.body.contains("lacks the permission push:driver_stats"), "\(push.body)")

        // The refusals are counted by token name and route.
        let metrics = try await run(server, Target(label: "", method: "GET", path: "/metrics"), secret: Self.secret("admin")).body
        #expect(metrics.contains(#"larder_access_refusals_total{token="producer",route="/v1/features",status="403"}"#), "\(metrics)")
        #expect(metrics.contains(#"larder_access_refusals_total{token="none",route="/v1/push",status="401"}"#))
        // Secrets never appear in what the service says.
        for (name, _) in Self.tokens { #expect(!metrics.contains(Self.secret(name))) }
    }

    @Test func theLoginPageTakesOnlyATokenThatMayBrowseTheCatalog() async throws {
        let server = try await ServerHarness(configure: { $0.access = Self.policy(protectsMetrics: false) })
        defer { Task { await server.stop() } }
        func login(_ secret: String) async throws -> (status: Int, body: String, cookie: String?) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/ui/login")!)
            request.httpMethod = "POST"
            request.httpBody = Data("token=\(secret)&next=%2Fui".utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            let (data, response) = try await URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil).data(
                for: request)
            let http = response as! HTTPURLResponse
            return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Set-Cookie"))
        }
        let ranking = try await login(Self.secret("ranking"))
        #expect(ranking.status == 403 && ranking.cookie == nil)
        #expect(ranking.body.contains("may not browse the catalog"))
        let analyst = try await login(Self.secret("analyst"))
        #expect(analyst.status == 303)
        #expect(analyst.cookie?.hasPrefix("larder_session=") == true && analyst.cookie?.contains("HttpOnly; SameSite=Strict") == true)
        // The cookie opens the pages, not the API.
        var page = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/ui/views/driver_trips")!)
        page.setValue("larder_session=\(Self.secret("analyst"))", forHTTPHeaderField: "Cookie")
        let (_, pageResponse) = try await URLSession(configuration: .ephemeral).data(for: page)
        #expect((pageResponse as! HTTPURLResponse).statusCode == 200)
        var api = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/v1/features")!)
        api.httpMethod = "POST"
        api.httpBody = Data(Self.hourly.utf8)
        api.setValue("larder_session=\(Self.secret("analyst"))", forHTTPHeaderField: "Cookie")
        let (_, apiResponse) = try await URLSession(configuration: .ephemeral).data(for: api)
        #expect((apiResponse as! HTTPURLResponse).statusCode == 401)
    }

    @Test func tokensAreReadAgainWhenTheFileChanges() async throws {
        let dir = try TemporaryDirectory()
        let file = try dir.write("tokens", "analyst")
        let server = try await ServerHarness(configure: {
            $0.access = Self.policy(protectsMetrics: false)
            $0.accessReload = AccessReload(file: file, interval: .milliseconds(50)) {
                // The file lists the token names to keep.
                let names = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
                return AccessPolicy(tokens: Self.policy(protectsMetrics: false).tokens.filter { names.contains($0.name) })
            }
        })
        defer { Task { await server.stop() } }
        let view = Self.targets[1]
        #expect(try await run(server, view, secret: Self.secret("analyst")).status == 200)
        #expect(try await run(server, view, secret: Self.secret("prefix")).status == 200)  // the policy at start
        // The file is read once it changes: prefix is gone, then analyst is revoked too.
        _ = try dir.write("tokens", "analyst\nadmin")
        try await Self.eventually { try await run(server, view, secret: Self.secret("prefix")).status == 401 }
        #expect(try await run(server, view, secret: Self.secret("analyst")).status == 200)
        _ = try dir.write("tokens", "admin")
        try await Self.eventually { try await run(server, view, secret: Self.secret("analyst")).status == 401 }
        #expect(try await run(server, view, secret: Self.secret("admin")).status == 200)
    }

    static func eventually(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<100 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the condition did not hold within 5 s")
    }
}

/// Keeps 303s as answers, to check where they point.
final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
