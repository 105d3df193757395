import LarderCore
import LarderTestSupport

/// Seeded data for the example repo's two sources, written into a test's directory: driver
/// statistics (some created times, some hours twice) and trips, from 2026-01-01.
enum ExampleData {
    static let start = Timestamp(microseconds: 1_767_225_600_000_000)  // 2026-01-01T00:00:00Z

    /// The rows of `drivers` over `hours` (hours after ``start``), as two CSV files.
    static func files(
        in dir: TemporaryDirectory, seed: UInt64, hours: ClosedRange<Int>, drivers: ClosedRange<Int> = 1001...1012
    ) throws -> (stats: String, trips: String) {
        var random = SeededGenerator(seed: seed)
        var stats = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        var trips = "driver_id,event_timestamp,fare,distance_km\n"
        for driver in drivers {
            for hour in hours {
                let time = start.microseconds + Int64(hour) * 3_600_000_000
                let created = Bool.random(using: &random) ? Timestamp(microseconds: time + 60_000_000).description : ""
                for _ in 0..<(Int.random(in: 0..<8, using: &random) == 0 ? 2 : 1) {
                    stats +=
                        "\(driver),\(Timestamp(microseconds: time)),\(created),\(Double.random(in: 0..<1, using: &random)),\(Double.random(in: -1..<1, using: &random)),\(Int.random(in: 0..<40, using: &random))\n"
                }
                for _ in 0..<Int.random(in: 0..<4, using: &random) {
                    let at = time + Int64.random(in: 0..<3_600_000_000, using: &random)
                    trips +=
                        "\(driver),\(Timestamp(microseconds: at)),\(Double.random(in: 2..<80, using: &random)),\(Double.random(in: 0..<30, using: &random))\n"
                }
            }
        }
        return (try dir.write("stats-\(seed).csv", stats), try dir.write("trips-\(seed).csv", trips))
    }
}

extension PostgresServer {
    /// The rows of `table` printed so that two stores' rows compare as text: doubles as IEEE
    /// bits, blobs (and with `textAsHex`, strings) as hex, NULL as `null`, columns joined by
    /// `|`; in `orderBy` order, or sorted when it is nil.
    func printedRows(database: String, table: String, orderBy: String? = nil, textAsHex: Bool = false) throws -> [String] {
        let types = try psql(
            database: database,
            "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = '\(table)' ORDER BY ordinal_position"
        ).split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).map(String.init) }
        let columns = types.map { column -> String in
            let (name, type) = (column[0], column[1])
            let text =
                switch type {
                case "double precision": "encode(float8send(\(name)), 'hex')"
                case "bytea": "encode(\(name), 'hex')"
                case "text" where textAsHex: "encode(convert_to(\(name), 'UTF8'), 'hex')"
                case "boolean": "(\(name)::int)::text"
                default: "\(name)::text"
                }
            return "coalesce(\(text), 'null')"
        }
        let rows = try psql(
            database: database,
            "SELECT \(columns.joined(separator: " || '|' || ")) FROM \(table)" + (orderBy.map { " ORDER BY \($0)" } ?? "")
        ).split(separator: "\n").map(String.init)
        return orderBy == nil ? rows.sorted() : rows
    }
}
