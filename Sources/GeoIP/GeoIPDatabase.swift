import CMaxMindDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The country of a client IP, from a MaxMind-format `.mmdb` file (GeoLite2/GeoIP2 Country or
/// City, DB-IP's lite databases) read through libmaxminddb.
///
/// This is the only module besides LDAPClient that touches C: the MMDB format is MaxMind's,
/// libmaxminddb is its reference reader (Debian ships it), and a lookup is a few pointer hops
/// in an mmap'ed file — nothing worth re-implementing in Swift. Kept apart from `Directory`
/// so the domain layer sees one Swift call and no C types.
///
/// Thread-safe: libmaxminddb never writes to an `MMDB_s` after `MMDB_open`, and lookups only
/// read the mapped file, so any number of tasks may call ``country(forAddressBytes:)`` at once.
public final class GeoIPDatabase: @unchecked Sendable {
    // @unchecked: `handle` is written only in init and deinit; lookups take it as `const MMDB_s *`.
    private let handle: UnsafeMutablePointer<MMDB_s>
    public let path: String

    /// Opens (memory-maps) the database; throws when the file is missing or not an MMDB file.
    public init(path: String) throws {
        handle = .allocate(capacity: 1)
        handle.initialize(to: MMDB_s())
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), handle)
        guard status == MMDB_SUCCESS else {
            handle.deinitialize(count: 1)
            handle.deallocate()
            throw GeoIPError(path: path, reason: String(cString: MMDB_strerror(status)))
        }
        self.path = path
    }

    deinit {
        MMDB_close(handle)
        handle.deinitialize(count: 1)
        handle.deallocate()
    }

    /// The database type from its metadata, e.g. `GeoLite2-Country`.
    public var databaseType: String {
        handle.pointee.metadata.database_type.map { String(cString: $0) } ?? ""
    }

    /// The ISO 3166-1 alpha-2 code of the address's country (`country.iso_code`, else
    /// `registered_country.iso_code`, which anycast and satellite ranges have instead), or nil
    /// when the database does not know the address. `bytes` is an address in network byte
    /// order: 4 bytes for IPv4, 16 for IPv6; anything else is nil.
    public func country(forAddressBytes bytes: [UInt8]) -> String? {
        var status: Int32 = 0
        var result: MMDB_lookup_result_s
        switch bytes.count {
        case 4:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: bytes) }
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(handle, $0, &status) }
            }
        case 16:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(handle, $0, &status) }
            }
        default:
            return nil
        }
        // An IPv6 address in an IPv4-only database is an error (MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR): unknown.
        guard status == MMDB_SUCCESS, result.found_entry else { return nil }
        return Self.isoCode(in: &result.entry, under: "country") ?? Self.isoCode(in: &result.entry, under: "registered_country")
    }

    private static func isoCode(in entry: inout MMDB_entry_s, under key: String) -> String? {
        var data = MMDB_entry_data_s()
        let status = key.withCString { keyChars in
            "iso_code".withCString { isoCode in
                let path: [UnsafePointer<CChar>?] = [keyChars, isoCode, nil]
                return path.withUnsafeBufferPointer { MMDB_aget_value(&entry, &data, $0.baseAddress) }
            }
        }
        guard status == MMDB_SUCCESS, data.has_data, data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING),
              let characters = data.utf8_string
        else { return nil }
        let code = characters.withMemoryRebound(to: UInt8.self, capacity: Int(data.data_size)) {
            String(decoding: UnsafeBufferPointer(start: $0, count: Int(data.data_size)), as: UTF8.self)
        }
        return code.isEmpty ? nil : code
    }
}

/// A database that could not be opened.
public struct GeoIPError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String

    public var description: String { "cannot open GeoIP database \(path): \(reason)" }
}
