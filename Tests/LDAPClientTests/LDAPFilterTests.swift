import CLDAP
import Testing

@testable import LDAPClient

/// libldap's BER encoding of a filter string (through the assertion control, which
/// encodes exactly the filter), or `nil` if libldap cannot parse the string.
private func libldapFilterBER(_ filter: String) -> [UInt8]? {
    var ld: OpaquePointer? = nil
    guard ldap_initialize(&ld, "ldap://127.0.0.1:1") == LDAP_SUCCESS, let ld else { return nil }
    defer { ldap_unbind_ext(ld, nil, nil) }
    var value = berval(bv_len: 0, bv_val: nil)
    let rc = filter.withCString { ldap_create_assertion_control_value(ld, UnsafeMutablePointer(mutating: $0), &value) }
    guard rc == LDAP_SUCCESS, let base = value.bv_val else { return nil }
    defer { ber_memfree(base) }
    return base.withMemoryRebound(to: UInt8.self, capacity: Int(value.bv_len)) {
        Array(UnsafeBufferPointer(start: $0, count: Int(value.bv_len)))
    }
}

/// A BER OCTET STRING with a short length, as it appears inside an encoded filter.
private func octetString(_ bytes: [UInt8]) -> [UInt8] {
    [0x04, UInt8(bytes.count)] + bytes
}

@Suite("LDAPFilter")
struct LDAPFilterTests {
    // MARK: Escaping

