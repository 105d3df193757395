import Foundation
import LarderOnline
import LarderTestSupport
import Testing

@Suite("RedisClient", .timeLimit(.minutes(1)))
struct RedisClientTests {
    private func client(
        _ server: RedisServer, poolSize: Int = 4, connectTimeout: Duration = .milliseconds(500),
        commandTimeout: Duration = .milliseconds(500),
        initialBackoff: Duration = .milliseconds(50), maximumBackoff: Duration = .seconds(2)
    ) throws -> RedisClient {
        RedisClient(
            configuration: .init(
                url: try RedisURL(server.authenticatedURL), poolSize: poolSize, connectTimeout: connectTimeout,
                commandTimeout: commandTimeout, initialBackoff: initialBackoff, maximumBackoff: maximumBackoff))
    }

    @Test func manyConcurrentTasksShareThePool() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 4)
            let results = try await withThrowingTaskGroup(of: Int64.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        try await client.withConnection { connection in
                            _ = try connection.command("SET", "task:\(i)", "\(i)")
                            guard case .integer(let n) = try connection.command("INCR", "counter") else {
                                throw RedisError.invalidCommand(reason: "INCR did not return an integer")
                            }
                            return n
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(results.sorted() == Array(1...200))
            #expect(try await client.command(["GET", "counter"]) == .bulk(bytes("200")))
            #expect(try await client.command(["GET", "task:199"]) == .bulk(bytes("199")))
            // Never more connections than the pool size (plus none leaked).
            let info = try await client.command(["INFO", "clients"]).stringValue ?? ""
            let connected = info.split(separator: "\r\n").first { $0.hasPrefix("connected_clients:") }
            let count = Int(connected?.split(separator: ":").last ?? "") ?? -1
            #expect((1...4).contains(count), "\(info)")
        }
    }

    /// Batched commands of concurrent callers share pipelines; each caller gets its own
    /// reply, in order with its own earlier commands, and an error reply stays its own.
    @Test func batchedCommandsEachGetTheirOwnReply() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 2)
            for i in 0..<300 { _ = try await client.command(["SET", "b:\(i)", "\(i)"]) }
            let replies = try await withThrowingTaskGroup(of: (Int, RedisReply, RedisReply).self) { group in
                for i in 0..<300 {
                    group.addTask {
                        let get = try await client.batchedCommand([bytes("GET"), bytes("b:\(i)")])
                        let wrong = try await client.batchedCommand([bytes("INCR"), bytes("b:\(i)x"), bytes("extra")])
                        return (i, get, wrong)
                    }
                }
                return try await group.reduce(into: [(Int, RedisReply, RedisReply)]()) { $0.append($1) }
            }
            #expect(replies.count == 300)
            for (i, get, wrong) in replies {
                #expect(get == .bulk(bytes("\(i)")))
                #expect(wrong.errorMessage != nil, "\(wrong)")
            }
            // Other callers keep the pool's other connection meanwhile.
            #expect(try await client.command(["PING"]) == .status("PONG"))
        }
    }

    /// With Redis down every batched command fails with a transport error, none hangs, and
    /// they work again once it is back.
    @Test func batchedCommandsFailTogetherAndRecover() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 2)
            #expect(try await client.batchedCommand([bytes("PING")]) == .status("PONG"))
            server.stop()
            let failures = await withTaskGroup(of: RedisError?.self) { group in
                for _ in 0..<50 { group.addTask { await redisError { try await client.batchedCommand([bytes("GET"), bytes("k")]) } } }
                return await group.reduce(into: [RedisError?]()) { $0.append($1) }
            }
            #expect(failures.count == 50)
            #expect(failures.allSatisfy { $0 != nil })
            try server.restart()
            let (recovered, _) = try await waitForPong(client)
            #expect(recovered)
            var answered = false
            for _ in 0..<100 where !answered {
                answered = (try? await client.batchedCommand([bytes("PING")])) == .status("PONG")
                if !answered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(answered)
        }
    }

    @Test func busyPoolDoesNotBlockOtherTasks() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 2, commandTimeout: .seconds(5))
            // One connection blocks in BLPOP for a while on its own queue...
            let blocked = Task { try await client.command(["BLPOP", "wake", "3"]) }
            try await Task.sleep(for: .milliseconds(50))
            // ...while other tasks, on the cooperative pool, keep using the other connection.
            let (_, elapsed) = try await measure {
                for i in 0..<50 { _ = try await client.command(["SET", "k\(i)", "v"]) }
            }
            #expect(elapsed < .seconds(2), "took \(elapsed)")  // BLPOP holds its connection for 3 s
            _ = try await client.command(["RPUSH", "wake", "now"])
            #expect(try await blocked.value == .array([.bulk(bytes("wake")), .bulk(bytes("now"))]))
        }
    }

    @Test func recoversAfterACommandTimeout() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 1, commandTimeout: .milliseconds(200))
            let (error, elapsed) = await measure { await redisError { try await client.command(["BLPOP", "nothing", "5"]) } }
            #expect(error?.kind == "timeout")
            #expect(elapsed < .milliseconds(1500), "took \(elapsed)")
            // The broken connection was dropped; the next call reconnects transparently.
            #expect(try await client.command(["PING"]) == .status("PONG"))
        }
    }

    @Test func redisDownFailsFastThenRecoversByItself() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            // Long timeouts: failing fast must not depend on them.
            let client = try client(server, poolSize: 2, connectTimeout: .seconds(2), commandTimeout: .seconds(2))
            #expect(try await client.command(["SET", "k", "v"]) == .status("OK"))

            server.stop()
            var kinds: [String] = []
            for _ in 0..<30 {
                let (error, elapsed) = await measure { await redisError { try await client.command(["GET", "k"]) } }
                let thrown = try #require(error, "a command succeeded while Redis was down")
                #expect(thrown.endpoint == "127.0.0.1:\(server.port)")
                #expect(elapsed < .seconds(1), "\(thrown) took \(elapsed)")
                kinds.append(thrown.kind)
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(kinds.contains("cannotConnect"))
            #expect(kinds.contains("backingOff"))
            #expect(Set(kinds).isSubset(of: ["cannotConnect", "backingOff", "connectionLost"]), "\(kinds)")

            try server.restart()
            let (recovered, waited) = try await waitForPong(client)
            #expect(recovered, "client did not recover within 5 s of Redis restarting")
            #expect(waited < .seconds(3))
            // Every connection of the pool works again (the restarted server is empty).
            for _ in 0..<8 { #expect(try await client.command(["GET", "k"]) == .null) }
        }
    }

    @Test func idleConnectionsSurviveARestartWithoutAFailedRequest() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 1)
            #expect(try await client.command(["PING"]) == .status("PONG"))
            try server.restart()
            // The pooled connection was closed by the old server; it is replaced before use.
            #expect(try await client.command(["PING"]) == .status("PONG"))
        }
    }

    @Test func backoffDoublesToItsCapAndResetsOnSuccess() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let initial = Duration.milliseconds(50)
            let cap = Duration.milliseconds(400)
            let client = try client(server, poolSize: 1, initialBackoff: initial, maximumBackoff: cap)
            server.stop()

            // After the k-th consecutive failed connect, the window is min(cap, initial * 2^(k-1)).
            // A call right after a failure sees (almost) the whole window as `retryIn`; how much
            // of it is left depends on scheduling, so only upper bounds are exact.
            var failures = 0
            var largest = Duration.zero
            while failures < 6 {
                switch await redisError({ try await client.command(["PING"]) }) {
                case .cannotConnect?:
                    failures += 1  // a real attempt; call again at once to read the new window
                case .backingOff(_, let retryIn, let lastError)? where failures > 0:
                    let window = min(cap, initial * (1 << (failures - 1)))
                    #expect(retryIn <= window, "after \(failures) failures")
                    #expect(lastError.contains("refused"))
                    largest = max(largest, retryIn)
                    try await Task.sleep(for: retryIn + .milliseconds(2))
                case let other:
                    Issue.record("unexpected \(String(describing: other))")
                    return
                }
            }
            // The window grew well past the initial 50 ms (it is 400 ms after 4 failures).
            #expect(largest > .milliseconds(200), "largest window seen: \(largest)")

            // One success resets it: the next failure opens a 50 ms window, not 400 ms.
            try server.restart()
            try await Task.sleep(for: cap + .milliseconds(20))
            #expect(try await client.command(["PING"]) == .status("PONG"))
            server.stop()
            let clock = ContinuousClock()
            #expect(await redisError { try await client.command(["PING"]) }?.kind == "cannotConnect")
            let failedAt = clock.now
            switch await redisError({ try await client.command(["PING"]) }) {
            case .backingOff(_, let retryIn, _)?:
                #expect(retryIn <= initial)
            case .cannotConnect?:
                // The window had already passed: proof enough it was shorter than the 400 ms cap.
                #expect(clock.now - failedAt < .milliseconds(350))
            case let other:
                Issue.record("unexpected \(String(describing: other))")
            }
        }
    }

    @Test func frozenRedisTimesOutAndRecoversWhenItResumes() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 2, commandTimeout: .milliseconds(200))
            #expect(try await client.command(["PING"]) == .status("PONG"))
            server.suspend()
            for _ in 0..<3 {
                let (error, elapsed) = await measure { await redisError { try await client.command(["PING"]) } }
                #expect(error != nil)
                #expect(elapsed < .milliseconds(1500), "\(String(describing: error)) took \(elapsed)")
            }
            server.resume()
            let (recovered, _) = try await waitForPong(client)
            #expect(recovered)
        }
    }

    @Test func authenticatedPoolAndBadPassword() async throws {
        try await onDedicatedThread {
            let server = try RedisServer(requirePassword: "hunter2")
            let good = try client(server)
            #expect(try await good.command(["SET", "a", "1"]) == .status("OK"))

            let bad = RedisClient(url: RedisURL(host: "127.0.0.1", port: server.port, password: "wrong"))
            let error = await redisError { try await bad.command(["PING"]) }
            guard case .serverError(_, let command, _)? = error else {
                Issue.record("expected AUTH serverError, got \(String(describing: error))")
                return
            }
            #expect(command == "AUTH")
        }
    }

    @Test func cancelledTaskDoesNotTakeAConnection() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let client = try client(server, poolSize: 1)
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.command(["SET", "cancelled", "yes"])
            }
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try await client.command(["GET", "cancelled"]) == .null)
        }
    }
}

/// A lock-protected value for test bookkeeping across threads.
final class Guarded<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
