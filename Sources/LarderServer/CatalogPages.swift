import Foundation
import LarderCore
import LarderEngine

/// Renders the catalog's answers (LarderEngine's `Catalog...` values) as HTML pages with
/// ``CatalogTemplates``: each page's values are gathered into a small struct the template
/// reads (display texts, links), then rendered. Text is escaped by the templates; plots are
/// ``SVGPlot``'s.
enum CatalogPages {
    /// What every page's header and footer show.
    struct Layout {
        var title: String
        var project: String?
        /// The text of the header's search box.
        var query: String = ""
        var showSearch = true
        /// A token is configured and the request carried it: offer to log out.
        var loggedIn = false
        var generatedAt: String? = nil
    }

    static func render(_ template: String, _ page: Any) -> String {
        CatalogTemplates.library.render(page, withTemplate: template) ?? ""
    }

    // MARK: Shared pieces

    struct Link {
        var name: String
        var url: String
    }

    struct TagLink {
        var key: String
        var value: String
        var url: String
    }

    struct Change {
        var appliedAt: String
        var kind: String
        var name: String
        var url: String?
        var version: Int
        var change: String
        var details: [String]
    }

    static func tags(_ tags: [String: String]) -> [TagLink] {
        tags.sorted { $0.key < $1.key }.map {
            TagLink(key: $0.key, value: $0.value, url: CatalogURL.search(tags: ["\($0.key)=\($0.value)"]))
        }
    }

    static func changes(_ history: [CatalogChange], linked: Bool = false) -> [Change] {
        history.map {
            Change(
                appliedAt: time($0.appliedAt), kind: kindLabel($0.kind), name: $0.name,
                url: linked ? CatalogURL.page(kind: $0.kind, name: $0.name) : nil, version: $0.version, change: $0.change,
                details: $0.details)
        }
    }

    /// `2026-11-24T21:00:00.25Z` as `2026-11-24 21:00:00 UTC` (to the second).
    static func time(_ rfc3339: String) -> String {
        guard rfc3339.hasSuffix("Z"), rfc3339.count >= 20 else { return rfc3339 }
        return rfc3339.prefix(19).replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    /// A duration in seconds as `3h12m`; `-` before a negative one.
    static func duration(_ seconds: Double) -> String { SVGPlot.durationTick(seconds: seconds) }

    static func kindLabel(_ kind: String) -> String {
        DefinitionKind(rawValue: kind)?.label ?? kind.replacingOccurrences(of: "_", with: " ")
    }

    static func featureKindLabel(_ kind: CatalogFeatureKind) -> String {
        switch kind {
        case .row: "row feature"
        case .aggregation: "aggregation"
        case .onDemand: "on-demand feature"
        }
    }

    static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }

    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    // MARK: Home

    struct Count {
        var label: String
        var number: String
        var url: String
    }

    struct Alert {
        var view: String
        var url: String
        var status: String
        var reason: String
    }

    struct Run {
        var id: Int64
        var view: String
        var url: String
        var version: Int
        var finishedAt: String
        var rows: String
        var mode: String
        var newestEvent: String
        var age: String
        var freshness: String
    }

    struct Entry {
        var kind: String
        var name: String
        var url: String
        var description: String
        var owner: String
        var version: String
    }

    struct Section {
        var id: String
        var title: String
        var entries: [Entry]
    }

    struct HomePage {
        var layout: Layout
        var counts: [Count]
        var alerts: [Alert]
        var applies: [Change]
        var runs: [Run]
        var sections: [Section]
    }

    static func entry(_ entry: CatalogEntry) -> Entry {
        Entry(
            kind: kindLabel(entry.kind), name: entry.name, url: CatalogURL.page(kind: entry.kind, name: entry.name) ?? "/ui",
            description: entry.description, owner: entry.owner, version: entry.version.map { "v\($0)" } ?? "not current")
    }

    static func run(_ run: CatalogRun) -> Run {
        let age = run.newestEventAgeSeconds.map(duration) ?? "—"
        return Run(
            id: run.id, view: run.view, url: CatalogURL.view(run.view), version: run.version, finishedAt: time(run.finishedAt),
            rows: grouped(run.rows),
            mode: run.incremental ? "incremental" : "full", newestEvent: run.newestEvent.map(time) ?? "none",
            age: age, freshness: run.newestEvent.map { "\(time($0)) (\(age) old)" } ?? "none")
    }

