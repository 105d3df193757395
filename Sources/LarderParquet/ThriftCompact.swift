// The Thrift compact protocol, as Parquet uses it for its footer and page headers.
// Parquet's metadata is Thrift structs; no Thrift library is among the available packages,
// and Parquet needs only the compact protocol, so this is a small reader and writer of it.

/// The wire types of the Thrift compact protocol.
///
/// A boolean has two wire types (1 = true, 2 = false) in a field header, where the value is
/// the type; both map to ``bool``.
public enum ThriftType: UInt8, Sendable, CustomStringConvertible {
    case bool = 1
    case byte = 3
    case i16 = 4
    case i32 = 5
    case i64 = 6
    case double = 7
    case binary = 8
    case list = 9
    case set = 10
    case map = 11
    case `struct` = 12
    case uuid = 13

    /// The type for a wire type nibble, or nil for a nibble no type has.
    init?(compactNibble nibble: UInt8) {
        if nibble == 2 {
            self = .bool
        } else {
            self.init(rawValue: nibble)
        }
    }

    public var description: String {
        switch self {
        case .bool: "bool"
        case .byte: "byte"
        case .i16: "i16"
        case .i32: "i32"
        case .i64: "i64"
        case .double: "double"
        case .binary: "binary"
        case .list: "list"
        case .set: "set"
        case .map: "map"
        case .struct: "struct"
        case .uuid: "uuid"
        }
    }
}

/// What is wrong with Thrift compact input, and where.
///
/// Malformed input never traps: every read checks its bounds and throws this error, which
/// names the byte offset (in the buffer given to the reader, so in the file when the reader
/// reads a file's bytes) and what was expected there.
public struct ThriftDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kind of defect, for callers and tests that branch on it.
    public enum Kind: Equatable, Sendable {
        /// The input ends before the value does.
        case truncated
        /// A varint runs longer than its type allows.
        case varintTooLong
        /// A length or element count reaches past the end of the input.
        case lengthPastEnd
        /// A byte that is no wire type.
        case invalidType
        /// A value out of range for its field (an i32 that needs 33 bits, a bool byte of 7).
        case invalidValue
        /// A struct ends without a field the format requires.
        case missingRequiredField
        /// Structs or containers nested deeper than ``ThriftCompactReader/maximumDepth``.
        case nestingTooDeep
    }

    /// What kind of defect this is.
    public let kind: Kind
    /// The byte offset in the reader's buffer where the defect was found.
    public let offset: Int
    /// What was expected at ``offset``, in words.
    public let expected: String

    /// An error of `kind` at byte `offset`, where `expected` was expected.
    public init(_ kind: Kind, offset: Int, expected: String) {
        self.kind = kind
        self.offset = offset
        self.expected = expected
    }

    public var description: String {
        let what: String
        switch kind {
        case .truncated: what = "input ends"
        case .varintTooLong: what = "varint too long"
        case .lengthPastEnd: what = "length past the end of the input"
        case .invalidType: what = "invalid type"
        case .invalidValue: what = "invalid value"
        case .missingRequiredField: what = "missing required field"
        case .nestingTooDeep: what = "nesting too deep"
        }
        return "Thrift compact input at byte \(offset): \(what); expected \(expected)"
    }
}

/// A field header read from a struct: its id and wire type.
public struct ThriftFieldHeader: Equatable, Sendable {
    /// The field id, absolute (the delta already applied).
    public let id: Int16
    /// The wire type; for a bool, the value waits for ``ThriftCompactReader/readBool()``.
    public let type: ThriftType
    /// The byte offset of the header, for errors about the field.
    public let offset: Int
}

/// Reads the Thrift compact protocol from a byte buffer.
///
/// Structs are read with ``beginStruct()``, ``readFieldHeader()`` until it returns nil (the
/// stop field), and ``endStruct()``; fields a caller does not know are passed to
/// ``skip(_:)``, so footers written by newer writers still read.
public struct ThriftCompactReader: Sendable {
    /// How deep structs and containers may nest; deeper input is rejected rather than
    /// recursed into, so a malicious footer cannot overflow the stack.
    public static let maximumDepth = 64

    /// The buffer read from (all of it, also when the reader reads a range).
    public let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var position: Int
    /// The offset just past the last byte this reader may read.
    public let end: Int

