import Foundation
import LarderOnline
import LarderTestSupport
import Testing

/// The helpers other test targets rely on.
@Suite("Test support", .timeLimit(.minutes(1)))
struct TestSupportTests {
    @Test func redisServerLifecycle() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            #expect(server.url == "redis://127.0.0.1:\(server.port)/0")
            #expect(server.isRunning)
            _ = try connect(server).command("SET", "k", "v")

            server.stop()
            #expect(!server.isRunning)
            #expect(redisError { try connect(server) }?.kind == "cannotConnect")
            server.stop()  // idempotent

            try server.restart()
            #expect(server.isRunning)
            // Same port, empty dataset (no persistence).
            #expect(try connect(server).command("GET", "k") == .null)
        }
    }

    @Test func serversAreIsolated() async throws {
        try await onDedicatedThread {
            let first = try RedisServer()
            let second = try RedisServer()
            #expect(first.port != second.port)
            _ = try connect(first).command("SET", "only", "first")
            #expect(try connect(second).command("GET", "only") == .null)
        }
    }

    @Test func missingRedisMessageTellsHowToInstall() {
        #expect(
            RedisServer.Failure.notInstalled.description
                == "redis-server not found on PATH: install it (Debian: apt-get install redis-server) — tests that need Redis do not skip")
    }

    @Test func temporaryDirectoryIsRemovedWithItsFiles() async throws {
        try await onDedicatedThread {
            var path = ""
            do {
                let directory = try TemporaryDirectory()
                path = directory.path
                let file = try directory.write("nested/config.yaml", "a: 1\n")
                #expect(file == directory.file("nested/config.yaml"))
                #expect(try String(contentsOfFile: file, encoding: .utf8) == "a: 1\n")
                #expect(try TemporaryDirectory().path != path)
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }
}
