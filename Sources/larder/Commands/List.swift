import ArgumentParser
import LarderCore
import LarderOffline

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List registered definitions.",
        discussion: """
            Without a kind, lists everything. `views` lists feature views and on-demand views. \
            --json prints an array of objects with kind, name, version, fingerprint, \
            created_at, updated_at and definition (see docs/CLI.md).
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case entities, sources, views, services
    }

    @OptionGroup var project: ProjectOptions

    @Argument(help: "What to list: entities, sources, views or services (default: all).")
    var kind: Kind?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let (_, store) = try await project.openBackend()
        defer { store.close() }
        let kinds: Set<DefinitionKind> =
            switch kind {
            case nil: Set(DefinitionKind.allCases)
            case .entities: [.entity]
            case .sources: [.source]
            case .views: [.featureView, .onDemandView]
            case .services: [.featureService]
            }
        let definitions = try await store.registry.definitions().filter { kinds.contains($0.kind) }
        if json {
            print(try JSONOutput.render(definitions.map(Describe.summaryObject)))
            return
        }
        if definitions.isEmpty {
            print("Nothing registered\(kind.map { " (\($0.rawValue))" } ?? ""). Run `larder apply` to register features/.")
            return
        }
        var table = TextTable("KIND", "NAME", "VERSION", "FINGERPRINT", "UPDATED", "SUMMARY")
        for definition in definitions {
            table.add([
                definition.kind.label, definition.name, "v\(definition.version)", definition.fingerprint,
                definition.updatedAt.description, Describe.summary(definition.spec),
            ])
        }
        print(table.render())
    }
}
