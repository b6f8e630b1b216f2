#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The requests a connection has sent and not yet seen the end of: by message ID, to route
/// responses, and those with a deadline also in the order they were sent, to time them out.
///
/// Every request of a connection has the same timeout, and the thread stamps them with a
/// clock that never goes back, so the order sent is the order of deadlines: the oldest request
/// is always the next to expire. A list in sending order is therefore all the deadline queue
/// needed (no heap, no timer per request), and its links live in the requests themselves, so
/// sending one allocates nothing more. Confined to the connection thread, like the handle.
struct InFlightRequests {
    private var byMessageID: [Int32: PendingRequest] = [:]
    /// The oldest request with a deadline; each holds the next newer one (`newer`).
    private var oldest: PendingRequest?
    /// The newest request with a deadline. Not retained: `oldest` and the `newer` links do.
    private unowned(unsafe) var newest: PendingRequest?

    var isEmpty: Bool { byMessageID.isEmpty }

    subscript(messageID: Int32) -> PendingRequest? { byMessageID[messageID] }

    /// The nearest deadline (``MonotonicClock`` nanoseconds), or nil when nothing has one.
    var nextDeadline: UInt64? { oldest?.deadline }

    /// Registers a sent request under its message ID; one with a deadline joins the list last.
    mutating func insert(_ request: PendingRequest) {
        if let replaced = byMessageID.updateValue(request, forKey: request.messageID) {
            // libldap never reuses a message ID on a handle: this would be a bug, not a race.
            assertionFailure("message ID \(request.messageID) was already in flight")
            unlink(replaced)
        }
        guard request.deadline != 0 else { return }
        assert(newest.map { $0.deadline <= request.deadline } ?? true, "deadlines must not go back in time")
        request.older = newest
        if let newest { newest.newer = request } else { oldest = request }
        newest = request
    }

    /// Forgets the request of this message ID (answered, cancelled); returns it.
    @discardableResult
    mutating func remove(messageID: Int32) -> PendingRequest? {
        guard let request = byMessageID.removeValue(forKey: messageID) else { return nil }
        unlink(request)
        return request
    }

    /// Removes and returns the oldest request if its deadline is `now` or earlier.
    mutating func removeExpired(now: UInt64) -> PendingRequest? {
        guard let request = oldest, request.deadline <= now else { return nil }
        if byMessageID[request.messageID] === request {
            byMessageID.removeValue(forKey: request.messageID)
        }
        unlink(request)
        return request
    }

    /// Empties the set and returns what it held.
    mutating func removeAll() -> [PendingRequest] {
        let outstanding = Array(byMessageID.values)
        byMessageID.removeAll()
        // Unlinked one by one: released as a chain, a long list would recurse once per
        // request in deinit and could overflow the thread's stack.
        var next = oldest
        oldest = nil
        newest = nil
        while let request = next {
            next = request.newer
            request.newer = nil
            request.older = nil
        }
        return outstanding
    }

    private mutating func unlink(_ request: PendingRequest) {
        guard request.deadline != 0 else { return }
        let older = request.older
        let newer = request.newer
        if let older { older.newer = newer } else if oldest === request { oldest = newer }
        if let newer { newer.older = older } else if newest === request { newest = older }
        request.older = nil
        request.newer = nil
    }
}

/// What a request is and what its timeout does, for the requests the thread expires.
struct TimeoutBehaviour: Sendable {
    enum Action: Sendable {
        /// A read: abandoned (RFC 4511 §4.11), as a cancelled task's read is; its late
        /// responses are dropped by libldap.
        case abandon
        /// A change (or an extended operation, which may be one): the server may or may not
        /// apply it, and an abandon would not undo it, so it is left to run; the caller is told
        /// the outcome is unknown, and a late result finds no request and is dropped.
        case reportUnknownOutcome
        /// A bind: it cannot be abandoned (RFC 4511 §4.11), and a late success would change
        /// the identity of every later request behind the caller's back, so the connection
        /// is closed; as after a failed bind, it reconnects anonymously.
        case closeConnection
    }

    var action: Action
    var operation: LDAPError.Operation
    var dn: String?
}

extension LDAPError {
    /// The error of a request that got no result within `timeout`. Its message is a predicate
    /// for the server ("did not answer within 3 s…") so a caller can put the server's name in
    /// front; for a change it says that the change may or may not have been applied.
    static func noAnswer(within timeout: Duration, _ behaviour: TimeoutBehaviour) -> LDAPError {
        var message = "did not answer within \(MonotonicClock.describe(timeout))"
        if behaviour.action == .reportUnknownOutcome {
            message += "; the \(behaviour.operation.rawValue) may or may not have been applied"
        }
        return LDAPError(code: .timeout, message: message, operation: behaviour.operation, dn: behaviour.dn)
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC`: cheap to read (vDSO), never goes back, and not affected
/// by changes of the wall clock. Deadlines are kept as plain integers on the connection thread.
enum MonotonicClock {
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// A duration in whole nanoseconds, at least 1 (0 means "no deadline") and saturating.
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }
        // Beyond a century a deadline is "never"; the cap keeps `now + timeout` from overflowing.
        guard seconds < 100 * 365 * 86_400 else { return 100 * 365 * 86_400 * 1_000_000_000 }
        return max(1, UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000))
    }

    /// How long poll(2) may wait, in milliseconds, to wake at `deadline`: rounded up, so the
    /// thread does not wake just before the deadline and spin.
    static func pollTimeout(from now: UInt64, to deadline: UInt64) -> Int32 {
        guard deadline > now else { return 0 }
        let (milliseconds, rest) = (deadline - now).quotientAndRemainder(dividingBy: 1_000_000)
        return Int32(clamping: rest == 0 ? milliseconds : milliseconds + 1)
    }

    /// "3 s", "1.5 s", "250 ms": how an error message says a timeout.
    static func describe(_ duration: Duration) -> String {
        let milliseconds = nanoseconds(duration) / 1_000_000
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        let tenths = (milliseconds + 50) / 100
        return tenths % 10 == 0 ? "\(tenths / 10) s" : "\(tenths / 10).\(tenths % 10) s"
    }
}
