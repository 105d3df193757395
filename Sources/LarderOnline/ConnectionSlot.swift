import Dispatch

/// One pooled connection and the serial queue its blocking calls run on.
///
/// `@unchecked Sendable`: `connection` is only read or written by code running on `queue`
/// (``run(_:)`` is always called from a block on it), and the pool hands a slot to one user
/// at a time. That confinement is what lets a non-Sendable hiredis context live in a
/// Sendable client.
final class ConnectionSlot: @unchecked Sendable {
    let index: Int
    let queue: DispatchQueue
    private let reconnector: Reconnector
    /// Confined to `queue`. `nil` until first use, and after the connection broke.
    private var connection: RedisConnection?

    init(index: Int, reconnector: Reconnector) {
        self.index = index
        self.queue = DispatchQueue(label: "larder.redis.connection.\(index)")
        self.reconnector = reconnector
    }

    /// Runs `body` on this slot's connection, (re)connecting first if needed.
    /// Must be called on `queue`.
    func run<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        dispatchPrecondition(condition: .onQueue(queue))
        let current: RedisConnection
        // Replace a connection the server closed (e.g. Redis restarted) before sending
        // anything on it, so that no request fails once Redis is back.
        if let existing = connection, !existing.peerHasClosed() {
            current = existing
        } else {
            connection = nil  // frees the old context
            current = try reconnector.connect()
            connection = current
        }
        defer {
            // hiredis contexts are unusable after an error: drop it, reconnect on next use.
            if current.isBroken { connection = nil }
        }
        return try body(current)
    }
}
