/// An IPv4 address as its 32-bit value.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Dotted-quad text: four decimal octets 0–255. Leading zeros are refused because
    /// `010.0.0.1` is octal (8.0.0.1) to `inet_aton` and decimal to others; accepting it would
    /// let an allow-list entry mean something other than what the admin read.
    public init?(_ text: some StringProtocol) {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return nil }
            let octet = part.reduce(0) { $0 * 10 + UInt32($1 - 0x30) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        self.value = value
    }

    /// Dotted quad, at most 15 bytes: written in place into a small string (the audit log
    /// renders one or two per login; interpolation costs several times more).
    public var description: String {
        String(unsafeUninitializedCapacity: 15) { bytes in
            var count = 0
            for shift in stride(from: UInt32(24), through: 0, by: -8) {
                let octet = Int(value >> shift & 0xFF)
                if shift != 24 {
                    bytes[count] = UInt8(ascii: ".")
                    count += 1
                }
                if octet >= 100 {
                    bytes[count] = UInt8(ascii: "0") + UInt8(octet / 100)
                    count += 1
                }
                if octet >= 10 {
                    bytes[count] = UInt8(ascii: "0") + UInt8(octet / 10 % 10)
                    count += 1
                }
                bytes[count] = UInt8(ascii: "0") + UInt8(octet % 10)
                count += 1
            }
            return count
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }
}

/// An IPv6 address as two 64-bit halves (network byte order: `high` holds groups 1–4).
public struct IPv6Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The eight 16-bit groups, first to last.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has eight groups")
        high = groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    public var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * $0)) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * $0)) }
    }

    /// RFC 4291 §2.2 text: 1–4 hex digits per group, at most one `::`, optionally a dotted
    /// quad as the last 32 bits. Zone identifiers (`%eth0`) are refused: a client address
    /// with a zone is link-local and means nothing in an allow-list.
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        guard !text.isEmpty, !text.contains("%") else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        let pieces = Self.splitAtDoubleColons(text)
        switch pieces.count {
        case 1:
            guard let groups = Self.parseGroups(pieces[0], allowTrailingIPv4: true), groups.count == 8 else {
                return nil
            }
            head = groups
        case 2:
            guard let left = Self.parseGroups(pieces[0], allowTrailingIPv4: false),
                let right = Self.parseGroups(pieces[1], allowTrailingIPv4: true),
                left.count + right.count <= 7
            else { return nil }
            head = left
            tail = right
        default:
            return nil
        }
        self.init(groups: head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail)
    }

    /// Splits at each non-overlapping `::` (`:::` leaves a stray colon that fails later).
    private static func splitAtDoubleColons(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var pieces: [String] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: ":"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: ":") {
                pieces.append(String(decoding: bytes[start..<index], as: UTF8.self))
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        pieces.append(String(decoding: bytes[start...], as: UTF8.self))
        return pieces
    }

    /// Groups separated by single colons; empty text is zero groups.
    private static func parseGroups(_ text: String, allowTrailingIPv4: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (index, part) in parts.enumerated() {
            if index == parts.count - 1, allowTrailingIPv4, part.contains(".") {
                guard let v4 = IPv4Address(part) else { return nil }
                groups += [UInt16(v4.value >> 16), UInt16(v4.value & 0xFFFF)]
            } else {
                guard (1...4).contains(part.utf8.count), let group = UInt16(part, radix: 16),
                    part.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
                else { return nil }
                groups.append(group)
            }
        }
        return groups
    }

    /// The embedded IPv4 address of an IPv4-mapped address (`::ffff:a.b.c.d`).
    public var mappedIPv4: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }

    /// RFC 5952 canonical text: lowercase, no leading zeros, the longest run (first on a tie)
    /// of two or more zero groups as `::`.
    public var description: String {
        let groups = self.groups
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            let start = index
            while index < 8 && groups[index] == 0 { index += 1 }
            if index - start > bestLength {
                bestStart = start
                bestLength = index - start
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestLength >= 2 else { return hex.joined(separator: ":") }
        let left = hex[..<bestStart].joined(separator: ":")
        let right = hex[(bestStart + bestLength)...].joined(separator: ":")
        return left + "::" + right
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

/// A client address. IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, what a dual-stack socket
/// reports for an IPv4 peer) become `.v4`, so one client has one identity in allow-lists,
/// auto-block state and the audit log.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init(_ v6: IPv6Address) {
        if let v4 = v6.mappedIPv4 {
            self = .v4(v4)
        } else {
            self = .v6(v6)
        }
    }

    /// Parses IPv4 or IPv6 text; nil for anything else (including surrounding whitespace,
    /// brackets and ports, which the caller strips when it knows the format).
    public init?(_ description: String) {
        if let v4 = IPv4Address(description) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(description) {
            self.init(v6)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }
}
