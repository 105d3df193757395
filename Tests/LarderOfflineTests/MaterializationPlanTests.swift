import LarderCore
import Testing

@testable import LarderOffline

/// The rule both stores follow for what a run reads and the coverage it records.
@Suite struct MaterializationPlanTests {
    let now = Timestamp(microseconds: 1_000)

    func state(_ start: Int64, _ end: Int64, seq: Int64) -> MaterializationState {
        MaterializationState(
            view: "v", version: 1, start: Timestamp(microseconds: start), end: Timestamp(microseconds: end), seqWatermark: seq,
            updatedAt: Timestamp(microseconds: 0))
    }

    func plan(_ mode: MaterializationMode, old: MaterializationState?, late: Int64? = nil) throws -> MaterializationPlan {
        var plan = try MaterializationPlan(view: "v", version: 1, mode: mode, old: old, firstEvent: 100, maxSeq: 50, now: now)
        if plan.lateRowsAsked != nil { plan.lateRows(earliest: late) }
        return plan
    }

    @Test func aFirstRunCoversTheSourceFromItsFirstEventToNow() throws {
        let p = try plan(.range(start: nil, end: nil), old: nil)
        #expect(p.passes == [.eventTimes(start: 100, end: 1_000)])
        #expect(p.state.start.microseconds == 100 && p.state.end == now && p.state.seqWatermark == 50)
        #expect(!p.incremental)
        // Incremental with nothing to continue from is the same first run.
        #expect(try plan(.incremental(end: nil), old: nil) == p)
    }

    @Test func rangesJoinTheCoverageOnlyWhenTheyTouchIt() throws {
        let old = state(200, 400, seq: 10)
        let covering = try plan(.range(start: Timestamp(microseconds: 100), end: Timestamp(microseconds: 500)), old: old)
        #expect(covering.state.start.microseconds == 100 && covering.state.end.microseconds == 500 && covering.state.seqWatermark == 50)
        let overlapping = try plan(.range(start: Timestamp(microseconds: 300), end: Timestamp(microseconds: 600)), old: old)
        #expect(overlapping.state.start.microseconds == 200 && overlapping.state.end.microseconds == 600)
        #expect(overlapping.state.seqWatermark == 10)  // as fresh as the older part
        let disjoint = try plan(.range(start: Timestamp(microseconds: 700), end: Timestamp(microseconds: 800)), old: old)
        #expect(disjoint.state == old)
        #expect(throws: OfflineStoreError.self) {
            try plan(.range(start: Timestamp(microseconds: 800), end: Timestamp(microseconds: 700)), old: old)
        }
    }

    @Test func anIncrementalRunReadsLateRowsAndRebuildsTheirHops() throws {
        let old = state(100, 400, seq: 10)
        let p = try plan(.incremental(end: nil), old: old, late: 150)
        #expect(p.passes == [.ingestedAfter(seq: 10, before: 1_000), .arrivedBetween(seqUpTo: 10, start: 400, end: 1_000)])
        #expect(p.lateRowsAsked ?? (0, 0) == (10, 1_000))
        #expect(p.tileStart == 150 && p.tileEnd == 1_000)
        #expect(p.state.start.microseconds == 100 && p.state.end == now && p.state.seqWatermark == 50 && p.incremental)
        // Without late rows the tiles are rebuilt from the old end.
        #expect(try plan(.incremental(end: nil), old: old).tileStart == 400)
    }
}
