import Dispatch
import GRDB
import NIOPosix
import Synchronization

/// Blocking work (SQLite calls) run off Swift's cooperative pool, whose few threads must never
/// block, on bounded pools of threads of their own. Every async operation of ``OfflineStore``
/// runs its SQLite work here.
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

    /// Runs `produce`, a read that hands its results to `emit` one batch at a time, on the
    /// read pool, and returns the batches as an async sequence.
    ///
    /// The read runs at most one batch ahead of the consumer, so memory stays bounded by two
    /// batches however long the read is, and it stays one read (one snapshot of the store).
    /// When the consumer stops early (it threw, or its task was cancelled), the producer's
    /// next `emit` throws `CancellationError`, which ends the read.
    public static func stream<Element: Sendable>(
        _ produce: @escaping @Sendable (_ emit: (Element) throws -> Void) throws -> Void
    ) -> BlockingStream<Element> {
        BlockingStream(produce: produce)
    }

    private static func started(_ pool: NIOThreadPool) -> NIOThreadPool {
        pool.start()
        return pool
    }
}

/// The batches of a read run on ``Blocking``'s pool (see ``Blocking/stream(_:)``). Iterate it
/// once.
public struct BlockingStream<Element: Sendable>: AsyncSequence, Sendable {
    let produce: @Sendable (_ emit: (Element) throws -> Void) throws -> Void

    public func makeAsyncIterator() -> Iterator {
        let (batches, continuation) = AsyncThrowingStream<Element, any Error>.makeStream()
        let demand = Demand()
        // The consumer stopped (finished, threw, or was cancelled): release the producer.
        continuation.onTermination = { _ in demand.stop() }
        let produce = produce
        Task {
            do {
                try await Blocking.run {
                    try produce { batch in
                        try demand.wait()
                        continuation.yield(batch)
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return Iterator(batches: batches.makeAsyncIterator(), demand: demand)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var batches: AsyncThrowingStream<Element, any Error>.AsyncIterator
        let demand: Demand

        public mutating func next() async throws -> Element? {
            demand.ask()
            return try await batches.next()
        }
    }

    /// The consumer's requests for the next batch, which the producer waits for before it
    /// hands one over.
    final class Demand: Sendable {
        private let requests = DispatchSemaphore(value: 0)
        private let stopped = Mutex(false)

        func ask() { requests.signal() }

        func stop() {
            stopped.withLock { $0 = true }
            requests.signal()
        }

        func wait() throws {
            requests.wait()
            if stopped.withLock({ $0 }) { throw CancellationError() }
        }
    }
}

/// Hands the items `produce` adds to `emit` in batches of `size` (the last one shorter): how
/// a streamed read (``Blocking/stream(_:)``) batches what it reads.
func inBatches<Item>(
    of size: Int, to emit: ([Item]) throws -> Void, _ produce: (_ add: (Item) throws -> Void) throws -> Void
) throws {
    var batch: [Item] = []
    batch.reserveCapacity(size)
    // `emit` is only called during `produce`; Swift cannot see that two non-escaping closures
    // do not re-enter each other.
    try withoutActuallyEscaping(emit) { emit in
        try produce { item in
            batch.append(item)
            if batch.count >= size {
                try emit(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try emit(batch) }
    }
}

extension OfflineStore {
    /// Runs `body`, a blocking read, on ``Blocking``'s read pool. A failure of SQLite comes
    /// back as an ``OfflineStoreError`` that ``OfflineStoreError/isUnavailable``: no caller
    /// of the store handles GRDB's types.
    func reading<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await Blocking.run(body)
        } catch let error as DatabaseError {
            throw unavailable(error)
        }
    }

    /// Runs `body`, a blocking write, on ``Blocking``'s write pool; errors as ``reading(_:)``.
    /// (Writes through ``writeTransaction(_:recorded:_:)`` already name their operation.)
    func writing<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await Blocking.write(body)
        } catch let error as DatabaseError {
            throw unavailable(error)
        }
    }

    /// ``Blocking/stream(_:)`` for a read of the store; errors as ``reading(_:)``.
    func streaming<Element: Sendable>(
        _ produce: @escaping @Sendable (_ emit: (Element) throws -> Void) throws -> Void
    ) -> BlockingStream<Element> {
        Blocking.stream { emit in
            do {
                try produce(emit)
            } catch let error as DatabaseError {
                throw self.unavailable(error)
            }
        }
    }

    private func unavailable(_ error: DatabaseError) -> OfflineStoreError {
        OfflineStoreError("the offline store (SQLite) at \(path) is unavailable: \(error)", isUnavailable: true)
    }
}
