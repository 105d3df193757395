import ArgumentParser
import Features
import LarderCore
import LarderEngine
import LarderOffline

struct StatisticsReference: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics-reference",
        abstract: "Show or pin the materialization run a feature view's drift is measured against.",
        discussion: """
            Drift (the population stability index in `larder describe VIEW --stats` and the catalog) \\
            compares each run's feature statistics with a reference run's, on the reference's bins. \\
            By default the reference is the view version's first run with statistics; --run pins \\
            another (a run of the registered version, listed by `describe --stats`), --first goes \\
            back to the default. Without either, prints the reference.
            """
    )

    @OptionGroup var project: ProjectOptions

    @Argument(help: "The feature view.")
    var view: String

    @Option(name: .customLong("run"), help: "Pin this run (its id) as the reference.")
    var pinnedRun: Int64?

    @Flag(help: "Unpin: the first run with statistics is the reference again.")
    var first = false

    func validate() throws {
        if pinnedRun != nil && first { throw ValidationError("--run pins a run and --first unpins: give one of them") }
    }

    func run() async throws {
        let (_, store) = try await project.openBackend()
        defer { store.close() }
        guard let definition = try await store.registry.definition(named: view), definition.kind == .featureView else {
            throw CommandError("'\(view)' is not a registered feature view")
        }
        if pinnedRun != nil || first {
            try await store.pinStatisticsReference(view: view, version: definition.version, run: pinnedRun, at: .now())
        }
        guard let reference = try await store.statisticsReference(view: view, version: definition.version) else {
            print("\(view) v\(definition.version): no run with statistics yet (run `larder materialize`)")
            return
        }
        print(
            "\(view) v\(definition.version): drift is measured against run \(reference.run.id), finished \(reference.run.finishedAt) (\(reference.pinned ? "pinned" : "the first with statistics"))"
        )
    }
}
