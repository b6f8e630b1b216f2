/// A distinguished name (RFC 4514), held as parsed RDNs rather than as a string.
///
/// DNs are only ever produced by ``init(_:)`` (parsing) or by the builders
/// (``init(rdns:)``, ``child(_:)``, ``child(type:value:)``), and rendered by
/// ``description`` with RFC 4514 escaping, so user input never reaches the wire
/// through string concatenation.
///
/// Equality: attribute types compare ASCII case-insensitively (`UID=alice` equals
/// `uid=alice`), the attribute/value pairs of a multi-valued RDN compare as a set,
/// and values compare byte for byte. Matching rules (e.g. `caseIgnoreMatch` on `cn`) and
/// descriptor/OID aliases (`cn` vs `2.5.4.3`) need the server's schema, so they are
/// deliberately not applied here.
///
/// There is intentionally no `ExpressibleByStringLiteral` conformance: a DN from a
/// string must go through the throwing parser.
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible {
    /// The RDNs, most specific first (`uid=alice` in `uid=alice,dc=example,dc=com`).
    public let rdns: [RelativeDistinguishedName]

    /// The RFC 4514 string, with types as given and values escaped. Rendered once, when the
    /// DN is made: a DN is rendered several times on its way (a folding key, an attribute value,
    /// the request to libldap), and rendering each time showed in the policy benchmark's profile.
    public let description: String

    /// The empty DN (the root DSE).
    public static let root = DistinguishedName(rdns: [])

    public init(rdns: [RelativeDistinguishedName]) {
        self.rdns = rdns
        self.description = Self.render(rdns)
    }

    private static func render(_ rdns: [RelativeDistinguishedName]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(rdns.count * 24)
        for (index, rdn) in rdns.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            rdn.appendRendered(to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Equal RDNs (see the type's comment); the rendered strings may differ in case.
    public static func == (lhs: DistinguishedName, rhs: DistinguishedName) -> Bool {
        lhs.rdns == rhs.rdns
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rdns)
    }

    /// Parses an RFC 4514 string.
    ///
    /// Accepts, like libldap, unescaped spaces around `=`, `,` and `+` and at either end of a
    /// value (they are not part of the value); rejects the legacy `;` separator, quoted
    /// values and empty attribute values. `""` is the root DN.
    ///
    /// - Throws: ``DistinguishedNameError`` naming the input and what is wrong with it.
    public init(_ string: String) throws {
        var parser = DNParser(input: string)
        self.init(rdns: try parser.parseDN())
    }

    /// The most specific RDN, or `nil` for the root DN.
    public var rdn: RelativeDistinguishedName? { self.rdns.first }

    /// The DN one level up, or `nil` for the root DN.
    public var parent: DistinguishedName? {
        self.rdns.isEmpty ? nil : DistinguishedName(rdns: Array(self.rdns.dropFirst()))
    }

    /// `true` for the root DN.
    public var isEmpty: Bool { self.rdns.isEmpty }

    /// The DN of the entry named `rdn` directly below this one.
    public func child(_ rdn: RelativeDistinguishedName) -> DistinguishedName {
        DistinguishedName(rdns: [rdn] + self.rdns)
    }

    /// The DN of the entry `type=value` directly below this one, e.g. `uid=alice` under
    /// `ou=people,dc=example,dc=com`. `value` is taken literally (it is escaped on rendering).
    ///
    /// - Throws: ``DistinguishedNameError`` if `type` is not an attribute type or `value` is empty.
    public func child(type: String, value: String) throws -> DistinguishedName {
        self.child(try RelativeDistinguishedName(type: type, value: value))
    }

    /// `true` if this DN is strictly below `ancestor` (a DN is not its own descendant).
    /// Every non-root DN is a descendant of the root DN.
    public func isDescendant(of ancestor: DistinguishedName) -> Bool {
        self.rdns.count > ancestor.rdns.count && self.rdns.suffix(ancestor.rdns.count).elementsEqual(ancestor.rdns)
    }

    /// The same DN with lowercased attribute types and the pairs of each multi-valued RDN
    /// in a canonical order, so that its ``description`` can serve as a comparison key.
    public var normalizedForComparison: DistinguishedName {
        DistinguishedName(rdns: self.rdns.map(\.normalizedForComparison))
    }

}

/// One RDN: one or more attribute/value pairs joined by `+` (`cn=Alice+employeeNumber=7`).
///
/// Equality treats the pairs as a set and attribute types case-insensitively.
public struct RelativeDistinguishedName: Sendable, Hashable, CustomStringConvertible {
    /// The pairs in the order they were given or parsed; never empty.
    public let attributes: [AttributeTypeAndValue]

    /// A single-valued RDN such as `uid=alice`.
    ///
    /// - Throws: ``DistinguishedNameError`` if `type` is not a descriptor or numeric OID,
    ///   or `value` is empty.
    public init(type: String, value: String) throws {
        self.attributes = [try AttributeTypeAndValue(type: type, value: value)]
    }

    /// A multi-valued RDN (or a single-valued one, for one pair).
    ///
    /// - Throws: ``DistinguishedNameError`` if `attributes` is empty.
    public init(_ attributes: [AttributeTypeAndValue]) throws {
        guard !attributes.isEmpty else {
            throw DistinguishedNameError(input: "", reason: "an RDN needs at least one attribute/value pair")
        }
        self.attributes = attributes
    }

    /// For parsed input, which is known to be non-empty.
    init(validated attributes: [AttributeTypeAndValue]) {
        precondition(!attributes.isEmpty)
        self.attributes = attributes
    }

    /// The type of the first pair (the only one, for a single-valued RDN).
    public var type: String { self.attributes[0].type }

    /// The first pair's value as text, or `nil` if it is not UTF-8 or was given as `#hex`.
    public var value: String? { self.attributes[0].stringValue }

    /// `true` when the RDN has more than one pair.
    public var isMultiValued: Bool { self.attributes.count > 1 }

    /// Lowercased types, pairs in canonical order.
    public var normalizedForComparison: RelativeDistinguishedName {
        RelativeDistinguishedName(validated: self.canonicalPairs)
    }

    private var canonicalPairs: [AttributeTypeAndValue] {
        self.attributes.map(\.normalizedForComparison).sorted(by: AttributeTypeAndValue.canonicalOrder)
    }

    public static func == (lhs: RelativeDistinguishedName, rhs: RelativeDistinguishedName) -> Bool {
        if lhs.attributes.count == 1 && rhs.attributes.count == 1 {
            return lhs.attributes[0] == rhs.attributes[0]
        }
        return lhs.attributes.count == rhs.attributes.count && lhs.canonicalPairs == rhs.canonicalPairs
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.canonicalPairs)
    }

    public var description: String {
        var out: [UInt8] = []
        appendRendered(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func appendRendered(to out: inout [UInt8]) {
        for (index, pair) in attributes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "+")) }
            pair.appendRendered(to: &out)
        }
    }
}

