/// The type of a column, a join key, a request field or a feature.
public enum ValueType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case int64
    case double
    case string
    case bool
    /// An instant, stored as Int64 microseconds since the Unix epoch (UTC).
    case timestamp
    /// Lists are the output of `last(n)` aggregations only: no column, key or request
    /// field has a list type.
    case int64List = "list<int64>"
    case doubleList = "list<double>"
    case stringList = "list<string>"
    case boolList = "list<bool>"
    case timestampList = "list<timestamp>"

    public var description: String { rawValue }

    /// The scalar types: what a column, a join key or a request field can be.
    public static let scalars: [ValueType] = [.int64, .double, .string, .bool, .timestamp]

    /// The type of the elements, for a list type.
    public var element: ValueType? {
        switch self {
        case .int64List: .int64
        case .doubleList: .double
        case .stringList: .string
        case .boolList: .bool
        case .timestampList: .timestamp
        case .int64, .double, .string, .bool, .timestamp: nil
        }
    }

    /// The list type of this scalar type (a list type is its own list type).
    public var list: ValueType {
        switch self {
        case .int64: .int64List
        case .double: .doubleList
        case .string: .stringList
        case .bool: .boolList
        case .timestamp: .timestampList
        case .int64List, .doubleList, .stringList, .boolList, .timestampList: self
        }
    }
}

/// One value of a row or a feature. `null` stands for a missing value of any type.
public enum Value: Sendable, Hashable {
    case null
    case int64(Int64)
    case double(Double)
    case string(String)
    case bool(Bool)
    case timestamp(Timestamp)
    /// Values of one scalar type, oldest first (the output of `last(n)`).
    case list([Value])

    /// The type of the value, or `nil` for `null`.
    public var type: ValueType? {
        switch self {
        case .null: nil
        case .int64: .int64
        case .double: .double
        case .string: .string
        case .bool: .bool
        case .timestamp: .timestamp
        case .list(let items): items.first?.type?.list
        }
    }

    public var isNull: Bool { if case .null = self { true } else { false } }

    /// The value with its doubles in canonical form (see ``Swift/Double/canonical``): what
    /// every path that brings a value in (files, JSON, transformations) stores and serves.
    @inline(__always)
    public var canonical: Value {
        switch self {
        case .double(let v): .double(v.canonical)
        case .list(let items):
            items.contains(where: { if case .double(let v) = $0 { v == 0 && v.sign == .minus } else { false } })
                ? .list(items.map(\.canonical)) : self
        case .null, .int64, .string, .bool, .timestamp: self
        }
    }
}

extension Double {
    /// `+0.0` for `-0.0`, the double itself otherwise. SQLite stores `-0.0` as `+0.0` while
    /// Redis keeps the sign, so values are made canonical where they enter (field parsing,
    /// JSON conversion, transformation outputs) and both stores hold the same bits.
    @inline(__always)
    public var canonical: Double { self == 0 ? 0 : self }
}

extension Value: CustomStringConvertible {
    /// A plain rendering: doubles in shortest round-trip form, timestamps in RFC 3339 UTC.
    public var description: String {
        switch self {
        case .null: "null"
        case .int64(let v): String(v)
        case .double(let v): String(v)
        case .string(let v): v
        case .bool(let v): v ? "true" : "false"
        case .timestamp(let v): v.description
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// A Swift type that can be stored in a column: `Int64`, `Double`, `String`, `Bool`,
/// `Timestamp`, or an `Optional` of one of them for a nullable column.
///
/// The conformances are closed: the definitions DSL uses this protocol to tie a column's
/// Swift type to its stored ``ValueType``, so that transformations are type-checked by the
/// compiler and validated against the source schema when applied.
public protocol ColumnValue: Sendable, SendableMetatype {
    /// The stored type.
    static var valueType: ValueType { get }
    /// Whether `null` is a valid value (true only for `Optional`).
    static var isNullable: Bool { get }
    /// The Swift value for a stored value; `nil` when the value is null (for a non-optional
    /// type) or of another type.
    init?(value: Value)
    /// The stored value.
    var value: Value { get }
}

extension ColumnValue {
    public static var isNullable: Bool { false }
}

extension Int64: ColumnValue {
    public static var valueType: ValueType { .int64 }
    public init?(value: Value) {
        guard case .int64(let v) = value else { return nil }
        self = v
    }
    public var value: Value { .int64(self) }
}

extension Double: ColumnValue {
    public static var valueType: ValueType { .double }
    public init?(value: Value) {
        guard case .double(let v) = value else { return nil }
        self = v
    }
    public var value: Value { .double(self) }
}

extension String: ColumnValue {
    public static var valueType: ValueType { .string }
    public init?(value: Value) {
        guard case .string(let v) = value else { return nil }
        self = v
    }
    public var value: Value { .string(self) }
}

extension Bool: ColumnValue {
    public static var valueType: ValueType { .bool }
    public init?(value: Value) {
        guard case .bool(let v) = value else { return nil }
        self = v
    }
    public var value: Value { .bool(self) }
}

extension Timestamp: ColumnValue {
    public static var valueType: ValueType { .timestamp }
    public init?(value: Value) {
        guard case .timestamp(let v) = value else { return nil }
        self = v
    }
    public var value: Value { .timestamp(self) }
}

extension Optional: ColumnValue where Wrapped: ColumnValue {
    public static var valueType: ValueType { Wrapped.valueType }
    public static var isNullable: Bool { true }
    public init?(value: Value) {
        if case .null = value {
            self = .none
        } else if let wrapped = Wrapped(value: value) {
            self = .some(wrapped)
        } else {
            return nil
        }
    }
    public var value: Value { self?.value ?? .null }
}
