import LarderCore

extension JSONValue {
    var isObject: Bool { if case .object = self { true } else { false } }

    /// The members of an object by key (the parser refused duplicate keys), or a 400.
    func object(_ what: String) throws -> [String: JSONValue] {
        guard case .object(let members) = self else { throw APIError.badRequest("\(what) must be a JSON object, got \(typeName)") }
        return Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
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
