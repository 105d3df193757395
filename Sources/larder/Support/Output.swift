import Foundation
import LarderCore
import Synchronization

/// A plain text table with aligned columns, for the default (non-JSON) output.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let widths = header.indices.map { c in ([header] + rows).map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// JSON for `--json` output: sorted keys, pretty printed, one document.
enum JSONOutput {
    static func render(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// An encodable value as a JSON object, its keys in snake case as the rest of the output.
    static func object(encoding value: some Encodable) throws -> Any {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try JSONSerialization.jsonObject(with: encoder.encode(value))
    }

    /// A stored definition's canonical JSON as a JSON object.
    static func object(_ spec: DefinitionSpec) -> Any {
        (try? JSONSerialization.jsonObject(with: spec.json())) ?? [:]
    }
}

/// `1 feature`, `3 features`.
func plural(_ n: Int, _ noun: String) -> String { "\(grouped(n)) \(noun)\(n == 1 ? "" : "s")" }

/// A number with thousands separators: 1,000,000.
func grouped(_ n: Int) -> String { MessageText.grouped(n) }

/// A one-line progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar: Sendable {
    private let label: String
    private let enabled: Bool
    private let lastDraw = Mutex(Date.distantPast)

    init(label: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.enabled = enabled
    }

    func update(fraction: Double, detail: String) {
        guard enabled else { return }
        let now = Date()
        let due = lastDraw.withLock { last in
            guard now.timeIntervalSince(last) >= 0.1 else { return false }
            last = now
            return true
        }
        guard due else { return }
        let width = 30
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(fraction * 100))% \(detail)\u{1B}[K".utf8))
    }

    func finish() {
        guard enabled, lastDraw.withLock({ $0 }) != .distantPast else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// A failure while running a command (not a usage mistake: ArgumentParser prints usage
/// after a `ValidationError`, which would bury the message).
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
