import Crypto
import Foundation
import LarderCore

/// What a token may do: read a feature service's or a view's features, push to a source,
/// browse the catalog, scrape the metrics, or everything.
///
/// Written as in `serve.tokens[].allow`: `read:NAME`, `push:NAME`, `catalog`, `metrics`, `*`.
/// A name may end in `*`, a prefix wildcard (`read:driver_*`).
public enum Permission: Sendable, Hashable, CustomStringConvertible {
    /// Lookups of a feature service's features (`/v1/features`, `/get-online-features`), or of a
    /// view's (feature view or on-demand view) named in a feature list.
    case read(NamePattern)
    /// `/v1/push` to a source.
    case push(NamePattern)
    /// The catalog's pages and `/v1/catalog`.
    case catalog
    /// `/metrics`, when `serve.protect_metrics` is on.
    case metrics
    /// Everything.
    case all

    /// Parses one `allow` entry; nil when it is none of the forms.
    public init?(_ text: String) {
        switch text {
        case "*": self = .all
        case "catalog": self = .catalog
        case "metrics": self = .metrics
        default:
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, let pattern = NamePattern(parts[1]) else { return nil }
            switch parts[0] {
            case "read": self = .read(pattern)
            case "push": self = .push(pattern)
            default: return nil
            }
        }
    }

    public var description: String {
        switch self {
        case .read(let pattern): "read:\(pattern)"
        case .push(let pattern): "push:\(pattern)"
        case .catalog: "catalog"
        case .metrics: "metrics"
        case .all: "*"
        }
    }

    /// Whether holding this permission grants `needed` (a permission on one name).
    public func grants(_ needed: Permission) -> Bool {
        switch (self, needed) {
        case (.all, _): true
        case (.read(let pattern), .read(.exact(let name))): pattern.matches(name)
        case (.push(let pattern), .push(.exact(let name))): pattern.matches(name)
        case (.catalog, .catalog), (.metrics, .metrics): true
        default: false
        }
    }
}

/// A definition's name in a permission: exact, or a prefix followed by `*`.
public enum NamePattern: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    /// Every name that starts with the prefix (`*` alone: every name).
    case prefix(String)

    /// Nil for an empty name or a `*` anywhere but at the end.
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        if text.hasSuffix("*") {
            let prefix = String(text.dropLast())
            guard !prefix.contains("*") else { return nil }
            self = .prefix(prefix)
        } else {
            guard !text.contains("*") else { return nil }
            self = .exact(text)
        }
    }

    public func matches(_ name: String) -> Bool {
        switch self {
        case .exact(let exact): name == exact
        case .prefix(let prefix): name.hasPrefix(prefix)
        }
    }

    public var description: String {
        switch self {
        case .exact(let name): name
        case .prefix(let prefix): prefix + "*"
        }
    }
}

/// One token the service accepts: its name (for logs and metrics), the SHA-256 of its secret
/// (the secret itself is never kept), and what it may do.
public struct APIToken: Sendable, Equatable {
    public let name: String
    /// The SHA-256 digest of the secret, 32 bytes.
    public let sha256: [UInt8]
    public let allow: [Permission]

    /// - Parameter sha256: 32 bytes.
    public init(name: String, sha256: [UInt8], allow: [Permission]) {
        precondition(sha256.count == 32, "a SHA-256 digest has 32 bytes")
        self.name = name
        self.sha256 = sha256
        self.allow = allow
    }

    /// A token whose secret is given in plain text (`serve.api_token`, `LARDER_API_TOKEN`): it
    /// may do everything, as that one token always could.
    public init(name: String, plainSecret: String) {
        self.init(name: name, sha256: Self.digest(of: plainSecret), allow: [.all])
    }

    /// Whether the token holds a permission that grants `needed`.
    public func allows(_ needed: Permission) -> Bool { allow.contains { $0.grants(needed) } }

    /// The SHA-256 digest of a secret's UTF-8 bytes.
    public static func digest(of secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    /// 64 hexadecimal digits as 32 bytes; nil for anything else.
    public static func digest(hex: String) -> [UInt8]? {
        let digits = Array(hex.lowercased().utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let high = Self.nibble(digits[i]), let low = Self.nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// The lowercase hexadecimal text of bytes.
    public static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}

/// Who may call what: the service's tokens. Without any, the service is open.
public struct AccessPolicy: Sendable, Equatable {
    public let tokens: [APIToken]
    /// Whether `/metrics` needs the `metrics` permission (`serve.protect_metrics`).
    public let protectsMetrics: Bool

    public init(tokens: [APIToken], protectsMetrics: Bool = false) {
        self.tokens = tokens
        self.protectsMetrics = protectsMetrics
    }

    /// No token: every route is open.
    public static let open = AccessPolicy(tokens: [])

    public var isOpen: Bool { tokens.isEmpty }

    /// The token whose secret is `secret`, or nil. The digest is compared with every token's
    /// in constant time, and every token is compared, so the time taken tells nothing about
    /// which bytes matched or which token it was.
    public func token(presenting secret: String) -> APIToken? {
        let digest = APIToken.digest(of: secret)
        var found: APIToken? = nil
        for token in tokens {
            var difference: UInt8 = 0
            for (a, b) in zip(digest, token.sha256) { difference |= a ^ b }
            if difference == 0 && found == nil { found = token }
        }
        return found
    }

    /// What the start-up and reload logs say about the policy: token names and permissions,
    /// never digests.
    public var summary: String {
        guard !isOpen else { return "no token configured: every route is open to whoever can reach the service" }
        let names = tokens.map { "\($0.name) (\($0.allow.map(\.description).joined(separator: ", ")))" }
        return "\(tokens.count) token(s): \(names.joined(separator: "; "))"
            + (protectsMetrics ? "; /metrics needs the metrics permission" : "")
    }

    /// The permission that a lookup of `features` needs: `read` on each view the features
    /// belong to (a feature view, or an on-demand view: not the views it reads from). In
    /// request order, without repeats.
    public static func readPermissions(of features: [ResolvedFeature]) -> [Permission] {
        var seen: Set<String> = []
        return features.compactMap { feature in seen.insert(feature.view).inserted ? .read(.exact(feature.view)) : nil }
    }
}
