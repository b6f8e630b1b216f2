import Foundation

/// A mail address as gwdir stores it: lower-cased, `local@domain`.
///
/// Stricter than RFC 5321 on purpose: the local part allows letters, digits and `.` `_` `-`
/// only. `+` is refused because Postfix's recipient delimiter routes `owner+folder@domain` to
/// an alias's folder; quoting, comments and IP literals have no place in a hosted directory.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let localPart: String
    public let domain: String

    public init(_ text: String) throws {
        let trimmed = AuditRecords.lowercased(text.trimmingBlanks())
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw Self.invalid(text, "it needs exactly one @") }
        let local = String(parts[0]), domain = String(parts[1])
        guard !local.isEmpty, local.count <= 64 else { throw Self.invalid(text, "the part before @ is empty or too long") }
        guard local.unicodeScalars.allSatisfy(Self.isLocalScalar), !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..")
        else { throw Self.invalid(text, "use letters, digits, '.', '_' or '-' before the @") }
        guard MailDomain.isValid(domain) else { throw Self.invalid(text, "\"\(domain)\" is not a domain name") }
        self.localPart = local
        self.domain = domain
    }

    public var description: String { "\(localPart)@\(domain)" }

    public static func < (lhs: MailAddress, rhs: MailAddress) -> Bool { lhs.description < rhs.description }

    private static func isLocalScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }

    private static func invalid(_ text: String, _ why: String) -> DirectoryError {
        DirectoryError(.invalidArgument, "\"\(text)\" is not a valid mail address: \(why)")
    }
}

/// Domain names of workspaces (`gwMailDomain`): lower-case LDH labels, at least two.
public enum MailDomain {
    public static func isValid(_ domain: String) -> Bool {
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, domain.count <= 253 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        }
    }

    public static func normalize(_ text: String) throws -> String {
        let domain = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard isValid(domain) else { throw DirectoryError(.invalidArgument, "\"\(text)\" is not a valid domain name") }
        return domain
    }
}

/// What every name an admin types must satisfy, whatever it becomes (spec §3, security issue 11).
///
/// - **Invalid UTF-8.** Arguments reach gwdir already decoded: Swift's `CommandLine.arguments`
///   repairs invalid bytes to U+FFFD (REPLACEMENT CHARACTER), and `LDAPEntry.strings` and file
///   reads decode the same way. So refusing U+FFFD refuses every name that was not valid UTF-8,
///   and reading the raw argv bytes (`CommandLine.unsafeArgv`) is not needed: no real name
///   contains U+FFFD, so refusing the literal character as well costs nothing.
/// - **Invisible or layout-changing scalars**: C0 and C1 controls and DEL (general category Cc:
///   terminal escapes, NUL, newlines that would split LDIF and log lines), line and paragraph
///   separators, the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069: a name
///   that displays as another one), the byte-order mark and noncharacters.
/// - **Blank edges** (spaces, tabs, U+3000) are trimmed; a value that is blank only is empty.
/// - **Lengths** count Unicode scalars, not grapheme clusters: "a" followed by 10,000 combining
///   marks is one `Character` but 10,001 scalars. Limits, chosen for what the values are:
///   - ``rdnLimit`` 64 — RDN names (workspace id, unit name, login id, group name): the same as
///     an address's local part (RFC 5321), which login ids and group names sit next to; a unit
///     path nests these, so the DNs slapd indexes and the unit-scope ACLs match stay short.
///   - ``nameLimit`` 128 — display names, first and last names: twice the X.520 common-name bound
///     (64), room for long compound and transliterated names, still one line in a table.
public enum NameText {
    public static let rdnLimit = 64
    public static let nameLimit = 128

