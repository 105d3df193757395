import Features
import Foundation
import LarderCore
import LarderOffline
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
    /// ``openStore()`` for the commands that run the definitions compiled in: first compares
    /// them with `features/` and does what `stale` says when they differ.
    func openStore(ifDefinitionsStale stale: StaleDefinitions, busyTimeoutCap: Duration? = nil) throws -> (Configuration, OfflineStore) {
        switch stale {
        case .rebuildOrRefuse(let allowRebuild): try CompiledDefinitions.requireCurrent(allowRebuild: allowRebuild)
        case .warn: CompiledDefinitions.warnIfStale()
        case .log(let logger): if let warning = CompiledDefinitions.warning() { logger.warning("\(warning)") }
        }
        return try openStore(busyTimeoutCap: busyTimeoutCap)
    }
}

/// How to rebuild this `larder`: the same configuration and build folder it came from,
/// derived from the executable's path (`PACKAGE/.build/debug/larder`, or
/// `SCRATCH/x86_64-unknown-linux-gnu/release/larder`), the package found above the folder
/// of the compiled definitions.
struct Rebuild {
    var swift: String
    var package: String
    var configuration: String
    var scratchPath: String
    var executable: String

    var arguments: [String] {
        ["build", "--package-path", package, "-c", configuration, "--scratch-path", scratchPath, "--product", "larder"]
    }

    /// The command to run, for messages: exact when the build folder is known, else the
    /// plain `swift build` in the package.
    static var commandText: String {
        if case .success(let rebuild) = plan(requireToolchain: false) {
            return "swift " + rebuild.arguments.map(shellQuoted).joined(separator: " ")
        }
        guard let package = packageDirectory() else { return "swift build (in the package that holds features/)" }
        return "swift build --package-path \(shellQuoted(package))"
    }

    /// The rebuild, or why there is none: no package, a binary that is not in a SwiftPM
    /// build folder, no `swift` on PATH.
    static func plan(requireToolchain: Bool = true) -> Result<Rebuild, RebuildUnavailable> {
        guard let package = packageDirectory() else {
            return .failure(RebuildUnavailable("no Package.swift above \(Features.featureSources.folder)"))
        }
        guard let executable = executablePath() else {
            return .failure(RebuildUnavailable("the path of this executable is unknown"))
        }
        let configurationFolder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        let configuration = configurationFolder.lastPathComponent
        // SCRATCH/debug/larder or SCRATCH/TRIPLE/debug/larder; SCRATCH holds the build's state.
        let candidates = [
            configurationFolder.deletingLastPathComponent(), configurationFolder.deletingLastPathComponent().deletingLastPathComponent(),
        ]
        guard ["debug", "release"].contains(configuration),
            let scratch = candidates.first(where: { candidate in
                ["workspace-state.json", "\(configuration).yaml"].contains {
                    FileManager.default.fileExists(atPath: candidate.appendingPathComponent($0).path)
                }
            })
        else {
            return .failure(RebuildUnavailable("\(executable) is not in a SwiftPM build folder (.build/debug or .build/release)"))
        }
        let swift =
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/swift" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let swift = swift ?? (requireToolchain ? nil : "swift") else {
            return .failure(RebuildUnavailable("no Swift toolchain (`swift` on PATH)"))
        }
        return .success(
            Rebuild(swift: swift, package: package, configuration: configuration, scratchPath: scratch.path, executable: executable))
    }

    /// Builds, then replaces this process with the rebuilt binary, same arguments, with
    /// ``CompiledDefinitions/rebuiltVariable`` set. What it does goes to standard error
    /// (the build's output too), so standard output stays the command's own.
    func run(_ stale: CompiledDefinitions.Staleness) throws -> Never {
        let command = "swift " + arguments.map(shellQuoted).joined(separator: " ")
        say("features/ changed since this larder was built (\(stale.folder)):\n\(stale.list)")
        say("rebuilding: \(command)")
        let build = Process()
        build.executableURL = URL(fileURLWithPath: swift)
        build.arguments = arguments
        build.currentDirectoryURL = URL(fileURLWithPath: package)
        build.standardOutput = FileHandle.standardError
        build.standardError = FileHandle.standardError
        do {
            try build.run()
        } catch {
            throw CommandError("cannot run \(swift): \(error); rebuild by hand: \(command)")
        }
        build.waitUntilExit()
        guard build.terminationReason == .exit, build.terminationStatus == 0 else {
            throw CommandError(
                "rebuilding larder failed (\(build.terminationReason == .exit ? "exit status" : "signal") \(build.terminationStatus)); fix what the compiler said above and run the command again"
            )
        }
        let arguments = [executable] + CommandLine.arguments.dropFirst()
        say("running the rebuilt larder: " + arguments.map(shellQuoted).joined(separator: " "))
        setenv(CompiledDefinitions.rebuiltVariable, "1", 1)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv(executable, argv)
        throw CommandError("cannot run the rebuilt \(executable): \(String(cString: strerror(errno)))")
    }

    private func say(_ text: String) {
        FileHandle.standardError.write(Data("larder: \(text)\n".utf8))
    }

    /// The folder holding `Package.swift`, at or above the compiled definitions' folder.
    static func packageDirectory() -> String? {
        var folder = URL(fileURLWithPath: Features.featureSources.folder, isDirectory: true)
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder.path }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }

    /// This executable, symbolic links resolved (`.build/debug` is one).
    static func executablePath() -> String? {
        Bundle.main.executableURL?.resolvingSymlinksInPath().path
    }
}

/// Why `larder apply` cannot rebuild itself.
struct RebuildUnavailable: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `text` as one shell word: as is when it is plain, else in single quotes.
func shellQuoted(_ text: String) -> String {
    let plain = text.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:@,+".contains($0) }
    return plain && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
