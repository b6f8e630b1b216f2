import Foundation
import Testing

/// docker/dovecot rendered into a temp dir and run as a real Dovecot on 127.0.0.1 against the
/// harness slapd; every test starts its own server and stops it on every path (withDovecot).
@Suite struct DovecotAuthTests {
    @Test func accountPasswordLogin() async throws {
        try await withDovecot { dovecot, sample async throws in
            let alice = sample.address("alice")
            let ok = try dovecot.authTest(alice, sample.password("alice"))
            #expect(ok.status == 0, "\(ok)")
            #expect(ok.stdout.contains("auth succeeded"), "\(ok)")
            #expect(ok.stdout.contains("user=\(alice)"), "\(ok)")
            for service in ["pop3", "smtp"] {
                #expect(try dovecot.login(alice, sample.password("alice"), service: service), "\(service)")
            }
            // Wrong password, empty password, another account's password.
            #expect(try !dovecot.login(alice, "wrong"))
            #expect(try !dovecot.login(alice, ""))
            #expect(try !dovecot.login(alice, sample.password("bob")))
            // The login is case-insensitive and normalised to the stored address.
            let upper = try dovecot.authTest(alice.uppercased(), sample.password("alice"))
            #expect(upper.status == 0, "\(upper)")
            #expect(upper.stdout.contains("user=\(alice)"), "\(upper)")
            // Korean names and a Korean unit in the DN change nothing.
            #expect(try dovecot.login(sample.address("minjun"), sample.password("minjun"), service: "pop3"))
        }
    }

    @Test func onlyEnabledProtocolsAndActiveAccounts() async throws {
        try await withDovecot { dovecot, sample async throws in
            let bob = sample.address("bob")
            #expect(try dovecot.login(bob, sample.password("bob"), service: "imap"))
            #expect(try !dovecot.login(bob, sample.password("bob"), service: "pop3"))
            #expect(try !dovecot.login(bob, sample.password("bob"), service: "smtp"))
            // Suspended, disabled, deleted: refused with the right password, whatever the protocol.
            for uid in ["carol", "dis", "gone"] {
                for service in ["imap", "pop3", "smtp"] {
                    #expect(try !dovecot.login(sample.address(uid), sample.password(uid), service: service), "\(uid) \(service)")
                }
            }
            // Not a login: aliases, groups, shared mailboxes, unknown addresses, the uid alone.
            #expect(try !dovecot.login(sample.address("al"), sample.password("alice")))
            #expect(try !dovecot.login(sample.address("help"), "x"))
            #expect(try !dovecot.login(sample.address("nobody"), "x"))
            #expect(try !dovecot.login("alice", sample.password("alice")))
            // Filter metacharacters are escaped.
            #expect(try !dovecot.login("*", sample.password("alice")))
            #expect(try !dovecot.login("alice*", sample.password("alice")))
            #expect(try !dovecot.login("*)(mail=*", sample.password("alice")))
        }
    }

    @Test func mailOnlyPasswordReplacesTheAccountPassword() async throws {
        try await withDovecot { dovecot, sample async throws in
            let dave = sample.address("dave")
            let ok = try dovecot.authTest(dave, sample.mailPassword("dave"))
            #expect(ok.status == 0, "\(ok)")
            #expect(ok.stdout.contains("user=\(dave)"), "\(ok)")
            #expect(try dovecot.login(dave, sample.mailPassword("dave"), service: "smtp"))
            // The account password no longer works for mail protocols.
            #expect(try !dovecot.login(dave, sample.password("dave")))
            #expect(try !dovecot.login(dave, sample.password("dave"), service: "smtp"))
            #expect(try !dovecot.login(dave, "wrong"))
            // Status and protocol still apply on the credential path: dave has no pop3 ...
            #expect(try !dovecot.login(dave, sample.mailPassword("dave"), service: "pop3"))
            // ... and sue is suspended.
            let sue = sample.address("sue")
            #expect(try !dovecot.login(sue, sample.mailPassword("sue")))
            #expect(try !dovecot.login(sue, sample.password("sue")))
        }
    }

