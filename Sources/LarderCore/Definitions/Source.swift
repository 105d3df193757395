/// An append-only table of events in the offline store: entity key columns, an event
/// timestamp, an optional created timestamp, and typed columns.
///
/// Rows arrive with `larder ingest SOURCE FILE` (or by push through the service). The event
/// timestamp says when the values became true; the created timestamp, when the row was
/// written; ties on event time are broken by created time, then by ingest order.
public struct Source: Sendable {
    public let name: String
    public let eventTimestamp: String
    public let createdTimestamp: String?
    /// The columns other than the timestamps, join keys included, in file order.
    public let columns: [ColumnSpec]
    public let description: String
    public let owner: String
    public let tags: [String: String]

    public init(
        _ name: String,
        eventTimestamp: String = "event_timestamp",
        createdTimestamp: String? = nil,
        columns: [any ColumnDeclaration],
        description: String = "",
        owner: String = "",
        tags: [String: String] = [:]
    ) {
        self.name = name
        self.eventTimestamp = eventTimestamp
        self.createdTimestamp = createdTimestamp
        self.columns = columns.map(\.spec)
        self.description = description
        self.owner = owner
        self.tags = tags
    }

    /// The column named `name`, if the source has one (timestamps excluded).
    public func column(named name: String) -> ColumnSpec? { columns.first { $0.name == name } }
}
