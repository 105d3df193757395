import Testing

@testable import LarderCore

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-01-03T12:00:00Z", Int64(1_767_441_600_000_000)),
        ("2026-01-03T13:00:00+01:00", Int64(1_767_441_600_000_000)),
        ("2026-01-03T06:30:00-05:30", Int64(1_767_441_600_000_000)),
        ("2026-01-03t12:00:00z", Int64(1_767_441_600_000_000)),
        ("2026-01-03 12:00:00Z", Int64(1_767_441_600_000_000)),
        ("2026-01-03T12:00:00.5Z", Int64(1_767_441_600_500_000)),
        ("2026-01-03T12:00:00.000001Z", Int64(1_767_441_600_000_001)),
        ("2026-01-03T12:00:00.123456789Z", Int64(1_767_441_600_123_456)),
        ("1969-12-31T23:59:59.999999Z", Int64(-1)),
        ("2024-02-29T00:00:00Z", Int64(1_709_164_800_000_000)),
    ])
    func parsesRFC3339(text: String, micros: Int64) throws {
        #expect(try Timestamp(rfc3339: text).microseconds == micros)
    }

    @Test(arguments: [
        ("2026-01-03T12:00:00", "no time zone"),
        ("2026-01-03", "without a time"),
        ("2026-13-03T12:00:00Z", "month 13"),
        ("2025-02-29T00:00:00Z", "day 29"),
        ("2026-01-03T24:00:00Z", "hour 24"),
        ("2026-01-03T12:60:00Z", "minute 60"),
        ("2026-01-03T12:00:60Z", "leap seconds"),
        ("2026-01-03T12:00:00+0100", "bad UTC offset"),
        ("2026-01-03T12:00:00.Z", "1 to 9 digits"),
        ("2026-01-03T12:00:00ZZ", "after the time zone"),
        ("1767441600", "not a timestamp"),
        ("", "not a timestamp"),
        ("yesterday", "not a timestamp"),
    ])
    func rejectsOtherText(text: String, reason: String) {
        #expect {
            try Timestamp(rfc3339: text)
        } throws: { error in
            (error as? TimestampSyntaxError)?.reason.contains(reason) == true
        }
    }

    @Test func formatsUTCAndRoundTrips() throws {
        for micros: Int64 in [0, -1, 1, 1_767_441_600_000_000, 1_767_441_600_250_000, 253_402_300_799_999_999] {
            let t = Timestamp(microseconds: micros)
            #expect(try Timestamp(rfc3339: t.description) == t)
        }
        #expect(Timestamp(microseconds: 1_767_441_600_250_000).description == "2026-01-03T12:00:00.25Z")
        #expect(Timestamp(microseconds: -1).description == "1969-12-31T23:59:59.999999Z")
    }

    @Test func bytesFormattingMatchesDescription() {
        var generator = SystemRandomNumberGenerator()
        var samples: [Int64] = [
            0, -1, 1, 10, 100_000, 999_999, 1_000_000, 1_767_441_600_250_000, 253_402_300_799_999_999, -62_135_596_800_000_000,
        ]
        for _ in 0..<2000 { samples.append(Int64.random(in: -62_135_596_800_000_000...253_402_300_799_999_999, using: &generator)) }
        for micros in samples {
            var bytes: [UInt8] = []
            Timestamp(microseconds: micros).appendRFC3339(to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == Timestamp(microseconds: micros).description)
        }
        var out: [UInt8] = []
        for v: Int64 in [0, 7, -7, .max, .min, 1_000_000] {
            out.removeAll()
            JSONText.appendInteger(v, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(v))
        }
    }

    @Test func durations() {
        #expect(Duration.hours(2).microseconds == 7_200_000_000)
        #expect(Duration.hours(2).compactDescription == "2h")
        #expect(Duration.minutes(90).compactDescription == "1h30m")
        #expect(Duration.days(7).compactDescription == "7d")
    }
}
