import NIOPosix

/// Blocking work (SQLite calls) run off Swift's cooperative pool, whose few threads must never
/// block, on bounded pools of threads of their own.
///
/// Bounded, unlike a global dispatch queue: a burst of requests that all wait for the store
/// queues here instead of starting a thread each. Work whose task is cancelled before a thread
/// takes it (the client went away) does not run, and throws `CancellationError`.
public enum Blocking {
    /// 8 threads for reads: SQLite reads run concurrently in WAL mode.
    static let reads = started(NIOThreadPool(numberOfThreads: 8))
    /// 2 threads for writes, apart from the reads: SQLite takes one write at a time, so more
    /// threads would only wait on its lock, and writes waiting for another process's write
    /// (up to the busy timeout) must not hold the threads health checks and reads need.
    static let writes = started(NIOThreadPool(numberOfThreads: 2))

    /// Runs `body`, which reads, on the read pool and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await reads.runIfActive(body)
    }

    /// Runs `body`, which writes, on the write pool and returns its result.
    public static func write<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await writes.runIfActive(body)
    }

    private static func started(_ pool: NIOThreadPool) -> NIOThreadPool {
        pool.start()
        return pool
    }
}
