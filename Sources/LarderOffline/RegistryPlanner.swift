import LarderCore

/// Compares compiled definitions with what a registry holds: the one rule for what
/// `larder apply` changes, whichever store holds the registry. Each store reads the inputs in
/// one snapshot and writes the plan with its own SQL.
package struct RegistryPlanner: Sendable {
    /// Registered definitions by name.
    package var registered: [String: RegisteredDefinition]
    /// The last version each name ever had, removed ones included: a name added back
    /// continues from it.
    package var lastVersions: [String: Int]
    /// The column names, in table order, of the tables of the sources named by
    /// ``sourceNames(declared:registered:)``, by source name; a source without a table is
    /// absent.
    package var columns: [String: [String]]
    /// The row counts of the sources named by ``sourcesToCount(declared:registered:tables:)``:
    /// counting a large table costs a scan, so only the sources whose count the plan reports
    /// or decides on are counted.
    package var rowCounts: [String: Int]

    package init(
        registered: [String: RegisteredDefinition], lastVersions: [String: Int], columns: [String: [String]],
        rowCounts: [String: Int]
    ) {
        self.registered = registered
        self.lastVersions = lastVersions
        self.columns = columns
        self.rowCounts = rowCounts
    }

    /// The sources whose tables ``columns`` must describe: every source declared or registered.
    package static func sourceNames(declared repository: FeatureRepository, registered: [RegisteredDefinition]) -> Set<String> {
        Set(repository.specs.filter { $0.kind == .source }.map(\.name) + registered.filter { $0.kind == .source }.map(\.name))
    }

    /// Among the sources with a table (`tables`), those whose row count the plan needs: a new
    /// source meeting a table left by a removed one (reused, or refused if it holds rows), a
    /// changed source whose table must be rebuilt (allowed only empty), and a removed source
    /// (its kept rows are reported). An unchanged source, the usual case, is not counted.
    package static func sourcesToCount(
        declared repository: FeatureRepository, registered: [RegisteredDefinition], tables: Set<String>
    ) -> Set<String> {
        let byName = Dictionary(registered.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var names: Set<String> = []
        for spec in repository.specs {
            guard case .source(let new) = spec else { continue }
            guard let current = byName[new.name] else {
                names.insert(new.name)
                continue
            }
            if current.fingerprint != spec.fingerprint, case .source(let old) = current.spec,
                case .rebuild = SourceTable.migration(from: old, to: new)
            {
                names.insert(new.name)
            }
        }
        let declared = Set(repository.specs.map(\.name))
        for current in registered where current.kind == .source && !declared.contains(current.name) { names.insert(current.name) }
        return names.intersection(tables)
    }

    /// The plan, or an error listing every change that cannot be applied.
    package func plan(for repository: FeatureRepository) throws -> ApplyPlan {
        try repository.validate()
        var changes: [PlannedChange] = []
        var migrations: [String: SourceTable.Migration] = [:]
        var newSources: [SourceSpec] = []
        var blocked: [String] = []
        let specs = repository.specs

        for spec in specs {
            guard let current = registered[spec.name] else {
                let version = (lastVersions[spec.name] ?? 0) + 1
                var details: [String] = []
                if case .source(let source) = spec {
                    details += planNewSourceTable(source, blocked: &blocked)
                    newSources.append(source)
                }
                changes.append(PlannedChange(change: .added, spec: spec, version: version, previousVersion: nil, details: details))
                continue
            }
            if current.kind != spec.kind {
                blocked.append(
                    "\(spec.name) is registered as a \(current.kind.label) and declared as a \(spec.kind.label); rename one, or remove it, apply, then add it back"
                )
                continue
            }
            guard current.fingerprint != spec.fingerprint else {
                // The same computation: only metadata can differ, and it is recorded in place.
                if spec != current.spec {
                    changes.append(
                        PlannedChange(
                            change: .described, spec: spec, version: current.version, previousVersion: current.version,
                            details: spec.changes(from: current.spec)))
                }
                continue
            }
            var details = spec.changes(from: current.spec)
            if case .source(let new) = spec, case .source(let old) = current.spec {
                let migration = SourceTable.migration(from: old, to: new)
                switch migration {
                case .none: break
                case .addColumns(let columns):
                    details.append("table source_\(new.name): add nullable column(s) \(columns.map(\.name).joined(separator: ", "))")
                case .rebuild(let reasons):
                    let rows = rowCounts[new.name] ?? 0
                    if rows > 0 {
                        blocked.append(
                            "source \(new.name): \(reasons.joined(separator: "; ")) cannot be applied to a table with \(rows) rows. Add new columns as nullable (Column<T?>), or declare a new source under another name."
                        )
                    } else {
                        details.append("table source_\(new.name) rebuilt (it is empty)")
                    }
                }
                migrations[new.name] = migration
            }
            changes.append(
                PlannedChange(
                    change: .changed, spec: spec, version: current.version + 1, previousVersion: current.version, details: details))
        }
        let declared = Set(specs.map(\.name))
        for current in registered.values.sorted(by: { ($0.kind, $0.name) < ($1.kind, $1.name) }) where !declared.contains(current.name) {
            var details: [String] = []
            if current.kind == .source {
                details.append("table source_\(current.name) is kept with its \(rowCounts[current.name] ?? 0) rows")
            }
            changes.append(
                PlannedChange(
                    change: .removed, spec: current.spec, version: current.version, previousVersion: current.version, details: details))
        }
        if !blocked.isEmpty {
            throw OfflineStoreError("the definitions cannot be applied:\n" + blocked.map { "  - \($0)" }.joined(separator: "\n"))
        }
        return ApplyPlan(
            changes: changes, baseline: registered.mapValues(\.version), sourceMigrations: migrations, newSources: newSources)
    }

    /// A table left by a removed source of the same name is reused if it fits.
    private func planNewSourceTable(_ source: SourceSpec, blocked: inout [String]) -> [String] {
        guard let existing = columns[source.name] else { return ["table source_\(source.name) created"] }
        let rows = rowCounts[source.name] ?? 0
        if existing == SourceTable(spec: source).columnNames {
            return ["table source_\(source.name) reused with its \(rows) rows"]
        }
        if rows > 0 {
            blocked.append(
                "source \(source.name): a table source_\(source.name) with \(rows) rows and other columns (\(existing.dropFirst(2).joined(separator: ", "))) is left from an earlier definition; drop it or name the source differently"
            )
            return []
        }
        return ["table source_\(source.name) rebuilt (it is empty)"]
    }
}
