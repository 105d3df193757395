import LarderCore
import Testing

/// The projector binds by name and refuses what the columns lack, naming the view, the key,
/// feature or aggregation, and the column.
@Suite struct RowProjectorTests {
    static let region = Column<String>("region")
    static let driver = Column<Int64>("driver_id")
    static let amount = Column<Double?>("amount")
    static let units = Column<Int64>("units")
    static let note = Column<String>("note")
    static let entity = Entity("driver", joinKeys: [region, driver])
    static let source = Source("payments", columns: [region, driver, amount, units, note])

    /// Row features on `units` and `amount`; aggregations on a column, on a row feature and
    /// on events.
    static let view = FeatureView("pay", entity: entity, source: source, ttl: .zero) {
        Feature("double_units", from: units) { Double($0) * 2 }
        Feature(amount)
    } aggregations: {
        Aggregate(.sum, of: amount, windows: .hours(1))
        Aggregate(.count, windows: .hours(1))
        Aggregate(.max, of: "double_units", windows: .days(1))
        Aggregate(.last(2), of: note, windows: .hours(1))
    }

    static let declared = ["region", "driver_id", "amount", "units", "note"]

    static func failure(_ make: () throws(ProjectionError) -> RowProjector) -> String? {
        do {
            _ = try make()
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aFeatureInputTheColumnsLackIsAnError() {
        let columns = Self.declared.filter { $0 != "units" }
        #expect(
            Self.failure { () throws(ProjectionError) in try RowProjector(view: Self.view, columns: columns) }
                == "feature pay:double_units reads column 'units', which is not among the columns read from source payments")
    }

    @Test func aJoinKeyTheColumnsLackIsAnError() {
        let columns = Self.declared.filter { $0 != "driver_id" }
        #expect(
            Self.failure { () throws(ProjectionError) in try RowProjector(view: Self.view, columns: columns) }
                == "feature view pay is keyed by driver_id, which is not among the columns read from source payments")
        #expect(
            Self.failure { () throws(ProjectionError) in try RowProjector(aggregationsOf: Self.view, columns: columns) }
                == "feature view pay is keyed by driver_id, which is not among the columns read from source payments")
    }

    @Test func anAggregationInputTheColumnsLackIsAnError() {
        // A column input.
        #expect(
            Self.failure { () throws(ProjectionError) in
                try RowProjector(aggregationsOf: Self.view, columns: ["region", "driver_id", "units", "note"])
            } == "aggregation pay:amount_sum_1h reads column 'amount', which is not among the columns read from source payments")
        // A row feature's input.
        #expect(
            Self.failure { () throws(ProjectionError) in
                try RowProjector(aggregationsOf: Self.view, columns: ["region", "driver_id", "amount", "note"])
            }
                == "aggregation pay:double_units_max_24h reads feature 'double_units', which reads column 'units', which is not among the columns read from source payments"
        )
        // The full projector checks the aggregations too (the row features have their columns).
        let all = FeatureView("pay", entity: Self.entity, source: Self.source, ttl: .zero) {
            Feature(Self.amount)
        } aggregations: {
            Aggregate(.last(2), of: Self.note, windows: .hours(1))
        }
        #expect(
            Self.failure { () throws(ProjectionError) in
                try RowProjector(view: all, columns: ["region", "driver_id", "amount"])
            } == "aggregation pay:note_last2_1h reads column 'note', which is not among the columns read from source payments")
        // Restricted to the aggregations that need no missing column: fine.
        let restricted = Self.view.tileLayout.restricted(to: ["count_1h", "amount_sum_1h"])
        #expect(
            Self.failure { () throws(ProjectionError) in
                try RowProjector(aggregationsOf: Self.view, tiles: restricted, columns: ["driver_id", "amount", "region"])
            } == nil)
    }

    @Test func projectsKeysFeaturesAndTileInputsByName() throws {
        // Another order than declared, and a column nothing reads.
        let columns = ["note", "extra", "units", "driver_id", "amount", "region"]
        let projector = try RowProjector(view: Self.view, columns: columns)
        let row = SourceRow(
            values: [.string("late"), .int64(99), .int64(21), .int64(7), .double(2.5), .string("north")],
            eventTime: Timestamp(microseconds: 1_000), createdTime: Timestamp(microseconds: 2_000), sequence: 42)

        #expect(projector.keys(of: row.values) == [.string("north"), .int64(7)])
        let featureRow = projector.featureRow(row)
        #expect(
            featureRow
                == FeatureRow(
                    keys: [.string("north"), .int64(7)], eventTime: Timestamp(microseconds: 1_000),
                    createdTime: Timestamp(microseconds: 2_000), sequence: 42, values: [.double(42), .double(2.5)]))

        let event = projector.tileEvent(row)
        #expect(event.keys == [.string("north"), .int64(7)])
        #expect(event.order == EventOrder(eventTime: 1_000, createdTime: 2_000, sequence: 42))
        // TileLayout.inputs order: amount, double_units, note (count reads no input).
        #expect(projector.tiles.inputs == [.column(Self.amount.spec), .feature("double_units"), .column(Self.note.spec)])
        #expect(event.inputs == [.double(2.5), .double(42), .string("late")])

        // Only the aggregations, over keys first (as the tile table reads them): same events.
        let tilesOnly = try RowProjector(aggregationsOf: Self.view, columns: ["region", "driver_id", "amount", "units", "note"])
        #expect(tilesOnly.evaluators.isEmpty)
        let reordered = SourceRow(
            values: [.string("north"), .int64(7), .double(2.5), .int64(21), .string("late")], eventTime: row.eventTime,
            createdTime: row.createdTime, sequence: row.sequence)
        #expect(tilesOnly.tileEvent(reordered).inputs == event.inputs)
        #expect(tilesOnly.tileEvent(reordered).keys == event.keys)
    }
}
