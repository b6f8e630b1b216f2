import Foundation
import LDAPClient
import Testing
import TestSupport

/// A user changes its own password — with the Password Modify extended operation or a plain
/// replace — and nothing else of its own entry.
@Suite struct SelfServiceTests {
    static let sample = Task { try await SampleWorkspace.buildSmall("self") }

    /// A fresh account per test, so password changes never collide.
    private func newUser(_ ws: SampleWorkspace) async throws -> (dn: String, password: String) {
        let uid = "u\(UUID().uuidString.prefix(8).lowercased())"
        let dn = ws.dn("uid=\(uid),ou=unit")
        try await using(ws.root()) { try await $0.add(dn: dn.parsedDN, attributes: ws.account(uid: uid, mail: ws.mail(uid))) }
        return (dn, SampleWorkspace.password(uid))
    }

    private func expectBind(_ ws: SampleWorkspace, _ dn: String, _ password: String, succeeds: Bool) async throws {
        try await using(ws.anonymous()) { (client) async throws in
            if succeeds {
                try await client.bind(.simple(dn: dn, password: password))
                #expect(try await client.whoAmI().lowercased() == "dn:\(dn)".lowercased())
            } else {
                let error = await #expect(throws: LDAPError.self) { try await client.bind(.simple(dn: dn, password: password)) }
                #expect(error?.code == .invalidCredentials)
            }
        }
    }

    @Test func passwordModifyExtendedOperation() async throws {
        let ws = try await Self.sample.value
        let (dn, old) = try await newUser(ws)
        try await using(ws.connection(as: dn, password: old)) { (user) async throws in
            // A wrong old password is refused and changes nothing.
            await #expect(throws: LDAPError.self) {
                _ = try await user.passwordModify(userDN: dn.parsedDN, oldPassword: "not-it", newPassword: "x-\(UUID())")
            }
            let generated = try await user.passwordModify(userDN: dn.parsedDN, oldPassword: old, newPassword: "새 비밀번호 1")
            #expect(generated == nil)
        }
        try await expectBind(ws, dn, "새 비밀번호 1", succeeds: true)
        try await expectBind(ws, dn, old, succeeds: false)
    }

    @Test func replaceOwnUserPassword() async throws {
        let ws = try await Self.sample.value
        let (dn, old) = try await newUser(ws)
        try await using(ws.connection(as: dn, password: old)) { (user) async throws in
            try await user.modify(dn: dn.parsedDN, [.replace("userPassword", ["replaced-secret"])])
        }
        try await expectBind(ws, dn, "replaced-secret", succeeds: true)
        try await expectBind(ws, dn, old, succeeds: false)
        // ppolicy hashed the cleartext.
        try await using(ws.root()) { (root) async throws in
            let stored = try #require(try await root.entry(dn.parsedDN, attributes: ["userPassword"])?["userPassword"].first)
            #expect(String(decoding: stored, as: UTF8.self).hasPrefix("{SSHA}"))
        }
    }

    @Test(arguments: [
        ("gwMailQuota", "999999999999"),
        ("gwAccountStatus", "active"),
        ("gwAccountStatus", "disabled"),
        ("gwEnabledService", "pop3"),
        ("mail", "renamed@example.invalid"),
        ("gwAliasCount", "0"),
    ])
    func cannotChangeOwnAccountAttributes(_ attribute: String, _ value: String) async throws {
        let ws = try await Self.sample.value
        let (dn, password) = try await newUser(ws)
        try await using(ws.root()) { (root) async throws in
            let before = try #require(try await root.entry(dn.parsedDN, attributes: ["*"]))
            try await using(ws.connection(as: dn, password: password)) { (user) async throws in
                let error = await #expect(throws: LDAPError.self) {
                    try await user.modify(dn: dn.parsedDN, [.replace(attribute, [value])])
                }
                #expect(error?.code == .insufficientAccessRights)
                // Not even alongside a permitted password change.
                let mixed = await #expect(throws: LDAPError.self) {
                    try await user.modify(dn: dn.parsedDN, [.replace("userPassword", ["mixed"]), .replace(attribute, [value])])
                }
                #expect(mixed?.code == .insufficientAccessRights)
            }
            #expect(try await root.entry(dn.parsedDN, attributes: ["*"]) == before)
        }
        try await expectBind(ws, dn, password, succeeds: true)
    }
}
