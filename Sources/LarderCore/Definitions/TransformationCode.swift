import Crypto
import Foundation
import Synchronization

/// Where a transformation closure is written: the call that declares it (`Feature(...)`,
/// `OnDemandFeature(...)`), captured by default arguments at the call site.
public struct CodeLocation: Sendable, Hashable {
    /// `#fileID`: `Module/File.swift`.
    public var fileID: String
    public var line: Int
    public var column: Int

    public init(fileID: String, line: Int, column: Int) {
        self.fileID = fileID
        self.line = line
        self.column = column
    }
}

/// The source text of definition files, so a transformation's fingerprint can include its
/// code: change a closure's body and `larder apply` sees "transformation code" changed and
/// makes a new version, without anyone bumping a number.
///
/// The `Features` target's build embeds its files' text (the `EmbedSources` build plugin
/// generates `featureSourceTexts`); `FeatureRepository(sources:)` registers them here. A
/// transformation's code is the text of its declaring call, closure included, with comments
/// and insignificant whitespace removed (``TransformationCode/normalized(_:)``), so
/// reformatting and comments do not count as changes.
///
/// What it does not see: code the closure calls (a helper function elsewhere). Keep
/// transformations self-contained, or change the feature's name when a helper changes.
public enum TransformationCode {
    /// Registered file texts, and the hashes computed from them: a spec is computed wherever
    /// a view's layout is needed (a push request, for one), and cutting and hashing the code
    /// each time would be wasted work.
    private static let registry = Mutex<(files: [String: String], hashes: [CodeLocation: String?])>(([:], [:]))

    /// Registers definition files' text by `#fileID`. Idempotent.
    public static func register(_ sources: [String: String]) {
        registry.withLock { state in
            let merged = state.files.merging(sources) { _, new in new }
            if merged != state.files { state = (merged, [:]) }
        }
    }

    /// The hash of the code declared at `location` (16 hex digits), or nil when its file was
    /// not registered (definitions built outside a `Features` target, as in some tests).
    public static func hash(at location: CodeLocation) -> String? {
        let (known, text) = registry.withLock { ($0.hashes[location], $0.files[location.fileID]) }
        if let known { return known }
        var hash: String? = nil
        if let text, let code = call(in: text, at: location) {
            hash = SHA256.hash(data: Data(withoutMetadataArguments(normalized(code)).utf8)).prefix(8)
                .map { String(format: "%02x", $0) }.joined()
        }
        registry.withLock { state in
            // Only if the files did not change meanwhile.
            if state.files[location.fileID] == text { state.hashes[location] = hash }
        }
        return hash
    }

    /// The text of the call declared at `location` as written in its file, its callee
    /// included (`Feature(...) { ... }`: a default argument's `#column` points at the argument
    /// list), comments and metadata arguments too, its lines shifted left by the indentation
    /// of its first line: what the catalog shows as a feature's Swift source. Nil when the
    /// file was not registered or the text there is not a call.
    public static func source(at location: CodeLocation) -> String? {
        guard let text = registry.withLock({ $0.files[location.fileID] }), let code = call(in: text, at: location) else { return nil }
        let bytes = Array(text.utf8)
        var lineStart = 0
        var line = 1
        while line < location.line, lineStart < bytes.count {
            if bytes[lineStart] == 0x0A { line += 1 }
            lineStart += 1
        }
        let callStart = min(bytes.count, lineStart + location.column - 1)
        var calleeStart = callStart
        func isCallee(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E
        }
        while calleeStart > lineStart, isCallee(bytes[calleeStart - 1]) { calleeStart -= 1 }
        let indentation = bytes[lineStart..<calleeStart].prefix { $0 == 0x20 || $0 == 0x09 }.count
        let whole = String(decoding: bytes[calleeStart..<callStart], as: UTF8.self) + code
        let lines = whole.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { i, line in
            // Only whitespace is removed: a line indented less than the call keeps its text.
            i == 0 ? Substring(line) : line.dropFirst(min(indentation, line.prefix { $0 == " " || $0 == "\t" }.count))
        }
        return lines.joined(separator: "\n")
    }

    /// The text of the call starting at `location` (1-based line and column): up to its
    /// closing parenthesis, and a trailing closure if one follows. Nil when the text there is
    /// not a call (the file changed since it was embedded).
    public static func call(in text: String, at location: CodeLocation) -> String? {
        let bytes = Array(text.utf8)
        var i = 0
        var line = 1
        while line < location.line, i < bytes.count {
            if bytes[i] == 0x0A { line += 1 }
            i += 1
        }
        i += location.column - 1
        guard line == location.line, i < bytes.count else { return nil }
        let start = i
        var scanner = Scanner(bytes: bytes, index: i)
        // The argument list, then an optional trailing closure.
        guard scanner.skip(to: 0x28), scanner.skipBalanced(open: 0x28, close: 0x29) else { return nil }
        let afterArguments = scanner.index
        scanner.skipTrivia()
        if scanner.peek == 0x7B {
            guard scanner.skipBalanced(open: 0x7B, close: 0x7D) else { return nil }
        } else {
            scanner.index = afterArguments
        }
        return String(decoding: bytes[start..<scanner.index], as: UTF8.self)
    }

