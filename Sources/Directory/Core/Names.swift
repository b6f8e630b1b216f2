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
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
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

/// Names that become RDN values (`o`, `ou`, `uid`, `cn` of groups).
///
/// The unit-scope ACLs are `dn.regex` rules that split the normalised DN on `,`, so an escaped
/// comma (or `+`, quotes, `\`, `<>;=`) inside a value would shift the depth they compute;
/// such characters are refused here rather than escaped. `/` separates unit paths.
public enum EntryName {
    public static let forbidden: Set<Character> = [",", "+", "\"", "\\", "<", ">", ";", "=", "/", "#"]

    public static func validate(_ text: String, what: String) throws -> String {
        let name = trimmingBlanks(text)
        guard !name.isEmpty else { throw DirectoryError(.invalidArgument, "\(what) must not be empty") }
        guard name.count <= 64 else { throw DirectoryError(.invalidArgument, "\(what) \"\(name)\" is longer than 64 characters") }
        if let bad = name.first(where: { forbidden.contains($0) || $0.isNewline || $0.unicodeScalars.contains { $0.value < 0x20 } }) {
            throw DirectoryError(.invalidArgument, "\(what) \"\(name)\" must not contain \"\(bad)\"")
        }
        return name
    }

    /// `text` without leading and trailing blanks (space separators and tabs, as Foundation's
    /// `.whitespaces`), in plain Swift: Foundation's trimming bridges through NSString on Linux.
    static func trimmingBlanks(_ text: String) -> String {
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isBlank($0) }), let last = scalars.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(scalars[first...last])
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
        guard let amount = Int(number.trimmingCharacters(in: .whitespaces)), amount >= 0,
              amount <= Int.max / multiplier
        else { throw DirectoryError(.invalidArgument, "quota \"\(text)\" is not a size such as 500M or 10G") }
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
