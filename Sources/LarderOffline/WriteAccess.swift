import Foundation
import GRDB
import LarderCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Writes to the offline store: one at a time across processes (SQLite's write lock), a writer
// that finds the store busy waits its turn up to the busy timeout, and a record beside the
// database file says which Larder operation holds the lock, so the waiting one can say so.

extension OfflineStore {
    /// Runs `body` in one write transaction (all or nothing), as `operation` (`ingest into
    /// trips from trips.csv`): the name another process shows while it waits for this write.
    ///
    /// Waits up to ``busyTimeout`` for another write to finish, then fails naming it. On a
    /// read-only store it fails at once, saying so. `recorded` false skips the record beside
    /// the store: for the service's pushes and serving-log batches, short writes that no
    /// waiter would see, and frequent enough that its file operations would be a cost.
    func writeTransaction<T>(_ operation: String, recorded: Bool = true, _ body: (Database) throws -> T) throws -> T {
        if let readOnlyReason { throw readOnlyError(operation, reason: readOnlyReason) }
        // Written once the lock is held; removed once the transaction has ended (a large
        // commit holds the lock for a while), unless another writer has replaced it since.
        let record = recorded ? WriterRecord(operation: operation) : nil
        defer { record?.remove(besideStore: path) }
        do {
            return try db.write { db in
                record?.save(besideStore: path)
                return try body(db)
            }
        } catch let error as DatabaseError {
            let unavailable = error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_READONLY
            throw OfflineStoreError(describe(error, operation: operation), isUnavailable: unavailable)
        }
    }

    /// A database error in words, with what to do for a busy or read-only store.
    func describe(_ error: DatabaseError, operation: String) -> String {
        switch error.resultCode {
        case .SQLITE_BUSY:
            return
                "the offline store at \(path) is busy with another write: \(WriterRecord.holder(ofStore: path)). "
                + "Gave up on \(operation) after waiting \(BusyWait.shown(busyTimeout)) (offline.busy_timeout in larder.yaml). "
                + "Run it again once that write has finished, or raise offline.busy_timeout."
        case .SQLITE_READONLY:
            return readOnlyError(operation, reason: readOnlyReason ?? "SQLite refuses to write to it").description
        default:
            return "\(operation) failed: \(Self.describe(error))"
        }
    }

    func readOnlyError(_ operation: String, reason: String) -> OfflineStoreError {
        OfflineStoreError(
            "the offline store at \(path) is read-only (\(reason)): \(operation) cannot write to it. Reading commands (list, "
                + "describe, training-set, get) work; run this one as a user who can write to the file and its directory.",
            isUnavailable: true)
    }

    /// SQLite's message without GRDB's wrapping (the SQL it was running, its error code).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        return error.message ?? "SQLite error \(error.resultCode.rawValue)"
    }
}

/// Whether the store's file can be written, and how to open it when it cannot.
struct StoreAccess {
    let path: String
    let exists: Bool
    /// Nil when the file (if any) and its directory are writable.
    let readOnlyReason: String?
    /// The path to open read-only. In WAL mode SQLite needs a `-shm` file beside the
    /// database even to read; when the directory cannot hold one and none exists, no write
    /// can happen either (a writer needs a `-wal` file there), so the file is opened as
    /// immutable.
    let readOnlyOpenPath: String

    init(path: String) {
        self.path = path
        exists = FileManager.default.fileExists(atPath: path)
        let directory = (path as NSString).deletingLastPathComponent
        let directoryWritable = access(directory.isEmpty ? "." : directory, W_OK) == 0
        if exists && access(path, W_OK) != 0 {
            readOnlyReason = "the file is not writable"
        } else if !directoryWritable && FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory) {
            readOnlyReason = "its directory is not writable"
        } else {
            readOnlyReason = nil
        }
        if !directoryWritable && !FileManager.default.fileExists(atPath: path + "-wal") {
            let url = URL(fileURLWithPath: path).absoluteURL
            let escaped = url.path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? url.path
            readOnlyOpenPath = "file:\(escaped)?immutable=1"
        } else {
            readOnlyOpenPath = path
        }
    }
}