/// One `type=value` pair of an RDN.
///
/// The value is bytes: RFC 4514 allows any octets through `\xx` escapes. A value written
/// as `#hex` is the BER encoding of the value; it is kept as those bytes with
/// ``isBEREncoded`` set and rendered back as `#hex`, exactly as libldap does.
public struct AttributeTypeAndValue: Sendable, Hashable, CustomStringConvertible {
    /// A descriptor (`cn`) or numeric OID (`2.5.4.3`), spelled as given.
    public let type: String
    /// The value's octets (for a `#hex` value, its BER encoding).
    public let value: [UInt8]
    /// `true` when ``value`` is a BER encoding (`#hex` form) rather than the string form.
    public let isBEREncoded: Bool

    /// A pair with a text value.
    public init(type: String, value: String) throws {
        try self.init(type: type, bytes: Array(value.utf8))
    }

    /// A pair with a string-form value given as octets (they need not be UTF-8; they are
    /// hex-escaped on rendering where they are not).
    public init(type: String, bytes: [UInt8]) throws {
        try self.init(type: type, value: bytes, isBEREncoded: false)
    }

    /// A pair whose value is given as its BER encoding, rendered as `type=#hex`.
    public init(type: String, berEncodedValue: [UInt8]) throws {
        try self.init(type: type, value: berEncodedValue, isBEREncoded: true)
    }

