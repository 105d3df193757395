import ArgumentParser
import Foundation
import LarderCore
import LarderOffline
import LarderPostgres

struct CopyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-store",
        abstract: "Copy the configured SQLite offline store into an empty PostgreSQL one.",
        discussion: """
            Copies every table of the SQLite store that larder.yaml (or LARDER_OFFLINE_PATH) \
            configures into the PostgreSQL database at --to: the registry and its history, \
            ingests, materializations with their online watermarks, runs, the serving log, \
            and every source, feature and tile table, values bit for bit, in one transaction. \
            Then compares every table's row count with SQLite's: all or nothing. The target \
            must be empty; the SQLite store is only read. Point offline.url at the target \
            afterwards to use it.
            """
    )

    @OptionGroup var project: ProjectOptions

    @Option(help: "The PostgreSQL store to copy into: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
    var to: String

    func run() async throws {
        let configuration = try project.load()
        guard case .sqlite(let path) = configuration.offline else {
            throw CommandError(
                "copy-store copies a SQLite offline store, and the configured one is PostgreSQL (offline.url or LARDER_OFFLINE_URL); set offline.path (or LARDER_OFFLINE_PATH) to the SQLite store to copy"
            )
        }
        let rules = OfflineStoreOptions(
            eventTimePolicy: EventTimePolicy(maxFutureSkew: configuration.maxEventTimeSkew), busyTimeout: configuration.busyTimeout)
        // Read-only: the copy never writes to the SQLite store, and opening it so says it.
        let source = try OfflineStore(path: path, options: OfflineStoreOptions(readOnly: true))
        defer { source.close() }
        let target = try await PostgresStore(url: try PostgresURL(to), options: rules)
        defer { target.close() }

        let bar = ProgressBar(label: "copy-store")
        let summary = try await target.copy(from: source) { progress in
            guard progress.totalRows > 100_000 else { return }
            bar.update(
                fraction: Double(progress.rows) / Double(max(progress.totalRows, 1)),
                detail: "\(progress.table): \(grouped(progress.tableRows)) rows")
        }
        bar.finish()
        var table = TextTable("TABLE", "ROWS")
        for copied in summary.tables { table.add([copied.name, grouped(copied.rows)]) }
        print(table.render())
        if !summary.ignored.isEmpty {
            print("not copied (not Larder's tables): \(summary.ignored.joined(separator: ", "))")
        }
        print(
            "copied \(grouped(summary.rows)) rows in \(plural(summary.tables.count, "table")) from \(path) to \(target.url) in \(String(format: "%.2f", summary.seconds)) s; the SQLite store is unchanged"
        )
    }
}
