import Foundation
import GRDB
import LarderTestSupport

@testable import LarderOffline

extension OfflineStore {
    /// Rows of a table, as arrays of database values, in rowid order (test inspection).
    func rows(_ sql: String) throws -> [[DatabaseValue]] {
        try db.read { db in try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) } }
    }

    func count(_ table: String) throws -> Int {
        try db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }
}
