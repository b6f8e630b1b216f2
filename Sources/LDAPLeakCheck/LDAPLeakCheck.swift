import LDAPClient

/// Runs every LDAPClient operation and decoding path against a throwaway slapd, then closes
/// everything and exits, so valgrind's leak report covers each libldap object the wrapper frees
/// (LDAPMessage, BerElement, berval arrays, controls, referrals). Driven by LeakTests, which
/// starts the slapd: this process only speaks LDAP, so valgrind sees nothing but the client.
/// Arguments: <ldap URI> <ldapi URI> <root DN> <root password> <base DN>
@main
struct LDAPLeakCheck {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 6 else {
            print("usage: ldap-leak-check <ldap URI> <ldapi URI> <root DN> <root password> <base DN>")
            return
        }
        let (uri, ldapiURI, rootDN, rootPassword, base) = (arguments[1], arguments[2], arguments[3], arguments[4], arguments[5])
        let connection = try await LDAPConnection.connect(configuration: LDAPConfiguration(
            uri: uri, credentials: .simple(dn: rootDN, password: rootPassword)
        ))
        let baseDN = try DistinguishedName(base)
        let unitName = "leaks-\(UInt32.random(in: 0...UInt32.max))"
        let unit = try baseDN.child(type: "ou", value: unitName)
        let user: @Sendable (String) throws -> DistinguishedName = { name in try unit.child(type: "uid", value: name) }
        try await connection.add(dn: unit, attributes: [LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", unitName)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    try await connection.add(dn: try user("u\(index)"), attributes: [
                        LDAPAttribute("objectClass", ["inetOrgPerson"]), LDAPAttribute("uid", "u\(index)"),
                        LDAPAttribute("cn", "김민준 \(index)"), LDAPAttribute("sn", "김"), LDAPAttribute("roomNumber", "1"),
                        LDAPAttribute(name: "jpegPhoto", values: [[0, 1, 2, 0, 255]]),
                    ])
                }
            }
            try await group.waitForAll()
        }
        _ = try await connection.search(base: unit, filter: .prefix("sn", "김"))
        var listed = 0
        for try await _ in connection.pagedSearch(base: unit, scope: .oneLevel, pageSize: 7) { listed += 1 }
        for try await _ in connection.pagedSearch(base: unit, scope: .oneLevel, pageSize: 10) { listed += 1 }
        _ = try await connection.compare(dn: try user("u1"), attribute: "sn", value: Array("김".utf8), controls: [])
        _ = try await connection.modify(dn: try user("u1"), [.replace("roomNumber", ["5"])], controls: [.preRead(["roomNumber"]), .postRead(["roomNumber"]), .assertion(.equal("roomNumber", "1"))])
        _ = try? await connection.modify(dn: try user("u1"), [.replace("roomNumber", ["6"])], controls: [.assertion(.equal("roomNumber", "1"))])
        _ = try? await connection.search(base: try unit.child(type: "ou", value: "missing"))
        _ = try? await connection.search(base: unit, filter: .present("objectClass"), attributes: [], sizeLimit: 3, timeLimit: .seconds(3), controls: [])
        _ = try await connection.whoAmI()
        _ = try await connection.passwordModify(userDN: try user("u2"), oldPassword: nil, newPassword: nil, controls: [])
        _ = try await connection.passwordModify(userDN: try user("u3"), oldPassword: nil, newPassword: "secret 3", controls: [])
        _ = try await connection.extendedOperation(oid: "1.3.6.1.4.1.4203.1.11.3", value: nil)
        _ = try await connection.rename(dn: try user("u4"), newRDN: try RelativeDistinguishedName(type: "uid", value: "u4b"), deleteOldRDN: true, newSuperior: nil, controls: [])
        let referred = try baseDN.child(type: "ou", value: "ref")
        try await connection.add(dn: try unit.child(type: "ou", value: "ref"), attributes: [
            LDAPAttribute("objectClass", ["referral", "extensibleObject"]), LDAPAttribute("ou", "ref"),
            LDAPAttribute("ref", "ldap://replica.invalid/\(referred)"),
        ], controls: [.manageDsaIT])
        _ = try await connection.search(base: unit, filter: .present("objectClass"))
        let userConnection = LDAPConnection(configuration: LDAPConfiguration(uri: uri))
        try await userConnection.bind(.simple(dn: try user("u3").description, password: "secret 3"), controls: [.passwordPolicy])
        _ = try? await userConnection.bind(.simple(dn: try user("u3").description, password: "wrong"), controls: [.passwordPolicy])
        userConnection.close()
        let external = try await LDAPConnection.connect(configuration: LDAPConfiguration(uri: ldapiURI, credentials: .saslExternal()))
        _ = try await external.whoAmI()
        external.close()
        let cancelled = Task { try await connection.search(base: unit) }
        cancelled.cancel()
        _ = try? await cancelled.value
        try await connection.deleteSubtree(dn: unit)
        connection.close()
        // Let the connection threads finish their shutdown before the process exits.
        try await Task.sleep(for: .milliseconds(300))
        print("leak check workload done: \(listed) entries listed")
    }
}
