import LarderTestSupport
import Testing

@testable import LarderOnline

@Suite("RedisScript", .timeLimit(.minutes(1)))
struct RedisScriptTests {
    static let setAndCount = RedisScript(
        """
        redis.call('SET', KEYS[1], ARGV[1])
        return redis.call('INCR', KEYS[2])
        """)

    @Test func sha1MatchesPublishedVectors() {
        #expect(RedisScript("").sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(RedisScript("abc").sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            RedisScript("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").sha1
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(RedisScript(String(repeating: "a", count: 1_000_000)).sha1 == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func shaAgreesWithScriptLoad() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            for source in [
                "return 1", Self.setAndCount.source, "return '\u{e9}t\u{e9} \u{1F600}'",
                String(repeating: "-- pad\n", count: 100) + "return 2",
            ] {
                let script = RedisScript(source)
                #expect(try connection.command("SCRIPT", "LOAD", source) == .bulk(bytes(script.sha1)))
            }
        }
    }

    @Test func evalshaFallsBackToLoadingAfterScriptFlush() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            let script = Self.setAndCount
            // Never loaded: NOSCRIPT, loaded, retried.
            #expect(try script.run(on: connection, keys: ["a", "counter"], args: ["1"]) == .integer(1))
            #expect(try connection.command("SCRIPT", "EXISTS", script.sha1) == .array([.integer(1)]))
            #expect(try script.run(on: connection, keys: ["a", "counter"], args: ["2"]) == .integer(2))

            #expect(try connection.command("SCRIPT", "FLUSH") == .status("OK"))
            #expect(try connection.command("SCRIPT", "EXISTS", script.sha1) == .array([.integer(0)]))
            #expect(try script.run(on: connection, keys: ["a", "counter"], args: ["3"]) == .integer(3))
            #expect(try connection.command("GET", "a") == .bulk(bytes("3")))
        }
    }

    @Test func pipelinedRunReloadsOnceAndRunsEachCallOnce() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            let script = Self.setAndCount
            let calls = (0..<2000).map { RedisScript.Call(keys: ["entity:\($0)", "counter"], args: ["v\($0)"]) }

            // Not loaded yet: every call gets NOSCRIPT, then all are retried after one load.
            let first = try script.runPipelined(on: connection, calls)
            #expect(first == (1...2000).map { .integer(Int64($0)) })

            // Flushed between batches: the whole next batch is retried once.
            _ = try connection.command("SCRIPT", "FLUSH")
            let mixed = (0..<10).map { RedisScript.Call(keys: ["m:\($0)", "counter"], args: ["x"]) }
            #expect(try script.runPipelined(on: connection, mixed) == (2001...2010).map { .integer(Int64($0)) })
            #expect(try connection.command("GET", "counter") == .bulk(bytes("2010")))
            #expect(try connection.command("GET", "entity:1999") == .bulk(bytes("v1999")))
            #expect(try script.runPipelined(on: connection, []) == [])
        }
    }

    @Test func flushesDuringBatchesNeitherLoseNorRepeatCalls() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let script = Self.setAndCount
            let port = server.port
            // Another client flushes the script cache while batches run, so some batches get
            // NOSCRIPT for only part of their calls; only those may be retried. A flush can also
            // land between the reload and the retry, so a call may end as NOSCRIPT (not run).
            // The invariant: the counter equals the number of calls that report success.
            // Blocking calls go through RedisClient's queues, not the cooperative pool.
            let flushing = RedisClient(url: RedisURL(host: "127.0.0.1", port: port), poolSize: 1)
            let flusher = Task {
                var flushes = 0
                while !Task.isCancelled {
                    _ = try await flushing.command(["SCRIPT", "FLUSH"])
                    flushes += 1
                    try? await Task.sleep(for: .milliseconds(1))
                }
                return flushes
            }
            let batches = 20
            let size = 500
            let client = RedisClient(url: RedisURL(host: "127.0.0.1", port: port), poolSize: 1)
            var succeeded = 0
            var notRun = 0
            // One flush for certain, whatever the scheduler does with the flusher task: the
            // first batch then meets NOSCRIPT.
            _ = try await flushing.command(["SCRIPT", "FLUSH"])
            for batch in 0..<batches {
                let calls = (0..<size).map { RedisScript.Call(keys: ["b\(batch):\($0)", "counter"], args: ["v"]) }
                for reply in try await client.withConnection({ try script.runPipelined(on: $0, calls) }) {
                    if reply.intValue != nil {
                        succeeded += 1
                    } else if RedisScript.isNoScript(reply) {
                        notRun += 1
                    }
                }
            }
            flusher.cancel()
            _ = try await flusher.value
            #expect(succeeded + notRun == batches * size)
            #expect(succeeded > 0)
            let connection = try connect(server)
            #expect(try connection.command("GET", "counter") == .bulk(bytes(String(succeeded))))
        }
    }

    @Test func scriptErrorsAreReplies() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            let failing = RedisScript("return redis.error_reply('MYERR custom failure')")
            #expect(try failing.run(on: connection, keys: [String](), args: []) == .error("MYERR custom failure"))

            let broken = RedisScript("this is not lua")
            let reply = try broken.run(on: connection, keys: [String](), args: [])
            #expect(reply.errorMessage?.contains("Error compiling script") == true)
            let replies = try broken.runPipelined(on: connection, [RedisScript.Call(keys: [String](), args: [])])
            #expect(replies.count == 1 && replies[0].errorMessage?.contains("Error compiling script") == true)
            let error = redisError { try broken.load(on: connection) }
            guard case .serverError(_, let command, _)? = error else {
                Issue.record("expected serverError, got \(String(describing: error))")
                return
            }
            #expect(command == "SCRIPT LOAD")
            #expect(!connection.isBroken)
        }
    }
}
