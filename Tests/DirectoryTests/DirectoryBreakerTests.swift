import Directory
import Foundation
import Testing

/// The mail policy's outage breaker, driven by dates alone.
@Suite struct DirectoryBreakerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// `#expect` can not call a mutating method.
    func ask(_ breaker: inout DirectoryBreaker, _ now: Date) -> Bool { breaker.shouldAsk(now: now) }

    @Test func closedAsksEveryTime() {
        var breaker = DirectoryBreaker(cooldown: 1)
        #expect(ask(&breaker, t0))
        #expect(ask(&breaker, t0))
        breaker.answered()
        #expect(breaker.state == .closed)
    }

    @Test func anOutageStopsAskingForTheCooldownThenOneRequestProbes() {
        var breaker = DirectoryBreaker(cooldown: 1)
        breaker.unreachable(now: t0)
        #expect(!ask(&breaker, t0.addingTimeInterval(0.5)))
        #expect(ask(&breaker, t0.addingTimeInterval(1)))
        #expect(breaker.state == .probing(since: t0.addingTimeInterval(1)))
        // While the probe is out, the others answer without asking.
        #expect(!ask(&breaker, t0.addingTimeInterval(1.2)))
        breaker.unreachable(now: t0.addingTimeInterval(1.5))
        #expect(!ask(&breaker, t0.addingTimeInterval(2.4)))
        #expect(ask(&breaker, t0.addingTimeInterval(2.5)))
        breaker.answered()
        #expect(ask(&breaker, t0.addingTimeInterval(2.6)))
        #expect(breaker.state == .closed)
    }

    @Test func aProbeThatNeverReportsBackStopsBlockingAfterItsTimeout() {
        var breaker = DirectoryBreaker(cooldown: 1, probeTimeout: 30)
        breaker.unreachable(now: t0)
        #expect(ask(&breaker, t0.addingTimeInterval(1)))
        #expect(!ask(&breaker, t0.addingTimeInterval(30.9)))
        #expect(ask(&breaker, t0.addingTimeInterval(31)))
        #expect(!ask(&breaker, t0.addingTimeInterval(31.1)))
    }

    @Test func theBoxSharesOneBreaker() {
        let box = DirectoryBreakerBox(DirectoryBreaker(cooldown: 10))
        box.unreachable(now: t0)
        #expect(!box.shouldAsk(now: t0.addingTimeInterval(5)))
        box.answered()
        #expect(box.shouldAsk(now: t0.addingTimeInterval(5)))
    }
}
