/// A CIDR block such as `10.0.0.0/8` or `2001:db8::/32`.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
    /// The first address of the block (host bits are always zero).
    public private(set) var address: IPAddress
    public private(set) var prefixLength: Int

    /// The block of `prefixLength` bits containing `address`; host bits are cleared.
    public init(address: IPAddress, prefixLength: Int) {
        switch address {
        case .v4(let v4):
            precondition((0...32).contains(prefixLength), "an IPv4 prefix is 0 to 32 bits")
            self.address = .v4(IPv4Address(v4.value & Self.mask32(prefixLength)))
        case .v6(let v6):
            precondition((0...128).contains(prefixLength), "an IPv6 prefix is 0 to 128 bits")
            let (high, low) = Self.mask128(prefixLength)
            self.address = .v6(IPv6Address(high: v6.high & high, low: v6.low & low))
        }
        self.prefixLength = prefixLength
    }

    /// Parses `address/prefix`, or a bare address as a single-host block (/32 or /128).
    ///
    /// Refused: a prefix out of range, with a sign or leading zeros, and set host bits
    /// (`192.168.1.10/24`), which is more often a typo for `/32` than a way to write
    /// `192.168.1.0/24`. An IPv4-mapped IPv6 block with a prefix of at least 96
    /// (`::ffff:10.0.0.0/104`) is the IPv4 block it maps (`10.0.0.0/8`).
    public init?(_ description: String) {
        let parts = description.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        var prefix: Int?
        if parts.count == 2 {
            let digits = parts[1]
            guard (1...3).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                digits == "0" || digits.first != "0"
            else { return nil }
            prefix = Int(digits)
        }
        let address: IPAddress
        let length: Int
        if let v4 = IPv4Address(parts[0]) {
            (address, length) = (.v4(v4), prefix ?? 32)
        } else if let v6 = IPv6Address(parts[0]), let v4 = v6.mappedIPv4 {
            let mappedLength = prefix ?? 128
            guard mappedLength >= 96 else { return nil }
            (address, length) = (.v4(v4), mappedLength - 96)
        } else if let v6 = IPv6Address(parts[0]) {
            (address, length) = (.v6(v6), prefix ?? 128)
        } else {
            return nil
        }
        let maximum = if case .v4 = address { 32 } else { 128 }
        guard length <= maximum else { return nil }
        let network = IPNetwork(address: address, prefixLength: length)
        // Masking changed the address: host bits were set.
        guard network.address == address else { return nil }
        self = network
    }

    /// Whether `address` lies in the block; an IPv4 address is never in an IPv6 block and
    /// vice versa (mapped addresses are IPv4 by then, see ``IPAddress``).
    public func contains(_ address: IPAddress) -> Bool {
        switch (self.address, address) {
        case (.v4(let network), .v4(let candidate)):
            return candidate.value & Self.mask32(prefixLength) == network.value
        case (.v6(let network), .v6(let candidate)):
            let (high, low) = Self.mask128(prefixLength)
            return candidate.high & high == network.high && candidate.low & low == network.low
        default:
            return false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func mask32(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    private static func mask128(_ length: Int) -> (high: UInt64, low: UInt64) {
        switch length {
        case 0: (0, 0)
        case 1...64: (UInt64.max << UInt64(64 - length), 0)
        default: (UInt64.max, length == 128 ? UInt64.max : UInt64.max << UInt64(128 - length))
        }
    }
}

/// Why a list of allowed networks could not be read.
public struct IPNetworkParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The entry as given.
    public var entry: String

    public init(entry: String) { self.entry = entry }

    public var description: String { "not an IP address or CIDR block: \(entry)" }
}

/// The networks a workspace or an account may log in from. An empty list allows every
/// address, so "no restriction configured" needs no special value.
public struct AllowedNetworks: Sendable, Hashable {
    public var networks: [IPNetwork]

    public init(_ networks: [IPNetwork] = []) {
        self.networks = networks
    }

    /// Parses entries such as `10.0.0.0/8` or `203.0.113.7`, ignoring surrounding whitespace
    /// and empty entries; the first invalid entry is reported so the admin can fix it.
    public init(parsing entries: some Sequence<String>) throws(IPNetworkParseError) {
        var networks: [IPNetwork] = []
        for entry in entries {
            let trimmed = String(entry.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            if trimmed.isEmpty { continue }
            guard let network = IPNetwork(trimmed) else { throw IPNetworkParseError(entry: entry) }
            networks.append(network)
        }
        self.networks = networks
    }

    /// True when the list is empty or any block contains `address`.
    public func allows(_ address: IPAddress) -> Bool {
        networks.isEmpty || networks.contains { $0.contains(address) }
    }
}
