import LarderCore

/// What planning needs to know of one source's table in a store.
package struct SourceTableState: Sendable, Equatable {
    /// Column names in table order, `_seq` and `_ingest` first.
    package var columns: [String]
    package var rows: Int

    package init(columns: [String], rows: Int) {
        self.columns = columns
        self.rows = rows
    }
}

/// Compares compiled definitions with what a registry holds: the one rule for what
/// `larder apply` changes, whichever store holds the registry. Each store reads the three
/// inputs in one snapshot and writes the plan with its own SQL.
package struct RegistryPlanner: Sendable {
    /// Registered definitions by name.
    package var registered: [String: RegisteredDefinition]
    /// The last version each name ever had, removed ones included: a name added back
    /// continues from it.
    package var lastVersions: [String: Int]
    /// The tables of the sources named by ``sourceNames(declared:registered:)``, by source
    /// name; a source without a table is absent.
    package var tables: [String: SourceTableState]

    package init(registered: [String: RegisteredDefinition], lastVersions: [String: Int], tables: [String: SourceTableState]) {
        self.registered = registered
        self.lastVersions = lastVersions
        self.tables = tables
    }

    /// The sources whose tables ``tables`` must describe: every source declared or registered.
    package static func sourceNames(declared repository: FeatureRepository, registered: [RegisteredDefinition]) -> Set<String> {
        Set(repository.specs.filter { $0.kind == .source }.map(\.name) + registered.filter { $0.kind == .source }.map(\.name))
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
            guard current.fingerprint != spec.fingerprint else { continue }
            var details = spec.changes(from: current.spec)
            if case .source(let new) = spec, case .source(let old) = current.spec {
                let migration = SourceTable.migration(from: old, to: new)
                switch migration {
                case .none: break
                case .addColumns(let columns):
                    details.append("table source_\(new.name): add nullable column(s) \(columns.map(\.name).joined(separator: ", "))")
                case .rebuild(let reasons):
                    let rows = tables[new.name]?.rows ?? 0
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
                details.append("table source_\(current.name) is kept with its \(tables[current.name]?.rows ?? 0) rows")
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
        guard let table = tables[source.name] else { return ["table source_\(source.name) created"] }
        if table.columns == SourceTable(spec: source).columnNames {
            return ["table source_\(source.name) reused with its \(table.rows) rows"]
        }
        if table.rows > 0 {
            blocked.append(
                "source \(source.name): a table source_\(source.name) with \(table.rows) rows and other columns (\(table.columns.dropFirst(2).joined(separator: ", "))) is left from an earlier definition; drop it or name the source differently"
            )
            return []
        }
        return ["table source_\(source.name) rebuilt (it is empty)"]
    }
}
