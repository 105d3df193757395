/// The name, type and nullability of a column, join key, request field or feature input.
public struct ColumnSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String
    public var type: ValueType
    public var nullable: Bool

    public init(name: String, type: ValueType, nullable: Bool = false) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }

    /// `conv_rate: double` or `note: string?`.
    public var description: String { "\(name): \(type)\(nullable ? "?" : "")" }
}

/// Anything that declares a column of a source or a join key of an entity.
public protocol ColumnDeclaration: Sendable {
    var spec: ColumnSpec { get }
}

/// A typed column of a source. The Swift type is the stored type; an `Optional` makes the
/// column nullable:
///
/// ```swift
/// let fare = Column<Double>("fare")
/// let promoCode = Column<String?>("promo_code")
/// ```
///
/// Transformations name the columns they read with these handles, so the compiler checks
/// the closure's types and `larder apply` checks that the source has those columns.
public struct Column<T: ColumnValue>: ColumnDeclaration, TransformationInput {
    public typealias Value = T
    public let name: String

    public init(_ name: String) { self.name = name }

    public var spec: ColumnSpec { ColumnSpec(name: name, type: T.valueType, nullable: T.isNullable) }
    public var input: InputSpec { InputSpec(key: name, type: T.valueType, nullable: T.isNullable) }
}
