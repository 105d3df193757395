import LarderCore

/// Where and how the online store keeps a feature view's latest rows in Redis.
/// `schemas/online.md` documents the layout; this type is its single implementation.
///
/// - Key: `larder:<project>:<view>:v<version>:{<key>[:<key>...]}`, one per entity. Int64 keys
///   are written in decimal; string keys percent-encode `%`, `:`, `{`, `}` and bytes outside
///   printable ASCII, so keys stay readable and unambiguous. The entity's keys are the key's
///   Redis Cluster hash tag: every key of one entity (each view's row, its tiles) is in one
///   slot, and no key value can end the tag early.
/// - Value: a 48-character ordering prefix, then the encoded row (``OnlineRecord``).
public struct OnlineViewLayout: Sendable {
    public let project: String
    public let view: String
    public let version: Int
    public let keyTypes: [ValueType]
    public let featureTypes: [ValueType]
    /// The view's ttl in microseconds (0: no limit).
    public let ttl: Int64

    public init(project: String, view: String, version: Int, keyTypes: [ValueType], featureTypes: [ValueType], ttl: Int64) {
        self.project = project
        self.view = view
        self.version = version
        self.keyTypes = keyTypes
        self.featureTypes = featureTypes
        self.ttl = ttl
    }

    public init(project: String, spec: FeatureViewSpec, version: Int) {
        self.init(
            project: project, view: spec.name, version: version, keyTypes: spec.joinKeys.map(\.type),
            featureTypes: spec.features.map(\.type), ttl: spec.ttlMicroseconds)
    }

    /// The layout's format, in `schemas/online.md`'s title: 2 since entity keys are hash tags.
    public static let format = 2

    /// The key prefix of every entity of this view version.
    public var prefix: String { "larder:\(project):\(view):v\(version):" }

    /// The key prefix of every entity's aggregation tiles (a hash per entity; see
    /// ``OnlineTiles``). `_tiles` cannot be a view name, so it cannot clash with row keys.
    public var tilePrefix: String { "larder:\(project):_tiles:\(view):v\(version):" }

    /// The Redis key of one entity. Keys must match `keyTypes` (the caller checked them).
    public func key(for keys: [Value]) -> [UInt8] { key(for: keys, prefix: prefix) }

    /// The Redis key of one entity's aggregation tiles.
    public func tileKey(for keys: [Value]) -> [UInt8] { key(for: keys, prefix: tilePrefix) }

    private func key(for keys: [Value], prefix: String) -> [UInt8] {
        var out = Array(prefix.utf8)
        out.append(0x7B)  // {
        for (i, key) in keys.enumerated() {
            if i > 0 { out.append(0x3A) }
            switch key {
            case .int64(let v): out += String(v).utf8
            case .string(let s):
                for b in s.utf8 {
                    // `%` and `:` keep keys unambiguous; `{` and `}` keep the hash tag whole.
                    if b == 0x25 || b == 0x3A || b == 0x7B || b == 0x7D || b < 0x21 || b > 0x7E {
                        out.append(0x25)
                        out += String(b, radix: 16, uppercase: true).leftPadded(to: 2).utf8
                    } else {
                        out.append(b)
                    }
                }
            default: out += String(describing: key).utf8
            }
        }
        out.append(0x7D)  // }
        return out
    }

    /// How long Redis keeps a row after its event time: the ttl, plus a grace period of one
    /// more ttl (at least an hour) during which reads report the value as expired rather than
    /// missing. Nil when the view has no ttl.
    public func expiry(of row: FeatureRow) -> Timestamp? {
        guard ttl > 0 else { return nil }
        return Timestamp(microseconds: row.eventTime.microseconds + ttl + max(ttl, 3_600_000_000))
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
