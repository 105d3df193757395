import Foundation

/// An instant in UTC, with microsecond precision: Int64 microseconds since the Unix epoch.
///
/// Text input is RFC 3339 with `Z` or a numeric offset (`2026-01-03T12:00:00Z`,
/// `2026-01-03T13:00:00.250+01:00`). Naive timestamps (no zone) are rejected rather than
/// guessed: reading them as UTC in one place and local time in another is a classic skew.
public struct Timestamp: Sendable, Hashable, Comparable, Codable {
    public var microseconds: Int64

    /// The instant `microseconds` after 1970-01-01T00:00:00Z (negative: before).
    public init(microseconds: Int64) { self.microseconds = microseconds }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(microseconds: lhs.microseconds + rhs.microseconds)
    }

    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(microseconds: lhs.microseconds - rhs.microseconds)
    }

    public init(from decoder: any Decoder) throws {
        microseconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(microseconds)
    }
}

/// Why a text is not an RFC 3339 timestamp.
public struct TimestampSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

extension Timestamp {
    /// The expected shape, quoted in error messages.
    public static let expectedFormat = "RFC 3339 with 'Z' or an offset, e.g. 2026-01-03T12:00:00Z"

    /// Parses RFC 3339 text. Throws ``TimestampSyntaxError`` naming what is wrong.
    public init(rfc3339 text: String) throws(TimestampSyntaxError) {
        var text = text
        let parsed = text.withUTF8 { bytes in Result { () throws(TimestampSyntaxError) in try Timestamp(rfc3339: bytes) } }
        self = try parsed.get()
    }

    /// Parses RFC 3339 from UTF-8 bytes, without allocating: the ingestion hot path.
    ///
    /// Accepts `T`, `t` or a space between date and time, a fraction of 1 to 9 digits
    /// (digits past the sixth are truncated: storage is in microseconds), and `Z`, `z` or
    /// `±HH:MM` as the zone.
    public init(rfc3339 b: UnsafeBufferPointer<UInt8>) throws(TimestampSyntaxError) {
        let n = b.count
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= n else { return nil }
            var v = 0
            for i in at..<(at + count) {
                let d = Int(b[i]) &- 48
                guard d >= 0 && d <= 9 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        func fail(_ reason: String) -> TimestampSyntaxError { TimestampSyntaxError(reason: reason) }

        guard n >= 10, let year = digits(0, 4), b[4] == 0x2D, let month = digits(5, 2), b[7] == 0x2D,
            let day = digits(8, 2)
        else { throw fail("not a timestamp: expected \(Timestamp.expectedFormat)") }
        guard n > 10 else { throw fail("a date without a time and zone: expected \(Timestamp.expectedFormat)") }
        guard b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
            let hour = digits(11, 2), n > 13, b[13] == 0x3A, let minute = digits(14, 2),
            n > 16, b[16] == 0x3A, let second = digits(17, 2)
        else { throw fail("not a timestamp: expected \(Timestamp.expectedFormat)") }
        guard (1...12).contains(month) else { throw fail("month \(month) is out of range 1-12") }
        guard day >= 1 && day <= Timestamp.daysIn(month: month, year: year) else {
            throw fail("day \(day) is out of range for \(year)-\(month < 10 ? "0" : "")\(month)")
        }
        guard hour <= 23 else { throw fail("hour \(hour) is out of range 0-23") }
        guard minute <= 59 else { throw fail("minute \(minute) is out of range 0-59") }
        guard second <= 59 else { throw fail("second \(second) is out of range 0-59 (leap seconds are not supported)") }

        var i = 19
        var micros = 0
        if i < n && b[i] == 0x2E {
            i += 1
            var count = 0
            while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                if count < 6 { micros = micros * 10 + Int(b[i] - 0x30) }
                count += 1
                i += 1
            }
            guard count >= 1 && count <= 9 else { throw fail("the fraction of a second must have 1 to 9 digits") }
            if count < 6 { for _ in count..<6 { micros *= 10 } }
        }
        guard i < n else { throw fail("no time zone: naive timestamps are rejected; add 'Z' for UTC or an offset like +02:00") }
        var offsetSeconds = 0
        switch b[i] {
        case 0x5A, 0x7A:  // Z z
            i += 1
        case 0x2B, 0x2D:  // + -
            let sign = b[i] == 0x2D ? -1 : 1
            guard let oh = digits(i + 1, 2), i + 3 < n, b[i + 3] == 0x3A, let om = digits(i + 4, 2) else {
                throw fail("bad UTC offset: expected ±HH:MM")
            }
            guard oh <= 23 && om <= 59 else { throw fail("UTC offset out of range") }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        default:
            throw fail("no time zone: naive timestamps are rejected; add 'Z' for UTC or an offset like +02:00")
        }
        guard i == n else { throw fail("unexpected text after the time zone") }

        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        self.microseconds = seconds * 1_000_000 + Int64(micros)
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Timestamp {
    /// Appends the RFC 3339 form (as ``description``) as bytes: the service's hot path.
    public func appendRFC3339(to out: inout [UInt8]) {
        let (secs, micros) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        let (s, us) = micros < 0 ? (secs - 1, micros + 1_000_000) : (secs, micros)
        let (d, sod) = s.quotientAndRemainder(dividingBy: 86_400)
        let (days, secOfDay) = sod < 0 ? (d - 1, sod + 86_400) : (d, sod)
        let (y, m, dd) = Timestamp.civilFromDays(Int(days))
        guard (0...9999).contains(y) else {
            out += description.utf8
            return
        }
        func two(_ v: Int) {
            out.append(0x30 + UInt8(v / 10))
            out.append(0x30 + UInt8(v % 10))
        }
        two(y / 100); two(y % 100); out.append(0x2D); two(m); out.append(0x2D); two(dd); out.append(0x54)
        two(Int(secOfDay / 3600)); out.append(0x3A); two(Int(secOfDay % 3600 / 60)); out.append(0x3A); two(Int(secOfDay % 60))
        if us != 0 {
            var fraction = Int(us)
            var width = 6
            while fraction % 10 == 0 { fraction /= 10; width -= 1 }
            out.append(0x2E)
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(0x30 + UInt8(fraction / divisor % 10))
                divisor /= 10
            }
        }
        out.append(0x5A)
    }
}

extension Timestamp: CustomStringConvertible {
    /// RFC 3339 in UTC with `Z`; the fraction is printed only when non-zero, without
    /// trailing zeros (`2026-01-03T12:00:00.25Z`).
    public var description: String {
        let (secs, micros) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        let (s, us) = micros < 0 ? (secs - 1, micros + 1_000_000) : (secs, micros)
        let (d, sod) = s.quotientAndRemainder(dividingBy: 86_400)
        let (days, secOfDay) = sod < 0 ? (d - 1, sod + 86_400) : (d, sod)
        let (y, m, dd) = Timestamp.civilFromDays(Int(days))
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        var out =
            "\(pad(y, 4))-\(pad(m, 2))-\(pad(dd, 2))T\(pad(Int(secOfDay / 3600), 2)):\(pad(Int(secOfDay % 3600 / 60), 2)):\(pad(Int(secOfDay % 60), 2))"
        if us != 0 {
            var frac = pad(Int(us), 6)
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        return out + "Z"
    }
}

extension Duration {
    /// `n` minutes, for ttls and windows (`.minutes(90)`).
    public static func minutes(_ n: Int64) -> Duration { .seconds(n * 60) }
    /// `n` hours (`ttl: .hours(2)`).
    public static func hours(_ n: Int64) -> Duration { .seconds(n * 3600) }
    /// `n` days (`ttl: .days(7)`).
    public static func days(_ n: Int64) -> Duration { .seconds(n * 86_400) }

