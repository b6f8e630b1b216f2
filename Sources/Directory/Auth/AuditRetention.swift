import Foundation

/// How long audit entries are kept (spec §5: 60 days, configurable).
///
/// Days are fixed 24-hour periods counted back from the caller's clock, not calendar days in
/// some time zone: the cutoff decides deletion, and a deletion sweep should not move by an
/// hour twice a year or depend on the server's zone.
public struct AuditRetention: Sendable, Hashable {
    public var days: Int

    public init(days: Int = 60) {
        precondition(days >= 1, "audit entries are kept at least a day")
        self.days = days
    }

    /// Entries whose last time is before this are expired.
    public func cutoff(now: Date) -> Date {
        now.addingTimeInterval(-TimeInterval(days) * 86_400)
    }

    /// Whether an entry last touched at `lastTime` is due for deletion at `now`. A folded
    /// entry is judged by its last time, so an entry still receiving events is kept.
    public func isExpired(lastTime: Date, now: Date) -> Bool {
        lastTime < cutoff(now: now)
    }
}
