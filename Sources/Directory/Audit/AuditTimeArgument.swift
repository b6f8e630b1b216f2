import Foundation

/// The times `gwdir audit list --since/--until` accept: a span back from now (`7d`, `12h`,
/// `30m`, `90s`, `2w`), a UTC day (`2026-11-01`), or a UTC instant (`2026-11-01T09:30:00Z`,
/// `20261101093000Z`).
///
/// A day means its start for `--since` and its end for `--until`, so `--since 2026-11-01
/// --until 2026-11-01` is that whole day. Days are UTC, like every time the directory stores.
///
/// Out of range is refused rather than silently listing nothing (`--since 750000d` once did):
/// a span longer than ``maximumSpan`` (100 years: no login event is older than the directory,
/// and the retention keeps 60 days), and a time before ``earliest`` (1970, the Unix epoch the
/// stored times count from) or after ``latest`` (9999-12-31, the last GeneralizedTime with a
/// four-digit year).
public enum AuditTimeArgument {
    public enum Bound: Sendable { case since, until }

    /// 100 years of 365.25 days.
    public static let maximumSpan: TimeInterval = 36_525 * 86_400
    public static let earliest = Date(timeIntervalSince1970: 0)
    /// 9999-12-31T23:59:59Z.
    public static let latest = Date(timeIntervalSince1970: 253_402_300_799)

    public static func parse(_ text: String, as bound: Bound, now: Date) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let unit = trimmed.last, let seconds = unitSeconds[unit], !trimmed.dropLast().isEmpty,
           trimmed.dropLast().unicodeScalars.allSatisfy({ ("0"..."9").contains($0) })
        {
            guard let amount = Double(String(trimmed.dropLast())), amount * seconds <= maximumSpan else {
                throw DirectoryError(.invalidArgument, "\"\(text)\" is longer than 100 years: give a shorter span or a date")
            }
            return try inRange(now.addingTimeInterval(-amount * seconds), text)
        }
        if let day = Self.day(trimmed) {
            return try inRange(bound == .since ? day : day.addingTimeInterval(86_400 - 1), text)
        }
        if let instant = GeneralizedTime.parse(trimmed) ?? ISO8601DateFormatter().date(from: trimmed) {
            return try inRange(instant, text)
        }
        throw DirectoryError(.invalidArgument, "\"\(text)\" is not a time: use e.g. 7d, 12h, 2026-11-01 or 2026-11-01T09:30:00Z")
    }

    private static func inRange(_ date: Date, _ text: String) throws -> Date {
        guard date >= earliest, date <= latest else {
            throw DirectoryError(.invalidArgument, "\"\(text)\" is outside 1970-01-01 … 9999-12-31")
        }
        return date
    }

    private static let unitSeconds: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    /// `YYYY-MM-DD` at 00:00:00 UTC.
    private static func day(_ text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day)
        guard let date = calendar.date(from: components),
              calendar.component(.day, from: date) == day  // refuses 2026-02-30
        else { return nil }
        return date
    }
}

extension LoginType {
    /// A type as an operator types it: the stored code (`mobile_web`) or with a hyphen (`mobile-web`).
    public init?(argument: String) {
        self.init(rawValue: argument.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "-", with: "_"))
    }
}
