import Foundation
import LarderCore
import Testing
import Yams

extension ServerHarness.Reply {
    /// An error body in Feast's shape: a JSON string holding the JSON text of
    /// `{"module", "class", "message"}`, which Feast's client decodes twice.
    var feastError: [String: String]? {
        guard let text = (try? JSONSerialization.jsonObject(with: body, options: .fragmentsAllowed)) as? String else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String]
    }
}

/// `/get-online-features` as Feast's SDK uses it (its online store of type `remote`), and the
/// request rules both lookup routes share with Feast. scripts/compat/feast_check.sh runs the
/// real SDK; these tests pin what it depends on.
@Suite struct FeastCompatibilityTests {
    /// driver_stats rows for 1001 (10 minutes old) and 1002 (3 hours old: expired).
    func pushStats(_ server: ServerHarness) async throws {
        let rows = [(1001, -10, 0.25), (1002, -180, 0.5)].map { id, minutes, rate in
            #"{"driver_id": \#(id), "event_timestamp": "\#(server.at(minutes: Int64(minutes)))", "conv_rate": \#(rate), "acc_rate": 0.5, "avg_daily_trips": 7}"#
        }
        let pushed = try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(rows.joined(separator: ","))]}"#)
        #expect(pushed.status == 200, "\(pushed.text)")
    }

    func feastError(_ reply: ServerHarness.Reply) throws -> [String: String] {
        try #require(reply.feastError, "not an error in Feast's shape: \(reply.text)")
    }

    /// Feast's SDK 0.64 and later send `include_feature_view_version_metadata` in every request,
    /// and Feast's server ignores keys it does not know.
    @Test func unknownKeysAreIgnoredAndVersionMetadataIsServed() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        try await pushStats(server)
        let reply = try await server.post(
            "/get-online-features",
            #"""
            {"features": ["driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1"],
             "entities": {"driver_id": [1001], "val_to_add": [2]}, "full_feature_names": false,
             "include_feature_view_version_metadata": true, "a_key_of_a_future_sdk": {"x": 1}}
            """#)
        #expect(reply.status == 200, "\(reply.text)")
        let metadata = try #require((reply.json as? [String: Any])?["metadata"] as? [String: Any])
        let views = try #require(metadata["feature_view_metadata"] as? [[String: Any]], "\(reply.text)")
        #expect(views.count == 1)
        #expect(views.first?["name"] as? String == "driver_hourly_stats")
        #expect(views.first?["version"] as? Int == 1)
        let results = try #require((reply.json as? [String: Any])?["results"] as? [[String: Any]])
        #expect((results[2]["values"] as? [Double]) == [2.25])

        // Without the flag (or with it false) there is no version metadata, as in Feast.
        for flag in ["", #", "include_feature_view_version_metadata": false"#] {
            let plain = try await server.post(
                "/get-online-features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}\#(flag)}"#)
            #expect(plain.status == 200, "\(plain.text)")
            #expect(((plain.json as? [String: Any])?["metadata"] as? [String: Any])?["feature_view_metadata"] == nil)
        }
        // Keys Feast reads keep their types.
        let mistyped = try await server.post(
            "/get-online-features",
            #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}, "include_feature_view_version_metadata": "yes"}"#
        )
        #expect(mistyped.status == 400)
        #expect(try feastError(mistyped)["message"]?.contains("'include_feature_view_version_metadata' must be true or false") == true)
    }

    /// Feast's client raises the exception an error body names, with its message; Larder's own
    /// shape would reach it as a generic error.
    @Test func errorsOnTheFeastRouteHaveFeastsShape() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let cases: [(String, Int, String, String)] = [
            (
                #"{"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1]}}"#, 404, "FeastObjectNotFoundException",
                "view driver_hourly_stats has no feature 'nope'"
            ),
            (
                #"{"feature_service": "nope", "entities": {"driver_id": [1]}}"#, 404, "FeastObjectNotFoundException",
                "unknown feature service 'nope'"
            ),
            (
                #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [true]}}"#, 422, "FeastError",
                "entities.driver_id[0] must be int64, got a boolean"
            ),
            ("[1]", 400, "FeastError", "the request body must be a JSON object"),
        ]
        for (body, status, feastClass, message) in cases {
            let reply = try await server.post("/get-online-features", body)
            #expect(reply.status == status, "\(reply.text)")
            let error = try feastError(reply)
            #expect(error["module"] == "feast.errors")
            #expect(error["class"] == feastClass, "\(error)")
            #expect(error["message"]?.contains(message) == true, "\(error)")
        }
        // Larder's own route keeps Larder's shape.
        let larder = try await server.post("/v1/features", #"{"features": ["driver_hourly_stats:nope"], "entities": [{"driver_id": 1}]}"#)
        #expect(larder.status == 404)
        #expect(larder.errorMessage?.contains("view driver_hourly_stats has no feature 'nope'") == true, "\(larder.text)")
    }

    /// `entities: {}` names no entity: missing join keys are refused (422), as for a row without
    /// them. A feature named twice would give two columns of one name; Feast refuses it too.
    @Test func missingJoinKeyColumnsAndRepeatedFeaturesAreRefused() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let cases: [(String, String, String)] = [
            (
                "/get-online-features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {}}"#,
                "missing join key column 'driver_id' (int64) in 'entities'"
            ),
            (
                "/get-online-features", #"{"feature_service": "driver_ranking", "entities": {"driver_id": []}}"#,
                "missing request field column 'val_to_add' (int64)"
            ),
            (
                "/get-online-features",
                #"{"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1]}}"#,
                "feature driver_hourly_stats:conv_rate is requested twice"
            ),
            (
                "/v1/features", #"{"features": ["driver_hourly_stats", "driver_hourly_stats:acc_rate"], "entities": [{"driver_id": 1}]}"#,
                "feature driver_hourly_stats:acc_rate is requested twice"
            ),
        ]
        for (path, body, message) in cases {
            let reply = try await server.post(path, body)
            #expect(reply.status == 422, "\(path) \(body): \(reply.text)")
            let text = path == "/v1/features" ? reply.errorMessage : try feastError(reply)["message"]
            #expect(text?.contains(message) == true, "\(reply.text)")
        }
        let repeated = try await server.post(
            "/get-online-features",
            #"{"features": ["driver_hourly_stats:acc_rate", "driver_hourly_stats:acc_rate"], "entities": {"driver_id": [1]}}"#)
        #expect(try feastError(repeated)["class"] == "FeatureNameCollisionError")
        // Every join key column present, with no rows: an empty answer.
        let empty = try await server.post(
            "/get-online-features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": []}}"#)
        #expect(empty.status == 200, "\(empty.text)")
    }

    /// Request fields no requested feature reads are ignored on both routes (as Feast does), and
    /// so are `entities` columns that are neither join keys nor fields read; the columns used
    /// must have one length.
    @Test func dataNoRequestedFeatureReadsIsIgnored() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        try await pushStats(server)
        let features = try await server.post(
            "/v1/features",
            #"""
            {"features": ["transformed_conv_rate:conv_rate_plus_val1"], "entities": [{"driver_id": 1001}],
             "request": {"val_to_add": 1, "val_to_add_2": 2, "unrelated": [true]}}
            """#)
        #expect(features.status == 200, "\(features.text)")
        #expect(features.text.contains(#""conv_rate_plus_val1":{"value":1.25"#), "\(features.text)")

        let feast = try await server.post(
            "/get-online-features",
            #"""
            {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001, 1002], "label": ["a"]},
             "request_context": {"val_to_add_2": [1, 2, 3]}}
            """#)
        #expect(feast.status == 200, "\(feast.text)")
        #expect(
            (feast.json as? [String: Any]).flatMap { ($0["metadata"] as? [String: Any])?["feature_names"] as? [String] } == [
                "driver_id", "conv_rate",
            ])

        let uneven = try await server.post(
            "/get-online-features",
            #"{"feature_service": "driver_ranking", "entities": {"driver_id": [1001, 1002], "val_to_add": [1]}, "request_context": {"val_to_add_2": [1, 2]}}"#
        )
        #expect(uneven.status == 422, "\(uneven.text)")
        #expect(
            try feastError(uneven)["message"]?.contains(
                "every column must have the same number of values: 'driver_id' has 2, 'val_to_add' has 1") == true)
        // Each column is still an array, as in Feast's request model.
        let notAColumn = try await server.post(
            "/get-online-features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001], "label": "a"}}"#)
        #expect(notAColumn.status == 400, "\(notAColumn.text)")
    }

    /// Every request example of schemas/openapi.yaml gets the 200 it documents.
    @Test func theOpenAPIExamplesAreAccepted() async throws {
        let specURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schemas/openapi.yaml")
        let spec = try #require(try Yams.load(yaml: String(contentsOf: specURL, encoding: .utf8)) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: [String: Any]])
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        var checked = 0
        for (path, operations) in paths.sorted(by: { $0.key < $1.key }) {
            guard let post = operations["post"] as? [String: Any],
                let content = ((post["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any]
            else { continue }
            var examples: [Any] = content["example"].map { [$0] } ?? []
            examples += ((content["examples"] as? [String: Any]) ?? [:]).values.compactMap { ($0 as? [String: Any])?["value"] }
            for example in examples {
                let body = try JSONSerialization.data(withJSONObject: example)
                let reply = try await server.request("POST", path, body: body)
                #expect(reply.status == 200, "\(path) \(String(decoding: body, as: UTF8.self)): \(reply.text)")
                checked += 1
            }
        }
        #expect(checked >= 6, "the examples of schemas/openapi.yaml were not found")
    }
}
