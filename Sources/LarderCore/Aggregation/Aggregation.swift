/// What a windowed aggregation computes over the events in its window.
public enum AggregationFunction: Sendable, Hashable, CustomStringConvertible {
    /// The number of events (or of non-null input values, when an input is given).
    case count
    /// The sum of the non-null input values; 0 for an empty window. Double sums are exact
    /// until one final rounding (``ExactSum``), so they do not depend on event order.
    case sum
    /// The sum divided by the number of non-null values; null for an empty window.
    case mean
    /// The smallest non-null value (doubles in IEEE total order); null for an empty window.
    case min
    /// The largest non-null value (doubles in IEEE total order); null for an empty window.
    case max
    /// The `n` most recent non-null values as a list, oldest first; null for an empty window.
    /// Events are ordered by event time, then created time, then ingest sequence.
    case last(Int)
    /// The exact number of distinct non-null values; 0 for an empty window.
    case distinctCount

    /// `count`, `sum`, `mean`, `min`, `max`, `last3`, `distinct_count`: the word used in
    /// derived feature names.
    public var nameComponent: String {
        switch self {
        case .count: "count"
        case .sum: "sum"
        case .mean: "mean"
        case .min: "min"
        case .max: "max"
        case .last(let n): "last\(n)"
        case .distinctCount: "distinct_count"
        }
    }

    /// `count`, ..., `last(3)`, `distinct_count`: the registered form.
    public var description: String {
        if case .last(let n) = self { return "last(\(n))" }
        return nameComponent
    }

    /// Reads the registered form.
    public init?(_ text: String) {
        switch text {
        case "count": self = .count
        case "sum": self = .sum
        case "mean": self = .mean
        case "min": self = .min
        case "max": self = .max
        case "distinct_count": self = .distinctCount
        default:
            guard text.hasPrefix("last("), text.hasSuffix(")"), let n = Int(text.dropFirst(5).dropLast()) else { return nil }
            self = .last(n)
        }
    }

    /// The output type for an input of type `input` (`nil`: counting events), or `nil` when
    /// the function does not apply to that type.
    public func outputType(input: ValueType?) -> ValueType? {
        switch self {
        case .count, .distinctCount: return .int64
        case .sum:
            return input == .int64 || input == .double ? input : nil
        case .mean:
            return input == .int64 || input == .double ? .double : nil
        case .min, .max:
            return input == .int64 || input == .double || input == .timestamp ? input : nil
        case .last:
            return input?.list
        }
    }
}

/// What an aggregation reads from each event: nothing (count events), a source column, or a
/// row feature of the same view (the output of its transformation).
public enum AggregationInput: Sendable, Hashable {
    case events
    case column(ColumnSpec)
    case feature(String)

    /// The name used in derived feature names; empty for `.events`.
    var nameComponent: String {
        switch self {
        case .events: ""
        case .column(let c): c.name
        case .feature(let name): name
        }
    }
}

/// Declares windowed aggregations of a feature view, one feature per window:
///
/// ```swift
/// Aggregate(.count, windows: .hours(1), name: "trips")          // trips_1h
/// Aggregate(.sum, of: Trips.fare, windows: .hours(24))          // fare_sum_24h
/// Aggregate(.max, of: "fare_per_km", windows: .hours(1), .days(1)) // fare_per_km_max_1h, _24h
/// ```
///
/// At instant T a window w with hop h covers the events with
/// `floor((T - w) / h) * h <= event time <= T`. The hop defaults from the window
/// (``Aggregate/defaultHop(for:)``); pass `hop:` to choose another. The window must be a
/// whole number of hops. Feature names are
/// `<name>_<window>`, where `name` defaults to `<input>_<function>` (`count` when counting
/// events) and the window is written as in ``Aggregate/windowSuffix(_:)``.
public struct Aggregate: Sendable {
    public let function: AggregationFunction
    public let input: AggregationInput
    public let windows: [Duration]
    public let hop: Duration?
    public let name: String?
    /// What the features mean, who owns them, and labels for the catalog (every window's
    /// feature gets them): not part of the fingerprint.
    public let metadata: FeatureMetadata

    /// Counts events.
    public init(
        _ function: AggregationFunction, windows: Duration..., hop: Duration? = nil, name: String? = nil, description: String = "",
        owner: String = "", tags: [String: String] = [:]
    ) {
        self.init(
            function, input: .events, windows: windows, hop: hop, name: name,
            metadata: FeatureMetadata(description: description, owner: owner, tags: tags))
    }

    /// Aggregates a source column.
    public init<T: ColumnValue>(
        _ function: AggregationFunction, of column: Column<T>, windows: Duration..., hop: Duration? = nil, name: String? = nil,
        description: String = "", owner: String = "", tags: [String: String] = [:]
    ) {
        self.init(
            function, input: .column(column.spec), windows: windows, hop: hop, name: name,
            metadata: FeatureMetadata(description: description, owner: owner, tags: tags))
    }

