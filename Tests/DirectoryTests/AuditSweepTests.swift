import Foundation
import LDAPClient
import Testing

@testable import Directory

/// ``AuditSweepService`` on the test clock: deferred last logins are written when the clock
/// passes their interval, without sleeping.
@Suite struct AuditSweepTests {
    @Test func aDeferredLastLoginIsWrittenWhenItsIntervalHasPassed() async throws {
        let world = try await AuditWorld.make(accounts: ["alice", "bob"])
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap, lastLoginInterval: .seconds(2))
        let (passes, passed) = AsyncStream.makeStream(of: Int.self)
        let sweep = AuditSweepService(log: log, clock: world.clock.sleeper, onPass: { passed.yield($0) })
        let running = Task { try await sweep.run() }
        try await log.record(world.event(type: .pcBrowser, ip: "81.2.69.1"))
        try await log.record(world.event(type: .pcBrowser, ip: "81.2.69.2", at: 1))
        try await log.record(world.event("bob", type: .imap, ip: "81.2.69.7"))
        try await log.record(world.event("bob", type: .imap, ip: "81.2.69.8", at: 1))
        // The sweep times both deferrals; a second and a half on, neither is due.
        await world.clock.untilSleeping()
        world.clock.advance(by: 1.5)
        #expect(try await world.lastLogin("alice")["gwLastLoginIP"] == "81.2.69.1")
        #expect(try await world.lastLogin("bob")["gwLastLoginIP"] == "81.2.69.7")
        world.clock.advance(by: 0.5)
        var iterator = passes.makeAsyncIterator()
        #expect(await iterator.next() == 2)
        #expect(try await world.lastLogin("alice")["gwLastLoginIP"] == "81.2.69.2")
        #expect(try await world.lastLogin("bob")["gwLastLoginIP"] == "81.2.69.8")

        // Idle again; a new deferral wakes it, and stopping the service flushes it.
        world.clock.advance(by: 60)
        try await log.record(world.event(type: .imap, ip: "81.2.69.3", at: 61))
        try await log.record(world.event(type: .imap, ip: "81.2.69.4", at: 62))
        await world.clock.untilSleeping()
        running.cancel()
        try await running.value
        #expect(try await world.lastLogin("alice")["gwLastLoginIP"] == "81.2.69.4")
    }
}
