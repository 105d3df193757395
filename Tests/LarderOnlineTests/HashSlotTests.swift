import Foundation
import LarderOnline
import LarderTestSupport
import Testing

/// Key → slot, checked against the cluster's own `CLUSTER KEYSLOT`.
@Suite("HashSlot", .timeLimit(.minutes(1)))
struct HashSlotTests {
    /// Keys whose tags are easy to get wrong: empty tags, several braces, braces in the wrong
    /// order, binary and non-ASCII bytes.
    static let tricky: [[UInt8]] =
        [
            "", "a", "foo", "123456789", "{user1000}.following", "{user1000}.followers", "user1000", "{}", "{}a",
            "foo{}{bar}", "foo{{bar}}zap", "{{a}}", "{{a}", "{a}}", "{a}{b}", "a{b", "a}b{c}", "}{", "{", "}", "{a",
            "a}", "{}{}", "a{}b{c}d", "{user1000", "user1000}", "x{ }y", "{\u{0}}", "clé{é}", "日本{語}", "🎉{🎉}🎉",
            "line\r\nbreak{\n}",
        ].map { Array($0.utf8) } + [
            [0x00], [0xFF, 0xFE, 0x7B, 0x00, 0x7D], [0x7B, 0xFF, 0x7D, 0x80], [0x80, 0x7B, 0x7D, 0x7B, 0x01, 0x7D],
            Array(repeating: 0x7B, count: 300) + [0x7D], Array(repeating: 0x61, count: 10_000),
        ]

    @Test func crc16CheckValue() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot.crc16([UInt8]()) == 0)
        // Known slots from the Redis Cluster specification's examples.
        #expect(HashSlot.slot(of: "123456789") == 0x31C3 % 16384)
        #expect(HashSlot.slot(of: "foo") == 12182)
        #expect(HashSlot.slot(of: "{user1000}.following") == HashSlot.slot(of: "user1000"))
    }

    @Test func hashedPartFollowsTheFirstBraces() {
        func part(_ key: String) -> String { String(decoding: HashSlot.hashedPart(of: Array(key.utf8)), as: UTF8.self) }
        #expect(part("{user1000}.following") == "user1000")
        #expect(part("foo{}{bar}") == "foo{}{bar}")  // the first tag is empty: the whole key
        #expect(part("foo{{bar}}zap") == "{bar")
        #expect(part("foo{bar}{zap}") == "bar")
        #expect(part("a}b{c}") == "c")  // a `}` before the first `{` does not count
        #expect(part("a{b") == "a{b")
        #expect(part("") == "")
    }

    /// Every form of a key (String, array, slice, a non-contiguous collection) gives one slot.
    @Test func everyKeyFormAgrees() {
        var generator = SeededGenerator(seed: 7)
        for key in Self.tricky + (0..<500).map({ _ in Self.randomKey(using: &generator) }) {
            let slot = HashSlot.slot(of: key)
            #expect((0..<HashSlot.count).contains(slot))
            #expect(HashSlot.slot(of: key.lazy.map { $0 }) == slot, "non-contiguous \(key)")
            #expect(HashSlot.slot(of: ([0x41] + key)[1...]) == slot, "slice \(key)")
            #expect(HashSlot.slot(of: Data(key)) == slot, "Data \(key)")
            if let text = String(validating: key, as: UTF8.self) {
                #expect(HashSlot.slot(of: text) == slot, "String \(text)")
                #expect(HashSlot.slot(of: text.utf8) == slot, "UTF8View \(text)")
            }
        }
    }

    @Test func agreesWithClusterKeyslot() async throws {
        try await onDedicatedThread {
            let cluster = try RedisCluster()
            let connection = try RedisConnection(
                url: RedisURL(host: "127.0.0.1", port: cluster.nodes[0].port), connectTimeout: .seconds(2),
                commandTimeout: .seconds(5))
            var generator = SeededGenerator(seed: 15)
            let keys = Self.tricky + (0..<1000).map { _ in Self.randomKey(using: &generator) }
            let replies = try connection.pipeline(keys.map { [Array("CLUSTER".utf8), Array("KEYSLOT".utf8), $0] })
            var disagreements: [String] = []
            for (key, reply) in zip(keys, replies) {
                let expected = try #require(reply.intValue, "CLUSTER KEYSLOT answered \(reply)")
                if HashSlot.slot(of: key) != Int(expected) {
                    disagreements.append("\(key): \(HashSlot.slot(of: key)), Redis says \(expected)")
                }
            }
            #expect(disagreements.isEmpty, "\(disagreements.count) keys disagree:\n\(disagreements.prefix(20).joined(separator: "\n"))")
            // The random keys reach many slots, so the comparison is not a few slots' luck.
            #expect(Set(replies.compactMap(\.intValue)).count > 900)

            // redis-cli's text path agrees too, for a readable key with a tag.
            #expect(try cluster.redisCLI("CLUSTER", "KEYSLOT", "{user1000}.following") == "\(HashSlot.slot(of: "user1000"))\n")
        }
    }

    /// Not an assertion on speed (debug builds are slow); prints what a key costs.
    @Test func printsTheCostOfAKey() {
        let keys = (0..<10_000).map { Array("larder:v1:{\($0 * 7919)}:driver_hourly_stats".utf8) }
        let clock = ContinuousClock()
        var sum = 0
        let elapsed = clock.measure {
            for _ in 0..<10 { for key in keys { sum &+= HashSlot.slot(of: key) } }
        }
        print("HashSlot: \(elapsed / 100_000) per 40-byte tagged key (\(sum))")
    }

    /// 0 to 40 bytes, a quarter of them braces, so that tags of every shape occur.
    static func randomKey(using generator: inout SeededGenerator) -> [UInt8] {
        (0..<Int.random(in: 0...40, using: &generator)).map { _ in
            switch Int.random(in: 0..<8, using: &generator) {
            case 0: return UInt8(ascii: "{")
            case 1: return UInt8(ascii: "}")
            default: return UInt8.random(in: 0...255, using: &generator)
            }
        }
    }
}
