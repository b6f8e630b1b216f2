import Foundation
import Testing

/// docker/postfix rendered into a temp dir, queried with Debian's `postmap -q` (postfix-ldap)
/// binding as cn=postfix to the harness slapd.
final class PostfixConfig {
    let directory: URL
    let sample: SampleDirectory

    init(_ sample: SampleDirectory) throws {
        self.sample = sample
        directory = try MailTemplates.temporaryDirectory("postfix")
        for map in Self.maps {
            try MailTemplates.render("postfix/\(map)", sample.ldapValues, to: directory.appendingPathComponent(map))
        }
        try MailTemplates.render("postfix/main.cf.fragment", [
            "POSTFIX_CONF_DIR": directory.path,
            "LMTP_ENDPOINT": "inet:127.0.0.1:24",
            "SASL_PATH": "inet:127.0.0.1:12345",
        ], to: directory.appendingPathComponent("main.cf"))
        try MailTemplates.render("postfix/master.cf.fragment", [:], to: directory.appendingPathComponent("master.cf"))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    static let maps = [
        "ldap-virtual-mailbox-domains.cf", "ldap-virtual-mailbox-maps.cf", "ldap-virtual-alias-maps.cf",
        "ldap-virtual-group-maps.cf", "ldap-sender-login-maps.cf",
    ]

    /// `postmap -q key ldap:<file>`: the result, or nil for "not found" (exit 1, no output).
    /// Any other outcome (a query error, a warning about a failed bind) fails the test.
    func query(_ key: String, _ map: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        try query(key, table: "ldap:\(directory.appendingPathComponent(map).path)", sourceLocation: sourceLocation)
    }

    func query(_ key: String, table: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        let result = try runTool("/usr/sbin/postmap", ["-c", directory.path, "-q", key, table])
        #expect(!result.stderr.contains("fatal") && !result.stderr.contains("Unable to bind"), "\(result)", sourceLocation: sourceLocation)
        switch result.status {
        case 0: return result.output
        case 1 where result.stdout.isEmpty: return nil
        default:
            Issue.record("postmap -q \(key) \(table): \(result)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// A comma-separated result as a set (multi-valued results come in directory order).
    func querySet(_ key: String, _ map: String) throws -> Set<String>? {
        try query(key, map).map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
    }

    func postconf(_ arguments: [String]) throws -> ToolResult {
        try runTool("/usr/sbin/postconf", ["-c", directory.path] + arguments)
    }
}

@Suite struct PostfixMapTests {
    @Test func virtualMailboxDomainsAreTheWorkspaceDomains() async throws {
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let map = "ldap-virtual-mailbox-domains.cf"
        #expect(try postfix.querySet(sample.domain, map) == [sample.domain, sample.altDomain])
        #expect(try postfix.query(sample.altDomain, map) != nil)
        #expect(try postfix.query(sample.domain.uppercased(), map) != nil)
        #expect(try postfix.query("unknown-\(sample.domain)", map) == nil)
        #expect(try postfix.query("example.com", map) == nil)
        // Filter metacharacters in the key are escaped, not interpreted.
        #expect(try postfix.query("*", map) == nil)
        #expect(try postfix.query("*.mail.test", map) == nil)
    }

    @Test func virtualMailboxMapsAcceptMailboxesOnly() async throws {
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let map = "ldap-virtual-mailbox-maps.cf"
        let d = sample.domain
        #expect(try postfix.query(sample.address("alice"), map) == "\(d)/alice/")
        #expect(try postfix.query(sample.address("ALICE").uppercased(), map) == "\(d)/alice/")
        #expect(try postfix.query(sample.address("bob"), map) == "\(d)/bob/")
        #expect(try postfix.query(sample.address("minjun"), map) == "\(d)/minjun/")
        // Decision: a suspended account still receives mail (only its logins are refused).
        #expect(try postfix.query(sample.address("carol"), map) == "\(d)/carol/")
        // Shared mailbox: accepted unless disabled.
        #expect(try postfix.query(sample.address("help"), map) == "\(d)/help/")
        #expect(try postfix.query(sample.address("closed"), map) == nil)
        // Disabled, deleted and groupware-only accounts take no mail (550 at RCPT time).
        #expect(try postfix.query(sample.address("dis"), map) == nil)
        #expect(try postfix.query(sample.address("gone"), map) == nil)
        #expect(try postfix.query(sample.address("gw"), map) == nil)
        // Aliases and groups are virtual_alias_maps, not mailboxes.
        #expect(try postfix.query(sample.address("al"), map) == nil)
        #expect(try postfix.query(sample.address("team"), map) == nil)
        #expect(try postfix.query(sample.address("nobody"), map) == nil)
        #expect(try postfix.query("alice@unknown-\(d)", map) == nil)
        #expect(try postfix.query("*@\(d)", map) == nil)
        #expect(try postfix.query("@\(d)", map) == nil)
    }

    @Test func aliasesRewriteToOwnerPlusFolder() async throws {
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let map = "ldap-virtual-alias-maps.cf"
        #expect(try postfix.query(sample.address("al"), map) == sample.address("alice+Sales"))
        #expect(try postfix.query(sample.address("AL").uppercased(), map) == sample.address("alice+Sales"))
        #expect(try postfix.query(sample.address("alice"), map) == nil)
        #expect(try postfix.query(sample.address("team"), map) == nil)
        #expect(try postfix.query(sample.address("unknown"), map) == nil)
    }

    @Test func groupsExpandToMembersRecursively() async throws {
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let map = "ldap-virtual-group-maps.cf"
        // team = alice, bob, minjun (Korean unit DN), the nested group inner (= dave), and the
        // refint placeholder cn=nobody, which cn=postfix cannot see and which adds nothing.
        #expect(try postfix.querySet(sample.address("team"), map) == Set(["alice", "bob", "minjun", "dave"].map(sample.address)))
        #expect(try postfix.query(sample.address("inner"), map) == sample.address("dave"))
        #expect(try postfix.query(sample.address("al"), map) == nil)
        #expect(try postfix.query(sample.address("alice"), map) == nil)
    }

    @Test func senderLoginMaps() async throws {
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let map = "ldap-sender-login-maps.cf"
        // An account sends as its primary address ...
        #expect(try postfix.query(sample.address("alice"), map) == sample.address("alice"))
        #expect(try postfix.query(sample.address("minjun"), map) == sample.address("minjun"))
        // ... and as its aliases (gwOwnerAddress only, never the alias address itself).
        #expect(try postfix.query(sample.address("al"), map) == sample.address("alice"))
        // Nobody may send as a group or a shared mailbox, or an unknown address.
        #expect(try postfix.query(sample.address("team"), map) == nil)
        #expect(try postfix.query(sample.address("help"), map) == nil)
        #expect(try postfix.query(sample.address("unknown"), map) == nil)
    }

    @Test func mainCfWiresTheMaps() async throws {
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let parameters = ["virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps", "smtpd_sender_login_maps", "virtual_transport", "recipient_delimiter"]
        let result = try postfix.postconf(["-h"] + parameters)
        #expect(result.status == 0, "\(result)")
        #expect(!result.stderr.contains("warning"), "\(result)")
        let values = result.stdout.split(separator: "\n").map(String.init)
        try #require(values.count == parameters.count, "\(result)")
        func tables(_ value: String) -> [String] {
            value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        // Resolve addresses through the maps exactly as main.cf lists them (first match wins).
        func lookup(_ key: String, _ value: String) throws -> String? {
            for table in tables(value) {
                if let hit = try postfix.query(key, table: table) { return hit }
            }
            return nil
        }
        #expect(try lookup(sample.domain, values[0]) != nil)
        #expect(try lookup(sample.address("alice"), values[1]) == "\(sample.domain)/alice/")
        #expect(try lookup(sample.address("al"), values[2]) == sample.address("alice+Sales"))
        #expect(try lookup(sample.address("team"), values[2]).map { Set($0.split(separator: ",").map(String.init)) }
            == Set(["alice", "bob", "minjun", "dave"].map(sample.address)))
        #expect(try lookup(sample.address("al"), values[3]) == sample.address("alice"))
        #expect(values[4] == "lmtp:inet:127.0.0.1:24")
        #expect(values[5] == "+")
        // The submission service parses and turns SMTP AUTH on there only.
        let submission = try postfix.postconf(["-M", "submission/inet"])
        #expect(submission.stdout.contains("smtpd_sasl_auth_enable=yes"), "\(submission)")
        #expect(submission.stdout.contains("smtpd_sender_restrictions=reject_sender_login_mismatch"), "\(submission)")
    }
}