    // The compact protocol encodes field ids as deltas from the previous field of the same
    // struct, so each open struct keeps its last id.
    private var lastFieldID: Int16 = 0
    private var fieldIDStack: [Int16] = []
    // A bool field's value is in its header; it waits here for readBool().
    private var pendingBool: Bool?

    /// A reader of all of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.end = bytes.endIndex
    }

    /// A reader of `bytes[range]`; offsets in errors are offsets in `bytes`.
    ///
    /// Throws rather than traps when the range is not inside the buffer, because ranges
    /// come from offsets in a file (a page header at a column chunk's data page offset).
    public init(_ bytes: [UInt8], range: Range<Int>) throws(ThriftDecodingError) {
        guard range.lowerBound >= bytes.startIndex && range.upperBound <= bytes.endIndex else {
            throw ThriftDecodingError(
                .lengthPastEnd, offset: range.lowerBound,
                expected: "bytes \(range.lowerBound)..<\(range.upperBound) inside the \(bytes.count) of the input")
        }
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    /// The bytes left to read.
    public var remaining: Int { end - position }

    /// How deep the reader is in structs.
    public var depth: Int { fieldIDStack.count }

    // MARK: Structs

    /// Enters a struct: field ids inside it count from zero.
    public mutating func beginStruct() throws(ThriftDecodingError) {
        if fieldIDStack.count >= Self.maximumDepth {
            throw ThriftDecodingError(.nestingTooDeep, offset: position, expected: "at most \(Self.maximumDepth) nested structs")
        }
        fieldIDStack.append(lastFieldID)
        lastFieldID = 0
    }

    /// Leaves a struct after its stop field.
    public mutating func endStruct() {
        lastFieldID = fieldIDStack.popLast() ?? 0
    }

    /// Reads the next field header of the current struct, or nil for its stop field.
    public mutating func readFieldHeader() throws(ThriftDecodingError) -> ThriftFieldHeader? {
        let offset = position
        let byte = try readRawByte(expected: "a field header or stop")
        let nibble = byte & 0x0F
        if nibble == 0 { return nil }
        guard let type = ThriftType(compactNibble: nibble) else {
            throw ThriftDecodingError(.invalidType, offset: offset, expected: "a field type (1-13), found \(nibble)")
        }
        let delta = byte >> 4
        let id: Int16
        if delta == 0 {
            // The long form: the type byte, then the id as a zigzag varint.
            let value = try readZigZag(bits: 16, expected: "a field id")
            id = Int16(value)
        } else {
            let (sum, overflow) = lastFieldID.addingReportingOverflow(Int16(delta))
            if overflow {
                throw ThriftDecodingError(.invalidValue, offset: offset, expected: "a field id delta that stays within i16")
            }
            id = sum
        }
        lastFieldID = id
        // Set or cleared on every header, so a bool field left unread never becomes the
        // value of a later list element.
        pendingBool = type == .bool ? nibble == 1 : nil
        return ThriftFieldHeader(id: id, type: type, offset: offset)
    }

    // MARK: Scalars

    /// Reads a bool: a field's value from its header, or a list element's byte.
    public mutating func readBool() throws(ThriftDecodingError) -> Bool {
        if let value = pendingBool {
            pendingBool = nil
            return value
        }
        let offset = position
        let byte = try readRawByte(expected: "a bool")
        // 1 is true; 2 is false, and 0 from writers that write false as zero.
        switch byte {
        case 1: return true
        case 0, 2: return false
        default: throw ThriftDecodingError(.invalidValue, offset: offset, expected: "a bool byte (1 or 2), found \(byte)")
        }
    }

    /// Reads a byte (Thrift `i8`).
    public mutating func readByte() throws(ThriftDecodingError) -> Int8 {
        Int8(bitPattern: try readRawByte(expected: "a byte"))
    }

    /// Reads an i16: a zigzag varint of at most 3 bytes.
    public mutating func readI16() throws(ThriftDecodingError) -> Int16 {
        Int16(try readZigZag(bits: 16, expected: "an i16"))
    }

    /// Reads an i32: a zigzag varint of at most 5 bytes.
    public mutating func readI32() throws(ThriftDecodingError) -> Int32 {
        Int32(try readZigZag(bits: 32, expected: "an i32"))
    }

    /// Reads an i64: a zigzag varint of at most 10 bytes.
    public mutating func readI64() throws(ThriftDecodingError) -> Int64 {
        try readZigZag(bits: 64, expected: "an i64")
    }

    /// Reads a double: 8 bytes, little-endian.
    public mutating func readDouble() throws(ThriftDecodingError) -> Double {
        guard remaining >= 8 else {
            throw ThriftDecodingError(.truncated, offset: position, expected: "8 bytes of a double, \(remaining) left")
        }
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
        position += 8
        return Double(bitPattern: bits)
    }

    /// Reads a binary: a varint length, then that many bytes.
    public mutating func readBinary() throws(ThriftDecodingError) -> [UInt8] {
        let range = try readBinaryRange()
        return Array(bytes[range])
    }

    /// Reads a binary and returns where its bytes are, without copying them.
    public mutating func readBinaryRange() throws(ThriftDecodingError) -> Range<Int> {
        let offset = position
        let length = try readVarint(maximumBits: 32, expected: "a binary length")
        guard length <= UInt64(remaining) else {
            throw ThriftDecodingError(
                .lengthPastEnd, offset: offset, expected: "a binary length within the \(remaining) bytes left, found \(length)")
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// Reads a string: a binary that must be UTF-8.
    public mutating func readString() throws(ThriftDecodingError) -> String {
        let offset = position
        let range = try readBinaryRange()
        guard let string = String(validating: bytes[range], as: UTF8.self) else {
            throw ThriftDecodingError(.invalidValue, offset: offset, expected: "a UTF-8 string")
        }
        return string
    }

    /// Reads a UUID: 16 raw bytes.
    public mutating func readUUID() throws(ThriftDecodingError) -> [UInt8] {
        guard remaining >= 16 else {
            throw ThriftDecodingError(.truncated, offset: position, expected: "16 bytes of a uuid, \(remaining) left")
        }
        defer { position += 16 }
        return Array(bytes[position..<position + 16])
    }

    // MARK: Containers

    /// Reads a list header: the element type and count (short form: count < 15 in the
    /// header byte; long form: 15 there, then a varint count).
    public mutating func readListHeader() throws(ThriftDecodingError) -> (elementType: ThriftType, count: Int) {
        let offset = position
        let byte = try readRawByte(expected: "a list header")
        guard let type = ThriftType(compactNibble: byte & 0x0F) else {
            throw ThriftDecodingError(.invalidType, offset: offset, expected: "a list element type (1-13), found \(byte & 0x0F)")
        }
        var count = UInt64(byte >> 4)
        if count == 15 { count = try readVarint(maximumBits: 32, expected: "a list size") }
        // Every element takes at least one byte, so a count past the bytes left is
        // malformed; checking here also bounds what a caller reserves.
        guard count <= UInt64(remaining) else {
            throw ThriftDecodingError(
                .lengthPastEnd, offset: offset, expected: "a list of at most \(remaining) elements (the bytes left), found \(count)")
        }
        return (type, Int(count))
    }

    /// Reads a set header, which has the form of a list header.
    public mutating func readSetHeader() throws(ThriftDecodingError) -> (elementType: ThriftType, count: Int) {
        try readListHeader()
    }

    /// Reads a map header: a varint count, then (if the map is not empty) the key and value
    /// types in one byte.
    public mutating func readMapHeader() throws(ThriftDecodingError) -> (keyType: ThriftType, valueType: ThriftType, count: Int) {
        let offset = position
        let count = try readVarint(maximumBits: 32, expected: "a map size")
        if count == 0 { return (.byte, .byte, 0) }
        let typesOffset = position
        let types = try readRawByte(expected: "map key and value types")
        guard let key = ThriftType(compactNibble: types >> 4), let value = ThriftType(compactNibble: types & 0x0F) else {
            throw ThriftDecodingError(.invalidType, offset: typesOffset, expected: "map key and value types (1-13)")
        }
        guard count <= UInt64(remaining) else {
            throw ThriftDecodingError(
                .lengthPastEnd, offset: offset, expected: "a map of at most \(remaining) entries (the bytes left), found \(count)")
        }
        return (key, value, Int(count))
    }

    // MARK: Skipping

    /// Skips a value of `type`: what a reader does with a field it does not know.
    public mutating func skip(_ type: ThriftType) throws(ThriftDecodingError) {
        try skip(type, depth: 0)
    }

    private mutating func skip(_ type: ThriftType, depth: Int) throws(ThriftDecodingError) {
        if depth + fieldIDStack.count >= Self.maximumDepth {
            throw ThriftDecodingError(.nestingTooDeep, offset: position, expected: "at most \(Self.maximumDepth) nested values")
        }
        switch type {
        case .bool: _ = try readBool()
        case .byte: _ = try readRawByte(expected: "a byte")
        case .i16, .i32, .i64: _ = try readVarint(maximumBits: 64, expected: "a \(type) varint")
        case .double:
            guard remaining >= 8 else {
                throw ThriftDecodingError(.truncated, offset: position, expected: "8 bytes of a double, \(remaining) left")
            }
            position += 8
        case .binary: _ = try readBinaryRange()
        case .uuid: _ = try readUUID()
        case .list, .set:
            let (elementType, count) = try readListHeader()
            for _ in 0..<count { try skip(elementType, depth: depth + 1) }
        case .map:
            let (keyType, valueType, count) = try readMapHeader()
            for _ in 0..<count {
                try skip(keyType, depth: depth + 1)
                try skip(valueType, depth: depth + 1)
            }
        case .struct:
            try beginStruct()
            while let field = try readFieldHeader() { try skip(field.type, depth: depth + 1) }
            endStruct()
        }
    }

    // MARK: Primitives

    private mutating func readRawByte(expected: String) throws(ThriftDecodingError) -> UInt8 {
        guard position < end else { throw ThriftDecodingError(.truncated, offset: position, expected: expected) }
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads an unsigned LEB128 varint of at most `maximumBits` bits.
    private mutating func readVarint(maximumBits: Int, expected: String) throws(ThriftDecodingError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else {
                throw ThriftDecodingError(.truncated, offset: position, expected: "the rest of \(expected) (a varint from byte \(start))")
            }
            let byte = bytes[position]
            position += 1
            // The last byte a type allows may carry only the bits that remain.
            if shift + 7 > UInt64(maximumBits) && UInt64(byte & 0x7F) >> (UInt64(maximumBits) - shift) != 0 {
                throw ThriftDecodingError(.varintTooLong, offset: start, expected: "\(expected) of at most \(maximumBits) bits")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift >= UInt64(maximumBits) {
                throw ThriftDecodingError(.varintTooLong, offset: start, expected: "\(expected) of at most \(maximumBits) bits")
            }
        }
    }

    /// Reads a zigzag varint of a signed type of `bits` bits.
    private mutating func readZigZag(bits: Int, expected: String) throws(ThriftDecodingError) -> Int64 {
        let raw = try readVarint(maximumBits: bits, expected: expected)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }
}

/// Writes the Thrift compact protocol into a byte array.
///
/// Structs are written with ``beginStruct()``, field headers and values, and ``endStruct()``
/// (which writes the stop field); bool fields go through ``writeBoolField(_:_:)`` because
/// their value is their header.
public struct ThriftCompactWriter: Sendable {
    /// What has been written.
    public private(set) var bytes: [UInt8] = []

    private var lastFieldID: Int16 = 0
    private var fieldIDStack: [Int16] = []

    /// An empty writer.
    public init() {}

    // MARK: Structs

    /// Enters a struct: field ids inside it count from zero.
    public mutating func beginStruct() {
        fieldIDStack.append(lastFieldID)
        lastFieldID = 0
    }

    /// Writes the stop field and leaves the struct.
    public mutating func endStruct() {
        bytes.append(0)
        lastFieldID = fieldIDStack.popLast() ?? 0
    }

    /// Writes a field header: the short form when the id is 1-15 past the previous field's,
    /// the long form (type byte, zigzag id) otherwise.
    public mutating func writeFieldHeader(_ id: Int16, _ type: ThriftType) {
        writeFieldHeader(id, nibble: type.rawValue)
    }

    private mutating func writeFieldHeader(_ id: Int16, nibble: UInt8) {
        let delta = Int(id) - Int(lastFieldID)
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | nibble)
        } else {
            bytes.append(nibble)
            writeZigZag(Int64(id))
        }
        lastFieldID = id
    }

    /// Writes a bool field, whose value is the type in its header.
    public mutating func writeBoolField(_ id: Int16, _ value: Bool) {
        writeFieldHeader(id, nibble: value ? 1 : 2)
    }

    // MARK: Scalars

    /// Writes a bool as a list element (one byte; a field uses ``writeBoolField(_:_:)``).
    public mutating func writeBool(_ value: Bool) { bytes.append(value ? 1 : 2) }

    /// Writes a byte (Thrift `i8`).
    public mutating func writeByte(_ value: Int8) { bytes.append(UInt8(bitPattern: value)) }

    /// Writes an i16 as a zigzag varint.
    public mutating func writeI16(_ value: Int16) { writeZigZag(Int64(value)) }

    /// Writes an i32 as a zigzag varint.
    public mutating func writeI32(_ value: Int32) { writeZigZag(Int64(value)) }

    /// Writes an i64 as a zigzag varint.
    public mutating func writeI64(_ value: Int64) { writeZigZag(value) }

    /// Writes a double: 8 bytes, little-endian.
    public mutating func writeDouble(_ value: Double) {
        let bits = value.bitPattern
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(index)))) }
    }

    /// Writes a binary: a varint length, then the bytes.
    public mutating func writeBinary(_ value: some Collection<UInt8>) {
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a string as a binary of its UTF-8 bytes.
    public mutating func writeString(_ value: String) { writeBinary(Array(value.utf8)) }

    /// Writes a UUID's 16 bytes.
    public mutating func writeUUID(_ value: [UInt8]) {
        precondition(value.count == 16, "a uuid is 16 bytes")
        bytes.append(contentsOf: value)
    }

    /// Appends bytes that already are a complete compact value (a struct kept whole).
    public mutating func writeRaw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

    // MARK: Containers

    /// Writes a list header: the count in the header byte below 15, else a varint after it.
    public mutating func writeListHeader(_ elementType: ThriftType, count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "list size out of range")
        if count < 15 {
            bytes.append(UInt8(count) << 4 | elementType.rawValue)
        } else {
            bytes.append(0xF0 | elementType.rawValue)
            writeVarint(UInt64(count))
        }
    }

    /// Writes a set header, which has the form of a list header.
    public mutating func writeSetHeader(_ elementType: ThriftType, count: Int) {
        writeListHeader(elementType, count: count)
    }

    /// Writes a map header: a varint count, then the key and value types unless it is empty.
    public mutating func writeMapHeader(_ keyType: ThriftType, _ valueType: ThriftType, count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "map size out of range")
        writeVarint(UInt64(count))
        if count > 0 { bytes.append(keyType.rawValue << 4 | valueType.rawValue) }
    }

    // MARK: Field shorthands

    /// Writes an i16 field: its header and value.
    public mutating func writeI16Field(_ id: Int16, _ value: Int16) {
        writeFieldHeader(id, .i16)
        writeI16(value)
    }

    /// Writes an i32 field: its header and value.
    public mutating func writeI32Field(_ id: Int16, _ value: Int32) {
        writeFieldHeader(id, .i32)
        writeI32(value)
    }

    /// Writes an i64 field: its header and value.
    public mutating func writeI64Field(_ id: Int16, _ value: Int64) {
        writeFieldHeader(id, .i64)
        writeI64(value)
    }

    /// Writes a binary field: its header and value.
    public mutating func writeBinaryField(_ id: Int16, _ value: [UInt8]) {
        writeFieldHeader(id, .binary)
        writeBinary(value)
    }

    /// Writes a string field: its header and value.
    public mutating func writeStringField(_ id: Int16, _ value: String) {
        writeFieldHeader(id, .binary)
        writeString(value)
    }

    // MARK: Primitives

    private mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func writeZigZag(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

extension ThriftDecodingError {
    /// The same error with its offset moved by `delta`: for input decoded from a copy of part
    /// of a file, so that the error names the file's offset.
    func shifted(by delta: Int) -> ThriftDecodingError {
        ThriftDecodingError(kind, offset: offset + delta, expected: expected)
    }
}
