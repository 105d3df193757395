/// The events of one entity, in ``EventOrder``, with the input values the aggregations read.
public struct KeyEvents: Sendable {
    public private(set) var orders: [EventOrder] = []
    /// `inputs[slot][event]`, slots as in ``TileLayout/inputs``.
    public private(set) var inputs: [[Value]]

    public init(inputCount: Int) { inputs = Array(repeating: [], count: inputCount) }

    public var count: Int { orders.count }

    /// Appends an event; events must come in ``EventOrder``.
    public mutating func append(order: EventOrder, inputs values: [Value]) {
        orders.append(order)
        for (slot, v) in values.enumerated() { inputs[slot].append(v) }
    }

    public mutating func removeAll() {
        orders.removeAll(keepingCapacity: true)
        for slot in inputs.indices { inputs[slot].removeAll(keepingCapacity: true) }
    }
}

/// Aggregation values of one entity at increasing instants, from its events in time order:
/// each window slides forward, adding the events that enter and removing the ones that
/// leave, so a key's requests cost O(events + requests) in all, not a rescan per request.
///
/// Sums, means and counts keep the same ``AggregationState`` as tiles (exact sums can
/// subtract); min and max keep a monotonic deque; `last(n)` reads the newest events in the
/// window; `distinctCount` keeps counts per value. Values come out through
/// ``Aggregation/result(of:)``, the finalization online lookups use.
public struct WindowSweep {
    private struct Window {
        var first = 0  // first event in the window
        var end = 0  // one past the last event in the window
        var state: AggregationState
        var deque: [Int] = []  // min/max: event indexes, values monotonic from `head`
        var head = 0
        var distinct: [Value: Int] = [:]
    }

    public let layout: TileLayout
    private var windows: [Window]
    private var events = KeyEvents(inputCount: 0)
    private var last = Int64.min

    public init(layout: TileLayout) {
        self.layout = layout
        windows = layout.aggregations.map { Window(state: $0.emptyState()) }
    }

    /// Starts over with another entity's events.
    public mutating func reset(_ events: KeyEvents) {
        self.events = events
        windows = layout.aggregations.map { Window(state: $0.emptyState()) }
        last = .min
    }

    /// The value of every aggregation at instant `t`, in ``TileLayout/aggregations`` order.
    /// Instants must not decrease between resets.
    public mutating func values(at t: Int64) -> [Value] {
        precondition(t >= last, "WindowSweep instants must not decrease")
        last = t
        var out: [Value] = []
        out.reserveCapacity(windows.count)
        for a in windows.indices {
            let aggregation = layout.aggregations[a]
            let slot = layout.inputSlots[a]
            let start = WindowRule.windowStart(at: t, window: aggregation.window, hop: aggregation.hop)
            // Static helpers, given `events`: a method call on `self` while `windows[a]` is
            // borrowed would copy `self` and then the whole windows array on every write.
            while windows[a].end < events.count && events.orders[windows[a].end].eventTime <= t {
                Self.enter(windows[a].end, aggregation, slot, &windows[a], events)
                windows[a].end += 1
            }
            while windows[a].first < windows[a].end && events.orders[windows[a].first].eventTime < start {
                Self.leave(windows[a].first, aggregation, slot, &windows[a], events)
                windows[a].first += 1
            }
            out.append(Self.result(aggregation, slot, windows[a], events))
        }
        return out
    }

    @inline(__always)
    private static func input(_ slot: Int, _ i: Int, _ events: KeyEvents) -> Value {
        slot < 0 ? .null : events.inputs[slot][i]
    }

    private static func enter(_ i: Int, _ aggregation: Aggregation, _ slot: Int, _ w: inout Window, _ events: KeyEvents) {
        let value = input(slot, i, events)
        switch aggregation.function {
        case .count, .sum, .mean:
            aggregation.add(value, order: events.orders[i], to: &w.state)
        case .min, .max:
            guard !value.isNull else { return }
            // Drop the values this one makes irrelevant: larger ones for min, smaller for max.
            while w.deque.count > w.head {
                let back = input(slot, w.deque[w.deque.count - 1], events)
                let dominated =
                    aggregation.function == .min ? !Aggregation.precedes(back, value) : !Aggregation.precedes(value, back)
                guard dominated else { break }
                w.deque.removeLast()
            }
            w.deque.append(i)
        case .last:
            break  // read from the event array
        case .distinctCount:
            if !value.isNull { w.distinct[Aggregation.distinctKey(value), default: 0] += 1 }
        }
    }

    private static func leave(_ i: Int, _ aggregation: Aggregation, _ slot: Int, _ w: inout Window, _ events: KeyEvents) {
        let value = input(slot, i, events)
        switch aggregation.function {
        case .count:
            if aggregation.input == .events || !value.isNull { w.state.count -= 1 }
        case .sum, .mean:
            guard !value.isNull else { return }
            w.state.count -= 1
            switch value {
            case .int64(let v): w.state.intSum -= Int128(v)
            case .double(let v): w.state.doubleSum!.subtract(v)
            default: break
            }
        case .min, .max:
            if w.head < w.deque.count && w.deque[w.head] == i { w.head += 1 }
            if w.head > 1024 && w.head * 2 > w.deque.count {
                w.deque.removeFirst(w.head)
                w.head = 0
            }
        case .last:
            break
        case .distinctCount:
            guard !value.isNull else { return }
            let key = Aggregation.distinctKey(value)
            let n = w.distinct[key]! - 1
            w.distinct[key] = n == 0 ? nil : n
        }
    }

    private static func result(_ aggregation: Aggregation, _ slot: Int, _ w: Window, _ events: KeyEvents) -> Value {
        switch aggregation.function {
        case .count, .sum, .mean:
            return aggregation.result(of: w.state)
        case .min, .max:
            var state = aggregation.emptyState()
            if w.head < w.deque.count { state.extreme = input(slot, w.deque[w.head], events) }
            return aggregation.result(of: state)
        case .last(let n):
            var state = aggregation.emptyState()
            var i = w.end - 1
            while i >= w.first && state.recent.count < n {
                let value = input(slot, i, events)
                if !value.isNull { state.recent.append(RecentValue(order: events.orders[i], value: value)) }
                i -= 1
            }
            state.recent.reverse()
            return aggregation.result(of: state)
        case .distinctCount:
            // What `result(of:)` gives for a set of this many values.
            return .int64(Int64(w.distinct.count))
        }
    }
}
