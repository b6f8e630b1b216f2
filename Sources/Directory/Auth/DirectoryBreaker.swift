import Foundation
import LDAPClient

/// Whether the mail policy asks the directory or answers without it, after slapd stopped
/// answering. Without it every Dovecot request of an outage waits out LDAPClient's retries
/// (about 1.5 s, or the request timeout for a hung slapd) before failing the same way, and a
/// burst of logins piles up behind them. Pure: ``MailLoginPolicy`` holds it in a
/// ``DirectoryBreakerBox``; tests drive it with dates.
///
/// Closed: ask. After an unreachable answer, open for `cooldown`: answer without asking.
/// Then one request probes; the others still answer without asking until it returns.
public struct DirectoryBreaker: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case closed
        case open(until: Date)
        case probing(since: Date)
    }

    public private(set) var state: State = .closed
    public let cooldown: TimeInterval
    /// A probe that never reports back (its task was cancelled mid-call) stops blocking
    /// further probes after this long.
    public let probeTimeout: TimeInterval

    public init(cooldown: TimeInterval = 1, probeTimeout: TimeInterval = 60) {
        self.cooldown = cooldown
        self.probeTimeout = probeTimeout
    }

    /// Whether this request should ask the directory.
    public mutating func shouldAsk(now: Date) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until) where now >= until:
            state = .probing(since: now)
            return true
        case .open:
            return false
        case .probing(let since) where now.timeIntervalSince(since) >= probeTimeout:
            state = .probing(since: now)
            return true
        case .probing:
            return false
        }
    }

    /// The directory answered (with data or with an error of its own).
    public mutating func answered() {
        state = .closed
    }

    /// The directory could not be reached.
    public mutating func unreachable(now: Date) {
        state = .open(until: now.addingTimeInterval(cooldown))
    }
}

/// A ``DirectoryBreaker`` shared by the concurrent requests of one server.
public final class DirectoryBreakerBox: Sendable {
    private let breaker: LockedValue<DirectoryBreaker>

    public init(_ breaker: DirectoryBreaker = DirectoryBreaker()) {
        self.breaker = LockedValue(breaker)
    }

    public func shouldAsk(now: Date) -> Bool { breaker.withLock { $0.shouldAsk(now: now) } }
    public func answered() { breaker.withLock { $0.answered() } }
    public func unreachable(now: Date) { breaker.withLock { $0.unreachable(now: now) } }
    public var state: DirectoryBreaker.State { breaker.withLock { $0.state } }
}
