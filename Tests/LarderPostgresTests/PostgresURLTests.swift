import Foundation
import LarderTestSupport
import Testing

@testable import LarderPostgres

/// `offline.url` as libpq reads it: defaults, escapes, sslmode, and passwords that never
/// have to be written in `larder.yaml`.
@Suite struct PostgresURLTests {
    let noEnvironment: [String: String] = [:]

    @Test func aFullURLParses() throws {
        let url = try PostgresURL(
            "postgres://ann:p%40ss%3Aword@db.example.com:6543/features?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            environment: noEnvironment)
        #expect(url.endpoint == .tcp(host: "db.example.com", port: 6543))
        #expect(url.user == "ann")
        #expect(url.password == "p@ss:word")
        #expect(url.database == "features")
        #expect(url.sslMode == .verifyFull)
        #expect(url.sslRootCertificate == "/etc/ca.pem")
        #expect(url.description == "postgres://ann:***@db.example.com:6543/features?sslmode=verify-full")
    }

    @Test func leftOutPartsDefaultAsInLibpq() throws {
        let url = try PostgresURL("postgresql://db.example.com", environment: noEnvironment, loginName: "carol")
        #expect(url.endpoint == .tcp(host: "db.example.com", port: 5432))
        #expect(url.user == "carol")
        #expect(url.database == "carol")
        #expect(url.sslMode == .prefer)
        #expect(url.password == nil)
        #expect(try PostgresURL("postgres://db/x", environment: ["PGUSER": "dan"]).user == "dan")

        // No host: the local socket, or the directory a host= parameter names.
        #expect(
            try PostgresURL("postgres:///larder", environment: noEnvironment).endpoint
                == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
        #expect(
            try PostgresURL("postgres://u@/larder?host=/tmp/pg&port=7000", environment: noEnvironment).endpoint
                == .unixSocket(path: "/tmp/pg/.s.PGSQL.7000"))
        #expect(try PostgresURL("postgres://u@[::1]:7001/x", environment: noEnvironment).endpoint == .tcp(host: "::1", port: 7001))
    }

    @Test func badURLsSayWhatIsWrongAndHideThePassword() {
        let cases = [
            ("mysql://u:pw@h/db", "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"),
            ("postgres://u:pw@h:99999/db", "the port '99999' is not a number from 1 to 65535"),
            (
                "postgres://u:pw@h/db?sslmode=always",
                "sslmode 'always' is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ),
            ("postgres://u:pw@h/db?timeout=3", "unknown parameter 'timeout'"),
            ("postgres://u:pw@h/a/b", "the database name 'a/b' contains '/'"),
        ]
        for (text, reason) in cases {
            #expect {
                try PostgresURL(text, environment: noEnvironment)
            } throws: { error in
                let message = "\(error)"
                return message.contains(reason) && !message.contains("pw@") && message.contains("u:***@")
            }
        }
    }

    @Test func thePasswordComesFromTheEnvironmentThenThePasswordFile() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("pgpass")
        try """
        # host:port:database:user:password
        other.example.com:5432:*:ann:not-this-one
        db.example.com:*:features:ann:from\\:file
        *:*:*:*:fallback
        """.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let environment = ["PGPASSFILE": file]
        #expect(try PostgresURL("postgres://ann@db.example.com/features", environment: environment).password == "from:file")
        #expect(try PostgresURL("postgres://bob@db.example.com/features", environment: environment).password == "fallback")
        // PGPASSWORD comes before the file; a password in the URL before both.
        #expect(
            try PostgresURL("postgres://ann@db.example.com/features", environment: environment.merging(["PGPASSWORD": "env"]) { $1 })
                .password == "env")
        #expect(
            try PostgresURL("postgres://ann:url@db.example.com/features", environment: environment.merging(["PGPASSWORD": "env"]) { $1 })
                .password == "url")
        // ~/.pgpass when PGPASSFILE is not set.
        try FileManager.default.copyItem(atPath: file, toPath: dir.file(".pgpass"))
        chmod(dir.file(".pgpass"), 0o600)
        #expect(try PostgresURL("postgres://ann@db.example.com/features", environment: ["HOME": dir.path]).password == "from:file")
        // A file others may read is ignored, as libpq ignores it.
        chmod(file, 0o644)
        #expect(try PostgresURL("postgres://ann@db.example.com/features", environment: environment).password == nil)
    }
}
