import Testing

import Directory
import DirectorySchema
import LDAPClient

@Suite struct LDIFTests {
    @Test func contentRecords() throws {
        let records = try LDIF.parse("""
        version: 1

        dn: dc=example,dc=com
        objectClass: dcObject
        objectClass: organization
        dc: example

        dn: ou=system,dc=example,dc=com
        objectClass: organizationalUnit
        ou: system
        """)
        #expect(records.map(\.dn) == ["dc=example,dc=com", "ou=system,dc=example,dc=com"])
        #expect(records[0].attributes == [
            LDAPAttribute("objectClass", ["dcObject", "organization"]),
            LDAPAttribute("dc", "example"),
        ])
    }

    @Test func commentsAndBlankLines() throws {
        let records = try LDIF.parse("""
        # a comment
         that continues
        \n\n
        dn: cn=a,dc=x
        # inside a record
        cn: a


        # trailing
        """)
        #expect(records == [LDIFRecord(dn: "cn=a,dc=x", attributes: [LDAPAttribute("cn", "a")])])
    }

    @Test func continuationLinesAndCRLF() throws {
        let records = try LDIF.parse("dn: cn=long,dc=ex\r\n ample,dc=com\r\ndescription: one\r\n  two\r\n")
        #expect(records.first?.dn == "cn=long,dc=example,dc=com")
        #expect(records.first?.attributes == [LDAPAttribute("description", "one two")])
    }

    @Test func base64Values() throws {
        // "café" and a DN with a non-ASCII value; binary values stay bytes.
        let records = try LDIF.parse("""
        dn:: Y249Y2Fmw6ksZGM9eA==
        description:: Y2Fmw6k=
        jpegPhoto;binary:: AP8=
        """)
        #expect(records.first?.dn == "cn=café,dc=x")
        #expect(records.first?.attributes == [
            LDAPAttribute("description", "café"),
            LDAPAttribute(name: "jpegPhoto;binary", values: [[0x00, 0xFF]]),
        ])
    }

    @Test func valuesKeepInnerColonsAndEmptyValues() throws {
        let records = try LDIF.parse("dn: cn=a,dc=x\nlabeledURI: http://example.com/a:b\ndescription:\n")
        #expect(records.first?.attributes == [
            LDAPAttribute("labeledURI", "http://example.com/a:b"),
            LDAPAttribute("description", ""),
        ])
    }

    @Test func changetypeAddIsAContentRecord() throws {
        let records = try LDIF.parse("dn: cn=a,dc=x\nchangetype: add\ncn: a\n")
        #expect(records == [LDIFRecord(dn: "cn=a,dc=x", attributes: [LDAPAttribute("cn", "a")])])
    }

    @Test(arguments: [
        ("dn: cn=a,dc=x\nchangetype: modify\nreplace: cn\ncn: b\n", 2),
        ("cn: a\n", 1),
        ("dn: cn=a,dc=x\ncn:< file:///etc/passwd\n", 2),
        ("dn: cn=a,dc=x\ncn:: !!!\n", 2),
        ("dn: cn=a,dc=x\nno colon here\n", 2),
        ("dn: cn=a,dc=x\n\n cn: a\n", 3),
    ])
    func refusesWhatItCannotLoad(input: String, line: Int) {
        #expect(throws: LDIFError.self) { try LDIF.parse(input) }
        do {
            _ = try LDIF.parse(input)
        } catch {
            #expect(error.line == line)
        }
    }

    /// The shipped base tree template parses into entries whose parents come first.
    @Test func baseTemplate() throws {
        let ldif = try DirectorySchema.render(DirectorySchema.template("slapd/base.ldif"), [
            "BASE_DN": "dc=example,dc=com", "BASE_RDN_VALUE": "example",
            "GWDIR_PW": "a", "DOVECOT_PW": "b", "POSTFIX_PW": "c",
        ])
        let records = try LDIF.parse(ldif)
        #expect(records.first?.dn == "dc=example,dc=com")
        #expect(records.contains { $0.dn == "cn=gwdir,ou=system,dc=example,dc=com" })
        var seen: Set<String> = []
        for record in records {
            let parent = try DistinguishedName(record.dn).parent?.description ?? ""
            #expect(record.dn == "dc=example,dc=com" || seen.contains(parent), "\(record.dn) before its parent")
            seen.insert(record.dn)
        }
    }
}
