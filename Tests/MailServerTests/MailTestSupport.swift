import Foundation
import LDAPClient
// DovecotServer, runTool and the child-process helpers live in LocalMailServers (shared with
// gwdir-bench); re-exported so every file of this target sees them.
@_exported import LocalMailServers
import LocalSlapd
import TestSupport

// Shared pieces of the mail-server tests: a sample workspace in the harness slapd, the
// docker/ templates rendered into a temp dir, Debian's tools run as child processes, and a
// real Dovecot on 127.0.0.1 that is always stopped.

// MARK: Sample directory

/// One workspace with every kind of mail entry, created once per test process as the root DN
/// (the templates must work on data as the service writes it, not as an ACL-limited user).
struct SampleDirectory: Sendable {
    let fixture: DirectoryFixture
    let workspaceDN: String
    /// The workspace's primary mail domain (unique per test process) and a second one.
    let domain: String
    let altDomain: String
    var salesDN: String { "ou=sales,\(workspaceDN)" }
    /// A unit with a Korean name: DNs carry raw UTF-8.
    var koreanUnitDN: String { "ou=영업부,\(workspaceDN)" }

    func address(_ local: String) -> String { "\(local)@\(domain)" }
    func password(_ uid: String) -> String { "\(uid)-Account-Pw" }
    func mailPassword(_ uid: String) -> String { "\(uid)-mail-only-Pw" }

    static let vmailUID = 5000
    static let vmailGID = 5000
    static let aliceQuota = "1073741824"
    static let minjunQuota = "5368709120"

    private static let shared = SharedTask()

    static func get() async throws -> SampleDirectory {
        try await shared.value()
    }

    private actor SharedTask {
        var task: Task<SampleDirectory, any Error>?
        func value() async throws -> SampleDirectory {
            if let task { return try await task.value }
            let task = Task { try await SampleDirectory.create() }
            self.task = task
            return try await task.value
        }
    }

    private static func create() async throws -> SampleDirectory {
        let fixture = try DirectoryFixture.shared()
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let sample = SampleDirectory(
            fixture: fixture,
            workspaceDN: "o=mail-\(tag),\(fixture.workspacesDN)",
            domain: "\(tag).mail.test",
            altDomain: "alt-\(tag).mail.test"
        )
        try await sample.populate()
        return sample
    }

    private func account(
        _ root: LDAPConnection, _ uid: String, in unit: String? = nil, status: String, services: [String],
        quota: String? = nil, serviceType: String = "both", mailPasswordSet: Bool = false,
        names: (cn: String, sn: String, given: String)? = nil
    ) async throws -> String {
        let dn = "uid=\(uid),\(unit ?? salesDN)"
        var attributes = [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
            LDAPAttribute("uid", uid),
            LDAPAttribute("cn", names?.cn ?? uid.capitalized),
            LDAPAttribute("sn", names?.sn ?? uid),
            LDAPAttribute("mail", address(uid)),
            LDAPAttribute("userPassword", password(uid)),
            LDAPAttribute("gwAccountStatus", status),
            LDAPAttribute("gwServiceType", serviceType),
        ]
        if let names {
            attributes += [LDAPAttribute("givenName", names.given), LDAPAttribute("displayName", names.cn)]
        }
        if !services.isEmpty { attributes.append(LDAPAttribute("gwEnabledService", services)) }
        if let quota { attributes.append(LDAPAttribute("gwMailQuota", quota)) }
        if mailPasswordSet { attributes.append(LDAPAttribute("gwMailPasswordSet", "TRUE")) }
        _ = try await root.add(dn: dn.parsedDN, attributes: attributes)
        return dn
    }

