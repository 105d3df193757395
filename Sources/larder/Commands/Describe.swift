import ArgumentParser
import LarderCore
import LarderEngine
import LarderOffline

struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one registered definition and its version history.",
        discussion: """
            --json prints one object: the fields of `larder list --json`, plus history (and rows, for a source). \
            --stats adds a feature view's statistics: its recent materialization runs, and per feature the \
            newest run's count, nulls, range, mean, standard deviation, distinct count, quantiles and \
            histogram, and each run's drift (population stability index) against the reference run \
            (the first, or the one pinned with `larder statistics-reference`).
            """
    )

    @OptionGroup var project: ProjectOptions

    @Argument(help: "The name of an entity, source, view or service.")
    var name: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Show a feature view's feature statistics and drift over its recent runs.")
    var stats = false

    @Option(help: "With --stats: how many recent runs to show.")
    var runs = 5

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
    }

    func run() async throws {
        let (_, store) = try await project.openBackend()
        defer { store.close() }
        guard let definition = try await store.registry.definition(named: name) else {
            let known = try await store.registry.definitions().map(\.name)
            throw CommandError(
                "'\(name)' is not registered. Registered: \(known.isEmpty ? "nothing (run `larder apply`)" : known.joined(separator: ", "))."
            )
        }
        let history = try await store.registry.history(named: name)
        let rows = definition.kind == .source ? try await store.registry.rowCount(source: name) : nil
        var freshness: ViewFreshness? = nil
        if case .featureView(let spec) = definition.spec { freshness = try await store.freshness(of: spec, version: definition.version) }
        var report: ViewStatisticsReport? = nil
        if stats {
            switch definition.spec {
            case .featureView(let spec):
                report = try await ViewStatisticsReport.load(view: spec, version: definition.version, offline: store, runs: runs)
            case .onDemandView:
                throw CommandError("\(name) is an on-demand view: its features are computed per request and have no statistics")
            default:
                throw CommandError(
                    "--stats is for feature views; \(name) is \(definition.kind.label == "entity" ? "an" : "a") \(definition.kind.label)")
            }
        }
        let now = Timestamp.now()
        if json {
            var object = Describe.summaryObject(definition)
            object["history"] = history.map { entry in
                [
                    "applied_at": entry.appliedAt.description, "version": entry.version,
                    "change": entry.change.rawValue, "details": entry.details, "fingerprint": entry.fingerprint,
                ] as [String: Any]
            }
            if let rows { object["rows"] = rows }
            if let freshness { object["materialization"] = Describe.freshnessObject(freshness, now: now) }
            if let report { object["statistics"] = try JSONOutput.object(encoding: report) }
            print(try JSONOutput.render(object))
            return
        }
        var lines = ["\(definition.kind.label) \(definition.name)  (v\(definition.version), fingerprint \(definition.fingerprint))"]
        lines += Describe.body(definition.spec)
        if let rows { lines.append("rows: \(grouped(rows))") }
        if let freshness { lines += Describe.freshnessLines(freshness, now: now) }
        if let report { lines += Describe.statisticsLines(report) }
        lines.append("history:")
        for entry in history {
            lines.append("  \(entry.appliedAt)  v\(entry.version)  \(entry.change.rawValue)")
            lines += entry.details.map { "      \($0)" }
        }
        print(lines.joined(separator: "\n"))
    }

    /// Age of an instant at `now`, compactly (`3h12m`), or `in the future`.
    static func age(_ t: Timestamp, now: Timestamp) -> String {
        let us = now.microseconds - t.microseconds
        return us < 0 ? "in the future" : Duration.compact(microseconds: us / 1_000_000 * 1_000_000) + " ago"
    }

    /// The `--stats` lines: the runs shown, then each feature's newest statistics, histogram
    /// and drift by run.
    static func statisticsLines(_ report: ViewStatisticsReport) -> [String] {
        guard let newest = report.runs.first else { return ["statistics: none (run `larder materialize`)"] }
        let reference =
            report.reference.map { "run \($0.run) (\($0.pinned ? "pinned" : "the first with statistics"))" } ?? "none"
        var lines = ["statistics after run \(newest.id) (\(newest.finishedAt)); drift against \(reference):"]
        var runs = TextTable("  RUN", "FINISHED", "ROWS", "NEWEST EVENT", "AGE AT RUN")
        for run in report.runs {
            runs.add([
                "  \(run.id)\(run.incremental ? " (incremental)" : "")", run.finishedAt, grouped(run.rows), run.newestEvent ?? "-",
                run.newestEventAgeSeconds.map { Duration.compact(microseconds: Int64($0.rounded()) * 1_000_000) } ?? "-",
            ])
        }
        lines += runs.render().split(separator: "\n").map(String.init)
        for feature in report.features {
            lines.append("  \(feature.name) (\(feature.type), \(feature.kind))")
            guard let s = feature.latest else {
                lines.append("      no statistics in run \(newest.id)")
                continue
            }
            var summary = ["count \(grouped(s.count))", "nulls \(grouped(s.nullCount))"]
            if s.nanCount > 0 { summary.append("NaN \(grouped(s.nanCount))") }
            if let min = s.min, let max = s.max { summary += ["min \(min)", "max \(max)"] }
            if let mean = s.mean { summary.append("mean \(mean)") }
            if let std = s.standardDeviation { summary.append("std \(std)\(feature.type == "timestamp" ? " s" : "")") }
            summary.append("distinct \(grouped(s.distinctCount))")
            lines.append("      " + summary.joined(separator: "  "))
            if let quantiles = s.quantiles {
                lines.append(
                    "      " + quantiles.map { "p\(Int(($0.probability * 100).rounded())) \($0.value)" }.joined(separator: "  "))
            }
            if let top = s.topValues, !top.isEmpty {
                lines.append("      top: " + top.prefix(5).map { "\($0.value) (\(grouped($0.count)))" }.joined(separator: ", "))
            }
            if let bins = feature.histogram {
                lines.append("      histogram: " + bins.map { "\($0.label): \(grouped($0.count))" }.joined(separator: " | "))
            }
            let drift = feature.drift.map { d in "\(d.run): \(d.populationStabilityIndex.map { String(format: "%.4f", $0) } ?? "-")" }
            lines.append("      drift (PSI) by run: " + drift.joined(separator: ", "))
        }
        return lines
    }

    /// The materialization and freshness lines of a feature view version.
    static func freshnessLines(_ f: ViewFreshness, now: Timestamp) -> [String] {
        guard let state = f.state else { return ["materialized: never (run `larder materialize`)"] }
        var lines = [
            "materialized: [\(state.start), \(state.end)), source rows up to _seq \(state.seqWatermark)",
            "newest materialized event: \(f.newestEvent.map { "\($0) (\(age($0, now: now)))" } ?? "none")",
        ]
        if let run = f.lastRun {
            lines.append(
                "last run: \(run.finishedAt) (\(age(run.finishedAt, now: now))), \(grouped(run.rows)) rows\(run.incremental ? ", incremental" : "")"
            )
        }
        lines.append("online: \(f.online.map { "pushed up to \($0.end)" } ?? "never pushed")")
        return lines
    }

    static func freshnessObject(_ f: ViewFreshness, now: Timestamp) -> [String: Any] {
        guard let state = f.state else { return ["materialized": false] }
        var object: [String: Any] = [
            "materialized": true, "covered_start": state.start.description, "covered_end": state.end.description,
            "seq_watermark": state.seqWatermark, "updated_at": state.updatedAt.description,
        ]
        if let newest = f.newestEvent {
            object["newest_event"] = newest.description
            object["newest_event_age_seconds"] = Double(now.microseconds - newest.microseconds) / 1e6
        }
        if let run = f.lastRun {
            object["last_run"] =
                ["finished_at": run.finishedAt.description, "rows": run.rows, "incremental": run.incremental] as [String: Any]
        }
        if let online = f.online { object["online_pushed_end"] = online.end.description }
        return object
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
            if !tags.isEmpty { out.append("tags: " + DefinitionSpec.tagText(tags, separator: ", ")) }
            return out
        }
        /// The DESCRIPTION, OWNER and TAGS cells of a feature or aggregation row.
        func metadataCells(_ description: String?, _ owner: String?, _ tags: [String: String]?) -> [String] {
            [description ?? "", owner ?? "", DefinitionSpec.tagText(tags)]
        }
        func features(_ list: [FeatureSpec]) -> [String] {
            // Metadata columns only when a feature has some.
            let described = list.contains { $0.description != nil || $0.owner != nil || $0.tags != nil }
            var table = TextTable("  FEATURE", "TYPE", "COMPUTED FROM")
            if described { table.header += ["DESCRIPTION", "OWNER", "TAGS"] }
            for f in list {
                let from =
                    f.transformation == "passthrough"
                    ? f.inputs.map(\.key).joined() : "swift(\(f.inputs.map(\.key).joined(separator: ", ")))"
                var row: [String] = ["  \(f.name)", f.type.rawValue, from]
                if described { row += metadataCells(f.description, f.owner, f.tags) }
                table.add(row)
            }
            return ["features:"] + table.render().split(separator: "\n").map(String.init)
        }
        func aggregations(_ list: [AggregationSpec]?) -> [String] {
            guard let list, !list.isEmpty else { return [] }
            // Metadata columns only when an aggregation has some.
            let described = list.contains { $0.description != nil || $0.owner != nil || $0.tags != nil }
            var table = TextTable("  AGGREGATION", "TYPE", "FUNCTION", "OF", "WINDOW", "HOP")
            if described { table.header += ["DESCRIPTION", "OWNER", "TAGS"] }
            for a in list {
                let input = a.input == "events" ? "events" : String(a.input.split(separator: ":", maxSplits: 1).last ?? "")
                let window = Aggregate.windowSuffix(.microseconds(a.windowMicroseconds))
                let hop = Aggregate.windowSuffix(.microseconds(a.hopMicroseconds))
                var row: [String] = ["  \(a.name)", a.type.rawValue, a.function, input, window, hop]
                if described { row += metadataCells(a.description, a.owner, a.tags) }
                table.add(row)
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