    static func home(_ home: CatalogHome, layout: Layout) -> String {
        let counts = [
            Count(label: "entities", number: grouped(home.counts.entities), url: "#entities"),
            Count(label: "sources", number: grouped(home.counts.sources), url: "#sources"),
            Count(label: "feature views", number: grouped(home.counts.featureViews), url: "#feature-views"),
            Count(label: "on-demand views", number: grouped(home.counts.onDemandViews), url: "#on-demand-views"),
            Count(label: "features", number: grouped(home.counts.features), url: "/ui/search"),
            Count(label: "feature services", number: grouped(home.counts.services), url: "#services"),
        ]
        let page = HomePage(
            layout: layout, counts: counts,
            alerts: home.staleViews.map { Alert(view: $0.view, url: CatalogURL.view($0.view), status: $0.status, reason: $0.reason) },
            applies: changes(home.recentApplies, linked: true).map { change in
                // A removed definition has no page.
                var change = change
                let known = (home.entities + home.sources + home.featureViews + home.onDemandViews + home.services).contains {
                    $0.name == change.name
                }
                if !known { change.url = nil }
                return change
            },
            runs: home.recentRuns.map(run),
            sections: [
                Section(id: "entities", title: "Entities", entries: home.entities.map(entry)),
                Section(id: "sources", title: "Sources", entries: home.sources.map(entry)),
                Section(id: "feature-views", title: "Feature views", entries: home.featureViews.map(entry)),
                Section(id: "on-demand-views", title: "On-demand views", entries: home.onDemandViews.map(entry)),
                Section(id: "services", title: "Feature services", entries: home.services.map(entry)),
            ])
        return render("home", page)
    }

    // MARK: Search

    struct FeatureRow {
        var name: String
        var reference: String
        var url: String
        var view: String
        var viewURL: String
        var kind: String
        var type: String
        var description: String
        var owner: String
        var tags: [TagLink]
        var window: String
        var position: Int
    }

    struct Option {
        var value: String
        var label: String
        var selected: Bool
    }

    struct ActiveTag {
        var text: String
        var removeURL: String
    }

    struct SearchPage {
        var layout: Layout
        var q: String
        var owner: String
        var types: [Option]
        var activeTags: [ActiveTag]
        var problem: String?
        var summary: String
        var features: [FeatureRow]
        var definitions: [Entry]
    }

    static func featureRow(_ feature: CatalogFeature, position: Int = 0) -> FeatureRow {
        FeatureRow(
            name: feature.name, reference: feature.reference, url: CatalogURL.feature(view: feature.view, name: feature.name),
            view: feature.view, viewURL: CatalogURL.view(feature.view), kind: featureKindLabel(feature.kind), type: feature.type,
            description: feature.description, owner: feature.owner, tags: tags(feature.tags),
            window: feature.aggregation.map { "\($0.function) over \($0.window)" } ?? "", position: position)
    }

    /// The search page: the filters as given (`tagFilters` as typed), and the result, or
    /// `problem` when the filters were refused.
    static func search(
        _ result: CatalogSearchResult?, text: String, tagFilters: [String], owner: String, type: String, problem: String?, layout: Layout
    ) -> String {
        let types =
            [Option(value: "", label: "any", selected: type.isEmpty)]
            + ValueType.allCases.map { Option(value: $0.rawValue, label: $0.rawValue, selected: $0.rawValue == type) }
        let active = tagFilters.enumerated().map { i, tag in
            var others = tagFilters
            others.remove(at: i)
            return ActiveTag(text: tag, removeURL: CatalogURL.search(text: text, tags: others, owner: owner, type: type))
        }
        let features = result?.features ?? []
        let summary =
            switch (result, features.count) {
            case (nil, _): ""
            case (_, 0): "No feature matches."
            case (_, 1): "1 feature."
            case (_, let n): "\(grouped(n)) features."
            }
        return render(
            "search",
            SearchPage(
                layout: layout, q: text, owner: owner, types: types, activeTags: active, problem: problem, summary: summary,
                features: features.map { featureRow($0) }, definitions: (result?.definitions ?? []).map(entry)))
    }

    // MARK: Feature

    struct Input {
        var key: String
        var type: String
        var url: String?
        var role: String
    }

    struct Aggregation {
        var function: String
        var input: String
        var window: String
        var hop: String
    }

