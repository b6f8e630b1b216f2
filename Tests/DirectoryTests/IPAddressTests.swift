import Testing

import Directory

@Suite struct IPAddressTests {
    @Test(arguments: ["0.0.0.0", "1.2.3.4", "10.0.0.1", "9.99.100.10", "192.168.100.200", "255.255.255.255"])
    func ipv4RoundTrips(_ text: String) throws {
        let address = try #require(IPAddress(text))
        guard case .v4 = address else { Issue.record("not v4"); return }
        #expect(address.description == text)
    }

    @Test func ipv4Value() {
        #expect(IPv4Address("1.2.3.4") == IPv4Address(0x0102_0304))
        #expect(IPv4Address(1, 2, 3, 4).value == 0x0102_0304)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "01.2.3.4", "1.2.3.04", "1.2.3.00",
        "1..3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/32", "a.b.c.d", "1.2.3.1234", "0x1.2.3.4", "١.٢.٣.٤",
    ])
    func invalidIPv4(_ text: String) {
        #expect(IPv4Address(text) == nil)
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [
        ("::", "::"),
        ("::1", "::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("fe80::", "fe80::"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1::8", "1::8"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),  // RFC 5952 §4.2.2: no "::" for one group
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
    ])
    func ipv6FormatsCanonically(input: String, canonical: String) throws {
        let address = try #require(IPAddress(input))
        guard case .v6 = address else { Issue.record("not v6"); return }
        #expect(address.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test(arguments: [
        "", ":", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8", "12345::", "g::", ":1::", "1::2:", "fe80::1%eth0", "[::1]", "::1.2.3",
        "1.2.3.4::", "::ffff:01.2.3.4", "+1::", "::-1",
    ])
    func invalidIPv6(_ text: String) {
        #expect(IPv6Address(text) == nil)
        #expect(IPAddress(text) == nil)
    }

    @Test func ipv4MappedIPv6IsIPv4() {
        #expect(IPAddress("::ffff:1.2.3.4") == IPAddress("1.2.3.4"))
        #expect(IPAddress("::FFFF:0102:0304") == IPAddress("1.2.3.4"))
        #expect(IPAddress("0:0:0:0:0:ffff:1.2.3.4")?.description == "1.2.3.4")
        // IPv4-compatible (deprecated) and NAT64 addresses are not mapped.
        if case .v6 = IPAddress("::1.2.3.4") {} else { Issue.record("::1.2.3.4 should stay v6") }
        #expect(IPAddress("::1.2.3.4")?.description == "::102:304")
    }

    @Test func groupsRoundTrip() {
        let groups: [UInt16] = [0x2001, 0xdb8, 0, 0, 0xa, 0xb, 0xc, 0xffff]
        #expect(IPv6Address(groups: groups).groups == groups)
        #expect(IPv6Address(groups: groups) < IPv6Address(groups: [0x2001, 0xdb8, 0, 1, 0, 0, 0, 0]))
    }
}

@Suite struct IPNetworkTests {
    @Test func containsIPv4() throws {
        let network = try #require(IPNetwork("192.168.1.0/24"))
        #expect(network.contains(IPAddress("192.168.1.0")!))
        #expect(network.contains(IPAddress("192.168.1.255")!))
        #expect(!network.contains(IPAddress("192.168.2.0")!))
        #expect(!network.contains(IPAddress("192.168.0.255")!))
        #expect(network.contains(IPAddress("::ffff:192.168.1.7")!))
        #expect(!network.contains(IPAddress("::1")!))
    }

    @Test func edgePrefixes() throws {
        let all4 = try #require(IPNetwork("0.0.0.0/0"))
        #expect(all4.contains(IPAddress("255.255.255.255")!) && all4.contains(IPAddress("0.0.0.0")!))
        #expect(!all4.contains(IPAddress("::1")!))
        let host4 = try #require(IPNetwork("203.0.113.7/32"))
        #expect(host4.contains(IPAddress("203.0.113.7")!))
        #expect(!host4.contains(IPAddress("203.0.113.6")!))
        let all6 = try #require(IPNetwork("::/0"))
        #expect(all6.contains(IPAddress("2001:db8::1")!))
        #expect(!all6.contains(IPAddress("1.2.3.4")!))
        let host6 = try #require(IPNetwork("2001:db8::1/128"))
        #expect(host6.contains(IPAddress("2001:db8::1")!))
        #expect(!host6.contains(IPAddress("2001:db8::2")!))
    }

