/// How a view's aggregations are kept as tiles: per-hop partial aggregates of one entity.
///
/// Aggregations with the same hop share a tile (one state per aggregation), so a view has
/// one tile group per distinct hop. A tile is identified by (entity, hop, hop start) and
/// holds the events with `hop start <= event time < hop start + hop`. Because every window is
/// a whole number of hops, the window at T is exactly the tiles from
/// `hopStart(T) - window` to `hopStart(T)`, merged; no event outside it is counted, and the
/// current tile holds the events up to T (Larder serves at "now", after every pushed event).
///
/// Materialization builds tiles offline (SQLite) and pushes them; a push through the service
/// adds its events to the current tiles online. Training sets do not read tiles: they run
/// ``WindowSweep`` over the raw events, and both sides finish with
/// ``Aggregation/result(of:)``.
public struct TileLayout: Sendable {
    /// The aggregations sharing one hop.
    public struct Group: Sendable {
        public let hop: Int64
        /// Indexes into ``TileLayout/aggregations``.
        public let members: [Int]
        /// The longest window among the members: how far back tiles are kept.
        public let span: Int64
    }

    public let aggregations: [Aggregation]
    public let groups: [Group]
    /// The distinct inputs the aggregations read (not `.events`), in first-use order.
    public let inputs: [AggregationInput]
    /// For each aggregation, its position in ``inputs``, or -1 when it counts events.
    public let inputSlots: [Int]

    public init(aggregations: [Aggregation]) {
        self.aggregations = aggregations
        var hops: [Int64] = []
        for a in aggregations where !hops.contains(a.hop) { hops.append(a.hop) }
        hops.sort()
        groups = hops.map { hop in
            let members = aggregations.indices.filter { aggregations[$0].hop == hop }
            return Group(hop: hop, members: members, span: members.map { aggregations[$0].window }.max()!)
        }
        var inputs: [AggregationInput] = []
        var slots: [Int] = []
        for a in aggregations {
            if a.input == .events {
                slots.append(-1)
            } else if let i = inputs.firstIndex(of: a.input) {
                slots.append(i)
            } else {
                slots.append(inputs.count)
                inputs.append(a.input)
            }
        }
        self.inputs = inputs
        self.inputSlots = slots
    }

    public var isEmpty: Bool { aggregations.isEmpty }

    /// The longest window of any aggregation.
    public var longestWindow: Int64 { groups.map(\.span).max() ?? 0 }

    /// A tile of group `g` without events.
    public func emptyTile(group g: Int) -> [AggregationState] {
        groups[g].members.map { aggregations[$0].emptyState() }
    }

    /// Adds one event to a tile of group `g`. `inputs` holds the event's input values in
    /// ``inputs`` order.
    @inline(__always)
    public func add(_ inputs: [Value], order: EventOrder, to tile: inout [AggregationState], group g: Int) {
        for (k, a) in groups[g].members.enumerated() {
            let slot = inputSlots[a]
            aggregations[a].add(slot < 0 ? .null : inputs[slot], order: order, to: &tile[k])
        }
    }

    /// Merges tile `other` into `tile` (both of group `g`).
    public func merge(_ other: [AggregationState], into tile: inout [AggregationState], group g: Int) {
        for (k, a) in groups[g].members.enumerated() { aggregations[a].merge(other[k], into: &tile[k]) }
    }

    /// The bytes of a tile of group `g`.
    public func encode(_ tile: [AggregationState], group g: Int) -> [UInt8] {
        var out: [UInt8] = []
        for (k, a) in groups[g].members.enumerated() { aggregations[a].encode(tile[k], to: &out) }
        return out
    }

    /// Reads a tile of group `g`.
    public func decode(_ bytes: ArraySlice<UInt8>, group g: Int) throws(TileDecodingError) -> [AggregationState] {
        var reader = BinaryReader(bytes)
        var tile: [AggregationState] = []
        tile.reserveCapacity(groups[g].members.count)
        for a in groups[g].members { tile.append(try aggregations[a].decodeState(&reader)) }
        guard reader.isAtEnd else { throw TileDecodingError("trailing bytes") }
        return tile
    }

