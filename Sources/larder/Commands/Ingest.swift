import ArgumentParser
import Foundation
import LarderOffline

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append the rows of a CSV or JSON Lines file to a source: all rows or none.",
        discussion: """
            CSV: RFC 4180 with a header row naming the columns (any order; nullable columns may \
            be left out). An empty unquoted field is null; "" is an empty string. JSON Lines: \
            one flat object per line. Timestamps are RFC 3339 with Z or an offset. \
            One bad value anywhere rejects the whole file, naming the line, column and value, \
            and leaves the source as it was.
            """
    )

    @OptionGroup var project: ProjectOptions

    @Argument(help: "The registered source to append to.")
    var source: String

    @Argument(help: "The file to read.")
    var file: String

    @Option(help: "The file format: csv, jsonl or parquet (default: from the extension).")
    var format: InputFormat?

    @Flag(help: "Accept a file with no data rows (ingesting nothing) instead of failing.")
    var allowEmpty = false

    func run() async throws {
        let (_, store) = try await project.openBackend()
        defer { store.close() }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        // A bar only for files that take a while.
        let bar = ProgressBar(label: "ingest \(source)", enabled: isatty(STDERR_FILENO) == 1 && size > 16 << 20)
        defer { bar.finish() }
        let summary = try await store.ingest(source: source, file: file, format: format, allowEmpty: allowEmpty) { progress in
            let fraction = progress.totalBytes > 0 ? Double(progress.bytesRead) / Double(progress.totalBytes) : 0
            bar.update(fraction: fraction, detail: "\(grouped(progress.rows)) rows")
        }
        bar.finish()
        print(
            "ingested \(grouped(summary.rows)) rows into \(summary.source) from \(summary.file) in \(String(format: "%.2f", summary.seconds)) s (\(grouped(Int(summary.rowsPerSecond))) rows/s)"
        )
    }
}

extension InputFormat: ExpressibleByArgument {}
