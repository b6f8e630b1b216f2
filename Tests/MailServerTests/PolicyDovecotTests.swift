import Directory
import DirectoryServer
import Foundation
import LDAPClient
import Logging
import Testing
import TestSupport

/// Debian's Dovecot with docker/dovecot/auth-policy.conf.ext pointing at an in-process
/// `gwdir serve` (DirectoryServer on a real 127.0.0.1 socket), and real IMAP and POP3 logins
/// from source addresses across 127.0.0.0/8 (Dovecot passes each as `remote`).
@Suite(.serialized) struct PolicyDovecotTests {
    static let key = "policy-dovecot-test-key-\(UUID().uuidString)"

    /// A running policy server and Dovecot; both stop when the body ends.
    struct Stack {
        let sample: SampleDirectory
        let dovecot: DovecotServer
        let audit: AuditLog
        let context: DirectoryContext
        let tag: String

        func address(_ uid: String) -> String { sample.address(uid) }
    }

    static func withStack(_ body: (Stack) async throws -> Void) async throws {
        let sample = try await SampleDirectory.get()
        let service = sample.fixture.gwdirConnection()
        defer { service.close() }
        let context = DirectoryContext(ldap: service, layout: try DirectoryLayout(base: sample.fixture.baseDN))
        let audit = AuditLog(context: context, purgeInterval: nil)
        var logger = Logger(label: "gwdir.serve.dovecot-test")
        logger.logLevel = .warning
        let server = DirectoryServer(
            configuration: ServerConfiguration(port: 0, policyKey: try PolicyKey(key)), context: context,
            recorder: RecorderHandle(recorder: audit, drain: { try await audit.flushLastLogins() }), logger: logger
        )
        let port = PortBox()
        let running = Task { try await server.run { await port.set($0) } }
        let outcome: Result<Void, any Error>
        do {
            let listening = try await port.wait()
            let dovecot = try DovecotServer.start(sample, policy: .init(url: "http://127.0.0.1:\(listening)/dovecot/policy", key: key))
            defer { dovecot.stop() }
            try await body(Stack(sample: sample, dovecot: dovecot, audit: audit, context: context, tag: String(UUID().uuidString.prefix(6)).lowercased()))
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        // Cancelling the ServiceGroup shuts the server down gracefully; wait for it before the
        // connection it writes through closes.
        running.cancel()
        _ = await running.result
        try outcome.get()
    }

    /// An account of its own in the sample workspace (password `sample.password(uid)`).
    static func addAccount(_ stack: Stack, _ uid: String, status: String = "active", services: [String] = ["imap", "pop3", "smtp"], extra: [LDAPAttribute] = []) async throws -> String {
        let root = stack.sample.fixture.rootConnection()
        defer { root.close() }
        let dn = "uid=\(uid),\(stack.sample.salesDN)"
        try await root.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
            LDAPAttribute("uid", uid), LDAPAttribute("cn", uid), LDAPAttribute("sn", uid),
            LDAPAttribute("mail", stack.address(uid)), LDAPAttribute("userPassword", stack.sample.password(uid)),
            LDAPAttribute("gwAccountStatus", status), LDAPAttribute("gwServiceType", "both"),
            LDAPAttribute("gwEnabledService", services), LDAPAttribute("gwHomeWorkspace", stack.sample.workspaceDN),
        ] + extra)
        return dn
    }

    /// Reports arrive after Dovecot answered the client: wait until the audit shows `count` events.
    static func entries(_ stack: Stack, _ accountDN: String, count: Int) async throws -> [AuditEntry] {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let entries = try await stack.audit.events(account: try DistinguishedName(accountDN))
            if entries.reduce(0, { $0 + $1.count }) >= count || Date() > deadline { return entries }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func imapAndPOP3LoginsAreAudited() async throws {
        try await Self.withStack { stack in
            let uid = "pa-\(stack.tag)"
            let dn = try await Self.addAccount(stack, uid)
            let password = stack.sample.password(uid)
            let pop = try await MailClient.pop3Login(port: stack.dovecot.pop3Port, source: "127.0.3.1", user: stack.address(uid), password: password)
            #expect(pop.ok, "\(pop.line)")
            let badPop = try await MailClient.pop3Login(port: stack.dovecot.pop3Port, source: "127.0.3.1", user: stack.address(uid), password: "nope")
            #expect(!badPop.ok)
            try await Task.sleep(for: .milliseconds(1100)) // the IMAP login is the newer one, by a second
            let imap = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: "127.0.3.2", user: stack.address(uid), password: password)
            #expect(imap.ok, "\(imap.line)")
            let badImap = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: "127.0.3.3", user: stack.address(uid), password: "nope")
            #expect(!badImap.ok)
            let entries = try await Self.entries(stack, dn, count: 4)
            let summary = Set(entries.map { "\($0.typeCode) \($0.ip ?? "-") \($0.result?.rawValue ?? "-") \($0.reasonCode ?? "-")" })
            #expect(summary == [
                "pop3 127.0.3.1 success -", "pop3 127.0.3.1 failure wrong_password",
                "imap 127.0.3.2 success -", "imap 127.0.3.3 failure wrong_password",
            ])
            // user show's last login: the IMAP one (flushed, as gwdir serve does at SIGTERM).
            try await stack.audit.flushLastLogins()
            let account = try await stack.context.ldap.entry(try DistinguishedName(dn), attributes: ["gwLastLoginType", "gwLastLoginIP"])
            #expect(account?.string("gwLastLoginType") == "imap")
            #expect(account?.string("gwLastLoginIP") == "127.0.3.2")
            // An unknown login is recorded under the name tried.
            let ghost = "ghost-\(stack.tag)@\(stack.sample.domain)"
            let value1 = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: "127.0.3.4", user: ghost, password: "x")
            #expect(!value1.ok)
            var tried: [AuditEntry] = []
            for _ in 0..<100 where tried.isEmpty {
                tried = try await stack.audit.events(loginName: ghost)
                if tried.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(tried.first?.reason == .unauthorizedUser)
        }
    }

    @Test func twentyPOP3PollsFoldIntoOneEntry() async throws {
        try await Self.withStack { stack in
            let uid = "pf-\(stack.tag)"
            let dn = try await Self.addAccount(stack, uid)
            for _ in 0..<20 {
                let poll = try await MailClient.pop3Login(port: stack.dovecot.pop3Port, source: "127.0.4.1", user: stack.address(uid), password: stack.sample.password(uid))
                #expect(poll.ok)
            }
            let entries = try await Self.entries(stack, dn, count: 20)
            #expect(entries.count == 1)
            #expect(entries.first?.count == 20)
            #expect(entries.first?.type == .pop3)
        }
    }

    /// SMTP AUTH through the real Postfix (submission, Dovecot SASL): Postfix passes the client's
    /// address to Dovecot, whose policy reports it as `smtp` — a success, a wrong password, an
    /// account without `smtp`, and an allowed-networks refusal each land in the audit.
    @Test func smtpAuthThroughPostfixIsAudited() async throws {
        try await Self.withStack { stack in
            let postfix = try PostfixServer.start(stack.sample, dovecot: stack.dovecot)
            defer { postfix.stop() }
            let sender = "pm-\(stack.tag)", noSMTP = "po-\(stack.tag)", far = "pr-\(stack.tag)"
            let senderDN = try await Self.addAccount(stack, sender)
            let noSMTPDN = try await Self.addAccount(stack, noSMTP, services: ["imap", "pop3"])
            let farDN = try await Self.addAccount(stack, far, extra: [LDAPAttribute("gwAllowedNetwork", "10.0.0.0/8")])
            let port = postfix.submissionPort
            let me = stack.address(sender)

            let sent = try await SMTPSession.run(port: port, source: "127.0.6.1", login: (me, stack.sample.password(sender)), from: me, to: [me])
            #expect(sent.auth == 235 && sent.dataCode == 250, "\(sent)\n\(postfix.logText)")
            // Each failure from an address of its own: Dovecot's auth penalty delays a failed IP.
            let wrong = try await SMTPSession.run(port: port, source: "127.0.6.2", login: (me, "not-it"), from: me, to: [me])
            #expect(wrong.auth == 535, "\(wrong)")
            let disabled = try await SMTPSession.run(port: port, source: "127.0.6.3", login: (stack.address(noSMTP), stack.sample.password(noSMTP)),
                                               from: stack.address(noSMTP), to: [me])
            #expect(disabled.auth == 535, "\(disabled)")
            let outside = try await SMTPSession.run(port: port, source: "127.0.6.4", login: (stack.address(far), stack.sample.password(far)),
                                              from: stack.address(far), to: [me])
            #expect(outside.auth == 535, "\(outside)")

            let mine = try await Self.entries(stack, senderDN, count: 2)
            #expect(Set(mine.map { "\($0.typeCode) \($0.ip ?? "-") \($0.result?.rawValue ?? "-") \($0.reasonCode ?? "-")" })
                == ["smtp 127.0.6.1 success -", "smtp 127.0.6.2 failure wrong_password"], "\(stack.dovecot.logText)")
            let refusedSMTP = try await Self.entries(stack, noSMTPDN, count: 1)
            #expect(refusedSMTP.map { "\($0.typeCode) \($0.ip ?? "-") \($0.reasonCode ?? "-")" } == ["smtp 127.0.6.3 pop3_disabled"])
            let refusedFar = try await Self.entries(stack, farDN, count: 1)
            #expect(refusedFar.map { "\($0.typeCode) \($0.ip ?? "-") \($0.reasonCode ?? "-")" } == ["smtp 127.0.6.4 ip_not_allowed"])
        }
    }

    @Test func policyRefusalsAreRefusedByDovecotAndRecorded() async throws {
        try await Self.withStack { stack in
            let far = try await Self.addAccount(stack, "pn-\(stack.tag)", extra: [LDAPAttribute("gwAllowedNetwork", "10.0.0.0/8")])
            let suspended = try await Self.addAccount(stack, "ps-\(stack.tag)", status: "suspended")
            let imapOnly = try await Self.addAccount(stack, "pi-\(stack.tag)", services: ["imap"])
            let cases: [(dn: String, uid: String, pop3: Bool, reason: LoginFailureReason)] = [
                (far, "pn-\(stack.tag)", false, .ipNotAllowed),
                (suspended, "ps-\(stack.tag)", false, .accountSuspended),
                (imapOnly, "pi-\(stack.tag)", true, .pop3Disabled),
            ]
            for item in cases {
                let user = stack.address(item.uid), password = stack.sample.password(item.uid)
                let answer = item.pop3
                    ? try await MailClient.pop3Login(port: stack.dovecot.pop3Port, source: "127.0.5.1", user: user, password: password)
                    : try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: "127.0.5.1", user: user, password: password)
                #expect(!answer.ok, "\(item.reason): \(answer.line)")
                let entries = try await Self.entries(stack, item.dn, count: 1)
                #expect(entries.map(\.reasonCode) == [item.reason.rawValue], "\(item.uid)")
                #expect(entries.first?.ip == "127.0.5.1")
            }
            #expect(stack.dovecot.logText.contains("policy server refusal"))
        }
    }

    @Test func anIPIsBlockedAfterTenFailures() async throws {
        try await Self.withStack { stack in
            let uid = "pb-\(stack.tag)"
            let dn = try await Self.addAccount(stack, uid)
            let source = "127.0.\(Int.random(in: 100...200)).\(Int.random(in: 2...250))"
            let ip = try #require(IPAddress(source))
            // Ten failures from one address (unknown logins: a wrong password would also run
            // into the account's ppolicy lockout after five).
            let ghost = "ghost-\(stack.tag)@\(stack.sample.domain)"
            for _ in 0..<10 {
                let value2 = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: source, user: ghost, password: "wrong")
                #expect(!value2.ok)
            }
            // Reports arrive after Dovecot answered the client.
            let blocks = IPBlockService(context: stack.context)
            for _ in 0..<200 {
                if try await blocks.isBlocked(ip) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let value3 = try await blocks.isBlocked(ip)
            #expect(value3)
            // The 11th, with the right password, is refused by the policy with the label.
            let refused = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: source, user: stack.address(uid), password: stack.sample.password(uid))
            #expect(!refused.ok)
            #expect(refused.line.contains(LoginFailureReason.autoBlockedIP.englishLabel), "\(refused.line)")
            let other = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: "127.0.6.1", user: stack.address(uid), password: stack.sample.password(uid))
            #expect(other.ok, "\(other.line)")
            let entries = try await Self.entries(stack, dn, count: 2)
            #expect(Set(entries.map { "\($0.ip ?? "-") \($0.reasonCode ?? "success")" }) == ["\(source) auto_blocked_ip", "127.0.6.1 success"])
            let tried = try await stack.audit.events(loginName: ghost)
            #expect(tried.map(\.count) == [10])
            #expect(tried.first?.reason == .unauthorizedUser)
            try await blocks.lift(ip)
        }
    }

    @Test func aPPolicyLockoutIsRecordedAsLoginBlocked() async throws {
        try await Self.withStack { stack in
            let uid = "pl-\(stack.tag)"
            let dn = try await Self.addAccount(stack, uid)
            // cn=default,ou=policies locks after 5 wrong passwords.
            for _ in 0..<6 {
                let value4 = try await MailClient.imapLogin(port: stack.dovecot.imapPort, source: "127.0.7.1", user: stack.address(uid), password: "wrong")
                #expect(!value4.ok)
            }
            let entries = try await Self.entries(stack, dn, count: 6)
            // slapd locks within the fifth bind, before Dovecot reports it: that report already
            // sees the lock (README, "`gwdir serve`").
            #expect(entries.first(where: { $0.reasonCode == "wrong_password" })?.count == 4)
            #expect(entries.first(where: { $0.reasonCode == "login_blocked" })?.count == 2)
        }
    }
}

/// The policy server's port, once it listens.
actor PortBox {
    private var port: Int?
    func set(_ port: Int) { self.port = port }
    func wait() async throws -> Int {
        for _ in 0..<500 {
            if let port { return port }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DovecotServer.StartError(description: "the policy server did not start")
    }
}