    struct FeaturePage {
        var layout: Layout
        var name: String
        var reference: String
        var kindLabel: String
        var description: String?
        var view: String
        var viewURL: String
        var viewKind: String
        var version: Int?
        var type: String
        var owner: String?
        var tags: [TagLink]
        var transformation: String
        var aggregation: Aggregation?
        var inputs: [Input]
        var services: [Link]
        var readBy: [Link]
        var code: String?
        var codeHash: String?
        var noCode: String
        var history: [Change]
        /// A feature of a feature view (on-demand features have no statistics).
        var isViewFeature: Bool
        var statistics: Statistics?
        var noStatistics: String
    }

    struct Stat {
        var name: String
        var value: String
    }

    struct DriftRow {
        var run: Int64
        var finishedAt: String
        var psi: String
    }

    struct Statistics {
        var runLabel: String
        var referenceLabel: String?
        var summary: [Stat]
        var quantiles: [Stat]
        var topValues: [Stat]
        var histogramSVG: String?
        var driftSVG: String?
        var drift: [DriftRow]
    }

    static func statistics(_ statistics: CatalogFeatureStatistics, feature: CatalogFeature) -> Statistics? {
        guard let run = statistics.run else { return nil }
        var summary: [Stat] = []
        var quantiles: [Stat] = []
        var top: [Stat] = []
        if let s = statistics.latest {
            summary.append(Stat(name: "count", value: grouped(s.count)))
            summary.append(Stat(name: "nulls", value: grouped(s.nullCount)))
            if s.nanCount > 0 { summary.append(Stat(name: "NaN", value: grouped(s.nanCount))) }
            if let min = s.min { summary.append(Stat(name: "min", value: display(min))) }
            if let max = s.max { summary.append(Stat(name: "max", value: display(max))) }
            if let mean = s.mean { summary.append(Stat(name: "mean", value: display(mean))) }
            if let std = s.standardDeviation {
                summary.append(Stat(name: "standard deviation", value: display(std) + (feature.type == "timestamp" ? " s" : "")))
            }
            summary.append(Stat(name: "distinct", value: grouped(s.distinctCount)))
            if let t = s.trueCount, let f = s.falseCount {
                summary += [Stat(name: "true", value: grouped(t)), Stat(name: "false", value: grouped(f))]
            }
            quantiles = (s.quantiles ?? []).map { Stat(name: "p\(Int(($0.probability * 100).rounded()))", value: display($0.value)) }
            top = (s.topValues ?? []).map { Stat(name: $0.value, value: grouped($0.count)) }
        }
        let histogram = statistics.histogram.flatMap { bins -> String? in
            bins.isEmpty
                ? nil
                : SVGPlot.bars(
                    bins.map { SVGPlot.Bar(label: $0.label, value: Double($0.count)) },
                    title: "Histogram of \(feature.name) after run \(run.id)", xLabel: feature.name, yLabel: "count")
        }
        // Over the runs in order (one step each, labelled by run number): runs may be minutes
        // or days apart, and drift is a comparison of runs.
        let measured = statistics.drift.reversed().filter { $0.populationStabilityIndex?.isFinite ?? false }
        let points = measured.enumerated().map { index, drift in
            SVGPlot.Point(
                x: Double(index), y: drift.populationStabilityIndex!,
                label: "run \(drift.run), \(time(drift.finishedAt)): PSI \(psiText(drift.populationStabilityIndex!))")
        }
        let every = max(1, (measured.count + 7) / 8)
        let driftSVG =
            points.isEmpty
            ? nil
            : SVGPlot.line(
                points, title: "Drift of \(feature.name) against the reference run", xLabel: "run",
                yLabel: "PSI",
                xTicks: { _, _ in points.indices.filter { $0 % every == 0 || $0 == points.count - 1 }.map(Double.init) },
                xTick: { index in measured.indices.contains(Int(index)) ? "\(measured[Int(index)].run)" : "" },
                guides: [(0.1, "0.1 moderate"), (0.25, "0.25 large")])
        return Statistics(
            runLabel: "After run \(run.id), finished \(time(run.finishedAt))\(run.incremental ? " (incremental)" : "").",
            referenceLabel: statistics.reference.map {
                "run \($0.run) (\($0.pinned ? "pinned" : "the first run with statistics"), \(time($0.finishedAt)))"
            }, summary: summary, quantiles: quantiles, topValues: top, histogramSVG: histogram, driftSVG: driftSVG,
            drift: statistics.drift.map {
                DriftRow(run: $0.run, finishedAt: time($0.finishedAt), psi: $0.populationStabilityIndex.map(psiText) ?? "—")
            })
    }

    /// A statistic as text: instants as page times, doubles to 6 significant digits.
    static func display(_ value: ReportValue) -> String {
        if case .text(let text) = value, (try? Timestamp(rfc3339: text)) != nil { return time(text) }
        return value.description
    }