    /// Code without comments, and with whitespace kept only where it separates two words
    /// (`let x`), so layout changes do not change the hash. String literals are kept as is.
    public static func normalized(_ code: String) -> String {
        let bytes = Array(code.utf8)
        var out: [UInt8] = []
        var scanner = Scanner(bytes: bytes, index: 0)
        var pendingSpace = false
        func isWord(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b >= 0x80
        }
        while let b = scanner.peek {
            if scanner.atComment || b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D {
                scanner.skipTrivia()
                pendingSpace = true
                continue
            }
            if pendingSpace, let last = out.last, isWord(last), isWord(b) { out.append(0x20) }
            pendingSpace = false
            if b == 0x22 || b == 0x23 {
                let from = scanner.index
                if scanner.skipStringLiteral() {
                    out += bytes[from..<scanner.index]
                    continue
                }
            }
            out.append(b)
            scanner.index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The labels of a feature's metadata arguments, which the code hash leaves out: editing
    /// a description is not a change of computation.
    static let metadataLabels = ["description:", "owner:", "tags:"]

    /// A normalized call (``normalized(_:)``) without its top-level `description:`, `owner:`
    /// and `tags:` arguments.
    public static func withoutMetadataArguments(_ call: String) -> String {
        let bytes = Array(call.utf8)
        var scanner = Scanner(bytes: bytes, index: 0)
        guard scanner.skip(to: 0x28) else { return call }
        // The argument list's top-level arguments, as byte ranges without their commas.
        var arguments: [Range<Int>] = []
        var start = scanner.index + 1
        var depth = 0
        var end = bytes.count
        scan: while let b = scanner.peek {
            if (b == 0x22 || b == 0x23) && scanner.skipStringLiteral() { continue }
            switch b {
            case 0x28, 0x5B, 0x7B: depth += 1
            case 0x29, 0x5D, 0x7D:
                depth -= 1
                if depth == 0 {
                    arguments.append(start..<scanner.index)
                    end = scanner.index
                    break scan
                }
            case 0x2C where depth == 1:
                arguments.append(start..<scanner.index)
                start = scanner.index + 1
            default: break
            }
            scanner.index += 1
        }
        let kept = arguments.filter { range in
            !metadataLabels.contains { bytes[range].starts(with: Array($0.utf8)) }
        }
        guard kept.count != arguments.count, let open = arguments.first?.lowerBound else { return call }
        var out = Array(bytes[..<open])
        for (i, range) in kept.enumerated() {
            if i > 0 { out.append(0x2C) }
            out += bytes[range]
        }
        out += bytes[end...]
        return String(decoding: out, as: UTF8.self)
    }

    /// A forward scanner over Swift source that steps over comments and string literals.
    private struct Scanner {
        let bytes: [UInt8]
        var index: Int

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
        func at(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
        var atComment: Bool { peek == 0x2F && (at(1) == 0x2F || at(1) == 0x2A) }

        /// Skips whitespace and comments (nested block comments included).
        mutating func skipTrivia() {
            while let b = peek {
                if b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D {
                    index += 1
                } else if b == 0x2F && at(1) == 0x2F {
                    while let c = peek, c != 0x0A { index += 1 }
                } else if b == 0x2F && at(1) == 0x2A {
                    var depth = 0
                    while index < bytes.count {
                        if peek == 0x2F && at(1) == 0x2A {
                            depth += 1
                            index += 2
                        } else if peek == 0x2A && at(1) == 0x2F {
                            depth -= 1
                            index += 2
                            if depth == 0 { break }
                        } else {
                            index += 1
                        }
                    }
                } else {
                    return
                }
            }
        }

        /// Steps over a string literal starting here (`"..."`, `"""..."""`, `#"..."#`).
        /// False when there is none here.
        mutating func skipStringLiteral() -> Bool {
            var hashes = 0
            var i = index
            while i < bytes.count && bytes[i] == 0x23 {
                hashes += 1
                i += 1
            }
            guard i < bytes.count, bytes[i] == 0x22 else { return false }
            let multiline = i + 2 < bytes.count && bytes[i + 1] == 0x22 && bytes[i + 2] == 0x22
            i += multiline ? 3 : 1
            let quotes = multiline ? 3 : 1
            while i < bytes.count {
                if bytes[i] == 0x5C && hashes == 0 {
                    i += 2  // an escape (interpolations hold no unbalanced quotes in practice)
                    continue
                }
                if bytes[i] == 0x22 {
                    var q = 0
                    while q < quotes && i + q < bytes.count && bytes[i + q] == 0x22 { q += 1 }
                    var h = 0
                    while h < hashes && i + q + h < bytes.count && bytes[i + q + h] == 0x23 { h += 1 }
                    if q == quotes && h == hashes {
                        index = i + q + h
                        return true
                    }
                }
                i += 1
            }
            index = bytes.count
            return true
        }

        /// Moves to the next `byte` outside comments and strings.
        mutating func skip(to byte: UInt8) -> Bool {
            while let b = peek {
                if b == byte { return true }
                if atComment {
                    skipTrivia()
                } else if (b == 0x22 || b == 0x23) && skipStringLiteral() {
                    continue
                } else {
                    index += 1
                }
            }
            return false
        }

        /// From an `open` byte, steps past its matching `close`, nesting and stepping over
        /// comments and strings.
        mutating func skipBalanced(open: UInt8, close: UInt8) -> Bool {
            var depth = 0
            while let b = peek {
                if atComment {
                    skipTrivia()
                    continue
                }
                if (b == 0x22 || b == 0x23) && skipStringLiteral() { continue }
                index += 1
                if b == open {
                    depth += 1
                } else if b == close {
                    depth -= 1
                    if depth == 0 { return true }
                }
            }
            return false
        }
    }
}
