import LarderOnline
import LarderTestSupport
import Testing

@Suite("RedisConnection", .timeLimit(.minutes(1)))
struct RedisConnectionTests {
    @Test func binarySafeRoundTrip() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            let allBytes = (0...255).map { UInt8($0) }
            let key: [UInt8] = [0x00, 0xFF, 0x0D, 0x0A, 0x24]  // NUL, 0xFF, CR, LF, '$'

            #expect(try connection.command([bytes("SET"), key, allBytes]) == .status("OK"))
            #expect(try connection.command([bytes("GET"), key]) == .bulk(allBytes))
            #expect(try connection.command([bytes("STRLEN"), key]) == .integer(256))

            #expect(try connection.command([bytes("SET"), bytes("empty"), []]) == .status("OK"))
            #expect(try connection.command("GET", "empty") == .bulk([]))
            #expect(try connection.command("EXISTS", "empty") == .integer(1))
        }
    }

    @Test func replyTypes() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            #expect(try connection.command("PING") == .status("PONG"))
            #expect(try connection.command("INCRBY", "n", "-5") == .integer(-5))
            #expect(try connection.command("INCRBY", "n", "9223372036854775807") == .integer(9_223_372_036_854_775_802))
            #expect(try connection.command("GET", "missing") == .null)
            #expect(try connection.command("RPUSH", "list", "a", "", "c") == .integer(3))
            #expect(try connection.command("LRANGE", "list", "0", "-1") == .array([.bulk(bytes("a")), .bulk([]), .bulk(bytes("c"))]))
            #expect(try connection.command("LRANGE", "missing", "0", "-1") == .array([]))
            // Nested arrays and a nil element, built by Lua.
            let nested = try connection.command("EVAL", "return {1, {2, 'x'}, false}", "0")
            #expect(nested == .array([.integer(1), .array([.integer(2), .bulk(bytes("x"))]), .null]))

            // Server errors are replies, not thrown, and leave the connection usable.
            let unknown = try connection.command("NOSUCHCOMMAND", "x")
            #expect(unknown.errorMessage?.hasPrefix("ERR unknown command") == true)
            let wrongType = try connection.command("INCR", "list")
            #expect(wrongType.errorMessage?.hasPrefix("WRONGTYPE") == true)
            #expect(!connection.isBroken)
            #expect(try connection.command("PING") == .status("PONG"))

            #expect(RedisReply.bulk(bytes("v")).stringValue == "v")
            #expect(RedisReply.integer(3).intValue == 3)
            #expect(RedisReply.null.isNull)
        }
    }

    @Test func emptyCommandIsRejectedWithoutBreakingTheConnection() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            #expect(redisError { try connection.command([[UInt8]]()) }?.kind == "invalidCommand")
            #expect(redisError { try connection.pipeline([[bytes("PING")], []]) }?.kind == "invalidCommand")
            #expect(try connection.command("PING") == .status("PONG"))
        }
    }

    @Test func pipelineOfAThousandSetsThenGets() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            let count = 1000
            let sets = (0..<count).map { [bytes("SET"), bytes("key:\($0)"), bytes("value-\($0)")] }
            let setReplies = try connection.pipeline(sets)
            #expect(setReplies.count == count)
            #expect(setReplies.allSatisfy { $0 == .status("OK") })

            var gets = (0..<count).map { [bytes("GET"), bytes("key:\($0)")] }
            gets.insert([bytes("INCR"), bytes("key:0")], at: 500)  // an error reply in the middle
            let getReplies = try connection.pipeline(gets)
            #expect(getReplies.count == count + 1)
            #expect(getReplies[500].errorMessage != nil)
            let values = getReplies.enumerated().filter { $0.offset != 500 }.map(\.element)
            #expect(values == (0..<count).map { .bulk(bytes("value-\($0)")) })
            #expect(try connection.pipeline([[[UInt8]]]()) == [])
            #expect(try connection.command("DBSIZE") == .integer(Int64(count)))
        }
    }

    @Test func selectsTheDatabase() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let db3 = try connect(server, database: 3)
            _ = try db3.command("SET", "where", "three")
            let db0 = try connect(server)
            #expect(try db0.command("GET", "where") == .null)
            _ = try db0.command("SELECT", "3")
            #expect(try db0.command("GET", "where") == .bulk(bytes("three")))

            let error = redisError { try connect(server, database: 100) }
            guard case .serverError(_, let command, _)? = error else {
                Issue.record("expected serverError for SELECT 100, got \(String(describing: error))")
                return
            }
            #expect(command == "SELECT 100")
        }
    }

    @Test func authenticatesWithRequirepass() async throws {
        try await onDedicatedThread {
            let server = try RedisServer(requirePassword: "pa ss:w@rd")
            // Password only, from a percent-encoded URL.
            let url = try RedisURL(server.authenticatedURL)
            #expect(url.password == "pa ss:w@rd")
            let connection = try RedisConnection(url: url)
            #expect(try connection.command("PING") == .status("PONG"))

            // User and password (the ACL user "default" is the requirepass user).
            var withUser = url
            withUser.username = "default"
            #expect(try RedisConnection(url: withUser).command("PING") == .status("PONG"))

            // Wrong password: thrown, names AUTH and the endpoint, does not leak the password.
            var wrong = url
            wrong.password = "nope-wrong"
            let error = redisError { try RedisConnection(url: wrong) }
            guard case .serverError(let endpoint, let command, _)? = error else {
                Issue.record("expected serverError, got \(String(describing: error))")
                return
            }
            #expect(command == "AUTH")
            #expect(endpoint == "127.0.0.1:\(server.port)")
            #expect(!error!.description.contains("nope-wrong"))

            // No password: commands are refused with an error reply.
            let anonymous = try RedisConnection(url: RedisURL(server.url))
            #expect(try anonymous.command("GET", "k").errorMessage?.hasPrefix("NOAUTH") == true)
        }
    }

    @Test func commandTimeoutBreaksTheConnection() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server, commandTimeout: .milliseconds(200))
            let (error, elapsed) = measure { redisError { try connection.command("BLPOP", "nothing", "5") } }
            guard case .timeout(let endpoint, let operation, let after)? = error else {
                Issue.record("expected timeout, got \(String(describing: error))")
                return
            }
            #expect(endpoint == "127.0.0.1:\(server.port)")
            #expect(operation == "BLPOP")
            #expect(after == .milliseconds(200))
            #expect(elapsed >= .milliseconds(150) && elapsed < .milliseconds(1500), "took \(elapsed)")
            #expect(connection.isBroken)

            // A broken connection fails at once instead of reading a stale reply.
            let (again, quick) = measure { redisError { try connection.command("PING") } }
            #expect(again?.kind == "connectionLost")
            #expect(quick < .milliseconds(100))
        }
    }

    @Test func pipelineTimeout() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server, commandTimeout: .milliseconds(200))
            let (error, elapsed) = measure {
                redisError { try connection.pipeline([["PING"], ["BLPOP", "nothing", "5"], ["PING"]]) }
            }
            #expect(error?.kind == "timeout")
            #expect(elapsed < .milliseconds(1500), "took \(elapsed)")
            #expect(connection.isBroken)
        }
    }

    @Test func refusedConnectionFailsFast() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            server.stop()
            let (error, elapsed) = measure { redisError { try connect(server) } }
            guard case .cannotConnect(let endpoint, let reason)? = error else {
                Issue.record("expected cannotConnect, got \(String(describing: error))")
                return
            }
            #expect(endpoint == "127.0.0.1:\(server.port)")
            #expect(reason.localizedCaseInsensitiveContains("refused"))
            #expect(elapsed < .milliseconds(500))
        }
    }

    @Test func serverGoingAwayIsConnectionLostNotACrash() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            let connection = try connect(server)
            #expect(try connection.command("PING") == .status("PONG"))
            server.stop()
            // Writing to a closed socket would raise SIGPIPE and kill the process if not ignored.
            for _ in 0..<3 {
                let error = redisError {
                    try connection.pipeline((0..<100).map { _ in [bytes("SET"), bytes("k"), [UInt8](repeating: 7, count: 10_000)] })
                }
                #expect(error?.kind == "connectionLost")
            }
            #expect(connection.isBroken)
        }
    }

    @Test func frozenServerTimesOutOnConnect() async throws {
        try await onDedicatedThread {
            let server = try RedisServer()
            server.suspend()
            defer { server.resume() }
            // The kernel accepts the TCP connection; SELECT then gets no answer.
            let (error, elapsed) = measure { redisError { try connect(server, database: 1, commandTimeout: .milliseconds(200)) } }
            guard case .timeout(_, let operation, _)? = error else {
                Issue.record("expected timeout, got \(String(describing: error))")
                return
            }
            #expect(operation == "SELECT")
            #expect(elapsed < .milliseconds(1500), "took \(elapsed)")
        }
    }
}