    @Test func ipv6PrefixesAcrossTheHalves() throws {
        let n32 = try #require(IPNetwork("2001:db8::/32"))
        #expect(n32.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!n32.contains(IPAddress("2001:db9::")!))
        let n64 = try #require(IPNetwork("2001:db8:0:1::/64"))
        #expect(n64.contains(IPAddress("2001:db8:0:1:ffff:ffff:ffff:ffff")!))
        #expect(!n64.contains(IPAddress("2001:db8:0:2::")!))
        let n65 = try #require(IPNetwork("2001:db8:0:1:8000::/65"))
        #expect(n65.contains(IPAddress("2001:db8:0:1:8000::1")!))
        #expect(!n65.contains(IPAddress("2001:db8:0:1:7fff::")!))
        let n127 = try #require(IPNetwork("fe80::/127"))
        #expect(n127.contains(IPAddress("fe80::1")!))
        #expect(!n127.contains(IPAddress("fe80::2")!))
    }

    @Test func bareAddressesAreHosts() throws {
        #expect(IPNetwork("10.1.2.3")?.description == "10.1.2.3/32")
        #expect(IPNetwork("2001:db8::1")?.description == "2001:db8::1/128")
        #expect(IPNetwork("::ffff:10.1.2.3")?.description == "10.1.2.3/32")
    }

    @Test func mappedBlocksBecomeIPv4() {
        #expect(IPNetwork("::ffff:10.0.0.0/104")?.description == "10.0.0.0/8")
        #expect(IPNetwork("::ffff:0.0.0.0/96")?.description == "0.0.0.0/0")
        #expect(IPNetwork("::ffff:0.0.0.0/95") == nil)
    }

    @Test(arguments: [
        "", "/", "10.0.0.0/", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08",
        "10.0.0.0/8/8", "10.0.0.1/8", "192.168.1.10/24", "::/129", "2001:db8::1/64", "10.0.0.0/ 8",
        "010.0.0.0/8", "10.0.0.0/1000", "example.com/24",
    ])
    func invalidNetworks(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func memberwiseInitMasksHostBits() {
        let network = IPNetwork(address: IPAddress("192.168.1.10")!, prefixLength: 24)
        #expect(network.description == "192.168.1.0/24")
        #expect(IPNetwork(address: IPAddress("2001:db8::ff")!, prefixLength: 120).description == "2001:db8::/120")
        #expect(IPNetwork(address: IPAddress("1.2.3.4")!, prefixLength: 0).description == "0.0.0.0/0")
    }

    @Test func allowedNetworks() throws {
        #expect(AllowedNetworks().allows(IPAddress("8.8.8.8")!))
        #expect(AllowedNetworks().allows(IPAddress("::1")!))
        let office = try AllowedNetworks(parsing: [" 10.0.0.0/8", "203.0.113.7 ", "", "2001:db8::/32"])
        #expect(office.networks.count == 3)
        #expect(office.allows(IPAddress("10.9.8.7")!))
        #expect(office.allows(IPAddress("203.0.113.7")!))
        #expect(office.allows(IPAddress("::ffff:203.0.113.7")!))
        #expect(office.allows(IPAddress("2001:db8::5")!))
        #expect(!office.allows(IPAddress("203.0.113.8")!))
        #expect(!office.allows(IPAddress("2001:db9::5")!))
    }

    @Test func allowedNetworksReportTheBadEntry() {
        #expect(throws: IPNetworkParseError(entry: "10.0.0.1/8")) {
            try AllowedNetworks(parsing: ["10.0.0.0/8", "10.0.0.1/8"])
        }
        #expect(IPNetworkParseError(entry: "x").description.contains("x"))
    }
}
