import Foundation
import LarderTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The service's answers to requests that are wrong below the level of a route's JSON: bytes
/// that are not HTTP, authorization headers, names the repository does not define, clients
/// that go away.
@Suite struct HTTPErrorTests {
    /// Sends raw bytes and reads one answer (its head and `Content-Length` bytes of body), on a
    /// dispatch queue: the socket calls block, and the cooperative pool has few threads.
    func exchange(_ server: ServerHarness, _ request: String, timeout: TimeInterval = 5) async -> String {
        let port = server.port
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let answer = LoopbackSocket.exchange(port: port, request: request, timeout: timeout) { text in
                    guard let end = text.range(of: "\r\n\r\n") else { return false }
                    let length = text[..<end.lowerBound].split(separator: "\r\n")
                        .first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
                    return text.utf8.count - text[..<end.upperBound].utf8.count >= (length ?? 0)
                }
                continuation.resume(returning: answer ?? "")
            }
        }
    }

    /// The JSON body of a raw HTTP answer.
    func jsonBody(_ answer: String) -> [String: Any]? {
        guard let range = answer.range(of: "\r\n\r\n") else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(answer[range.upperBound...].utf8)) as? [String: Any]
    }

    @Test(arguments: [
        ("GARBAGE\r\n\r\n", "invalid HTTP method"),
        (
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: \(String(repeating: "a", count: 100_000))\r\n\r\n",
            "its headers are larger than the service accepts"
        ),
        ("POST /v1/features HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "its Content-Length is not a non-negative integer"),
    ])
    func requestsThatAreNotHTTPGet400WithAJSONError(request: String, message: String) async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let answer = await exchange(server, request)
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(300))")
        #expect(answer.lowercased().contains("content-type: application/json"), "\(answer.prefix(300))")
        let error = jsonBody(answer)?["error"] as? [String: Any]
        #expect(error?["status"] as? Int == 400, "\(answer.prefix(300))")
        #expect((error?["message"] as? String)?.contains(message) == true, "\(answer.prefix(300))")
        // The service goes on answering.
        #expect(try await server.get("/health").status == 200)
    }

    /// A malformed body after a valid head is answered by the route, as JSON too.
    @Test func aMalformedChunkedBodyGets400WithAJSONError() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let answer = await exchange(server, "POST /v1/features HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(300))")
        #expect(((jsonBody(answer)?["error"] as? [String: Any])?["message"] as? String)?.contains("not valid HTTP/1.1") == true)
    }

    /// The scheme of an `Authorization` header is case-insensitive (RFC 9110, section 11.1).
    @Test func theBearerSchemeIsCaseInsensitive() async throws {
        let server = try await ServerHarness(apiToken: "s3cret")
        defer { Task { await server.stop() } }
        func status(_ authorization: String) async throws -> Int {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/v1/features")!)
            request.httpMethod = "POST"
            request.httpBody = Data(#"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}]}"#.utf8)
            request.setValue(authorization, forHTTPHeaderField: "Authorization")
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as! HTTPURLResponse).statusCode
        }
        for accepted in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR  s3cret"] {
            #expect(try await status(accepted) == 200, "\(accepted)")
        }
        for refused in ["Basic s3cret", "Bearer S3CRET", "Bearers3cret", "s3cret", "Bearer"] {
            #expect(try await status(refused) == 401, "\(refused)")
        }
    }

    /// A well-formed name the feature repository does not define is 404 (as Feast's server
    /// answers for an unknown view or service); the source is checked before the rows.
    @Test(arguments: [
        ("/v1/push", #"{"source": "nope", "rows": []}"#, "unknown source 'nope'; known: driver_stats, trips"),
        ("/v1/push", #"{"source": "nope", "rows": [{}]}"#, "unknown source 'nope'"),
        ("/v1/features", #"{"service": "nope", "entities": []}"#, "unknown feature service 'nope'"),
        ("/v1/features", #"{"features": ["nope:x"], "entities": []}"#, "unknown feature view 'nope'"),
        (
            "/v1/features", #"{"features": ["driver_hourly_stats:nope"], "entities": [{"driver_id": 1}]}"#,
            "view driver_hourly_stats has no feature 'nope'"
        ),
    ])
    func unknownNamesGet404(path: String, body: String, message: String) async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let reply = try await server.post(path, body)
        #expect(reply.status == 404, "\(reply.text)")
        #expect(reply.errorMessage?.contains(message) == true, "\(reply.text)")
    }

    /// A malformed reference stays a 400: it names nothing.
    @Test func aMalformedReferenceIs400() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let reply = try await server.post("/v1/features", #"{"features": ["a:b:c"], "entities": []}"#)
        #expect(reply.status == 400, "\(reply.text)")
        #expect(reply.errorMessage?.contains("'a:b:c' is not a feature reference") == true, "\(reply.text)")
    }

    /// A client that closes the connection before sending its whole request is counted under
    /// 499 ("client closed request"), not as a failure of the service (500).
    @Test func abandonedRequestsAreCountedAs499() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let head = "POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        // Nothing comes back before the body is complete: the exchange gives up and closes.
        _ = await exchange(server, head + #"{"features": ["#, timeout: 0.2)
        let counted = #"hb_requests{http_route="/get-online-features",http_request_method="POST",http_response_status_code="499"}"#
        var metrics = ""
        for _ in 0..<50 {
            metrics = try await server.get("/metrics").text
            if metrics.contains(counted) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(metrics.contains(counted), "\(metrics.split(separator: "\n").filter { $0.hasPrefix("hb_requests") })")
        #expect(!metrics.contains(#"http_route="/get-online-features",http_request_method="POST",http_response_status_code="500""#))
    }
}
