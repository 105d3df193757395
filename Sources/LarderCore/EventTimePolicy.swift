/// What an event time in the future means, for every way rows enter (ingest and push alike).
///
/// An event time says when something happened, so one ahead of the clock is either a
/// producer's clock drift (seconds, perhaps minutes) or a mistake (a sentinel such as
/// `9999-12-31`, milliseconds read as seconds). A far-future row would stay its entity's
/// newest value for good: served as present with a negative age online, and every later row
/// older than it. So a row whose event time is more than ``maxFutureSkew`` ahead of the clock
/// is rejected, with the whole file or push. A row within the skew is kept: online it is the
/// newest value at once; offline, materialization covers event times up to its end (now by
/// default), and the next `--incremental` run picks the row up once its time has come.
public struct EventTimePolicy: Sendable, Equatable {
    /// How far ahead of the clock an event time may be.
    public var maxFutureSkew: Duration

    /// 5 minutes: far more than the drift of a clock kept by NTP, far less than any mistake.
    public static let defaultMaxFutureSkew: Duration = .minutes(5)
    /// The key of `larder.yaml` (at the top level) that sets ``maxFutureSkew``.
    public static let configurationKey = "max_event_time_skew"

    public init(maxFutureSkew: Duration = EventTimePolicy.defaultMaxFutureSkew) {
        self.maxFutureSkew = maxFutureSkew
    }

    /// The rule applied to the rows of one ingest or push, with the clock read once when it
    /// starts.
    public func limit(at now: Timestamp) -> EventTimeLimit {
        EventTimeLimit(now: now, skew: maxFutureSkew.microseconds)
    }
}

/// ``EventTimePolicy`` at one instant: the latest event time accepted.
public struct EventTimeLimit: Sendable {
    /// The clock when the rows began to be read.
    public let now: Timestamp
    let skew: Int64
    /// The latest event time accepted (saturated: a skew of centuries accepts everything).
    public let latest: Timestamp

    init(now: Timestamp, skew: Int64) {
        self.now = now
        self.skew = skew
        let (sum, overflow) = now.microseconds.addingReportingOverflow(skew)
        latest = Timestamp(microseconds: overflow ? .max : sum)
    }

    /// Whether a row with this event time is accepted.
    @inline(__always)
    public func admits(_ eventTime: Timestamp) -> Bool { eventTime <= latest }

    /// Why a row with this event time is rejected (for a time ``admits(_:)`` refuses).
    public func rejection(of eventTime: Timestamp) -> String {
        let ahead = eventTime.microseconds - now.microseconds
        let shown = ahead >= 1_000_000 ? ahead - ahead % 1_000_000 : ahead
        return
            "\(Duration.compact(microseconds: shown)) ahead of the clock (\(now)); event times more than "
            + "\(Duration.compact(microseconds: skew)) in the future are rejected, by ingest and push alike "
            + "(\(EventTimePolicy.configurationKey) at the top level of larder.yaml)"
    }
}
