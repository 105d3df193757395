import ArgumentParser
import LarderCore
import LarderOffline

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one registered definition and its version history.",
        discussion: "--json prints one object: the fields of `larder list --json`, plus history (and rows, for a source)."
    )

    @OptionGroup var project: ProjectOptions

    @Argument(help: "The name of an entity, source, view or service.")
    var name: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let (_, store) = try project.openStore()
        guard let definition = try store.registry.definition(named: name) else {
            let known = try store.registry.definitions().map(\.name)
            throw CommandError(
                "'\(name)' is not registered. Registered: \(known.isEmpty ? "nothing (run `larder apply`)" : known.joined(separator: ", "))."
            )
        }
        let history = try store.registry.history(named: name)
        let rows = definition.kind == .source ? try store.registry.rowCount(source: name) : nil
        if json {
            var object = Describe.summaryObject(definition)
            object["history"] = history.map { entry in
                [
                    "applied_at": entry.appliedAt.description, "version": entry.version,
                    "change": entry.change.rawValue, "details": entry.details, "fingerprint": entry.fingerprint,
                ] as [String: Any]
            }
            if let rows { object["rows"] = rows }
            print(try JSONOutput.render(object))
            return
        }
        var lines = ["\(definition.kind.label) \(definition.name)  (v\(definition.version), fingerprint \(definition.fingerprint))"]
        lines += Describe.body(definition.spec)
        if let rows { lines.append("rows: \(grouped(rows))") }
        lines.append("history:")
        for entry in history {
            lines.append("  \(entry.appliedAt)  v\(entry.version)  \(entry.change.rawValue)")
            lines += entry.details.map { "      \($0)" }
        }
        print(lines.joined(separator: "\n"))
    }

    /// The `larder list --json` object of a definition.
    static func summaryObject(_ definition: RegisteredDefinition) -> [String: Any] {
        [
            "kind": definition.kind.rawValue, "name": definition.name, "version": definition.version,
            "fingerprint": definition.fingerprint, "created_at": definition.createdAt.description,
            "updated_at": definition.updatedAt.description, "definition": JSONOutput.object(definition.spec),
        ]
    }

    /// A one-line summary for `larder list`.
    static func summary(_ spec: DefinitionSpec) -> String {
        switch spec {
        case .entity(let s): "keys: \(s.joinKeys.map(\.description).joined(separator: ", "))"
        case .source(let s): "\(plural(s.columns.count, "column")), event time \(s.eventTimestamp)"
        case .featureView(let s):
            "\(plural(s.features.count + (s.aggregations?.count ?? 0), "feature")) of \(s.entity) from \(s.source), ttl \(Duration.compact(microseconds: s.ttlMicroseconds))"
        case .onDemandView(let s):
            "\(plural(s.features.count, "feature")), request fields: \(s.requestFields.map(\.key).joined(separator: ", "))"
        case .featureService(let s): plural(s.features.count, "feature")
        }
    }

    static func body(_ spec: DefinitionSpec) -> [String] {
        func meta(_ description: String, _ owner: String, _ tags: [String: String]) -> [String] {
            var out: [String] = []
            if !description.isEmpty { out.append("description: \(description)") }
            if !owner.isEmpty { out.append("owner: \(owner)") }
            if !tags.isEmpty {
                out.append("tags: " + tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
            }
            return out
        }
        func features(_ list: [FeatureSpec]) -> [String] {
            var table = TextTable("  FEATURE", "TYPE", "COMPUTED FROM")
            for f in list {
                let from =
                    f.transformation == "passthrough"
                    ? f.inputs.map(\.key).joined() : "swift(\(f.inputs.map(\.key).joined(separator: ", ")))"
                table.add(["  \(f.name)", f.type.rawValue, from])
            }
            return ["features:"] + table.render().split(separator: "\n").map(String.init)
        }
        func aggregations(_ list: [AggregationSpec]?) -> [String] {
            guard let list, !list.isEmpty else { return [] }
            var table = TextTable("  AGGREGATION", "TYPE", "FUNCTION", "OF", "WINDOW", "HOP")
            for a in list {
                let input = a.input == "events" ? "events" : String(a.input.split(separator: ":", maxSplits: 1).last ?? "")
                table.add([
                    "  \(a.name)", a.type.rawValue, a.function, input, Aggregate.windowSuffix(.microseconds(a.windowMicroseconds)),
                    Aggregate.windowSuffix(.microseconds(a.hopMicroseconds)),
                ])
            }
            return ["aggregations:"] + table.render().split(separator: "\n").map(String.init)
        }
        switch spec {
        case .entity(let s):
            return meta(s.description, s.owner, s.tags) + ["join keys: \(s.joinKeys.map(\.description).joined(separator: ", "))"]
        case .source(let s):
            var out = meta(s.description, s.owner, s.tags)
            out.append("event timestamp: \(s.eventTimestamp)")
            if let created = s.createdTimestamp { out.append("created timestamp: \(created)") }
            out.append("columns: \(s.columns.map(\.description).joined(separator: ", "))")
            out.append("table: source_\(s.name)")
            return out
        case .featureView(let s):
            return meta(s.description, s.owner, s.tags) + [
                "entity: \(s.entity) (\(s.joinKeys.map(\.description).joined(separator: ", ")))",
                "source: \(s.source)",
                "ttl: \(s.ttlMicroseconds == 0 ? "none" : Duration.compact(microseconds: s.ttlMicroseconds))",
            ] + (s.features.isEmpty ? [] : features(s.features)) + aggregations(s.aggregations)
        case .onDemandView(let s):
            return meta(s.description, s.owner, s.tags) + [
                "reads: \(s.featureInputs.map(\.key).joined(separator: ", "))",
                "request fields: \(s.requestFields.map { "\($0.key): \($0.type)" }.joined(separator: ", "))",
            ] + features(s.features)
        case .featureService(let s):
            return meta(s.description, s.owner, s.tags) + ["features:"] + s.features.map { "  \($0)" }
        }
    }
}
