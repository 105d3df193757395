import ArgumentParser
import LarderCore
import LarderOffline

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List registered definitions.",
        discussion: """
            Without a kind, lists everything. `views` lists feature views and on-demand views. \
            --tag, --owner and --search keep the definitions that match, themselves or by one \
            of their features. --json prints an array of objects with kind, name, version, \
            fingerprint, created_at, updated_at and definition (see docs/CLI.md).
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case entities, sources, views, services
    }

    @OptionGroup var project: ProjectOptions

    @Argument(help: "What to list: entities, sources, views or services (default: all).")
    var kind: Kind?

    @Option(help: "Only definitions (or with features) tagged KEY=VALUE; repeatable, all must match.")
    var tag: [TagFilter] = []

    @Option(help: "Only definitions (or with features) owned by OWNER.")
    var owner: String?

    @Option(help: "Only definitions whose name or description, or a feature's, contains TEXT (any case).")
    var search: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    /// `KEY=VALUE`.
    struct TagFilter: ExpressibleByArgument {
        let key: String
        let value: String

        init?(argument: String) {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
            key = String(argument[..<equals])
            value = String(argument[argument.index(after: equals)...])
        }
    }

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
        let tags = Dictionary(tag.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        let definitions = try await store.registry.definitions().filter {
            kinds.contains($0.kind) && $0.spec.matches(tags: tags, owner: owner, search: search)
        }
        if json {
            print(try JSONOutput.render(definitions.map(Describe.summaryObject)))
            return
        }
        if definitions.isEmpty {
            if !tag.isEmpty || owner != nil || search != nil {
                print("No registered definition matches.")
                return
            }
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
