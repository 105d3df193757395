import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline
@testable import LarderPostgres

extension OfflineStore {
    /// Rows of a table, as arrays of database values, in rowid order (test inspection).
    func rows(_ sql: String) throws -> [[DatabaseValue]] {
        try db.read { db in try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) } }
    }

    func count(_ table: String) throws -> Int {
        try db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }
}

/// The two offline stores the store-level tests run against: a SQLite file in the test's
/// directory, or a new database on the tests' PostgreSQL server.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    func open(_ dir: TemporaryDirectory) async throws -> any OfflineBackend {
        switch self {
        case .sqlite: try OfflineStore(path: dir.file("offline.sqlite"))
        case .postgres: try await PostgresStore(url: try PostgresURL(try PostgresServer.shared().createDatabase(), environment: [:]))
        }
    }

    /// Builds `request` in chunks of 50 request rows (in SQLite, with every lookup seeking).
    func buildInSmallChunks(_ request: TrainingSetRequest, store: any OfflineBackend, repository: FeatureRepository) async throws {
        switch store {
        case let store as OfflineStore:
            var builder = TrainingSetBuilder(store: store, repository: repository)
            builder.stepLimit = 1
            builder.chunkSize = 50
            _ = try await builder.build(request)
        case let store as PostgresStore:
            _ = try await store.withTrainingSet(of: request.features, repository: repository) { join in
                var join = join
                join.chunkSize = 50
                return try await join.build(request)
            }
        default:
            Issue.record("no store")
        }
    }
}
