/// A thing features describe, identified by one or more typed join keys.
///
/// ```swift
/// let driverID = Column<Int64>("driver_id")
/// let driver = Entity("driver", joinKeys: [driverID], description: "A driver")
/// ```
public struct Entity: Sendable {
    public let name: String
    public let joinKeys: [ColumnSpec]
    public let description: String
    public let owner: String
    public let tags: [String: String]

    public init(
        _ name: String,
        joinKeys: [any ColumnDeclaration],
        description: String = "",
        owner: String = "",
        tags: [String: String] = [:]
    ) {
        self.name = name
        self.joinKeys = joinKeys.map(\.spec)
        self.description = description
        self.owner = owner
        self.tags = tags
    }
}
