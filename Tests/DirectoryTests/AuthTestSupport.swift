import Directory
import Foundation
import LDAPClient
import TestSupport

/// A workspace of its own on the shared harness slapd, built as the root DN (the way
/// SchemaTests' SampleWorkspace builds accounts), plus the service-account context the auth
/// services run with. Every account's password is `pw-<uid>`.
struct AuthWorld: Sendable {
    let fixture: DirectoryFixture
    let id: String
    let layout: DirectoryLayout
    let service: LDAPConnection

    var workspaceDN: String { "o=\(id),\(fixture.workspacesDN)" }
    var unitDN: String { "ou=unit,\(workspaceDN)" }
    var domain: String { "\(id).test" }

    func address(_ uid: String) -> String { "\(uid)@\(domain)" }
    func mailAddress(_ uid: String) -> MailAddress { try! MailAddress(address(uid)) }
    func accountDN(_ uid: String) -> String { "uid=\(uid),\(unitDN)" }
    static func password(_ uid: String) -> String { "pw-\(uid)" }

    static func make(_ label: String, workspaceExtra: [LDAPAttribute] = []) async throws -> AuthWorld {
        let fixture = try DirectoryFixture.shared()
        let id = "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        let world = AuthWorld(
            fixture: fixture, id: id, layout: try DirectoryLayout(base: fixture.baseDN), service: fixture.gwdirConnection()
        )
        try await world.asRoot { root in
            try await root.add(dn: world.workspaceDN.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["gwWorkspace"]),
                LDAPAttribute("o", id),
                LDAPAttribute("displayName", "Workspace \(id)"),
                LDAPAttribute("gwMailDomain", world.domain),
            ] + workspaceExtra)
            try await root.add(dn: world.unitDN.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["organizationalUnit", "gwOrgUnit"]), LDAPAttribute("ou", "unit"),
            ])
        }
        return world
    }

    func close() { service.close() }

    @discardableResult
    func asRoot<T>(_ body: (LDAPConnection) async throws -> T) async throws -> T {
        let root = fixture.rootConnection()
        defer { root.close() }
        return try await body(root)
    }

    /// An active account with every service and the password `pw-<uid>`.
    @discardableResult
    func addAccount(
        _ uid: String, status: String = "active", services: [String] = ["imap", "pop3", "smtp", "web"],
        extra: [LDAPAttribute] = [], under parent: String? = nil
    ) async throws -> String {
        let dn = "uid=\(uid),\(parent ?? unitDN)"
        try await asRoot { root in
            try await root.add(dn: dn.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
                LDAPAttribute("uid", uid),
                LDAPAttribute("cn", "User \(uid)"),
                LDAPAttribute("sn", uid),
                LDAPAttribute("givenName", uid),
                LDAPAttribute("mail", address(uid)),
                LDAPAttribute("userPassword", Self.password(uid)),
                LDAPAttribute("gwAccountStatus", status),
                LDAPAttribute("gwServiceType", "both"),
                LDAPAttribute("gwEnabledService", services),
                LDAPAttribute("gwAliasCount", "0"),
                LDAPAttribute("gwHomeWorkspace", workspaceDN),
            ] + extra)
        }
        return dn
    }

    /// A password policy of this test under `ou=policies`: lockout after `maxFailures`, for
    /// `lockoutSeconds`. Returns its DN for `pwdPolicySubentry`.
    func addLockoutPolicy(maxFailures: Int, lockoutSeconds: Int) async throws -> String {
        let name = "\(id)-\(UUID().uuidString.prefix(4).lowercased())"
        let dn = "cn=\(name),ou=policies,\(fixture.baseDN)"
        try await asRoot { root in
            try await root.add(dn: dn.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["organizationalRole", "pwdPolicy"]),
                LDAPAttribute("cn", name),
                LDAPAttribute("pwdAttribute", "userPassword"),
                LDAPAttribute("pwdLockout", "TRUE"),
                LDAPAttribute("pwdMaxFailure", String(maxFailures)),
                LDAPAttribute("pwdLockoutDuration", String(lockoutSeconds)),
                LDAPAttribute("pwdFailureCountInterval", "0"),
            ])
        }
        return dn
    }

    func context(now: @escaping @Sendable () -> Date = { Date() }) -> DirectoryContext {
        DirectoryContext(ldap: service, layout: layout, now: now)
    }

    func authenticator(
        recorder: (any LoginRecorder)? = nil, ipBlockPolicy: IPBlockPolicy = .standard,
        now: @escaping @Sendable () -> Date = { Date() }
    ) -> Authenticator {
        Authenticator(
            context: context(now: now), passwords: LDAPBindVerifier(uris: [fixture.slapd.uri]),
            recorder: recorder, ipBlockPolicy: ipBlockPolicy
        )
    }

    /// A web login from a desktop browser.
    func web(_ login: String, _ password: String, otp: String? = nil, ip: String? = nil, workspace: String? = nil) -> LoginRequest {
        LoginRequest(
            login: login, workspace: workspace, password: password, otp: otp, ip: ip.flatMap(IPAddress.init),
            client: ClientDescription(userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
        )
    }

    func mail(_ login: String, _ password: String, _ mailProtocol: MailProtocol = .imap, ip: String? = nil) -> LoginRequest {
        LoginRequest(login: login, password: password, ip: ip.flatMap(IPAddress.init), client: ClientDescription(mailProtocol: mailProtocol))
    }

    func attribute(_ dn: String, _ name: String) async throws -> [String] {
        try await asRoot { try await $0.entry(dn.parsedDN, attributes: [name])?.strings(name) ?? [] }
    }
}

/// Collects login events in memory (the audit log is another engineer's; this proves the
/// authenticator reports every attempt).
actor MemoryRecorder: LoginRecorder {
    private(set) var events: [LoginEvent] = []

    func record(_ event: LoginEvent) async throws {
        events.append(event)
    }
}

/// A client address nobody else in the test process uses, so IP block state never collides.
func uniqueTestIP(in prefix: String = "10") -> String {
    let octets = prefix.split(separator: ".").count
    return ([prefix] + (octets..<3).map { _ in String(UInt8.random(in: 0...255)) } + [String(UInt8.random(in: 1...254))]).joined(separator: ".")
}

/// A fixed clock for OTP tests.
let otpTestNow = Date(timeIntervalSince1970: 1_800_000_000)