    /// `text` trimmed of blanks, or an `invalidArgument` error naming `what`.
    /// - Parameter required: an empty (or blank-only) value is refused; otherwise it is returned as "".
    public static func validate(_ text: String, what: String, limit: Int = nameLimit, required: Bool = true) throws -> String {
        let value = EntryName.trimmingBlanks(text)
        if value.isEmpty {
            if required { throw DirectoryError(.invalidArgument, "\(what) must not be empty") }
            return value
        }
        let length = value.unicodeScalars.count
        guard length <= limit else {
            throw DirectoryError(.invalidArgument, "\(what) is \(length) characters long; at most \(limit) are allowed")
        }
        if let bad = value.unicodeScalars.first(where: isUnsafe) {
            if bad == "\u{FFFD}" {
                throw DirectoryError(.invalidArgument, "\(what) contains U+FFFD: the text was not valid UTF-8 (or holds the replacement character)")
            }
            throw DirectoryError(.invalidArgument, "\(what) must not contain the control or invisible character \(codePoint(bad))")
        }
        return value
    }

    /// An optional value: nil stays nil, anything given must be a valid, non-empty value.
    public static func validate(_ text: String?, what: String, limit: Int = nameLimit) throws -> String? {
        try text.map { try validate($0, what: what, limit: limit) }
    }

    /// The scalars no name may hold (see the type's documentation).
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0xFFFD, 0xFEFF, 0x202A...0x202E, 0x2066...0x2069: return true
        default: break
        }
        if scalar.properties.isNoncharacterCodePoint { return true }
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator, .surrogate: return true
        default: return false
        }
    }

    /// `U+0007`: how an error shows a character it must not print.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

/// Names that become RDN values (`o`, `ou`, `uid`, `cn` of groups).
///
/// The unit-scope ACLs are `dn.regex` rules that split the normalised DN on `,`, so an escaped
/// comma (or `+`, quotes, `\`, `<>;=`) inside a value would shift the depth they compute;
/// such characters are refused here rather than escaped. `/` separates unit paths, and `.` and
/// `..` are refused (spec §3) because unit paths and anything that maps names onto paths
/// (exports, mail stores) read them as "this" and "the parent". On top of that, every rule of
/// ``NameText`` with the ``NameText/rdnLimit`` of 64.
public enum EntryName {
    public static let forbidden: Set<Character> = [",", "+", "\"", "\\", "<", ">", ";", "=", "/", "#"]

    public static func validate(_ text: String, what: String) throws -> String {
        let name = try NameText.validate(text, what: what, limit: NameText.rdnLimit)
        guard name != ".", name != ".." else { throw DirectoryError(.invalidArgument, "\(what) must not be \"\(name)\"") }
        if let bad = name.first(where: { forbidden.contains($0) }) {
            throw DirectoryError(.invalidArgument, "\(what) \"\(name)\" must not contain \"\(bad)\"")
        }
        return name
    }

    /// `text` without leading and trailing blanks (space separators and tabs, as Foundation's
    /// `.whitespaces`), in plain Swift: Foundation's trimming bridges through NSString on Linux.
    static func trimmingBlanks(_ text: String) -> String {
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator }
        let scalars = text.unicodeScalars
        // Nothing to trim (the usual case): the string itself, no copy.
        if let first = scalars.first, let last = scalars.last, !isBlank(first), !isBlank(last) { return text }
        guard let first = scalars.firstIndex(where: { !isBlank($0) }), let last = scalars.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(scalars[first...last])
    }
}

/// The mailbox folder a sub-account alias files into (`gwAliasFolder`).
///
/// Spec §4: any folder name an admin can type works, Korean included. The folder never travels
/// in an address: Postfix keeps the alias itself as the LMTP recipient (``deliveryAddress``),
/// Dovecot's LMTP userdb maps it to the owner and this folder, and a global Sieve script files
/// the message (`docker/dovecot`, README "Alias folders"), on Maildir with `LAYOUT=fs`. So
/// letters, marks and digits of every script are allowed, with `.`, `_`, `-` and single inner
/// spaces (`Sales Team`, `first.last`, `영업부`). Refused is what would break the mail store or
/// an IMAP client: `/` (the hierarchy separator), a leading or trailing `.` and `..` (hidden
/// and parent directories), other punctuation (`*` and `%` are IMAP wildcards, `&` starts
/// modified UTF-7), double or edge blanks (edges are trimmed), everything ``NameText`` refuses
/// (U+FFFD, controls), and more than 64 characters.
public enum FolderName {
    public static let limit = 64

