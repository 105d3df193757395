import GRDB
import GRDBSQLite
import LarderCore

/// Finds the point-in-time row of one feature view for many request rows at once, in two
/// passes over the feature table:
///
/// 1. **Which row.** For each entity, its request instants in ascending order are matched
///    against its rows in the lookup index's order (keys, event time, created time, `_seq`):
///    the answer at T is the last index entry with an event time `<= T`. Between close
///    instants the finder steps forward through the index; when the next instant is more
///    than ``stepLimit`` entries ahead it seeks instead. Both read the index alone (it holds
///    event time and `_seq`), never the table.
/// 2. **Its features.** The answering rows are read by `_seq`, in `_seq` order, stepping
///    through the table to a row close ahead and seeking one further on.
///
/// A seek per request, reading the table row each time, cost about 3 µs; most requests now
/// cost a few index steps (about 80 ns each) and share their row reads.
final class FeatureRowFinder {
    /// Entries stepped over before seeking instead; a seek plus restarting the walk costs
    /// about as much as this many steps.
    static let defaultStepLimit = 16
    /// ``defaultStepLimit`` unless a test makes it small, to seek often.
    var stepLimit = defaultStepLimit

    private let view: FeatureViewSpec
    private let table: String
    /// Index only: the last row with an event time `<= ?` (keys, then T): `_event_ts, _seq`.
    private let seek: Statement
    /// Index only: rows from an event time on (keys, then it), ascending: `_event_ts, _seq`.
    private let walk: Statement
    /// Rows' `_seq` and features from a `_seq` on, ascending.
    private let rows: Statement

    init(_ db: Database, table: FeatureTable) throws {
        view = table.view
        self.table = table.name
        let keys = table.keyNames.map { "\($0) = ?" }.joined(separator: " AND ")
        let features = table.view.features.map(\.name).joined(separator: ", ")
        seek = try db.makeStatement(
            sql: """
                SELECT _event_ts, _seq FROM \(table.name) WHERE \(keys) AND _event_ts <= ?
                ORDER BY _event_ts DESC, _created_ts DESC, _seq DESC LIMIT 1
                """)
        walk = try db.makeStatement(
            sql: "SELECT _event_ts, _seq FROM \(table.name) WHERE \(keys) AND _event_ts >= ? ORDER BY _event_ts, _created_ts, _seq")
        rows = try db.makeStatement(sql: "SELECT _seq, \(features) FROM \(table.name) WHERE _seq >= ? ORDER BY _seq")
    }

    /// Marks a request row without an answer in ``findRows(keys:group:instants:into:)``.
    static let noRow = Int64.min

    /// The `_seq` of the fresh row answering each request row: for each `group` (request
    /// rows of one entity, `keys`, in ascending instant order), `answers[i]` is set, or left
    /// ``noRow`` when no row is at or before the instant or it is older than the view's ttl.
    func findRows(keys: [Value], group: ArraySlice<Int>, instants: [Timestamp], into answers: UnsafeMutableBufferPointer<Int64>) throws {
        let seek = self.seek.sqliteStatement
        let walk = self.walk.sqliteStatement
        for (i, key) in keys.enumerated() {
            SQLiteValues.bind(seek, Int32(i + 1), key)
            SQLiteValues.bind(walk, Int32(i + 1), key)
        }
        let instantParameter = Int32(keys.count + 1)
        defer {
            sqlite3_reset(seek)
            sqlite3_reset(walk)
        }
        // The last entry at or before the instant reached so far, and the walk's next entry
        // (nil once it has ended; `walking` false until the walk is started).
        var current: (event: Int64, seq: Int64)? = nil
        var next: (event: Int64, seq: Int64)? = nil
        var walking = false
        for i in group {
            let t = instants[i].microseconds
            if walking {
                var steps = 0
                while let entry = next, entry.event <= t, steps < stepLimit {
                    current = entry
                    next = try step(walk)
                    steps += 1
                }
                if let entry = next, entry.event <= t { walking = false }  // too far ahead: seek
            }
            if !walking {
                sqlite3_reset(seek)
                sqlite3_bind_int64(seek, instantParameter, t)
                current = try step(seek)
                // Every entry with an event time <= t sorts at or before the one found.
                sqlite3_reset(walk)
                sqlite3_bind_int64(walk, instantParameter, t == .max ? t : t + 1)
                next = try step(walk)
                walking = true
            }
            if let current, FeatureRow.isFresh(eventTime: current.event, at: t, ttl: view.ttlMicroseconds) {
                answers[i] = current.seq
            }
        }
    }

    private func step(_ statement: OpaquePointer) throws -> (event: Int64, seq: Int64)? {
        guard try SQLiteValues.step(statement, reading: table) else { return nil }
        return (sqlite3_column_int64(statement, 0), sqlite3_column_int64(statement, 1))
    }

    /// The answered request rows with their rows' `_seq`, in `_seq` order: what
    /// ``readFeatures(_:into:)`` reads.
    static func wanted(_ answers: [Int64]) -> [Wanted] {
        var wanted: [Wanted] = []
        wanted.reserveCapacity(answers.count)
        for (i, seq) in answers.enumerated() where seq != noRow { wanted.append(Wanted(seq: seq, request: Int32(i))) }
        wanted.sort { $0.seq < $1.seq }
        return wanted
    }

    struct Wanted {
        var seq: Int64
        var request: Int32
    }

    /// Writes the features of each wanted row into `values` (`i * featureCount + f` for
    /// request row `i`); rows without an answer keep their nulls.
    func readFeatures(_ wanted: ArraySlice<Wanted>, into values: UnsafeMutableBufferPointer<Value>) throws {
        let types = view.features.map(\.type)
        let count = types.count
        guard !wanted.isEmpty else { return }
        let s = rows.sqliteStatement
        defer { sqlite3_reset(s) }
        // The row the statement is on (nil before the first seek and after the range's end).
        var at: Int64? = nil
        var k = wanted.startIndex
        while k < wanted.endIndex {
            let seq = wanted[k].seq
            // Step when the row is close ahead (`_seq`s are nearly dense), seek otherwise.
            if let current = at, current < seq, seq - current <= stepLimit {
                while let current = at, current < seq { at = try SQLiteValues.step(s, reading: table) ? sqlite3_column_int64(s, 0) : nil }
            } else if at != seq {
                sqlite3_reset(s)
                sqlite3_bind_int64(s, 1, seq)
                at = try SQLiteValues.step(s, reading: table) ? sqlite3_column_int64(s, 0) : nil
            }
            guard at == seq else {
                throw OfflineStoreError("reading \(table): row \(seq) found in its index is missing from the table")
            }
            let base = Int(wanted[k].request) * count
            for f in 0..<count { values[base + f] = SQLiteValues.read(s, Int32(f + 1), as: types[f]) }
            k += 1
            while k < wanted.endIndex, wanted[k].seq == seq {
                let target = Int(wanted[k].request) * count
                for f in 0..<count { values[target + f] = values[base + f] }
                k += 1
            }
        }
    }
}