    static func psiText(_ psi: Double) -> String { String(format: "%.4f", psi) }

    /// `source` is the feature view's source, which column inputs link to.
    static func feature(_ detail: CatalogFeatureDetail, source: String?, layout: Layout) -> String {
        let feature = detail.feature
        let inputs = detail.inputs.map { input -> Input in
            if input.key.contains(":") {
                let parts = input.key.split(separator: ":", maxSplits: 1).map(String.init)
                return Input(
                    key: input.key, type: input.type, url: CatalogURL.feature(view: parts[0], name: parts[1]), role: "feature")
            }
            if detail.viewKind == DefinitionKind.onDemandView.rawValue {
                return Input(key: input.key, type: input.type, url: nil, role: "request field")
            }
            return Input(key: input.key, type: input.type, url: source.map(CatalogURL.source), role: "source column")
        }
        let transformation: String =
            switch detail.transformation {
            case "passthrough": "passed through from the source column"
            case "swift": "by a Swift closure, the same compiled code for training and serving"
            case "aggregation": "a windowed aggregation over the source’s events"
            default: detail.transformation
            }
        let noCode =
            switch detail.transformation {
            case "passthrough": "None: the value is the source column’s, unchanged."
            case "aggregation": "None: an aggregation is declared by its function, input and window (above)."
            default: "The source text of this transformation is not available in this build."
            }
        let page = FeaturePage(
            layout: layout, name: feature.name, reference: feature.reference, kindLabel: featureKindLabel(feature.kind),
            description: nonEmpty(feature.description), view: feature.view, viewURL: CatalogURL.view(feature.view),
            viewKind: kindLabel(detail.viewKind), version: detail.version, type: feature.type, owner: nonEmpty(feature.owner),
            tags: tags(feature.tags), transformation: transformation,
            aggregation: feature.aggregation.map {
                Aggregation(function: $0.function, input: $0.input.replacingOccurrences(of: ":", with: " "), window: $0.window, hop: $0.hop)
            },
            inputs: inputs, services: detail.services.map { Link(name: $0, url: CatalogURL.service($0)) },
            readBy: detail.readBy.map { reference in
                let parts = reference.split(separator: ":", maxSplits: 1).map(String.init)
                return Link(name: reference, url: CatalogURL.feature(view: parts[0], name: parts.count > 1 ? parts[1] : ""))
            },
            code: detail.code, codeHash: detail.codeHash, noCode: noCode, history: changes(detail.history),
            isViewFeature: feature.kind != .onDemand, statistics: detail.statistics.flatMap { statistics($0, feature: feature) },
            noStatistics: detail.version == nil
                ? "None: the registry holds another definition of this view than the running service’s."
                : "None yet: each materialization run of the view computes them (list-valued features have none).")
        return render("feature", page)
    }

    // MARK: View

    struct Materialization {
        var start: String
        var end: String
        var seqWatermark: Int64
        var newestEvent: String
        var updatedAt: String
        var online: String
    }

    struct EntityFact {
        var name: String
        var url: String
        var keys: String
    }

    struct Column {
        var name: String
        var type: String
        var nullable: Bool
        var role: String
    }

    struct ViewPage {
        var layout: Layout
        var name: String
        var kindLabel: String
        var isFeatureView: Bool
        var description: String?
        var alerts: [Alert]
        var entity: EntityFact?
        var source: Link?
        var ttl: String?
        var reads: [Link]
        var requestFields: [Column]
        var version: String
        var registration: String
        var owner: String?
        var tags: [TagLink]
        var services: [Link]
        var features: [FeatureRow]
        var lineageSVG: String
        var materialization: Materialization?
        var freshnessSVG: String?
        var runs: [Run]
        var history: [Change]
    }

    static func column(_ column: CatalogColumn) -> Column {
        Column(name: column.name, type: column.type, nullable: column.nullable, role: column.role ?? "")
    }