    private init(type: String, value: [UInt8], isBEREncoded: Bool) throws {
        guard LDAPAttributeName.isAttributeType(type.utf8) else {
            throw DistinguishedNameError(input: type, reason: "not an attribute type (descriptor or numeric OID)")
        }
        guard !value.isEmpty else {
            throw DistinguishedNameError(input: type, reason: "empty value for attribute type '\(type)'")
        }
        self.init(validatedType: type, value: value, isBEREncoded: isBEREncoded)
    }

    init(validatedType type: String, value: [UInt8], isBEREncoded: Bool) {
        self.type = type
        self.value = value
        self.isBEREncoded = isBEREncoded
    }

    /// The value as text, or `nil` if it is not valid UTF-8 or is BER-encoded.
    public var stringValue: String? {
        guard !self.isBEREncoded else { return nil }
        return String(validating: self.value, as: UTF8.self)
    }

    /// The same pair with its type lowercased.
    public var normalizedForComparison: AttributeTypeAndValue {
        AttributeTypeAndValue(validatedType: self.type.lowercased(), value: self.value, isBEREncoded: self.isBEREncoded)
    }

    public static func == (lhs: AttributeTypeAndValue, rhs: AttributeTypeAndValue) -> Bool {
        lhs.isBEREncoded == rhs.isBEREncoded && lhs.value == rhs.value
            && lhs.type.utf8.elementsEqual(rhs.type.utf8) {
                LDAPBytes.asciiLowercased($0) == LDAPBytes.asciiLowercased($1)
            }
    }

    public func hash(into hasher: inout Hasher) {
        for byte in self.type.utf8 { hasher.combine(LDAPBytes.asciiLowercased(byte)) }
        hasher.combine(self.isBEREncoded)
        hasher.combine(self.value)
    }

    static func canonicalOrder(_ lhs: AttributeTypeAndValue, _ rhs: AttributeTypeAndValue) -> Bool {
        if lhs.type != rhs.type { return lhs.type.utf8.lexicographicallyPrecedes(rhs.type.utf8) }
        if lhs.isBEREncoded != rhs.isBEREncoded { return !lhs.isBEREncoded }
        return lhs.value.lexicographicallyPrecedes(rhs.value)
    }

