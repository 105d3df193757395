import ArgumentParser
import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that online values equal their offline point-in-time recomputation.",
        discussion: """
            Checks the features of --service or --features, or without either every feature \
            of every view (on-demand features included). Samples entity keys from the offline \
            store (the first --sample keys in the order of a hash of the key seeded by --seed, \
            so the same store and flags give the same sample), \
            reads their online values at instant --at as the service would, recomputes them \
            offline as a training set would at the same instant (on-demand features get the same \
            sampled request fields on both sides), and reports per feature how many values are \
            equal, null on both sides, null online only, null offline only, or mismatched, with \
            the relative error (SMAPE) of numeric mismatches. Without --at the instant is just \
            before the end of what every view involved has materialized. Exits with status 1 \
            when any value is mismatched or null on one side only, so it can gate a deployment.

            --from-log compares what the service actually served instead (the serving log, \
            serve.log in larder.yaml): each logged row's values against their offline \
            recomputation at the instant it was served, with the request fields it was sent.
            """
    )

    static let defaultSample = 1000

    @OptionGroup var project: ProjectOptions

    @Option(help: "A feature service (default: every feature of every view).")
    var service: String?

    @Option(help: "Comma-separated view:feature references (or view for all its features; default: every feature of every view).")
    var features: String?

    @Option(help: "How many entity keys to sample (default: \(Verify.defaultSample)).")
    var sample: Int?

    @Option(
        help: "The instant to compare at (RFC 3339; default: 1 µs before the earliest materialized end of the views involved).",
        transform: parseTimestamp)
    var at: Timestamp?

    @Option(help: "Seed of the key hash and of the sampled request fields (default: 0).")
    var seed: UInt64?

    @Flag(help: "Print a JSON array with one object per feature instead of a table.")
    var json = false

    @Flag(help: "Compare the serving log's values with their offline recomputation at each logged instant, instead of sampling.")
    var fromLog = false

    @Option(help: "With --from-log: only entries served at or after this instant (RFC 3339).", transform: parseTimestamp)
    var since: Timestamp?

    @Option(help: "With --from-log: only entries served before this instant (RFC 3339).", transform: parseTimestamp)
    var until: Timestamp?

    func validate() throws {
        if fromLog {
            guard service == nil || features == nil else {
                throw ValidationError("give at most one of --service NAME and --features view:feature,...")
            }
            for (option, given) in [("--at", at != nil), ("--sample", sample != nil), ("--seed", seed != nil)] where given {
                throw ValidationError("--from-log compares every logged row at the instant it was served: it takes no \(option)")
            }
            if let since, let until, since >= until {
                throw ValidationError("--since \(since) is not before --until \(until)")
            }
            return
        }
        guard service == nil || features == nil else {
            throw ValidationError("give at most one of --service NAME and --features view:feature,...")
        }
        if let sample, sample < 1 {
            throw ValidationError("--sample must be at least 1, got \(sample)")
        }
        if since != nil || until != nil {
            throw ValidationError("--since and --until select serving log entries: use them with --from-log")
        }
    }

    func run() throws {
        let (configuration, store) = try project.openStore(ifDefinitionsStale: .warn)
        let requested: [ResolvedFeature]?
        do {
            requested =
                try service.map { try Features.repository.resolve(serviceNamed: $0) }
                ?? features.map {
                    try Features.repository.resolve(
                        references: $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
                }
        } catch {
            throw ValidationError("\(error)")
        }
        if fromLog {
            try verifyLog(store: store, project: configuration.project, features: requested)
            return
        }
        // Without --service or --features, every feature of every view (a deployment gate),
        // in groups one entity row can look up together: views keyed by overlapping but
        // different join keys (a driver view, a driver-and-city view) are sampled apart.
        let all = requested ?? Features.repository.allFeatures
        guard !all.isEmpty else { throw CommandError("features/ defines no feature: there is nothing to verify") }
        let groups: [[ResolvedFeature]]
        do {
            groups = try requested.map { [$0] } ?? FeaturePlan.lookupGroups(all, repository: Features.repository)
        } catch {
            throw CommandError("\(error)")
        }
        let deployment = try Deployment.load(repository: Features.repository, offline: store, project: configuration.project)
        var checks = try groups.map { try ConsistencyCheck(store: store, deployment: deployment, features: $0) }
        let instant = try ConsistencyCheck.instant(at, ends: checks.map { try $0.materializedEnd() })
        let seed = seed ?? 0
        let online = try configuration.onlineStore(poolSize: 1)
        var sampled = 0
        var newer = 0
        for c in checks.indices {
            let rows = try checks[c].sampleRows(limit: sample ?? Self.defaultSample, seed: seed, at: instant)
            newer += try checks[c].compareOnline(rows, at: instant, store: online)
            sampled += rows.count
        }
        // The report lists the features in the order asked for, or declared (several groups
        // only without --service or --features, where each feature comes once).
        var comparisons = checks[0].comparisons
        if checks.count > 1 {
            var tallies: [String: FeatureComparison] = [:]
            for check in checks {
                for (feature, comparison) in zip(check.features, check.comparisons) { tallies[feature.reference] = comparison }
            }
            comparisons = all.map { tallies[$0.reference]! }
        }

        let subject =
            service.map { "service \($0)" }
            ?? (requested == nil ? "every feature (\(plural(all.count, "feature")))" : plural(all.count, "feature"))
        let header = "\(subject) at \(instant): \(plural(sampled, "entity row")) sampled (seed \(seed))"
        if newer > 0 {
            // The online store keeps only the latest row per entity: at an earlier instant it
            // holds values the offline side rightly does not know yet.
            Self.note(
                "\(plural(newer, "online value")) have an event time after \(instant): the online store keeps only each entity's latest row, so verify at an instant at or after the latest event (omit --at)"
            )
        }
        try ConsistencyCheck.report(comparisons, features: all, header: header, instant: instant, json: json)
    }

    /// `--from-log`: every logged row in `[since, until)` with any of `features` (nil: every
    /// feature logged that features/ still defines), its logged values against the offline
    /// recomputation at its serving instant with its logged request fields.
    ///
    /// Rows that logged different feature lists (several services, feature lists) are checked
    /// in one group per list, and the tallies of a feature in several groups merged. The
    /// entries are read into memory first (`--since`/`--until` bound them): the recomputation
    /// reads the store too, and GRDB reads do not nest inside the log's read.
    func verifyLog(store: OfflineStore, project: String, features wanted: [ResolvedFeature]?) throws {
        // Logged rows, grouped by the features compared in them, in the order first seen.
        let deployment = try Deployment.load(repository: Features.repository, offline: store, project: project)
        var groups: [(features: [ResolvedFeature], entries: [ServingLogEntry])] = []
        var groupIndex: [[String]: Int] = [:]
        var known: [String: ResolvedFeature?] = [:]  // logged reference -> its definition, if any
        var skipped: [String: Int] = [:]
        var entries = 0
        try store.forEachServingLogEntry(since: since, until: until) { entry in
            entries += 1
            var selected: [ResolvedFeature] = []
            if let wanted {
                let logged = Set(entry.features.map(\.reference))
                selected = wanted.filter { logged.contains($0.reference) }
            } else {
                for feature in entry.features {
                    if known[feature.reference] == nil {
                        known[feature.reference] = .some(try? Features.repository.resolve(references: [feature.reference]).first)
                    }
                    if let resolved = known[feature.reference]! { selected.append(resolved) }
                }
            }
            guard !selected.isEmpty else {
                skipped["logged none of the features", default: 0] += 1
                return
            }
            let key = selected.map(\.reference)
            if let g = groupIndex[key] {
                groups[g].entries.append(entry)
            } else {
                groupIndex[key] = groups.count
                groups.append((selected, [entry]))
            }
        }
        let gone = known.filter { $0.value == nil }.keys.sorted()
        if !gone.isEmpty {
            Self.note("logged features not in features/ any more, not compared: \(gone.joined(separator: ", "))")
        }

        // Each group: its rows and logged values, then the offline recomputation.
        var merged: [FeatureComparison] = []
        var mergedFeatures: [ResolvedFeature] = []
        for (features, logged) in groups {
            var check = try ConsistencyCheck(store: store, deployment: deployment, features: features)
            let (view, end) = try check.materializedEnd()
            var rows: [CheckRow] = []
            var online: [[Value]] = []
            for entry in logged {
                guard entry.servedAt < end else {
                    skipped[
                        "served at or after the end of what \(view) has materialized (\(end)); run `larder materialize --incremental` to include them",
                        default: 0] += 1
                    continue
                }
                do {
                    let (row, values) = try check.loggedRow(entry)
                    rows.append(row)
                    online.append(values)
                } catch {
                    skipped["\(error)", default: 0] += 1
                }
            }
            try check.compare(rows, online: online)
            for (feature, comparison) in zip(features, check.comparisons) {
                if let i = mergedFeatures.firstIndex(of: feature) {
                    merged[i].merge(comparison)
                } else {
                    mergedFeatures.append(feature)
                    merged.append(comparison)
                }
            }
        }
        // In the order asked for, or first logged.
        if let wanted {
            let order = wanted.map(\.reference)
            let sorted = zip(mergedFeatures, merged).sorted {
                order.firstIndex(of: $0.0.reference)! < order.firstIndex(of: $1.0.reference)!
            }
            mergedFeatures = sorted.map(\.0)
            merged = sorted.map(\.1)
        }

        let skippedTotal = skipped.values.reduce(0, +)
        for (reason, count) in skipped.sorted(by: { $0.key < $1.key }) {
            Self.note("\(plural(count, "logged row")) skipped: \(reason)")
        }
        let range = "[\(since?.description ?? "start"), \(until?.description ?? "end"))"
        guard entries > 0 else {
            throw CommandError(
                "no serving log entry to compare in the range \(range); the service logs rows when serve.log.sample_rate in larder.yaml is above 0"
            )
        }
        guard merged.contains(where: { $0.compared > 0 }) else {
            throw CommandError("no serving log entry to compare: all \(plural(entries, "logged row")) were skipped (see the notes)")
        }
        let header = "serving log \(range): \(plural(entries - skippedTotal, "logged row")) compared, \(grouped(skippedTotal)) skipped"
        try ConsistencyCheck.report(merged, features: mergedFeatures, header: header, instant: nil, json: json)
    }

    /// A note on standard error, apart from the report.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data("note: \(text)\n".utf8))
    }
}

