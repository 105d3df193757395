import Dispatch
import Synchronization

/// A pool of Redis connections for async code, that never blocks Swift's cooperative threads.
///
/// hiredis calls block, and the cooperative pool has one thread per core (two on the
/// deployment machine): a blocked one stalls every task. So each connection lives on its own
/// serial `DispatchQueue`; ``withConnection(_:)`` takes a free connection (waiting in FIFO
/// order when all are busy), runs the body on that connection's queue and resumes the
/// caller through a continuation.
///
/// Connections are opened lazily. One that failed is dropped and reopened on next use; while
/// Redis is down, reconnects back off (50 ms doubling to 2 s by default) and calls fail fast
/// with ``RedisError``. The client recovers by itself when Redis comes back.
public final class RedisClient: Sendable {
    /// How to connect, how many connections, and how long to wait.
    public struct Configuration: Sendable {
        /// Server, credentials and database.
        public var url: RedisURL
        /// Number of connections (at least 1).
        public var poolSize: Int
        /// Limit on establishing a TCP connection.
        public var connectTimeout: Duration
        /// Limit on waiting for each reply. `.zero` means no limit.
        public var commandTimeout: Duration
        /// Backoff after the first failed reconnect.
        public var initialBackoff: Duration
        /// Cap of the doubling backoff.
        public var maximumBackoff: Duration

        /// Defaults: 4 connections, 1 s connect and command timeouts, backoff 50 ms to 2 s.
        public init(
            url: RedisURL, poolSize: Int = 4, connectTimeout: Duration = .seconds(1),
            commandTimeout: Duration = .seconds(1), initialBackoff: Duration = .milliseconds(50),
            maximumBackoff: Duration = .seconds(2)
        ) {
            self.url = url
            self.poolSize = poolSize
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    /// A caller waiting for a free connection.
    private typealias Waiter = CheckedContinuation<ConnectionSlot, Never>

    private struct PoolState {
        var free: [Int]
        var waiters: [Waiter] = []
        var firstWaiter = 0  // index of the oldest waiter; avoids O(n) removeFirst
    }

    /// Callers' commands waiting to be sent together (``batchedCommands(_:)``), and whether a
    /// connection is sending them.
    private struct BatchState {
        var pending: [(commands: [[[UInt8]]], continuation: CheckedContinuation<[RedisReply], any Error>)] = []
        var sending = false
    }

    /// The configuration the client was created with.
    public let configuration: Configuration
    private let slots: [ConnectionSlot]
    private let pool: Mutex<PoolState>
    /// Batched commands are sent by one connection at a time: commands arriving while it is
    /// busy wait for its next batch rather than take a connection each (measured: more
    /// lookups a second than with two, and Redis runs commands one at a time anyway).
    private let batch = Mutex(BatchState())

    /// Creates a client. Does not connect: the first use does.
    public init(configuration: Configuration) {
        self.configuration = configuration
        let reconnector = Reconnector(
            url: configuration.url, connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout, initialBackoff: configuration.initialBackoff,
            maximumBackoff: configuration.maximumBackoff)
        let size = max(1, configuration.poolSize)
        slots = (0..<size).map { ConnectionSlot(index: $0, reconnector: reconnector) }
        // Popped from the end: the most recently used (warm) connection is reused first.
        pool = Mutex(PoolState(free: Array((0..<size).reversed())))
    }

    /// Creates a client for `url` with default backoff.
    public convenience init(
        url: RedisURL, poolSize: Int = 4, connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(1)
    ) {
        self.init(
            configuration: Configuration(
                url: url, poolSize: poolSize, connectTimeout: connectTimeout, commandTimeout: commandTimeout))
    }

    /// Creates a client from a `redis://` URL string.
    ///
    /// - Throws: ``RedisError/invalidURL(url:reason:)``.
    public convenience init(
        url: String, poolSize: Int = 4, connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(1)
    ) throws(RedisError) {
        self.init(url: try RedisURL(url), poolSize: poolSize, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
    }

    /// Runs `body` with exclusive use of a pooled connection, on that connection's queue.
    ///
    /// `body` may block (it is not on the cooperative pool) and should be short: it holds the
    /// connection. Do not let the connection escape. If all connections are busy the call
    /// waits for one; waiting is not cancellable, but is bounded by the commands ahead of it.
    ///
    /// - Throws: ``RedisError`` if no connection could be opened, `CancellationError` if the
    ///   task was cancelled before it got a connection, or whatever `body` throws.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (RedisConnection) throws -> T
    ) async throws -> T {
        try Task.checkCancellation()
        let slot = await acquire()
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                let result = Result(catching: { try slot.run(body) })
                // Release here, not after the caller resumes: the next waiter gets the
                // connection without waiting for a cooperative thread to run this task.
                self.release(slot)
                continuation.resume(with: result)
            }
        }
    }