    public static func validate(_ text: String) throws -> String {
        let folder = try NameText.validate(text, what: "folder", limit: limit)
        guard !folder.hasPrefix("."), !folder.hasSuffix("."), !folder.contains("..") else {
            throw DirectoryError(.invalidArgument, "folder \"\(folder)\" must not start or end with '.' or contain '..'")
        }
        guard folder.unicodeScalars.allSatisfy(isAllowed), !folder.contains("  ") else {
            throw DirectoryError(.invalidArgument, "folder \"\(folder)\" must be letters (Korean included), digits, '.', '_', '-' or single spaces")
        }
        return folder
    }

    /// `gwDeliverTo`, the address Postfix's virtual_alias_maps rewrites the alias to: the alias
    /// address itself, so it stays the LMTP recipient and Dovecot files it by `gwAliasFolder`.
    /// (Before issue 12 this was `owner+folder@domain`, which Dovecot 2.3's LMTP refuses for a
    /// UTF-8 folder and Maildir++ refuses for a folder with `.`.)
    public static func deliveryAddress(alias: MailAddress) -> String {
        alias.description
    }

    private static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "." || scalar == "_" || scalar == "-" || scalar == " " { return true }
        let properties = scalar.properties
        return properties.isAlphabetic || properties.numericType != nil || properties.generalCategory == .nonspacingMark
            || properties.generalCategory == .spacingMark
    }
}

/// Whole numbers given to options such as `--limit` and `--days`: refused with one clear line
/// when they are not numbers, zero or negative (unless `range` allows them) or out of range,
/// including values too large for `Int`.
public enum CountArgument {
    public static func parse(_ text: String, option: String, range: ClosedRange<Int>) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.hasPrefix("-") || trimmed.hasPrefix("+") ? trimmed.dropFirst() : Substring(trimmed)
        guard !digits.isEmpty, digits.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw DirectoryError(.invalidArgument, "\(option) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
        }
        if trimmed.hasPrefix("-"), digits.contains(where: { $0 != "0" }), range.lowerBound >= 0 {
            throw DirectoryError(.invalidArgument, "\(option) must not be negative (at least \(range.lowerBound))")
        }
        guard let value = Int(trimmed), range.contains(value) else {
            throw DirectoryError(.invalidArgument, "\(option) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \(text)")
        }
        return value
    }
}

/// A unit named by its path from the workspace: `sales/east`.
public struct UnitPath: Sendable, Hashable, CustomStringConvertible {
    /// Outermost first.
    public let components: [String]

    public init(_ text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !parts.isEmpty else { throw DirectoryError(.invalidArgument, "unit path \"\(text)\" is empty (use e.g. sales/east)") }
        components = try parts.map { try EntryName.validate($0, what: "unit name") }
    }

    public init(components: [String]) { self.components = components }

    public var name: String { components.last ?? "" }
    public var parent: UnitPath? { components.count > 1 ? UnitPath(components: Array(components.dropLast())) : nil }
    public func appending(_ name: String) -> UnitPath { UnitPath(components: components + [name]) }
    public var description: String { components.joined(separator: "/") }
}

/// Mail quotas as admins type them: `500M`, `10G`, `1073741824`.
public enum Quota {
    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Int)] = [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10),
                                      ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        var number = Substring(trimmed), multiplier = 1
        for (suffix, value) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            multiplier = value
            break
        }
        let digits = number.trimmingCharacters(in: .whitespaces)
        let isDigit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        let magnitude = digits.dropFirst().trimmingCharacters(in: .whitespaces)
        if digits.hasPrefix("-"), !magnitude.isEmpty, magnitude.unicodeScalars.allSatisfy(isDigit) {
            throw DirectoryError(.invalidArgument, "quota must not be negative (\"\(text)\"); 0 means no limit")
        }
        guard !digits.isEmpty, digits.unicodeScalars.allSatisfy(isDigit) else {
            throw DirectoryError(.invalidArgument, "quota \"\(text)\" is not a size such as 500M or 10G")
        }
        guard let amount = Int(digits), amount <= Int.max / multiplier else {
            throw DirectoryError(.invalidArgument, "quota \"\(text)\" is too large")
        }
        return amount * multiplier
    }

    /// `10G`, `512M`, `1.5G`, `0`.
    public static func format(_ bytes: Int) -> String {
        for (suffix, value) in [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where bytes >= value {
            if bytes % value == 0 { return "\(bytes / value)\(suffix)" }
            return String(format: "%.1f%@", Double(bytes) / Double(value), suffix)
        }
        return "\(bytes)"
    }
}

