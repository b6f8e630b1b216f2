import Foundation
import Testing

import Directory

@Suite struct IPBlockPolicyTests {
    static let policy = IPBlockPolicy(maxFailures: 5, window: .seconds(600), blockDuration: .seconds(1800))
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    func run(_ offsets: [TimeInterval], policy: IPBlockPolicy = Self.policy) -> (IPFailureState?, [Bool]) {
        var state: IPFailureState?
        var blocked: [Bool] = []
        for offset in offsets {
            let step = policy.record(failureAt: Self.t0.addingTimeInterval(offset), state: state)
            state = step.state
            blocked.append(step.blocked)
        }
        return (state, blocked)
    }

    @Test func nFailuresWithinTheWindowBlock() throws {
        let (state, blocked) = run([0, 60, 120, 180, 240])
        #expect(blocked == [false, false, false, false, true])
        let final = try #require(state)
        #expect(final.failureCount == 5)
        #expect(final.blockedUntil == Self.t0.addingTimeInterval(240 + 1800))
        #expect(Self.policy.isBlocked(final, at: Self.t0.addingTimeInterval(241)))
    }

    @Test func failuresSpreadBeyondTheWindowDoNotBlock() {
        // One every three minutes: never five within ten minutes of a window's start.
        let (state, blocked) = run((0..<20).map { TimeInterval($0) * 180 })
        #expect(!blocked.contains(true))
        #expect(!Self.policy.isBlocked(state, at: Self.t0.addingTimeInterval(20 * 180)))
    }

    @Test func aFailureExactlyAtTheWindowEndStartsANewWindow() throws {
        let (state, blocked) = run([0, 1, 2, 3, 600])
        #expect(blocked == [false, false, false, false, false])
        let final = try #require(state)
        #expect(final.failureCount == 1)
        #expect(final.windowStart == Self.t0.addingTimeInterval(600))
    }

    @Test func theBlockExpires() throws {
        let (state, _) = run([0, 1, 2, 3, 4])
        let final = try #require(state)
        #expect(Self.policy.isBlocked(final, at: Self.t0.addingTimeInterval(4 + 1799)))
        #expect(!Self.policy.isBlocked(final, at: Self.t0.addingTimeInterval(4 + 1800)))
        #expect(Self.policy.isStale(final, at: Self.t0.addingTimeInterval(4 + 1800)))
        #expect(!Self.policy.isStale(final, at: Self.t0.addingTimeInterval(4 + 1799)))
    }

    @Test func failuresWhileBlockedDoNotExtendTheBlock() throws {
        let (state, blocked) = run([0, 1, 2, 3, 4, 100, 1000])
        #expect(blocked == [false, false, false, false, true, true, true])
        #expect(try #require(state).blockedUntil == Self.t0.addingTimeInterval(1804))
    }

    @Test func afterTheBlockCountingStartsOver() throws {
        let (state, blocked) = run([0, 1, 2, 3, 4, 1804, 1805])
        #expect(blocked.suffix(2) == [false, false])
        let final = try #require(state)
        #expect(final.failureCount == 2)
        #expect(final.blockedUntil == nil)
        #expect(final.windowStart == Self.t0.addingTimeInterval(1804))
    }

    @Test func oneFailureCanBlock() {
        let strict = IPBlockPolicy(maxFailures: 1, window: .seconds(60), blockDuration: .milliseconds(1500))
        let (state, blocked) = run([0], policy: strict)
        #expect(blocked == [true])
        #expect(state?.blockedUntil == Self.t0.addingTimeInterval(1.5))
    }

    @Test func noStateIsNotBlocked() {
        #expect(!Self.policy.isBlocked(nil, at: Self.t0))
        let counting = IPFailureState(windowStart: Self.t0, failureCount: 3)
        #expect(!Self.policy.isBlocked(counting, at: Self.t0))
        #expect(!Self.policy.isStale(counting, at: Self.t0.addingTimeInterval(599)))
        #expect(Self.policy.isStale(counting, at: Self.t0.addingTimeInterval(600)))
    }
}