/// One entity row to check: its join keys, the instant to compare at, the request fields of
/// on-demand features, and how the report names it.
private struct CheckRow {
    var keys: [String: Value]
    var instant: Timestamp
    var requestFields: [String: Value]
    var context: String
}

/// What `larder verify` does, whatever the rows come from: the plan of the features, the
/// service's online lookup for them, their offline recomputation through the training-set
/// builder, and a ``FeatureComparison`` per feature.
private struct ConsistencyCheck {
    let store: OfflineStore
    let deployment: Deployment
    let features: [ResolvedFeature]
    let plan: FeaturePlan
    let lookup: OnlineLookup
    private(set) var comparisons: [FeatureComparison]

    /// The request column holding each row's instant. Definition names never contain `__`
    /// (it is reserved), so it cannot clash with a join key or a request field.
    static let instantColumn = "__verify_instant"
    /// Rows per offline build: bounds the memory of one build's output.
    static let offlineBatch = 10_000

    init(store: OfflineStore, deployment: Deployment, features: [ResolvedFeature]) throws {
        self.store = store
        self.deployment = deployment
        self.features = features
        lookup = try deployment.lookup(features)
        plan = lookup.plan
        comparisons = features.map { FeatureComparison(feature: $0.reference) }
    }

    /// The instant to compare at: `at` if given, else 1 µs before the earliest of the
    /// materialized `ends` of the views involved (training sets refuse instants at or after a
    /// view's end, and just before it both sides hold everything materialized).
    static func instant(_ at: Timestamp?, ends: [(view: String, end: Timestamp)]) throws -> Timestamp {
        let (view, end) = ends.min { $0.end < $1.end }!
        guard let at else { return Timestamp(microseconds: end.microseconds - 1) }
        guard at < end else {
            throw CommandError(
                "--at \(at) is at or after the end of what feature view \(view) has materialized (\(end)); run `larder materialize --incremental`, or give an earlier --at"
            )
        }
        return at
    }

