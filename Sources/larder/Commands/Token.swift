import ArgumentParser
import Foundation
import LarderEngine

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make tokens for the service's access control (serve.tokens).",
        subcommands: [New.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random secret and the serve.tokens entry that accepts it.",
            discussion: """
                The secret (32 random bytes, base64url) is printed once: give it to the client, \
                which sends it as Authorization: Bearer SECRET. larder.yaml keeps only its SHA-256. \
                Paste the entry under serve.tokens and fill in allow (read:SERVICE_OR_VIEW, \
                push:SOURCE, catalog, metrics, *; a name may end in * as a prefix); a running \
                service picks it up without a restart.
                """
        )

        @Argument(help: "The token's name, as logs and metrics will show it.")
        var name: String

        @Option(
            name: .customLong("allow"), parsing: .singleValue,
            help: "A permission to grant (repeatable), e.g. --allow read:driver_ranking.")
        var permissions: [String] = []

        func validate() throws {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ValidationError("the name may hold letters, digits, '-', '_' and '.' only")
            }
            for permission in permissions where Permission(permission) == nil {
                throw ValidationError(
                    "'\(permission)' is not a permission; expected read:NAME, push:SOURCE, catalog, metrics or *")
            }
        }

        func run() throws {
            var bytes = [UInt8](repeating: 0, count: 32)
            var generator = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = UInt8.random(in: .min ... .max, using: &generator) }
            let secret = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let allow = permissions.isEmpty ? "[]  # fill in" : "[" + permissions.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
            print("secret (shown once; give it to the client): \(secret)")
            print("")
            print("# under serve.tokens in larder.yaml:")
            print("    - name: \(name)")
            print("      sha256: \"\(APIToken.hex(APIToken.digest(of: secret)))\"")
            print("      allow: \(allow)")
        }
    }
}
