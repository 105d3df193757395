import Dispatch
import GRDB

/// A second connection reading the same feature tables as a training set's, so that the
/// lookups of a chunk of request rows (``FeatureRowFinder``, most of a training set's time)
/// run on two cores: half the work here, on a thread of its own, half on the join's.
///
/// SQLite on this system cannot hand one read snapshot to a second connection, so the second
/// one opens its own and checks that it is the same where it matters: every view's
/// materialization record must be equal in both. A materialization writes a view's table and
/// its record in one transaction (and stamps the record with its time), so equal records
/// mean equal tables. When they differ (a run committed between the two opens), or the
/// connection cannot open, there is no second reader and the join reads on one connection.
final class SecondReader: @unchecked Sendable {
    // `@unchecked`: `finders`, `work` and `result` are handed between the caller and the
    // reader's thread through the semaphores, never touched by both at once.
    private let connection: DatabaseQueue
    private let thread = DispatchQueue(label: "larder.training-set.second-reader")
    /// Per view of the join, its finder on this connection (nil for a view without row features).
    private(set) var finders: [FeatureRowFinder?] = []
    private var isOpen = false
    private var work: (() throws -> Void)? = nil
    private var result: Result<Void, any Error> = .success(())
    private let workReady = DispatchSemaphore(value: 0)
    private let workDone = DispatchSemaphore(value: 0)
    private let closed = DispatchSemaphore(value: 0)

    /// Opens the connection and its read transaction, or nil when its snapshot is not the
    /// join's (see above) or it cannot open.
    init?(store: OfflineStore, joins: [PointInTimeJoin.ViewJoin]) {
        guard let connection = try? store.openReader() else { return nil }
        self.connection = connection
        let views = joins.map { (state: $0.state, table: $0.table, stepLimit: $0.finder?.stepLimit) }
        // GRDB ends a transaction with the access that began it: the reader's thread stays in
        // one access, doing each piece of work it is handed, until `close`.
        thread.async {
            try? connection.inDatabase { db in
                try db.beginTransaction(.deferred)
                defer { try? db.rollback() }
                for (state, _, _) in views {
                    guard try OfflineStore.state(db, view: state.view, version: state.version) == state else { return }
                }
                self.finders = try views.map { view in
                    guard let stepLimit = view.stepLimit else { return nil }
                    let finder = try FeatureRowFinder(db, table: view.table)
                    finder.stepLimit = stepLimit
                    return finder
                }
                self.isOpen = true
                self.workDone.signal()
                while true {
                    self.workReady.wait()
                    guard let work = self.work else { break }
                    self.result = Result { try work() }
                    self.workDone.signal()
                }
                self.finders = []  // their statements are finalized before the transaction ends
            }
            if !self.isOpen { self.workDone.signal() }
            self.closed.signal()
        }
        workDone.wait()
        guard isOpen else {
            closed.wait()
            try? connection.close()
            return nil
        }
    }

    /// Starts `work` on this reader's thread, inside its read transaction; ``wait()`` for it.
    func run(_ work: @escaping () throws -> Void) {
        self.work = work
        workReady.signal()
    }

    /// Waits for the work started last; rethrows its error.
    func wait() throws {
        workDone.wait()
        try result.get()
    }

    /// Ends the read transaction and closes the connection.
    func close() {
        work = nil
        workReady.signal()
        closed.wait()
        try? connection.close()
    }
}
