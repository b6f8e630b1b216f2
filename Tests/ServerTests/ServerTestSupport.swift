import Directory
import DirectoryServer
import Foundation
import LDAPClient
import Logging
import TestSupport

/// A workspace of its own on the shared harness slapd, written as the root DN; the server
/// reads and writes as the service account `cn=gwdir`, as `gwdir serve` does. Passwords: `pw-<uid>`.
struct PolicyWorld: Sendable {
    let fixture: DirectoryFixture
    let id: String
    let service: LDAPConnection
    let context: DirectoryContext

    var workspaceDN: String { "o=\(id),\(fixture.workspacesDN)" }
    var unitDN: String { "ou=unit,\(workspaceDN)" }
    func address(_ uid: String) -> String { "\(uid)@\(id).test" }
    func accountDN(_ uid: String) -> String { "uid=\(uid),\(unitDN)" }

    /// On the shared slapd, or on `fixture` (a server of its own for whatever purges it).
    static func make(_ label: String, fixture: DirectoryFixture? = nil) async throws -> PolicyWorld {
        let fixture = try fixture ?? DirectoryFixture.shared()
        let id = "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        let service = fixture.gwdirConnection()
        let world = PolicyWorld(
            fixture: fixture, id: id, service: service,
            context: DirectoryContext(ldap: service, layout: try DirectoryLayout(base: fixture.baseDN))
        )
        let root = fixture.rootConnection()
        defer { root.close() }
        try await root.add(dn: world.workspaceDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwWorkspace"]), LDAPAttribute("o", id), LDAPAttribute("gwMailDomain", "\(id).test"),
        ])
        try await root.add(dn: world.unitDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["organizationalUnit", "gwOrgUnit"]), LDAPAttribute("ou", "unit"),
        ])
        return world
    }

    @discardableResult
    func addAccount(_ uid: String, status: String = "active", services: [String] = ["imap", "pop3", "smtp", "web"], extra: [LDAPAttribute] = []) async throws -> String {
        let root = fixture.rootConnection()
        defer { root.close() }
        let dn = accountDN(uid)
        try await root.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
            LDAPAttribute("uid", uid), LDAPAttribute("cn", "User \(uid)"), LDAPAttribute("sn", uid),
            LDAPAttribute("mail", address(uid)), LDAPAttribute("userPassword", "pw-\(uid)"),
            LDAPAttribute("gwAccountStatus", status), LDAPAttribute("gwServiceType", "both"),
            LDAPAttribute("gwEnabledService", services), LDAPAttribute("gwAliasCount", "0"),
            LDAPAttribute("gwHomeWorkspace", workspaceDN),
        ] + extra)
        return dn
    }

    func close() { service.close() }
}

/// Counts what reaches the recorder, then writes it to the real audit log: "nothing written"
/// is checked on the count, "written" on the audit subtree.
final class CountingRecorder: LoginRecorder {
    let log: AuditLog
    private let recorded = LockedValue<[LoginEvent]>([])

    init(log: AuditLog) { self.log = log }

    var events: [LoginEvent] { recorded.withLock { $0 } }

    func record(_ event: LoginEvent) async throws {
        recorded.withLock { $0.append(event) }
        try await log.record(event)
    }
}

enum TestKey {
    static let value = "test-policy-key-0123456789abcdef"
    static var key: PolicyKey { try! PolicyKey(value) }
}

extension DirectoryServer {
    /// A server over `world` with a counting recorder in front of a real audit log.
    static func testing(_ world: PolicyWorld, failMode: PolicyFailMode = .open, port: Int = 0) -> (DirectoryServer, CountingRecorder, AuditLog) {
        let log = AuditLog(context: world.context, purgeInterval: nil)
        let counting = CountingRecorder(log: log)
        var logger = Logger(label: "gwdir.serve.test")
        logger.logLevel = .debug
        let server = DirectoryServer(
            configuration: ServerConfiguration(port: port, policyKey: TestKey.key, failMode: failMode),
            context: world.context,
            recorder: RecorderHandle(recorder: counting, drain: { try await log.flushLastLogins() }),
            logger: logger
        )
        return (server, counting, log)
    }
}

/// Builds a policy request body as Dovecot 2.3 does (docker/dovecot/auth-policy.conf.ext).
func policyBody(login: String, remote: String, protocol service: String, success: Bool? = nil, policyReject: Bool? = nil) -> String {
    var fields: [String: Any] = [
        "login": login, "remote": remote, "protocol": service, "pwhash": "0a1b2c", "session_id": "s", "device_id": "", "tls": false,
    ]
    if let success { fields["success"] = success }
    if let policyReject { fields["policy_reject"] = policyReject }
    return String(decoding: try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
}
