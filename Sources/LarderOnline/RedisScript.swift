import Crypto

/// A Lua script run with `EVALSHA`, loaded on demand.
///
/// The SHA-1 is computed locally, so the first call needs no `SCRIPT LOAD` round trip.
/// When Redis does not know the script (`NOSCRIPT`: first use, Redis restarted, or
/// `SCRIPT FLUSH`), it is loaded and the call retried once.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// Lowercase hex SHA-1 of ``source``: the name Redis knows the script by.
    public let sha1: String

    /// One invocation in a pipelined batch: `KEYS` and `ARGV` for the script.
    public struct Call: Sendable, Hashable {
        /// The script's `KEYS`.
        public var keys: [[UInt8]]
        /// The script's `ARGV`.
        public var args: [[UInt8]]

        /// A call with binary keys and arguments.
        public init(keys: [[UInt8]], args: [[UInt8]]) {
            self.keys = keys
            self.args = args
        }

        /// A call with UTF-8 string keys and arguments.
        public init(keys: [String], args: [String]) {
            self.init(keys: keys.map { Array($0.utf8) }, args: args.map { Array($0.utf8) })
        }
    }

    /// Wraps a Lua script and computes its SHA-1.
    public init(_ source: String) {
        self.source = source
        // Redis fixes the algorithm: this names the script, it secures nothing.
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Runs the script once.
    ///
    /// Script errors (a Lua error, `redis.error_reply`, a script that does not compile) are
    /// returned as ``RedisReply/error(_:)``.
    ///
    /// - Throws: ``RedisError`` for transport problems.
    public func run(on connection: RedisConnection, keys: [[UInt8]], args: [[UInt8]]) throws(RedisError) -> RedisReply {
        let command = evalshaCommand(keys: keys, args: args)
        let reply = try connection.command(command)
        guard Self.isNoScript(reply) else { return reply }
        let loaded = try loadReply(on: connection)
        if case .error = loaded { return loaded }
        return try connection.command(command)
    }

    /// Runs the script once with UTF-8 string keys and arguments.
    public func run(on connection: RedisConnection, keys: [String], args: [String]) throws(RedisError) -> RedisReply {
        try run(on: connection, keys: keys.map { Array($0.utf8) }, args: args.map { Array($0.utf8) })
    }

    /// Runs the script once per call in a single pipeline; replies are in call order.
    ///
    /// If Redis answers `NOSCRIPT`, the script is loaded and only the calls that got
    /// `NOSCRIPT` are sent again (they did not run), so calls that succeeded never run twice.
    ///
    /// - Throws: ``RedisError`` for transport problems.
    public func runPipelined(on connection: RedisConnection, _ calls: [Call]) throws(RedisError) -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        var replies = try connection.pipeline(calls.map { evalshaCommand(keys: $0.keys, args: $0.args) })
        let missing = replies.indices.filter { Self.isNoScript(replies[$0]) }
        guard !missing.isEmpty else { return replies }

        let loaded = try loadReply(on: connection)
        if case .error = loaded {
            for index in missing { replies[index] = loaded }
            return replies
        }
        let retried = try connection.pipeline(missing.map { evalshaCommand(keys: calls[$0].keys, args: calls[$0].args) })
        for (index, reply) in zip(missing, retried) { replies[index] = reply }
        return replies
    }

    /// Loads the script into Redis's script cache (`SCRIPT LOAD`).
    ///
    /// - Throws: ``RedisError/serverError(endpoint:command:message:)`` if Redis rejects the
    ///   script (for example, it does not compile), or a transport error.
    public func load(on connection: RedisConnection) throws(RedisError) {
        if case .error(let message) = try loadReply(on: connection) {
            throw .serverError(endpoint: connection.url.endpoint, command: "SCRIPT LOAD", message: message)
        }
    }

    /// The `EVALSHA sha numkeys keys... args...` command, for callers that build their own
    /// pipelines. Pair it with ``isNoScript(_:)`` and ``load(on:)``.
    public func evalshaCommand(keys: [[UInt8]], args: [[UInt8]]) -> [[UInt8]] {
        var command: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha1.utf8), Array(String(keys.count).utf8)]
        command.reserveCapacity(3 + keys.count + args.count)
        command.append(contentsOf: keys)
        command.append(contentsOf: args)
        return command
    }

    /// Whether `reply` says Redis does not have the script cached.
    public static func isNoScript(_ reply: RedisReply) -> Bool {
        reply.errorMessage?.hasPrefix("NOSCRIPT") ?? false
    }

    /// `SCRIPT LOAD`, returning an error reply as is; checks that Redis names the script
    /// with the same SHA-1 we computed, so EVALSHA cannot loop on NOSCRIPT.
    private func loadReply(on connection: RedisConnection) throws(RedisError) -> RedisReply {
        let reply = try connection.command(["SCRIPT", "LOAD", source])
        if case .error = reply { return reply }
        guard reply.stringValue == sha1 else {
            throw .protocolError(
                endpoint: connection.url.endpoint,
                reason: "SCRIPT LOAD answered \(reply), expected the script's SHA-1 \(sha1)")
        }
        return reply
    }
}