    /// The oldest hop start of group `g` worth keeping when the newest tile starts at
    /// `newest`: no window at any instant from then on reaches further back.
    public func oldestKept(group g: Int, newest: Int64) -> Int64 { newest - groups[g].span }
}

/// The window rule over tiles at one instant: which tiles each aggregation's window holds,
/// and their merged value. Online lookups feed it the tiles of an entity's hash as they read
/// them (order does not matter: states are order-independent) and skip the tiles it says no
/// window wants without decoding them.
public struct WindowMerge {
    public let layout: TileLayout
    /// Per group: the start of the hop holding the instant, and the oldest hop any member's
    /// window reaches.
    private let current: [Int64]
    private let oldest: [Int64]
    /// Per aggregation: the first hop start its window holds.
    private let first: [Int64]
    private var states: [AggregationState]

    public init(layout: TileLayout, at t: Int64) {
        self.layout = layout
        current = layout.groups.map { WindowRule.hopStart(t, hop: $0.hop) }
        let first = layout.aggregations.map { WindowRule.windowStart(at: t, window: $0.window, hop: $0.hop) }
        self.first = first
        oldest = layout.groups.map { group in group.members.map { first[$0] }.min()! }
        states = layout.aggregations.map { $0.emptyState() }
    }

    /// Whether any window holds the tile of group `g` starting at `hopStart`.
    @inline(__always)
    public func wants(group g: Int, hopStart: Int64) -> Bool {
        hopStart <= current[g] && hopStart >= oldest[g]
    }

    /// Merges a tile of group `g` into the windows that hold it.
    public mutating func add(_ tile: [AggregationState], group g: Int, hopStart: Int64) {
        guard wants(group: g, hopStart: hopStart) else { return }
        for (k, a) in layout.groups[g].members.enumerated() where hopStart >= first[a] {
            layout.aggregations[a].merge(tile[k], into: &states[a])
        }
    }

    /// Merges an encoded tile (``TileLayout/encode(_:group:)``), decoding its states one by
    /// one straight into the windows: no tile array on a lookup's hot path.
    public mutating func add(encoded bytes: ArraySlice<UInt8>, group g: Int, hopStart: Int64) throws(TileDecodingError) {
        guard wants(group: g, hopStart: hopStart) else { return }
        var reader = BinaryReader(bytes)
        for a in layout.groups[g].members {
            let state = try layout.aggregations[a].decodeState(&reader)
            if hopStart >= first[a] { layout.aggregations[a].merge(state, into: &states[a]) }
        }
        guard reader.isAtEnd else { throw TileDecodingError("trailing bytes") }
    }

    /// The value of every aggregation, in ``TileLayout/aggregations`` order.
    public var values: [Value] { zip(layout.aggregations, states).map { $0.result(of: $1) } }
}

extension TileLayout {
    /// The layout of a subset of the aggregations (those named), in this layout's order.
    public func restricted(to names: Set<String>) -> TileLayout {
        TileLayout(aggregations: aggregations.filter { names.contains($0.name) })
    }
}

extension FeatureView {
    /// The tile layout of the view's aggregations.
    public var tileLayout: TileLayout { TileLayout(aggregations: aggregations) }
}

/// One encoded tile, as the offline store keeps it and pushes it online.
public struct StoredTile: Sendable, Hashable {
    /// Index into ``TileLayout/groups``.
    public var group: Int
    public var hopStart: Int64
    /// The largest ingest sequence among the tile's events.
    public var watermark: Int64
    /// ``TileLayout/encode(_:group:)``'s bytes.
    public var bytes: [UInt8]

    public init(group: Int, hopStart: Int64, watermark: Int64, bytes: [UInt8]) {
        self.group = group
        self.hopStart = hopStart
        self.watermark = watermark
        self.bytes = bytes
    }
}

/// One entity's stored aggregation tiles, as pushed to the online store.
public struct EntityTiles: Sendable {
    /// The entity's join key values, in the view's key order.
    public var keys: [Value]
    public var tiles: [StoredTile]

    public init(keys: [Value], tiles: [StoredTile]) {
        self.keys = keys
        self.tiles = tiles
    }
}
