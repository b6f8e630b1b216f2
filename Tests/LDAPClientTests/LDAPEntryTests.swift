import LDAPClient
import Testing

/// The entry keeps every value in one buffer; what goes in must come out the same.
@Suite struct LDAPEntryTests {
    let attributes = [
        LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
        LDAPAttribute(name: "jpegPhoto", values: [[0, 255, 0], []]),
        LDAPAttribute(name: "description", values: []),
        LDAPAttribute("cn", "김민준"),
    ]

    @Test func attributesRoundTrip() {
        let entry = LDAPEntry(dn: "uid=a,dc=example,dc=com", attributes: attributes)
        #expect(entry.attributes == attributes)
        #expect(entry["JPEGPHOTO"] == [[0, 255, 0], []])
        #expect(entry.strings("objectclass") == ["inetOrgPerson", "gwAccount"])
        #expect(entry.string("cn") == "김민준")
        #expect(entry["description"] == [])
        #expect(entry.attribute(named: "missing") == nil)
        // Invalid UTF-8 is left out of the string view, never repaired.
        #expect(entry.strings("jpegPhoto") == [""])
    }

    @Test func mutationAndEquality() {
        var entry = LDAPEntry(dn: "uid=a,dc=example,dc=com", attributes: attributes)
        entry.attributes.append(LDAPAttribute("mail", "a@example.com"))
        #expect(entry.string("mail") == "a@example.com")
        #expect(entry.attributes.count == 5)
        let rebuilt = LDAPEntry(dn: entry.dn, attributes: entry.attributes)
        #expect(rebuilt == entry)
        #expect(rebuilt != LDAPEntry(dn: entry.dn, attributes: attributes))
    }

    /// A DN that does not parse is an error, never the root DSE (which a write would then target).
    @Test func unparsableDNIsADecodingErrorNotTheRoot() throws {
        #expect(try LDAPEntry(dn: "uid=a,dc=example,dc=com", attributes: []).distinguishedName == DistinguishedName("uid=a,dc=example,dc=com"))
        #expect(try LDAPEntry(dn: "", attributes: []).distinguishedName == .root)
        let error = #expect(throws: LDAPError.self) { try LDAPEntry(dn: "uid=a;dc=example", attributes: []).distinguishedName }
        #expect(error?.code == .decodingError)
        #expect(error?.dn == "uid=a;dc=example")
    }
}
