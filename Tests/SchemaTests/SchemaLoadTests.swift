import LDAPClient
import Testing
import TestSupport

/// The gwdir schema and cn=config load: the harness slapd started from schema/slapd/config.ldif
/// serves our schema entry over ldapi and our classes in cn=Subschema.
@Suite struct SchemaLoadTests {
    static let objectClasses = [
        "gwWorkspace", "gwOrgUnit", "gwAccount", "gwMailCredential", "gwMailAlias", "gwMailGroup",
        "gwSharedMailbox", "gwInvitation", "gwLoginEvent", "gwIPBlock", "gwAdminGroup",
    ]

    static let attributeTypes = [
        "gwMailDomain", "gwAliasCount", "gwCredentialFor", "gwOtpSecret", "gwAccountStatus",
        "gwMailQuota", "gwBillingId", "gwDeliverTo", "gwOwnerAddress", "gwEventCount",
    ]

    @Test func schemaEntryIsReadableOverLDAPIAsRoot() async throws {
        let fixture = try DirectoryFixture.shared()
        try await using(LDAPConnection(configuration: LDAPConfiguration(uri: fixture.slapd.ldapiURI, credentials: .saslExternal()))) { (root) async throws in
            #expect(try await root.whoAmI() == "dn:gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth")
            // cn={N}gwdir: back-config numbers the schema entries in load order.
            let found = try await root.search(base: "cn=schema,cn=config".parsedDN, scope: .oneLevel, filter: .suffix("cn", "gwdir"), attributes: ["cn"])
            let dn = try #require(found.entries.first?.dn)
            #expect(found.entries.count == 1)
            #expect(dn.hasPrefix("cn={") && dn.hasSuffix("}gwdir,cn=schema,cn=config"))
            let entry = try #require(try await root.entry(dn.parsedDN, attributes: ["olcObjectClasses", "olcAttributeTypes"]))
            let classes = entry.strings("olcObjectClasses").joined(separator: "\n")
            for name in Self.objectClasses {
                #expect(classes.contains("NAME '\(name)'"), "\(name) missing from \(dn)")
            }
            let types = entry.strings("olcAttributeTypes").joined(separator: "\n")
            for name in Self.attributeTypes {
                #expect(types.contains("NAME '\(name)'"), "\(name) missing from \(dn)")
            }
            #expect(entry.strings("olcObjectClasses").allSatisfy { $0.contains("2.25.201588638038164271616629964798483728642.2.") })
        }
    }

    @Test func configIsOnlyForTheLDAPIRoot() async throws {
        let fixture = try DirectoryFixture.shared()
        try await using(fixture.gwdirConnection()) { (gwdir) async throws in
            let error = await #expect(throws: LDAPError.self) {
                _ = try await gwdir.search(base: "cn=config".parsedDN, scope: .base, filter: .present("objectClass"), attributes: [])
            }
            #expect(error?.code == .noSuchObject)
        }
    }

    @Test(arguments: objectClasses)
    func objectClassIsInSubschema(_ name: String) async throws {
        let definitions = try await Self.subschema("objectClasses")
        #expect(definitions.contains { $0.contains("NAME '\(name)'") })
    }

    @Test(arguments: attributeTypes)
    func attributeTypeIsInSubschema(_ name: String) async throws {
        let definitions = try await Self.subschema("attributeTypes")
        #expect(definitions.contains { $0.contains("NAME '\(name)'") })
    }

    @Test func gwAccountRequiresUidAndMail() async throws {
        let definitions = try await Self.subschema("objectClasses")
        let account = try #require(definitions.first { $0.contains("NAME 'gwAccount'") })
        #expect(account.contains("AUXILIARY"))
        #expect(account.contains("MUST ( uid $ mail )"))
        let alias = try #require(definitions.first { $0.contains("NAME 'gwMailAlias'") })
        #expect(alias.contains("STRUCTURAL"))
    }

    /// cn=Subschema is readable by anyone (frontend ACL); read it anonymously.
    static func subschema(_ attribute: String) async throws -> [String] {
        let fixture = try DirectoryFixture.shared()
        let client = fixture.connection(.anonymous)
        defer { client.close() }
        let entry = try #require(try await client.search(base: "cn=Subschema".parsedDN, scope: .base, filter: .equal("objectClass", "subschema"), attributes: [attribute]).entries.first)
        return entry.strings(attribute)
    }
}
