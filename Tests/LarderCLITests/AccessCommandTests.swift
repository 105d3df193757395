import Foundation
import LarderTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `larder token new`, `serve.tokens` in larder.yaml, and a running `larder serve` re-reading
/// them when the file changes or on SIGHUP, through the built binary.
@Suite struct AccessCommandTests {
    let project: LarderProcess
    let redis: TestRedis

    init() throws {
        project = try LarderProcess()
        redis = try TestRedis()
    }

    /// The secret and the sha256 line `token new` prints.
    func newToken(_ name: String, _ allow: String...) throws -> (secret: String, sha256: String, output: String) {
        let made = try project.run(arguments: ["token", "new", name] + allow.flatMap { ["--allow", $0] })
        #expect(made.status == 0, "\(made.stderr)")
        let lines = made.stdout.split(separator: "\n").map(String.init)
        let secret = try #require(lines.first { $0.hasPrefix("secret ") }?.split(separator: " ").last.map(String.init))
        let sha = try #require(
            lines.first { $0.contains("sha256: ") }?.split(separator: " ").last.map { $0.trimmingCharacters(in: ["\""]) })
        return (secret, sha, made.stdout)
    }

    func status(_ port: Int, _ path: String, _ body: String?, secret: String?) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        if let body {
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
        }
        if let secret { request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization") }
        let (_, response) = try await URLSession(configuration: .ephemeral).data(for: request)
        return (response as! HTTPURLResponse).statusCode
    }

    @Test func tokensFromTheFileAreEnforcedAndReadAgainWithoutARestart() async throws {
        let ranking = try newToken("ranking", "read:driver_ranking")
        #expect(ranking.output.contains("      allow: [\"read:driver_ranking\"]"))
        #expect(ranking.sha256.count == 64 && ranking.secret.count >= 43)
        #expect(!ranking.output.contains(ranking.secret + "\n      sha256"), "the secret is printed once, apart from the entry")
        let producer = try newToken("producer", "push:trips")
        func yaml(_ rankingAllow: String) -> String {
            """
            project: cli_test
            serve:
              tokens:
                - name: ranking
                  sha256: \(ranking.sha256)
                  allow: ["\(rankingAllow)"]
                - name: producer
                  sha256_env: PRODUCER_SHA256
                  allow: ["push:trips"]

            """
        }
        try project.write("larder.yaml", yaml("read:driver_ranking"))
        // LARDER_API_TOKEN beside them: one more token, named api_token, that may do everything.
        let env = ["LARDER_REDIS_URL": redis.url, "PRODUCER_SHA256": producer.sha256, "LARDER_API_TOKEN": "legacy-s3cret"]
        #expect(try project.run("apply", environment: env).status == 0)
        #expect(try project.run("materialize", environment: env).status == 0)
        let port = try LoopbackSocket.freePort()
        let log = project.directory + "/serve.log"
        let server = try project.start("serve", "--port", "\(port)", environment: env, stderrTo: log)
        defer { if server.isRunning { server.terminate() } }
        for _ in 0..<100 {
            if (try? await status(port, "/health", nil, secret: nil)) == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let lookup = #"{"service": "driver_ranking", "entities": [{"driver_id": 1001}], "request": {"val_to_add": 1, "val_to_add_2": 2}}"#
        #expect(try await status(port, "/v1/features", lookup, secret: ranking.secret) == 200)
        #expect(try await status(port, "/v1/features", lookup, secret: producer.secret) == 403)
        #expect(try await status(port, "/v1/features", lookup, secret: nil) == 401)
        #expect(try await status(port, "/v1/features", lookup, secret: "legacy-s3cret") == 200)
        let started = try String(contentsOfFile: log, encoding: .utf8)
        #expect(
            started.contains("access: 3 token(s): ranking (read:driver_ranking); producer (push:trips); api_token (*)"), "\(started)")
        #expect(started.contains("keeps a token in plain text"), "\(started)")
        #expect(!started.contains("legacy-s3cret"))
        #expect(!started.contains(ranking.secret) && !started.contains(ranking.sha256))

        // Revoked in the file: refused within the reload interval, no restart.
        try project.write("larder.yaml", yaml("read:driver_rankinX"))
        var revoked = false
        for _ in 0..<50 where !revoked {
            try await Task.sleep(for: .milliseconds(100))
            revoked = try await status(port, "/v1/features", lookup, secret: ranking.secret) == 403
        }
        #expect(revoked, "the edited larder.yaml was not read again")

        // Granted again, by a change that keeps the file's size and time: only SIGHUP reads it.
        let path = project.directory + "/larder.yaml"
        var before = stat()
        #expect(stat(path, &before) == 0)
        try project.write("larder.yaml", yaml("read:driver_ranking"))
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await status(port, "/v1/features", lookup, secret: ranking.secret) == 403, "read without SIGHUP")
        kill(server.processIdentifier, SIGHUP)
        var granted = false
        for _ in 0..<50 where !granted {
            try await Task.sleep(for: .milliseconds(100))
            granted = try await status(port, "/v1/features", lookup, secret: ranking.secret) == 200
        }
        #expect(granted, "SIGHUP did not read larder.yaml again")

        // A file that no longer reads keeps the tokens in force, and says why.
        try project.write("larder.yaml", yaml("write:everything"))
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await status(port, "/v1/features", lookup, secret: ranking.secret) == 200)
        server.terminate()
        server.waitUntilExit()
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logged.contains("tokens not re-read"), "\(logged)")
        #expect(logged.contains("'write:everything' is not a permission"), "\(logged)")
    }

    @Test func badTokenConfigurationIsRefusedNamingTheEntry() throws {
        let cases: [(yaml: String, message: String)] = [
            (
                "serve:\n  tokens:\n    - name: a\n      sha256: abc\n      allow: [\"*\"]\n",
                "'serve.tokens[0].sha256' (token a) must be the 64 hex digits"
            ),
            (
                "serve:\n  tokens:\n    - name: a\n      sha256_env: NOT_SET_ANYWHERE\n      allow: [\"*\"]\n",
                "the environment variable NOT_SET_ANYWHERE is not set"
            ),
            (
                "serve:\n  tokens:\n    - name: a\n      sha256: \(String(repeating: "ab", count: 32))\n      allow: [\"read:*x\"]\n",
                "'serve.tokens[0].allow[0]' (token a): 'read:*x' is not a permission"
            ),
            (
                "serve:\n  tokens:\n    - name: a\n      sha256: \(String(repeating: "ab", count: 32))\n      allow: [\"*\"]\n    - name: a\n      sha256: \(String(repeating: "cd", count: 32))\n      allow: [\"*\"]\n",
                "token 'a' is configured twice"
            ),
            ("serve:\n  protect_metrics: yes please\n", "'serve.protect_metrics' must be true or false"),
        ]
        for (yaml, message) in cases {
            try project.write("larder.yaml", "project: cli_test\n" + yaml)
            let result = try project.run("serve", "--port", "0")
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
    }
}
