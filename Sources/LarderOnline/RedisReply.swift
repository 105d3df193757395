import CHiredis

/// A reply from Redis, copied out of hiredis so it outlives `freeReplyObject`.
///
/// Bulk strings are raw bytes (Redis values are binary); use ``stringValue`` to decode UTF-8.
public enum RedisReply: Sendable, Hashable, CustomStringConvertible {
    /// A simple string such as `OK` or `PONG`.
    case status(String)
    /// An error reply such as `ERR unknown command` or `NOSCRIPT ...`.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string: binary-safe bytes, possibly empty.
    case bulk([UInt8])
    /// A nil bulk string or nil array (missing key, BLPOP timeout).
    case null
    /// An array reply, possibly nested.
    case array([RedisReply])

    /// Copies a hiredis reply tree. Strings are copied by length, never as C strings, so
    /// values containing NUL bytes survive.
    init(copying reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.bytes(r), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(r), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_STRING:
            self = .bulk(Self.bytes(r))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            self = .array(Self.elements(r))
        default:
            // hiredis 1.x adds RESP3 types (double, bool, map, set, push, ...). Larder never
            // sends HELLO 3, but map anything new onto the closest RESP2 shape instead of
            // trapping: aggregates to arrays, anything with text to bulk, the rest to integer.
            if r.element != nil {
                self = .array(Self.elements(r))
            } else if r.str != nil {
                self = .bulk(Self.bytes(r))
            } else {
                self = .integer(Int64(r.integer))
            }
        }
    }

    private static func bytes(_ r: redisReply) -> [UInt8] {
        guard let str = r.str, r.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: str, count: r.len))
    }

    private static func elements(_ r: redisReply) -> [RedisReply] {
        guard let element = r.element else { return [] }
        var result: [RedisReply] = []
        result.reserveCapacity(r.elements)
        for i in 0..<r.elements {
            if let child = element[i] {
                result.append(RedisReply(copying: child))
            } else {
                result.append(.null)
            }
        }
        return result
    }

    // MARK: - Accessors

    /// The bytes of a bulk or status reply.
    public var bytesValue: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// A bulk or status reply decoded as UTF-8 (invalid sequences become U+FFFD).
    public var stringValue: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }

    /// The value of an integer reply.
    public var intValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of an array reply.
    public var arrayValue: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The message of an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// Whether this is a nil reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .status(let text): return "+\(text)"
        case .error(let message): return "-\(message)"
        case .integer(let value): return ":\(value)"
        case .bulk(let bytes):
            let text = String(decoding: bytes, as: UTF8.self)
            return Array(text.utf8) == bytes ? "\"\(text)\"" : "<\(bytes.count) bytes>"
        case .null: return "(nil)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
