import Foundation

/// Where a PostgreSQL offline store lives:
/// `postgres://[USER[:PASSWORD]@][HOST][:PORT][/DATABASE][?sslmode=MODE&host=SOCKET_DIR&sslrootcert=FILE]`.
///
/// Follows libpq's conventions, so a URL that works with `psql` works here: `postgresql://`
/// is accepted too; the user defaults to `PGUSER`, then the login name; the database to the
/// user; an empty host (or a `host=` parameter starting with `/`) means the Unix socket in
/// `/var/run/postgresql` (or that directory); the password, when the URL has none, comes
/// from `PGPASSWORD`, then from the password file (`PGPASSFILE`, else `~/.pgpass`), so it
/// never has to be written in `larder.yaml`.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How a connection uses TLS: libpq's `sslmode` values.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// Plain first (PostgresNIO tries TLS first, then plain: the same connections work).
        case allow
        /// TLS when the server offers it, without verifying its certificate (libpq's default).
        case prefer
        /// TLS, without verifying the server's certificate.
        case require
        /// TLS, with the certificate verified against the trusted roots, not the host name.
        case verifyCA = "verify-ca"
        /// TLS, with the certificate and host name verified.
        case verifyFull = "verify-full"
    }

    /// Where the server listens.
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The path of the socket file (`DIRECTORY/.s.PGSQL.PORT`).
        case unixSocket(path: String)
    }

    public var endpoint: Endpoint
    public var user: String
    /// The password, from the URL or, when it has none, from `PGPASSWORD` or the password file.
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// Trusted roots for `verify-ca` and `verify-full` (`sslrootcert=`); the system's when nil.
    public var sslRootCertificate: String?

    /// Parses `text`, resolving what it leaves out as libpq does.
    ///
    /// - Parameters:
    ///   - environment: where `PGUSER`, `PGPASSWORD`, `PGPASSFILE` and `HOME` are read.
    ///   - loginName: the user when neither the URL nor `PGUSER` names one.
    /// - Throws: ``PostgresURLError`` naming what is wrong.
    public init(
        _ text: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        loginName: String = NSUserName()
    ) throws(PostgresURLError) {
        func fail(_ reason: String) -> PostgresURLError { PostgresURLError(url: Self.redacted(text), reason: reason) }
        guard let schemeEnd = text.range(of: "://"), ["postgres", "postgresql"].contains(text[..<schemeEnd.lowerBound].lowercased())
        else {
            throw fail("expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        func decode(_ part: Substring, _ what: String) throws(PostgresURLError) -> String {
            guard let decoded = String(part).removingPercentEncoding else { throw fail("the \(what) has an invalid %-escape") }
            return decoded
        }
        var user: String?
        var password: String?
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                user = try decode(userInfo[..<colon], "user")
                password = try decode(userInfo[userInfo.index(after: colon)...], "password")
            } else {
                user = try decode(userInfo, "user")
            }
        }
        // Host and port; an IPv6 address is written in brackets.
        var host = ""
        var port = 5432
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 host has no closing ]") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw fail("unexpected '\(after)' after the host")
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = try decode(rest[..<colon], "host")
            portText = rest[rest.index(after: colon)...]
        } else {
            host = try decode(rest, "host")
        }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw fail("the port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        }
        if path.contains("/") { throw fail("the database name '\(path)' contains '/'") }
        var database = try decode(path, "database")

        var sslMode = SSLMode.prefer
        var rootCertificate: String?
        var socketDirectory: String?
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = try decode(parts.count > 1 ? parts[1] : "", key)
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw fail("sslmode '\(value)' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert": rootCertificate = value
            case "host":
                if value.hasPrefix("/") { socketDirectory = value } else { host = value }
            case "user": user = value
            case "password": password = value
            case "dbname": database = value
            case "port":
                guard let value = Int(value), (1...65535).contains(value) else {
                    throw fail("the port '\(value)' is not a number from 1 to 65535")
                }
                port = value
            default:
                throw fail("unknown parameter '\(key)'; Larder reads sslmode, sslrootcert, host, port, user, password and dbname")
            }
        }

        let resolvedUser = user.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGUSER"].flatMap { $0.isEmpty ? nil : $0 } ?? loginName
        self.user = resolvedUser
        self.database = database.isEmpty ? resolvedUser : database
        self.sslMode = sslMode
        self.sslRootCertificate = rootCertificate
        if let socketDirectory {
            endpoint = .unixSocket(path: "\(socketDirectory)/.s.PGSQL.\(port)")
        } else if host.isEmpty {
            endpoint = .unixSocket(path: "/var/run/postgresql/.s.PGSQL.\(port)")
        } else {
            endpoint = .tcp(host: host, port: port)
        }
        if let password, !password.isEmpty {
            self.password = password
        } else if let fromEnvironment = environment["PGPASSWORD"], !fromEnvironment.isEmpty {
            self.password = fromEnvironment
        } else {
            self.password = PasswordFile(environment: environment)?.password(
                host: endpoint.passwordFileHost, port: port, database: self.database, user: resolvedUser)
        }
    }

    /// The URL with the password hidden, for messages and logs.
    public var description: String {
        let credentials = password == nil ? user : "\(user):***"
        let query = sslMode == .prefer ? "" : "?sslmode=\(sslMode.rawValue)"
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(credentials)@\(shownHost):\(port)/\(database)\(query)"
        case .unixSocket(let path):
            let directory = (path as NSString).deletingLastPathComponent
            return "postgres://\(credentials)@/\(database)?host=\(directory)" + (query.isEmpty ? "" : "&" + query.dropFirst())
        }
    }

    /// `text` with any password replaced by `***`, for errors about a URL that did not parse.
    public static func redacted(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://"),
            let at = text[schemeEnd.upperBound...].split(separator: "/", maxSplits: 1).first?.lastIndex(of: "@"),
            let colon = text[schemeEnd.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }
}

extension PostgresURL.Endpoint {
    /// The host as the password file names it: `localhost` stands for the default socket.
    var passwordFileHost: String {
        switch self {
        case .tcp(let host, _): host
        case .unixSocket(let path):
            (path as NSString).deletingLastPathComponent == "/var/run/postgresql"
                ? "localhost" : (path as NSString).deletingLastPathComponent
        }
    }
}

/// A URL in `offline.url` or `LARDER_OFFLINE_URL` that cannot be used.
public struct PostgresURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL as given, its password hidden.
    public var url: String
    public var reason: String
    public var description: String { "invalid PostgreSQL URL \(url): \(reason)" }
}

/// libpq's password file: lines of `host:port:database:user:password`, `*` matching anything,
/// `\` escaping `:` and `\`. Ignored, as libpq ignores it, when others may read it.
struct PasswordFile {
    let lines: [[String]]

    init?(environment: [String: String]) {
        let path = environment["PGPASSFILE"] ?? environment["HOME"].map { "\($0)/.pgpass" }
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var status = stat()
        // libpq refuses a file that the group or others can read or write (a plain file only).
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_mode & 0o077 == 0 else {
            FileHandle.standardError.write(
                Data("warning: password file \(path) has group or world access; ignored (chmod 0600 it)\n".utf8))
            return nil
        }
        lines = text.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("#") }.map(Self.fields)
    }

    /// Splits one line on unescaped colons, unescaping `\:` and `\\`.
    static func fields(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }

    /// The password of the first line that matches, as libpq reads it.
    func password(host: String, port: Int, database: String, user: String) -> String? {
        let wanted = [host, String(port), database, user]
        for fields in lines where fields.count == 5 {
            if zip(fields, wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
