import Foundation
import LDAPClient
import Testing

@testable import Directory

/// The pure parts of the audit log: entry attributes, filters, times, the in-process state.
@Suite struct AuditRecordsTests {
    static let layout = try! DirectoryLayout(base: "dc=example,dc=com")
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z
    static let alice = "uid=alice,ou=sales,o=acme,ou=workspaces,dc=example,dc=com"

    static func event(type: LoginType = .pop3, dn: String? = alice, ip: String? = "81.2.69.1", outcome: LoginOutcome = .success) -> LoginEvent {
        LoginEvent(time: t0, accountDN: dn?.parsedDN, loginName: "alice@acme.test", type: type, client: "thunderbird",
                   ip: ip.flatMap(IPAddress.init), country: nil, outcome: outcome)
    }

    static func values(_ attributes: [LDAPAttribute]) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: attributes.map { ($0.name, $0.strings) })
    }

    @Test func newEntryHoldsOneEvent() {
        let attributes = Self.values(AuditRecords.attributes(for: Self.event(outcome: .failure(.wrongPassword)), id: "x1", country: "GB", layout: Self.layout))
        #expect(attributes["objectClass"] == ["gwLoginEvent"])
        #expect(attributes["gwEventId"] == ["x1"])
        #expect(attributes["gwAccountRef"] == [Self.alice])
        #expect(attributes["gwLoginName"] == ["alice@acme.test"])
        #expect(attributes["gwLoginType"] == ["pop3"])
        #expect(attributes["gwLoginClient"] == ["thunderbird"])
        #expect(attributes["gwClientIP"] == ["81.2.69.1"])
        #expect(attributes["gwCountry"] == ["GB"])
        #expect(attributes["gwLoginResult"] == ["failure"])
        #expect(attributes["gwFailureReason"] == ["wrong_password"])
        #expect(attributes["gwFirstTime"] == ["20270115080000Z"])
        #expect(attributes["gwLastTime"] == ["20270115080000Z"])
        #expect(attributes["gwEventCount"] == ["1"])
        #expect(attributes["gwWorkspaceRef"] == ["o=acme,ou=workspaces,dc=example,dc=com"])
    }

    @Test func unknownAccountHasNoRefsAndSuccessNoReason() {
        let attributes = Self.values(AuditRecords.attributes(for: Self.event(dn: nil, ip: nil), id: "x2", country: "unknown", layout: Self.layout))
        #expect(attributes["gwAccountRef"] == nil)
        #expect(attributes["gwWorkspaceRef"] == nil)
        #expect(attributes["gwClientIP"] == nil)
        #expect(attributes["gwFailureReason"] == nil)
        #expect(attributes["gwCountry"] == ["unknown"])
    }

    @Test func homeWorkspaceIsTheOAncestorBelowWorkspaces() {
        #expect(AuditRecords.homeWorkspace(of: Self.alice.parsedDN, layout: Self.layout)?.description == "o=acme,ou=workspaces,dc=example,dc=com")
        #expect(AuditRecords.homeWorkspace(of: "cn=gwdir,ou=system,dc=example,dc=com".parsedDN, layout: Self.layout) == nil)
        #expect(AuditRecords.homeWorkspace(of: nil, layout: Self.layout) == nil)
    }

    @Test func homeWorkspacesAreCachedPerParentEntry() {
        let state = AuditLogState()
        let derivations = LockedValue(0)
        func workspace(_ dn: String) -> String? {
            state.homeWorkspace(of: dn.parsedDN) { dn in
                derivations.withLock { $0 += 1 }
                return AuditRecords.homeWorkspace(of: dn, layout: Self.layout)?.description
            }
        }
        #expect(workspace(Self.alice) == "o=acme,ou=workspaces,dc=example,dc=com")
        #expect(workspace("uid=bob,ou=sales,o=acme,ou=workspaces,dc=example,dc=com") == "o=acme,ou=workspaces,dc=example,dc=com")
        // An escaped comma is part of the RDN, not a parent: still ou=sales's accounts.
        #expect(workspace(#"uid=a\,b,ou=sales,o=acme,ou=workspaces,dc=example,dc=com"#) == "o=acme,ou=workspaces,dc=example,dc=com")
        #expect(workspace("uid=carol,o=beta,ou=workspaces,dc=example,dc=com") == "o=beta,ou=workspaces,dc=example,dc=com")
        #expect(workspace("cn=gwdir,ou=system,dc=example,dc=com") == nil)
        #expect(derivations.withLock { $0 } == 3)
    }

    @Test func eventIDsFromOneLogAreDistinctHexNumbers() throws {
        let state = AuditLogState()
        let ids = (0..<5000).map { _ in state.newEventID(time: Self.t0) }
        #expect(Set(ids).count == 5000)
        #expect(ids.allSatisfy { id in
            id.hasPrefix("20270115080000-") && id.dropFirst(15).allSatisfy { $0.isHexDigit && !$0.isUppercase } && (16...31).contains(id.count)
        })
        #expect(AuditRecords.eventID(time: Self.t0, number: 0) == "20270115080000-0")
        #expect(AuditRecords.eventID(time: Self.t0, number: 0xABCDEF) == "20270115080000-abcdef")
        #expect(AuditRecords.eventID(time: Self.t0, number: .max) == "20270115080000-ffffffffffffffff")
        // The mix is a bijection: consecutive counters never collide.
        #expect(Set((0..<10_000 as Range<UInt64>).map(AuditRecords.mix)).count == 10_000)
    }

    @Test func accountKeysLowercaseOnlyWhenNeeded() {
        #expect(AuditRecords.lowercased("uid=alice,o=acme") == "uid=alice,o=acme")
        #expect(AuditRecords.lowercased("UID=Alice,O=Acme") == "uid=alice,o=acme")
        #expect(AuditRecords.lowercased("uid=Ä,o=acme") == "uid=ä,o=acme")
    }

    @Test func eventIDsAreUniqueAndValidRDNValues() throws {
        let state = AuditLogState()
        let ids = Set((0..<1000).map { _ in state.newEventID(time: Self.t0) })
        #expect(ids.count == 1000)
        #expect(ids.allSatisfy { $0.hasPrefix("20270115080000-") })
        #expect(throws: Never.self) { try Self.layout.auditEvents.child(type: "gwEventId", value: ids.first!) }
    }

    @Test func generalizedTimeAgreesWithCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var random = SystemRandomNumberGenerator()
        // 1900 to 2200, leap days and year ends included.
        let samples = (0..<2000).map { _ in Double(Int64.random(in: -2_208_988_800...7_258_118_400, using: &random)) + 0.75 }
            + [951_782_400, 951_868_799, 978_307_199, 4_107_542_399, -1, 0].map(Double.init)
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let expected = String(format: "%04d%02d%02d%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
            #expect(GeneralizedTime.format(date) == expected, "\(seconds)")
            #expect(GeneralizedTime.parse(expected) == Date(timeIntervalSince1970: seconds.rounded(.down)))
        }
    }

    @Test func wholeSecondsTruncate() {
        #expect(AuditRecords.wholeSecond(Self.t0.addingTimeInterval(0.999)) == Self.t0)
    }

    @Test func summaryRebuildsTheKeyFromTheEntry() throws {
        let event = Self.event(outcome: .failure(.wrongPassword))
        let entry = LDAPEntry(dn: "gwEventId=x,ou=events,ou=audit,dc=example,dc=com",
                              attributes: AuditRecords.attributes(for: event, id: "x", country: "GB", layout: Self.layout))
        let summary = try #require(AuditRecords.summary(of: entry, account: AuditRecords.account(of: event)))
        #expect(summary.key == event.foldingKey)
        #expect(summary.firstTime == Self.t0 && summary.lastTime == Self.t0)
        #expect(AuditFoldingPolicy().decide(newest: summary, event: event) == .increment)

        let web = Self.event(type: .pcBrowser)
        let webEntry = LDAPEntry(dn: "gwEventId=y,ou=events,ou=audit,dc=example,dc=com",
                                 attributes: AuditRecords.attributes(for: web, id: "y", country: "GB", layout: Self.layout))
        #expect(AuditRecords.summary(of: webEntry, account: AuditRecords.account(of: web))?.key == nil)
    }

    @Test func foldCandidatesAreFoundByAccountOrLoginName() {
        let since = Self.t0.addingTimeInterval(-3600)
        #expect(AuditRecords.foldCandidatesFilter(for: Self.event(), since: since).description
            == "(&(objectClass=gwLoginEvent)(gwAccountRef=\(Self.alice))(gwLastTime>=20270115070000Z))")
        var stranger = Self.event(dn: nil)
        stranger.loginName = "x*)(uid=*"
        #expect(AuditRecords.foldCandidatesFilter(for: stranger, since: since).description
            == "(&(objectClass=gwLoginEvent)(&(gwLoginName=x\\2a\\29\\28uid=\\2a)(!(gwAccountRef=*)))(gwLastTime>=20270115070000Z))")
    }

    @Test func listFilterUsesIndexedAttributes() throws {
        let filter = AuditRecords.listFilter(
            account: try DistinguishedName(Self.alice), loginName: nil, type: .smtp, result: .failure,
            since: Self.t0, until: Self.t0.addingTimeInterval(86_400)
        )
        #expect(filter.description == "(&(objectClass=gwLoginEvent)(gwAccountRef=\(Self.alice))(gwLoginType=smtp)(gwLoginResult=failure)"
            + "(gwLastTime>=20270115080000Z)(gwFirstTime<=20270116080000Z))")
        #expect(AuditRecords.listFilter(account: nil, loginName: nil, type: nil, result: nil, since: nil, until: nil).description
            == "(&(objectClass=gwLoginEvent))")
    }

    @Test func expiredMeansLastTimeBeforeTheCutoff() {
        #expect(AuditRecords.expiredFilter(cutoff: Self.t0).description == "(&(objectClass=gwLoginEvent)(gwLastTime<=20270115075959Z))")
        #expect(AuditRecords.expiredFilter(cutoff: Self.t0.addingTimeInterval(0.5)).description
            == "(&(objectClass=gwLoginEvent)(gwLastTime<=20270115080000Z))")
    }

    @Test func listingIsNewestFirstWithStableTies() throws {
        func entry(_ id: String, first: TimeInterval, last: TimeInterval) throws -> AuditEntry {
            try AuditEntry(LDAPEntry(dn: "gwEventId=\(id)", attributes: [
                LDAPAttribute("gwFirstTime", GeneralizedTime.format(Self.t0.addingTimeInterval(first))),
                LDAPAttribute("gwLastTime", GeneralizedTime.format(Self.t0.addingTimeInterval(last))),
            ]))
        }
        let sorted = try [entry("a", first: 0, last: 10), entry("b", first: 5, last: 30), entry("c", first: 0, last: 30), entry("d", first: 0, last: 30)]
            .sorted(by: AuditEntry.newestFirst).map(\.dn.description)
        #expect(sorted == ["gwEventId=b", "gwEventId=c", "gwEventId=d", "gwEventId=a"])
    }

    @Test func entryReadsUnknownCodesWithoutLosingThem() throws {
        let entry = try AuditEntry(LDAPEntry(dn: "gwEventId=z", attributes: [
            LDAPAttribute("gwLoginType", "carrier_pigeon"), LDAPAttribute("gwFailureReason", "cosmic_ray"),
            LDAPAttribute("gwLoginResult", "failure"), LDAPAttribute("gwEventCount", "7"),
        ]))
        #expect(entry.type == nil && entry.typeCode == "carrier_pigeon")
        #expect(entry.reason == nil && entry.reasonCode == "cosmic_ray")
        #expect(entry.result == .failure && entry.count == 7 && entry.country == "unknown")
    }

    @Test func entryReadsItsReferencesAsDNs() throws {
        let entry = try AuditEntry(LDAPEntry(dn: "gwEventId=r", attributes: [
            LDAPAttribute("gwAccountRef", Self.alice), LDAPAttribute("gwWorkspaceRef", "o=acme,ou=workspaces,dc=example,dc=com"),
        ]))
        #expect(entry.accountDN == Self.alice.parsedDN)
        #expect(entry.workspaceDN == "o=acme,ou=workspaces,dc=example,dc=com".parsedDN)
        let bare = try AuditEntry(LDAPEntry(dn: "gwEventId=s", attributes: []))
        #expect(bare.accountDN == nil && bare.workspaceDN == nil)
        // A reference that does not parse is an error naming the entry, never taken as absent.
        for attribute in ["gwAccountRef", "gwWorkspaceRef"] {
            let error = try #require(throws: DirectoryError.self) {
                try AuditEntry(LDAPEntry(dn: "gwEventId=t", attributes: [LDAPAttribute(attribute, "not a dn\nsecond line")]))
            }
            #expect(error.code == .failed)
            #expect(error.message == "the audit entry gwEventId=t has an unreadable \(attribute) \"not a dn\\nsecond line\"")
        }
    }

    @Test func ipAddressBytesAreNetworkOrder() {
        #expect(IPAddress("81.2.69.1")!.bytes == [81, 2, 69, 1])
        #expect(IPAddress("2001:db8::1")!.bytes == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])
    }

    @Test func purgeIsClaimedOncePerInterval() {
        let state = AuditLogState()
        #expect(state.claimPurge(at: Self.t0, interval: 3600))
        #expect(!state.claimPurge(at: Self.t0.addingTimeInterval(3599), interval: 3600))
        #expect(state.claimPurge(at: Self.t0.addingTimeInterval(3600), interval: 3600))
        // A clock set back (a test, an NTP step) claims again rather than waiting an hour.
        #expect(state.claimPurge(at: Self.t0, interval: 3600))
    }

    @Test func writeOutcomesReachEveryWaiter() async throws {
        let outcome = WriteOutcome()
        let first = Task { try await outcome.wait() }
        let second = Task { try await outcome.wait() }
        outcome.finish(.failure(LDAPError(code: .noSuchObject, message: "gone", operation: .modify)))
        await #expect(throws: LDAPError.self) { try await first.value }
        await #expect(throws: LDAPError.self) { try await second.value }
        // Late waiters get the same answer at once.
        await #expect(throws: LDAPError.self) { try await outcome.wait() }
    }
}

