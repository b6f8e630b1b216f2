import Foundation
import LDAPClient
import TestSupport
import Testing

import Directory


/// A workspace with one account, built as root on the shared slapd; the audit log writes as
/// the gwdir service account, as `gwdir serve` does.
struct AuditWorld: Sendable {
    let fixture: DirectoryFixture
    let workspace: String
    let clock: TestClock

    var workspaceDN: String { "o=\(workspace),\(fixture.workspacesDN)" }
    func accountDN(_ uid: String) -> String { "uid=\(uid),ou=unit,\(workspaceDN)" }
    func mail(_ uid: String) -> String { "\(uid)@\(workspace).test" }

    static func make(start: Date = Date(timeIntervalSince1970: 1_800_000_000), accounts: [String] = ["alice"], fixture: DirectoryFixture? = nil) async throws -> AuditWorld {
        let fixture = try fixture ?? DirectoryFixture.shared()
        let world = AuditWorld(fixture: fixture, workspace: "t-" + UUID().uuidString.prefix(8).lowercased(), clock: TestClock(start))
        let root = fixture.rootConnection()
        defer { root.close() }
        try await root.add(dn: world.workspaceDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", "gwWorkspace"), LDAPAttribute("o", world.workspace),
            LDAPAttribute("gwMailDomain", "\(world.workspace).test"),
        ])
        try await root.add(dn: "ou=unit,\(world.workspaceDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", "organizationalUnit"), LDAPAttribute("ou", "unit"),
        ])
        for uid in accounts {
            try await root.add(dn: world.accountDN(uid).parsedDN, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
                LDAPAttribute("uid", uid), LDAPAttribute("cn", uid), LDAPAttribute("sn", uid), LDAPAttribute("givenName", uid),
                LDAPAttribute("mail", world.mail(uid)), LDAPAttribute("userPassword", "pw-\(uid)"),
                LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwServiceType", "both"),
                LDAPAttribute("gwEnabledService", ["imap", "pop3", "smtp", "web"]),
                LDAPAttribute("gwHomeWorkspace", world.workspaceDN), LDAPAttribute("gwAliasCount", "0"),
            ])
        }
        return world
    }

    /// A log writing as cn=gwdir. Automatic retention is off unless asked for: suites run in
    /// parallel on one server, and another test's clock must not purge this one's events.
    func log(_ connection: LDAPConnection, geoIP: GeoIPDatabase? = nil, purgeInterval: Duration? = nil, lastLoginInterval: Duration = .seconds(60)) throws -> AuditLog {
        let clock = self.clock
        let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN), now: { clock.now })
        return AuditLog(context: context, geoIP: geoIP, lastLoginInterval: lastLoginInterval, purgeInterval: purgeInterval)
    }

    func event(
        _ uid: String? = "alice", type: LoginType = .pop3, ip: String = "175.192.0.1", outcome: LoginOutcome = .success,
        at offset: TimeInterval = 0, login: String? = nil
    ) -> LoginEvent {
        LoginEvent(time: clock.now.addingTimeInterval(offset), accountDN: uid.map { accountDN($0).parsedDN }, loginName: login ?? mail(uid ?? "nobody"),
                   type: type, client: type.isMailProtocol ? "" : "chrome", ip: IPAddress(ip), country: nil, outcome: outcome)
    }

    func lastLogin(_ uid: String) async throws -> [String: String] {
        let root = fixture.rootConnection()
        defer { root.close() }
        let entry = try #require(try await root.entry(accountDN(uid).parsedDN, attributes: ["gwLastLoginTime", "gwLastLoginType", "gwLastLoginIP", "gwLastLoginCountry"]))
        var values: [String: String] = [:]
        for name in ["gwLastLoginTime", "gwLastLoginType", "gwLastLoginIP", "gwLastLoginCountry"] { values[name] = entry.string(name) }
        return values
    }
}

import GeoIP

