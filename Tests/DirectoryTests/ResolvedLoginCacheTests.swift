import Directory
import Foundation
import TestSupport
import Testing

/// The drainer's memory of resolved logins, driven by instants of a monotonic clock.
@Suite struct ResolvedLoginCacheTests {
    let t0 = ContinuousClock.now
    let alice = ResolvedLoginAccount(dn: "uid=alice,ou=u,o=w,ou=workspaces,dc=x".parsedDN, adminResetPending: true)

    @Test func anAccountIsRememberedForTheTTLAndANameWithoutOneForLess() {
        var cache = ResolvedLoginCache(ttl: .seconds(30), negativeTTL: .seconds(5))
        #expect(cache.lookUp("alice@w.test", now: t0) == nil)
        cache.store("alice@w.test", alice, now: t0)
        cache.store("ghost@w.test", nil, now: t0)
        #expect(cache.lookUp("alice@w.test", now: t0.advanced(by: .seconds(29))) == .some(alice))
        #expect(cache.lookUp("alice@w.test", now: t0.advanced(by: .seconds(30))) == nil)
        #expect(cache.lookUp("ghost@w.test", now: t0.advanced(by: .seconds(4))) == .some(nil))
        #expect(cache.lookUp("ghost@w.test", now: t0.advanced(by: .seconds(5))) == nil)
    }

    @Test func aClearedMarkIsNotClearedAgain() {
        var cache = ResolvedLoginCache()
        cache.store("alice@w.test", alice, now: t0)
        cache.store("Alice@W.test", alice, now: t0)
        cache.clearedAdminReset(dn: alice.dn)
        #expect(cache.lookUp("alice@w.test", now: t0)??.adminResetPending == false)
        #expect(cache.lookUp("Alice@W.test", now: t0)??.adminResetPending == false)
    }

    @Test func itStaysWithinItsCapacity() {
        var cache = ResolvedLoginCache(ttl: .seconds(30), negativeTTL: .seconds(5), capacity: 100)
        for index in 0..<100 { cache.store("u\(index)@w.test", nil, now: t0) }
        #expect(cache.count == 100)
        // The 101st after the negative entries expired: they go, the new one stays.
        cache.store("late@w.test", alice, now: t0.advanced(by: .seconds(6)))
        #expect(cache.count == 1)
        for index in 0..<99 { cache.store("v\(index)@w.test", alice, now: t0.advanced(by: .seconds(6))) }
        #expect(cache.count == 100)
        // Nothing expired: all go rather than growing.
        cache.store("one-more@w.test", alice, now: t0.advanced(by: .seconds(7)))
        #expect(cache.count == 1)
        #expect(cache.lookUp("one-more@w.test", now: t0.advanced(by: .seconds(7))) == .some(alice))
    }
}
