import Foundation
import LDAPClient
import Testing
import TestSupport

/// slapd itself keeps the mail invariants (slapo-unique, slapo-constraint, the assertion-guarded
/// alias counter) and locks accounts (slapo-ppolicy) — whoever writes, however concurrently.
@Suite struct OverlayTests {
    static let sample = Task { () async throws -> SampleWorkspace in
        let ws = try await SampleWorkspace.buildSmall("ovl")
        try await using(ws.root()) { (root) async throws in
            try await root.add(dn: ws.dn("uid=owner,ou=unit").parsedDN, attributes: ws.account(uid: "owner", mail: ws.mail("owner")))
            try await root.add(dn: ws.dn("uid=other,ou=unit").parsedDN, attributes: ws.account(uid: "other", mail: ws.mail("other")))
            try await root.add(dn: ws.dn("mail=\(ws.mail("taken")),uid=owner,ou=unit").parsedDN, attributes: ws.alias(ws.mail("taken"), owner: ws.mail("owner"), folder: "taken"))
        }
        return ws
    }

    private func gwdir(_ ws: SampleWorkspace) -> LDAPConnection {
        ws.connection(as: ws.fixture.gwdirDN, password: ws.fixture.gwdirPassword)
    }

    // MARK: slapo-unique

    @Test(arguments: ["other", "OTHER"])
    func aliasEqualToAnotherAccountsPrimaryAddressIsRefused(_ local: String) async throws {
        let ws = try await Self.sample.value
        let address = "\(local)@\(ws.domain)"
        let aliasDN = ws.dn("mail=\(address),uid=owner,ou=unit")
        try await using(gwdir(ws)) { (service) async throws in
            let error = await #expect(throws: LDAPError.self) {
                try await service.add(dn: aliasDN.parsedDN, attributes: ws.alias(address, owner: ws.mail("owner"), folder: "x"))
            }
            #expect(error?.code == .constraintViolation)
        }
        // The root DN is held to it too (no relax control is sent).
        try await using(ws.root()) { (root) async throws in
            let error = await #expect(throws: LDAPError.self) {
                try await root.add(dn: aliasDN.parsedDN, attributes: ws.alias(address, owner: ws.mail("owner"), folder: "x"))
            }
            #expect(error?.code == .constraintViolation)
            #expect(try await root.entry(aliasDN.parsedDN) == nil)
        }
    }

    @Test func primaryAddressEqualToAnExistingAliasIsRefused() async throws {
        let ws = try await Self.sample.value
        let dn = ws.dn("uid=taken,ou=unit")
        try await using(gwdir(ws)) { (service) async throws in
            let error = await #expect(throws: LDAPError.self) {
                try await service.add(dn: dn.parsedDN, attributes: ws.account(uid: "taken", mail: ws.mail("taken")))
            }
            #expect(error?.code == .constraintViolation)
            // Nor can an existing account be re-addressed onto it.
            let modify = await #expect(throws: LDAPError.self) {
                try await service.modify(dn: ws.dn("uid=other,ou=unit").parsedDN, [.replace("mail", [ws.mail("taken")])])
            }
            #expect(modify?.code == .constraintViolation)
        }
        try await using(ws.root()) { (root) async throws in
            #expect(try await root.entry(dn.parsedDN) == nil)
            #expect(try await root.entry(ws.dn("uid=other,ou=unit").parsedDN, attributes: ["mail"])?.string("mail") == ws.mail("other"))
        }
    }

    /// 20 different entries with one address, launched at once: slapo-unique (serialize) lets
    /// exactly one through, over one pipelined connection or over many.
    @Test(arguments: [1, 5, 20])
    func concurrentAddsOfOneAddressYieldExactlyOneSuccess(connections: Int) async throws {
        let ws = try await Self.sample.value
        let address = ws.mail("race-\(connections)")
        let pool = (0..<connections).map { _ in gwdir(ws) }
        defer { pool.forEach { $0.close() } }
        // Open and bind every connection first so the adds really start together.
        for connection in pool { try await connection.connect() }
        let outcomes = await withTaskGroup(of: LDAPError.Code?.self) { group in
            for i in 0..<20 {
                let connection = pool[i % connections]
                let dn = ws.dn("uid=race\(connections)x\(i),ou=unit")
                let attributes = ws.account(uid: "race\(connections)x\(i)", mail: address)
                group.addTask { await resultCode { try await connection.add(dn: dn.parsedDN, attributes: attributes) } }
            }
            var all: [LDAPError.Code?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count(where: { $0 == nil }) == 1)
        #expect(outcomes.count(where: { $0 == .constraintViolation }) == 19)
        try await using(ws.root()) { (root) async throws in
            let holders = try await root.search(base: ws.fixture.workspacesDN.parsedDN, filter: .equal("mail", "\(address)"), attributes: ["1.1"])
            #expect(holders.entries.count == 1)
        }
    }

    // MARK: gwAliasCount (slapo-constraint + assertion control)

    private func counterAccount(_ ws: SampleWorkspace, _ label: String) async throws -> String {
        let uid = "count\(label)\(UUID().uuidString.prefix(4).lowercased())"
        let dn = ws.dn("uid=\(uid),ou=unit")
        try await using(ws.root()) { try await $0.add(dn: dn.parsedDN, attributes: ws.account(uid: uid, mail: ws.mail(uid))) }
        return dn
    }

    @Test(arguments: ["6", "-1", "10"])
    func aliasCountOutsideZeroToFiveIsRefused(_ value: String) async throws {
        let ws = try await Self.sample.value
        let dn = try await counterAccount(ws, "r")
        try await using(gwdir(ws)) { (service) async throws in
            try await service.modify(dn: dn.parsedDN, [.replace("gwAliasCount", ["5"])])
            let error = await #expect(throws: LDAPError.self) {
                try await service.modify(dn: dn.parsedDN, [.replace("gwAliasCount", [value])])
            }
            #expect(error?.code == .constraintViolation)
            #expect(try await service.entry(dn.parsedDN, attributes: ["gwAliasCount"])?.string("gwAliasCount") == "5")
        }
    }

    /// The service's alias protocol: `increment: gwAliasCount 1` guarded by the assertion
    /// `(gwAliasCount<=4)`. 20 admins at once: exactly 5 get a slot, the rest assertionFailed.
    @Test func guardedIncrementStopsAtFiveUnderTwentyConcurrentIncrements() async throws {
        let ws = try await Self.sample.value
        let dn = try await counterAccount(ws, "i")
        let pool = (0..<4).map { _ in gwdir(ws) }
        defer { pool.forEach { $0.close() } }
        for connection in pool { try await connection.connect() }
        let outcomes = await withTaskGroup(of: LDAPError.Code?.self) { group in
            for i in 0..<20 {
                let connection = pool[i % pool.count]
                group.addTask {
                    await resultCode {
                        try await connection.modify(dn: dn.parsedDN, [.increment("gwAliasCount")], controls: [.assertion(.lessOrEqual("gwAliasCount", "4"))])
                    }
                }
            }
            var all: [LDAPError.Code?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count(where: { $0 == nil }) == 5)
        #expect(outcomes.count(where: { $0 == .assertionFailed }) == 15)
        try await using(ws.root()) { (root) async throws in
            #expect(try await root.entry(dn.parsedDN, attributes: ["gwAliasCount"])?.string("gwAliasCount") == "5")
        }
    }

    // MARK: the Relax control in a delegated admin's hands

    @Test func relaxOrManageDsaITFromAUnitAdminWritesNothing() async throws {
        let ws = try await Self.sample.value
        let admin = ws.dn("uid=unitadmin,ou=unit")
        let target = try await counterAccount(ws, "x")
        try await using(ws.root()) { (root) async throws in
            try await root.add(dn: admin.parsedDN, attributes: ws.account(uid: "unitadmin", mail: ws.mail("unitadmin")))
            try await root.add(dn: ws.dn("cn=admins,ou=unit").parsedDN, attributes: ws.adminGroup([admin]))
        }
        try await using(ws.connection(as: admin, password: SampleWorkspace.password("unitadmin"))) { (unitAdmin) async throws in
            // Admins hold no raw write right, so neither control opens anything: slapo-constraint,
            // which slapd 2.5 lets Relax skip for any writer, is never the only guard.
            let writes: [(LDAPModification, [LDAPRequestControl])] = [
                (.replace("description", ["in scope"]), []),
                (.replace("gwAliasCount", ["9"]), [.relax]),
                (.replace("mail", [ws.mail("fresh\(UUID().uuidString.prefix(6).lowercased())")]), [.relax]),
                (.replace("mail", [ws.mail("fresh\(UUID().uuidString.prefix(6).lowercased())")]), [.manageDsaIT]),
            ]
            for (modification, controls) in writes {
                let error = await #expect(throws: LDAPError.self) {
                    try await unitAdmin.modify(dn: target.parsedDN, [modification], controls: controls)
                }
                #expect(error?.code == .insufficientAccessRights)
            }
        }
        try await using(ws.root()) { (root) async throws in
            #expect(try await root.entry(target.parsedDN, attributes: ["gwAliasCount"])?.string("gwAliasCount") != "9")
        }
    }

    // MARK: ppolicy

    @Test func fiveWrongPasswordsLockTheAccount() async throws {
        let ws = try await Self.sample.value
        let uid = "locked\(UUID().uuidString.prefix(4).lowercased())"
        let dn = ws.dn("uid=\(uid),ou=unit")
        let password = SampleWorkspace.password(uid)
        try await using(ws.root()) { try await $0.add(dn: dn.parsedDN, attributes: ws.account(uid: uid, mail: ws.mail(uid))) }

        try await using(ws.anonymous()) { (client) async throws in
            // The right password works before.
            try await client.bind(.simple(dn: dn, password: password))
            for attempt in 1...5 {
                let error = await #expect(throws: LDAPError.self, "wrong bind \(attempt)") {
                    try await client.bind(.simple(dn: dn, password: "wrong-\(attempt)"))
                }
                #expect(error?.code == .invalidCredentials)
            }
            // Locked: the right password is refused now, with no hint in the result code...
            let locked = await #expect(throws: LDAPError.self) { try await client.bind(.simple(dn: dn, password: password)) }
            #expect(locked?.code == .invalidCredentials)
            // ...but the password policy control says why.
            let explained = await #expect(throws: LDAPError.self) {
                try await client.bind(.simple(dn: dn, password: password), controls: [.passwordPolicy])
            }
            #expect(explained?.code == .invalidCredentials)
            #expect(explained?.passwordPolicy?.error == .accountLocked)
        }
        try await using(ws.root()) { (root) async throws in
            let entry = try #require(try await root.entry(dn.parsedDN, attributes: ["pwdAccountLockedTime", "pwdFailureTime"]))
            #expect(entry.string("pwdAccountLockedTime") != nil)
            #expect(entry.strings("pwdFailureTime").count >= 5)
        }
        // The service unlocks it (deletes pwdAccountLockedTime) and the password works again.
        try await using(gwdir(ws)) { (service) async throws in
            try await service.modify(dn: dn.parsedDN, [.delete("pwdAccountLockedTime")])
        }
        try await using(ws.anonymous()) { (client) async throws in
            try await client.bind(.simple(dn: dn, password: password))
            #expect(try await client.whoAmI().lowercased() == "dn:\(dn)".lowercased())
        }
    }

    @Test func serviceAccountsAreNeverLockedOut() async throws {
        let ws = try await Self.sample.value
        let dovecot = ws.fixture.dovecotDN
        try await using(ws.anonymous()) { (client) async throws in
            for _ in 1...6 {
                await #expect(throws: LDAPError.self) { try await client.bind(.simple(dn: dovecot, password: "wrong")) }
            }
            try await client.bind(.simple(dn: dovecot, password: ws.fixture.dovecotPassword))
            #expect(try await client.whoAmI().lowercased() == "dn:\(dovecot)".lowercased())
        }
    }
}
