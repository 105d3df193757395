import Dispatch
import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Synchronization
import Testing

@testable import LarderOffline

#if canImport(Glibc)
    import Glibc
#endif

/// Writes that find the store busy (issue 10.11) and read-only stores (issue 10.12), with two
/// real connections to one SQLite file, as two processes would have.
@Suite struct WriteAccessTests {
    let dir: TemporaryDirectory
    let path: String
    let store: OfflineStore

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.file("offline.sqlite")
        store = try OfflineStore(path: path)
        try store.registry.apply(try store.registry.plan(for: Features.repository))
    }

    func csv(_ name: String, rows: Int = 3) throws -> String {
        var text = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        for i in 0..<rows { text += "\(1000 + i),2026-01-01T0\(i % 10):00:00Z,,0.5,0.25,\(i)\n" }
        return try dir.write(name, text)
    }

    /// An ingest through `store` that holds the write lock (it is inside its transaction, at
    /// its last progress report) until `release` is called.
    final class HeldIngest: Sendable {
        let held = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let result = Mutex<Result<Int, any Error>?>(nil)

        init(_ store: OfflineStore, file: String) {
            Thread.detachNewThread { [self] in
                let outcome = Result {
                    try store.ingest(source: "driver_stats", file: file) { [self] _ in
                        held.signal()
                        released.wait()
                    }.rows
                }
                result.withLock { $0 = outcome }
                finished.signal()
            }
            held.wait()
        }

        func release() throws -> Int {
            released.signal()
            finished.wait()
            return try result.withLock { $0! }.get()
        }
    }

    @Test func aWriteFailsAfterTheBusyTimeoutNamingTheWriteThatHoldsTheStore() throws {
        let first = try csv("first.csv")
        let waiter = try OfflineStore(path: path, options: OfflineStoreOptions(busyTimeout: .milliseconds(300)))
        let holder = HeldIngest(store, file: first)
        #expect(FileManager.default.fileExists(atPath: path + ".writer"))
        let second = try csv("second.csv")
        let busy =
            "the offline store at \(path) is busy with another write: ingest into driver_stats from \(first) (pid \(getpid()) on "
        #expect(
            performing: { try waiter.ingest(source: "driver_stats", file: second) },
            throws: { error in
                let text = "\(error)"
                let ok =
                    text.hasPrefix(busy)
                    && text.contains(
                        "; recorded in \(path).writer). Gave up on ingest into driver_stats from \(second) "
                            + "after waiting 300ms (offline.busy_timeout in larder.yaml). Run it again once that write has finished, or raise offline.busy_timeout."
                    )
                if !ok { Issue.record("got: \(text)") }
                return ok
            })
        #expect(
            performing: { try waiter.materialize(driverHourlyStats, mode: .range(start: nil, end: nil)) },
            throws: { "\($0)".hasPrefix(busy) && "\($0)".contains("Gave up on materialization of driver_hourly_stats v1 after") })
        #expect(try holder.release() == 3)
        #expect(!FileManager.default.fileExists(atPath: path + ".writer"))
        // Nothing of the refused writes; once the store is free the same write works.
        #expect(try store.count("larder_ingests") == 1)
        #expect(try waiter.ingest(source: "driver_stats", file: second).rows == 3)
        #expect(try store.count("source_driver_stats") == 6)
    }

    @Test func aWriteWaitsItsTurnAndSaysOnceWhatItWaitsFor() throws {
        let first = try csv("first.csv")
        let lines = Mutex<[String]>([])
        let waiter = try OfflineStore(
            path: path, options: OfflineStoreOptions(busyTimeout: .seconds(60), onWait: { line in lines.withLock { $0.append(line) } }))
        let holder = HeldIngest(store, file: first)
        let waited = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Int, any Error>?>(nil)
        let second = try csv("second.csv", rows: 5)
        Thread.detachNewThread {
            let result = Result { try waiter.ingest(source: "driver_stats", file: second).rows }
            outcome.withLock { $0 = result }
            waited.signal()
        }
        Thread.sleep(forTimeInterval: 2)
        #expect(outcome.withLock { $0 == nil }, "the second ingest did not wait for the first")
        #expect(try holder.release() == 3)
        waited.wait()
        #expect(try outcome.withLock { $0! }.get() == 5)
        let said = lines.withLock { $0 }
        #expect(said.count == 1, "\(said)")
        #expect(
            said.first?.hasPrefix(
                "waiting for another write to the offline store at \(path) to finish: ingest into driver_stats from \(first) (pid ") == true
        )
        #expect(said.first?.hasSuffix("; waiting up to 1m (offline.busy_timeout in larder.yaml)") == true)
        // Both writes, in the order they took the store.
        #expect(
            try store.rows("SELECT file, rows FROM larder_ingests ORDER BY id") == [
                [first.databaseValue, 3.databaseValue], [second.databaseValue, 5.databaseValue],
            ])
    }

    /// A record left by a killed process is ignored; a lock taken outside Larder is said to be.
    @Test func aStaleRecordIsIgnoredAndAnUnrecordedWriterIsToldApart() throws {
        var stale = WriterRecord(operation: "ingest into driver_stats from gone.csv")
        stale.pid = Int32.max  // no such process
        stale.save(besideStore: path)
        let held = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let other = try DatabaseQueue(path: path)  // a program other than Larder
        Thread.detachNewThread {
            try? other.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    held.signal()
                    released.wait()
                    return .commit
                }
            }
            done.signal()
        }
        held.wait()
        defer {
            released.signal()
            done.wait()
        }
        let waiter = try OfflineStore(path: path, options: OfflineStoreOptions(busyTimeout: .milliseconds(100)))
        #expect(
            performing: { try waiter.ingest(source: "driver_stats", file: csv("x.csv")) },
            throws: { error in
                "\(error)".hasPrefix(
                    "the offline store at \(path) is busy with another write: a write that Larder did not record (a push or serving-log batch of larder serve, or another program, such as sqlite3, holds the write lock). Gave up on"
                )
            })
    }

    // MARK: Read-only stores

    /// The read-only path as `larder list` takes it for a store it cannot write (the CLI test
    /// covers the detection, running as a user without write access).
    @Test func aReadOnlyStoreReadsButRefusesEveryWriteSayingSo() throws {
        _ = try store.ingest(source: "driver_stats", file: csv("rows.csv"))
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: nil))
        let readOnly = try OfflineStore(path: path, options: OfflineStoreOptions(readOnly: true))
        #expect(readOnly.readOnlyReason == "opened read-only")
        #expect(try readOnly.registry.definitions().count == 7)
        #expect(try readOnly.registry.rowCount(source: "driver_stats") == 3)
        #expect(try readOnly.materializationState(view: "driver_hourly_stats", version: 1) != nil)

        func refused(_ operation: String) -> String {
            "the offline store at \(path) is read-only (opened read-only): \(operation) cannot write to it. Reading commands (list, describe, training-set, get) work; run this one as a user who can write to the file and its directory."
        }
        let file = try csv("more.csv")
        #expect(
            performing: { try readOnly.ingest(source: "driver_stats", file: file) },
            throws: { "\($0)" == refused("ingest into driver_stats from \(file)") })
        #expect(
            performing: { try readOnly.materialize(driverHourlyStats, mode: .range(start: nil, end: nil)) },
            throws: { "\($0)" == refused("materialization of driver_hourly_stats v1") })
        let row: [String: JSONValue] = [
            "driver_id": .int(1), "event_timestamp": .string("2026-01-01T00:00:00Z"), "conv_rate": .double(0), "acc_rate": .double(0),
            "avg_daily_trips": .int(1),
        ]
        #expect(
            performing: { try readOnly.append(source: "driver_stats", rows: [row], origin: "push") },
            throws: { "\($0)" == refused("push of 1 rows to driver_stats") })
        #expect(try store.count("source_driver_stats") == 3)
    }

    @Test func aReadOnlyStoreThatNeedsASchemaUpgradeSaysSo() throws {
        let old = dir.file("old.sqlite")
        try DatabaseQueue(path: old).write { db in try db.execute(sql: "CREATE TABLE something_else (x)") }
        #expect(
            performing: { try OfflineStore(path: old, options: OfflineStoreOptions(readOnly: true)) },
            throws: { error in
                "\(error)".hasPrefix(
                    "the offline store at \(old) is read-only (opened read-only) and its schema needs an upgrade that this version of Larder makes when it opens the store"
                )
            })
        #expect(
            performing: { try OfflineStore(path: dir.file("absent.sqlite"), options: OfflineStoreOptions(readOnly: true)) },
            throws: { "\($0)" == "there is no offline store at \(dir.file("absent.sqlite")), and it cannot be created (opened read-only)" })
    }
}