/// Waits for another process's write: SQLite calls ``retry(_:)`` while the lock is taken.
final class BusyWait: Sendable {
    let limit: Duration
    let storePath: String
    let onWait: (@Sendable (String) -> Void)?
    /// A wait shorter than this (a push, a serving-log batch) goes unmentioned.
    static let quietWait = Duration.seconds(1)

    private struct Wait {
        var started: ContinuousClock.Instant
        var announced: Bool
    }
    private let current: Mutex<Wait>

    init(limit: Duration, storePath: String, onWait: (@Sendable (String) -> Void)?) {
        self.limit = limit
        self.storePath = storePath
        self.onWait = onWait
        current = Mutex(Wait(started: .now, announced: false))
    }

    /// `5m`, `90s`; `300ms` for a limit under a second (tests and impatient scripts).
    static func shown(_ limit: Duration) -> String {
        limit < .seconds(1) ? "\(limit.microseconds / 1000)ms" : limit.compactDescription
    }

    /// Whether SQLite should try again (after a short sleep here); false once the limit is
    /// reached, and SQLite reports the store busy. `tries` is 0 on the first call of a wait.
    func retry(_ tries: Int) -> Bool {
        let now = ContinuousClock.now
        let (waited, announce) = current.withLock { wait -> (Duration, Bool) in
            if tries == 0 { wait = Wait(started: now, announced: false) }
            let waited = now - wait.started
            let announce = !wait.announced && waited >= Self.quietWait
            if announce { wait.announced = true }
            return (waited, announce)
        }
        guard waited < limit else { return false }
        if announce, let onWait {
            onWait(
                "waiting for another write to the offline store at \(storePath) to finish: \(WriterRecord.holder(ofStore: storePath)); "
                    + "waiting up to \(Self.shown(limit)) (offline.busy_timeout in larder.yaml)")
        }
        // 1, 2, 4 ... ms, then every 50 ms: a short write is followed at once, a long one
        // costs nothing.
        usleep(UInt32(min(1 << min(tries, 6), 50)) * 1000)
        return true
    }
}

/// Which Larder operation holds the store's write lock: `<store>.writer`, JSON.
struct WriterRecord: Codable {
    var operation: String
    var pid: Int32
    var host: String
    /// Microseconds since the epoch.
    var started: Int64

    init(operation: String) {
        self.operation = operation
        pid = getpid()
        host = Self.hostName
        started = Timestamp.now().microseconds
    }

    static func path(besideStore store: String) -> String { store + ".writer" }

    /// Best effort: the record is information for a waiting process, never a lock.
    func save(besideStore store: String) {
        let target = Self.path(besideStore: store)
        let temporary = target + ".\(pid).tmp"
        guard let data = try? JSONEncoder().encode(self), FileManager.default.createFile(atPath: temporary, contents: data) else { return }
        if rename(temporary, target) != 0 { unlink(temporary) }
    }

    /// Removes the record if it is still this one: the next writer may have written its own
    /// as soon as this one's transaction ended.
    func remove(besideStore store: String) {
        guard let current = Self.read(besideStore: store), current.pid == pid, current.started == started else { return }
        unlink(Self.path(besideStore: store))
    }

    static func read(besideStore store: String) -> WriterRecord? {
        guard let data = FileManager.default.contents(atPath: path(besideStore: store)) else { return nil }
        return try? JSONDecoder().decode(WriterRecord.self, from: data)
    }

    /// False for a process of this host that is gone (killed mid-write: its record stayed).
    var isLive: Bool {
        guard host == Self.hostName else { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// The write that holds the store, in words, from its record.
    static func holder(ofStore store: String) -> String {
        guard let record = read(besideStore: store), record.isLive else {
            return "a write that Larder did not record (a push or serving-log batch of larder serve, or another program, such as sqlite3, holds the write lock)"
        }
        let since = Timestamp(microseconds: record.started)
        let age = max(0, Timestamp.now().microseconds - record.started) / 1_000_000
        return
            "\(record.operation) (pid \(record.pid) on \(record.host), started \(since), \(Duration.compact(microseconds: age * 1_000_000)) ago; "
            + "recorded in \(path(besideStore: store)))"
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