    /// Reads `rows`' online values with the service's lookup at `instant`, in pipelined
    /// batches, and compares them with their offline recomputation (``compare(_:online:)``).
    /// Returns how many online values have an event time after `instant`.
    mutating func compareOnline(_ rows: [CheckRow], at instant: Timestamp, store online: OnlineStore) throws -> Int {
        var onlineValues: [[Value]] = []
        onlineValues.reserveCapacity(rows.count)
        var newer = 0
        for start in stride(from: 0, to: rows.count, by: 500) {
            let batch = rows[start..<min(start + 500, rows.count)]
            let entityRows = batch.map { EntityRow(keys: $0.keys, requestFields: $0.requestFields) }
            for (i, row) in entityRows.enumerated() {
                do { try lookup.validate(row, index: start + i) } catch { throw CommandError("\(error)") }
            }
            // No view is stale-definition here, so no `stale:` set is passed: a definition that
            // differs from the registry is refused by `Deployment.lookup`, and a changed view's
            // unmaterialized new version by `materializedEnd` (the service's staleness rules).
            for served in try lookup.lookupSync(entityRows, at: instant, store: online) {
                // Only a present value is served; missing, expired and stale-definition are null.
                onlineValues.append(served.map { $0.status == .present ? $0.value : .null })
                newer += served.filter { ($0.eventTime ?? instant) > instant }.count
            }
        }
        try compare(rows, online: onlineValues)
        return newer
    }

