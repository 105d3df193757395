import Foundation
import GRDB

@testable import LarderOffline

/// A fresh directory under the system temp dir, removed when the value is dropped.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "larder-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
}

extension OfflineStore {
    /// Rows of a table, as arrays of database values, in rowid order (test inspection).
    func rows(_ sql: String) throws -> [[DatabaseValue]] {
        try db.read { db in try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) } }
    }

    func count(_ table: String) throws -> Int {
        try db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }
}
