import Foundation
import LarderCore
import LarderEngine

/// How `larder verify` shows a ``VerificationReport``: a table and a verdict, or JSON, notes
/// on standard error, and the exit status (an error when any value was mismatched or null on
/// one side only, so that the command can gate a deployment).
enum VerifyReport {
    /// A sampled run: the header names `subject`, the instant, the rows sampled and `seed`.
    static func renderSampled(_ report: VerificationReport, subject: String, seed: UInt64, json: Bool) throws {
        let instant = report.instant!
        let header = "\(subject) at \(instant): \(plural(report.sampled, "entity row")) sampled (seed \(seed))"
        if report.newer > 0 {
            // The online store keeps only the latest row per entity: at an earlier instant it
            // holds values the offline side rightly does not know yet.
            note(
                "\(plural(report.newer, "online value")) have an event time after \(instant): the online store keeps only each entity's latest row, so verify at an instant at or after the latest event (omit --at)"
            )
        }
        try Self.report(report.comparisons, features: report.features, header: header, instant: instant, json: json)
    }

    /// A `--from-log` run over `[since, until)`.
    static func renderLog(_ report: VerificationReport, since: Timestamp?, until: Timestamp?, json: Bool) throws {
        if !report.gone.isEmpty {
            note("logged features not in features/ any more, not compared: \(report.gone.joined(separator: ", "))")
        }
        let skippedTotal = report.skipped.values.reduce(0, +)
        for (reason, count) in report.skipped.sorted(by: { $0.key < $1.key }) {
            note("\(plural(count, "logged row")) skipped: \(reason)")
        }
        let range = "[\(since?.description ?? "start"), \(until?.description ?? "end"))"
        guard report.entries > 0 else {
            throw CommandError(
                "no serving log entry to compare in the range \(range); the service logs rows when serve.log.sample_rate in larder.yaml is above 0"
            )
        }
        guard report.comparisons.contains(where: { $0.compared > 0 }) else {
            throw CommandError(
                "no serving log entry to compare: all \(plural(report.entries, "logged row")) were skipped (see the notes)")
        }
        let header =
            "serving log \(range): \(plural(report.entries - skippedTotal, "logged row")) compared, \(grouped(skippedTotal)) skipped"
        try Self.report(report.comparisons, features: report.features, header: header, instant: nil, json: json)
    }

    /// A note on standard error, apart from the report.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data("note: \(text)\n".utf8))
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
            note("\(c.feature) is null on both sides in every row compared")
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
