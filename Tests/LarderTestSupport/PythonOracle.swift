import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Python virtualenv with the oracle packages (pyarrow, duckdb, pandas, polars), created on first use.
///
/// The oracles are other implementations of what Larder reads: files they write are ingested
/// and compared with the CSV ingest of the same data. The virtualenv is
/// `<package root>/.build/oracle-venv` (git-ignored; `LARDER_ORACLE_VENV` names another one),
/// made with `python3 -m venv` and filled from PyPI by pip the first time, reused afterwards.
/// Nothing is skipped: a missing `python3`, a Python without `venv` (Debian's `python3-venv`)
/// or a PyPI out of reach throws ``Failure`` saying what failed and how to fix it.
public enum PythonOracle {
    /// The packages the oracle scripts import (their import names are their PyPI names).
    public static let packages = ["pyarrow", "duckdb", "pandas", "polars"]

    /// A step that failed: what was run, its exit status and its standard error.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed, and what to do about it.
        public let message: String
        /// The exit status of the process that failed, when one ran.
        public let exitStatus: Int32?
        /// Its standard error.
        public let standardError: String

        public var description: String {
            var text = message
            if let exitStatus { text += " (exit status \(exitStatus))" }
            let errors = standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            if !errors.isEmpty { text += "\n--- its standard error ---\n" + errors }
            return text
        }
    }

    /// The path of the virtualenv's python executable; creates the venv and installs the packages the first time (once per process, concurrent callers wait for the same creation; across processes serialized by a lock file).
    public static func python() async throws -> String {
        try await creation.value
    }

    /// Runs `script` (a file path) with `arguments` under the venv's python; returns its stdout. Throws an error carrying the exit status and stderr when it exits non-zero.
    public static func run(_ script: String, _ arguments: [String]) async throws -> String {
        let python = try await python()
        return try await onDedicatedThread {
            let result = try Subprocess.run(python, [script] + arguments)
            guard result.status == 0 else {
                throw Failure(
                    message: "\(([python, script] + arguments).joined(separator: " ")) failed", exitStatus: result.status,
                    standardError: result.standardError)
            }
            return result.standardOutput
        }
    }

    /// The virtualenv's directory: `LARDER_ORACLE_VENV`, or `.build/oracle-venv` in the package.
    public static var directory: String {
        if let path = ProcessInfo.processInfo.environment["LARDER_ORACLE_VENV"], !path.isEmpty {
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
        // #filePath is <package root>/Tests/LarderTestSupport/PythonOracle.swift.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/oracle-venv").path
    }

    /// The one creation of this process, started by the first caller; every other one waits for
    /// it (and gets its error, if it failed). Off Swift's cooperative pool: pip takes minutes.
    private static let creation = Task<String, any Error> {
        try await onDedicatedThread { try prepare(directory) }
    }

    /// Makes the virtualenv at `venv` usable, under an exclusive lock on `venv.lock` so that
    /// test processes running at once do not build it twice; returns its python.
    static func prepare(_ venv: String) throws -> String {
        let started = Date()
        let parent = (venv as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw Failure(message: "cannot create \(parent) for the oracle virtualenv: \(error)", exitStatus: nil, standardError: "")
        }
        let lock = try FileLock(venv + ".lock")
        defer { lock.release() }

        let python = venv + "/bin/python"
        var created = false
        var probe = try Self.probe(python)
        if probe == nil {
            // No virtualenv, or one whose python no longer runs (its base Python was removed):
            // made anew. A directory that is not a virtualenv is left alone.
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: venv)) ?? []
            guard contents.isEmpty || contents.contains("pyvenv.cfg") else {
                throw Failure(
                    message: "\(venv) exists and is not a virtualenv (no pyvenv.cfg): remove it, or point LARDER_ORACLE_VENV elsewhere",
                    exitStatus: nil, standardError: "")
            }
            try? FileManager.default.removeItem(atPath: venv)
            try createVirtualenv(venv)
            created = true
            probe = try Self.probe(python)
            guard probe != nil else {
                throw Failure(message: "\(python) does not run after `python3 -m venv \(venv)`", exitStatus: nil, standardError: "")
            }
        }
        if let missing = probe?.missing, !missing.isEmpty {
            let pip = try Subprocess.run(
                python, ["-m", "pip", "install", "-q", "--disable-pip-version-check"] + missing,
                environment: ["PIP_DISABLE_PIP_VERSION_CHECK": "1"])
            guard pip.status == 0 else {
                throw Failure(
                    message: """
                        pip could not install \(missing.joined(separator: " ")) into \(venv): the oracle tests need PyPI \
                        once, to fill this virtualenv (then it is reused). Check the network or pip's proxy settings, or \
                        set LARDER_ORACLE_VENV to a virtualenv that has \(packages.joined(separator: ", "))
                        """, exitStatus: pip.status, standardError: pip.standardError)
            }
            created = true
            probe = try Self.probe(python)
        }
        guard let probe, probe.missing.isEmpty else {
            let still = probe?.missing ?? packages
            throw Failure(
                message: "\(venv) still cannot import \(still.joined(separator: ", ")) after pip installed them", exitStatus: nil,
                standardError: try importErrors(python, still))
        }
        let took = created ? String(format: " (made in %.1f s)", Date().timeIntervalSince(started)) : ""
        FileHandle.standardError.write(Data("PythonOracle: \(venv)\(took): \(probe.versions)\n".utf8))
        return python
    }

    /// Which oracle packages `python` cannot import, and the versions of those it can; nil when
    /// there is no python there that runs.
    private static func probe(_ python: String) throws -> (missing: [String], versions: String)? {
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let probe = """
            import importlib, sys
            missing, versions = [], []
            for name in sys.argv[1:]:
                try:
                    versions.append(f"{name} {importlib.import_module(name).__version__}")
                except Exception:
                    missing.append(name)
            print(" ".join(missing))
            print(", ".join(versions))
            """
        let result = try Subprocess.run(python, ["-c", probe] + packages)
        guard result.status == 0 else { return nil }
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 2 else { return nil }
        return (lines[0].split(separator: " ").map(String.init), String(lines[1]))
    }

    /// What importing each of `names` says, for an error.
    private static func importErrors(_ python: String, _ names: [String]) throws -> String {
        try names.map { name in try Subprocess.run(python, ["-c", "import \(name)"]).standardError }.joined(separator: "\n")
    }

    /// `python3 -m venv venv`, with the fixes for each way it fails.
    private static func createVirtualenv(_ venv: String) throws {
        guard let python3 = Subprocess.find("python3") else {
            throw Failure(
                message: """
                    python3 is not on PATH: the oracle tests need it to make their virtualenv. On Debian or Ubuntu: \
                    apt-get install python3 python3-venv python3-pip
                    """, exitStatus: nil, standardError: "")
        }
        let result = try Subprocess.run(python3, ["-m", "venv", venv])
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: venv)  // half made: made anew next time
            let noVenv = result.standardError.contains("ensurepip") || result.standardError.contains("No module named venv")
            throw Failure(
                message: "`\(python3) -m venv \(venv)` failed"
                    + (noVenv
                        ? ": this Python has no venv module or no ensurepip. On Debian or Ubuntu: apt-get install python3-venv python3-pip"
                        : ""),
                exitStatus: result.status, standardError: result.standardError)
        }
    }
}

/// An exclusive `flock` on a file, held until ``release()``; waits for another process's.
private final class FileLock {
    private let descriptor: Int32

    init(_ path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PythonOracle.Failure(
                message: "cannot open the lock file \(path): \(String(cString: strerror(errno)))", exitStatus: nil, standardError: "")
        }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw PythonOracle.Failure(message: "cannot lock \(path): \(reason)", exitStatus: nil, standardError: "")
            }
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// A command run to its end, its output gathered (blocking: call it off the cooperative pool).
enum Subprocess {
    struct Result {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    /// Runs `executable` with `arguments` and the test process's environment less
    /// PYTHONPATH and PYTHONHOME (which would reach past the virtualenv), plus `environment`.
    /// Output goes to files, not pipes: nothing to drain while it runs, however much it says.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("larder-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = nil
        env["PYTHONHOME"] = nil
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do {
            try process.run()
        } catch {
            try? out.close()
            try? err.close()
            throw PythonOracle.Failure(message: "cannot run \(executable): \(error)", exitStatus: nil, standardError: "")
        }
        process.waitUntilExit()
        try? out.close()
        try? err.close()
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return Result(
            status: status, standardOutput: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
            standardError: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    }

    /// The first executable `name` on PATH.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