/// LDAP GeneralizedTime in UTC, `20261129213000Z`, as gwdir writes it (whole seconds).
public enum GeneralizedTime {
    public static func format(_ date: Date) -> String {
        // Plain arithmetic (H. Hinnant's days-to-civil): the audit log formats several times per
        // login, and Calendar plus String(format:) cost more than the LDAP write around them.
        let total = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = total >= 0 ? total / 86_400 : (total - 86_399) / 86_400
        let secondOfDay = total - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (0...9999).contains(year) else {
            return "\(year)" + [month, day, secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60]
                .map { $0 < 10 ? "0\($0)" : "\($0)" }.joined() + "Z"
        }
        // Fifteen bytes fit in a small string: no allocation at all.
        return String(unsafeUninitializedCapacity: 15) { bytes in
            func put(_ value: Int64, at end: Int, digits: Int) {
                var rest = value
                for index in stride(from: end, to: end - digits, by: -1) {
                    bytes[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            put(year, at: 3, digits: 4)
            put(month, at: 5, digits: 2)
            put(day, at: 7, digits: 2)
            put(secondOfDay / 3600, at: 9, digits: 2)
            put(secondOfDay % 3600 / 60, at: 11, digits: 2)
            put(secondOfDay % 60, at: 13, digits: 2)
            bytes[14] = UInt8(ascii: "Z")
            return 15
        }
    }

    /// Accepts `YYYYMMDDHHMMSS[.fff]Z` (what slapd returns for our attributes and authTimestamp).
    public static func parse(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count >= 15, digits.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: digits[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
              let hour = number(8..<10), let minute = number(10..<12), let second = number(12..<14)
        else { return nil }
        var fraction = 0.0
        if digits[14] == UInt8(ascii: "."), digits.count > 16 {
            fraction = Double("0" + String(decoding: digits[14..<(digits.count - 1)], as: UTF8.self)) ?? 0
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return calendar.date(from: components).map { $0.addingTimeInterval(fraction) }
    }
}

// MARK: - The names of the admin services' requests

extension NewAccount {
    /// The account's names checked (``NameText``): both names are required (spec §7 gives
    /// `user add` both `--first-name` and `--last-name`; `sn` is mandatory in inetOrgPerson), the
    /// display name is optional but never empty when given. The login id is the service's
    /// ``EntryName`` check.
    public func validated() throws -> NewAccount {
        var new = self
        new.firstName = try NameText.validate(firstName, what: "first name")
        new.lastName = try NameText.validate(lastName, what: "last name")
        new.displayName = try NameText.validate(displayName, what: "display name")
        return new
    }
}

extension AccountService.Changes {
    /// Names given to `user edit` must be valid and non-empty: a name can be changed, not cleared.
    public func validated() throws -> Self {
        var changes = self
        changes.firstName = try NameText.validate(firstName, what: "first name")
        changes.lastName = try NameText.validate(lastName, what: "last name")
        changes.displayName = try NameText.validate(displayName, what: "display name")
        return changes
    }
}

extension WorkspaceService.Changes {
    public func validated() throws -> Self {
        var changes = self
        changes.displayName = try NameText.validate(displayName, what: "workspace name")
        return changes
    }
}

extension String {
    /// Without leading and trailing blanks (``EntryName/trimmingBlanks(_:)``): for the login
    /// paths (every policy request, every address), where Foundation's trimming cost more than
    /// the rest of the parsing.
    public func trimmingBlanks() -> String { EntryName.trimmingBlanks(self) }
}
