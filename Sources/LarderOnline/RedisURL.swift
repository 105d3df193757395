/// Where a Redis server is and how to log in: `redis://[user:password@]host[:port][/db]`.
///
/// Accepted forms:
/// - `redis://host` (port 6379, database 0)
/// - `redis://host:port/db`
/// - `redis://:password@host:port/db` (password only, `AUTH password`)
/// - `redis://user:password@host:port/db` (ACL user, `AUTH user password`)
/// - `redis://[::1]:6379/0` (IPv6 literal in brackets)
///
/// User and password are percent-decoded, so a password containing `@`, `:` or `/` is
/// written `%40`, `%3A`, `%2F`. TLS (`rediss://`), Unix sockets and query parameters are not
/// supported and are rejected rather than silently ignored.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// TCP port, 1–65535.
    public var port: Int
    /// Logical database selected after connecting (`SELECT`), 0 by default.
    public var database: Int
    /// ACL user name, or `nil` to authenticate with the password alone.
    public var username: String?
    /// Password for `AUTH`, or `nil` when the server needs none.
    public var password: String?

    /// The default Redis port.
    public static let defaultPort = 6379

    /// Creates a URL from its parts.
    public init(
        host: String, port: Int = RedisURL.defaultPort, database: Int = 0,
        username: String? = nil, password: String? = nil
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    /// Parses `redis://[user:password@]host[:port][/db]`.
    ///
    /// - Throws: ``RedisError/invalidURL(url:reason:)`` naming what is wrong; the URL in the
    ///   error has its password masked.
    public init(_ string: String) throws(RedisError) {
        let masked = Self.mask(string)
        func invalid(_ reason: String) -> RedisError { .invalidURL(url: masked, reason: reason) }

        guard let separator = string.firstRange(of: "://") else {
            throw invalid("missing scheme: expected redis://host[:port][/db]")
        }
        let scheme = string[..<separator.lowerBound].lowercased()
        guard scheme == "redis" else {
            if scheme == "rediss" { throw invalid("TLS (rediss://) is not supported") }
            if scheme == "redis-cluster" { throw invalid("a cluster URL names seed nodes, not one server: use RedisClusterURL") }
            throw invalid("unsupported scheme '\(scheme)': expected redis://")
        }
        let rest = string[separator.upperBound...]
        if rest.contains("?") || rest.contains("#") {
            throw invalid("query parameters and fragments are not supported")
        }

        let slash = rest.firstIndex(of: "/")
        let authority = slash.map { rest[..<$0] } ?? rest
        let path = slash.map { rest[rest.index(after: $0)...] } ?? ""
        let (credentials, hostAndPort) = try Self.splitUserInfo(authority, masked: masked)
        if hostAndPort.contains(",") {
            throw invalid("redis:// names one server; for a Redis Cluster write redis-cluster://host:port[,host:port...]")
        }
        let (host, port) = try Self.hostAndPort(hostAndPort, masked: masked)

        var database = 0
        if !path.isEmpty {
            guard let value = Self.decimal(path), value <= Int(Int32.max) else {
                throw invalid("invalid database '\(path)': expected a non-negative number, e.g. /0")
            }
            database = value
        }

        self.init(host: host, port: port, database: database, username: credentials.username, password: credentials.password)
    }

    /// Splits `[user:password@]rest` at the last `@` (an unencoded password may contain `@`)
    /// and percent-decodes the user and password.
    static func splitUserInfo(_ authority: Substring, masked: String) throws(RedisError)
        -> (credentials: (username: String?, password: String?), rest: Substring)
    {
        guard let at = authority.lastIndex(of: "@") else { return ((nil, nil), authority) }
        func invalid(_ reason: String) -> RedisError { .invalidURL(url: masked, reason: reason) }
        let userInfo = authority[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else {
            throw invalid("user info has no password: use redis://:password@host or redis://user:password@host")
        }
        guard let user = percentDecode(userInfo[..<colon]), let password = percentDecode(userInfo[userInfo.index(after: colon)...])
        else {
            throw invalid("malformed percent-encoding in user info (expected %XX with hex digits, UTF-8)")
        }
        guard !password.isEmpty else { throw invalid("empty password") }
        return ((user.isEmpty ? nil : user, password), authority[authority.index(after: at)...])
    }

    /// Parses `host[:port]` or `[ipv6][:port]`; the port defaults to 6379.
    static func hostAndPort(_ text: Substring, masked: String) throws(RedisError) -> (host: String, port: Int) {
        func invalid(_ reason: String) -> RedisError { .invalidURL(url: masked, reason: reason) }
        let host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw invalid("unterminated IPv6 address: missing ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text '\(after)' after IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            let colons = text.filter { $0 == ":" }.count
            if colons > 1 { throw invalid("IPv6 addresses must be written in brackets, e.g. redis://[::1]:6379") }
            if let colon = text.firstIndex(of: ":") {
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                host = text
            }
        }
        guard !host.isEmpty else { throw invalid("missing host") }
        if host.contains(where: { $0.isWhitespace || $0 == "%" || $0 == "[" || $0 == "]" || $0 == "," }) {
            throw invalid("invalid host '\(host)'")
        }
        var port = defaultPort
        if let portText {
            guard let value = decimal(portText), (1...65535).contains(value) else {
                throw invalid("invalid port '\(portText)': expected a number from 1 to 65535")
            }
            port = value
        }
        return (String(host), port)
    }

    /// `host:port`, with IPv6 addresses in brackets: how errors name the server.
    public var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL with its password replaced by `***`, safe for logs.
    public var description: String {
        var userInfo = ""
        if password != nil {
            userInfo = "\(username.map(Self.percentEncode) ?? ""):***@"
        }
        return "redis://\(userInfo)\(endpoint)/\(database)"
    }

    // MARK: - Helpers

    /// Digits only: no sign, no spaces, no overflow.
    static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.next().flatMap(hexValue), let low = utf8.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        // Reject invalid UTF-8 rather than silently replacing it: the password would be wrong.
        let decoded = String(decoding: bytes, as: UTF8.self)
        return Array(decoded.utf8) == bytes ? decoded : nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if byte < 0x80, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-._~".unicodeScalars.contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    /// Masks the password in a URL that may not parse, for error messages.
    static func mask(_ string: String) -> String {
        guard let separator = string.firstRange(of: "://") else { return string }
        let rest = string[separator.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return string }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return string }
        return String(string[..<separator.upperBound]) + userInfo[...colon] + "***" + rest[at...]
    }
}
