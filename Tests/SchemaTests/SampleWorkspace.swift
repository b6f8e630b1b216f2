import Foundation
import LDAPClient
import TestSupport

/// A gwdir workspace built as the root DN on the shared harness slapd, with a unique name per
/// run so that suites (and test processes sharing a server) never collide:
///
///     o=<name>                         gwWorkspace, mail domain <name>.test
///     ├─ cn=admins                     workspace admins: uid=boss
///     ├─ ou=sales                      cn=admins: uid=sam (unit admin), gwBillingId B-100
///     │  ├─ uid=alice                  plain user; alias mail=al@…, credential cn=mail-password
///     │  ├─ uid=sam, uid=boss          boss has an alias mail=chief@…
///     │  ├─ cn=team                    group mail (alice, 김민준)
///     │  └─ ou=east                    cn=admins: uid=carl
///     │     └─ uid=minjun (김민준, OTP), uid=서연, uid=erin, uid=carl
///     └─ ou=dev                        uid=dave, uid=pia (no unit admin)
///     o=<name>-x                       another workspace: uid=olga
///
/// Every account's password is `pw-<uid>`; the mail-only password of alice is `mailpw-alice`.
struct SampleWorkspace: Sendable {
    let fixture: DirectoryFixture
    let name: String

    var dn: String { "o=\(name),\(fixture.workspacesDN)" }
    var otherDN: String { "o=\(name)-x,\(fixture.workspacesDN)" }
    var domain: String { "\(name).test" }
    var otherDomain: String { "\(name)-x.test" }

    /// A DN relative to the workspace ("" is the workspace entry itself).
    func dn(_ relative: String) -> String { relative.isEmpty ? dn : "\(relative),\(dn)" }
    func otherDN(_ relative: String) -> String { relative.isEmpty ? otherDN : "\(relative),\(otherDN)" }
    func mail(_ local: String) -> String { "\(local)@\(domain)" }
    static func password(_ uid: String) -> String { "pw-\(uid)" }

    func root() -> LDAPConnection { fixture.rootConnection() }

    func connection(as dn: String, password: String) -> LDAPConnection {
        fixture.connection(.simple(dn: dn, password: password))
    }

    func anonymous() -> LDAPConnection { fixture.connection(.anonymous) }

