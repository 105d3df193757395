import ArgumentParser
import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline

struct Materialize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute feature views from their sources into the offline store.",
        discussion: """
            Runs each view's Swift row transformations over its source rows with an event time \
            in [--start, --end) and stores the results in the view's offline feature table, and \
            rebuilds the per-hop tiles of its windowed aggregations, one transaction per view. Re-running a range replaces it (no duplicates); an interrupted \
            run leaves nothing and can simply be run again. Without --start the range starts at \
            the source's first event; without --end it ends now. --incremental continues from \
            each view's watermark and picks up rows ingested since (late arrivals included). \
            Then each view's latest value per entity as of the end, and its aggregation tiles, \
            are pushed to Redis (only what changed, with --incremental); --offline-only skips that.
            """
    )

    @OptionGroup var project: ProjectOptions

    @Option(help: "Start of the event-time range (RFC 3339, inclusive).", transform: parseTimestamp)
    var start: Timestamp?

    @Option(help: "End of the event-time range (RFC 3339, exclusive; default: now).", transform: parseTimestamp)
    var end: Timestamp?

    @Option(
        help: "Comma-separated feature views (default: all).",
        transform: { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } })
    var views: [String]?

    @Flag(help: "Continue from each view's watermark instead of a range.")
    var incremental = false

    @Flag(help: "Only the offline part: do not push to Redis.")
    var offlineOnly = false

    func validate() throws {
        if incremental && start != nil {
            throw ValidationError("--incremental continues from the last run: it takes no --start")
        }
        if let start, let end, start > end {
            throw ValidationError("--start \(start) is after --end \(end)")
        }
    }

    func run() async throws {
        let (configuration, store) = try await project.openBackend(ifDefinitionsStale: .warn)
        defer { store.close() }
        let online = offlineOnly ? nil : try configuration.onlineStore(poolSize: 1)
        let selected: [FeatureView]
        if let views {
            selected = try views.map { name in
                guard let view = Features.repository.featureView(named: name) else {
                    throw ValidationError(
                        "unknown feature view '\(name)'; known: \(Features.repository.featureViews.map(\.name).joined(separator: ", "))")
                }
                return view
            }
        } else {
            selected = Features.repository.featureViews
        }
        let mode: MaterializationMode = incremental ? .incremental(end: end) : .range(start: start, end: end)
        let now = Timestamp.now()
        for view in selected {
            let bar = ProgressBar(label: "materialize \(view.name)")
            let summary = try await store.materialize(view, mode: mode, now: now) { progress in
                guard progress.totalRows > 100_000 else { return }
                bar.update(fraction: Double(progress.rows) / Double(max(progress.totalRows, 1)), detail: "\(grouped(progress.rows)) rows")
            }
            bar.finish()
            // What the aggregations will serve, for the statistics of the run (row features
            // got theirs in the run).
            try await AggregationStatistics.record(for: view, run: summary, offline: store)
            let tiles =
                view.aggregations.isEmpty
                ? "" : ", \(grouped(summary.tiles)) tiles in \(String(format: "%.2f", summary.tileSeconds)) s of it"
            print(
                "\(summary.view) v\(summary.version): \(grouped(summary.rows)) rows in \(String(format: "%.2f", summary.seconds)) s\(tiles)\(summary.incremental ? " (incremental)" : ""); materialized [\(summary.state.start), \(summary.state.end))"
            )
            if let online {
                let push = try await MaterializedPush.push(
                    view, summary: summary, store: store, online: online, project: configuration.project, notice: { print($0) })
                print(
                    "\(summary.view) v\(summary.version): pushed \(grouped(push.entities)) entities to Redis in \(String(format: "%.2f", push.seconds)) s (\(grouped(push.written)) updated)"
                )
            }
        }
    }
}

/// Parses an RFC 3339 option value.
func parseTimestamp(_ text: String) throws -> Timestamp {
    do {
        return try Timestamp(rfc3339: text)
    } catch {
        throw ValidationError("'\(text)' is not a timestamp: \(error.reason)")
    }
}
