import Foundation
import GeoIP
import TestSupport
import Testing

import Directory

/// The test database: written by TestSupport's MMDBWriter, read by the real libmaxminddb.
enum TestGeoIP {
    static func write() throws -> String {
        var writer = MMDBWriter()
        try writer.insert("81.2.69.0/24", country: "GB")
        try writer.insert("175.192.0.0/10", country: "KR")
        try writer.insert("2001:4860::/32", country: "US")
        try writer.insert("192.0.2.0/24", registeredCountry: "JP")
        // 2001:db8::/32 and everything else: not in the database.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-geoip-\(UUID().uuidString.prefix(8)).mmdb").path
        try writer.write(to: path)
        return path
    }

    static func open() throws -> GeoIPDatabase {
        try GeoIPDatabase(path: write())
    }
}

@Suite struct GeoIPTests {
    @Test func countriesOfMappedNetworks() throws {
        let db = try TestGeoIP.open()
        #expect(db.databaseType == "GWDir-Test-Country")
        #expect(db.country(for: IPAddress("81.2.69.160")!) == "GB")
        #expect(db.country(for: IPAddress("81.2.69.0")!) == "GB")
        #expect(db.country(for: IPAddress("81.2.69.255")!) == "GB")
        #expect(db.country(for: IPAddress("175.192.0.1")!) == "KR")
        #expect(db.country(for: IPAddress("175.255.255.254")!) == "KR")
        #expect(db.country(for: IPAddress("2001:4860:4860::8888")!) == "US")
    }

    @Test func unmappedAddressesAreNil() throws {
        let db = try TestGeoIP.open()
        #expect(db.country(for: IPAddress("81.2.70.1")!) == nil)
        #expect(db.country(for: IPAddress("176.0.0.1")!) == nil)
        #expect(db.country(for: IPAddress("10.0.0.1")!) == nil)
        #expect(db.country(for: IPAddress("2001:db8::1")!) == nil)
        #expect(db.country(forAddressBytes: [1, 2, 3]) == nil)
    }

    @Test func registeredCountryIsTheFallback() throws {
        let db = try TestGeoIP.open()
        #expect(db.country(for: IPAddress("192.0.2.10")!) == "JP")
    }

    @Test func mappedIPv4InIPv6IsTheIPv4Address() throws {
        let db = try TestGeoIP.open()
        #expect(db.country(for: IPAddress("::ffff:81.2.69.1")!) == "GB")
    }

    @Test func concurrentLookupsAgree() async throws {
        let db = try TestGeoIP.open()
        let results = await withTaskGroup(of: String?.self, returning: [String?].self) { group in
            for index in 0..<200 {
                group.addTask { db.country(for: IPAddress(index.isMultiple(of: 2) ? "81.2.69.\(index % 256)" : "175.200.1.\(index % 256)")!) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0 == "GB" }.count == 100)
        #expect(results.filter { $0 == "KR" }.count == 100)
    }

    @Test func missingOrCorruptFilesThrow() throws {
        #expect(throws: GeoIPError.self) { try GeoIPDatabase(path: "/nonexistent/gwdir.mmdb") }
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-junk-\(UUID().uuidString.prefix(8)).mmdb")
        try Data("not a database".utf8).write(to: junk)
        #expect(throws: GeoIPError.self) { try GeoIPDatabase(path: junk.path) }
    }
}
