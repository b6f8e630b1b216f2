import Foundation

/// The times `gwdir audit list --since/--until` accept: a span back from now (`7d`, `12h`,
/// `30m`, `90s`, `2w`), a UTC day (`2026-11-01`), or a UTC instant (`2026-11-01T09:30:00Z`,
/// `20261101093000Z`).
///
/// A day means its start for `--since` and its end for `--until`, so `--since 2026-11-01
/// --until 2026-11-01` is that whole day. Days are UTC, like every time the directory stores.
public enum AuditTimeArgument {
    public enum Bound: Sendable { case since, until }

    public static func parse(_ text: String, as bound: Bound, now: Date) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let unit = trimmed.last, let seconds = unitSeconds[unit], let amount = Int(trimmed.dropLast()), amount >= 0 {
            return now.addingTimeInterval(-Double(amount) * seconds)
        }
        if let day = Self.day(trimmed) {
            return bound == .since ? day : day.addingTimeInterval(86_400 - 1)
        }
        if let instant = GeneralizedTime.parse(trimmed) ?? ISO8601DateFormatter().date(from: trimmed) {
            return instant
        }
        throw DirectoryError(.invalidArgument, "\"\(text)\" is not a time: use e.g. 7d, 12h, 2026-11-01 or 2026-11-01T09:30:00Z")
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