    static func view(_ detail: CatalogViewDetail, layout: Layout) -> String {
        let materialization = detail.materialization.map { m in
            Materialization(
                start: time(m.start), end: time(m.end), seqWatermark: m.seqWatermark,
                newestEvent: m.newestEvent.map { "\(time($0)) (\(m.newestEventAgeSeconds.map(duration) ?? "?") old)" } ?? "none",
                updatedAt: time(m.updatedAt), online: m.onlinePushedEnd.map { "pushed to Redis up to \(time($0))" } ?? "never pushed")
        }
        let page = ViewPage(
            layout: layout, name: detail.name, kindLabel: kindLabel(detail.kind),
            isFeatureView: detail.kind == DefinitionKind.featureView.rawValue, description: nonEmpty(detail.description),
            alerts: detail.alerts.map { Alert(view: $0.view, url: CatalogURL.view($0.view), status: $0.status, reason: $0.reason) },
            entity: detail.entity.map {
                EntityFact(
                    name: $0, url: CatalogURL.entity($0), keys: detail.joinKeys.map { "\($0.name) (\($0.type))" }.joined(separator: ", "))
            },
            source: detail.source.map { Link(name: $0, url: CatalogURL.source($0)) }, ttl: detail.ttl,
            reads: detail.reads.map { reference in
                let parts = reference.split(separator: ":", maxSplits: 1).map(String.init)
                return Link(name: reference, url: CatalogURL.feature(view: parts[0], name: parts.count > 1 ? parts[1] : ""))
            },
            requestFields: detail.requestFields.map(column), version: detail.version.map { "v\($0)" } ?? "none",
            registration: detail.registration, owner: nonEmpty(detail.owner), tags: tags(detail.tags),
            services: detail.services.map { Link(name: $0, url: CatalogURL.service($0)) },
            features: detail.features.map { featureRow($0) },
            lineageSVG: SVGPlot.lineage(detail.lineage, current: detail.name) { node in
                CatalogURL.page(kind: node.kind, name: node.name) ?? "/ui"
            },
            materialization: materialization, freshnessSVG: freshnessPlot(detail.runs), runs: detail.runs.map(run),
            history: changes(detail.history))
        return render("view", page)
    }

    /// The age of the newest event when each run finished, over the runs' finishing times;
    /// nil when no run knows its newest event.
    static func freshnessPlot(_ runs: [CatalogRun]) -> String? {
        let points = runs.reversed().compactMap { run -> SVGPlot.Point? in
            guard let age = run.newestEventAgeSeconds, let finished = try? Timestamp(rfc3339: run.finishedAt) else { return nil }
            return SVGPlot.Point(
                x: Double(finished.microseconds), y: age, label: "\(time(run.finishedAt)): newest event \(duration(age)) old")
        }
        guard !points.isEmpty else { return nil }
        // Runs minutes apart or more: month, day and minute; closer: to the second.
        let close = (points.map(\.x).max() ?? 0) - (points.map(\.x).min() ?? 0) < 600e6
        return SVGPlot.line(
            points, title: "Freshness after each materialization run", xLabel: "run finished (UTC)", yLabel: "newest event age",
            xTicks: SVGPlot.timeTicks, xTick: { SVGPlot.timeTick(microseconds: $0, seconds: close) }, yTicks: SVGPlot.durationTicks,
            yTick: { SVGPlot.durationTick(seconds: $0) })
    }

    // MARK: Service

    struct ServicePage {
        var layout: Layout
        var name: String
        var description: String?
        var version: String
        var owner: String?
        var tags: [TagLink]
        var views: [Link]
        var joinKeys: [Column]
        var requestFields: [Column]
        var features: [FeatureRow]
        var authorization: Bool
        var curl: String
        var history: [Change]
    }

    static func service(_ detail: CatalogServiceDetail, authorization: Bool, layout: Layout) -> String {
        render(
            "service",
            ServicePage(
                layout: layout, name: detail.name, description: nonEmpty(detail.description),
                version: detail.version.map { "v\($0)" } ?? "not current", owner: nonEmpty(detail.owner), tags: tags(detail.tags),
                views: detail.views.map { Link(name: $0, url: CatalogURL.view($0)) }, joinKeys: detail.joinKeys.map(column),
                requestFields: detail.requestFields.map(column),
                features: detail.features.enumerated().map { featureRow($1, position: $0 + 1) }, authorization: authorization,
                curl: detail.curl, history: changes(detail.history)))
    }

    // MARK: Source

    struct Ingest {
        var file: String
        var rows: String
        var finishedAt: String
        var seconds: String
        var sequences: String
    }

    struct SourcePage {
        var layout: Layout
        var name: String
        var description: String?
        var rowCount: String
        var table: String
        var version: String
        var owner: String?
        var tags: [TagLink]
        var views: [Link]
        var columns: [Column]
        var ingests: [Ingest]
        var history: [Change]
    }

