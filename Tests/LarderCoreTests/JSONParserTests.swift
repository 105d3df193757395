import Foundation
import LarderTestSupport
import Testing

@testable import LarderCore

/// The JSON parser against Foundation's on generated documents: both accept the same
/// documents and read the same structure and values. Numbers are compared to 12 significant
/// digits there, because Foundation's parser on Linux misrounds some doubles by one unit in the
/// last place; exactness is checked on its own against Swift's correctly rounded `Double(_:)`.
@Suite struct JSONParserTests {
    struct Generator {
        var rng: SeededGenerator

        mutating func value(depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 2 ? 5 : 7), using: &rng) {
            case 0: return "null"
            case 1: return Bool.random(using: &rng) ? "true" : "false"
            case 2: return String(Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &rng))
            case 3: return "\(Double.random(in: -1e6...1e6, using: &rng))"
            case 4: return string()
            case 5: return "[" + (0..<Int.random(in: 0..<4, using: &rng)).map { _ in value(depth: depth + 1) }.joined(separator: ", ") + "]"
            default:
                var seen = Set<String>()
                let members = (0..<Int.random(in: 0..<4, using: &rng)).compactMap { _ -> String? in
                    let key = string()
                    guard seen.insert(key).inserted else { return nil }
                    return key + ": " + value(depth: depth + 1)
                }
                return "{" + members.joined(separator: ",") + "}"
            }
        }

        mutating func string() -> String {
            let pieces = ["a", "b", "é", "✓", "😀", "\\n", "\\\"", "\\\\", "\\u00e9", "\\ud83d\\ude00", " ", "\\t", "/"]
            return "\"" + (0..<Int.random(in: 0..<6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined() + "\""
        }
    }

    /// Converts both parsers' results to one comparable form.
    static func normalize(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool(let b): "b\(b)"
        case .int(let i): number(Double(i))
        case .double(let d): number(d)
        case .string(let s): "s\(s)"
        case .array(let a): "[" + a.map(normalize).joined(separator: ",") + "]"
        case .object(let m): "{" + m.map { "\($0.key)=\(normalize($0.value))" }.sorted().joined(separator: ",") + "}"
        }
    }

    static func normalize(_ any: Any) -> String {
        switch any {
        case is NSNull: return "null"
        case let n as NSNumber:
            // Foundation boxes JSON booleans as NSNumber of Objective-C type "c" (char).
            return String(cString: n.objCType) == "c" ? "b\(n.boolValue)" : number(n.doubleValue)
        case let s as String: return "s\(s)"
        case let a as [Any]: return "[" + a.map(normalize).joined(separator: ",") + "]"
        case let o as [String: Any]: return "{" + o.map { "\($0.key)=\(normalize($0.value))" }.sorted().joined(separator: ",") + "}"
        default: return "?"
        }
    }

    static func number(_ d: Double) -> String { "n" + String(format: "%.12g", d) }

    @Test func doublesAreReadExactly() throws {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<5000 {
            let d = Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF) * (Bool.random(using: &rng) ? 1 : -1)
            let text = "\(d)"
            guard text.contains(".") || text.contains("e") else { continue }
            #expect(try JSONParser.parse(Array(text.utf8)) == .double(d), "\(text)")
        }
    }

    @Test func agreesWithFoundationOnGeneratedDocuments() throws {
        var generator = Generator(rng: SeededGenerator(seed: 42))
        for _ in 0..<2000 {
            let text = generator.value(depth: 0)
            let ours = try JSONParser.parse(Array(text.utf8))
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            #expect(Self.normalize(ours) == Self.normalize(theirs), "\(text)")
        }
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "\"\\x\"", "\"\u{01}\"", "tru", "nul", "[1 2]",
        "{\"a\" 1}", "{1: 2}", "\"\\ud800\"", "{\"a\":1,\"a\":2}", "1 2",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func rejectsMalformedDocuments(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func keepsMemberOrderAndIntegerDistinction() throws {
        let value = try JSONParser.parse(Array(#"{"z": 1, "a": 1.0, "m": -9223372036854775808}"#.utf8))
        #expect(
            value
                == .object([
                    JSONMember(key: "z", value: .int(1)), JSONMember(key: "a", value: .double(1)),
                    JSONMember(key: "m", value: .int(.min)),
                ]))
    }
}