    @Test func inconsistentCredentialsFailClosed() async throws {
        try await withDovecot { dovecot, sample async throws in
            // erin: a credential entry but gwMailPasswordSet not TRUE -> two candidate entries.
            #expect(try !dovecot.login(sample.address("erin"), sample.mailPassword("erin")))
            #expect(try !dovecot.login(sample.address("erin"), sample.password("erin")))
            // frank: gwMailPasswordSet TRUE but no credential entry -> nothing to bind to.
            #expect(try !dovecot.login(sample.address("frank"), sample.password("frank")))
            // gina: a credential naming her, planted under mallory. It never opens her mailbox,
            // and since slapd's ACLs hide a credential that is not directly below the account it
            // names, cn=dovecot does not even see it: gina's own password keeps working.
            #expect(try !dovecot.login(sample.address("gina"), sample.mailPassword("mallory")))
            #expect(try dovecot.login(sample.address("gina"), sample.password("gina")))
            // mallory's own login is untouched.
            #expect(try dovecot.login(sample.address("mallory"), sample.password("mallory")))
        }
    }

    @Test func userdbHomeAndQuota() async throws {
        try await withDovecot { dovecot, sample async throws in
            let alice = try #require(try dovecot.userFields(sample.address("alice")))
            #expect(alice["home"] == dovecot.mailRoot.appendingPathComponent("\(sample.domain)/alice").path)
            #expect(alice["uid"] == String(SampleDirectory.vmailUID))
            #expect(alice["gid"] == String(SampleDirectory.vmailGID))
            #expect(alice["quota_rule"] == "*:bytes=\(SampleDirectory.aliceQuota)")
            let minjun = try #require(try dovecot.userFields(sample.address("minjun")))
            #expect(minjun["home"] == dovecot.mailRoot.appendingPathComponent("\(sample.domain)/minjun").path)
            #expect(minjun["quota_rule"] == "*:bytes=\(SampleDirectory.minjunQuota)")
            // No gwMailQuota: 0 = unlimited.
            #expect(try dovecot.userFields(sample.address("bob"))?["quota_rule"] == "*:bytes=0")
            // Mail is delivered to suspended accounts and shared mailboxes (LMTP needs the userdb).
            #expect(try dovecot.userFields(sample.address("carol"))?["home"] != nil)
            #expect(try dovecot.userFields(sample.address("help"))?["home"] == dovecot.mailRoot.appendingPathComponent("\(sample.domain)/help").path)
            // Disabled and deleted accounts, disabled shared mailboxes, aliases, unknown: none.
            for uid in ["dis", "gone", "closed", "al", "team", "nobody"] {
                #expect(try dovecot.userFields(sample.address(uid)) == nil, "\(uid)")
            }
        }
    }

    @Test func lmtpFilesAliasMailIntoTheFolder() async throws {
        try await withDovecot { dovecot, sample async throws in
            let alice = sample.address("alice")
            // What Postfix hands to LMTP after virtual_alias_maps: the alias itself (issue 12; the
            // folder comes from gwAliasFolder through userdb 1 and the Sieve script). A +detail
            // (here the pre-issue-12 form alice+Sales@) goes to the inbox and creates nothing.
            let replies: [String]
            do {
                replies = try await lmtpDeliver(
                    port: dovecot.lmtpPort, from: "sender@example.net",
                    to: [sample.address("al"), sample.address("alice+Sales"), sample.address("dis")],
                    message: "From: sender@example.net\nTo: \(sample.address("al"))\nSubject: for the folder\n\nhello\n"
                )
            } catch {
                Issue.record("LMTP: \(error)\n\(dovecot.logText)")
                return
            }
            // Greeting, LHLO, MAIL, 3 x RCPT, DATA, one reply per accepted recipient (2), QUIT.
            #expect(replies.count == 10, "\(replies)")
            #expect(replies[3].hasPrefix("250"), "\(replies)")
            #expect(replies[4].hasPrefix("250"), "\(replies)")
            #expect(replies[5].hasPrefix("550"), "disabled account must be refused: \(replies)")
            #expect(replies.dropFirst(7).prefix(2).allSatisfy { $0.hasPrefix("250") }, "\(replies)")
            let status = try dovecot.doveadm(["mailbox", "status", "-u", alice, "messages", "Sales", "INBOX"])
            #expect(status.status == 0, "\(status) \(dovecot.logText)")
            #expect(status.stdout.contains("Sales messages=1"), "\(status)")
            #expect(status.stdout.contains("INBOX messages=1"), "\(status)")
            // The quota plugin uses gwMailQuota (bytes; doveadm shows KiB).
            let quota = try dovecot.doveadm(["quota", "get", "-u", alice])
            #expect(quota.stdout.contains("STORAGE"), "\(quota)")
            #expect(quota.stdout.contains(String(Int(SampleDirectory.aliceQuota)! / 1024)), "\(quota)")
        }
    }
}
