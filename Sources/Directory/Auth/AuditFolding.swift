import Foundation

/// The identity of a folded mail-protocol audit entry: account, protocol, IP, result and
/// failure reason.
public struct AuditFoldingKey: Sendable, Hashable {
    /// Who logged in: the DN when known, else the login name tried. Both are compared
    /// case-insensitively, as the directory matches them (`uid`, `mail` ignore case).
    public enum Account: Sendable, Hashable {
        case dn(String)
        case loginName(String)
    }

    public var account: Account
    public var type: LoginType
    public var ip: IPAddress?
    public var result: LoginResult
    public var reason: LoginFailureReason?

    public init(account: Account, type: LoginType, ip: IPAddress?, result: LoginResult, reason: LoginFailureReason?) {
        self.account = account
        self.type = type
        self.ip = ip
        self.result = result
        self.reason = reason
    }
}

/// The newest audit entry a new event might fold into.
public struct AuditEntrySummary: Sendable, Hashable {
    /// The entry's folding key; nil for an entry that does not fold (a web login).
    public var key: AuditFoldingKey?
    public var firstTime: Date
    public var lastTime: Date

    public init(key: AuditFoldingKey?, firstTime: Date, lastTime: Date) {
        self.key = key
        self.firstTime = firstTime
        self.lastTime = lastTime
    }
}

/// What to do with a new login event.
public enum FoldingDecision: Sendable, Hashable {
    /// Add one to the newest entry's count and move its last time to
    /// `max(lastTime, event.time)` (an LDAP increment plus a replace).
    case increment
    /// Write a new entry with count 1.
    case newEntry
}

/// When consecutive mail-protocol events fold into one audit entry (spec §5: "first access
/// + number of events").
///
/// The caller passes the newest audit entry *of the event's account*, whatever its key.
/// "Consecutive" is taken literally: an event folds only into that entry, so two devices
/// polling from two addresses alternate between entries instead of each growing one entry
/// whose time span overlaps the other's. Read newest first, the log is then a true timeline.
///
/// An event also starts a new entry when it comes more than `maxGap` (default 1 hour) after
/// the entry's last time: a POP3 or IMAP client polls every few minutes, so an hour of silence
/// means the device was off, and its return is worth seeing as a fresh "first access". And
/// an entry stops growing once it spans `maxSpan` (default 1 day), so no entry is kept alive
/// past the retention period by a client that never stops polling, and a per-day report
/// never has to split one entry. An event up to `maxGap` *older* than the last time (two
/// servers reporting slightly out of order) still folds.
public struct AuditFoldingPolicy: Sendable, Hashable {
    public var maxGap: Duration
    public var maxSpan: Duration

    public init(maxGap: Duration = .seconds(3600), maxSpan: Duration = .seconds(86_400)) {
        precondition(maxGap >= .zero && maxSpan >= .zero, "durations must not be negative")
        self.maxGap = maxGap
        self.maxSpan = maxSpan
    }

    public func decide(newest: AuditEntrySummary?, event: LoginEvent) -> FoldingDecision {
        guard let key = event.foldingKey else { return .newEntry }
        return decide(newest: newest, key: key, time: event.time)
    }

    /// The same, for an event whose folding key the caller has already built.
    public func decide(newest: AuditEntrySummary?, key: AuditFoldingKey, time: Date) -> FoldingDecision {
        guard let newest, newest.key == key else { return .newEntry }
        let gap = time.timeIntervalSince(newest.lastTime)
        guard abs(gap) <= maxGap.timeInterval else { return .newEntry }
        let span = max(time, newest.lastTime).timeIntervalSince(newest.firstTime)
        guard span <= maxSpan.timeInterval else { return .newEntry }
        return .increment
    }
}
