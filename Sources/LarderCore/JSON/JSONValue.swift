/// A JSON value with the distinctions Larder needs: integers apart from doubles, booleans
/// apart from numbers, object members in the order written.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The scalar as a ``Value`` (nil for arrays and objects).
    public var scalar: Value? {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .int(let i): .int64(i)
        case .double(let d): .double(d)
        case .string(let s): .string(s)
        case .array, .object: nil
        }
    }

    /// `a string`, `an integer`, ...: for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// A scalar as plain text (strings unquoted), for messages and CSV cells.
    public var text: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): d.description
        case .string(let s): s
        case .array: "[...]"
        case .object: "{...}"
        }
    }
}

/// One member of a JSON object.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}
