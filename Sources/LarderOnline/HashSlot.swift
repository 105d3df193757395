/// Redis Cluster's mapping of keys to hash slots.
///
/// A cluster splits its key space into ``count`` slots; a key's slot is the CRC16 (the
/// CCITT/XMODEM variant: polynomial 0x1021, initial value 0, no reflection) of the key modulo
/// 16384. When the key holds a *hash tag*, the bytes between its first `{` and the first `}`
/// after that, and those bytes are not empty, only they are hashed: keys with the same tag
/// share a slot, so one command or script may touch them all.
///
/// ```swift
/// HashSlot.slot(of: "{user1000}.following") == HashSlot.slot(of: "{user1000}.followers")  // same tag
/// HashSlot.hashedPart(of: Array("foo{}{bar}".utf8))  // the whole key: the first tag is empty
/// HashSlot.hashedPart(of: Array("foo{{bar}}".utf8))  // "{bar": up to the first `}`
/// ```
public enum HashSlot {
    /// The number of slots in a Redis Cluster: 16384.
    public static let count = 16384

    /// The slot of `key`, in `0..<16384`.
    @inlinable
    public static func slot(of key: String) -> Int {
        var key = key
        return key.withUTF8 { slot(ofBuffer: $0) }
    }

    /// The slot of the key with these bytes, in `0..<16384`.
    @inlinable
    public static func slot(of key: [UInt8]) -> Int {
        key.withUnsafeBufferPointer { slot(ofBuffer: $0) }
    }

    /// The slot of the key with these bytes, in `0..<16384`.
    @inlinable
    public static func slot(of key: some Collection<UInt8>) -> Int {
        if let slot = key.withContiguousStorageIfAvailable({ slot(ofBuffer: $0) }) { return slot }
        return Int(crc16(hashedPart(of: key)) & 0x3FFF)
    }

    /// A short hash tag whose keys fall in `slot`: `{tag}` in a key puts it there. Used to
    /// place one key on each primary (push markers).
    public static func tag(forSlot slot: Int) -> String {
        precondition((0..<count).contains(slot), "a slot is in 0..<16384")
        return tagOfSlot[slot]
    }

    /// For each slot, the first decimal number (as text) that hashes to it: one pass over
    /// about 180,000 numbers finds all 16,384, in a few milliseconds, once.
    private static let tagOfSlot: [String] = {
        var tags = [String?](repeating: nil, count: count)
        var found = 0
        var candidate = 0
        while found < count {
            let tag = String(candidate)
            let slot = Int(crc16(tag.utf8) & 0x3FFF)
            if tags[slot] == nil {
                tags[slot] = tag
                found += 1
            }
            candidate += 1
        }
        return tags.map { $0! }
    }()

    /// The part of `key` that decides its slot: the hash tag when there is a non-empty one,
    /// else the whole key.
    public static func hashedPart<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let tagStart = key.index(after: open)
            if let close = key[tagStart...].firstIndex(of: UInt8(ascii: "}")), close != tagStart {
                return key[tagStart..<close]
            }
        }
        return key[...]
    }

    /// CRC16-CCITT (XMODEM) of `bytes`, the checksum Redis Cluster hashes keys with. Its
    /// check value, the CRC of the ASCII bytes `123456789`, is 0x31C3.
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        let table = crcTable
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// The slot of a key in contiguous memory: the tag search and the CRC without generic
    /// indices, which the per-key cost of a batched lookup is made of.
    @usableFromInline
    static func slot(ofBuffer key: UnsafeBufferPointer<UInt8>) -> Int {
        var start = 0
        var end = key.count
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            var index = open + 1
            while index < key.count && key[index] != UInt8(ascii: "}") { index += 1 }
            if index < key.count && index > open + 1 {
                start = open + 1
                end = index
            }
        }
        return Int(crc16(UnsafeBufferPointer(rebasing: key[start..<end])) & 0x3FFF)
    }

    /// CRC16 by table, one lookup per byte: entry `i` is the CRC of the byte `i` alone, so
    /// each step shifts the CRC a byte and folds in the entry for the byte leaving it.
    private static let crcTable: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
