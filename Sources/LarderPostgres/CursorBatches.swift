import LarderCore
import LarderOffline
import Logging
import NIOCore
import PostgresNIO

/// Turns the rows of a query, in order, into batches: what a streamed read hands its consumer.
public protocol RowBatcher: Sendable {
    associatedtype Batch: Sendable
    /// Adds a row; returns a batch when one is complete.
    mutating func add(_ row: PostgresRandomAccessRow) throws -> Batch?
    /// The last, partial batch, once the rows are done.
    mutating func finish() -> Batch?
}

/// A long read of a PostgreSQL store as an async sequence of batches: one snapshot, on a
/// connection of its own, through a cursor fetched as the consumer asks for the next batch,
/// so memory holds about one batch however long the read. The SQLite store's streamed reads
/// (`BlockingStream`) have the same shape.
public struct CursorBatches<Batcher: RowBatcher>: AsyncSequence, Sendable {
    public typealias Element = Batcher.Batch
    public typealias Failure = any Error

    let store: PostgresStore
    /// Inside the read's transaction: the query to run, or nil when there is nothing to read
    /// (say, no table yet), and the batcher for its rows.
    let start: @Sendable (PostgresConnection) async throws -> (sql: String, batcher: Batcher)?

    public func makeAsyncIterator() -> Iterator { Iterator(store: store, start: start) }

    public struct Iterator: AsyncIteratorProtocol {
        let store: PostgresStore
        let start: @Sendable (PostgresConnection) async throws -> (sql: String, batcher: Batcher)?
        private var reader: Reader?
        private var done = false

        init(store: PostgresStore, start: @escaping @Sendable (PostgresConnection) async throws -> (sql: String, batcher: Batcher)?) {
            self.store = store
            self.start = start
        }

        public mutating func next() async throws -> Batcher.Batch? {
            guard !done else { return nil }
            do {
                if reader == nil {
                    guard let opened = try await Reader.open(store: store, start: start) else {
                        done = true
                        return nil
                    }
                    reader = opened
                }
                if let batch = try await reader!.next() { return batch }
                done = true
                try await reader!.close()
                reader = nil
                return nil
            } catch {
                done = true
                reader?.abandon()
                reader = nil
                if let error = error as? PSQLError { throw store.describe(error, operation: "reading the offline store") }
                throw error
            }
        }
    }

    /// The connection, its cursor and the batches fetched but not handed out yet. Closes the
    /// connection if the consumer stops early.
    final class Reader {
        let connection: PostgresConnection
        let logger: Logger
        var batcher: Batcher
        var ready: [Batcher.Batch] = []
        var exhausted = false
        var closed = false

        private init(connection: PostgresConnection, logger: Logger, batcher: Batcher) {
            self.connection = connection
            self.logger = logger
            self.batcher = batcher
        }

        static func open(
            store: PostgresStore, start: @Sendable (PostgresConnection) async throws -> (sql: String, batcher: Batcher)?
        ) async throws -> Reader? {
            let connection = try await store.connect()
            do {
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: store.logger)
                guard let (sql, batcher) = try await start(connection) else {
                    try await connection.close()
                    return nil
                }
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DECLARE larder_stream NO SCROLL CURSOR FOR \(sql)"), logger: store.logger)
                return Reader(connection: connection, logger: store.logger, batcher: batcher)
            } catch {
                try? await connection.close()
                throw error
            }
        }

        func next() async throws -> Batcher.Batch? {
            while ready.isEmpty && !exhausted {
                var rows = 0
                for try await row in try await connection.query("FETCH 1000 FROM larder_stream", logger: logger) {
                    rows += 1
                    if let batch = try batcher.add(row.makeRandomAccess()) { ready.append(batch) }
                }
                if rows == 0 {
                    exhausted = true
                    if let batch = batcher.finish() { ready.append(batch) }
                }
            }
            return ready.isEmpty ? nil : ready.removeFirst()
        }

        func close() async throws {
            closed = true
            try await connection.query("COMMIT", logger: logger)
            try await connection.close()
        }

        /// After an error: the connection goes, rolling back what it held.
        func abandon() {
            guard !closed else { return }
            closed = true
            let closing: EventLoopFuture<Void> = connection.close()
            _ = closing
        }

        deinit { abandon() }
    }
}

extension PostgresStore {
    /// A connection outside the pool, for a streamed read that holds it while its consumer
    /// works between batches.
    func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: try Self.connectionConfiguration(url, tls: try Self.tlsConfiguration(url)), id: 1, logger: logger)
    }
}
