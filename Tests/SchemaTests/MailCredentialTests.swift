import Foundation
import LDAPClient
import Testing
import TestSupport

/// Dovecot's passdb 1 is `(&(objectClass=gwMailCredential)(gwCredentialFor=%u))`, then a bind
/// as the hit. The ACLs make only a credential directly below its own account count, so a
/// forged one (anywhere else, or naming someone else's address) is never found.
@Suite struct MailCredentialTests {
    static let sample = Task { try await SampleWorkspace.buildSmall("cred") }

    private func dovecotLookup(_ ws: SampleWorkspace, _ address: String) async throws -> [String] {
        let dovecot = ws.connection(as: ws.fixture.dovecotDN, password: ws.fixture.dovecotPassword)
        defer { dovecot.close() }
        let filter: LDAPFilter = .and([.equal("objectClass", "gwMailCredential"), .equal("gwCredentialFor", address)])
        return try await dovecot.search(base: ws.fixture.workspacesDN.parsedDN, filter: filter, attributes: ["1.1"]).entries.map { $0.dn.lowercased() }
    }

    private func newAccount(_ ws: SampleWorkspace, local: String) async throws -> (dn: String, mail: String) {
        let uid = "c\(UUID().uuidString.prefix(8).lowercased())"
        let dn = ws.dn("uid=\(uid),ou=unit")
        let mail = "\(local).\(uid)@\(ws.domain)"
        try await using(ws.root()) { try await $0.add(dn: dn.parsedDN, attributes: ws.account(uid: uid, mail: mail)) }
        return (dn, mail)
    }

    @Test(arguments: ["plain", "Mixed.Case"])
    func dovecotFindsAnAccountsOwnCredential(_ local: String) async throws {
        let ws = try await Self.sample.value
        let (account, mail) = try await newAccount(ws, local: local)
        let credential = "cn=mail-password,\(account)"
        try await using(ws.connection(as: ws.fixture.gwdirDN, password: ws.fixture.gwdirPassword)) { (service) async throws in
            try await service.add(dn: credential.parsedDN, attributes: ws.credential(for: mail, password: "app-pw"))
        }
        #expect(try await dovecotLookup(ws, mail.lowercased()) == [credential.lowercased()])
        #expect(try await dovecotLookup(ws, mail.uppercased()) == [credential.lowercased()])
        try await using(ws.anonymous()) { (client) async throws in
            try await client.bind(.simple(dn: credential, password: "app-pw"))
        }
    }

    @Test func dovecotNeverSeesAForgedCredential() async throws {
        let ws = try await Self.sample.value
        let (victim, mail) = try await newAccount(ws, local: "victim")
        let (other, _) = try await newAccount(ws, local: "other")
        // The root DN is above the ACLs: it can plant what an admin no longer can.
        try await using(ws.root()) { (root) async throws in
            try await root.add(dn: ws.dn("cn=forged-\(UUID().uuidString.prefix(6)),ou=unit").parsedDN, attributes: ws.credential(for: mail, password: "x", cn: "forged"))
            try await root.add(dn: "cn=mail-password,\(other)".parsedDN, attributes: ws.credential(for: mail, password: "x"))
        }
        #expect(try await dovecotLookup(ws, mail).isEmpty)
        // The victim's own credential is the only one found.
        try await using(ws.root()) { (root) async throws in
            try await root.add(dn: "cn=mail-password,\(victim)".parsedDN, attributes: ws.credential(for: mail, password: "real"))
        }
        #expect(try await dovecotLookup(ws, mail) == ["cn=mail-password,\(victim)".lowercased()])
    }

    @Test func theOwnerSeesItsCredentialAndOnlyTheServiceRemovesIt() async throws {
        let ws = try await Self.sample.value
        let (account, mail) = try await newAccount(ws, local: "owner")
        let credential = "cn=mail-password,\(account)"
        let uid = String(account.split(separator: ",")[0].dropFirst(4))
        try await using(ws.root()) { (root) async throws in
            try await root.add(dn: credential.parsedDN, attributes: ws.credential(for: mail, password: "app-pw"))
            try await root.add(dn: ws.dn("cn=admins,ou=unit").parsedDN, attributes: ws.adminGroup([ws.dn("uid=\(uid)x,ou=unit")]))
            try await root.add(dn: ws.dn("uid=\(uid)x,ou=unit").parsedDN, attributes: ws.account(uid: "\(uid)x", mail: ws.mail("\(uid)x")))
        }
        try await using(ws.connection(as: account, password: SampleWorkspace.password(uid))) { (user) async throws in
            #expect(try await user.entry(credential.parsedDN, attributes: ["gwCredentialFor"])?.string("gwCredentialFor") == mail)
        }
        // The unit admin can not delete it raw (admins write through the service); the service can.
        try await using(ws.connection(as: ws.dn("uid=\(uid)x,ou=unit"), password: SampleWorkspace.password("\(uid)x"))) { (admin) async throws in
            let error = await #expect(throws: LDAPError.self) { try await admin.delete(dn: credential.parsedDN) }
            #expect(error?.code == .insufficientAccessRights)
        }
        try await using(ws.connection(as: ws.fixture.gwdirDN, password: ws.fixture.gwdirPassword)) { (service) async throws in
            try await service.delete(dn: credential.parsedDN)
        }
        try await using(ws.root()) { (root) async throws in
            #expect(try await root.entry(credential.parsedDN) == nil)
        }
    }
}