    /// `type=value` with RFC 4514 escaping: `\` before `" + , ; < > \ =`, a leading `#` or
    /// space and a trailing space; `\00` for NUL; `\xx` for other control characters and
    /// bytes that are not UTF-8. Other UTF-8 (e.g. Korean) stays as text.
    public var description: String {
        var out: [UInt8] = []
        appendRendered(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func appendRendered(to out: inout [UInt8]) {
        out.append(contentsOf: self.type.utf8)
        out.append(UInt8(ascii: "="))
        if self.isBEREncoded {
            out.append(UInt8(ascii: "#"))
            for byte in self.value { LDAPBytes.appendHex(byte, to: &out) }
        } else {
            Self.appendEscaped(self.value, to: &out)
        }
    }

    private static func appendEscaped(_ value: [UInt8], to out: inout [UInt8]) {
        var index = 0
        while index < value.count {
            let byte = value[index]
            let isFirst = index == 0
            let isLast = index == value.count - 1
            switch byte {
            case UInt8(ascii: " ") where isFirst || isLast, UInt8(ascii: "#") where isFirst:
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case UInt8(ascii: "\""), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
                UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\\"), UInt8(ascii: "="):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0x00..<0x20, 0x7F:
                out.append(UInt8(ascii: "\\"))
                LDAPBytes.appendHex(byte, to: &out)
            case 0x20..<0x7F:
                out.append(byte)
            default:
                if let length = LDAPUTF8.sequenceLength(in: value, at: index) {
                    out.append(contentsOf: value[index..<index + length])
                    index += length
                    continue
                }
                out.append(UInt8(ascii: "\\"))
                LDAPBytes.appendHex(byte, to: &out)
            }
            index += 1
        }
    }
}

/// A DN string (or DN component) that could not be parsed or built.
public struct DistinguishedNameError: Error, CustomStringConvertible {
    /// The offending input: the whole DN string, or the attribute type being built.
    public var input: String
    /// What is wrong, for humans.
    public var reason: String

    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    public var description: String {
        "invalid distinguished name \"\(self.input)\": \(self.reason)"
    }
}

// MARK: - Parsing

/// A single-pass RFC 4514 parser over the UTF-8 bytes of the input.
private struct DNParser {
    let input: String
    let bytes: [UInt8]
    var index = 0

    init(input: String) {
        self.input = input
        self.bytes = Array(input.utf8)
    }

    mutating func parseDN() throws -> [RelativeDistinguishedName] {
        guard !self.bytes.isEmpty else { return [] }
        var rdns: [RelativeDistinguishedName] = []
        var pairs: [AttributeTypeAndValue] = []
        while true {
            pairs.append(try self.parsePair())
            guard let separator = self.peek() else {
                rdns.append(RelativeDistinguishedName(validated: pairs))
                return rdns
            }
            self.index += 1
            switch separator {
            case UInt8(ascii: "+"):
                continue
            case UInt8(ascii: ","):
                rdns.append(RelativeDistinguishedName(validated: pairs))
                pairs = []
            case UInt8(ascii: ";"):
                throw self.error("';' as RDN separator is not allowed (use ',')", at: self.index - 1)
            default:
                throw self.error("unexpected '\(Character(Unicode.Scalar(separator)))'", at: self.index - 1)
            }
        }
    }

    private mutating func parsePair() throws -> AttributeTypeAndValue {
        self.skipSpaces()
        let type = try self.parseType()
        self.skipSpaces()
        guard self.peek() == UInt8(ascii: "=") else {
            throw self.error("expected '=' after attribute type '\(type)'", at: self.index)
        }
        self.index += 1
        self.skipSpaces()
        if self.peek() == UInt8(ascii: "#") {
            let value = try self.parseHexString()
            self.skipSpaces()
            return AttributeTypeAndValue(validatedType: type, value: value, isBEREncoded: true)
        }
        let value = try self.parseStringValue()
        guard !value.isEmpty else {
            throw self.error("empty value for attribute type '\(type)'", at: self.index)
        }
        return AttributeTypeAndValue(validatedType: type, value: value, isBEREncoded: false)
    }

    private mutating func parseType() throws -> String {
        let start = self.index
        while let byte = self.peek(), LDAPAttributeName.isTypeCharacter(byte) { self.index += 1 }
        let type = self.bytes[start..<self.index]
        guard !type.isEmpty else {
            throw self.error("expected an attribute type", at: start)
        }
        guard LDAPAttributeName.isAttributeType(type) else {
            throw self.error("'\(String(decoding: type, as: UTF8.self))' is not a descriptor or numeric OID", at: start)
        }
        return String(decoding: type, as: UTF8.self)
    }

    /// `#` followed by one or more hex pairs.
    private mutating func parseHexString() throws -> [UInt8] {
        let start = self.index
        self.index += 1
        var value: [UInt8] = []
        while let byte = self.peek(), byte != UInt8(ascii: ","), byte != UInt8(ascii: "+"), byte != UInt8(ascii: " ") {
            guard let high = LDAPBytes.hexValue(byte), self.index + 1 < self.bytes.count,
                let low = LDAPBytes.hexValue(self.bytes[self.index + 1])
            else {
                throw self.error("bad hex string value (needs pairs of hex digits after '#')", at: start)
            }
            value.append(high << 4 | low)
            self.index += 2
        }
        guard !value.isEmpty else {
            throw self.error("empty hex string value", at: start)
        }
        return value
    }

    /// Reads up to an unescaped `,` or `+` or the end, dropping unescaped trailing spaces.
    private mutating func parseStringValue() throws -> [UInt8] {
        var value: [UInt8] = []
        var significantCount = 0  // length without unescaped trailing spaces
        while let byte = self.peek() {
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: "+"), UInt8(ascii: ";"):
                return Array(value.prefix(significantCount))
            case UInt8(ascii: "\\"):
                value.append(try self.parseEscape())
                significantCount = value.count
            case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"):
                throw self.error("'\(Character(Unicode.Scalar(byte)))' must be escaped in a value", at: self.index)
            case 0x00:
                throw self.error("NUL must be escaped as \\00", at: self.index)
            case UInt8(ascii: " "):
                value.append(byte)
                self.index += 1
            default:
                value.append(byte)
                significantCount = value.count
                self.index += 1
            }
        }
        return Array(value.prefix(significantCount))
    }