    private func credential(_ root: LDAPConnection, under accountDN: String, for owner: String, password: String) async throws {
        _ = try await root.add(dn: "cn=mail-password,\(accountDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwMailCredential"]),
            LDAPAttribute("cn", "mail-password"),
            LDAPAttribute("userPassword", password),
            LDAPAttribute("gwCredentialFor", address(owner)),
        ])
    }

    private func populate() async throws {
        let root = fixture.rootConnection()
        defer { root.close() }
        _ = try await root.add(dn: workspaceDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwWorkspace"]),
            LDAPAttribute("o", String(workspaceDN.dropFirst(2).prefix { $0 != "," })),
            LDAPAttribute("gwMailDomain", [domain, altDomain]),
        ])
        for unit in [salesDN, koreanUnitDN] {
            let name = String(unit.dropFirst(3).prefix { $0 != "," })
            _ = try await root.add(dn: unit.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["organizationalUnit", "gwOrgUnit"]),
                LDAPAttribute("ou", name),
            ])
        }
        let all = ["imap", "pop3", "smtp"]
        let alice = try await account(root, "alice", status: "active", services: all, quota: Self.aliceQuota)
        let bob = try await account(root, "bob", status: "active", services: ["imap"])
        _ = try await account(root, "carol", status: "suspended", services: all)
        let dave = try await account(root, "dave", status: "active", services: ["imap", "smtp"], mailPasswordSet: true)
        try await credential(root, under: dave, for: "dave", password: mailPassword("dave"))
        // Suspended with a mail-only password: the credential path must check the status too.
        let sue = try await account(root, "sue", status: "suspended", services: all, mailPasswordSet: true)
        try await credential(root, under: sue, for: "sue", password: mailPassword("sue"))
        _ = try await account(root, "dis", status: "disabled", services: all)
        _ = try await account(root, "gone", status: "deleted", services: all)
        _ = try await account(root, "gw", status: "active", services: ["web"], serviceType: "groupware")
        // Inconsistent states must fail closed: a credential without the flag ...
        let erin = try await account(root, "erin", status: "active", services: all)
        try await credential(root, under: erin, for: "erin", password: mailPassword("erin"))
        // ... and the flag without a credential.
        _ = try await account(root, "frank", status: "active", services: all, mailPasswordSet: true)
        // A credential planted under another account, naming gina (who has no mail-only password).
        _ = try await account(root, "gina", status: "active", services: all)
        let mallory = try await account(root, "mallory", status: "active", services: all)
        try await credential(root, under: mallory, for: "gina", password: mailPassword("mallory"))
        let minjun = try await account(
            root, "minjun", in: koreanUnitDN, status: "active", services: all, quota: Self.minjunQuota,
            names: (cn: "김민준", sn: "김", given: "민준")
        )
        // Sub-account alias of alice, filed into her "Sales" folder.
        _ = try await root.add(dn: "mail=\(address("al")),\(alice)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwMailAlias"]),
            LDAPAttribute("mail", address("al")),
            LDAPAttribute("gwAliasFolder", "Sales"),
            LDAPAttribute("gwDeliverTo", address("alice+Sales")),
            LDAPAttribute("gwOwnerAddress", address("alice")),
        ])
        _ = try await root.modify(dn: alice.parsedDN, [.replace("gwAliasCount", ["1"])])
        // Groups: team = alice, bob, minjun, the nested group "inner" (dave) and the refint placeholder.
        let inner = "cn=inner,\(salesDN)"
        _ = try await root.add(dn: inner.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup"]),
            LDAPAttribute("cn", "inner"),
            LDAPAttribute("mail", address("inner")),
            LDAPAttribute("member", [dave]),
        ])
        _ = try await root.add(dn: "cn=team,\(salesDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup"]),
            LDAPAttribute("cn", "team"),
            LDAPAttribute("mail", address("team")),
            LDAPAttribute("member", [alice, bob, minjun, inner, "cn=nobody,ou=system,\(fixture.baseDN)"]),
        ])
        _ = try await root.add(dn: "uid=help,\(salesDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwSharedMailbox"]),
            LDAPAttribute("uid", "help"),
            LDAPAttribute("cn", "Help desk"),
            LDAPAttribute("sn", "help"),
            LDAPAttribute("mail", address("help")),
        ])
        _ = try await root.add(dn: "uid=closed,\(salesDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwSharedMailbox"]),
            LDAPAttribute("uid", "closed"),
            LDAPAttribute("cn", "Closed"),
            LDAPAttribute("sn", "closed"),
            LDAPAttribute("mail", address("closed")),
            LDAPAttribute("gwAccountStatus", "disabled"),
        ])
        _ = bob
    }

    /// The placeholder values shared by every LDAP template.
    var ldapValues: [String: String] {
        [
            "LDAP_URI": fixture.slapd.uri,
            "BASE_DN": fixture.baseDN,
            "POSTFIX_DN": fixture.postfixDN,
            "POSTFIX_PW": fixture.postfixPassword,
            "DOVECOT_DN": fixture.dovecotDN,
            "DOVECOT_PW": fixture.dovecotPassword,
        ]
    }
}

// MARK: Templates

enum MailTemplates {
    /// `docker/` of this checkout.
    static let dockerDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docker")

    struct UnfilledPlaceholder: Error, CustomStringConvertible {
        var file: String
        var line: String
        var description: String { "\(file): unfilled placeholder in: \(line)" }
    }

    /// Fills `{{NAME}}`s; any placeholder left outside a comment line is an error.
    static func render(_ relativePath: String, _ values: [String: String], to destination: URL) throws {
        var text = try String(contentsOf: dockerDirectory.appendingPathComponent(relativePath), encoding: .utf8)
        for (name, value) in values {
            text = text.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") && line.contains("{{") {
            throw UnfilledPlaceholder(file: relativePath, line: String(line))
        }
        try text.write(to: destination, atomically: true, encoding: .utf8)
    }

    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

// MARK: Dovecot

extension DovecotServer {
    /// A Dovecot over the sample directory's slapd (see LocalMailServers' DovecotServer).
    static func start(_ sample: SampleDirectory, policy: Policy? = nil) throws -> DovecotServer {
        try start(ldapValues: sample.ldapValues, policy: policy)
    }
}

/// Runs `body` with a fresh Dovecot and stops it however the body ends.
func withDovecot<T>(_ body: (DovecotServer, SampleDirectory) async throws -> T) async throws -> T {
    let sample = try await SampleDirectory.get()
    let server = try DovecotServer.start(sample)
    defer { server.stop() }
    return try await body(server, sample)
}

// MARK: LMTP

/// A minimal LMTP client (RFC 2033): one message, several recipients, one reply per recipient
/// after DATA for each accepted recipient. Returns every final reply line, in order.
func lmtpDeliver(port: Int, from: String, to recipients: [String], message: String) async throws -> [String] {
    try await MailClient.session(port: port, source: "127.0.0.1") { io in
        /// A reply may span lines "250-..." ... "250 ..."; returns the last.
        func readReply() throws -> String {
            var line = try io.readLine()
            while line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == "-" { line = try io.readLine() }
            return line
        }
        var replies = [try readReply()]
        try io.send("LHLO test.local\r\n"); replies.append(try readReply())
        try io.send("MAIL FROM:<\(from)>\r\n"); replies.append(try readReply())
        var accepted = 0
        for recipient in recipients {
            try io.send("RCPT TO:<\(recipient)>\r\n")
            let reply = try readReply()
            if reply.hasPrefix("250") { accepted += 1 }
            replies.append(reply)
        }
        try io.send("DATA\r\n"); replies.append(try readReply())
        try io.send(message.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n.\r\n")
        for _ in 0..<accepted { replies.append(try readReply()) }
        try io.send("QUIT\r\n"); replies.append(try readReply())
        return replies
    }
}
