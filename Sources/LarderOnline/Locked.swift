import Foundation

/// A value guarded by a lock.
///
/// `Synchronization.Mutex` would do, but it needs macOS 15 and the package supports macOS 14.
/// `@unchecked Sendable` is sound because `value` is only reached inside `withLock`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
