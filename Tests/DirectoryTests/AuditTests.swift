import Foundation
import Testing

import Directory

@Suite struct LoginEventTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    static func event(
        _ offset: TimeInterval = 0,
        dn: String? = "uid=alice,ou=people,dc=example,dc=com",
        login: String = "alice@example.com",
        type: LoginType = .pop3,
        ip: String? = "203.0.113.7",
        outcome: LoginOutcome = .success
    ) -> LoginEvent {
        LoginEvent(
            time: t0.addingTimeInterval(offset), accountDN: dn?.parsedDN, loginName: login, type: type,
            client: type.isMailProtocol ? type.rawValue : "chrome", ip: ip.flatMap(IPAddress.init),
            country: "KR", outcome: outcome)
    }

    @Test func outcomeCarriesResultAndReason() {
        #expect(Self.event().result == .success && Self.event().reason == nil)
        let failed = Self.event(outcome: .failure(.wrongPassword))
        #expect(failed.result == .failure && failed.reason == .wrongPassword)
    }

    @Test func onlyMailProtocolsHaveAFoldingKey() {
        for type in LoginType.allCases {
            #expect((Self.event(type: type).foldingKey != nil) == type.isMailProtocol, "\(type)")
        }
    }

    @Test func keyIsAccountProtocolIPResultAndReason() throws {
        let key = try #require(Self.event().foldingKey)
        #expect(key == AuditFoldingKey(
            account: .dn("uid=alice,ou=people,dc=example,dc=com"), type: .pop3,
            ip: IPAddress("203.0.113.7"), result: .success, reason: nil))
        #expect(Self.event(dn: "UID=Alice,OU=people,DC=example,DC=com").foldingKey == key)
        #expect(Self.event(login: "ALICE").foldingKey == key)
        #expect(Self.event(ip: "::ffff:203.0.113.7").foldingKey == key)
        #expect(Self.event(dn: "uid=bob,ou=people,dc=example,dc=com").foldingKey != key)
        #expect(Self.event(type: .imap).foldingKey != key)
        #expect(Self.event(ip: "203.0.113.8").foldingKey != key)
        #expect(Self.event(ip: nil).foldingKey != key)
        #expect(Self.event(outcome: .failure(.wrongPassword)).foldingKey != key)
        #expect(Self.event(outcome: .failure(.wrongPassword)).foldingKey != Self.event(outcome: .failure(.pop3Disabled)).foldingKey)
    }

    @Test func unknownAccountsFoldByLoginName() throws {
        let key = try #require(Self.event(dn: nil, login: "Mallory@Example.com", outcome: .failure(.unauthorizedUser)).foldingKey)
        #expect(key.account == .loginName("mallory@example.com"))
        #expect(Self.event(dn: nil, login: "mallory@example.com", outcome: .failure(.unauthorizedUser)).foldingKey == key)
    }
}

@Suite struct AuditFoldingPolicyTests {
    static let policy = AuditFoldingPolicy()
    static let t0 = LoginEventTests.t0

    static func newest(_ event: LoginEvent, first: TimeInterval = 0, last: TimeInterval) -> AuditEntrySummary {
        AuditEntrySummary(key: event.foldingKey, firstTime: t0.addingTimeInterval(first), lastTime: t0.addingTimeInterval(last))
    }

    @Test func defaults() {
        #expect(Self.policy.maxGap == .seconds(3600))
        #expect(Self.policy.maxSpan == .seconds(86_400))
    }