    /// The earliest end of what the views involved have materialized, and its view: offline
    /// values exist only for instants before it.
    func materializedEnd() throws -> (view: String, end: Timestamp) {
        guard !plan.views.isEmpty else {
            throw CommandError("the features read no feature view: there is nothing to compare")
        }
        return try deployment.materializedEnd(of: plan.views)!
    }

    /// A serving log entry as a row to check and its logged values in ``features`` order:
    /// the logged keys, the serving instant, the logged request fields (absent ones null), and
    /// each feature's logged value, null unless its status was `present`.
    ///
    /// - Throws: a message for the report when the entry does not fit the definitions (keys
    ///   or values of other types: logged under an older definition).
    func loggedRow(_ entry: ServingLogEntry) throws -> (CheckRow, [Value]) {
        func member(_ members: [JSONMember], _ name: String) -> JSONValue? { members.first { $0.key == name }?.value }
        var keys: [String: Value] = [:]
        for key in lookup.requiredKeys {
            guard let json = member(entry.entity, key.name), let value = try? json.value(as: key.type), !value.isNull else {
                throw CommandError("no \(key.type) join key \(key.name) in the logged entity")
            }
            keys[key.name] = value
        }
        var fields: [String: Value] = [:]
        for field in plan.requestFields {
            guard let value = try? (member(entry.request, field.key) ?? .null).value(as: field.type) else {
                throw CommandError("the logged request field \(field.key) is not a \(field.type)")
            }
            fields[field.key] = value
        }
        let values = try features.map { feature in
            guard let logged = entry.features.first(where: { $0.reference == feature.reference }) else { return Value.null }
            guard logged.status == FeatureStatus.present.rawValue else { return .null }
            guard let value = try? logged.value.featureValue(as: feature.type) else {
                throw CommandError("the logged value of \(feature.reference) is not a \(feature.type)")
            }
            return value
        }
        let context =
            ["entry \(entry.id) served at \(entry.servedAt)"] + lookup.requiredKeys.map { "\($0.name)=\(keys[$0.name]!)" }
            + plan.requestFields.map { "\($0.key)=\(fields[$0.key]!)" }
        return (CheckRow(keys: keys, instant: entry.servedAt, requestFields: fields, context: context.joined(separator: ",")), values)
    }

