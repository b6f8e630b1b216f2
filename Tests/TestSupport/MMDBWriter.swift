import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes small MaxMind DB files (format 2.0, https://maxmind.github.io/MaxMind-DB/) so tests
/// can exercise GeoIP lookups through the real libmaxminddb without shipping a GeoLite2 file.
///
/// The layout: an IPv6 binary search tree with 24-bit records (IPv4 networks live under
/// `::/96`, where libmaxminddb looks them up), 16 zero bytes, the data section, then the
/// metadata marker `\xAB\xCD\xEFMaxMind.com` and the metadata map.
///
///     var writer = MMDBWriter()
///     try writer.insert("81.2.69.0/24", country: "GB")
///     try writer.write(to: path)
public struct MMDBWriter: Sendable {
    /// The data types this writer needs (a subset of the format's).
    public indirect enum Value: Sendable {
        case string(String)
        case uint16(UInt16)
        case uint32(UInt32)
        case uint64(UInt64)
        case map([(String, Value)])
        case array([Value])
    }

    private enum Record: Sendable {
        case empty
        case node(Int)
        /// Offset in the data section.
        case data(Int)
    }

    /// Node i has records `nodes[i].0` (bit 0) and `nodes[i].1` (bit 1); node 0 is the root.
    private var nodes: [(Record, Record)] = [(.empty, .empty)]
    private var dataSection: [UInt8] = []
    public var databaseType: String

    public init(databaseType: String = "GWDir-Test-Country") {
        self.databaseType = databaseType
    }

    /// Maps a network (`81.2.69.0/24`, `2001:db8::/32`) to `{country: {iso_code: …}}`.
    public mutating func insert(_ cidr: String, country isoCode: String) throws {
        try insert(cidr, value: .map([("country", .map([("iso_code", .string(isoCode))]))]))
    }

    /// Maps a network to `{registered_country: {iso_code: …}}` only (an anycast range, say).
    public mutating func insert(_ cidr: String, registeredCountry isoCode: String) throws {
        try insert(cidr, value: .map([("registered_country", .map([("iso_code", .string(isoCode))]))]))
    }

    public mutating func insert(_ cidr: String, value: Value) throws {
        let (bits, prefixLength) = try Self.parse(cidr)
        let offset = dataSection.count
        Self.encode(value, into: &dataSection)
        insert(bits: bits, prefixLength: prefixLength, record: .data(offset))
    }

    /// Descends the tree along the network's bits, creating nodes (or splitting a record that
    /// already held data for a wider network), and points the last record at the data.
    private mutating func insert(bits: [Bool], prefixLength: Int, record: Record) {
        precondition(prefixLength >= 1, "a network needs at least one prefix bit")
        var node = 0
        for depth in 0..<(prefixLength - 1) {
            let current = bits[depth] ? nodes[node].1 : nodes[node].0
            let next: Int
            switch current {
            case .node(let index):
                next = index
            case .empty, .data:
                nodes.append((current, current))
                next = nodes.count - 1
                if bits[depth] { nodes[node].1 = .node(next) } else { nodes[node].0 = .node(next) }
            }
            node = next
        }
        if bits[prefixLength - 1] { nodes[node].1 = record } else { nodes[node].0 = record }
    }

    /// The whole file.
    public func serialized(buildEpoch: UInt64 = 1_700_000_000) -> [UInt8] {
        let nodeCount = nodes.count
        func value(_ record: Record) -> Int {
            switch record {
            case .empty: nodeCount
            case .node(let index): index
            case .data(let offset): nodeCount + 16 + offset
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(nodeCount * 6 + 16 + dataSection.count + 256)
        for (left, right) in nodes {
            for record in [left, right] {
                let v = value(record)
                precondition(v < 1 << 24, "too large for 24-bit records")
                out += [UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
            }
        }
        out += [UInt8](repeating: 0, count: 16)
        out += dataSection
        out += [0xAB, 0xCD, 0xEF] + Array("MaxMind.com".utf8)
        let metadata: Value = .map([
            ("node_count", .uint32(UInt32(nodeCount))),
            ("record_size", .uint16(24)),
            ("ip_version", .uint16(6)),
            ("database_type", .string(databaseType)),
            ("languages", .array([.string("en")])),
            ("binary_format_major_version", .uint16(2)),
            ("binary_format_minor_version", .uint16(0)),
            ("build_epoch", .uint64(buildEpoch)),
            ("description", .map([("en", .string("gwdir test database"))])),
        ])
        Self.encode(metadata, into: &out)
        return out
    }

    public func write(to path: String) throws {
        try Data(serialized()).write(to: URL(fileURLWithPath: path))
    }

    // MARK: Encoding

    private static func encode(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .string(let text):
            let bytes = Array(text.utf8)
            control(type: 2, size: bytes.count, into: &out)
            out += bytes
        case .uint16(let number):
            unsigned(type: 5, UInt64(number), into: &out)
        case .uint32(let number):
            unsigned(type: 6, UInt64(number), into: &out)
        case .uint64(let number):
            unsigned(type: 9, number, into: &out)
        case .map(let pairs):
            control(type: 7, size: pairs.count, into: &out)
            for (key, item) in pairs {
                encode(.string(key), into: &out)
                encode(item, into: &out)
            }
        case .array(let items):
            control(type: 11, size: items.count, into: &out)
            for item in items {
                encode(item, into: &out)
            }
        }
    }

    /// Big-endian with leading zero bytes dropped; the size is the byte count.
    private static func unsigned(type: Int, _ number: UInt64, into out: inout [UInt8]) {
        var bytes: [UInt8] = []
        var rest = number
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        control(type: type, size: bytes.count, into: &out)
        out += bytes
    }

    /// The control byte: 3 type bits (0 = extended, the type follows as `type - 7`) and 5 size
    /// bits (29, 30, 31 = the size continues in 1, 2, 3 more bytes).
    private static func control(type: Int, size: Int, into out: inout [UInt8]) {
        let sizeBits: Int
        var sizeBytes: [UInt8] = []
        switch size {
        case ..<29:
            sizeBits = size
        case ..<285:
            sizeBits = 29
            sizeBytes = [UInt8(size - 29)]
        case ..<65_821:
            sizeBits = 30
            sizeBytes = [UInt8((size - 285) >> 8), UInt8((size - 285) & 0xFF)]
        default:
            sizeBits = 31
            let rest = size - 65_821
            sizeBytes = [UInt8(rest >> 16 & 0xFF), UInt8(rest >> 8 & 0xFF), UInt8(rest & 0xFF)]
        }
        if type <= 7 {
            out.append(UInt8(type << 5 | sizeBits))
        } else {
            out.append(UInt8(sizeBits))
            out.append(UInt8(type - 7))
        }
        out += sizeBytes
    }

    // MARK: Networks

    /// 128 bits (IPv4 as `::a.b.c.d`) and the prefix length in that space.
    static func parse(_ cidr: String) throws -> (bits: [Bool], prefixLength: Int) {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let length = Int(parts[1]) else { throw MMDBWriterError(cidr) }
        let address = String(parts[0])
        var bytes = [UInt8](repeating: 0, count: 16)
        var prefix: Int
        if address.contains(":") {
            guard inet_pton(AF_INET6, address, &bytes) == 1, (1...128).contains(length) else { throw MMDBWriterError(cidr) }
            prefix = length
        } else {
            var v4 = [UInt8](repeating: 0, count: 4)
            guard inet_pton(AF_INET, address, &v4) == 1, (1...32).contains(length) else { throw MMDBWriterError(cidr) }
            bytes.replaceSubrange(12..<16, with: v4)
            prefix = 96 + length
        }
        let bits = (0..<128).map { bytes[$0 / 8] >> (7 - UInt8($0 % 8)) & 1 == 1 }
        return (bits, prefix)
    }
}

public struct MMDBWriterError: Error, CustomStringConvertible {
    public var cidr: String
    init(_ cidr: String) { self.cidr = cidr }
    public var description: String { "not a network: \(cidr)" }
}
