import LarderCore

/// Any JSON value, with the distinctions the API needs: integers apart from doubles,
/// booleans apart from numbers. Parsed by ``JSONParser``.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The scalar as a ``Value`` (arrays and objects are not scalars).
    var scalar: Value? {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .int(let i): .int64(i)
        case .double(let d): .double(d)
        case .string(let s): .string(s)
        case .array, .object: nil
        }
    }

    /// A short name of the JSON type, for error messages.
    var typeName: String {
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
}

extension JSONValue {
    /// The members of an object body, or a 400.
    func object(_ what: String) throws -> [String: JSONValue] {
        guard case .object(let o) = self else { throw APIError.badRequest("\(what) must be a JSON object, got \(typeName)") }
        return o
    }

    func array(_ what: String) throws -> [JSONValue] {
        guard case .array(let a) = self else { throw APIError.badRequest("\(what) must be an array, got \(typeName)") }
        return a
    }

    func string(_ what: String) throws -> String {
        guard case .string(let s) = self else { throw APIError.badRequest("\(what) must be a string, got \(typeName)") }
        return s
    }

    func bool(_ what: String) throws -> Bool {
        guard case .bool(let b) = self else { throw APIError.badRequest("\(what) must be true or false, got \(typeName)") }
        return b
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Refuses keys outside `allowed`, naming them.
    func only(_ allowed: [String], in what: String) throws {
        for key in keys.sorted() where !allowed.contains(key) {
            throw APIError.badRequest("unknown key '\(key)' in \(what); expected \(allowed.joined(separator: ", "))")
        }
    }
}
