import ArgumentParser
import Features
import Foundation
import LarderCore
import LarderOffline
import LarderParquet

struct TrainingSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "training-set",
        abstract: "Build a point-in-time correct training set.",
        discussion: """
            For each request row (entity keys and an instant), each feature's value as it was \
            knowable at that instant: the latest row at or before it, null when none or older \
            than the view's ttl. One output row per request row, in order, duplicates kept, \
            every request column carried through. A manifest is written beside the output \
            (OUT.manifest.json). Nothing is left at --out if it fails.

            Parquet output (--out FILE.parquet) is typed: features, join keys and the instant \
            with their types, last(n) as lists; request columns keep the types of a Parquet \
            request file, take them from the values in a JSON Lines one, and are strings from \
            a CSV one (which has no types). Row groups of 65,536 rows, zstd unless \
            --compression says otherwise.

            With --from-log, the rows are what the service actually served (its serving log, \
            see serve.log in larder.yaml): one row per logged entity row served in \
            [--since, --until), with the keys, the served instant, the request fields and the \
            served values (statuses and event times stay in the log).
            """
    )

    @OptionGroup var project: ProjectOptions

    @Option(help: "Request file (CSV, JSON Lines or Parquet): entity keys, an event_timestamp column, labels.")
    var entities: String?

    @Option(help: "Instead of a request file: every entity known to the views at this instant (RFC 3339).", transform: parseTimestamp)
    var at: Timestamp?

    @Option(help: "A feature service.")
    var service: String?

    @Option(help: "Comma-separated view:feature references (or view for all its features).")
    var features: String?

    @Option(help: "Output file (.csv, .jsonl or .parquet).")
    var out: String

    @Option(help: "Output format: csv, jsonl or parquet (default: from --out's extension).")
    var format: InputFormat?

    @Option(help: "Parquet output's compression: none, snappy, gzip or zstd (default: zstd).")
    var compression: PageCompression?

    @Option(name: .customLong("entities-format"), help: "Request file format: csv, jsonl or parquet (default: from its extension).")
    var entitiesFormat: InputFormat?

    @Option(help: "The request column holding each row's instant.")
    var timestampColumn = "event_timestamp"

    @Flag(help: "Name feature columns view__feature.")
    var fullNames = false

    @Flag(name: .customLong("from-log"), help: "Instead of --entities or --at: the rows the service logged as it served them.")
    var fromLog = false

    @Option(help: "With --from-log: rows served at or after this instant (RFC 3339).", transform: parseTimestamp)
    var since: Timestamp?

    @Option(help: "With --from-log: rows served before this instant (RFC 3339).", transform: parseTimestamp)
    var until: Timestamp?

    func validate() throws {
        if fromLog {
            guard entities == nil, at == nil else {
                throw ValidationError("--from-log takes its rows from the serving log: give it without --entities or --at")
            }
            guard service == nil || features == nil else {
                throw ValidationError(
                    "give --service NAME or --features view:feature,... (or neither, for the features of the first logged row), not both")
            }
            if let since, let until, until <= since { throw ValidationError("--until (\(until)) must be after --since (\(since))") }
            return
        }
        guard since == nil, until == nil else {
            throw ValidationError("--since and --until select rows of the serving log: use them with --from-log")
        }
        guard (entities == nil) != (at == nil) else {
            throw ValidationError("give either --entities FILE or --at T")
        }
        guard (service == nil) != (features == nil) else {
            throw ValidationError("give either --service NAME or --features view:feature,...")
        }
    }

    func run() async throws {
        let (_, store) = try await project.openBackend(ifDefinitionsStale: .warn)
        defer { store.close() }
        if fromLog { return try await buildFromLog(store) }
        let resolved: [ResolvedFeature]
        do {
            if let service {
                resolved = try Features.repository.resolve(serviceNamed: service)
            } else {
                resolved = try Features.repository.resolve(
                    references: features!.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            }
        } catch {
            throw ValidationError(error.description)
        }
        let rows: TrainingSetRequest.Rows =
            if let entities {
                .file(path: entities, format: entitiesFormat, timestampColumn: timestampColumn)
            } else {
                .snapshot(at: at!)
            }
        let request = TrainingSetRequest(
            features: resolved, rows: rows, output: out, outputFormat: format, compression: compression, fullNames: fullNames,
            commandLine: CommandLine.arguments)
        let bar = ProgressBar(label: "training set")
        let summary = try await store.buildTrainingSet(request, repository: Features.repository) { progress in
            guard progress.totalBytes > 16 << 20 else { return }
            bar.update(fraction: Double(progress.bytesRead) / Double(progress.totalBytes), detail: "\(grouped(progress.rows)) rows")
        }
        bar.finish()
        print(
            "wrote \(grouped(summary.rows)) rows to \(summary.output) in \(String(format: "%.2f", summary.seconds)) s; manifest \(summary.manifest)"
        )
    }

    /// `--from-log`: the served rows, with the features of `--service`/`--features` (their
    /// `view:feature` references) or, without them, those of the first logged row.
    private func buildFromLog(_ store: any OfflineBackend) async throws {
        var references: [String]? = nil
        do {
            if let service {
                references = try Features.repository.resolve(serviceNamed: service).map(\.reference)
            } else if let features {
                references = try Features.repository.resolve(
                    references: features.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                ).map(\.reference)
            }
        } catch {
            throw ValidationError(error.description)
        }
        // Every feature's type, for typed Parquet columns (a logged feature since removed is
        // typed by its values).
        let featureTypes = Dictionary(
            Features.repository.allFeatures.map { ($0.reference, $0.type) }, uniquingKeysWith: { first, _ in first })
        let summary = try await store.buildTrainingSetFromServingLog(
            ServingLogTrainingSetRequest(
                since: since, until: until, features: references, output: out, outputFormat: format, compression: compression,
                featureTypes: featureTypes, fullNames: fullNames, commandLine: CommandLine.arguments))
        print(
            "wrote \(grouped(summary.rows)) rows from the serving log to \(summary.output) in \(String(format: "%.2f", summary.seconds)) s; manifest \(summary.manifest)"
        )
    }
}

/// `--compression none|snappy|gzip|zstd`.
extension PageCompression: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument == "none" ? "uncompressed" : argument)
    }

    public static var allValueStrings: [String] { ["none", "snappy", "gzip", "zstd"] }
    public var defaultValueDescription: String { self == .uncompressed ? "none" : rawValue }
}
