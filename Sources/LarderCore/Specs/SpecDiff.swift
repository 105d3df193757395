extension DefinitionSpec {
    /// What changed from `old` to `self`, one readable line per change, down to single
    /// features and ttl. Empty when nothing changed.
    public func changes(from old: DefinitionSpec) -> [String] {
        var out: [String] = []
        func field<T: Equatable>(_ label: String, _ a: T, _ b: T, _ show: (T) -> String = { "\($0)" }) {
            if a != b { out.append("\(label): \(show(a)) -> \(show(b))") }
        }
        func meta(_ a: (String, String, [String: String]), _ b: (String, String, [String: String])) {
            field("description", a.0, b.0) { "\"\($0)\"" }
            field("owner", a.1, b.1) { "\"\($0)\"" }
            field("tags", a.2, b.2) { DefinitionSpec.tagText($0, empty: "none") }
        }
        func named<T: Equatable>(_ what: String, _ a: [T], _ b: [T], name: (T) -> String, describe: (T, T) -> [String]) {
            let before = out.count
            let oldByName = Dictionary(a.map { (name($0), $0) }, uniquingKeysWith: { x, _ in x })
            let newByName = Dictionary(b.map { (name($0), $0) }, uniquingKeysWith: { x, _ in x })
            for item in b where oldByName[name(item)] == nil { out.append("\(what) added: \(name(item))") }
            for item in a where newByName[name(item)] == nil { out.append("\(what) removed: \(name(item))") }
            for item in b {
                if let previous = oldByName[name(item)], previous != item {
                    out.append("\(what) changed: \(name(item)) (\(describe(previous, item).joined(separator: "; ")))")
                }
            }
            if out.count == before, a.map(name) != b.map(name) { out.append("\(what)s reordered") }
        }
        func columnChange(_ a: ColumnSpec, _ b: ColumnSpec) -> [String] { ["\(a) -> \(b)"] }
        func featureChange(_ a: FeatureSpec, _ b: FeatureSpec) -> [String] {
            var parts: [String] = []
            if a.type != b.type { parts.append("type \(a.type) -> \(b.type)") }
            if a.transformation != b.transformation { parts.append("transformation \(a.transformation) -> \(b.transformation)") }
            if a.code != b.code && a.transformation == b.transformation { parts.append("transformation code") }
            if a.inputs != b.inputs {
                parts.append("inputs \(a.inputs.map(\.key).joined(separator: ",")) -> \(b.inputs.map(\.key).joined(separator: ","))")
            }
            return parts + featureMeta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        }
        /// A feature's metadata changes, as parts of its line.
        func featureMeta(
            _ a: (String?, String?, [String: String]?), _ b: (String?, String?, [String: String]?)
        ) -> [String] {
            var parts: [String] = []
            if a.0 != b.0 { parts.append("description \"\(a.0 ?? "")\" -> \"\(b.0 ?? "")\"") }
            if a.1 != b.1 { parts.append("owner \"\(a.1 ?? "")\" -> \"\(b.1 ?? "")\"") }
            if a.2 != b.2 {
                parts.append("tags \(DefinitionSpec.tagText(a.2, empty: "none")) -> \(DefinitionSpec.tagText(b.2, empty: "none"))")
            }
            return parts
        }

        func aggregationChange(_ a: AggregationSpec, _ b: AggregationSpec) -> [String] {
            var parts: [String] = []
            if a.function != b.function { parts.append("function \(a.function) -> \(b.function)") }
            if a.input != b.input { parts.append("input \(a.input) -> \(b.input)") }
            if a.type != b.type { parts.append("type \(a.type) -> \(b.type)") }
            if a.windowMicroseconds != b.windowMicroseconds {
                parts.append(
                    "window \(Duration.compact(microseconds: a.windowMicroseconds)) -> \(Duration.compact(microseconds: b.windowMicroseconds))"
                )
            }
            if a.hopMicroseconds != b.hopMicroseconds {
                parts.append(
                    "hop \(Duration.compact(microseconds: a.hopMicroseconds)) -> \(Duration.compact(microseconds: b.hopMicroseconds))")
            }
            return parts + featureMeta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        }

        switch (old, self) {
        case (.entity(let a), .entity(let b)):
            named("join key", a.joinKeys, b.joinKeys, name: \.name, describe: columnChange)
            meta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        case (.source(let a), .source(let b)):
            field("event timestamp column", a.eventTimestamp, b.eventTimestamp)
            field("created timestamp column", a.createdTimestamp ?? "none", b.createdTimestamp ?? "none")
            named("column", a.columns, b.columns, name: \.name, describe: columnChange)
            meta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        case (.featureView(let a), .featureView(let b)):
            field("entity", a.entity, b.entity)
            if a.joinKeys != b.joinKeys {
                out.append(
                    "join keys: \(a.joinKeys.map(\.description).joined(separator: ", ")) -> \(b.joinKeys.map(\.description).joined(separator: ", "))"
                )
            }
            field("source", a.source, b.source)
            field("ttl", a.ttlMicroseconds, b.ttlMicroseconds) { Duration.compact(microseconds: $0) }
            named("feature", a.features, b.features, name: \.name, describe: featureChange)
            named("aggregation", a.aggregations ?? [], b.aggregations ?? [], name: \.name, describe: aggregationChange)
            meta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        case (.onDemandView(let a), .onDemandView(let b)):
            named("feature", a.features, b.features, name: \.name, describe: featureChange)
            meta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        case (.featureService(let a), .featureService(let b)):
            let added = b.features.filter { !a.features.contains($0) }
            let removed = a.features.filter { !b.features.contains($0) }
            for f in added { out.append("feature added: \(f)") }
            for f in removed { out.append("feature removed: \(f)") }
            if added.isEmpty && removed.isEmpty && a.features != b.features { out.append("features reordered") }
            meta((a.description, a.owner, a.tags), (b.description, b.owner, b.tags))
        default:
            out.append("kind: \(old.kind.label) -> \(kind.label)")
        }
        return out
    }
}

extension DefinitionSpec {
    /// Tags as `key=value`, sorted by key, joined by `separator`; `empty` when there are none.
    public static func tagText(_ tags: [String: String]?, separator: String = ",", empty: String = "") -> String {
        guard let tags, !tags.isEmpty else { return empty }
        return tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: separator)
    }
}