    /// `\` followed by a special character or two hex digits.
    private mutating func parseEscape() throws -> UInt8 {
        let start = self.index
        self.index += 1
        guard let next = self.peek() else {
            throw self.error("trailing backslash", at: start)
        }
        if let high = LDAPBytes.hexValue(next) {
            guard self.index + 1 < self.bytes.count, let low = LDAPBytes.hexValue(self.bytes[self.index + 1]) else {
                throw self.error("'\\' must be followed by two hex digits or a special character", at: start)
            }
            self.index += 2
            return high << 4 | low
        }
        switch next {
        case UInt8(ascii: " "), UInt8(ascii: "\""), UInt8(ascii: "#"), UInt8(ascii: "+"), UInt8(ascii: ","),
            UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: "="), UInt8(ascii: ">"), UInt8(ascii: "\\"):
            self.index += 1
            return next
        default:
            throw self.error("'\\' must be followed by two hex digits or a special character", at: start)
        }
    }

    private func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    private mutating func skipSpaces() {
        while self.peek() == UInt8(ascii: " ") { self.index += 1 }
    }

    private func error(_ reason: String, at offset: Int) -> DistinguishedNameError {
        DistinguishedNameError(input: self.input, reason: "\(reason) (at byte \(offset))")
    }
}

// MARK: - Shared helpers (also used by LDAPFilter)

/// RFC 4512 names: `descr` (`keystring`) and `numericoid`.
enum LDAPAttributeName {
    /// Characters that can appear in a descriptor or numeric OID.
    static func isTypeCharacter(_ byte: UInt8) -> Bool {
        isAlpha(byte) || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// `descr / numericoid`, as allowed for an RDN attribute type or a matching rule.
    static func isAttributeType<C: Collection<UInt8>>(_ name: C) -> Bool {
        guard let first = name.first else { return false }
        if isAlpha(first) {
            return isKeychars(name.dropFirst())
        }
        return isNumericOID(name)
    }

    /// `attributetype options`: `cn`, `2.5.4.3`, `userCertificate;binary`, `cn;lang-ko`.
    static func isAttributeDescription<C: Collection<UInt8>>(_ name: C) -> Bool {
        // Walked in place rather than split: filters built per request validate their names.
        let semicolon = UInt8(ascii: ";")
        let typeEnd = name.firstIndex(of: semicolon) ?? name.endIndex
        guard isAttributeType(name[name.startIndex..<typeEnd]) else { return false }
        var optionStart = typeEnd
        while optionStart != name.endIndex {
            let start = name.index(after: optionStart)
            let end = name[start...].firstIndex(of: semicolon) ?? name.endIndex
            guard start != end, isKeychars(name[start..<end]) else { return false }
            optionStart = end
        }
        return true
    }

    private static func isKeychars<C: Collection<UInt8>>(_ chars: C) -> Bool {
        chars.allSatisfy { isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") }
    }

    /// `number 1*( DOT number )`, numbers without leading zeros.
    private static func isNumericOID<C: Collection<UInt8>>(_ name: C) -> Bool {
        let numbers = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard numbers.count >= 2 else { return false }
        return numbers.allSatisfy { number in
            guard let first = number.first, number.allSatisfy(isDigit) else { return false }
            return first != UInt8(ascii: "0") || number.count == 1
        }
    }

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// Finds well-formed UTF-8 sequences (RFC 3629: no overlongs, no surrogates, at most
/// U+10FFFF), so escaping can keep text readable and hex-escape only stray bytes.
enum LDAPUTF8 {
    /// The length of the well-formed multi-byte sequence starting at `index`, or `nil`.
    static func sequenceLength(in bytes: [UInt8], at index: Int) -> Int? {
        let lead = bytes[index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            secondRange = 0x80...0x9F
        case 0xF0:
            length = 4
            secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            secondRange = 0x80...0x8F
        default: return nil
        }
        guard index + length <= bytes.count, secondRange.contains(bytes[index + 1]) else { return nil }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) {
            return nil
        }
        return length
    }
}

/// Byte helpers shared by the DN and filter code.
enum LDAPBytes {
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Appends `byte` as two lowercase hex digits.
    static func appendHex(_ byte: UInt8, to out: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { digits in
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
    }
}
