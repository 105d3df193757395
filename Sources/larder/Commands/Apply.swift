import ArgumentParser
import Features
import LarderCore
import LarderOffline

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register the definitions compiled from features/.",
        discussion: """
            Validates the definitions, compares them with the registry and prints the plan: \
            what is added, changed (down to single features and ttl) and removed. Then applies \
            it in one transaction, recording a new version of each changed definition. \
            Applying the same definitions twice changes nothing the second time.

            When the files of features/ differ from the definitions compiled in (edited since \
            the build), it rebuilds larder (swift build, with the configuration and build \
            folder this binary came from) and runs the rebuilt binary with the same arguments; \
            with --no-build, or without a toolchain, it refuses, naming the files.
            """
    )

    @OptionGroup var project: ProjectOptions

    @Flag(help: "Print the plan without applying it.")
    var dryRun = false

    @Flag(help: "When features/ changed since larder was built, refuse instead of rebuilding it.")
    var noBuild = false

    func run() async throws {
        let (_, store) = try await project.openBackend(ifDefinitionsStale: .rebuildOrRefuse(allowRebuild: !noBuild))
        defer { store.close() }
        let plan = try await store.registry.plan(for: Features.repository)
        if plan.isEmpty {
            print("No changes: the registry matches features/.")
            return
        }
        print(Apply.render(plan))
        if dryRun {
            print("Dry run: nothing applied.")
            return
        }
        try await store.registry.apply(plan)
        let count = plan.changes.count
        print("Applied \(count) change\(count == 1 ? "" : "s").")
    }

    static func render(_ plan: ApplyPlan) -> String {
        var lines: [String] = []
        for change in plan.changes {
            switch change.change {
            case .added:
                lines.append("+ \(change.kind.label) \(change.name) (v\(change.version))")
            case .changed:
                lines.append("~ \(change.kind.label) \(change.name) (v\(change.previousVersion ?? 0) -> v\(change.version))")
            case .removed:
                lines.append("- \(change.kind.label) \(change.name) (was v\(change.version))")
            case .described:
                lines.append("~ \(change.kind.label) \(change.name) (v\(change.version), description, owner or tags only)")
            }
            lines += change.details.map { "    \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
