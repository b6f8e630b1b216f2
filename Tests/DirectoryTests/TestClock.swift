import Foundation
import LDAPClient

/// A clock the test moves (``DirectoryContext/now`` reads it), for OTP steps and retention.
/// ``sleeper`` is the same time as a Swift `Clock`, for services that sleep: they wake when
/// the test advances past their deadline, never in real time.
final class TestClock: Sendable {
    private struct State {
        var now: Date
        var sleepers: [(id: UInt64, deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
        /// Tests waiting for a sleeper to appear.
        var watchers: [CheckedContinuation<Void, Never>] = []
    }

    private let state: LockedValue<State>
    init(_ start: Date) { state = LockedValue(State(now: start)) }
    var now: Date { state.withLock { $0.now } }

    func advance(by seconds: TimeInterval) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now.addTimeInterval(seconds)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.map(\.continuation)
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.resume() }
    }

    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Returns once something sleeps on the clock (a service is waiting for a deadline).
    func untilSleeping() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if !state.sleepers.isEmpty { return true }
                state.watchers.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    fileprivate func sleep(until deadline: Date) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (immediate, watchers) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if deadline <= state.now { return (true, []) }
                    state.sleepers.append((id, deadline, continuation))
                    defer { state.watchers.removeAll() }
                    return (false, state.watchers)
                }
                if immediate { continuation.resume() }
                for watcher in watchers { watcher.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    var sleeper: Sleeper { Sleeper(clock: self) }

    struct Sleeper: Clock {
        struct Instant: InstantProtocol {
            var date: Date
            func advanced(by duration: Duration) -> Instant { Instant(date: date.addingTimeInterval(duration.seconds)) }
            func duration(to other: Instant) -> Duration { .seconds(other.date.timeIntervalSince(date)) }
            static func < (a: Instant, b: Instant) -> Bool { a.date < b.date }
        }

        let clock: TestClock
        var now: Instant { Instant(date: clock.now) }
        var minimumResolution: Duration { .nanoseconds(1) }
        func sleep(until deadline: Instant, tolerance: Duration?) async throws {
            try await clock.sleep(until: deadline.date)
        }
    }
}

extension Duration {
    var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
