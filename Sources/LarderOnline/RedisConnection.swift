import CHiredis

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One blocking connection to Redis through hiredis.
///
/// Every call blocks the calling thread until the reply arrives or the command timeout
/// expires, so never call it on Swift's cooperative thread pool: go through
/// ``RedisClient``, which runs it on a dedicated queue.
///
/// Not `Sendable`: it owns a `redisContext*`, which hiredis does not allow two threads to
/// use at once. After a transport error or a timeout the context is unusable (hiredis may
/// have half-read a reply), so the connection marks itself ``isBroken`` and every later call
/// throws; open a new one (``RedisClient`` does this by itself).
public final class RedisConnection {
    /// The server this connection talks to.
    public let url: RedisURL
    /// How long a single reply may take before the call throws ``RedisError/timeout(endpoint:operation:after:)``.
    public let commandTimeout: Duration
    /// True once a transport error or timeout made the connection unusable.
    public private(set) var isBroken = false

    private let context: UnsafeMutablePointer<redisContext>

    /// Connects, sets the command timeout, authenticates and selects the database.
    ///
    /// - Parameters:
    ///   - url: The server, credentials and database.
    ///   - connectTimeout: Limit on establishing the TCP connection.
    ///   - commandTimeout: Limit on waiting for each reply (also AUTH and SELECT here).
    ///     `.zero` means no limit.
    /// - Throws: ``RedisError/cannotConnect(endpoint:reason:)``, ``RedisError/timeout(endpoint:operation:after:)``,
    ///   or ``RedisError/serverError(endpoint:command:message:)`` when AUTH or SELECT is rejected.
    public init(
        url: RedisURL, connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(1)
    ) throws(RedisError) {
        ignoreSIGPIPE()
        let endpoint = url.endpoint
        guard let context = redisConnectWithTimeout(url.host, Int32(url.port), makeTimeval(connectTimeout)) else {
            throw .cannotConnect(endpoint: endpoint, reason: "hiredis could not allocate a context")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            let timedOut = Self.isTimeout(code: context.pointee.err, message: message)
            redisFree(context)
            if timedOut { throw .timeout(endpoint: endpoint, operation: "connect", after: connectTimeout) }
            throw .cannotConnect(endpoint: endpoint, reason: message)
        }
        self.url = url
        self.commandTimeout = commandTimeout
        self.context = context
        // From here on `deinit` frees the context if a step below throws.

        if commandTimeout > .zero, redisSetTimeout(context, makeTimeval(commandTimeout)) != REDIS_OK {
            throw .cannotConnect(endpoint: endpoint, reason: "cannot set the command timeout: \(Self.errorString(context))")
        }
        // Long-lived pooled connections: let the kernel notice a dead peer behind a NAT/firewall.
        _ = redisEnableKeepAlive(context)
        // hiredis does not set close-on-exec: without it, a process the CLI or a test spawns
        // would inherit the socket and keep the connection open after we close it.
        let descriptorFlags = fcntl(context.pointee.fd, F_GETFD)
        if descriptorFlags >= 0 { _ = fcntl(context.pointee.fd, F_SETFD, descriptorFlags | FD_CLOEXEC) }
        #if canImport(Darwin)
            // Darwin can suppress SIGPIPE per socket; Linux relies on ignoreSIGPIPE().
            var one: Int32 = 1
            _ = setsockopt(context.pointee.fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif

        if let password = url.password {
            var auth = ["AUTH"]
            if let username = url.username { auth.append(username) }
            auth.append(password)
            if case .error(let message) = try command(auth) {
                throw .serverError(endpoint: endpoint, command: "AUTH", message: message)
            }
        }
        if url.database != 0, case .error(let message) = try command(["SELECT", String(url.database)]) {
            throw .serverError(endpoint: endpoint, command: "SELECT \(url.database)", message: message)
        }
    }

    deinit {
        redisFree(context)
    }

    /// Sends one command and waits for its reply.
    ///
    /// Arguments are binary-safe: each is sent with its length, so NUL and non-UTF-8 bytes
    /// are fine. An error reply from the server (`-ERR ...`) is returned as
    /// ``RedisReply/error(_:)``, not thrown.
    ///
    /// - Throws: ``RedisError`` for transport problems (timeout, connection lost); the
    ///   connection is then broken.
    public func command(_ args: [[UInt8]]) throws(RedisError) -> RedisReply {
        let operation = Self.name(of: args)
        try checkUsable(operation)
        guard !args.isEmpty else { throw .invalidCommand(reason: "a command needs at least one word") }
        let raw = withArgv(args) { argc, argv, lengths in redisCommandArgv(context, argc, argv, lengths) }
        guard let raw else { throw transportError(during: operation) }
        defer { freeReplyObject(raw) }
        return RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends one command given as UTF-8 strings, e.g. `["GET", "user:1"]`.
    public func command(_ args: [String]) throws(RedisError) -> RedisReply {
        try command(args.map { Array($0.utf8) })
    }

    /// Sends one command given as UTF-8 strings, e.g. `command("SET", "k", "v")`.
    public func command(_ args: String...) throws(RedisError) -> RedisReply {
        try command(args)
    }

    /// Sends all commands in one write, then reads one reply per command, in order.
    ///
    /// One round trip instead of `commands.count`: use this for bulk reads and writes.
    /// Error replies for individual commands are returned in place as ``RedisReply/error(_:)``.
    ///
    /// - Throws: ``RedisError`` for transport problems. Replies already read are then
    ///   discarded, and which commands the server executed is unknown; the connection is broken.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        let operation = "a pipeline of \(commands.count) commands"
        try checkUsable(operation)
        guard !commands.isEmpty else { return [] }
        if commands.contains(where: \.isEmpty) {
            throw .invalidCommand(reason: "a command in the pipeline has no words")
        }
        for args in commands {
            let status = withArgv(args) { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
            // Appending only buffers in memory; it fails only when out of memory.
            guard status == REDIS_OK else { throw transportError(during: operation) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw transportError(during: operation)
            }
            replies.append(RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Pipelines commands given as UTF-8 strings.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        try pipeline(commands.map { $0.map { Array($0.utf8) } })
    }

    /// Whether the server has closed this idle connection (Redis restarted, client killed,
    /// idle timeout), checked without blocking and without sending anything.
    ///
    /// Lets the pool replace a stale connection *before* sending a command on it, so a Redis
    /// restart costs no failed request once Redis is back.
    func peerHasClosed() -> Bool {
        if isBroken { return true }
        var byte: UInt8 = 0
        let received = recv(context.pointee.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if received == 0 { return true }  // orderly shutdown by the server
        if received > 0 { return true }  // unsolicited bytes: the stream is out of step
        let code = errno
        return !(code == EAGAIN || code == EWOULDBLOCK || code == EINTR)
    }

    // MARK: - Errors

    private func checkUsable(_ operation: String) throws(RedisError) {
        if isBroken {
            throw .connectionLost(
                endpoint: url.endpoint, operation: operation,
                reason: "the connection failed earlier and cannot be reused; open a new one")
        }
    }

    /// Classifies the context's error and marks the connection broken: hiredis leaves a
    /// context in an undefined state after any I/O or protocol error.
    private func transportError(during operation: String) -> RedisError {
        isBroken = true
        let code = context.pointee.err
        let message = Self.errorString(context)
        if Self.isTimeout(code: code, message: message) {
            return .timeout(endpoint: url.endpoint, operation: operation, after: commandTimeout)
        }
        switch code {
        case REDIS_ERR_PROTOCOL, REDIS_ERR_OOM:
            return .protocolError(endpoint: url.endpoint, reason: message.isEmpty ? "error \(code)" : message)
        default:
            return .connectionLost(
                endpoint: url.endpoint, operation: operation, reason: message.isEmpty ? "error \(code)" : message)
        }
    }

    /// hiredis 0.14 reports a socket timeout as an I/O error carrying `strerror(EAGAIN)`
    /// (read/write) or `strerror(ETIMEDOUT)` (connect); hiredis 1.x has a dedicated code 6
    /// (`REDIS_ERR_TIMEOUT`), which 0.14's headers do not define.
    private static func isTimeout(code: Int32, message: String) -> Bool {
        if code == 6 { return true }
        guard code == REDIS_ERR_IO else { return false }
        return [EAGAIN, EWOULDBLOCK, ETIMEDOUT, EINPROGRESS].contains { message == String(cString: strerror($0)) }
    }

    /// `errstr` imports as a fixed-size tuple; read it up to its NUL.
    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// The command name for error messages. Arguments are left out: they may hold
    /// credentials (AUTH) or large values.
    private static func name(of args: [[UInt8]]) -> String {
        guard let first = args.first else { return "an empty command" }
        return String(decoding: first.prefix(32), as: UTF8.self).uppercased()
    }
}

// MARK: - C interop helpers

/// Calls `body` with hiredis-style `argv`/`argvlen` arrays pointing into one contiguous copy
/// of `args`. Lengths are passed explicitly, so arguments may contain any bytes.
private func withArgv<R>(
    _ args: [[UInt8]],
    _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
) -> R {
    var storage: [UInt8] = []
    storage.reserveCapacity(args.reduce(1) { $0 + $1.count })
    var lengths: [Int] = []
    lengths.reserveCapacity(args.count)
    for arg in args {
        storage.append(contentsOf: arg)
        lengths.append(arg.count)
    }
    storage.append(0)  // never empty, so the base address exists even if every argument is empty
    return storage.withUnsafeBufferPointer { bytes in
        let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(args.count)
        var offset = 0
        for length in lengths {
            pointers.append(base + offset)
            offset += length
        }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                body(Int32(args.count), argv.baseAddress!, argvlen.baseAddress!)
            }
        }
    }
}

private func makeTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    guard seconds >= 0, attoseconds >= 0 else { return .init(tv_sec: 0, tv_usec: 0) }
    return .init(
        tv_sec: .init(truncatingIfNeeded: seconds),
        tv_usec: .init(truncatingIfNeeded: attoseconds / 1_000_000_000_000))
}

/// hiredis writes with `write(2)`: if Redis closes the connection, the next write raises
/// SIGPIPE, whose default action kills the process. Ignore it once per process (errors then
/// surface as EPIPE), unless the host program installed its own handler, which is kept.
private let sigpipeIgnored: Bool = {
    #if canImport(Darwin)
        return false  // handled per socket with SO_NOSIGPIPE
    #else
        let previous = signal(SIGPIPE, SIG_IGN)
        if previous != nil {  // not SIG_DFL: someone else's choice; restore it
            signal(SIGPIPE, previous)
            return false
        }
        return true
    #endif
}()

private func ignoreSIGPIPE() {
    _ = sigpipeIgnored
}