    /// Sends one command on a pooled connection. Error replies are returned, not thrown.
    public func command(_ args: [[UInt8]]) async throws -> RedisReply {
        try await withConnection { connection in try connection.command(args) }
    }

    /// Sends one command given as UTF-8 strings on a pooled connection.
    public func command(_ args: [String]) async throws -> RedisReply {
        try await withConnection { connection in try connection.command(args) }
    }

    /// Sends a pipeline on one pooled connection; replies are in command order.
    public func pipeline(_ commands: [[[UInt8]]]) async throws -> [RedisReply] {
        try await withConnection { connection in try connection.pipeline(commands) }
    }

    /// Sends one command, in one pipeline with the other callers' commands that wait at the
    /// same moment. Under concurrent load a round trip (a write, a read, and the thread
    /// switches around them) then serves several callers: most of the cost of a command is
    /// there, not in Redis. Error replies are returned, not thrown; a transport error fails
    /// every command of its pipeline, as it would fail each alone.
    ///
    /// For short commands of independent callers (lookups); not cancellable once queued.
    public func batchedCommand(_ args: [[UInt8]]) async throws -> RedisReply {
        try await batchedCommands([args])[0]
    }

    /// Sends a caller's commands in order, in one pipeline with the other callers' commands
    /// that wait at the same moment (see ``batchedCommand(_:)``); replies in command order.
    public func batchedCommands(_ commands: [[[UInt8]]]) async throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            // Unless a connection is sending already (it takes these commands with its next
            // batch), send on a free one, or on the first one freed.
            enum Sender { case sending, on(ConnectionSlot), whenFree }
            let sender: Sender = batch.withLock { state in
                state.pending.append((commands, continuation))
                if state.sending { return .sending }
                state.sending = true
                return tryAcquire().map { .on($0) } ?? .whenFree
            }
            switch sender {
            case .sending: break
            case .on(let slot): sendBatches(on: slot)
            case .whenFree: Task { self.sendBatches(on: await self.acquire()) }
            }
        }
    }

    /// On `slot`'s queue: sends the waiting callers' commands as one pipeline (about 64
    /// commands at most, a caller's never split), resumes the callers, and repeats until none
    /// wait; then gives the connection back.
    private func sendBatches(on slot: ConnectionSlot) {
        slot.queue.async {
            while true {
                let taken = self.batch.withLock { state in
                    var count = 0
                    var callers = 0
                    while callers < state.pending.count, callers == 0 || count + state.pending[callers].commands.count <= 64 {
                        count += state.pending[callers].commands.count
                        callers += 1
                    }
                    let taken = Array(state.pending.prefix(callers))
                    state.pending.removeFirst(callers)
                    if taken.isEmpty { state.sending = false }
                    return taken
                }
                if taken.isEmpty { break }
                let replies = Result { try slot.run { connection in try connection.pipeline(taken.flatMap(\.commands)) } }
                switch replies {
                case .success(let replies):
                    var next = 0
                    for waiting in taken {
                        waiting.continuation.resume(returning: Array(replies[next..<next + waiting.commands.count]))
                        next += waiting.commands.count
                    }
                case .failure(let error):
                    for waiting in taken { waiting.continuation.resume(throwing: error) }
                }
            }
            self.release(slot)
        }
    }

    // MARK: - Free list

    /// A free connection, if one is free now.
    private func tryAcquire() -> ConnectionSlot? {
        pool.withLock { state in state.free.popLast().map { slots[$0] } }
    }

    private func acquire() async -> ConnectionSlot {
        await withCheckedContinuation { (continuation: CheckedContinuation<ConnectionSlot, Never>) in
            let slot: ConnectionSlot? = pool.withLock { state in
                if let index = state.free.popLast() { return slots[index] }
                state.waiters.append(continuation)
                return nil
            }
            if let slot { continuation.resume(returning: slot) }
        }
    }

    /// Hands the slot to the oldest waiter, or puts it back on the free list.
    private func release(_ slot: ConnectionSlot) {
        let next: Waiter? = pool.withLock { state in
            guard state.firstWaiter < state.waiters.count else {
                state.free.append(slot.index)
                return nil
            }
            let waiter = state.waiters[state.firstWaiter]
            state.firstWaiter += 1
            if state.firstWaiter == state.waiters.count {
                state.waiters.removeAll(keepingCapacity: true)
                state.firstWaiter = 0
            } else if state.firstWaiter >= 64, state.firstWaiter * 2 >= state.waiters.count {
                // Never fully drained under sustained load: compact now and then.
                state.waiters.removeFirst(state.firstWaiter)
                state.firstWaiter = 0
            }
            return waiter
        }
        // Resume outside the lock.
        next?.resume(returning: slot)
    }
}