    static func uniqueName(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Builds the full sample tree (about 25 entries) as the root DN.
    static func build(_ label: String) async throws -> SampleWorkspace {
        let ws = SampleWorkspace(fixture: try DirectoryFixture.shared(), name: uniqueName(label))
        let root = ws.root()
        defer { root.close() }
        for (dn, attributes) in ws.entries() {
            try await root.add(dn: dn.parsedDN, attributes: attributes)
        }
        return ws
    }

    /// A small workspace (o=<name>, ou=unit) for tests that need only a few accounts of their own.
    static func buildSmall(_ label: String) async throws -> SampleWorkspace {
        let ws = SampleWorkspace(fixture: try DirectoryFixture.shared(), name: uniqueName(label))
        let root = ws.root()
        defer { root.close() }
        try await root.add(dn: ws.dn.parsedDN, attributes: ws.workspace(name: ws.name, domain: ws.domain))
        try await root.add(dn: ws.dn("ou=unit").parsedDN, attributes: ws.unit("unit"))
        return ws
    }

    // MARK: Entries

    func workspace(name: String, domain: String) -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["gwWorkspace"]),
            LDAPAttribute("o", name),
            LDAPAttribute("displayName", "Workspace \(name)"),
            LDAPAttribute("description", "original"),
            LDAPAttribute("gwMailDomain", domain),
        ]
    }

    func unit(_ ou: String, extra: [LDAPAttribute] = []) -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["organizationalUnit", "gwOrgUnit"]),
            LDAPAttribute("ou", ou),
            LDAPAttribute("description", "original"),
        ] + extra
    }

    /// An account (inetOrgPerson + gwAccount) whose password is `pw-<uid>`.
    func account(
        uid: String, mail: String, cn: String? = nil, sn: String? = nil, givenName: String? = nil,
        workspace: String? = nil, extra: [LDAPAttribute] = []
    ) -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
            LDAPAttribute("uid", uid),
            LDAPAttribute("cn", cn ?? uid),
            LDAPAttribute("sn", sn ?? uid),
            LDAPAttribute("givenName", givenName ?? uid),
            LDAPAttribute("mail", mail),
            LDAPAttribute("userPassword", Self.password(uid)),
            LDAPAttribute("description", "original"),
            LDAPAttribute("gwAccountStatus", "active"),
            LDAPAttribute("gwServiceType", "both"),
            LDAPAttribute("gwEnabledService", ["imap", "smtp"]),
            LDAPAttribute("gwMailQuota", "1073741824"),
            LDAPAttribute("gwAliasCount", "0"),
            LDAPAttribute("gwHomeWorkspace", workspace ?? dn),
        ] + extra
    }

    func adminGroup(_ members: [String]) -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup"]),
            LDAPAttribute("cn", "admins"),
            LDAPAttribute("description", "original"),
            LDAPAttribute("member", members),
        ]
    }

    func alias(_ address: String, owner: String, folder: String) -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["gwMailAlias"]),
            LDAPAttribute("mail", address),
            LDAPAttribute("description", "original"),
            LDAPAttribute("gwAliasFolder", folder),
            LDAPAttribute("gwDeliverTo", owner.replacingOccurrences(of: "@", with: "+\(folder)@")),
            LDAPAttribute("gwOwnerAddress", owner),
        ]
    }

    func credential(for address: String, password: String, cn: String = "mail-password") -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["gwMailCredential"]),
            LDAPAttribute("cn", cn),
            LDAPAttribute("userPassword", password),
            LDAPAttribute("gwCredentialFor", address),
        ]
    }

    private func entries() -> [(String, [LDAPAttribute])] {
        [
            (dn, workspace(name: name, domain: domain)),
            (otherDN, workspace(name: "\(name)-x", domain: otherDomain)),
            (otherDN("uid=olga"), account(uid: "olga", mail: "olga@\(otherDomain)", workspace: otherDN)),
            (dn("ou=sales"), unit("sales", extra: [LDAPAttribute("displayName", "영업부"), LDAPAttribute("gwBillingId", "B-100")])),
            (dn("ou=east,ou=sales"), unit("east")),
            (dn("ou=dev"), unit("dev")),
            (dn("uid=alice,ou=sales"), account(uid: "alice", mail: mail("alice"), cn: "Alice Kim", sn: "Kim", givenName: "Alice",
                                               extra: [LDAPAttribute("gwMailPasswordSet", "TRUE")])),
            (dn("mail=\(mail("al")),uid=alice,ou=sales"), alias(mail("al"), owner: mail("alice"), folder: "al")),
            (dn("cn=mail-password,uid=alice,ou=sales"), credential(for: mail("alice"), password: "mailpw-alice")),
            (dn("uid=sam,ou=sales"), account(uid: "sam", mail: mail("sam"), cn: "Sam Sales")),
            (dn("uid=boss,ou=sales"), account(uid: "boss", mail: mail("boss"), cn: "Boss")),
            (dn("mail=\(mail("chief")),uid=boss,ou=sales"), alias(mail("chief"), owner: mail("boss"), folder: "chief")),
            (dn("uid=minjun,ou=east,ou=sales"), account(uid: "minjun", mail: mail("minjun"), cn: "김민준", sn: "김", givenName: "민준", extra: [
                LDAPAttribute("gwOtpSecret", "JBSWY3DPEHPK3PXP"),
                LDAPAttribute("gwOtpEnabled", "TRUE"),
            ])),
            (dn("uid=서연,ou=east,ou=sales"), account(uid: "서연", mail: mail("seoyeon"), cn: "이서연", sn: "이", givenName: "서연")),
            (dn("uid=erin,ou=east,ou=sales"), account(uid: "erin", mail: mail("erin"))),
            (dn("uid=carl,ou=east,ou=sales"), account(uid: "carl", mail: mail("carl"))),
            (dn("uid=dave,ou=dev"), account(uid: "dave", mail: mail("dave"), cn: "Dave Dev")),
            (dn("uid=pia,ou=dev"), account(uid: "pia", mail: mail("pia"))),
            (dn("cn=team,ou=sales"), [
                LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup"]),
                LDAPAttribute("cn", "team"),
                LDAPAttribute("mail", mail("team")),
                LDAPAttribute("member", [dn("uid=alice,ou=sales"), dn("uid=minjun,ou=east,ou=sales")]),
            ]),
            (dn("cn=admins"), adminGroup([dn("uid=boss,ou=sales")])),
            (dn("cn=admins,ou=sales"), adminGroup([dn("uid=sam,ou=sales")])),
            (dn("cn=admins,ou=east,ou=sales"), adminGroup([dn("uid=carl,ou=east,ou=sales")])),
        ]
    }
}

/// Runs `body` with a connection and closes it afterwards.
func using(_ connection: LDAPConnection, _ body: (LDAPConnection) async throws -> Void) async throws {
    defer { connection.close() }
    try await body(connection)
}

/// The LDAP result code an operation failed with, or nil when it succeeded.
func resultCode(_ body: () async throws -> Void) async -> LDAPError.Code? {
    do {
        try await body()
        return nil
    } catch let error as LDAPError {
        return error.code
    } catch {
        return LDAPError.Code(rawValue: -999)
    }
}