    /// The rows to check at `instant`: up to `limit` entity keys sampled from the offline
    /// store by ``EntityKeySample``, each with request fields from ``RequestFieldSample``.
    ///
    /// Views keyed by the same join keys share one sample. Views of different entities (a
    /// service mixing drivers and customers) are sampled apart and the i-th row takes the i-th
    /// key of each; an entity with fewer sampled keys than rows repeats them in order.
    func sampleRows(limit: Int, seed: UInt64, at instant: Timestamp) throws -> [CheckRow] {
        // The entities: the views grouped by their join key names.
        var entities: [(keys: [ColumnSpec], views: [FeatureView])] = []
        for view in plan.views {
            let names = Set(view.entity.joinKeys.map(\.name))
            if let e = entities.firstIndex(where: { Set($0.keys.map(\.name)) == names }) {
                entities[e].views.append(view)
            } else if let other = entities.first(where: { !Set($0.keys.map(\.name)).isDisjoint(with: names) }) {
                throw CommandError(
                    "feature views \(other.views[0].name) and \(view.name) are keyed by overlapping but different join keys (\(other.keys.map(\.name).joined(separator: ", ")) and \(view.entity.joinKeys.map(\.name).joined(separator: ", "))); verify them separately with --features"
                )
            } else {
                entities.append((view.entity.joinKeys, [view]))
            }
        }
        var samples: [[[Value]]] = []
        for entity in entities {
            var sample = EntityKeySample(limit: limit, seed: seed)
            for view in entity.views {
                // Keys come in the view's join key order; the sample uses the entity's.
                let order = entity.keys.map { key in view.entity.joinKeys.firstIndex { $0.name == key.name }! }
                try store.forEachEntityKey(of: view) { keys in sample.offer(order.map { keys[$0] }) }
            }
            guard !sample.keys.isEmpty else {
                throw CommandError(
                    "feature view\(entity.views.count == 1 ? "" : "s") \(entity.views.map(\.name).joined(separator: ", ")) \(entity.views.count == 1 ? "has" : "have") no materialized entities to sample; ingest and run `larder materialize` first"
                )
            }
            samples.append(sample.keys)
        }

        let required = lookup.requiredKeys
        return (0..<samples.map(\.count).max()!).map { i in
            var keys: [String: Value] = [:]
            for (entity, sample) in zip(entities, samples) {
                for (k, key) in entity.keys.enumerated() { keys[key.name] = sample[i % sample.count][k] }
            }
            let ordered = required.map { keys[$0.name]! }
            let text = EntityKeyHash.canonicalText(ordered)
            var fields: [String: Value] = [:]
            for field in plan.requestFields {
                fields[field.key] = RequestFieldSample.value(of: field.type, field: field.key, row: text, seed: seed, at: instant)
            }
            let context = zip(required, ordered).map { "\($0.name)=\($1)" } + plan.requestFields.map { "\($0.key)=\(fields[$0.key]!)" }
            return CheckRow(keys: keys, instant: instant, requestFields: fields, context: context.joined(separator: ","))
        }
    }

    /// Compares each row's online values (`online[r][f]`, in ``features`` order) with the
    /// offline recomputation of the row, adding to ``comparisons``.
    mutating func compare(_ rows: [CheckRow], online: [[Value]]) throws {
        precondition(rows.count == online.count)
        for start in stride(from: 0, to: rows.count, by: Self.offlineBatch) {
            let end = min(start + Self.offlineBatch, rows.count)
            let offline = try recompute(rows[start..<end])
            for (r, values) in zip(start..<end, offline) {
                for f in features.indices {
                    comparisons[f].add(online: online[r][f], offline: values[f], context: rows[r].context)
                }
            }
        }
    }

