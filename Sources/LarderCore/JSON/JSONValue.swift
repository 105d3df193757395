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

/// Why a JSON value does not fit a declared type.
public enum JSONTypeError: Error, Sendable {
    /// Another JSON type than the declared one accepts (see ``ValueType/expectedJSON``).
    case mismatch
    /// A string that is not an RFC 3339 timestamp.
    case timestamp(TimestampSyntaxError)
}

extension JSONValue {
    /// The value for a declared type, by the one rule every JSON input follows (JSON Lines
    /// ingest and request files, the service's keys, request fields and pushes): an integer
    /// for int64; an integer or a number for double; a string for string; true or false for
    /// bool; an RFC 3339 string for timestamp; null for any type (nullability is the caller's
    /// check). Doubles come out canonical (`-0.0` as `+0.0`, see ``Swift/Double/canonical``).
    public func value(as type: ValueType) throws(JSONTypeError) -> Value {
        try exactValue(as: type).canonical
    }

    /// ``value(as:)`` without making doubles canonical: for reading back what Larder wrote
    /// (a training set's output, the serving log), where a `-0.0` is a finding to report.
    public func exactValue(as type: ValueType) throws(JSONTypeError) -> Value {
        switch (self, type) {
        case (.null, _): return .null
        case (.int(let i), .int64): return .int64(i)
        case (.int(let i), .double): return .double(Double(i))
        case (.double(let d), .double): return .double(d)
        case (.string(let s), .string): return .string(s)
        case (.bool(let b), .bool): return .bool(b)
        case (.string(let s), .timestamp):
            do { return .timestamp(try Timestamp(rfc3339: s)) } catch { throw .timestamp(error) }
        default: throw .mismatch
        }
    }
}

extension ValueType {
    /// What JSON a value of this type is written as, for error messages.
    public var expectedJSON: String {
        switch self {
        case .int64: "an integer within 64 bits"
        case .double: "a number"
        case .bool: "true or false"
        case .string: "a string"
        case .timestamp: "an RFC 3339 string"
        case .int64List, .doubleList, .stringList, .boolList, .timestampList: "an array"
        }
    }
}
