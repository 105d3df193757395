import Features
import Foundation
import LarderCore
import LarderOffline
import Logging

/// Whether the definitions compiled into this binary are still the files of `features/`.
///
/// The build embeds the folder's path and its files' text (``FeatureSources``). A user who
/// edits `features/` and runs `larder` without rebuilding would otherwise get the old
/// definitions without a word: `apply` answering "No changes", a training set built with the
/// old code. So the commands that run the compiled definitions compare them with the folder
/// first, when it exists (a deployed binary or a container image has no sources: nothing to
/// compare). `apply` rebuilds when it can (``requireCurrent(allowRebuild:)``) and otherwise
/// refuses; the other commands warn and go on (``warning()``).
enum CompiledDefinitions {
    /// Points the comparison at another folder, for tests only: they check the detection on
    /// a copy of `features/` without touching the sources. It also turns the rebuild off
    /// (the folder is not the one this binary is built from).
    static let testFolderVariable = "LARDER_FEATURES_DIR_FOR_TESTS"
    /// Set by `apply` for the binary it has just rebuilt and runs, so that a rebuild that is
    /// still stale refuses instead of rebuilding again.
    static let rebuiltVariable = "LARDER_REBUILT"

    /// The definition files that changed since the build, and the folder they are in.
    struct Staleness {
        var folder: String
        var changes: [FeatureSources.Change]

        /// One line per file, indented.
        var list: String { changes.map { "  \($0)" }.joined(separator: "\n") }
    }

    /// What differs between the compiled definitions and their folder now; nil when nothing
    /// does or when the folder does not exist.
    static func staleness(
        of sources: FeatureSources = Features.featureSources, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Staleness? {
        let folder = environment[testFolderVariable] ?? sources.folder
        guard let current = swiftFiles(in: folder) else { return nil }
        let changes = sources.changes(comparedWith: current)
        return changes.isEmpty ? nil : Staleness(folder: folder, changes: changes)
    }

    /// The text of each Swift file under `folder`, by relative path, skipping hidden files
    /// and folders as SwiftPM does; nil when `folder` is not a directory.
    static func swiftFiles(in folder: String) -> [String: String]? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        let root = URL(fileURLWithPath: folder, isDirectory: true).standardizedFileURL
        guard
            let walk = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else { return nil }
        var files: [String: String] = [:]
        for case let url as URL in walk where url.pathExtension == "swift" {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(root.path + "/") else { continue }
            // Unreadable or invalid UTF-8: the text differs from any that was built.
            let text = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "\u{FFFD}"
            files[String(path.dropFirst(root.path.count + 1))] = text
        }
        return files
    }

    // MARK: - What the commands do

    /// For the commands other than `apply`: a warning naming the changed files and how to
    /// rebuild, or nil when the compiled definitions are current.
    static func warning() -> String? {
        guard let stale = staleness() else { return nil }
        return
            "features/ changed since this larder was built (\(stale.folder)); this command uses the definitions compiled in, not these files:\n\(stale.list)\nRebuild larder to use them: \(Rebuild.commandText)"
    }

    /// Prints ``warning()`` on standard error, if any.
    static func warnIfStale() {
        if let warning = warning() { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    }

    /// For `apply`: returns when the compiled definitions are current. Otherwise rebuilds
    /// `larder` and runs the rebuilt binary with the same arguments (this function then never
    /// returns) when `allowRebuild` and a toolchain and the package are at hand; else throws,
    /// naming the files and how to rebuild.
    static func requireCurrent(allowRebuild: Bool) throws {
        let environment = ProcessInfo.processInfo.environment
        guard let stale = staleness(environment: environment) else { return }
        let refusal =
            "features/ changed since this larder was built (\(stale.folder)); it would apply the definitions compiled in, not these files:\n\(stale.list)\nRebuild larder, then run the command again: \(Rebuild.commandText)"
        let why: String
        if !allowRebuild {
            why = "not rebuilt: --no-build"
        } else if environment[rebuiltVariable] != nil {
            why =
                "not rebuilt again: this larder was just rebuilt (\(rebuiltVariable) is set) and its definitions still differ from the files"
        } else if environment[testFolderVariable] != nil {
            why = "not rebuilt: \(testFolderVariable) points the comparison at another folder than the one larder is built from"
        } else {
            switch Rebuild.plan() {
            case .failure(let reason):
                why = "not rebuilt: \(reason)"
            case .success(let rebuild):
                try rebuild.run(stale)  // on success, this process becomes the rebuilt binary
            }
        }
        throw CommandError("\(refusal)\n(\(why))")
    }
}

/// What a command does when the definitions compiled in are stale (see ``CompiledDefinitions``).
enum StaleDefinitions {
    /// `apply`: rebuild and run the rebuilt binary if allowed and possible, else refuse.
    case rebuildOrRefuse(allowRebuild: Bool)
    /// Warn on standard error and go on.
    case warn
    /// `serve`: a warning in the service's log, then go on.
    case log(Logger)
}

extension ProjectOptions {
    /// ``openBackend(busyTimeoutCap:)`` for the commands that run the definitions compiled in:
    /// first compares them with `features/` and does what `stale` says when they differ.
    func openBackend(ifDefinitionsStale stale: StaleDefinitions, busyTimeoutCap: Duration? = nil) async throws -> (
        Configuration, any OfflineBackend
    ) {
        try Self.check(stale)
        return try await openBackend(busyTimeoutCap: busyTimeoutCap)
    }

    private static func check(_ stale: StaleDefinitions) throws {
        switch stale {
        case .rebuildOrRefuse(let allowRebuild): try CompiledDefinitions.requireCurrent(allowRebuild: allowRebuild)
        case .warn: CompiledDefinitions.warnIfStale()
        case .log(let logger): if let warning = CompiledDefinitions.warning() { logger.warning("\(warning)") }
        }
    }
}
