import Foundation

/// What the directory remembers about recent failed logins from one IP address.
///
/// Three plain values so the LDAP entry that stores it needs no list of timestamps.
public struct IPFailureState: Sendable, Hashable {
    /// The first failure of the current counting window.
    public var windowStart: Date
    /// Failures since `windowStart`.
    public var failureCount: Int
    /// Set when the address was blocked; it is blocked while `now < blockedUntil`.
    public var blockedUntil: Date?

    public init(windowStart: Date, failureCount: Int, blockedUntil: Date? = nil) {
        self.windowStart = windowStart
        self.failureCount = failureCount
        self.blockedUntil = blockedUntil
    }
}

/// Automatic blocking of an IP address after repeated failed logins (spec §5,
/// `auto_blocked_ip`), as pure state transitions.
///
/// Failures are counted in a fixed window that opens at the first failure and lasts
/// `window`; a failure after the window has passed opens a new one at count 1. When the count
/// reaches `maxFailures` the address is blocked for `blockDuration`. A fixed window needs
/// only a start and a count in storage, at the price of letting up to `2 × (maxFailures − 1)`
/// failures through when they straddle a window boundary, which is still a hard cap.
///
/// Failures recorded while blocked do not extend the block: the block ends at a time the
/// admin view can show, and a mail client polling with a stale password is not locked out
/// for ever by its own retries. After the block a new window starts from scratch.
public struct IPBlockPolicy: Sendable, Hashable {
    public var maxFailures: Int
    public var window: Duration
    public var blockDuration: Duration

    public init(maxFailures: Int, window: Duration, blockDuration: Duration) {
        precondition(maxFailures >= 1, "at least one failure must be allowed to count")
        precondition(window > .zero && blockDuration > .zero, "durations must be positive")
        self.maxFailures = maxFailures
        self.window = window
        self.blockDuration = blockDuration
    }

    /// The state after a failed login at `failureAt`, and whether the address is now blocked.
    public func record(failureAt time: Date, state: IPFailureState?) -> (state: IPFailureState, blocked: Bool) {
        if let state, isBlocked(state, at: time) {
            return (state, true)
        }
        var next: IPFailureState
        if let state, state.blockedUntil == nil, time.timeIntervalSince(state.windowStart) < window.timeInterval {
            next = state
            next.failureCount += 1
        } else {
            next = IPFailureState(windowStart: time, failureCount: 1)
        }
        if next.failureCount >= maxFailures {
            next.blockedUntil = time.addingTimeInterval(blockDuration.timeInterval)
            return (next, true)
        }
        return (next, false)
    }

    /// Whether `state` blocks the address at `time`.
    public func isBlocked(_ state: IPFailureState?, at time: Date) -> Bool {
        guard let blockedUntil = state?.blockedUntil else { return false }
        return time < blockedUntil
    }

    /// Whether `state` can be deleted at `time`: neither blocking nor counting any more.
    public func isStale(_ state: IPFailureState, at time: Date) -> Bool {
        if let blockedUntil = state.blockedUntil { return time >= blockedUntil }
        return time.timeIntervalSince(state.windowStart) >= window.timeInterval
    }
}

extension Duration {
    /// Seconds as `TimeInterval`, for arithmetic with `Date`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
