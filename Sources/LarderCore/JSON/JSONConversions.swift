// Conversions between ``Value`` and ``JSONValue``, and JSON text for a ``JSONValue``: what the
// serving log stores and reads back. Foundation's JSONSerialization is avoided on purpose: on
// Linux it misrounds some doubles, and a logged value must read back to the same bits.

extension JSONValue {
    /// The JSON form of a value, as the service writes it in a response: integers, numbers,
    /// booleans and strings as themselves, timestamps as RFC 3339 UTC strings, lists as
    /// arrays, and non-finite doubles as null (JSON has no NaN or infinity).
    public init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .int64(let v): self = .int(v)
        case .double(let v): self = v.isFinite ? .double(v) : .null
        case .bool(let v): self = .bool(v)
        case .string(let s): self = .string(s)
        case .timestamp(let t): self = .string(t.description)
        case .list(let items): self = .array(items.map(JSONValue.init))
        }
    }

    /// The value this JSON stands for when no declared type is at hand: integers as int64,
    /// numbers as double, arrays as lists, and an object as its JSON text (a string).
    /// Timestamps stay strings: their text is what a table writes for them anyway.
    public var untypedValue: Value {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int64(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .array(let items): return .list(items.map(\.untypedValue))
        case .object:
            var bytes: [UInt8] = []
            JSONText.appendJSON(self, to: &bytes)
            return .string(String(decoding: bytes, as: UTF8.self))
        }
    }
}

extension JSONText {
    /// Any JSON value as compact JSON text, object members in their order. Doubles are
    /// written in shortest round-trip form, so ``JSONParser`` reads back the same bits;
    /// a non-finite double (which a ``JSONValue`` should not hold) is written as null.
    public static func appendJSON(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .int(let i): appendInteger(i, to: &out)
        case .double(let d): if d.isFinite { out += d.description.utf8 } else { out += "null".utf8 }
        case .string(let s): appendString(s, to: &out)
        case .array(let items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                appendJSON(item, to: &out)
            }
            out.append(0x5D)
        case .object(let members):
            out.append(0x7B)
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(0x2C) }
                appendString(member.key, to: &out)
                out.append(0x3A)
                appendJSON(member.value, to: &out)
            }
            out.append(0x7D)
        }
    }
}