    /// The offline point-in-time values of the features for each row, exactly as a training
    /// set computes them: the rows are written as a request file (JSON Lines, typed), built by
    /// ``TrainingSetBuilder`` into a JSON Lines output in a temporary directory, and read back
    /// with LarderCore's ``JSONParser``, which rounds doubles correctly (Foundation's parser on
    /// Linux does not, and would report false mismatches).
    private func recompute(_ rows: ArraySlice<CheckRow>) throws -> [[Value]] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("larder-verify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let requestPath = directory + "/request.jsonl"
        var request: [UInt8] = []
        for row in rows {
            var first = true
            func member(_ name: String, _ value: Value) {
                request.append(first ? 0x7B : 0x2C)
                first = false
                JSONText.appendString(name, to: &request)
                request.append(0x3A)
                JSONText.appendValue(value, to: &request)
            }
            for key in lookup.requiredKeys { member(key.name, row.keys[key.name] ?? .null) }
            member(Self.instantColumn, .timestamp(row.instant))
            for field in plan.requestFields { member(field.key, row.requestFields[field.key] ?? .null) }
            request += "}\n".utf8
        }
        guard FileManager.default.createFile(atPath: requestPath, contents: Data(request)) else {
            throw CommandError("cannot write the request file \(requestPath)")
        }

        let outputPath = directory + "/offline.jsonl"
        let summary: TrainingSetSummary
        do {
            summary = try TrainingSetBuilder(store: store, repository: Features.repository).build(
                TrainingSetRequest(
                    features: features, rows: .file(path: requestPath, format: .jsonl, timestampColumn: Self.instantColumn),
                    output: outputPath, outputFormat: .jsonl, fullNames: true, commandLine: CommandLine.arguments))
        } catch {
            throw CommandError("recomputing the offline values failed: \(error)")
        }
        guard summary.rows == rows.count else {
            throw CommandError("the offline recomputation wrote \(summary.rows) rows for \(rows.count) requested")
        }

        // The feature columns are the last ones, in feature order, after the request columns.
        let columns = summary.columns
        let featureColumns = columns.count - features.count
        guard let data = FileManager.default.contents(atPath: outputPath) else {
            throw CommandError("cannot read the offline recomputation \(outputPath)")
        }
        let bytes = [UInt8](data)
        var out: [[Value]] = []
        out.reserveCapacity(rows.count)
        for line in bytes.split(separator: 0x0A) {
            let members: [JSONMember]
            do {
                guard case .object(let object) = try line.withUnsafeBufferPointer({ try JSONParser.parse($0) }),
                    object.count == columns.count
                else { throw CommandError("an output row is not an object of \(columns.count) members") }
                members = object
            } catch {
                throw CommandError("reading the offline recomputation: \(error)")
            }
            var values: [Value] = []
            values.reserveCapacity(features.count)
            for (f, feature) in features.enumerated() {
                let member = members[featureColumns + f]
                guard member.key == columns[featureColumns + f] else {
                    throw CommandError(
                        "the offline recomputation has column \(member.key) where \(columns[featureColumns + f]) was expected")
                }
                do {
                    values.append(try member.value.featureValue(as: feature.type))
                } catch {
                    throw CommandError("the offline value of \(feature.reference), \(member.value.text), is not a \(feature.type)")
                }
            }
            out.append(values)
        }
        guard out.count == rows.count else {
            throw CommandError("the offline recomputation has \(out.count) rows for \(rows.count) requested")
        }
        return out
    }

    /// Prints the report of `comparisons` (a table and a verdict, or JSON), then throws when
    /// any value was mismatched or null on one side only, so that the exit status gates a
    /// deployment. The tallies may come from several checks.
    static func report(_ comparisons: [FeatureComparison], features: [ResolvedFeature], header: String, instant: Timestamp?, json: Bool)
        throws
    {
        let compared = comparisons.map(\.compared).reduce(0, +)
        let inconsistent = comparisons.filter { !$0.isConsistent }
        if json {
            print(Self.json(comparisons, features: features, instant: instant))
        } else {
            print(header)
            // The SMAPE columns only when some feature has numeric mismatches.
            let withErrors = comparisons.contains { $0.smape != nil }
            var table = TextTable("FEATURE", "COMPARED", "EQUAL", "BOTH NULL", "ONLINE NULL", "OFFLINE NULL", "MISMATCHED")
            if withErrors { table.header += ["SMAPE P50", "P90", "P99", "MAX"] }
            for c in comparisons {
                var cells = [c.feature] + [c.compared, c.equal, c.bothNull, c.onlineNull, c.offlineNull, c.mismatched].map(grouped)
                if withErrors { cells += c.smape.map { [$0.p50, $0.p90, $0.p99, $0.max].map(Self.formatError) } ?? ["", "", "", ""] }
                table.add(cells)
            }
            print(Self.trimmed(table.render()))
            // A few disagreements per feature: the rows to look at first.
            var examples = TextTable("DISAGREEMENT", "FEATURE", "ROW", "ONLINE", "OFFLINE")
            for c in inconsistent {
                for e in c.examples {
                    examples.add([e.agreement.rawValue, c.feature, e.context, e.online.description, e.offline.description])
                }
            }
            if !examples.rows.isEmpty { print("\n" + Self.trimmed(examples.render())) }
        }
        guard compared > 0 else { throw CommandError("nothing was compared") }
        // Consistent, but vacuously: worth a look (an instant past every value's ttl, say).
        for c in comparisons where c.compared > 0 && c.bothNull == c.compared {
            Verify.note("\(c.feature) is null on both sides in every row compared")
        }
        guard inconsistent.isEmpty else {
            let mismatched = comparisons.map(\.mismatched).reduce(0, +)
            let onlineNull = comparisons.map(\.onlineNull).reduce(0, +)
            let offlineNull = comparisons.map(\.offlineNull).reduce(0, +)
            throw CommandError(
                "inconsistent: \(grouped(mismatched)) mismatched, \(grouped(onlineNull)) null online only and \(grouped(offlineNull)) null offline only, in \(inconsistent.count) of \(plural(comparisons.count, "feature")) (\(inconsistent.map(\.feature).joined(separator: ", ")))"
            )
        }
        if !json {
            print(
                "\nconsistent: \(plural(compared, "value")) of \(plural(comparisons.count, "feature")) compared, every one equal or null on both sides"
            )
        }
    }

