import ArgumentParser
import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline

struct Verify: AsyncParsableCommand {
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

    func run() async throws {
        let (configuration, store) = try await project.openBackend(ifDefinitionsStale: .warn)
        defer { store.close() }
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
        let deployment = try await Deployment.load(repository: Features.repository, offline: store, project: configuration.project)
        if fromLog {
            let report = try await VerificationRun.fromLog(deployment, offline: store, features: requested, since: since, until: until)
            try VerifyReport.renderLog(report, since: since, until: until, json: json)
            return
        }
        let seed = seed ?? 0
        let report = try await VerificationRun.sampled(
            deployment, offline: store, online: try configuration.onlineStore(poolSize: 1), requested: requested,
            sample: sample ?? Self.defaultSample, seed: seed, at: at)
        let subject =
            service.map { "service \($0)" }
            ?? (requested == nil
                ? "every feature (\(plural(report.features.count, "feature")))" : plural(report.features.count, "feature"))
        try VerifyReport.renderSampled(report, subject: subject, seed: seed, json: json)
    }
}