@Suite struct AuditLogTests {
    @Test func concurrentRepeatsFoldIntoOneEntry() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask { try await log.record(world.event(at: TimeInterval(index % 5))) }
            }
            try await group.waitForAll()
        }
        var entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.count == 1)
        #expect(entries.first?.count == 50)
        #expect(entries.first?.firstTime == world.clock.now)
        #expect(entries.first?.lastTime == world.clock.now.addingTimeInterval(4))

        // Another IP is another entry; the next repeat of it folds there.
        try await log.record(world.event(ip: "81.2.69.7", at: 10))
        try await log.record(world.event(ip: "81.2.69.7", at: 11))
        entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.map(\.count) == [2, 50])
        #expect(entries.first?.ip == "81.2.69.7")
    }

    @Test func aFreshLogFoldsIntoTheStoredEntry() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let first = try world.log(ldap)
        let added = try await first.write(world.event(type: .imap))
        // Another process (an empty cache) finds the entry by an indexed search.
        let second = try world.log(ldap)
        let folded = try await second.write(world.event(type: .imap, at: 60))
        #expect(folded == .folded(added.dn))
        let entries = try await second.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.count == 1 && entries.first?.count == 2)
    }

    @Test func differentKeysAndWebLoginsStartNewEntries() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        try await log.record(world.event(type: .smtp))
        try await log.record(world.event(type: .smtp, outcome: .failure(.wrongPassword), at: 1))
        try await log.record(world.event(type: .smtp, outcome: .failure(.wrongPassword), at: 2))
        try await log.record(world.event(type: .pcBrowser, at: 3))
        try await log.record(world.event(type: .pcBrowser, at: 4))
        // After a web login the next SMTP success is a new entry: the timeline stays true.
        try await log.record(world.event(type: .smtp, at: 5))
        // An hour of silence starts a new entry too (AuditFoldingPolicy.maxGap).
        try await log.record(world.event(type: .smtp, at: 5 + 3601))
        let entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.map(\.count) == [1, 1, 1, 1, 2, 1])
        #expect(entries.map { $0.type } == [.smtp, .smtp, .pcBrowser, .pcBrowser, .smtp, .smtp])
        #expect(entries[4].reason == .wrongPassword)
        #expect(entries.allSatisfy { $0.workspaceDN?.description.lowercased() == world.workspaceDN.lowercased() })
    }

    @Test func incrementOfADeletedEntryAddsANewOne() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let first = try await log.write(world.event())
        let root = world.fixture.rootConnection()
        defer { root.close() }
        try await root.delete(dn: first.dn)
        let second = try await log.write(world.event(at: 1))
        guard case .added(let dn) = second else {
            Issue.record("expected a new entry, got \(second)")
            return
        }
        #expect(dn != first.dn)
        let entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.map(\.count) == [1])
    }

    @Test func unknownLoginsFoldByLoginName() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let login = "ghost@\(world.workspace).test"
        for offset in 0..<3 {
            try await log.record(world.event(nil, type: .imap, outcome: .failure(.unauthorizedUser), at: TimeInterval(offset), login: login))
        }
        let entries = try await log.events(loginName: login.uppercased())
        #expect(entries.count == 1 && entries.first?.count == 3 && entries.first?.accountDN == nil)
        #expect(entries.first?.reason == .unauthorizedUser)
    }

    @Test func countryComesFromGeoIPOrIsUnknown() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap, geoIP: try TestGeoIP.open())
        try await log.record(world.event(type: .pcBrowser, ip: "81.2.69.160"))
        try await log.record(world.event(type: .pcBrowser, ip: "10.1.2.3", at: 1))
        try await log.record(world.event(type: .pcBrowser, ip: "2001:db8::5", at: 2))
        let entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.map(\.country) == ["unknown", "unknown", "GB"])

        let withoutDatabase = try world.log(ldap)
        try await withoutDatabase.record(world.event(type: .mobileWeb, ip: "175.192.0.9", at: 3))
        #expect(try await withoutDatabase.events(account: DistinguishedName(world.accountDN("alice")), limit: 1).first?.country == "unknown")
    }

    @Test func lastLoginMovesOnlyForward() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap, geoIP: try TestGeoIP.open())
        try await log.record(world.event(type: .pcBrowser, ip: "81.2.69.1", at: 100))
        var last = try await world.lastLogin("alice")
        #expect(last["gwLastLoginTime"] == GeneralizedTime.format(world.clock.now.addingTimeInterval(100)))
        #expect(last["gwLastLoginType"] == "pc" && last["gwLastLoginIP"] == "81.2.69.1" && last["gwLastLoginCountry"] == "GB")

        // Older, failed, or a failure at a later time: none of them moves it.
        try await log.record(world.event(type: .mobileWeb, ip: "175.192.0.1", at: 50))
        try await log.record(world.event(type: .pcBrowser, ip: "175.192.0.1", outcome: .failure(.wrongPassword), at: 200))
        #expect(try await world.lastLogin("alice") == last)

        try await log.record(world.event(type: .messengerApp, ip: "175.192.0.1", at: 300))
        last = try await world.lastLogin("alice")
        #expect(last["gwLastLoginType"] == "messenger_app" && last["gwLastLoginCountry"] == "KR")
    }

    @Test func lastLoginMovesOncePerMinuteAndKeepsTheNewest() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        try await log.record(world.event(type: .pop3, ip: "81.2.69.1"))
        // Inside the minute: deferred, the newest of them kept (web and mail alike).
        try await log.record(world.event(type: .pop3, ip: "81.2.69.2", at: 30))
        try await log.record(world.event(type: .pcBrowser, ip: "81.2.69.4", at: 40))
        try await log.record(world.event(type: .imap, ip: "81.2.69.5", at: 35))
        #expect(try await world.lastLogin("alice")["gwLastLoginIP"] == "81.2.69.1")
        try await log.flushLastLogins()
        var last = try await world.lastLogin("alice")
        #expect(last["gwLastLoginIP"] == "81.2.69.4" && last["gwLastLoginType"] == "pc")
        #expect(last["gwLastLoginTime"] == GeneralizedTime.format(world.clock.now.addingTimeInterval(40)))

        // The flushed login opened the next minute: 61 waits, 101 (a minute after 40) writes.
        try await log.record(world.event(type: .pop3, ip: "81.2.69.6", at: 61))
        #expect(try await world.lastLogin("alice")["gwLastLoginIP"] == "81.2.69.4")
        try await log.record(world.event(type: .pop3, ip: "81.2.69.3", at: 101))
        last = try await world.lastLogin("alice")
        #expect(last["gwLastLoginIP"] == "81.2.69.3" && last["gwLastLoginType"] == "pop3" && last["gwLastLoginCountry"] == "unknown")
        // Nothing is left deferred: a flush writes nothing more.
        try await log.flushLastLogins()
        #expect(try await world.lastLogin("alice") == last)
    }

    @Test func concurrentLoginsLeaveTheNewestAsTheLastLogin() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        // 50 logins of one account inside a minute, recorded at once in shuffled order.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for offset in (0..<50).shuffled() {
                group.addTask { try await log.record(world.event(type: offset.isMultiple(of: 2) ? .pcBrowser : .imap, ip: "81.2.70.\(offset)", at: Double(offset))) }
            }
            try await group.waitForAll()
        }
        try await log.flushLastLogins()
        let last = try await world.lastLogin("alice")
        #expect(last["gwLastLoginTime"] == GeneralizedTime.format(world.clock.now.addingTimeInterval(49)))
        #expect(last["gwLastLoginIP"] == "81.2.70.49" && last["gwLastLoginType"] == "imap")
    }

    @Test func aCancelledRecordingStillCompletesTheWritesOthersJoined() async throws {
        let world = try await AuditWorld.make()
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        try await log.record(world.event())
        // Every task is cancelled before or while it records: a batch's sender among them
        // still sends it (LDAPClient refuses writes of cancelled tasks), so no joiner fails.
        let recorded = await withTaskGroup(of: Bool.self) { group in
            for index in 1...50 {
                group.addTask {
                    do {
                        try await log.record(world.event(at: TimeInterval(index % 5)))
                        return true
                    } catch {
                        return false
                    }
                }
            }
            group.cancelAll()
            var recorded = 0
            for await success in group where success { recorded += 1 }
            return recorded
        }
        #expect(recorded == 50)
        let entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.map(\.count) == [51])
    }

    @Test func listingFiltersAndLimits() async throws {
        let world = try await AuditWorld.make(accounts: ["alice", "bob"])
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let day: TimeInterval = 86_400
        try await log.record(world.event(type: .pop3, at: 0))
        try await log.record(world.event(type: .pcBrowser, outcome: .failure(.wrongOTP), at: day))
        try await log.record(world.event(type: .smtp, at: 2 * day))
        try await log.record(world.event("bob", type: .pop3, at: 3 * day))
        let alice = try DistinguishedName(world.accountDN("alice"))
        let t0 = world.clock.now

        #expect(try await log.events(account: alice).map(\.type) == [.smtp, .pcBrowser, .pop3])
        #expect(try await log.events(account: alice, type: .pcBrowser).map(\.reason) == [.wrongOTP])
        #expect(try await log.events(account: alice, result: .failure).count == 1)
        #expect(try await log.events(account: alice, since: t0.addingTimeInterval(day)).map(\.type) == [.smtp, .pcBrowser])
        #expect(try await log.events(account: alice, until: t0.addingTimeInterval(day)).map(\.type) == [.pcBrowser, .pop3])
        #expect(try await log.events(account: alice, limit: 1).map(\.type) == [.smtp])
        #expect(try await log.events(loginName: world.mail("bob")).map(\.type) == [.pop3])
    }

    @Test func retentionDeletesOldEventsButKeepsTheLastLogin() async throws {
        // Long before every other test's clock, so only this test's events are that old.
        let world = try await AuditWorld.make(start: Date(timeIntervalSince1970: 978_307_200))  // 2001-01-01
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap, purgeInterval: .seconds(3600))
        let alice = try DistinguishedName(world.accountDN("alice"))
        try await log.record(world.event(type: .pcBrowser))
        try await log.record(world.event(type: .imap, at: 1))
        try await log.record(world.event(type: .imap, at: 2))
        try await log.flushLastLogins()
        #expect(try await log.events(account: alice).count == 2)

        world.clock.advance(by: 59 * 86_400)
        try await log.record(world.event(type: .smtp, outcome: .failure(.wrongPassword)))
        #expect(try await log.events(account: alice).count == 3, "59 days: nothing expired yet")

        world.clock.advance(by: 2 * 86_400)
        try await log.record(world.event(type: .smtp, outcome: .failure(.wrongPassword)))
        let remaining = try await log.events(account: alice)
        #expect(remaining.map(\.count) == [1, 1], "the 2001-01-01 entries are gone, the two failures stay")
        #expect(remaining.allSatisfy { $0.type == .smtp })
        // The newest success was 61 days ago (IMAP, two seconds after the web login): its event
        // is gone, the account still shows it.
        let last = try await world.lastLogin("alice")
        #expect(last["gwLastLoginTime"] == "20010101000002Z" && last["gwLastLoginType"] == "imap")

        // 119 days less 10 minutes: the log purges (the last purge was 58 days ago); nothing new is due.
        world.clock.advance(by: 58 * 86_400 - 600)
        try await log.record(world.event(type: .pcBrowser))
        #expect(try await log.events(account: alice).count == 3)
        // 20 minutes on, the 59-day entry is expired, but the log purged 20 minutes ago: it waits.
        world.clock.advance(by: 1200)
        try await log.record(world.event(type: .pcBrowser))
        #expect(try await log.events(account: alice).count == 4)
        let purged = try await log.purgeExpired()
        #expect(purged.events >= 1)
        #expect(try await log.events(account: alice).map(\.type) == [.pcBrowser, .pcBrowser, .smtp])
    }

    @Test func purgeDeletesIdleIPBlocksOnly() async throws {
        let world = try await AuditWorld.make()
        let root = world.fixture.rootConnection()
        defer { root.close() }
        let layout = try DirectoryLayout(base: world.fixture.baseDN)
        let octet = Int.random(in: 1...254)
        let idle = try layout.ipBlocks.child(type: "gwClientIP", value: "198.18.\(octet).1")
        let blocked = try layout.ipBlocks.child(type: "gwClientIP", value: "198.18.\(octet).2")
        try await root.add(dn: idle, attributes: [
            LDAPAttribute("objectClass", "gwIPBlock"), LDAPAttribute("gwClientIP", "198.18.\(octet).1"),
            LDAPAttribute("gwFailureCount", "3"), LDAPAttribute("gwWindowStart", "19800101000000Z"),
        ])
        try await root.add(dn: blocked, attributes: [
            LDAPAttribute("objectClass", "gwIPBlock"), LDAPAttribute("gwClientIP", "198.18.\(octet).2"),
            LDAPAttribute("gwFailureCount", "9"), LDAPAttribute("gwWindowStart", "19800101000000Z"),
            LDAPAttribute("gwBlockedUntil", "20990101000000Z"),
        ])
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        // 1990: a cutoff before every other test's events.
        let purged = try await world.log(ldap).purgeExpired(now: Date(timeIntervalSince1970: 631_152_000))
        #expect(GeneralizedTime.format(purged.cutoff) == "19891102000000Z")
        #expect(try await root.entry(idle) == nil)
        #expect(try await root.entry(blocked) != nil)
        try await root.delete(dn: blocked)
    }

    @Test func ownEventsAreReadableByTheUserAndNotByAnother() async throws {
        let world = try await AuditWorld.make(accounts: ["alice", "bob"])
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        try await world.log(ldap).record(world.event(type: .pcBrowser))
        let layout = try DirectoryLayout(base: world.fixture.baseDN)
        for (uid, expected) in [("alice", 1), ("bob", 0)] {
            let user = world.fixture.connection(.simple(dn: world.accountDN(uid), password: "pw-\(uid)"))
            defer { user.close() }
            let log = AuditLog(context: DirectoryContext(ldap: user, layout: layout), purgeInterval: nil)
            #expect(try await log.events(account: DistinguishedName(world.accountDN("alice"))).count == expected, "\(uid)")
        }
    }
}
