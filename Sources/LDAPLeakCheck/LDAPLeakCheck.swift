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
        let unit = "ou=leaks-\(UInt32.random(in: 0...UInt32.max)),\(base)"
        try await connection.add(dn: unit, attributes: [LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", String(unit.dropFirst(3).prefix { $0 != "," }))])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    try await connection.add(dn: "uid=u\(index),\(unit)", attributes: [
                        LDAPAttribute("objectClass", ["inetOrgPerson"]), LDAPAttribute("uid", "u\(index)"),
                        LDAPAttribute("cn", "김민준 \(index)"), LDAPAttribute("sn", "김"), LDAPAttribute("roomNumber", "1"),
                        LDAPAttribute(name: "jpegPhoto", values: [[0, 1, 2, 0, 255]]),
                    ])
                }
            }
            try await group.waitForAll()
        }
        _ = try await connection.search(base: unit, filter: "(sn=김*)")
        var listed = 0
        for try await _ in connection.pagedSearch(base: unit, scope: .oneLevel, pageSize: 7) { listed += 1 }
        for try await _ in connection.pagedSearch(base: unit, scope: .oneLevel, pageSize: 10) { listed += 1 }
        _ = try await connection.compare(dn: "uid=u1,\(unit)", attribute: "sn", value: Array("김".utf8), controls: [])
        _ = try await connection.modify(dn: "uid=u1,\(unit)", [.replace("roomNumber", ["5"])], controls: [.preRead(["roomNumber"]), .postRead(["roomNumber"]), .assertion("(roomNumber=1)")])
        _ = try? await connection.modify(dn: "uid=u1,\(unit)", [.replace("roomNumber", ["6"])], controls: [.assertion("(roomNumber=1)")])
        _ = try? await connection.search(base: "ou=missing,\(unit)")
        _ = try? await connection.search(base: unit, filter: "(objectClass=*)", attributes: [], sizeLimit: 3, timeLimit: .seconds(3), controls: [])
        _ = try await connection.whoAmI()
        _ = try await connection.passwordModify(userDN: "uid=u2,\(unit)", oldPassword: nil, newPassword: nil, controls: [])
        _ = try await connection.passwordModify(userDN: "uid=u3,\(unit)", oldPassword: nil, newPassword: "secret 3", controls: [])
        _ = try await connection.extendedOperation(oid: "1.3.6.1.4.1.4203.1.11.3", value: nil)
        _ = try await connection.rename(dn: "uid=u4,\(unit)", newRDN: "uid=u4b", deleteOldRDN: true, newSuperior: nil, controls: [])
        try await connection.add(dn: "ou=ref,\(unit)", attributes: [
            LDAPAttribute("objectClass", ["referral", "extensibleObject"]), LDAPAttribute("ou", "ref"),
            LDAPAttribute("ref", "ldap://replica.invalid/ou=ref,\(base)"),
        ], controls: [.manageDsaIT])
        _ = try await connection.search(base: unit, filter: "(objectClass=*)")
        let user = LDAPConnection(configuration: LDAPConfiguration(uri: uri))
        try await user.bind(.simple(dn: "uid=u3,\(unit)", password: "secret 3"), controls: [.passwordPolicy])
        _ = try? await user.bind(.simple(dn: "uid=u3,\(unit)", password: "wrong"), controls: [.passwordPolicy])
        user.close()
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