    @Test func sameKeyWithinTheGapIncrements() {
        let entry = Self.newest(LoginEventTests.event(), last: 0)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(300)) == .increment)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(3600)) == .increment)
    }

    @Test func beyondTheGapStartsANewEntry() {
        let entry = Self.newest(LoginEventTests.event(), last: 0)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(3601)) == .newEntry)
        let tight = AuditFoldingPolicy(maxGap: .seconds(60))
        #expect(tight.decide(newest: entry, event: LoginEventTests.event(61)) == .newEntry)
        #expect(tight.decide(newest: entry, event: LoginEventTests.event(60)) == .increment)
    }

    @Test func slightlyOutOfOrderEventsStillFold() {
        let entry = Self.newest(LoginEventTests.event(), first: 0, last: 600)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(590)) == .increment)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(600 - 3601)) == .newEntry)
    }

    @Test func aDifferentKeyStartsANewEntry() {
        let entry = Self.newest(LoginEventTests.event(), last: 0)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(10, ip: "198.51.100.1")) == .newEntry)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(10, type: .imap)) == .newEntry)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(10, outcome: .failure(.wrongPassword))) == .newEntry)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(10, dn: "uid=bob,dc=example,dc=com")) == .newEntry)
    }

    @Test func webLoginsNeverFold() {
        let web = LoginEventTests.event(type: .pcBrowser)
        let entry = Self.newest(web, last: 0)
        #expect(entry.key == nil)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(1, type: .pcBrowser)) == .newEntry)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(1, type: .mobileWeb)) == .newEntry)
        // A mail event right after a web login does not fold into it either.
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(1)) == .newEntry)
    }

    @Test func noExistingEntryStartsOne() {
        #expect(Self.policy.decide(newest: nil, event: LoginEventTests.event()) == .newEntry)
    }

    @Test func anEntryStopsGrowingAfterItsMaximumSpan() {
        let entry = Self.newest(LoginEventTests.event(), first: 0, last: 86_000)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(86_400)) == .increment)
        #expect(Self.policy.decide(newest: entry, event: LoginEventTests.event(86_401)) == .newEntry)
    }

    @Test func pollingFoldsIntoOneEntry() {
        // A POP3 client polling every five minutes for three hours, then again after a night.
        var entries: [(first: Date, last: Date, count: Int)] = []
        let times = (0..<36).map { TimeInterval($0) * 300 } + [50_000, 50_300]
        for time in times {
            let event = LoginEventTests.event(time)
            let newest = entries.last.map {
                AuditEntrySummary(key: event.foldingKey, firstTime: $0.first, lastTime: $0.last)
            }
            switch Self.policy.decide(newest: newest, event: event) {
            case .increment:
                entries[entries.count - 1].last = max(entries[entries.count - 1].last, event.time)
                entries[entries.count - 1].count += 1
            case .newEntry:
                entries.append((event.time, event.time, 1))
            }
        }
        #expect(entries.map(\.count) == [36, 2])
        #expect(entries[0].last == Self.t0.addingTimeInterval(35 * 300))
    }
}

@Suite struct AuditRetentionTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func defaultIsSixtyDays() {
        #expect(AuditRetention().days == 60)
        #expect(AuditRetention().cutoff(now: Self.now) == Self.now.addingTimeInterval(-60 * 86_400))
    }

    @Test func expiryIsStrictlyBeforeTheCutoff() {
        let retention = AuditRetention(days: 60)
        let cutoff = retention.cutoff(now: Self.now)
        #expect(retention.isExpired(lastTime: cutoff.addingTimeInterval(-1), now: Self.now))
        #expect(!retention.isExpired(lastTime: cutoff, now: Self.now))
        #expect(!retention.isExpired(lastTime: cutoff.addingTimeInterval(1), now: Self.now))
        #expect(!retention.isExpired(lastTime: Self.now, now: Self.now))
    }

    @Test func configurableDays() {
        let week = AuditRetention(days: 7)
        #expect(week.isExpired(lastTime: Self.now.addingTimeInterval(-8 * 86_400), now: Self.now))
        #expect(!week.isExpired(lastTime: Self.now.addingTimeInterval(-6 * 86_400), now: Self.now))
        #expect(!AuditRetention(days: 90).isExpired(lastTime: Self.now.addingTimeInterval(-89 * 86_400), now: Self.now))
    }
}