@Suite struct AuditTimeArgumentTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    @Test func spansCountBackFromNow() throws {
        #expect(try AuditTimeArgument.parse("7d", as: .since, now: Self.now) == Self.now.addingTimeInterval(-7 * 86_400))
        #expect(try AuditTimeArgument.parse("12h", as: .since, now: Self.now) == Self.now.addingTimeInterval(-12 * 3600))
        #expect(try AuditTimeArgument.parse("30m", as: .until, now: Self.now) == Self.now.addingTimeInterval(-1800))
        #expect(try AuditTimeArgument.parse("2w", as: .since, now: Self.now) == Self.now.addingTimeInterval(-14 * 86_400))
    }

    @Test func daysAreWholeUTCDays() throws {
        let start = try AuditTimeArgument.parse("2026-11-01", as: .since, now: Self.now)
        let end = try AuditTimeArgument.parse("2026-11-01", as: .until, now: Self.now)
        #expect(GeneralizedTime.format(start) == "20261101000000Z")
        #expect(GeneralizedTime.format(end) == "20261101235959Z")
    }

    @Test func instants() throws {
        #expect(GeneralizedTime.format(try AuditTimeArgument.parse("2026-11-01T09:30:00Z", as: .since, now: Self.now)) == "20261101093000Z")
        #expect(GeneralizedTime.format(try AuditTimeArgument.parse("20261101093000Z", as: .since, now: Self.now)) == "20261101093000Z")
    }

    @Test func nonsenseIsRefused() {
        for text in ["", "d", "-3d", "7x", "2026-02-30", "2026-13-01", "yesterday"] {
            #expect(throws: DirectoryError.self, "\(text)") { try AuditTimeArgument.parse(text, as: .since, now: Self.now) }
        }
    }

    @Test func typesAcceptCodesAndHyphens() {
        #expect(LoginType(argument: "mobile-web") == .mobileWeb)
        #expect(LoginType(argument: "POP3") == .pop3)
        #expect(LoginType(argument: "pc") == .pcBrowser)
        #expect(LoginType(argument: "fax") == nil)
    }
}
