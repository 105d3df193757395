import Features
import Foundation
import LarderCore
import LarderTestSupport
import Synchronization
import Testing

@testable import LarderOffline

/// The offline store's async API: its blocking SQLite work on `Blocking`'s pools, its long
/// reads as streams of batches, and its failures as `OfflineStoreError`.
@Suite struct BlockingTests {
    /// What a producer did: batches handed over, and how it ended.
    final class Producer: Sendable {
        let emitted = Mutex(0)
        let ending = Mutex<String?>(nil)

        /// Hands over up to `count` batches, then records how it ended.
        func produce(_ count: Int, _ emit: (Int) throws -> Void) throws {
            do {
                for i in 0..<count {
                    try emit(i)
                    emitted.withLock { $0 += 1 }
                }
                ending.withLock { $0 = "finished" }
            } catch {
                ending.withLock { $0 = "\(type(of: error))" }
                throw error
            }
        }

        /// Waits up to 5 s for the producer to end.
        func end() async throws -> String? {
            for _ in 0..<500 {
                if let ending = ending.withLock({ $0 }) { return ending }
                try await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }
    }

    @Test func everyBatchArrivesInOrder() async throws {
        let producer = Producer()
        var received: [Int] = []
        for try await batch in Blocking.stream({ emit in try producer.produce(50, emit) }) { received.append(batch) }
        #expect(received == Array(0..<50))
        #expect(try await producer.end() == "finished")
    }

    @Test func theReadRunsAtMostOneBatchAheadOfTheConsumer() async throws {
        let producer = Producer()
        var iterator = Blocking.stream({ emit in try producer.produce(100, emit) }).makeAsyncIterator()
        #expect(try await iterator.next() == 0)
        // A slow consumer: the producer has handed over the batch taken, and waits with the
        // next one computed, not 100 batches queued in memory.
        try await Task.sleep(for: .milliseconds(200))
        #expect(producer.emitted.withLock { $0 } <= 1)
        #expect(try await iterator.next() == 1)
    }

    @Test func aConsumerThatStopsEarlyEndsTheRead() async throws {
        let producer = Producer()
        for try await batch in Blocking.stream({ emit in try producer.produce(1_000_000, emit) }) where batch == 2 { break }
        #expect(try await producer.end() == "CancellationError")
        #expect(producer.emitted.withLock { $0 } <= 4)
    }

    @Test func aProducerErrorReachesTheConsumer() async throws {
        struct Broken: Error {}
        let stream = Blocking.stream { (emit: (Int) throws -> Void) in
            try emit(1)
            throw Broken()
        }
        var received: [Int] = []
        await #expect(throws: Broken.self) {
            for try await batch in stream { received.append(batch) }
        }
        #expect(received == [1])
    }

    /// A SQLite failure of a read reaches callers as an unavailable `OfflineStoreError`, never
    /// as GRDB's `DatabaseError` (the service answers it with 503, the CLI prints it).
    @Test func aFailedReadIsAnUnavailableStoreError() async throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        let interrupt = try InterruptOnce(store) { $0.hasPrefix("SELECT * FROM larder_registry") }
        defer { interrupt.remove() }
        let error = await #expect(throws: OfflineStoreError.self) { try await store.registry.definitions() }
        #expect(interrupt.fired)
        #expect(error?.isUnavailable == true)
        #expect(error?.description.hasPrefix("the offline store (SQLite) at \(store.path) is unavailable: ") == true)
        #expect(error?.description.contains("interrupted") == true, "\(String(describing: error))")
    }
}
