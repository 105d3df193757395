import Features
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
