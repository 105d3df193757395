import Foundation
import LarderCore
import LarderOffline
import Testing

@Suite struct ServerTests {
    /// Pushes driver_stats rows through the service.
    func pushStats(_ server: ServerHarness, _ rows: [(Int64, Int64, Double)]) async throws -> ServerHarness.Reply {
        let items = rows.map { id, minutes, rate in
            #"{"driver_id": \#(id), "event_timestamp": "\#(server.at(minutes: minutes))", "conv_rate": \#(rate), "acc_rate": 0.5, "avg_daily_trips": 7}"#
        }
        return try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(items.joined(separator: ","))]}"#)
    }

    @Test func pushThenLookUpWithStatuses() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let pushed = try await pushStats(server, [(1001, -10, 0.25), (1001, -30, 0.75), (1002, -180, 0.5)])
        #expect(pushed.status == 200, "\(pushed.text)")
        #expect((pushed.json as? [String: Any])?["rows"] as? Int == 3)
        #expect(try await server.offline.registry.rowCount(source: "driver_stats") == 3)

        let reply = try await server.post(
            "/v1/features",
            #"""
            {"service": "driver_ranking", "entities": [{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 5}],
             "request": {"val_to_add": 1, "val_to_add_2": 2}}
            """#)
        #expect(reply.status == 200, "\(reply.text)")
        let body = try #require(reply.json as? [String: Any])
        #expect(
            body["features"] as? [String] == [
                "conv_rate", "acc_rate", "avg_daily_trips", "conv_rate_plus_val1", "conv_rate_plus_val2", "fare_per_km",
                "trips_1h", "fare_sum_24h", "fare_mean_7d", "fare_per_km_max_24h",
            ])
        let rows = try #require(body["rows"] as? [[String: Any]])
        #expect(rows.count == 3)
        func feature(_ row: Int, _ name: String) -> [String: Any] {
            ((rows[row]["features"] as? [String: Any])?[name] as? [String: Any]) ?? [:]
        }
        // The newer of two pushed rows wins; the on-demand features use it.
        #expect(feature(0, "conv_rate")["value"] as? Double == 0.25)
        #expect(feature(0, "conv_rate")["status"] as? String == "present")
        #expect(feature(0, "conv_rate")["event_timestamp"] as? String == server.at(minutes: -10))
        #expect(feature(0, "conv_rate_plus_val1")["value"] as? Double == 1.25)
        #expect(feature(0, "conv_rate_plus_val2")["value"] as? Double == 2.25)
        #expect(feature(0, "fare_per_km")["status"] as? String == "missing")
        // No trips: the window rule still gives every aggregation a value.
        #expect(feature(0, "trips_1h")["value"] as? Int == 0)
        #expect(feature(0, "trips_1h")["status"] as? String == "present")
        #expect(feature(0, "fare_sum_24h")["value"] as? Double == 0)
        #expect(feature(0, "fare_mean_7d")["value"] is NSNull)
        // Three hours old with a two-hour ttl: expired, and never served as a value.
        #expect(feature(1, "conv_rate")["status"] as? String == "expired")
        #expect(feature(1, "conv_rate")["value"] is NSNull)
        #expect(feature(1, "conv_rate_plus_val1")["status"] as? String == "expired")
        #expect(feature(2, "conv_rate")["status"] as? String == "missing")
        #expect((rows[2]["entity"] as? [String: Any])?["driver_id"] as? Int == 5)

        // Per-row request fields, a feature list, full names.
        let perRow = try await server.post(
            "/v1/features",
            #"""
            {"features": ["transformed_conv_rate:conv_rate_plus_val1", "driver_hourly_stats:conv_rate"], "full_names": true,
             "entities": [{"driver_id": 1001}, {"driver_id": 1001}], "request": [{"val_to_add": 10}, {"val_to_add": 20}]}
            """#)
        let perRowBody = try #require(perRow.json as? [String: Any])
        #expect(perRowBody["features"] as? [String] == ["transformed_conv_rate__conv_rate_plus_val1", "driver_hourly_stats__conv_rate"])
        let values = (perRowBody["rows"] as? [[String: Any]])?.map {
            (($0["features"] as? [String: Any])?["transformed_conv_rate__conv_rate_plus_val1"] as? [String: Any])?["value"] as? Double
        }
        #expect(values == [10.25, 20.25])
    }

    /// A pushed trip counts in the aggregations at once, arrival order does not matter, and
    /// concurrent pushes to one driver lose nothing (the tiles' compare-and-set retries).
    @Test func pushedEventsUpdateAggregationsAtOnce() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        func trip(_ minutes: Int64, fare: Double) -> String {
            #"{"driver_id": 7, "event_timestamp": "\#(server.at(minutes: minutes))", "fare": \#(fare), "distance_km": 2}"#
        }
        func values() async throws -> [String: Any] {
            let reply = try await server.post(
                "/v1/features",
                #"{"features": ["driver_trips:trips_1h", "driver_trips:fare_sum_24h", "driver_trips:fare_per_km_max_24h"], "entities": [{"driver_id": 7}]}"#
            )
            #expect(reply.status == 200, "\(reply.text)")
            let features = (((reply.json as? [String: Any])?["rows"] as? [[String: Any]])?.first?["features"] as? [String: Any]) ?? [:]
            return features.mapValues { ($0 as? [String: Any])?["value"] ?? NSNull() }
        }
        #expect(try await values()["trips_1h"] as? Int == 0)
        _ = try await server.post("/v1/push", #"{"source": "trips", "rows": [\#(trip(-5, fare: 10.5))]}"#)
        #expect(try await values()["trips_1h"] as? Int == 1)
        // An older trip arrives later; one from two hours ago counts in 24 hours only.
        _ = try await server.post("/v1/push", #"{"source": "trips", "rows": [\#(trip(-20, fare: 4)), \#(trip(-120, fare: 100))]}"#)
        var now = try await values()
        #expect(now["trips_1h"] as? Int == 2)
        #expect(now["fare_sum_24h"] as? Double == 114.5)
        #expect(now["fare_per_km_max_24h"] as? Double == 50)

        // Twenty concurrent pushes of one trip each.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for k in 0..<20 {
                group.addTask { try await server.post("/v1/push", #"{"source": "trips", "rows": [\#(trip(-1, fare: Double(k)))]}"#).status }
            }
            for try await status in group { #expect(status == 200) }
        }
        now = try await values()
        #expect(now["trips_1h"] as? Int == 22)
        #expect(now["fare_sum_24h"] as? Double == 114.5 + 190)
        #expect(try await server.offline.registry.rowCount(source: "trips") == 23)
    }

    @Test func feastCompatibleShape() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        _ = try await pushStats(server, [(1001, -10, 0.25), (1002, -180, 0.5)])
        let reply = try await server.post(
            "/get-online-features",
            #"""
            {"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"], "entities": {"driver_id": [1001, 1002, 3]}}
            """#)
        #expect(reply.status == 200, "\(reply.text)")
        let body = try #require(reply.json as? [String: Any])
        #expect((body["metadata"] as? [String: Any])?["feature_names"] as? [String] == ["driver_id", "conv_rate", "avg_daily_trips"])
        let results = try #require(body["results"] as? [[String: Any]])
        #expect(results.count == 3)
        #expect(results[0]["values"] as? [Int] == [1001, 1002, 3])
        #expect(results[0]["statuses"] as? [String] == ["PRESENT", "PRESENT", "PRESENT"])
        #expect((results[1]["values"] as? [Any])?.first as? Double == 0.25)
        #expect(results[1]["statuses"] as? [String] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"])
        #expect(results[1]["event_timestamps"] as? [String] == [server.at(minutes: -10), server.at(minutes: -180), "1970-01-01T00:00:00Z"])
        #expect((results[2]["values"] as? [Any])?.first as? Int == 7)
        #expect((results[2]["values"] as? [Any])?.last is NSNull)

        // A feature service, request data as entity columns, full names.
        let service = try await server.post(
            "/get-online-features",
            #"""
            {"feature_service": "driver_ranking", "full_feature_names": true,
             "entities": {"driver_id": [1001], "val_to_add": [1], "val_to_add_2": [2]}}
            """#)
        #expect(service.status == 200, "\(service.text)")
        let names = ((service.json as? [String: Any])?["metadata"] as? [String: Any])?["feature_names"] as? [String]
        #expect(names?.first == "driver_id")
        #expect(names?.contains("transformed_conv_rate__conv_rate_plus_val1") == true)
    }

    /// 400: not the documented shape; 422: the documented shape with values that do not fit
    /// the features named.
    @Test(arguments: [
        ("/v1/features", #"{"service": "driver_ranking", "entities": [{"driver_id": 1}]"#, 400, "malformed JSON"),
        ("/v1/features", "", 400, "the request body is empty"),
        ("/v1/features", #"[1, 2]"#, 400, "the request body must be a JSON object, got an array"),
        ("/v1/features", #"{"entities": [{"driver_id": 1}]}"#, 400, "give either a feature service or a list of features"),
        (
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": "1001"}]}"#, 422,
            "entities[0].driver_id must be int64, got a string"
        ),
        (
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1.5}]}"#, 422,
            "entities[0].driver_id must be int64, got a number"
        ),
        (
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{}]}"#, 422,
            "entity row 0: missing join key 'driver_id'"
        ),
        (
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1, "x": 2}]}"#, 422,
            "entities[0]: unknown key 'x'"
        ),
        ("/v1/features", #"{"service": "driver_ranking", "entities": [{"driver_id": 1}]}"#, 422, "missing request field 'val_to_add'"),
        (
            "/v1/features", #"{"service": "driver_ranking", "entities": [{"driver_id": 1}], "request": [{}, {}]}"#, 422,
            "'request' has 2 objects for 1 entity rows"
        ),
        (
            "/get-online-features",
            #"{"features": ["transformed_conv_rate:conv_rate_plus_val1"], "entities": {"driver_id": [1, 2], "val_to_add": [1]}}"#, 422,
            "every column must have the same number of values"
        ),
        (
            "/get-online-features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [true]}}"#, 422,
            "must be int64, got a boolean"
        ),
        ("/v1/push", #"{"source": "driver_stats", "rows": []}"#, 400, "'rows' is empty"),
        ("/v1/push", #"{"source": "driver_stats"}"#, 400, "a push needs 'source'"),
        (
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}], "bogus": 1}"#, 400,
            "unknown key 'bogus' in the request"
        ),
    ])
    func badRequestsGet4xxWithAJSONError(path: String, body: String, status: Int, message: String) async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let reply = try await server.post(path, body)
        #expect(reply.status == status, "\(reply.text)")
        #expect((reply.errorMessage ?? reply.feastError?["message"])?.contains(message) == true, "\(reply.text)")
    }

    @Test func badPushesWriteNothing() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let cases: [(String, String)] = [
            (
                #"{"driver_id": 1, "event_timestamp": "2026-01-03T12:00:00Z", "conv_rate": "x", "acc_rate": 0.5, "avg_daily_trips": 1}"#,
                "row 1: column 'conv_rate': expected a number (double), got a string"
            ),
            (
                #"{"driver_id": 1, "event_timestamp": "2026-01-03 12:00:00", "conv_rate": 1, "acc_rate": 0.5, "avg_daily_trips": 1}"#,
                "row 1: column 'event_timestamp'"
            ),
            (
                #"{"driver_id": 1, "event_timestamp": "2026-01-03T12:00:00Z", "acc_rate": 0.5, "avg_daily_trips": 1}"#,
                "row 1: column 'conv_rate': missing or null"
            ),
            (
                #"{"driver_id": 1, "event_timestamp": "2026-01-03T12:00:00Z", "conv_rate": 1, "acc_rate": 0.5, "avg_daily_trips": 1, "bonus": 3}"#,
                "row 1: column 'bonus': unknown column"
            ),
            (
                #"{"driver_id": 1, "event_timestamp": "2026-01-03T12:00:00Z", "conv_rate": [1], "acc_rate": 0.5, "avg_daily_trips": 1}"#,
                "row 1: column 'conv_rate': expected a number (double), got an array"
            ),
        ]
        let good = #"{"driver_id": 1, "event_timestamp": "2026-01-03T12:00:00Z", "conv_rate": 1, "acc_rate": 0.5, "avg_daily_trips": 1}"#
        for (bad, message) in cases {
            let reply = try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(good), \#(bad)]}"#)
            #expect(reply.status == 422, "\(reply.text)")
            #expect(reply.errorMessage?.contains(message) == true, "\(reply.text)")
        }
        #expect(try await server.offline.registry.rowCount(source: "driver_stats") == 0)
        let lookup = try await server.post(
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}]}"#)
        #expect(lookup.text.contains(#""status":"missing""#))
    }

    @Test func oversizedBodiesGet413() async throws {
        let server = try await ServerHarness(maxBodyBytes: 1024)
        defer { Task { await server.stop() } }
        let entities = (0..<200).map { #"{"driver_id": \#($0)}"# }.joined(separator: ",")
        let reply = try await server.post("/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [\#(entities)]}"#)
        #expect(reply.status == 413)
        #expect(reply.errorMessage != nil, "\(reply.text)")
    }

    @Test func bearerTokenGuardsTheAPIButNotHealth() async throws {
        let server = try await ServerHarness(apiToken: "s3cret")
        defer { Task { await server.stop() } }
        let body = #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}]}"#
        let none = try await server.post("/v1/features", body)
        #expect(none.status == 401)
        #expect(none.errorMessage?.contains("bearer token") == true)
        #expect(try await server.post("/v1/features", body, token: "wrong").status == 401)
        #expect(try await server.post("/v1/features", body, token: "s3cret").status == 200)
        #expect(try await server.get("/health").status == 200)
    }

    @Test func redisDownGives503ThenRecovers() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        _ = try await pushStats(server, [(1001, -10, 0.25)])
        let body = #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}]}"#
        #expect(try await server.post("/v1/features", body).status == 200)

        server.redis.stop()
        let started = Date()
        let down = try await server.post("/v1/features", body)
        #expect(down.status == 503)
        #expect(down.errorMessage?.contains("the online store (Redis) is unavailable") == true, "\(down.text)")
        // Within its timeouts: a single server's connect timeout, or for a cluster six retries,
        // each asking every known node for the slot map (slower on a loaded machine).
        let bound: TimeInterval = server.redis.cluster == nil ? 3 : 10
        #expect(Date().timeIntervalSince(started) < bound, "a lookup with Redis down must fail within its timeouts")
        let health = try await server.get("/health")
        #expect(health.status == 503)
        #expect((health.json as? [String: Any])?["offline"] as? String == "ok")
        #expect((health.json as? [String: Any])?["sqlite"] as? String == "ok")  // the old name, kept

        // A push now stores the rows offline and says the online part failed: 202, not a
        // retryable error (a retry would store them twice).
        let pushed = try await pushStats(server, [(1001, -5, 0.5)])
        #expect(pushed.status == 202, "\(pushed.text)")
        #expect((pushed.json as? [String: Any])?["online_error"] as? String != nil)
        #expect(try await server.offline.registry.rowCount(source: "driver_stats") == 2)

        try server.redis.restart()
        // The client reconnects by itself (after its backoff, at most 2 s).
        var recovered = false
        for _ in 0..<40 {
            if try await server.post("/v1/features", body).status == 200 { recovered = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(recovered)
        #expect(try await server.get("/health").status == 200)
    }

    @Test func knownPathsWithAnotherMethodGet405() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let reply = try await server.get("/v1/features")
        #expect(reply.status == 405)
        #expect(reply.errorMessage?.contains("use POST") == true, "\(reply.text)")
        #expect(try await server.request("DELETE", "/health").status == 405)
        #expect(try await server.get("/nope").status == 404)
    }

    @Test func metricsAreExposed() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        _ = try await server.post("/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}]}"#)
        let metrics = try await server.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains("larder_served_features_total{status=\"missing\"}"))
        #expect(metrics.text.contains("hb_requests"))

        // Per-view freshness: the age of the youngest value served, and expired rows. The
        // metrics are process-wide and other tests serve the same view concurrently, so only
        // their presence is checked here.
        _ = try await pushStats(server, [(1001, -10, 0.25), (1002, -180, 0.5)])
        _ = try await server.post(
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}, {"driver_id": 1002}]}"#)
        let after = try await server.get("/metrics").text
        #expect(after.contains("larder_view_freshness_seconds{view=\"driver_hourly_stats\"}"), "\(after)")
        #expect(after.contains("larder_served_expired_entities_total{view=\"driver_hourly_stats\"}"))
    }
}
