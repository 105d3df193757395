/// The definition files a binary was built from: the `Features` target's folder, as the
/// build found it, and the text of each of its Swift files.
///
/// The `EmbedSources` build plugin generates one (`featureSources`) in the `Features`
/// target. Fingerprints read the texts (``TransformationCode``); the CLI compares them with
/// the folder as it is now (``changes(comparedWith:)``), so that definitions edited since the
/// build are never taken for the ones compiled in.
public struct FeatureSources: Sendable {
    /// The target's module name (`Features`).
    public let module: String
    /// The absolute path of the target's folder when the binary was built.
    public let folder: String
    /// The text of each `.swift` file, by its path relative to ``folder`` (`Trips.swift`,
    /// `sub/Extra.swift`).
    public let files: [String: String]

    public init(module: String, folder: String, files: [String: String]) {
        self.module = module
        self.folder = folder
        self.files = files
    }

    /// The texts by `#fileID` (`Features/Trips.swift`: the module and the file's name, without
    /// its folders), as ``TransformationCode`` finds them from a call site.
    public var textsByFileID: [String: String] {
        Dictionary(files.map { ("\(module)/\($0.key.split(separator: "/").last ?? ""[...])", $0.value) }) { first, _ in first }
    }

    /// A definition file that differs between the build and the folder now.
    public struct Change: Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable {
            /// In the folder, not in the build.
            case added
            /// In the build, no longer in the folder.
            case removed
            /// In both, with different text.
            case changed
        }

        public let kind: Kind
        /// The path relative to the folder.
        public let path: String

        public init(_ kind: Kind, _ path: String) {
            self.kind = kind
            self.path = path
        }

        /// `changed: Trips.swift`.
        public var description: String { "\(kind.rawValue): \(path)" }
    }

    /// The files that differ between the build and `current` (the folder's Swift files now,
    /// by relative path), sorted by path. Empty when the build is up to date.
    public func changes(comparedWith current: [String: String]) -> [Change] {
        var changes: [Change] = []
        for (path, text) in current {
            guard let built = files[path] else {
                changes.append(Change(.added, path))
                continue
            }
            if built != text { changes.append(Change(.changed, path)) }
        }
        for path in files.keys where current[path] == nil { changes.append(Change(.removed, path)) }
        return changes.sorted { $0.path < $1.path }
    }
}