    /// Aggregates a row feature of the same view: the output of its transformation.
    public init(
        _ function: AggregationFunction, of feature: String, windows: Duration..., hop: Duration? = nil, name: String? = nil,
        description: String = "", owner: String = "", tags: [String: String] = [:]
    ) {
        self.init(
            function, input: .feature(feature), windows: windows, hop: hop, name: name,
            metadata: FeatureMetadata(description: description, owner: owner, tags: tags))
    }

    init(
        _ function: AggregationFunction, input: AggregationInput, windows: [Duration], hop: Duration?, name: String?,
        metadata: FeatureMetadata = FeatureMetadata()
    ) {
        self.function = function
        self.input = input
        self.windows = windows
        self.hop = hop
        self.name = name
        self.metadata = metadata
    }

    /// 5 minutes for windows under 12 hours, 1 hour under 12 days, 1 day beyond; never more
    /// than the window itself (a 90-second window hops by 90 seconds).
    public static func defaultHop(for window: Duration) -> Duration {
        if window < .hours(12) { return window > .zero ? min(.minutes(5), window) : .minutes(5) }
        if window < .days(12) { return .hours(1) }
        return .days(1)
    }

    /// `30s`, `15m`, `1h`, `24h`, `7d`: days only from 2 days on (so a day reads `24h`), and
    /// otherwise the largest unit that divides the window. Odd windows fall back to
    /// seconds (`5400s`) or microseconds (`1500us`).
    public static func windowSuffix(_ window: Duration) -> String {
        let us = window.microseconds
        let second: Int64 = 1_000_000
        let units: [(String, Int64)] = [("d", 86_400 * second), ("h", 3_600 * second), ("m", 60 * second), ("s", second)]
        for (unit, size) in units where us % size == 0 && (unit != "d" || us >= 2 * size) {
            return "\(us / size)\(unit)"
        }
        return "\(us)us"
    }
}

/// One aggregation feature of a view: one function over one window, with its hop and output
/// type resolved. Views hold these; ``Aggregate`` declares them.
public struct Aggregation: Sendable, Hashable {
    public let name: String
    public let function: AggregationFunction
    public let input: AggregationInput
    /// The type of the input values (`nil` when counting events or when the input feature
    /// does not exist; validation reports the latter).
    public let inputType: ValueType?
    /// Microseconds.
    public let window: Int64
    /// Microseconds.
    public let hop: Int64
    /// `nil` when the function does not apply to the input type (validation reports it).
    public let outputType: ValueType?
    /// The declaration's description, owner and tags.
    public let metadata: FeatureMetadata

    public init(
        name: String, function: AggregationFunction, input: AggregationInput, inputType: ValueType?, window: Int64, hop: Int64,
        metadata: FeatureMetadata = FeatureMetadata()
    ) {
        self.name = name
        self.function = function
        self.input = input
        self.inputType = inputType
        self.window = window
        self.hop = hop
        self.outputType = function.outputType(input: input == .events ? nil : inputType)
        self.metadata = metadata
    }

    /// The type reported for the feature: the output type, or the input's when invalid.
    public var type: ValueType { outputType ?? inputType ?? .int64 }

    /// Expands declarations into one aggregation per window, resolving feature inputs
    /// against the view's row features.
    static func expand(_ declarations: [Aggregate], features: [Feature]) -> [Aggregation] {
        declarations.flatMap { declaration in
            let inputType: ValueType? =
                switch declaration.input {
                case .events: nil
                case .column(let c): c.type
                case .feature(let name): features.first { $0.name == name }?.type
                }
            let prefix =
                declaration.name
                ?? (declaration.input == .events
                    ? declaration.function.nameComponent
                    : "\(declaration.input.nameComponent)_\(declaration.function.nameComponent)")
            return declaration.windows.map { window in
                Aggregation(
                    name: "\(prefix)_\(Aggregate.windowSuffix(window))", function: declaration.function, input: declaration.input,
                    inputType: inputType, window: window.microseconds,
                    hop: (declaration.hop ?? Aggregate.defaultHop(for: window)).microseconds, metadata: declaration.metadata)
            }
        }
    }
}

/// The window rule, the one place both sides take it from.
public enum WindowRule {
    /// Floor division (rounds toward negative infinity, unlike `/`).
    @inline(__always)
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// The start of the hop containing `t`.
    @inline(__always)
    public static func hopStart(_ t: Int64, hop: Int64) -> Int64 { floorDiv(t, hop) * hop }

    /// The first event time in the window at instant `t`: `floor((t - window) / hop) * hop`.
    /// The window covers the events with `start <= event time <= t`.
    @inline(__always)
    public static func windowStart(at t: Int64, window: Int64, hop: Int64) -> Int64 {
        floorDiv(t - window, hop) * hop
    }
}

/// A feature's description, owner and tags, for the catalog: never part of a fingerprint.
public struct FeatureMetadata: Sendable, Hashable {
    public var description: String
    public var owner: String
    public var tags: [String: String]

    public init(description: String = "", owner: String = "", tags: [String: String] = [:]) {
        self.description = description
        self.owner = owner
        self.tags = tags
    }
}
