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
