import LarderCore
import LarderEngine
import LarderOffline
import Testing

/// The report's renderings of statistics at the edges of their types.
@Suite struct StatisticsReportTests {
    /// Int64 sentinels (`Int64.max`, `Int64.min`) and far instants become doubles in the
    /// quantile sketch, which round to ±2^63: labels and means must not trap converting back.
    @Test func extremeIntegersAndInstantsAreLabelledNotTrapped() throws {
        var integers = try #require(FeatureStatistics(type: .int64))
        var instants = try #require(FeatureStatistics(type: .timestamp))
        for i in 0..<1000 {
            integers.observe(.int64(i % 3 == 0 ? .max : i % 3 == 1 ? .min : Int64(i)))
            instants.observe(.timestamp(Timestamp(microseconds: i % 2 == 0 ? .max : .min)))
        }
        for statistics in [integers, instants] {
            let histogram = try #require(statistics.histogram)
            let bins = ViewStatisticsReport.labelledBins(histogram)
            #expect(bins.map(\.count).reduce(0, +) == 1000)
            #expect(!bins.isEmpty && bins.allSatisfy { !$0.label.isEmpty })
            _ = ViewStatisticsReport.Summary(statistics)
        }
    }
}