    @Test(
        arguments: [
            ("alice", "alice"),
            ("a*b", #"a\2ab"#),
            ("(x)", #"\28x\29"#),
            (#"a\b"#, #"a\5cb"#),
            ("a\u{0}b", #"a\00b"#),
            ("김민준", "김민준"),
            ("영업부", "영업부"),
            ("#lead", "#lead"),
            (" spaced ", " spaced "),
            ("a,b+c=d;\"<>", "a,b+c=d;\"<>"),
            ("*)(uid=*))(|(uid=*", #"\2a\29\28uid=\2a\29\29\28|\28uid=\2a"#),
        ] as [(String, String)]
    )
    func escapesAssertionValues(value: String, escaped: String) {
        let filter = LDAPFilter.equal("cn", value)
        #expect(filter.description == "(cn=\(escaped))")
        // libldap reads the escaped value back to exactly the original bytes.
        #expect(
            libldapFilterBER(filter.description) == [0xA3, UInt8(4 + 2 + value.utf8.count)]
                + octetString(Array("cn".utf8)) + octetString(Array(value.utf8))
        )
    }

    @Test(
        arguments: [
            ([0x61, 0xFF, 0x62], #"a\ffb"#),
            ([0xC3, 0xA9], "é"),
            ([0xC3], #"\c3"#),  // truncated sequence
            ([0xEA, 0xB9], #"\ea\b9"#),
            ([0xC0, 0x80], #"\c0\80"#),  // overlong NUL
            ([0xED, 0xA0, 0x80], #"\ed\a0\80"#),  // UTF-16 surrogate
            ([0xF4, 0x90, 0x80, 0x80], #"\f4\90\80\80"#),  // above U+10FFFF
            ([0x80, 0xEA, 0xB9, 0x80], #"\80김"#),
            ([0x2A, 0x00, 0xFE], #"\2a\00\fe"#),
        ] as [([UInt8], String)]
    )
    func escapesBytesThatAreNotUTF8(value: [UInt8], escaped: String) {
        let filter = LDAPFilter.equal("cn", value)
        #expect(filter.description == "(cn=\(escaped))")
        #expect(
            libldapFilterBER(filter.description) == [0xA3, UInt8(4 + 2 + value.count)] + octetString(Array("cn".utf8))
                + octetString(value)
        )
    }

    // MARK: Items

    @Test func simpleItems() {
        #expect(LDAPFilter.equal("uid", "alice").description == "(uid=alice)")
        #expect(LDAPFilter.greaterOrEqual("uidNumber", "1000").description == "(uidNumber>=1000)")
        #expect(LDAPFilter.lessOrEqual("uidNumber", "1999").description == "(uidNumber<=1999)")
        #expect(LDAPFilter.approximate("cn", "김민준").description == "(cn~=김민준)")
        #expect(LDAPFilter.present("objectClass").description == "(objectClass=*)")
        #expect(LDAPFilter.equal("2.5.4.3", [0x2A]).description == #"(2.5.4.3=\2a)"#)
        #expect(LDAPFilter.equal("cn;lang-ko", "영업부").description == "(cn;lang-ko=영업부)")
    }

    @Test func substrings() {
        #expect(LDAPFilter.prefix("cn", "Kim*").description == #"(cn=Kim\2a*)"#)
        #expect(LDAPFilter.suffix("mail", "@example.com").description == "(mail=*@example.com)")
        #expect(LDAPFilter.contains("cn", "(민)").description == #"(cn=*\28민\29*)"#)
        #expect(LDAPFilter.substring("cn", initial: "a", any: ["b", "c"], final: "d").description == "(cn=a*b*c*d)")
        #expect(LDAPFilter.substring("cn", any: ["b"]).description == "(cn=*b*)")
        #expect(LDAPFilter.substring("cn", initial: "a", any: ["", "b", ""]).description == "(cn=a*b*)")
    }

    @Test func emptySubstringIsPresence() {
        #expect(LDAPFilter.contains("cn", "").description == "(cn=*)")
        #expect(LDAPFilter.substring("cn", any: [""]).description == "(cn=*)")
    }

    @Test func extensibleMatches() {
        // Examples from RFC 4515 section 4.
        #expect(
            LDAPFilter.extensible(attribute: "cn", matchingRule: "caseExactMatch", value: "Fred Flintstone").description
                == "(cn:caseExactMatch:=Fred Flintstone)"
        )
        #expect(
            LDAPFilter.extensible(attribute: "cn", matchingRule: "2.5.13.5", value: "John Smith").description
                == "(cn:2.5.13.5:=John Smith)"
        )
        #expect(
            LDAPFilter.extensible(attribute: "o", dnAttributes: true, value: "Ace Industry").description
                == "(o:dn:=Ace Industry)"
        )
        #expect(
            LDAPFilter.extensible(attribute: nil, matchingRule: "2.4.6.8.10", dnAttributes: true, value: "Dino")
                .description == "(:dn:2.4.6.8.10:=Dino)"
        )
        #expect(
            LDAPFilter.extensible(attribute: "sn", matchingRule: nil, dnAttributes: false, value: [0x2A, 0xFF])
                .description == #"(sn:=\2a\ff)"#
        )
    }

    // MARK: Compound filters

    @Test func compoundFilters() {
        let filter = LDAPFilter.and([
            .equal("objectClass", "inetOrgPerson"),
            .or([.equal("uid", "alice"), .equal("mail", "alice@example.com")]),
            .not(.present("pwdAccountLockedTime")),
        ])
        #expect(
            filter.description
                == "(&(objectClass=inetOrgPerson)(|(uid=alice)(mail=alice@example.com))(!(pwdAccountLockedTime=*)))"
        )
        #expect(LDAPFilter.not(.not(.equal("cn", "x"))).description == "(!(!(cn=x)))")
    }

    @Test func absoluteTrueAndFalse() {
        #expect(LDAPFilter.and([]).description == "(&)")
        #expect(LDAPFilter.or([]).description == "(|)")
        #expect(LDAPFilter.absoluteTrue == .and([]))
        #expect(LDAPFilter.absoluteFalse == .or([]))
        // RFC 4526: an empty SET OF Filter under the and [0] / or [1] tags.
        #expect(libldapFilterBER("(&)") == [0xA0, 0x00])
        #expect(libldapFilterBER(LDAPFilter.or([]).description) == [0xA1, 0x00])
    }

    /// Every rendered filter is one libldap can parse.
    @Test(arguments: [
        LDAPFilter.and([.equal("cn", "a*b"), .not(.prefix("sn", "(x")), .or([])]),
        .substring("cn", initial: "\\", any: ["*", ")"], final: "\u{0}"),
        .extensible(attribute: nil, matchingRule: "2.4.6.8.10", dnAttributes: true, value: "김민준*"),
        .approximate("cn;lang-ko", [0xFF, 0x28]),
        .and([]),
        .greaterOrEqual("createTimestamp", "20240101000000Z"),
    ])
    func libldapParsesRenderedFilters(filter: LDAPFilter) {
        #expect(libldapFilterBER(filter.description) != nil, "libldap rejected \(filter)")
    }

    @Test func libldapRejectsUnescapedInput() {
        // Sanity check of the oracle: what naive concatenation would produce is not a filter.
        #expect(libldapFilterBER("(cn=a)(b)") == nil)
        #expect(libldapFilterBER("(cn=a\\zz)") == nil)
    }

    // MARK: Attribute names

    @Test(arguments: ["cn", "CN", "2.5.4.3", "cn;lang-ko", "userCertificate;binary", "x-custom-attr", "a1-b2;x;y"])
    func acceptsAttributeDescriptions(name: String) throws {
        let attribute = try LDAPFilter.AttributeDescription(name)
        #expect(attribute.name == name)
        #expect(LDAPFilter.present(attribute).description == "(\(name)=*)")
    }

    @Test(arguments: [
        "", "c n", "cn)", "(cn", "1cn", "cn;", ";lang-ko", "cn=x", "2.5..4", "2.5.", "01.2", "2", "cn;lang_ko", "uid*",
        "김민준", "cn\u{0}",
    ])
    func rejectsInvalidAttributeDescriptions(name: String) throws {
        let error = try #require(throws: LDAPFilterError.self) { try LDAPFilter.AttributeDescription(name) }
        #expect(error.input == name)
        #expect(error.description.contains("attribute description"))
    }

    @Test(arguments: ["caseExactMatch", "2.5.13.5"])
    func acceptsMatchingRules(name: String) throws {
        #expect(try LDAPFilter.MatchingRule(name).name == name)
    }

    @Test(arguments: ["", "case exact", "2.5.13.", "rule;binary", "x:dn"])
    func rejectsInvalidMatchingRules(name: String) {
        #expect(throws: LDAPFilterError.self) { try LDAPFilter.MatchingRule(name) }
    }

    // MARK: Equality

    @Test func attributeNamesCompareCaseInsensitively() throws {
        #expect(LDAPFilter.equal("UID", "alice") == .equal("uid", "alice"))
        #expect(LDAPFilter.equal("UID", "alice").hashValue == LDAPFilter.equal("uid", "alice").hashValue)
        #expect(LDAPFilter.equal("uid", "Alice") != .equal("uid", "alice"))
        let (upper, lower) = ("CN;Lang-KO", "cn;lang-ko")  // variables, so the throwing init is used
        #expect(try LDAPFilter.AttributeDescription(upper) == LDAPFilter.AttributeDescription(lower))
        #expect(try LDAPFilter.AttributeDescription(upper) != LDAPFilter.AttributeDescription("cn;lang-en"))
        #expect(LDAPFilter.equal("UID", "alice").description == "(UID=alice)")  // spelling preserved
    }

    @Test func stringAndByteFactoriesAgree() {
        #expect(LDAPFilter.equal("cn", "김민준") == .equal("cn", Array("김민준".utf8)))
        #expect(LDAPFilter.prefix("cn", "a") == .substring("cn", initial: Array("a".utf8), any: [], final: nil))
    }
}
