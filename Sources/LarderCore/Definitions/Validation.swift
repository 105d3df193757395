/// One problem with a definition, naming the definition.
public struct DefinitionProblem: Sendable, Hashable, CustomStringConvertible {
    /// `feature view driver_hourly_stats`, `source trips`, ...
    public var definition: String
    public var problem: String

    public var description: String { "\(definition): \(problem)" }
}

/// Every problem found in a repository, reported together so one `apply` shows them all.
public struct DefinitionErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [DefinitionProblem]

    public var description: String {
        let header = problems.count == 1 ? "1 problem in the definitions:" : "\(problems.count) problems in the definitions:"
        return ([header] + problems.map { "  - \($0)" }).joined(separator: "\n")
    }
}

/// Names that are safe as SQL identifiers and in Redis keys: lower-case ASCII letters, digits
/// and single underscores, starting with a letter, at most 63 characters. Double underscores
/// are reserved for `view__feature` column names.
public func isSafeIdentifier(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, bytes.count <= 63, (0x61...0x7A).contains(first) else { return false }
    guard !name.contains("__") else { return false }
    return bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
}

extension FeatureRepository {
    /// Checks the definitions as a whole; throws every problem found.
    public func validate() throws(DefinitionErrors) {
        var problems: [DefinitionProblem] = []
        func report(_ definition: String, _ problem: String) {
            problems.append(DefinitionProblem(definition: definition, problem: problem))
        }
        func checkName(_ definition: String, _ what: String, _ name: String) {
            if !isSafeIdentifier(name) {
                report(
                    definition,
                    "\(what) '\(name)' is not a safe name: use lower-case letters, digits and single underscores, starting with a letter (at most 63 characters)"
                )
            }
        }
        func checkUnique(_ definition: String, _ what: String, _ names: [String]) {
            var seen = Set<String>()
            for name in names where !seen.insert(name).inserted {
                report(definition, "duplicate \(what) '\(name)'")
            }
        }

        // Names are unique across all kinds, so `larder describe NAME` is never ambiguous.
        var owners: [String: String] = [:]
        let named: [(String, String)] =
            entities.map { ("entity", $0.name) } + sources.map { ("source", $0.name) }
            + featureViews.map { ("feature view", $0.name) } + onDemandViews.map { ("on-demand view", $0.name) }
            + services.map { ("feature service", $0.name) }
        for (kind, name) in named {
            checkName("\(kind) \(name)", "name", name)
            if let other = owners[name] {
                report("\(kind) \(name)", "the name is already used by \(other) \(name); names must be unique across all definitions")
            } else {
                owners[name] = kind
            }
        }

        for entity in entities {
            let def = "entity \(entity.name)"
            if entity.joinKeys.isEmpty { report(def, "has no join keys") }
            checkUnique(def, "join key", entity.joinKeys.map(\.name))
            for key in entity.joinKeys {
                checkName(def, "join key", key.name)
                if key.type != .int64 && key.type != .string {
                    report(def, "join key '\(key.name)' has type \(key.type); join keys are int64 or string")
                }
                if key.nullable { report(def, "join key '\(key.name)' is nullable; join keys cannot be null") }
            }
        }

        for source in sources {
            let def = "source \(source.name)"
            checkName(def, "event timestamp column", source.eventTimestamp)
            if let created = source.createdTimestamp {
                checkName(def, "created timestamp column", created)
                if created == source.eventTimestamp {
                    report(def, "the created timestamp column and the event timestamp column are both '\(created)'")
                }
            }
            if source.columns.isEmpty { report(def, "has no columns") }
            for column in source.columns {
                checkName(def, "column", column.name)
                if column.name == source.eventTimestamp || column.name == source.createdTimestamp {
                    report(
                        def,
                        "column '\(column.name)' repeats a timestamp column; timestamps are declared by eventTimestamp/createdTimestamp only"
                    )
                }
            }
            checkUnique(def, "column", source.columns.map(\.name))
        }

        let entityNames = Set(entities.map(\.name))
        let sourceNames = Set(sources.map(\.name))
        // The type of every view feature, for on-demand views and services.
        var featureTypes: [String: ValueType] = [:]

        for view in featureViews {
            let def = "feature view \(view.name)"
            if !entityNames.contains(view.entity.name) {
                report(def, "uses entity '\(view.entity.name)', which is not in the repository; add it")
            }
            if !sourceNames.contains(view.source.name) {
                report(def, "uses source '\(view.source.name)', which is not in the repository; add it")
            }
            if view.ttl < .zero { report(def, "ttl is negative (\(view.ttl.compactDescription))") }
            if view.features.isEmpty && view.aggregations.isEmpty { report(def, "has no features") }
            checkUnique(def, "feature", view.featureNames)
            for key in view.entity.joinKeys {
                guard let column = view.source.column(named: key.name) else {
                    report(def, "entity key '\(key.name)' of entity \(view.entity.name) is missing from source \(view.source.name)")
                    continue
                }
                if column.type != key.type || column.nullable {
                    report(
                        def,
                        "entity key '\(key.name)' is \(key.type) in entity \(view.entity.name) but \(column.type)\(column.nullable ? "?" : "") in source \(view.source.name)"
                    )
                }
            }
            let keyNames = Set(view.entity.joinKeys.map(\.name))
            for feature in view.features {
                checkName(def, "feature", feature.name)
                if keyNames.contains(feature.name) {
                    report(def, "feature '\(feature.name)' has the name of a join key")
                }
                for input in feature.transformation.inputs {
                    guard let column = view.source.column(named: input.key) else {
                        report(def, "feature '\(feature.name)' reads column '\(input.key)', which source \(view.source.name) lacks")
                        continue
                    }
                    if column.type != input.type || column.nullable != input.nullable {
                        let declared = "\(input.type)\(input.nullable ? "?" : "")"
                        let actual = "\(column.type)\(column.nullable ? "?" : "")"
                        report(
                            def,
                            "feature '\(feature.name)' reads column '\(input.key)' as \(declared), but source \(view.source.name) declares it \(actual)"
                        )
                    }
                }
                featureTypes["\(view.name):\(feature.name)"] = feature.type
            }
            for aggregation in view.aggregations {
                checkAggregation(aggregation, of: view, def: def, keyNames: keyNames)
                featureTypes["\(view.name):\(aggregation.name)"] = aggregation.type
            }
        }

        func checkAggregation(_ aggregation: Aggregation, of view: FeatureView, def: String, keyNames: Set<String>) {
            let what = "aggregation '\(aggregation.name)'"
            checkName(def, "aggregation", aggregation.name)
            if keyNames.contains(aggregation.name) { report(def, "\(what) has the name of a join key") }
            switch aggregation.input {
            case .events: break
            case .column(let column):
                guard let declared = view.source.column(named: column.name) else {
                    report(def, "\(what) reads column '\(column.name)', which source \(view.source.name) lacks")
                    return
                }
                if declared.type != column.type {
                    report(
                        def,
                        "\(what) reads column '\(column.name)' as \(column.type), but source \(view.source.name) declares it \(declared.type)"
                    )
                    return
                }
            case .feature(let name):
                if !view.features.contains(where: { $0.name == name }) {
                    report(def, "\(what) reads feature '\(name)', which is not a row feature of the view")
                    return
                }
            }
            if aggregation.outputType == nil {
                let input = aggregation.input == .events ? "events" : "a \(aggregation.inputType.map(\.rawValue) ?? "?") input"
                report(def, "\(what): \(aggregation.function) does not apply to \(input)")
            }
            if case .last(let n) = aggregation.function, !(1...1000).contains(n) {
                report(def, "\(what): last(n) needs 1 <= n <= 1000, got \(n)")
            }
            let window = Duration.compact(microseconds: aggregation.window)
            let hop = Duration.compact(microseconds: aggregation.hop)
            if aggregation.window <= 0 { report(def, "\(what): the window must be positive, got \(window)") }
            if aggregation.hop <= 0 {
                report(def, "\(what): the hop must be positive, got \(hop)")
            } else if aggregation.window > 0 && aggregation.window % aggregation.hop != 0 {
                report(def, "\(what): the window (\(window)) must be a whole number of hops (\(hop)); pass another hop:")
            }
        }

        for view in onDemandViews {
            let def = "on-demand view \(view.name)"
            if view.features.isEmpty { report(def, "has no features") }
            checkUnique(def, "feature", view.features.map(\.name))
            var requestTypes: [String: ValueType] = [:]
            for feature in view.features {
                checkName(def, "feature", feature.name)
                for input in feature.transformation.inputs {
                    if input.key.contains(":") {
                        guard let type = featureTypes[input.key] else {
                            report(def, "feature '\(feature.name)' reads '\(input.key)', which is not a feature of any feature view")
                            continue
                        }
                        if type != input.type {
                            report(def, "feature '\(feature.name)' reads '\(input.key)' as \(input.type), but it is \(type)")
                        }
                    } else {
                        checkName(def, "request field", input.key)
                        if let previous = requestTypes[input.key], previous != input.type {
                            report(def, "request field '\(input.key)' is read as both \(previous) and \(input.type)")
                        }
                        requestTypes[input.key] = input.type
                    }
                }
            }
        }
        for view in onDemandViews {
            for feature in view.features { featureTypes["\(view.name):\(feature.name)"] = feature.type }
        }

        let viewFeatures: [String: [String]] = Dictionary(
            featureViews.map { ($0.name, $0.featureNames) } + onDemandViews.map { ($0.name, $0.features.map(\.name)) },
            uniquingKeysWith: { first, _ in first }
        )
        for service in services {
            let def = "feature service \(service.name)"
            if service.selections.isEmpty { report(def, "has no features") }
            for selection in service.selections {
                guard let names = viewFeatures[selection.view] else {
                    report(def, "names view '\(selection.view)', which is not in the repository")
                    continue
                }
                for name in selection.features ?? [] where !names.contains(name) {
                    report(def, "names feature '\(selection.view):\(name)', which view \(selection.view) does not have")
                }
            }
            if let refs = try? resolve(service: service) {
                checkUnique(def, "feature", refs.map(\.reference))
            }
        }

        if !problems.isEmpty { throw DefinitionErrors(problems: problems) }
    }
}
