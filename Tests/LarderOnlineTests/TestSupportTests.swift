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

    /// A test process that never stops its server (held in a global, never released, and
    /// then killed outright): the server is gone with it, at once at a normal exit (the exit
    /// handler reaps it), within a few seconds after SIGKILL (its watchdog kills it).
    @Test(arguments: ["exit", "kill"]) func serversNeverOutliveTheTestProcess(ending: String) async throws {
        try await onDedicatedThread {
            let helper = Process()
            helper.executableURL = try Self.helperBinary()
            helper.arguments = ["redis-left-running", ending]
            let input = Pipe(), output = Pipe()
            helper.standardInput = input
            helper.standardOutput = output
            try helper.run()
            var text = ""
            while !text.hasSuffix("\n") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            let pid = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), "the helper printed \(text)")
            #expect(Self.isRunningRedis(pid), "pid \(pid) is not a running redis-server")

            input.fileHandleForWriting.write(Data("go\n".utf8))
            helper.waitUntilExit()
            #expect(helper.terminationReason == (ending == "kill" ? .uncaughtSignal : .exit))
            if ending == "exit" {
                #expect(!Self.isRunningRedis(pid), "the exit handler did not stop redis-server \(pid)")
            } else {
                let deadline = Date().addingTimeInterval(5)
                while Self.isRunningRedis(pid) && Date() < deadline { usleep(10_000) }
                #expect(!Self.isRunningRedis(pid), "redis-server \(pid) still runs 5 s after its test process was killed")
            }
            if Self.isRunningRedis(pid) { kill(pid, SIGKILL) }  // leave nothing behind, even on failure
        }
    }

    /// Whether `pid` is a live (not zombie) `redis-server`: a server whose parent died is
    /// reaped by init, perhaps not at once.
    static func isRunningRedis(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // "PID (COMM) STATE ...": the state follows the last parenthesis.
        guard let close = stat.lastIndex(of: ")"), stat[..<close].contains("(redis-server") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// `larder-test-helper`, built beside this test binary.
    static func helperBinary() throws -> URL {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(), Bundle.main.bundleURL,
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for directory in candidates.compactMap({ $0 }) {
            let url = directory.appendingPathComponent("larder-test-helper")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw HelperNotFound(searched: candidates.compactMap { $0?.path })
    }

    struct HelperNotFound: Error, CustomStringConvertible {
        let searched: [String]
        var description: String {
            "larder-test-helper not found beside the test binary (in \(searched.joined(separator: ", "))); build the tests with swift build --build-tests"
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
