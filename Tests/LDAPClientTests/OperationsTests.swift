import Foundation
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// Every operation against the real slapd started by the harness.
@Suite struct OperationsTests {
    let connection: LDAPConnection

    init() throws {
        connection = try TestSlapd.rootConnection()
    }

    private func person(_ uid: String, under parent: DistinguishedName, extra: [LDAPAttribute] = []) async throws -> DistinguishedName {
        let dn = try parent.child(type: "uid", value: uid)
        try await connection.add(dn: dn, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson"]),
            LDAPAttribute("uid", uid),
            LDAPAttribute("cn", uid),
            LDAPAttribute("sn", uid),
        ] + extra)
        return dn
    }

    @Test func simpleBindAndWrongPassword() async throws {
        let slapd = try TestSlapd.shared()
        let user = LDAPConnection(configuration: LDAPConfiguration(uri: slapd.uri))
        try await user.bind(.simple(dn: slapd.rootDN, password: slapd.rootPassword))
        #expect(try await user.whoAmI() == "dn:\(slapd.rootDN)")
        let error = await #expect(throws: LDAPError.self) {
            try await user.bind(.simple(dn: slapd.rootDN, password: "wrong"))
        }
        #expect(error?.code == .invalidCredentials)
        #expect(error?.description.contains("bind \(slapd.rootDN): Invalid credentials (49)") == true)
        // A failed bind leaves the connection anonymous.
        #expect(try await user.whoAmI() == "")
    }

    @Test func connectFailsClearlyForAWrongPort() async throws {
        let port = try SlapdInstance.freeLoopbackPort()
        let error = await #expect(throws: LDAPError.self) {
            _ = try await LDAPConnection.connect(configuration: LDAPConfiguration(uri: "ldap://127.0.0.1:\(port)"))
        }
        #expect(error?.code == .serverDown)
        #expect(error?.isConnectionError == true)
    }

    @Test func saslExternalAsRootOverLDAPI() async throws {
        let slapd = try TestSlapd.shared()
        let root = try await LDAPConnection.connect(configuration: LDAPConfiguration(uri: slapd.ldapiURI, credentials: .saslExternal()))
        #expect(try await root.whoAmI() == "dn:gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth")
        // cn=config is readable only for that identity.
        let config = try await root.search(base: "cn=config".parsedDN, scope: .base)
        #expect(config.entries.first?.dn == "cn=config")
    }

    /// An interactive SASL bind runs synchronously on the connection's thread, among requests
    /// whose writes that thread holds until the end of its turn: the bind's own exchange must
    /// go out at once (else it would wait forever for an answer to a request never sent).
    @Test(.timeLimit(.minutes(1))) func interactiveSASLBindAmongPipelinedRequests() async throws {
        let slapd = try TestSlapd.shared()
        let root = try await LDAPConnection.connect(configuration: LDAPConfiguration(uri: slapd.ldapiURI, credentials: .saslExternal()))
        defer { root.close() }
        try await withTaskExecutorPreference(root.executor) {
            async let first = root.whoAmI()
            async let second = root.search(base: "cn=config".parsedDN, scope: .base)
            _ = try await (first, second)
            try await root.bind(.sasl(mechanism: "EXTERNAL", authenticationID: "", password: ""))
            #expect(try await root.whoAmI() == "dn:gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth")
        }
    }

    @Test func searchScopesLimitsAndAttributes() async throws {
        let base = try await TestSlapd.scratch(connection, "scopes")
        let unit = try base.child(type: "ou", value: "inner")
        try await connection.add(dn: unit, attributes: [LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", "inner")])
        _ = try await person("a", under: base, extra: [LDAPAttribute("mail", "a@example.com")])
        _ = try await person("b", under: unit)

        #expect(try await connection.search(base: base, scope: .base).entries.map(\.dn) == [base.description])
        #expect(Set(try await connection.search(base: base, scope: .oneLevel).entries.map(\.dn)) == [unit.description, "uid=a,\(base)"])
        #expect(try await connection.search(base: base, scope: .subtree).entries.count == 4)
        #expect(try await connection.search(base: base, scope: .children).entries.count == 3)

        let onlyMail = try await connection.search(base: base, filter: .equal("uid", "a"), attributes: ["mail"])
        #expect(onlyMail.entries.first?.attributes.map(\.name) == ["mail"])
        #expect(onlyMail.entries.first?.string("MAIL") == "a@example.com")

        let error = await #expect(throws: LDAPError.self) {
            _ = try await connection.search(base: base, scope: .subtree, filter: .present("objectClass"), attributes: [], sizeLimit: 2, timeLimit: .seconds(5), controls: [])
        }
        #expect(error?.code == .sizeLimitExceeded)

        let missing = await #expect(throws: LDAPError.self) {
            _ = try await connection.search(base: "ou=missing,\(base)".parsedDN)
        }
        #expect(missing?.code == .noSuchObject)
        #expect(missing?.matchedDN == base.description)
    }

    @Test func compare() async throws {
        let base = try await TestSlapd.scratch(connection, "compare")
        let dn = try await person("c", under: base, extra: [LDAPAttribute("mail", "c@example.com")])
        #expect(try await connection.compare(dn: dn, attribute: "mail", value: Array("C@EXAMPLE.COM".utf8), controls: []))
        #expect(try await connection.compare(dn: dn, attribute: "mail", value: Array("x@example.com".utf8), controls: []) == false)
    }

    @Test func modifyAddDeleteReplaceIncrement() async throws {
        let base = try await TestSlapd.scratch(connection, "modify")
        let dn = try await person("m", under: base, extra: [LDAPAttribute("description", ["one", "two"]), LDAPAttribute("roomNumber", "1")])
        try await connection.modify(dn: dn, [
            .add("mail", ["m@example.com", "m2@example.com"]),
            .delete("description", ["one"]),
            .replace("sn", ["Replaced"]),
        ])
        let entry = try #require(try await connection.entry(dn))
        #expect(Set(entry.strings("mail")) == ["m@example.com", "m2@example.com"])
        #expect(entry.strings("description") == ["two"])
        #expect(entry.string("sn") == "Replaced")

        // RFC 4525 increment on an INTEGER attribute, reading the new value back with post-read.
        let counterDN = "cn=counter,\(base)"
        try await connection.add(dn: counterDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["device", "extensibleObject"]),
            LDAPAttribute("cn", "counter"),
            LDAPAttribute("uidNumber", "41"),
        ])
        let result = try await connection.modify(dn: counterDN.parsedDN, [.increment("uidNumber", by: 1)], controls: [.preRead(["uidNumber"]), .postRead(["uidNumber"])])
        #expect(result.preReadEntry?.string("uidNumber") == "41")
        #expect(result.postReadEntry?.string("uidNumber") == "42")
        #expect(result.postReadEntry?.dn == counterDN)

        try await connection.modify(dn: dn, [.delete("mail")])
        #expect(try await connection.entry(dn)?.strings("mail").isEmpty == true)
    }

    @Test func assertionControl() async throws {
        let base = try await TestSlapd.scratch(connection, "assert")
        let dn = "cn=limit,\(base)"
        try await connection.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["device", "extensibleObject"]),
            LDAPAttribute("cn", "limit"),
            LDAPAttribute("uidNumber", "4"),
        ])
        try await connection.modify(dn: dn.parsedDN, [.increment("uidNumber")], controls: [.assertion(.lessOrEqual("uidNumber", "4"))])
        let error = await #expect(throws: LDAPError.self) {
            try await connection.modify(dn: dn.parsedDN, [.increment("uidNumber")], controls: [.assertion(.lessOrEqual("uidNumber", "4"))])
        }
        #expect(error?.code == .assertionFailed)
        #expect(try await connection.entry(dn.parsedDN)?.string("uidNumber") == "5")
    }

    @Test func deleteSubtreeAndRenameWithNewSuperior() async throws {
        let base = try await TestSlapd.scratch(connection, "tree")
        let from = try base.child(type: "ou", value: "from")
        let to = try base.child(type: "ou", value: "to")
        for (dn, ou) in [(from, "from"), (to, "to")] {
            try await connection.add(dn: dn, attributes: [LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", ou)])
        }
        let alice = try await person("alice", under: from)
        try await connection.add(dn: "cn=child,\(alice)".parsedDN, attributes: [LDAPAttribute("objectClass", ["device"]), LDAPAttribute("cn", "child")])

        try await connection.rename(dn: alice, newRDN: "uid=alice".parsedRDN, deleteOldRDN: true, newSuperior: to, controls: [])
        #expect(try await connection.entry(alice) == nil)
        #expect(try await connection.entry("cn=child,uid=alice,\(to)".parsedDN) != nil)

        try await connection.rename(dn: "uid=alice,\(to)".parsedDN, newRDN: "uid=alicia".parsedRDN, deleteOldRDN: true, newSuperior: nil, controls: [])
        let renamed = try #require(try await connection.entry("uid=alicia,\(to)".parsedDN))
        #expect(renamed.strings("uid") == ["alicia"])

        let nonLeaf = await #expect(throws: LDAPError.self) { try await connection.delete(dn: to) }
        #expect(nonLeaf?.code == .notAllowedOnNonLeaf)
        try await connection.deleteSubtree(dn: base)
        #expect(try await connection.entry(base) == nil)
    }

    @Test func whoAmIAndPasswordModify() async throws {
        let slapd = try TestSlapd.shared()
        let base = try await TestSlapd.scratch(connection, "passwd")
        let dn = try await person("p", under: base)
        try await connection.passwordModify(userDN: dn, oldPassword: nil, newPassword: "first secret", controls: [])

        let user = LDAPConnection(configuration: LDAPConfiguration(uri: slapd.uri))
        try await user.bind(.simple(dn: dn.description, password: "first secret"))
        #expect(try await user.whoAmI() == "dn:\(dn)")

        // The user changes its own password (the root DN may, and so may the user under default ACLs).
        let generated = try await connection.passwordModify(userDN: dn, oldPassword: nil, newPassword: nil, controls: [])
        let password = try #require(generated)
        #expect(!password.isEmpty)
        try await user.bind(.simple(dn: dn.description, password: password))
        await #expect(throws: LDAPError.self) { try await user.bind(.simple(dn: dn.description, password: "first secret")) }
    }

    @Test func koreanValuesRoundTrip() async throws {
        let base = try await TestSlapd.scratch(connection, "korean")
        let dn = "cn=김민준,\(base)"
        try await connection.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson"]),
            LDAPAttribute("cn", "김민준"),
            LDAPAttribute("sn", "김"),
            LDAPAttribute("givenName", "민준"),
            LDAPAttribute("ou", "영업부"),
        ])
        let found = try await connection.search(base: base, filter: .prefix("sn", "김"))
        let entry = try #require(found.entries.first)
        #expect(entry.dn == dn)
        #expect(entry.string("cn") == "김민준")
        #expect(entry.string("ou") == "영업부")
        #expect(try await connection.compare(dn: dn.parsedDN, attribute: "givenName", value: Array("민준".utf8), controls: []))
    }

    @Test func binaryValuesAreReadByLength() async throws {
        let base = try await TestSlapd.scratch(connection, "binary")
        let bytes: [UInt8] = [0x00, 0xFF, 0x41, 0x00, 0x42, 0x80]
        let dn = "cn=blob,\(base)"
        try await connection.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson"]),
            LDAPAttribute("cn", "blob"),
            LDAPAttribute("sn", "blob"),
            LDAPAttribute(name: "jpegPhoto", values: [bytes]),
        ])
        let entry = try #require(try await connection.entry(dn.parsedDN, attributes: ["jpegPhoto"]))
        #expect(entry["jpegPhoto"] == [bytes])
        #expect(entry.attribute(named: "jpegPhoto")?.strings == [])
    }

    @Test func manageDsaITAndReferrals() async throws {
        let base = try await TestSlapd.scratch(connection, "referral")
        let dn = "ou=elsewhere,\(base)"
        try await connection.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["referral", "extensibleObject"]),
            LDAPAttribute("ou", "elsewhere"),
            LDAPAttribute("ref", "ldap://replica.invalid/ou=elsewhere,dc=example,dc=com"),
        ], controls: [.manageDsaIT])
        // Without ManageDsaIT the server answers with a referral, not the entry.
        let referral = await #expect(throws: LDAPError.self) { _ = try await connection.search(base: dn.parsedDN, scope: .base) }
        #expect(referral?.code == .referral)
        // `ref` is operational (USAGE distributedOperation): ask for it by name.
        let asEntry = try await connection.search(base: dn.parsedDN, scope: .base, filter: .present("objectClass"), attributes: ["ref"], sizeLimit: 0, timeLimit: nil, controls: [.manageDsaIT])
        #expect(asEntry.entries.first?.string("ref") == "ldap://replica.invalid/ou=elsewhere,dc=example,dc=com")
        // Subtree searches return continuation references for it.
        let references = try await connection.search(base: base, filter: .present("objectClass"))
        #expect(references.referrals.contains { $0.hasPrefix("ldap://replica.invalid/") })
        try await connection.delete(dn: dn.parsedDN, controls: [.manageDsaIT])
    }

    @Test func relaxControlAllowsNoUserModificationAttributes() async throws {
        let base = try await TestSlapd.scratch(connection, "relax")
        let attributes = [
            LDAPAttribute("objectClass", ["device"]),
            LDAPAttribute("cn", "imported"),
            LDAPAttribute("createTimestamp", "20200101000000Z"),
        ]
        let refused = await #expect(throws: LDAPError.self) {
            try await connection.add(dn: "cn=imported,\(base)".parsedDN, attributes: attributes)
        }
        #expect(refused?.code == .constraintViolation)
        try await connection.add(dn: "cn=imported,\(base)".parsedDN, attributes: attributes, controls: [.relax])
        #expect(try await connection.entry("cn=imported,\(base)".parsedDN, attributes: ["createTimestamp"])?.string("createTimestamp") == "20200101000000Z")
    }

    @Test func genericExtendedOperationAndErrors() async throws {
        let response = try await connection.extendedOperation(oid: "1.3.6.1.4.1.4203.1.11.3", value: nil)
        #expect(response.value.map { String(decoding: $0, as: UTF8.self) } == "dn:\(try TestSlapd.shared().rootDN)")
        let error = await #expect(throws: LDAPError.self) {
            _ = try await connection.extendedOperation(oid: "1.2.3.4.5.6.7", value: [1, 2, 3])
        }
        #expect(error?.code == .protocolError)
    }

    @Test func aWriteOfACancelledTaskIsNotSent() async throws {
        let dn = "uid=never-\(UUID().uuidString.prefix(8)),\(TestSlapd.baseDN)"
        let connection = self.connection
        let task = Task {
            // Cancelled while it waits here; the add after it must not go out.
            try? await Task.sleep(for: .seconds(30))
            try await connection.add(dn: dn.parsedDN, attributes: [
                LDAPAttribute("objectClass", "inetOrgPerson"), LDAPAttribute("uid", "never"),
                LDAPAttribute("cn", "never"), LDAPAttribute("sn", "never"),
            ])
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        let error = await #expect(throws: LDAPError.self) { _ = try await connection.search(base: dn.parsedDN, scope: .base) }
        #expect(error?.code == .noSuchObject)
    }

    @Test func cancellationAbandonsTheOperationAndKeepsTheConnection() async throws {
        let task = Task {
            try await connection.search(base: TestSlapd.baseDN.parsedDN, filter: .present("objectClass"))
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(try await connection.whoAmI().hasPrefix("dn:"))
    }
}