    static func source(_ detail: CatalogSourceDetail, layout: Layout) -> String {
        render(
            "source",
            SourcePage(
                layout: layout, name: detail.name, description: nonEmpty(detail.description), rowCount: grouped(detail.rowCount),
                table: detail.table, version: detail.version.map { "v\($0)" } ?? "not current", owner: nonEmpty(detail.owner),
                tags: tags(detail.tags), views: detail.views.map { Link(name: $0, url: CatalogURL.view($0)) },
                columns: detail.columns.map(column),
                ingests: detail.ingests.map { ingest in
                    Ingest(
                        file: ingest.file, rows: grouped(ingest.rows), finishedAt: time(ingest.finishedAt),
                        seconds: String(format: "%.2f", ingest.seconds),
                        sequences: ingest.firstSeq.map { first in "\(first)–\(ingest.lastSeq ?? first)" } ?? "—")
                }, history: changes(detail.history)))
    }

    // MARK: Entity

    struct EntityPage {
        var layout: Layout
        var name: String
        var description: String?
        var version: String
        var owner: String?
        var tags: [TagLink]
        var joinKeys: [Column]
        var views: [Entry]
    }

    static func entity(_ detail: CatalogEntityDetail, layout: Layout) -> String {
        render(
            "entity",
            EntityPage(
                layout: layout, name: detail.name, description: nonEmpty(detail.description),
                version: detail.version.map { "v\($0)" } ?? "not current", owner: nonEmpty(detail.owner), tags: tags(detail.tags),
                joinKeys: detail.joinKeys.map(column), views: detail.views.map(entry)))
    }

    // MARK: Errors and login

    struct ErrorPage {
        var layout: Layout
        var status: String
        var heading: String
        var message: String
    }

    static func error(status: Int, message: String, layout: Layout) -> String {
        let heading =
            switch status {
            case 404: "Not found"
            case 400: "Bad request"
            case 401: "Not signed in"
            case 409: "Not ready"
            case 413: "Too large"
            case 503: "Unavailable"
            default: "Something went wrong"
            }
        return render("error", ErrorPage(layout: layout, status: "Error \(status)", heading: heading, message: message))
    }

    struct LoginPage {
        var layout: Layout
        var problem: String?
        var next: String
    }

    static func login(problem: String?, next: String, layout: Layout) -> String {
        render("login", LoginPage(layout: layout, problem: problem, next: next))
    }
}

/// The catalog's page addresses. Names are percent-encoded as path segments.
enum CatalogURL {
    static let segmentCharacters: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: segmentCharacters) ?? ""
    }

    static func view(_ name: String) -> String { "/ui/views/\(segment(name))" }
    static func feature(view: String, name: String) -> String { "/ui/features/\(segment(view))/\(segment(name))" }
    static func service(_ name: String) -> String { "/ui/services/\(segment(name))" }
    static func source(_ name: String) -> String { "/ui/sources/\(segment(name))" }
    static func entity(_ name: String) -> String { "/ui/entities/\(segment(name))" }

    /// The page of a definition of `kind` (a ``DefinitionKind`` raw value).
    static func page(kind: String, name: String) -> String? {
        switch DefinitionKind(rawValue: kind) {
        case .entity: entity(name)
        case .source: source(name)
        case .featureView, .onDemandView: view(name)
        case .featureService: service(name)
        case nil: nil
        }
    }

    /// The search page for these filters (empty ones left out).
    static func search(text: String = "", tags: [String] = [], owner: String = "", type: String = "") -> String {
        var pairs: [(String, String)] = []
        if !text.isEmpty { pairs.append(("q", text)) }
        pairs += tags.map { ("tag", $0) }
        if !owner.isEmpty { pairs.append(("owner", owner)) }
        if !type.isEmpty { pairs.append(("type", type)) }
        guard !pairs.isEmpty else { return "/ui/search" }
        return "/ui/search?" + pairs.map { "\($0)=\(segment($1))" }.joined(separator: "&")
    }
}

/// `application/x-www-form-urlencoded` text (a query string, a login form's body) as name and
/// value pairs, in order: `+` is a space, `%XX` a byte; pairs that do not decode are dropped.
enum FormFields {
    static func parse(_ text: String) -> [(name: String, value: String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? {
                part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { return nil }
            return (name, value)
        }
    }

    /// The values of `name`, in order.
    static func values(_ name: String, in fields: [(name: String, value: String)]) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    /// The first value of `name`, or an empty text.
    static func value(_ name: String, in fields: [(name: String, value: String)]) -> String {
        fields.first { $0.name == name }?.value ?? ""
    }
}
