import Foundation
import GRDB
import LarderOffline
import Testing

/// A push that finds the offline store busy with another process's write.
@Suite struct BusyStoreTests {
    @Test func aPushThatCannotGetTheWriteLockIs503NamingTheOtherWrite() async throws {
        let server = try await ServerHarness(storeOptions: OfflineStoreOptions(busyTimeout: .milliseconds(300)))
        defer { Task { await server.stop() } }
        // Another program holds SQLite's write lock (as `sqlite3` would) for the whole push.
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true  // the transaction stays open across accesses
        let other = try DatabaseQueue(path: server.offline.path, configuration: holding)
        try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let row =
            #"{"driver_id": 1, "event_timestamp": "\#(server.at(minutes: -1))", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 7}"#
        let busy = try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(row)]}"#)
        #expect(busy.status == 503, "\(busy.text)")
        #expect(busy.errorMessage?.contains("is busy with another write") == true, "\(busy.text)")
        #expect(busy.errorMessage?.contains("Larder did not record") == true, "\(busy.text)")

        try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        let pushed = try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(row)]}"#)
        #expect(pushed.status == 200, "\(pushed.text)")
    }
}
