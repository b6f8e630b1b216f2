/// A search filter (RFC 4515), built as a value and rendered with escaping by
/// ``description`` — the string handed to `ldap_search_ext`.
///
/// Assertion values are bytes; the `String` factories (`.equal("uid", name)`) take text.
/// Attribute names are ``AttributeDescription``s, validated when they are created, so
/// a rendered filter is always well-formed.
///
/// `.and([])` renders `(&)` and `.or([])` renders `(|)`: the absolute true and false
/// filters of RFC 4526 (OpenLDAP supports them). A substring filter with no non-empty
/// component renders as a presence filter, `(attr=*)`, which is what it would match.
public indirect enum LDAPFilter: Sendable, Hashable, CustomStringConvertible {
    case and([LDAPFilter])
    case or([LDAPFilter])
    case not(LDAPFilter)
    case equal(AttributeDescription, [UInt8])
    case greaterOrEqual(AttributeDescription, [UInt8])
    case lessOrEqual(AttributeDescription, [UInt8])
    case approximate(AttributeDescription, [UInt8])
    case present(AttributeDescription)
    /// `initial*any*…*final`; empty components are left out.
    case substring(AttributeDescription, initial: [UInt8]?, any: [[UInt8]], final: [UInt8]?)
    /// `attr:dn:rule:=value`. At least one of `attribute` and `matchingRule` must be set
    /// (RFC 4515); libldap rejects the filter otherwise.
    case extensible(attribute: AttributeDescription?, matchingRule: MatchingRule?, dnAttributes: Bool, value: [UInt8])

    // MARK: Text factories

    public static func equal(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .equal(attribute, Array(value.utf8))
    }

    public static func greaterOrEqual(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .greaterOrEqual(attribute, Array(value.utf8))
    }

    public static func lessOrEqual(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .lessOrEqual(attribute, Array(value.utf8))
    }

    public static func approximate(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .approximate(attribute, Array(value.utf8))
    }

    public static func substring(
        _ attribute: AttributeDescription,
        initial: String? = nil,
        any: [String] = [],
        final: String? = nil
    ) -> LDAPFilter {
        .substring(
            attribute,
            initial: initial.map { Array($0.utf8) },
            any: any.map { Array($0.utf8) },
            final: final.map { Array($0.utf8) }
        )
    }

    public static func extensible(
        attribute: AttributeDescription?,
        matchingRule: MatchingRule? = nil,
        dnAttributes: Bool = false,
        value: String
    ) -> LDAPFilter {
        .extensible(
            attribute: attribute,
            matchingRule: matchingRule,
            dnAttributes: dnAttributes,
            value: Array(value.utf8)
        )
    }

    /// `(attr=value*)`: values starting with `value`.
    public static func prefix(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .substring(attribute, initial: Array(value.utf8), any: [], final: nil)
    }

    /// `(attr=*value)`: values ending with `value`.
    public static func suffix(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .substring(attribute, initial: nil, any: [], final: Array(value.utf8))
    }

    /// `(attr=*value*)`: values containing `value`.
    public static func contains(_ attribute: AttributeDescription, _ value: String) -> LDAPFilter {
        .substring(attribute, initial: nil, any: [Array(value.utf8)], final: nil)
    }

    /// `(&)`, which matches every entry (RFC 4526).
    public static let absoluteTrue = LDAPFilter.and([])

    /// `(|)`, which matches no entry (RFC 4526).
    public static let absoluteFalse = LDAPFilter.or([])

    // MARK: Rendering

    /// The RFC 4515 string form.
    public var description: String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        self.render(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func render(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "("))
        switch self {
        case .and(let filters):
            out.append(UInt8(ascii: "&"))
            for filter in filters { filter.render(into: &out) }
        case .or(let filters):
            out.append(UInt8(ascii: "|"))
            for filter in filters { filter.render(into: &out) }
        case .not(let filter):
            out.append(UInt8(ascii: "!"))
            filter.render(into: &out)
        case .equal(let attribute, let value):
            Self.renderItem(attribute, "=", value, into: &out)
        case .greaterOrEqual(let attribute, let value):
            Self.renderItem(attribute, ">=", value, into: &out)
        case .lessOrEqual(let attribute, let value):
            Self.renderItem(attribute, "<=", value, into: &out)
        case .approximate(let attribute, let value):
            Self.renderItem(attribute, "~=", value, into: &out)
        case .present(let attribute):
            out.append(contentsOf: attribute.name.utf8)
            out.append(contentsOf: "=*".utf8)
        case .substring(let attribute, let initial, let any, let final):
            out.append(contentsOf: attribute.name.utf8)
            out.append(UInt8(ascii: "="))
            if let initial { Self.appendEscaped(initial, to: &out) }
            out.append(UInt8(ascii: "*"))
            for part in any where !part.isEmpty {
                Self.appendEscaped(part, to: &out)
                out.append(UInt8(ascii: "*"))
            }
            if let final { Self.appendEscaped(final, to: &out) }
        case .extensible(let attribute, let matchingRule, let dnAttributes, let value):
            if let attribute { out.append(contentsOf: attribute.name.utf8) }
            if dnAttributes { out.append(contentsOf: ":dn".utf8) }
            if let matchingRule {
                out.append(UInt8(ascii: ":"))
                out.append(contentsOf: matchingRule.name.utf8)
            }
            out.append(contentsOf: ":=".utf8)
            Self.appendEscaped(value, to: &out)
        }
        out.append(UInt8(ascii: ")"))
    }

    private static func renderItem(
        _ attribute: AttributeDescription,
        _ op: String,
        _ value: [UInt8],
        into out: inout [UInt8]
    ) {
        out.append(contentsOf: attribute.name.utf8)
        out.append(contentsOf: op.utf8)
        Self.appendEscaped(value, to: &out)
    }

    /// RFC 4515 `valueencoding`: `*`, `(`, `)`, `\` and NUL as `\2a \28 \29 \5c \00`, bytes
    /// that are not part of well-formed UTF-8 as `\xx`; other UTF-8 passes through.
    static func appendEscaped(_ value: [UInt8], to out: inout [UInt8]) {
        var index = 0
        while index < value.count {
            let byte = value[index]
            switch byte {
            case 0x00, UInt8(ascii: "*"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                LDAPBytes.appendHex(byte, to: &out)
            case 0x01..<0x80:
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

extension LDAPFilter {
    /// An attribute description in a filter: a descriptor or numeric OID with optional
    /// `;options` (`cn`, `2.5.4.3`, `cn;lang-ko`, `userCertificate;binary`).
    ///
    /// Names from runtime data go through the throwing ``init(_:)``. String literals are
    /// accepted for the common case of names written in code; an invalid literal is a
    /// programmer error and stops the program (like an out-of-range array index). Note that
    /// `AttributeDescription("cn")` with a literal argument is also a literal (SE-0213).
    ///
    /// Equality ignores ASCII case, as attribute descriptions do in LDAP.
    public struct AttributeDescription: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The name as given.
        public let name: String

        /// - Throws: ``LDAPFilterError`` if `name` is not an attribute description.
        public init(_ name: String) throws {
            guard LDAPAttributeName.isAttributeDescription(name.utf8) else {
                throw LDAPFilterError(
                    input: name,
                    reason: "not an attribute description (descriptor or numeric OID, optional ;options)"
                )
            }
            self.name = name
        }

        public init(stringLiteral name: String) {
            precondition(
                LDAPAttributeName.isAttributeDescription(name.utf8),
                "invalid attribute description literal \"\(name)\""
            )
            self.name = name
        }

        public var description: String { self.name }

        public static func == (lhs: AttributeDescription, rhs: AttributeDescription) -> Bool {
            lhs.name.utf8.elementsEqual(rhs.name.utf8) {
                LDAPBytes.asciiLowercased($0) == LDAPBytes.asciiLowercased($1)
            }
        }

        public func hash(into hasher: inout Hasher) {
            for byte in self.name.utf8 { hasher.combine(LDAPBytes.asciiLowercased(byte)) }
        }
    }

    /// A matching rule in an extensible filter: a descriptor or numeric OID
    /// (`caseExactMatch`, `2.5.13.5`). Validated like ``AttributeDescription``.
    public struct MatchingRule: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The name as given.
        public let name: String

        /// - Throws: ``LDAPFilterError`` if `name` is not a descriptor or numeric OID.
        public init(_ name: String) throws {
            guard LDAPAttributeName.isAttributeType(name.utf8) else {
                throw LDAPFilterError(input: name, reason: "not a matching rule (descriptor or numeric OID)")
            }
            self.name = name
        }

        public init(stringLiteral name: String) {
            precondition(LDAPAttributeName.isAttributeType(name.utf8), "invalid matching rule literal \"\(name)\"")
            self.name = name
        }

        public var description: String { self.name }

        public static func == (lhs: MatchingRule, rhs: MatchingRule) -> Bool {
            lhs.name.utf8.elementsEqual(rhs.name.utf8) {
                LDAPBytes.asciiLowercased($0) == LDAPBytes.asciiLowercased($1)
            }
        }

        public func hash(into hasher: inout Hasher) {
            for byte in self.name.utf8 { hasher.combine(LDAPBytes.asciiLowercased(byte)) }
        }
    }
}

/// An attribute or matching-rule name that cannot be used in a filter.
public struct LDAPFilterError: Error, CustomStringConvertible {
    /// The rejected name.
    public var input: String
    /// What is wrong, for humans.
    public var reason: String

    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    public var description: String {
        "invalid filter component \"\(self.input)\": \(self.reason)"
    }
}
