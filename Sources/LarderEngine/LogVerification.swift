import LarderCore
import LarderOffline
import LarderOnline

extension Verification {
    /// A serving log entry as a row to check and its logged values in ``features`` order:
    /// the logged keys, the serving instant, the logged request fields (absent ones null), and
    /// each feature's logged value, null unless its status was `present`.
    ///
    /// - Throws: a message for the report when the entry does not fit the definitions (keys
    ///   or values of other types: logged under an older definition).
    public func loggedRow(_ entry: ServingLogEntry) throws(EngineError) -> (VerificationRow, [Value]) {
        func member(_ members: [JSONMember], _ name: String) -> JSONValue? { members.first { $0.key == name }?.value }
        var keys: [String: Value] = [:]
        for key in lookup.requiredKeys {
            guard let json = member(entry.entity, key.name), let value = try? json.value(as: key.type), !value.isNull else {
                throw EngineError(.unprocessable, "no \(key.type) join key \(key.name) in the logged entity")
            }
            keys[key.name] = value
        }
        var fields: [String: Value] = [:]
        for field in plan.requestFields {
            guard let value = try? (member(entry.request, field.key) ?? .null).value(as: field.type) else {
                throw EngineError(.unprocessable, "the logged request field \(field.key) is not a \(field.type)")
            }
            fields[field.key] = value
        }
        var values: [Value] = []
        for feature in features {
            guard let logged = entry.features.first(where: { $0.reference == feature.reference }),
                logged.status == FeatureStatus.present.rawValue
            else {
                values.append(.null)
                continue
            }
            guard let value = try? logged.value.featureValue(as: feature.type) else {
                throw EngineError(.unprocessable, "the logged value of \(feature.reference) is not a \(feature.type)")
            }
            values.append(value)
        }
        let context =
            ["entry \(entry.id) served at \(entry.servedAt)"] + lookup.requiredKeys.map { "\($0.name)=\(keys[$0.name]!)" }
            + plan.requestFields.map { "\($0.key)=\(fields[$0.key]!)" }
        return (
            VerificationRow(keys: keys, instant: entry.servedAt, requestFields: fields, context: context.joined(separator: ",")),
            values
        )
    }
}

extension VerificationRun {
    /// `--from-log`: every logged row in `[since, until)` with any of `features` (nil: every
    /// feature logged that features/ still defines), its logged values against the offline
    /// recomputation at its serving instant with its logged request fields.
    ///
    /// Rows that logged different feature lists (several services, feature lists) are checked
    /// in one group per list, and the tallies of a feature in several groups merged. The
    /// entries are read into memory first (`since`/`until` bound them): the recomputation
    /// reads the store too, and GRDB reads do not nest inside the log's read.
    public static func fromLog(
        _ deployment: Deployment, offline: any OfflineBackend, features wanted: [ResolvedFeature]?, since: Timestamp?, until: Timestamp?
    ) async throws -> VerificationReport {
        let repository = deployment.repository
        // Logged rows, grouped by the features compared in them, in the order first seen.
        var groups: [(features: [ResolvedFeature], entries: [ServingLogEntry])] = []
        var groupIndex: [[String]: Int] = [:]
        var known: [String: ResolvedFeature?] = [:]  // logged reference -> its definition, if any
        var report = VerificationReport(comparisons: [], features: [], instant: nil)
        for try await batch in offline.servingLogEntries(since: since, until: until) {
            for entry in batch {
                report.entries += 1
                var selected: [ResolvedFeature] = []
                if let wanted {
                    let logged = Set(entry.features.map(\.reference))
                    selected = wanted.filter { logged.contains($0.reference) }
                } else {
                    for feature in entry.features {
                        if known[feature.reference] == nil {
                            known[feature.reference] = .some(try? repository.resolve(references: [feature.reference]).first)
                        }
                        if let resolved = known[feature.reference]! { selected.append(resolved) }
                    }
                }
                guard !selected.isEmpty else {
                    report.skipped["logged none of the features", default: 0] += 1
                    continue
                }
                let key = selected.map(\.reference)
                if let g = groupIndex[key] {
                    groups[g].entries.append(entry)
                } else {
                    groupIndex[key] = groups.count
                    groups.append((selected, [entry]))
                }
            }
        }
        report.gone = known.filter { $0.value == nil }.keys.sorted()

        // Each group: its rows and logged values, then the offline recomputation.
        for (features, logged) in groups {
            var check = try Verification(deployment: deployment, offline: offline, features: features)
            let (view, end) = try check.materializedEnd()
            var rows: [VerificationRow] = []
            var online: [[Value]] = []
            for entry in logged {
                guard entry.servedAt < end else {
                    report.skipped[
                        "served at or after the end of what \(view) has materialized (\(end)); run `larder materialize --incremental` to include them",
                        default: 0] += 1
                    continue
                }
                do {
                    let (row, values) = try check.loggedRow(entry)
                    rows.append(row)
                    online.append(values)
                } catch {
                    report.skipped["\(error)", default: 0] += 1
                }
            }
            try await check.compare(rows, online: online)
            for (feature, comparison) in zip(features, check.comparisons) {
                if let i = report.features.firstIndex(of: feature) {
                    report.comparisons[i].merge(comparison)
                } else {
                    report.features.append(feature)
                    report.comparisons.append(comparison)
                }
            }
        }
        // In the order asked for, or first logged.
        if let wanted {
            let order = wanted.map(\.reference)
            let sorted = zip(report.features, report.comparisons).sorted {
                order.firstIndex(of: $0.0.reference)! < order.firstIndex(of: $1.0.reference)!
            }
            report.features = sorted.map(\.0)
            report.comparisons = sorted.map(\.1)
        }
        return report
    }
}
