import LarderCore

/// What one materialization run of a view reads and what it records afterwards: the one rule
/// for ranges, incremental runs and late rows, whichever store runs it. Each store turns the
/// passes into its own SQL.
package struct MaterializationPlan: Sendable, Equatable {

    /// Which source rows one pass reads.
    package enum Pass: Sendable, Equatable {
        /// Rows with an event time in `start..<end`.
        case eventTimes(start: Int64, end: Int64)
        /// Rows ingested after `seq` (late arrivals included) with an event time before `end`.
        case ingestedAfter(seq: Int64, before: Int64)
        /// Rows ingested up to `seq` whose event time has come since the last run: in
        /// `start..<end`.
        case arrivedBetween(seqUpTo: Int64, start: Int64, end: Int64)
    }

    package var passes: [Pass]
    /// The event times whose hops get their tiles rebuilt: `tileStart..<tileEnd`.
    package var tileStart: Int64
    package var tileEnd: Int64
    /// The view's coverage once the run commits.
    package var state: MaterializationState
    package var incremental: Bool
    /// For an incremental run: the rows whose earliest event time ``lateRows(earliest:)``
    /// needs, those ingested after `seq` with an event time before `end`.
    package var lateRowsAsked: (seq: Int64, end: Int64)? {
        guard incremental, case .ingestedAfter(let seq, let end) = passes.first else { return nil }
        return (seq, end)
    }

    /// - Parameters:
    ///   - old: the view version's coverage before the run, if it was ever materialized.
    ///   - firstEvent: the source's earliest event time (nil: no rows).
    ///   - maxSeq: the source's largest `_seq` when the run starts (its new watermark).
    ///
    /// An incremental run then needs ``lateRows(earliest:)``.
    package init(
        view: String, version: Int, mode: MaterializationMode, old: MaterializationState?, firstEvent: Int64?, maxSeq: Int64,
        now: Timestamp
    ) throws {
        var mode = mode
        if case .incremental(let end) = mode, old == nil {
            mode = .range(start: nil, end: end)  // nothing to continue from
        }
        switch mode {
        case .range(let start, let end):
            let end = end ?? now
            let start = start ?? firstEvent.map(Timestamp.init(microseconds:)) ?? end
            guard start <= end else { throw OfflineStoreError("the range is empty: --start \(start) is after --end \(end)") }
            passes = [.eventTimes(start: start.microseconds, end: end.microseconds)]
            (tileStart, tileEnd) = (start.microseconds, end.microseconds)
            incremental = false
            state = MaterializationState(view: view, version: version, start: start, end: end, seqWatermark: maxSeq, updatedAt: now)
            if let old {
                if start <= old.start && end >= old.end {
                    // The new range covers the old one: it is the new coverage.
                } else if start <= old.end && end >= old.start {
                    // Overlapping: the union, as fresh as the older part.
                    state.start = min(start, old.start)
                    state.end = max(end, old.end)
                    state.seqWatermark = old.seqWatermark
                } else {
                    // Disjoint: the rows are materialized, but coverage keeps one interval.
                    state = old
                }
            }
        case .incremental(let end):
            let old = old!
            let end = max(end ?? now, old.end)
            passes = [
                .ingestedAfter(seq: old.seqWatermark, before: end.microseconds),
                .arrivedBetween(seqUpTo: old.seqWatermark, start: old.end.microseconds, end: end.microseconds),
            ]
            (tileStart, tileEnd) = (old.end.microseconds, end.microseconds)
            incremental = true
            state = MaterializationState(
                view: view, version: version, start: old.start, end: end, seqWatermark: maxSeq, updatedAt: now)
        }
    }

    /// Late rows change the hops they fall in, however old: the tiles are rebuilt from the
    /// earliest event time among the rows ``lateRowsAsked`` names (nil: there are none).
    package mutating func lateRows(earliest: Int64?) {
        tileStart = min(earliest ?? .max, tileStart)
    }
}