    /// A table without the padding after its last non-empty cell.
    static func trimmed(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line[..<(line.lastIndex { $0 != " " }.map(line.index(after:)) ?? line.startIndex)])
        }.joined(separator: "\n")
    }

    /// A relative error for the table: 4 significant digits, small ones in exponent form.
    static func formatError(_ e: Double) -> String { String(format: "%.4g", e) }

    /// The `--json` document, written with ``JSONText`` so that doubles (SMAPE figures,
    /// example values) come out in shortest round-trip form: an array with one object per
    /// feature.
    static func json(_ comparisons: [FeatureComparison], features: [ResolvedFeature], instant: Timestamp?) -> String {
        var out: [UInt8] = Array("[\n".utf8)
        for (i, (c, feature)) in zip(comparisons, features).enumerated() {
            var first = true
            func key(_ name: String) {
                out += (first ? "  {" : ", ").utf8
                first = false
                JSONText.appendString(name, to: &out)
                out += ": ".utf8
            }
            key("feature")
            JSONText.appendString(c.feature, to: &out)
            key("type")
            JSONText.appendString(feature.type.rawValue, to: &out)
            key("at")
            JSONText.appendValue(instant.map(Value.timestamp) ?? .null, to: &out)
            for agreement in [ValueAgreement.equal, .bothNull, .onlineNull, .offlineNull, .mismatched] {
                if agreement == .equal {
                    key("compared")
                    JSONText.appendInteger(Int64(c.compared), to: &out)
                }
                key(agreement.rawValue)
                JSONText.appendInteger(Int64(c.count(agreement)), to: &out)
            }
            key("smape")
            if let s = c.smape {
                out += "{".utf8
                for (j, (name, value)) in [("p50", s.p50), ("p90", s.p90), ("p99", s.p99), ("max", s.max)].enumerated() {
                    if j > 0 { out += ", ".utf8 }
                    JSONText.appendString(name, to: &out)
                    out += ": ".utf8
                    JSONText.appendValue(.double(value), to: &out)
                }
                out += "}".utf8
            } else {
                out += "null".utf8
            }
            key("examples")
            out += "[".utf8
            for (j, e) in c.examples.enumerated() {
                if j > 0 { out += ", ".utf8 }
                out += "{\"row\": ".utf8
                JSONText.appendString(e.context, to: &out)
                out += ", \"agreement\": ".utf8
                JSONText.appendString(e.agreement.rawValue, to: &out)
                out += ", \"online\": ".utf8
                JSONText.appendValue(e.online, to: &out)
                out += ", \"offline\": ".utf8
                JSONText.appendValue(e.offline, to: &out)
                out += "}".utf8
            }
            out += "]}".utf8
            out += (i == comparisons.count - 1 ? "\n" : ",\n").utf8
        }
        out += "]".utf8
        return String(decoding: out, as: UTF8.self)
    }
}