    /// The duration in whole microseconds (Larder's unit of time).
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    /// A compact rendering used in plans and derived names: `2h`, `7d`, `90s`, `1h30m`.
    public var compactDescription: String { Duration.compact(microseconds: microseconds) }

    /// Parses the compact form: numbers with units `d`, `h`, `m`, `s`, `ms` or `us`, largest
    /// first (`5m`, `1h30m`, `90s`, `250ms`). Nil for other text, a negative duration or one
    /// beyond about 290,000 years.
    public init?(compactDescription text: String) {
        let units: [(String, Int64)] = [
            ("d", 86_400_000_000), ("h", 3_600_000_000), ("ms", 1_000), ("us", 1), ("m", 60_000_000), ("s", 1_000_000),
        ]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var total: Int64 = 0
        var previousSize = Int64.max
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let n = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let (unit, size) = units.first(where: { rest.hasPrefix($0.0) }), size < previousSize else { return nil }
            rest = rest.dropFirst(unit.count)
            previousSize = size
            let (part, o1) = n.multipliedReportingOverflow(by: size)
            let (sum, o2) = total.addingReportingOverflow(part)
            guard !o1 && !o2 else { return nil }
            total = sum
        }
        self = .microseconds(total)
    }

    public static func compact(microseconds us: Int64) -> String {
        if us == 0 { return "0s" }
        var rest = us
        var out = us < 0 ? "-" : ""
        rest = abs(rest)
        for (unit, size) in [("d", Int64(86_400_000_000)), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)] {
            if rest >= size {
                out += "\(rest / size)\(unit)"
                rest %= size
            }
        }
        if rest > 0 { out += "\(rest)us" }
        return out
    }
}

extension Timestamp {
    /// The current instant from the system clock.
    public static func now() -> Timestamp {
        Timestamp(microseconds: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }
}
